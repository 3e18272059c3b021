"""One call to log any model, one to load it: ``lite_tracker.log_model`` picks the flavor from the object,
``lite_tracker.load_model`` returns the model in its own flavor when that flavor's library is installed.

The flavor is chosen by walking :data:`FLAVORS`, an ordered table of detectors: the first whose
``matches(model)`` is true logs the model. Specific flavors come before the generic ``python_model`` rule
(anything with ``predict`` or callable), so a scikit-learn estimator, which also has ``predict``, is logged
with the sklearn flavor. A new flavor is one more :class:`FlavorDetector` in the table, placed before the
generic rule; the dispatch functions below do not change.

Loading a model unpickles it, which runs code chosen by whoever saved it: load only models you trust.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import pyfunc, sklearn
from .errors import InvalidParameterValue
from .models.model import Model, ModelInfo, local_model_dir


@dataclass(frozen=True)
class FlavorDetector:
    """How :func:`log_model` recognises one kind of model and which flavor logs and loads it.

    Args:
        flavor: The flavor's name in ``MLmodel`` (``"sklearn"``, ``"python_model"``).
        describes: What it accepts, for error messages (``"a scikit-learn estimator or pipeline"``).
        matches: True for the objects this flavor logs; must not import heavy libraries.
        log_model: The flavor's ``log_model``.
        model_arg: The keyword under which the flavor's ``log_model`` takes the model.
        load_model: The flavor's ``load_model``, returning the model in its own form.
        requires: The module ``load_model`` needs (None: always available).
    """

    flavor: str
    describes: str
    matches: Callable[[Any], bool]
    log_model: Callable[..., ModelInfo]
    model_arg: str
    load_model: Callable[[Path], Any]
    requires: str | None = None

    def installed(self) -> bool:
        """Whether the library this flavor loads with is importable here."""
        return self.requires is None or importlib.util.find_spec(self.requires) is not None


def _is_sklearn_model(model: Any) -> bool:
    """A scikit-learn estimator or pipeline (an object of a class from sklearn, which is then imported)."""
    base = sys.modules.get("sklearn.base")
    return base is not None and isinstance(model, base.BaseEstimator)


def _is_python_model(model: Any) -> bool:
    """A PythonModel, any object with ``predict``, or a function (any callable that is not a class)."""
    if isinstance(model, type):
        return False
    return isinstance(model, pyfunc.PythonModel) or callable(getattr(model, "predict", None)) or callable(model)


FLAVORS: tuple[FlavorDetector, ...] = (
    FlavorDetector("sklearn", "a scikit-learn estimator or pipeline", _is_sklearn_model, sklearn.log_model,
                   "sk_model", sklearn.load_model, requires="sklearn"),
    FlavorDetector("python_model", "a pyfunc PythonModel, any object with a predict() method, or a function",
                   _is_python_model, pyfunc.log_model, "python_model", pyfunc.load_model),
)

# What log_model sets itself: a flavor option may not set them a second way.
_COMMON = ("artifact_path", "name", "registered_model_name", "input_example", "signature", "pip_requirements")


def flavor_for(model: Any, flavors: Sequence[FlavorDetector] = FLAVORS) -> FlavorDetector:
    """The first flavor in ``flavors`` whose detector matches ``model``.

    Raises:
        InvalidParameterValue: No flavor logs this kind of object; the message lists what is supported.

    Example:
        >>> flavor_for(lambda x: x).flavor
        'python_model'
    """
    for detector in flavors:
        if detector.matches(model):
            return detector
    kind = f"the class {model.__name__!r} (pass an instance of it)" if isinstance(model, type) else \
        f"an object of type {type(model).__module__}.{type(model).__qualname__}"
    supported = "; ".join(f"{d.describes} ({d.flavor} flavor)" for d in flavors)
    raise InvalidParameterValue(f"log_model cannot log {kind}. It logs: {supported}.")


def _check_options(detector: FlavorDetector, options: dict[str, Any]) -> None:
    """TypeError naming every option the flavor's log_model does not take (a mistyped keyword, say)."""
    accepted = set(inspect.signature(detector.log_model).parameters) - {detector.model_arg, *_COMMON}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(
            f"log_model() got unexpected keyword argument(s) {', '.join(map(repr, unknown))} for the "
            f"{detector.flavor} flavor ({detector.describes}); its options are: {', '.join(sorted(accepted))}.")


def log_model(model: Any, name: str = "model", *, registered_model_name: str | None = None,
              input_example: Any = None, signature: Any = None, pip_requirements: list[str] | None = None,
              **flavor_options: Any) -> ModelInfo:
    """Log any supported model to the active run (started if none), choosing the flavor from the object.

    A scikit-learn estimator or pipeline is logged with :mod:`lite_tracker.sklearn`; a
    :class:`~lite_tracker.pyfunc.PythonModel`, any other object with ``predict``, or a function with
    :mod:`lite_tracker.pyfunc`.

    Args:
        model: The model object.
        name: Where in the run's artifacts (default ``"model"``).
        registered_model_name: Register the logged model as a new version of this model (created if needed).
        input_example: Example input, saved as a scoring payload; the signature is inferred from it.
        signature: Input/output signature (inferred from ``input_example`` if not given).
        pip_requirements: Replace the flavor's default requirements.
        **flavor_options: Passed to the flavor's ``log_model`` (``serialization_format`` for sklearn,
            ``artifacts`` for a PythonModel, ...).

    Returns:
        The flavor's :class:`~lite_tracker.models.ModelInfo`; ``model_uri`` loads the model back and
        ``registered_model_version`` is the new version when ``registered_model_name`` was given.

    Raises:
        InvalidParameterValue: No flavor logs this kind of object (nothing is logged).
        TypeError: An option the chosen flavor's ``log_model`` does not take (nothing is logged).

    Example:
        >>> info = log_model(fitted_estimator, registered_model_name="iris")  # doctest: +SKIP
        >>> load_model("models:/iris/latest").predict(X)  # doctest: +SKIP
    """
    detector = flavor_for(model)
    _check_options(detector, flavor_options)
    return detector.log_model(**{detector.model_arg: model}, name=name, registered_model_name=registered_model_name,
                              input_example=input_example, signature=signature, pip_requirements=pip_requirements,
                              **flavor_options)


def load_model(model_uri: str | Path, dst_path: str | Path | None = None) -> Any:
    """Load a model in its own flavor when that flavor's library is installed, else as a pyfunc model.

    A scikit-learn model comes back as the estimator itself; a pyfunc model as a
    :class:`~lite_tracker.pyfunc.PyFuncModel`. Unpickling runs code from the model files: load only
    models you trust.

    Args:
        model_uri: ``runs:/<run_id>/<path>``, ``models:/<name>/<version|stage|latest>``,
            ``models:/<name>@<alias>``, or a local folder / artifact URL.
        dst_path: Download (or copy) the model files here instead of a temp folder.

    Returns:
        The model; it has ``predict``.

    Raises:
        LiteTrackerException: RESOURCE_DOES_NOT_EXIST naming an unknown run, model, version, stage or alias.

    Example:
        >>> load_model("models:/iris@champion").predict(X)  # doctest: +SKIP
    """
    folder = local_model_dir(model_uri, dst_path)
    saved = Model.load(folder).flavors
    native = next((d for d in FLAVORS if d.flavor in saved and d.installed()), None)
    return (native.load_model if native is not None else pyfunc.load_model)(folder)


__all__ = ["FLAVORS", "FlavorDetector", "flavor_for", "load_model", "log_model"]
