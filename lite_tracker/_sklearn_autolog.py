"""Autologging for scikit-learn (MLflow's ``mlflow.sklearn.autolog``): patch ``fit`` (and
``fit_transform``/``fit_predict``) of every estimator so that a fit logs its params, training metrics,
the fitted model and the training data, in the active run or in a run of its own.

Only the outermost fit logs: a pipeline's steps and a search's candidate fits run unpatched inside it.
A parameter search (``GridSearchCV``, ``RandomizedSearchCV``, any estimator with ``best_estimator_``
and ``cv_results_``) also logs its best params and score, ``cv_results.csv``, the best estimator, and
one child run per top candidate, as MLflow does. The flavor's ``log_model`` is passed in by
:func:`lite_tracker.sklearn.autolog` (this module sits below the flavor).
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import time
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from . import _validation as v
from . import data
from .entities import Metric, Param, RunTag
from .errors import InvalidParameterValue, LiteTrackerException
from .models import infer_signature
from .tracking import fluent
from .tracking.client import MlflowClient

log = logging.getLogger(__name__)

PATCHED_METHODS = ("fit", "fit_transform", "fit_predict")
INPUT_EXAMPLE_ROWS = 5
_PARAMS_PER_BATCH = 100


@dataclass
class AutologConfig:
    """What ``autolog(...)`` asked for."""

    log_model: Callable[..., Any]
    log_input_examples: bool = False
    log_model_signatures: bool = True
    log_models: bool = True
    log_datasets: bool = True
    exclusive: bool = False
    silent: bool = False
    max_tuning_runs: int | None = 5
    serialization_format: str = "cloudpickle"
    registered_model_name: str | None = None
    extra_tags: dict[str, str] = field(default_factory=dict)


_config: AutologConfig | None = None
# (class, method name) -> what the class itself held before patching (None: it inherited the method).
_originals: dict[tuple[type, str], Any] = {}
_inside_fit: ContextVar[bool] = ContextVar("lite_tracker_sklearn_inside_fit", default=False)


def enable(config: AutologConfig) -> None:
    """Patch every scikit-learn estimator (once) and use ``config`` from now on."""
    global _config
    _config = config
    if not _originals:
        for cls in _estimator_classes():
            for name in PATCHED_METHODS:
                method = inspect.getattr_static(cls, name, None)
                if isinstance(method, types.FunctionType):
                    _originals[(cls, name)] = cls.__dict__.get(name)
                    setattr(cls, name, _patched(method))


def disable() -> None:
    """Undo every patch: estimators fit exactly as before ``autolog()``."""
    global _config
    _config = None
    for (cls, name), original in _originals.items():
        if original is None:
            delattr(cls, name)
        else:
            setattr(cls, name, original)
    _originals.clear()


def is_enabled() -> bool:
    """Whether scikit-learn fits are being logged."""
    return _config is not None


def _estimator_classes() -> list[type]:
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.utils import all_estimators

    with warnings.catch_warnings():  # importing every estimator module may warn about experimental ones
        warnings.simplefilter("ignore")
        found = [cls for _, cls in all_estimators()]
    return list(dict.fromkeys([*found, Pipeline, GridSearchCV, RandomizedSearchCV]))


def _patched(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        config = _config
        if config is None or _inside_fit.get():
            return original(self, *args, **kwargs)
        if config.exclusive and fluent.active_run() is not None:
            return original(self, *args, **kwargs)  # exclusive: never log into the user's own run
        token = _inside_fit.set(True)
        try:
            return _logged_fit(config, original, self, args, kwargs)
        finally:
            _inside_fit.reset(token)

    return fit


def _logged_fit(config: AutologConfig, original: Callable[..., Any], estimator: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
    """Fit inside the active run (or a new one, ended after the fit) and log what MLflow logs."""
    started = fluent.active_run() is None
    run = fluent.start_run(tags=config.extra_tags or None) if started else fluent.active_run()
    assert run is not None
    run_id = run.info.run_id
    client = MlflowClient()
    try:
        X, y, sample_weight = _fit_data(original, estimator, args, kwargs)
        with _logging_failures_warn(config, run_id):
            _log_params(client, run_id, estimator.get_params(deep=True))
            client.log_batch(run_id, tags=[RunTag(k, val) for k, val in _estimator_tags(estimator).items()])
        result = original(estimator, *args, **kwargs)
        with _logging_failures_warn(config, run_id):
            _log_after_fit(config, client, run_id, estimator, X, y, sample_weight)
    except BaseException as e:
        if started:
            fluent.end_run("KILLED" if isinstance(e, KeyboardInterrupt) else "FAILED")
        raise
    if started:
        fluent.end_run()
    return result


@contextmanager
def _logging_failures_warn(config: AutologConfig, run_id: str) -> Iterator[None]:
    """A failure to log never fails the user's fit (as in MLflow): it is reported as a warning, e.g. a
    second fit in one run with other params, which a run cannot record (params are immutable)."""
    try:
        yield
    except (LiteTrackerException, OSError) as e:
        if not config.silent:
            log.warning("lite_tracker: scikit-learn autologging could not log to run %s: %s", run_id, e)


def _fit_data(original: Callable[..., Any], estimator: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
    """``X``, ``y`` and ``sample_weight`` of a fit call, however they were passed."""
    try:
        bound = inspect.signature(original).bind(estimator, *args, **kwargs).arguments
    except TypeError:
        return (args[0] if args else None), (args[1] if len(args) > 1 else None), None
    fit_params = bound.get("fit_params") or bound.get("params") or {}
    return bound.get("X"), bound.get("y"), bound.get("sample_weight", fit_params.get("sample_weight"))


def _estimator_tags(estimator: Any) -> dict[str, str]:
    cls = type(estimator)
    return {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__qualname__}"}


def _log_params(client: MlflowClient, run_id: str, params: dict[str, Any]) -> None:
    """Params as strings, over-long values cut to MLflow's limit (autologging truncates, as MLflow's)."""
    items = [Param(k, str(val)[: v.MAX_PARAM_VALUE_LENGTH]) for k, val in params.items()]
    for i in range(0, len(items), _PARAMS_PER_BATCH):
        client.log_batch(run_id, params=items[i: i + _PARAMS_PER_BATCH])


def _log_after_fit(config: AutologConfig, client: MlflowClient, run_id: str, estimator: Any, X: Any, y: Any,
                   sample_weight: Any) -> None:
    metrics = training_metrics(estimator, X, y, sample_weight, config.silent)
    search = _is_search(estimator)
    if search:
        metrics["best_cv_score"] = float(estimator.best_score_) if hasattr(estimator, "best_score_") else math.nan
        _log_params(client, run_id, {f"best_{k}": val for k, val in getattr(estimator, "best_params_", {}).items()})
    if metrics:
        client.log_batch(run_id, metrics=[Metric(k, val, _now_ms(), 0) for k, val in metrics.items()])
    if config.log_datasets and X is not None:
        _log_dataset(X, y)
    if config.log_models:
        _log_model(config, estimator, X, "model", config.registered_model_name)
    if search:
        if config.log_models and hasattr(estimator, "best_estimator_"):
            _log_model(config, estimator.best_estimator_, X, "best_estimator", None)
        _log_search_results(config, client, run_id, estimator)


def training_metrics(estimator: Any, X: Any, y: Any, sample_weight: Any, silent: bool = False) -> dict[str, float]:
    """MLflow's ``training_*`` metrics of a fitted estimator on its training data.

    Classifiers: accuracy, weighted precision, recall and F1, plus log loss and ROC AUC when they
    predict probabilities; regressors: MSE, RMSE, MAE and R2; both: ``training_score`` (``score``).
    A metric that cannot be computed for this data is left out with a warning.
    """
    if X is None or y is None:
        return {}
    from sklearn import metrics as m
    from sklearn.base import is_classifier, is_regressor

    out: dict[str, float] = {}
    weights = {"sample_weight": sample_weight}

    def add(name: str, compute: Callable[[], Any]) -> None:
        try:
            out[name] = float(compute())
        except (ValueError, TypeError, AttributeError) as e:
            if not silent:
                log.warning("lite_tracker: autologging could not compute %s: %s", name, e)

    if is_classifier(estimator):
        predicted = estimator.predict(X)
        add("training_precision_score", lambda: m.precision_score(y, predicted, average="weighted", **weights))
        add("training_recall_score", lambda: m.recall_score(y, predicted, average="weighted", **weights))
        add("training_f1_score", lambda: m.f1_score(y, predicted, average="weighted", **weights))
        add("training_accuracy_score", lambda: m.accuracy_score(y, predicted, **weights))
        if hasattr(estimator, "predict_proba"):
            proba = estimator.predict_proba(X)
            add("training_log_loss", lambda: m.log_loss(y, proba, labels=estimator.classes_, **weights))
            add("training_roc_auc", lambda: m.roc_auc_score(
                y, proba[:, 1] if proba.shape[1] == 2 else proba, multi_class="ovr", labels=estimator.classes_,
                **weights))
    elif is_regressor(estimator):
        predicted = estimator.predict(X)
        add("training_mean_squared_error", lambda: m.mean_squared_error(y, predicted, **weights))
        add("training_root_mean_squared_error",
            lambda: math.sqrt(m.mean_squared_error(y, predicted, **weights)))
        add("training_mean_absolute_error", lambda: m.mean_absolute_error(y, predicted, **weights))
        add("training_r2_score", lambda: m.r2_score(y, predicted, **weights))
    if hasattr(estimator, "score"):
        add("training_score", lambda: estimator.score(X, y, **({"sample_weight": sample_weight}
                                                                if sample_weight is not None else {})))
    return out


def _is_search(estimator: Any) -> bool:
    return hasattr(estimator, "cv_results_") and hasattr(estimator, "best_params_")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _log_dataset(X: Any, y: Any) -> None:
    """The training data as the run's input, context ``train``."""
    if hasattr(X, "columns") and hasattr(X, "dtypes"):
        dataset: Any = data.from_pandas(X)
    elif hasattr(X, "shape") and hasattr(X, "flatten"):
        import numpy as np

        dataset = data.from_numpy(X, targets=None if y is None else np.asarray(y))
    else:
        return  # sparse matrices and lists: MLflow logs no dataset for them either
    fluent.log_input(dataset, context="train")


