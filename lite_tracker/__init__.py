"""lite_tracker: an embedded, serverless, MLflow-compatible experiment tracker.

Use it as ``import lite_tracker as mlflow``: runs, params, tags and metrics go to a local DuckDB/Parquet
store (default ``./lite_tracker.duckdb``) that many processes can write at once, with no server.
"""

from . import entities, exceptions
from ._autolog import autolog
from ._log_model import load_model, log_model
from ._notebook import show
from ._version import __version__
from .entities import Experiment, Metric, Param, Run, RunTag, ViewType
from .errors import LiteTrackerException, MlflowException, NotSupported
from .settings import TrackingUriIgnoredWarning
from .sync import disable_sync, enable_sync
from .tracking._media import Image
from .tracking._system_metrics import (
    disable_system_metrics_logging,
    enable_system_metrics_logging,
    set_system_metrics_node_id,
    set_system_metrics_samples_before_logging,
    set_system_metrics_sampling_interval,
)
from .tracking.client import MlflowClient, RunOperations
from .tracking.fluent import (
    ActiveRun,
    active_run,
    create_experiment,
    delete_experiment,
    delete_experiment_tag,
    delete_run,
    delete_tag,
    end_run,
    flush,
    flush_artifact_async_logging,
    flush_async_logging,
    get_artifact_uri,
    get_experiment,
    get_experiment_by_name,
    get_parent_run,
    get_registry_uri,
    get_run,
    get_tracking_uri,
    is_tracking_uri_set,
    last_active_run,
    load_table,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_image,
    log_input,
    log_inputs,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    log_stream,
    log_table,
    log_text,
    register_model,
    restore_experiment,
    restore_run,
    search_experiments,
    search_model_versions,
    search_registered_models,
    search_runs,
    set_experiment,
    set_experiment_tag,
    set_experiment_tags,
    set_model_version_tag,
    set_registry_uri,
    set_tag,
    set_tags,
    set_tracking_uri,
    sql,
    start_run,
)

# Submodules that import heavy libraries load on first use: ``lite_tracker.sklearn.log_model(...)``
# works after a plain ``import lite_tracker``, and importing lite_tracker stays light.
_LAZY_SUBMODULES = ("artifacts", "data", "models", "pyfunc", "sklearn")


# MLflow's module-level names lite_tracker does not implement (README, "Not supported"): using one
# raises NotSupported (an AttributeError, so hasattr() stays False) saying so, not a bare AttributeError.
NOT_SUPPORTED = frozenset({
    # tracing and GenAI
    "tracing", "trace", "start_span", "start_span_no_context", "get_trace", "search_traces", "log_trace",
    "get_current_active_span", "get_last_active_trace_id", "update_current_trace", "add_trace",
    "delete_trace_tag", "set_trace_tag", "log_feedback", "log_expectation", "log_assessment",
    "get_assessment", "update_assessment", "delete_assessment", "override_feedback", "genai", "prompts",
    "register_prompt", "load_prompt", "search_prompts", "delete_prompt", "set_prompt_alias",
    "delete_prompt_alias", "evaluate", "metrics", "gateway", "deployments", "flush_trace_async_logging",
    "get_active_trace_id", "search_sessions", "log_issue", "validate_evaluation_results", "context", "test",
    # logged models (MLflow 3's model entities)
    "initialize_logged_model", "create_external_model", "finalize_logged_model", "get_logged_model",
    "search_logged_models", "last_logged_model", "set_logged_model_tags", "delete_logged_model_tag",
    "log_outputs", "set_active_model", "get_active_model_id", "clear_active_model", "ActiveModel",
    "log_model_params", "import_checkpoints",
    # workspaces (an MLflow server feature)
    "create_workspace", "delete_workspace", "get_workspace", "list_workspaces", "set_workspace",
    "update_workspace",
    # projects, recipes, serving and other tools
    "projects", "run", "recipes", "server", "sagemaker", "login", "doctor", "config", "environment_variables",
    # model flavors other than sklearn and pyfunc
    "anthropic", "autogen", "bedrock", "catboost", "crewai", "diviner", "dspy", "fastai", "gemini", "gluon",
    "groq", "h2o", "johnsnowlabs", "keras", "langchain", "lightgbm", "litellm", "llama_index", "mistral",
    "mleap", "onnx", "openai", "paddle", "pmdarima", "promptflow", "prophet", "pyspark", "pytorch",
    "sentence_transformers", "shap", "spacy", "spark", "statsmodels", "tensorflow", "transformers", "xgboost",
})


def __getattr__(name: str) -> object:
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    if name in NOT_SUPPORTED:
        raise NotSupported(f"lite_tracker does not support mlflow.{name} yet; see README 'Not supported'.")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ActiveRun",
    "Experiment",
    "Image",
    "LiteTrackerException",
    "Metric",
    "MlflowClient",
    "MlflowException",
    "NotSupported",
    "Param",
    "Run",
    "RunOperations",
    "RunTag",
    "TrackingUriIgnoredWarning",
    "ViewType",
    "__version__",
    "active_run",
    "autolog",
    "create_experiment",
    "delete_experiment",
    "delete_experiment_tag",
    "delete_run",
    "delete_tag",
    "disable_sync",
    "disable_system_metrics_logging",
    "enable_sync",
    "enable_system_metrics_logging",
    "end_run",
    "entities",
    "exceptions",
    "flush",
    "flush_artifact_async_logging",
    "flush_async_logging",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_parent_run",
    "get_registry_uri",
    "get_run",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "last_active_run",
    "load_model",
    "load_table",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_inputs",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_stream",
    "log_table",
    "log_text",
    "register_model",
    "restore_experiment",
    "restore_run",
    "search_experiments",
    "search_model_versions",
    "search_registered_models",
    "search_runs",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    "set_model_version_tag",
    "set_registry_uri",
    "set_system_metrics_node_id",
    "set_system_metrics_samples_before_logging",
    "set_system_metrics_sampling_interval",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "show",
    "sql",
    "start_run",
]
