"""Generic Python models (``mlflow.pyfunc``): log any object with ``predict``, a function, or a
:class:`PythonModel` subclass, and load any model with a ``python_function`` flavor back as a
:class:`PyFuncModel` whose ``predict(data)`` takes pandas DataFrames, numpy arrays, dicts or lists.

Loading a model unpickles it, which runs code chosen by whoever saved it: load only models you trust.

Example:
    >>> class AddN(PythonModel):  # doctest: +SKIP
    ...     def predict(self, context, model_input, params=None):
    ...         return model_input + 1
    >>> info = log_model("model", python_model=AddN())  # doctest: +SKIP
    >>> load_model(info.model_uri).predict(np.array([1, 2]))  # doctest: +SKIP
    array([2, 3])
"""

from __future__ import annotations

import inspect
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import InvalidParameterValue
from .models.model import (
    MODEL_FILE,
    PYFUNC,
    Model,
    ModelInfo,
    Predictor,
    check_dependencies,
    library_version,
    load_pyfunc_impl,
    local_model_dir,
    log_model_dir,
    pickle_dump,
    pickle_load,
    write_model_dir,
)

FLAVOR_NAME = "python_model"
_ARTIFACTS_DIR = "artifacts"


class PythonModelContext:
    """What :meth:`PythonModel.load_context` and ``predict`` receive: local paths of the model's artifacts.

    Args:
        artifacts: Artifact name -> local path.
        model_config: Free-form configuration given at logging time.
    """

    def __init__(self, artifacts: dict[str, str] | None = None, model_config: dict[str, Any] | None = None) -> None:
        self.artifacts = dict(artifacts or {})
        self.model_config = dict(model_config or {})