def _log_model(config: AutologConfig, model: Any, X: Any, path: str, registered_model_name: str | None) -> None:
    sample = X[:INPUT_EXAMPLE_ROWS] if X is not None and hasattr(X, "__getitem__") else None
    signature = None
    if config.log_model_signatures and sample is not None and hasattr(model, "predict"):
        try:
            signature = infer_signature(sample, model.predict(sample))
        except (InvalidParameterValue, ValueError, TypeError) as e:
            if not config.silent:
                log.warning("lite_tracker: autologging could not infer the model signature: %s", e)
    config.log_model(model, name=path, signature=signature,
                     input_example=sample if config.log_input_examples else None,
                     serialization_format=config.serialization_format,
                     registered_model_name=registered_model_name)


def _log_search_results(config: AutologConfig, client: MlflowClient, parent_id: str, search: Any) -> None:
    """``cv_results.csv`` on the parent, and a child run per top candidate (by ``rank_test_score``)."""
    import numpy as np
    import pandas as pd

    results = pd.DataFrame(search.cv_results_)
    client.log_text(parent_id, results.to_csv(index=False), "cv_results.csv")
    rank = "rank_test_score" if "rank_test_score" in results else next(
        (c for c in results.columns if c.startswith("rank_test_")), None)
    best = results if config.max_tuning_runs is None or rank is None else results.nsmallest(
        config.max_tuning_runs, rank)
    base = search.estimator.get_params(deep=True)
    parent = client.get_run(parent_id)
    for _, row in best.iterrows():
        tags = {**config.extra_tags, "mlflow.parentRunId": parent_id, **_estimator_tags(search.estimator)}
        child = client.create_run(parent.info.experiment_id, tags=tags).info.run_id
        _log_params(client, child, {**base, **row["params"]})
        now = _now_ms()
        client.log_batch(child, metrics=[
            Metric(str(k), float(val), now, 0) for k, val in row.items()
            if not str(k).startswith(("param", "split")) and isinstance(val, (int, float, np.integer, np.floating))
            and not isinstance(val, (bool, np.bool_))
        ])
        client.set_terminated(child)
