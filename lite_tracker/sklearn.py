"""scikit-learn models (``mlflow.sklearn``): log, register and load fitted estimators.

The estimator is pickled (cloudpickle when installed) next to an ``MLmodel`` descriptor recording the
scikit-learn and Python versions; loading warns with
:class:`~lite_tracker.models.DependencyMismatchWarning` when they differ. Unpickling runs code from the
model files: load only models you trust.

Example:
    >>> model = LogisticRegression().fit(X, y)  # doctest: +SKIP
    >>> with lite_tracker.start_run():  # doctest: +SKIP
    ...     info = log_model(model, name="model", registered_model_name="iris", input_example=X[:3])
    >>> load_model("models:/iris/1").predict(X[:3])  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import InvalidParameterValue
from .models.model import (
    MODEL_FILE,
    Model,
    ModelInfo,
    check_dependencies,
    library_version,
    local_model_dir,
    log_model_dir,
    pickle_dump,
    pickle_load,
    write_model_dir,
)

FLAVOR_NAME = "sklearn"
SERIALIZATION_FORMAT_PICKLE = "pickle"
SERIALIZATION_FORMAT_CLOUDPICKLE = "cloudpickle"


class _SklearnModelWrapper:
    """``predict(data)`` of an estimator, matching the input to how it was fitted: a DataFrame for an
    estimator fitted with feature names, an array otherwise (so scikit-learn does not warn)."""

    def __init__(self, model: Any, predict_fn: str = "predict") -> None:
        self.model = model
        self.predict_fn = predict_fn

    def predict(self, data: Any) -> Any:
        names = getattr(self.model, "feature_names_in_", None)
        if names is None and hasattr(data, "columns") and hasattr(data, "to_numpy"):
            data = data.to_numpy()
        elif names is not None and hasattr(data, "ndim") and not hasattr(data, "columns") and data.ndim == 2:
            import pandas as pd

            data = pd.DataFrame(data, columns=list(names))
        return getattr(self.model, self.predict_fn)(data)


def _requirements(fmt: str) -> list[str]:
    from ._version import __version__

    reqs = [f"lite-tracker=={__version__}", f"scikit-learn=={library_version('sklearn')}"]
    for module, package in (("numpy", "numpy"), ("scipy", "scipy")):
        version = library_version(module)
        if version:
            reqs.append(f"{package}=={version}")
    if fmt == SERIALIZATION_FORMAT_CLOUDPICKLE:
        reqs.append(f"cloudpickle=={library_version('cloudpickle')}")
    return reqs


def save_model(sk_model: Any, path: str | Path, serialization_format: str | None = None, signature: Any = None,
               input_example: Any = None, pip_requirements: list[str] | None = None,
               extra_pip_requirements: list[str] | None = None, pyfunc_predict_fn: str = "predict",
               metadata: dict[str, Any] | None = None) -> Model:
    """Save a fitted estimator to a new local folder.

    Args:
        sk_model: A fitted scikit-learn estimator (or pipeline).
        path: The folder to create.
        serialization_format: ``"cloudpickle"`` (default when installed) or ``"pickle"``.
        signature: A :class:`~lite_tracker.models.ModelSignature` (inferred from ``input_example`` if not given).
        input_example: Example input (DataFrame or array), saved as a scoring payload.
        pip_requirements: Replace the default requirements.
        extra_pip_requirements: Add to the default requirements.
        pyfunc_predict_fn: The estimator method the pyfunc form calls (``predict``, ``predict_proba``, ...).
        metadata: Free-form metadata stored in ``MLmodel``.

    Returns:
        The written :class:`~lite_tracker.models.Model` descriptor.
    """
    if not hasattr(sk_model, pyfunc_predict_fn):
        raise InvalidParameterValue(
            f"The model ({type(sk_model).__name__}) has no method {pyfunc_predict_fn!r} to predict with.")
    if library_version("sklearn") is None:
        raise InvalidParameterValue("Saving a scikit-learn model needs scikit-learn: "
                                    "`pip install 'lite-tracker[sklearn]'`.")
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=False)
    fmt = pickle_dump(sk_model, folder / MODEL_FILE, serialization_format)
    conf: dict[str, Any] = {"pickled_model": MODEL_FILE, "serialization_format": fmt,
                            "sklearn_version": library_version("sklearn"), "code": None}
    if fmt == SERIALIZATION_FORMAT_CLOUDPICKLE:
        conf["cloudpickle_version"] = library_version("cloudpickle")
    return write_model_dir(
        folder, FLAVOR_NAME, conf,
        {"loader_module": "lite_tracker.sklearn", "model_path": MODEL_FILE, "predict_fn": pyfunc_predict_fn},
        _SklearnModelWrapper(sk_model, pyfunc_predict_fn), signature, input_example,
        pip_requirements if pip_requirements is not None else _requirements(fmt), extra_pip_requirements, metadata,
    )


def log_model(sk_model: Any, artifact_path: str | None = None, *, name: str | None = None,
              registered_model_name: str | None = None, signature: Any = None, input_example: Any = None,
              serialization_format: str | None = None, pip_requirements: list[str] | None = None,
              extra_pip_requirements: list[str] | None = None, pyfunc_predict_fn: str = "predict",
              metadata: dict[str, Any] | None = None, await_registration_for: int = 300) -> ModelInfo:
    """Log a fitted estimator as an artifact of the active run (started if none), optionally registering it.

    Args:
        sk_model: A fitted scikit-learn estimator.
        artifact_path: Where in the run's artifacts (default ``"model"``); MLflow 3's ``name`` also works.
        name: MLflow 3 spelling of ``artifact_path``.
        registered_model_name: Register the logged model as a new version of this model (created if needed).
        signature: Input/output signature (inferred from ``input_example`` if not given).
        input_example: Example input, saved as a scoring payload.
        serialization_format: ``"cloudpickle"`` (default when installed) or ``"pickle"``.
        pip_requirements: Replace the default requirements.
        extra_pip_requirements: Add to the default requirements.
        pyfunc_predict_fn: The estimator method the pyfunc form calls.
        metadata: Free-form metadata stored in ``MLmodel``.
        await_registration_for: Accepted for MLflow compatibility (registration is synchronous).

    Returns:
        A :class:`~lite_tracker.models.ModelInfo`; ``model_uri`` loads the model back.
    """
    def save(folder: Path) -> Model:
        folder.rmdir()
        return save_model(sk_model, folder, serialization_format, signature, input_example, pip_requirements,
                          extra_pip_requirements, pyfunc_predict_fn, metadata)

    return log_model_dir(save, artifact_path, name, registered_model_name)


def load_model(model_uri: str | Path, dst_path: str | Path | None = None) -> Any:
    """Load a logged or registered scikit-learn model as the estimator itself.

    Unpickling runs code from the model files: load only models you trust.

    Args:
        model_uri: ``runs:/<run_id>/<path>``, ``models:/<name>/<version|stage|latest>``,
            ``models:/<name>@<alias>``, or a local folder / artifact URL.
        dst_path: Download (or copy) the model files here instead of a temp folder.

    Returns:
        The fitted estimator.

    Raises:
        LiteTrackerException: RESOURCE_DOES_NOT_EXIST naming an unknown run, model, version, stage or alias;
            INVALID_PARAMETER_VALUE if the model is not a scikit-learn model.
    """
    folder = local_model_dir(model_uri, dst_path)
    model = Model.load(folder)
    conf = model.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise InvalidParameterValue(
            f"{str(model_uri)!r} is not a scikit-learn model (flavors: {', '.join(model.flavors) or 'none'}); "
            "load it with lite_tracker.pyfunc.load_model.")
    check_dependencies(model, FLAVOR_NAME)
    return pickle_load(folder / conf.get("pickled_model", MODEL_FILE))


def autolog(log_input_examples: bool = False, log_model_signatures: bool = True, log_models: bool = True,
            log_datasets: bool = True, disable: bool = False, exclusive: bool = False,
            disable_for_unsupported_versions: bool = False, silent: bool = False, max_tuning_runs: int | None = 5,
            serialization_format: str = SERIALIZATION_FORMAT_CLOUDPICKLE, registered_model_name: str | None = None,
            extra_tags: dict[str, Any] | None = None) -> None:
    """Log every scikit-learn ``fit`` automatically, as MLflow's ``mlflow.sklearn.autolog``.

    A fit logs the estimator's params (``get_params(deep=True)``), the tags ``estimator_name`` and
    ``estimator_class``, MLflow's ``training_*`` metrics (``training_score``, ``training_accuracy_score``,
    ``training_f1_score``, ``training_r2_score``...), the fitted model under ``model`` and the training
    data as an input (context ``train``). Inside an active run it logs there; otherwise it starts a run
    and ends it after the fit (FAILED if the fit raises). ``GridSearchCV``/``RandomizedSearchCV`` also log
    ``best_<param>`` params, ``best_cv_score``, ``cv_results.csv``, the ``best_estimator`` model and a child
    run for each of the ``max_tuning_runs`` best candidates. Pipelines log once, as one estimator.

    Args:
        log_input_examples: Save the first rows of the training data with the model.
        log_model_signatures: Infer and save the model's signature.
        log_models: Log the fitted model (and the best estimator of a search).
        log_datasets: Record the training data as a dataset input of the run.
        disable: Undo the patching: fits log nothing, as before ``autolog()``.
        exclusive: Log only into runs autologging starts, never into the user's active run.
        disable_for_unsupported_versions: Do nothing on a scikit-learn older than 1.3.
        silent: No warnings from autologging.
        max_tuning_runs: Child runs per search (the best ones); None for every candidate.
        serialization_format: ``"cloudpickle"`` or ``"pickle"``.
        registered_model_name: Register each logged model as a new version of this model.
        extra_tags: Tags of the runs autologging starts.

    Example:
        >>> lite_tracker.sklearn.autolog()  # doctest: +SKIP
        >>> LogisticRegression().fit(X, y)  # a run with params, training metrics and the model  # doctest: +SKIP
    """
    from . import _sklearn_autolog

    if disable:
        _sklearn_autolog.disable()
        return
    version = library_version("sklearn")
    if version is None:
        raise InvalidParameterValue("scikit-learn autologging needs scikit-learn: "
                                    "`pip install 'lite-tracker[sklearn]'`.")
    if disable_for_unsupported_versions and tuple(int(p) for p in version.split(".")[:2] if p.isdigit()) < (1, 3):
        _sklearn_autolog.disable()
        return
    if max_tuning_runs is not None and (isinstance(max_tuning_runs, bool) or not isinstance(max_tuning_runs, int)
                                        or max_tuning_runs < 0):
        raise InvalidParameterValue(f"max_tuning_runs must be None or an integer >= 0, got {max_tuning_runs!r}.")
    _sklearn_autolog.enable(_sklearn_autolog.AutologConfig(
        log_model=log_model, log_input_examples=log_input_examples, log_model_signatures=log_model_signatures,
        log_models=log_models, log_datasets=log_datasets, exclusive=exclusive, silent=silent,
        max_tuning_runs=max_tuning_runs, serialization_format=serialization_format,
        registered_model_name=registered_model_name, extra_tags={k: str(val) for k, val in (extra_tags or {}).items()},
    ))


def _load_pyfunc(path: Path, model: Model) -> _SklearnModelWrapper:
    """Loader of the sklearn flavor's python_function form (named by ``loader_module`` in MLmodel)."""
    conf = model.flavors.get(FLAVOR_NAME, {})
    predict_fn = model.flavors.get("python_function", {}).get("predict_fn", "predict")
    return _SklearnModelWrapper(pickle_load(path / conf.get("pickled_model", MODEL_FILE)), predict_fn)


__all__ = ["autolog", "load_model", "log_model", "save_model"]