class PythonModel:
    """Base class of custom models, as MLflow's ``mlflow.pyfunc.PythonModel``.

    Subclass it and implement ``predict(self, context, model_input, params=None)``; optionally
    ``load_context(self, context)`` to load artifacts once when the model is loaded.
    """

    def load_context(self, context: PythonModelContext) -> None:
        """Prepare the model from ``context.artifacts`` (called once on load)."""

    def predict(self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        """Return predictions for ``model_input``."""
        raise NotImplementedError("Subclasses of PythonModel must implement predict(context, model_input).")


class _FunctionModel:
    """A plain function logged as a model (pickled by reference or by value with cloudpickle)."""

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func

    def predict(self, data: Any) -> Any:
        return self.func(data)


class _PythonModelWrapper:
    """Adapts a :class:`PythonModel` (predict with a context) or a plain predictor to ``predict(data)``."""

    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.context = context
        self._with_context = isinstance(python_model, PythonModel) and _takes_context(python_model.predict)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        if self._with_context:
            return self.python_model.predict(self.context, data, params) if params else \
                self.python_model.predict(self.context, data)
        return self.python_model.predict(data)


def _takes_context(predict: Callable[..., Any]) -> bool:
    try:
        names = list(inspect.signature(predict).parameters)
    except (TypeError, ValueError):
        return True
    return bool(names) and names[0] == "context" or len(names) >= 2 and names[1] == "model_input"


class PyFuncModel:
    """A loaded model with one ``predict(data)``, whatever its flavor (MLflow's ``PyFuncModel``).

    Input is adapted to the model's signature: a DataFrame becomes a numpy array for a tensor
    signature, and a 2-D array or list of rows becomes a DataFrame with the signature's columns.
    """

    def __init__(self, impl: Predictor, metadata: Model) -> None:
        self._impl = impl
        self.metadata = metadata

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Predictions for ``data`` (DataFrame, numpy array, dict of columns or list)."""
        data = _coerce_input(data, self.metadata)
        if params:
            return self._impl.predict(data, params)  # type: ignore[call-arg]
        return self._impl.predict(data)

    def unwrap_python_model(self) -> Any:
        """The underlying object (the PythonModel, estimator or function)."""
        return getattr(self._impl, "python_model", getattr(self._impl, "model", self._impl))

    def __repr__(self) -> str:
        return f"PyFuncModel(flavors={sorted(self.metadata.flavors)}, run_id={self.metadata.run_id!r})"


def _coerce_input(data: Any, model: Model) -> Any:
    sig = model.signature
    if isinstance(data, list) and data and not all(isinstance(r, dict) for r in data):
        import numpy as np

        data = np.asarray(data)
    if sig is None or not sig.inputs:
        return data
    if sig.is_tensor():
        if hasattr(data, "columns") and hasattr(data, "to_numpy"):
            dtype = sig.inputs[0].get("tensor-spec", {}).get("dtype")
            return data.to_numpy(dtype=dtype)
        return data
    names = sig.input_names()
    if names and (isinstance(data, dict) or (isinstance(data, list) and data)
                  or (hasattr(data, "ndim") and getattr(data, "ndim", 0) == 2)):
        import pandas as pd

        if hasattr(data, "ndim"):
            if data.shape[1] != len(names):
                raise InvalidParameterValue(
                    f"The model expects {len(names)} columns ({', '.join(names)}); got {data.shape[1]}.")
            return pd.DataFrame(data, columns=names)
        return pd.DataFrame(data)
    return data


def _copy_artifacts(artifacts: dict[str, str] | None, folder: Path) -> dict[str, dict[str, str]]:
    from .artifacts import download_artifacts

    out: dict[str, dict[str, str]] = {}
    for name, location in (artifacts or {}).items():
        dest = folder / _ARTIFACTS_DIR / name
        dest.mkdir(parents=True)
        if "://" not in str(location) or str(location).startswith("file://"):
            src = Path(str(location).removeprefix("file://"))
            if not src.exists():
                raise InvalidParameterValue(f"Artifact {name!r}: {str(src)!r} does not exist.")
            local = dest / src.name
            (shutil.copytree if src.is_dir() else shutil.copyfile)(src, local)
        else:
            local = Path(download_artifacts(artifact_uri=str(location), dst_path=str(dest)))
        out[name] = {"path": local.relative_to(folder).as_posix()}
    return out


def save_model(path: str | Path, python_model: Any = None, artifacts: dict[str, str] | None = None,
               signature: Any = None, input_example: Any = None, pip_requirements: list[str] | None = None,
               extra_pip_requirements: list[str] | None = None, metadata: dict[str, Any] | None = None,
               model_config: dict[str, Any] | None = None) -> Model:
    """Save a Python model to a new local folder.

    Args:
        path: The folder to create.
        python_model: A :class:`PythonModel` instance, any object with ``predict(data)``, or a function.
        artifacts: Name -> local path or artifact URI of files the model needs (``context.artifacts``).
        signature: A :class:`~lite_tracker.models.ModelSignature` (inferred from ``input_example`` if not given).
        input_example: Example input, saved as a scoring payload.
        pip_requirements: Replace the default requirements.
        extra_pip_requirements: Add to the default requirements.
        metadata: Free-form metadata stored in ``MLmodel``.
        model_config: Passed to the model as ``context.model_config``.

    Returns:
        The written :class:`~lite_tracker.models.Model` descriptor.
    """
    if python_model is None:
        raise InvalidParameterValue("python_model is required: a PythonModel, an object with predict(), or a function.")
    if not isinstance(python_model, PythonModel) and not hasattr(python_model, "predict"):
        if not callable(python_model):
            raise InvalidParameterValue(
                f"python_model must be a PythonModel, have a predict() method or be callable; got "
                f"{type(python_model).__name__}.")
        python_model = _FunctionModel(python_model)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=False)
    fmt = pickle_dump(python_model, folder / MODEL_FILE)
    saved_artifacts = _copy_artifacts(artifacts, folder)
    context = PythonModelContext({k: str(folder / v["path"]) for k, v in saved_artifacts.items()}, model_config)
    if isinstance(python_model, PythonModel):
        python_model.load_context(context)
    reqs = [f"lite-tracker=={_own_version()}"]
    if fmt == "cloudpickle":
        reqs.append(f"cloudpickle=={library_version('cloudpickle')}")
    conf: dict[str, Any] = {"python_model": MODEL_FILE, "serialization_format": fmt, "artifacts": saved_artifacts}
    if model_config:
        conf["model_config"] = model_config
    if fmt == "cloudpickle":
        conf["cloudpickle_version"] = library_version("cloudpickle")
    return write_model_dir(
        folder, FLAVOR_NAME, conf, {"loader_module": "lite_tracker.pyfunc", "model_path": MODEL_FILE},
        _PythonModelWrapper(python_model, context), signature, input_example,
        pip_requirements if pip_requirements is not None else reqs, extra_pip_requirements, metadata,
    )


def _own_version() -> str:
    from ._version import __version__

    return __version__


def log_model(artifact_path: str | None = None, python_model: Any = None, *, name: str | None = None,
              artifacts: dict[str, str] | None = None, registered_model_name: str | None = None,
              signature: Any = None, input_example: Any = None, pip_requirements: list[str] | None = None,
              extra_pip_requirements: list[str] | None = None, metadata: dict[str, Any] | None = None,
              model_config: dict[str, Any] | None = None, await_registration_for: int = 300) -> ModelInfo:
    """Log a Python model as an artifact of the active run (started if none), optionally registering it.

    Args:
        artifact_path: Where in the run's artifacts (default ``"model"``); MLflow 3's ``name`` also works.
        python_model: A :class:`PythonModel`, any object with ``predict(data)``, or a function.
        name: MLflow 3 spelling of ``artifact_path``.
        artifacts: Name -> local path or URI of files the model needs.
        registered_model_name: Register the logged model as a new version of this model
            (created if needed).
        signature: Input/output signature (inferred from ``input_example`` if not given).
        input_example: Example input, saved as a scoring payload.
        pip_requirements: Replace the default requirements.
        extra_pip_requirements: Add to the default requirements.
        metadata: Free-form metadata stored in ``MLmodel``.
        model_config: Passed to the model as ``context.model_config``.
        await_registration_for: Accepted for MLflow compatibility (registration is synchronous).

    Returns:
        A :class:`~lite_tracker.models.ModelInfo` whose ``model_uri`` loads the model.
    """
    return log_model_dir(
        lambda folder: _save_into(folder, python_model, artifacts, signature, input_example, pip_requirements,
                                  extra_pip_requirements, metadata, model_config),
        artifact_path, name, registered_model_name,
    )


def _save_into(folder: Path, *args: Any) -> Model:
    folder.rmdir()
    return save_model(folder, *args)


def load_model(model_uri: str | Path, dst_path: str | Path | None = None) -> PyFuncModel:
    """Load any model with a ``python_function`` flavor as a :class:`PyFuncModel`.

    Unpickling runs code from the model files: load only models you trust.

    Args:
        model_uri: ``runs:/<run_id>/<path>``, ``models:/<name>/<version|stage|latest>``,
            ``models:/<name>@<alias>``, or a local folder / artifact URL.
        dst_path: Download (or copy) the model files here instead of a temp folder.

    Returns:
        The model; ``predict(data)`` returns its predictions.

    Raises:
        LiteTrackerException: RESOURCE_DOES_NOT_EXIST naming an unknown run, model, version, stage or alias.
    """
    folder = local_model_dir(model_uri, dst_path)
    model = Model.load(folder)
    flavor = next((f for f in model.flavors if f != PYFUNC), PYFUNC)
    check_dependencies(model, flavor)
    return PyFuncModel(load_pyfunc_impl(folder, model), model)


def _load_pyfunc(path: Path, model: Model) -> Predictor:
    """Loader of the ``python_model`` flavor (named by ``loader_module`` in MLmodel)."""
    conf = model.flavors.get(FLAVOR_NAME, {})
    obj = pickle_load(path / conf.get("python_model", MODEL_FILE))
    artifacts = {k: str(path / v["path"]) for k, v in (conf.get("artifacts") or {}).items()}
    context = PythonModelContext(artifacts, conf.get("model_config"))
    if isinstance(obj, PythonModel):
        obj.load_context(context)
    return _PythonModelWrapper(obj, context)


__all__ = ["PyFuncModel", "PythonModel", "PythonModelContext", "load_model", "log_model", "save_model"]
