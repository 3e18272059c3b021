"""lite_tracker: an embedded, serverless, MLflow-compatible experiment tracker.

Use it as ``import lite_tracker as mlflow``: runs, params, tags and metrics go to a local DuckDB/Parquet
store (default ``./lite_tracker.duckdb``) that many processes can write at once, with no server.
"""

from . import entities
from ._autolog import autolog
from ._log_model import load_model, log_model
from ._version import __version__
from .entities import Experiment, Metric, Param, Run, RunTag, ViewType
from .errors import LiteTrackerException, MlflowException
from .sync import disable_sync, enable_sync
from .tracking._system_metrics import (
    disable_system_metrics_logging,
    enable_system_metrics_logging,
    set_system_metrics_node_id,
    set_system_metrics_samples_before_logging,
    set_system_metrics_sampling_interval,
)
from .tracking.client import MlflowClient
from .tracking.fluent import (
    ActiveRun,
    active_run,
    create_experiment,
    delete_experiment,
    delete_run,
    delete_tag,
    end_run,
    flush,
    get_artifact_uri,
    get_experiment,
    get_experiment_by_name,
    get_run,
    get_tracking_uri,
    last_active_run,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_image,
    log_input,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    log_text,
    register_model,
    search_experiments,
    search_runs,
    set_experiment,
    set_tag,
    set_tags,
    set_tracking_uri,
    sql,
    start_run,
)

# Submodules that import heavy libraries load on first use: ``lite_tracker.sklearn.log_model(...)``
# works after a plain ``import lite_tracker``, and importing lite_tracker stays light.
_LAZY_SUBMODULES = ("artifacts", "data", "models", "pyfunc", "sklearn")


def __getattr__(name: str) -> object:
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ActiveRun",
    "Experiment",
    "LiteTrackerException",
    "Metric",
    "MlflowClient",
    "MlflowException",
    "Param",
    "Run",
    "RunTag",
    "ViewType",
    "__version__",
    "active_run",
    "autolog",
    "create_experiment",
    "delete_experiment",
    "delete_run",
    "delete_tag",
    "disable_sync",
    "disable_system_metrics_logging",
    "enable_sync",
    "enable_system_metrics_logging",
    "end_run",
    "entities",
    "flush",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_run",
    "get_tracking_uri",
    "last_active_run",
    "load_model",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_text",
    "register_model",
    "search_experiments",
    "search_runs",
    "set_experiment",
    "set_system_metrics_node_id",
    "set_system_metrics_samples_before_logging",
    "set_system_metrics_sampling_interval",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "sql",
    "start_run",
]
