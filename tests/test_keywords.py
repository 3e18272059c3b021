"""A mistyped keyword is a TypeError, never silently dropped; MLflow 3's keywords are all accepted.

``log_metric("loss", 0.3, stpe=5)`` used to log the point at step 0: the signatures ended in ``**_``.
The lists of public callables are built by introspection, so a function added later is covered too.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import lite_tracker as mlflow
from lite_tracker import MlflowClient

MODULES = ("lite_tracker", "lite_tracker.sklearn", "lite_tracker.pyfunc", "lite_tracker.models", "lite_tracker.sync")

# Callables whose **kwargs are genuine, with the reason.
FORWARDS_KWARGS = {
    # A flavor's configuration is free-form (MLflow's Model.add_flavor(name, **params) too): every
    # keyword becomes a key of the flavor's section in MLmodel.
    "lite_tracker.models.Model.add_flavor",
    # Forwards flavor options to the chosen flavor's log_model after checking them against its
    # signature: a mistyped one is a TypeError there (tests/test_log_model.py).
    "lite_tracker.log_model",
}


def _members(owner: Any, prefix: str) -> Iterator[tuple[str, Callable[..., Any]]]:
    """The public methods (not properties) a class defines or inherits from lite_tracker."""
    for name, attr in inspect.getmembers(owner):
        static = inspect.getattr_static(owner, name)
        if name.startswith("_") or isinstance(static, property) or not callable(attr):
            continue
        if getattr(attr, "__module__", "").startswith("lite_tracker"):
            yield f"{prefix}.{name}", attr


def public_callables() -> list[tuple[str, Callable[..., Any]]]:
    found: dict[str, Callable[..., Any]] = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.ismodule(obj) or not callable(obj):
                continue
            qualified = f"{module_name}.{name}"
            found[qualified] = obj
            if inspect.isclass(obj):
                found.update(_members(obj, qualified))
    found.update(_members(MlflowClient, "lite_tracker.MlflowClient"))
    return sorted(found.items())


CALLABLES = public_callables()


def test_the_introspected_list_covers_the_api() -> None:
    names = {name for name, _ in CALLABLES}
    assert {"lite_tracker.log_metric", "lite_tracker.log_image", "lite_tracker.MlflowClient.log_metric",
            "lite_tracker.MlflowClient.create_model_version", "lite_tracker.sklearn.log_model",
            "lite_tracker.sync.push"} <= names
    assert len(names) > 100


@pytest.mark.parametrize(("name", "func"), CALLABLES, ids=[name for name, _ in CALLABLES])
def test_an_unknown_keyword_is_a_type_error(name: str, func: Callable[..., Any]) -> None:
    try:
        signature = inspect.signature(func)
    except ValueError:  # a class built on a builtin (the warning classes): call it for real
        with pytest.raises(TypeError):
            func(stpe=5)
        return
    var_keyword = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    if name in FORWARDS_KWARGS:
        assert var_keyword
        return
    assert not var_keyword, f"{name}{signature} swallows unknown keywords"
    with pytest.raises(TypeError, match="stpe"):
        signature.bind_partial(stpe=5)


def test_mistyped_step_raises_and_logs_nothing(client: MlflowClient) -> None:
    mlflow.set_tracking_uri(client.tracking_uri)
    with mlflow.start_run() as run:
        with pytest.raises(TypeError, match="stpe"):
            mlflow.log_metric("loss", 0.3, stpe=5)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="stpe"):
            mlflow.log_metrics({"loss": 0.3}, stpe=5)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="stpe"):
            mlflow.log_image(np.zeros((2, 2, 3), dtype=np.uint8), "a.png", stpe=5)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="stpe"):
            client.log_metric(run.info.run_id, "loss", 0.3, stpe=5)  # type: ignore[call-arg]
    assert client.get_metric_history(run.info.run_id, "loss") == []
    assert client.list_artifacts(run.info.run_id) == []


# MLflow 3.x keyword names of the functions users call most (from MLflow's API reference).
MLFLOW_KEYWORDS: dict[str, tuple[Callable[..., Any], tuple[str, ...]]] = {
    "log_metric": (mlflow.log_metric, ("key", "value", "step", "synchronous", "timestamp", "run_id", "model_id",
                                       "dataset")),
    "log_metrics": (mlflow.log_metrics, ("metrics", "step", "synchronous", "run_id", "timestamp", "model_id",
                                         "dataset")),
    "log_param": (mlflow.log_param, ("key", "value", "synchronous")),
    "log_params": (mlflow.log_params, ("params", "synchronous", "run_id")),
    "set_tag": (mlflow.set_tag, ("key", "value", "synchronous")),
    "set_tags": (mlflow.set_tags, ("tags", "synchronous")),
    "log_image": (mlflow.log_image, ("image", "artifact_file", "key", "step", "timestamp", "synchronous")),
    "log_artifact": (mlflow.log_artifact, ("local_path", "artifact_path", "run_id")),
    "log_artifacts": (mlflow.log_artifacts, ("local_dir", "artifact_path", "run_id")),
    "log_text": (mlflow.log_text, ("text", "artifact_file", "run_id")),
    "log_dict": (mlflow.log_dict, ("dictionary", "artifact_file", "run_id")),
    "log_figure": (mlflow.log_figure, ("figure", "artifact_file", "save_kwargs")),
    "start_run": (mlflow.start_run, ("run_id", "experiment_id", "run_name", "nested", "parent_run_id", "tags",
                                     "description", "log_system_metrics")),
    "end_run": (mlflow.end_run, ("status",)),
    "search_runs": (mlflow.search_runs, ("experiment_ids", "filter_string", "run_view_type", "max_results",
                                         "order_by", "output_format", "search_all_experiments",
                                         "experiment_names")),
    "create_experiment": (mlflow.create_experiment, ("name", "artifact_location", "tags")),
    "set_experiment": (mlflow.set_experiment, ("experiment_name", "experiment_id")),
    "register_model": (mlflow.register_model, ("model_uri", "name", "await_registration_for", "tags")),
    "log_table": (mlflow.log_table, ("data", "artifact_file", "run_id")),
    "log_stream": (mlflow.log_stream, ("stream", "artifact_file", "run_id")),
    "load_table": (mlflow.load_table, ("artifact_file", "run_ids", "extra_columns")),
    "set_experiment_tag": (mlflow.set_experiment_tag, ("key", "value")),
    "set_experiment_tags": (mlflow.set_experiment_tags, ("tags",)),
    "get_parent_run": (mlflow.get_parent_run, ("run_id",)),
    "search_registered_models": (mlflow.search_registered_models, ("max_results", "filter_string", "order_by")),
    "search_model_versions": (mlflow.search_model_versions, ("max_results", "filter_string", "order_by")),
    "set_model_version_tag": (mlflow.set_model_version_tag, ("name", "version", "key", "value")),
    "MlflowClient.log_image": (MlflowClient.log_image, ("run_id", "image", "artifact_file", "key", "step",
                                                        "timestamp", "synchronous")),
    "MlflowClient.log_table": (MlflowClient.log_table, ("run_id", "data", "artifact_file")),
    "MlflowClient.log_stream": (MlflowClient.log_stream, ("run_id", "stream", "artifact_file")),
    "MlflowClient.load_table": (MlflowClient.load_table, ("experiment_id", "artifact_file", "run_ids",
                                                          "extra_columns")),
    "MlflowClient.copy_model_version": (MlflowClient.copy_model_version, ("src_model_uri", "dst_name")),
    "MlflowClient.get_parent_run": (MlflowClient.get_parent_run, ("run_id",)),
    "MlflowClient.log_metric": (MlflowClient.log_metric, ("run_id", "key", "value", "timestamp", "step",
                                                          "synchronous", "dataset_name", "dataset_digest",
                                                          "model_id")),
    "MlflowClient.log_param": (MlflowClient.log_param, ("run_id", "key", "value", "synchronous")),
    "MlflowClient.set_tag": (MlflowClient.set_tag, ("run_id", "key", "value", "synchronous")),
    "MlflowClient.log_batch": (MlflowClient.log_batch, ("run_id", "metrics", "params", "tags", "synchronous")),
    "MlflowClient.create_run": (MlflowClient.create_run, ("experiment_id", "start_time", "tags", "run_name")),
    "MlflowClient.search_runs": (MlflowClient.search_runs, ("experiment_ids", "filter_string", "run_view_type",
                                                            "max_results", "order_by", "page_token")),
    "MlflowClient.set_terminated": (MlflowClient.set_terminated, ("run_id", "status", "end_time")),
    "MlflowClient.create_registered_model": (MlflowClient.create_registered_model,
                                             ("name", "tags", "description", "deployment_job_id")),
    "MlflowClient.update_registered_model": (MlflowClient.update_registered_model,
                                             ("name", "description", "deployment_job_id")),
    "MlflowClient.create_model_version": (MlflowClient.create_model_version,
                                          ("name", "source", "run_id", "tags", "run_link", "description",
                                           "await_creation_for", "model_id")),
}


@pytest.mark.parametrize("name", sorted(MLFLOW_KEYWORDS))
def test_every_mlflow_keyword_is_accepted(name: str) -> None:
    func, keywords = MLFLOW_KEYWORDS[name]
    parameters = inspect.signature(func).parameters
    assert [k for k in keywords if k not in parameters] == []


def test_ignored_mlflow_keywords_do_not_change_what_is_logged(client: MlflowClient) -> None:
    mlflow.set_tracking_uri(client.tracking_uri)
    with mlflow.start_run() as run:
        rid = run.info.run_id
        mlflow.log_metric("a", 1.0, step=2, model_id="m-1", dataset=None)
        mlflow.log_metrics({"b": 2.0}, step=3, model_id="m-1", dataset=None)
        client.log_metric(rid, "c", 3.0, step=4, dataset_name="d", dataset_digest="abc", model_id="m-1")
        mlflow.log_image(np.zeros((2, 2, 3), dtype=np.uint8), "images/x.png", synchronous=True)
    assert [(m.key, m.value, m.step) for k in "abc" for m in client.get_metric_history(rid, k)] == [
        ("a", 1.0, 2), ("b", 2.0, 3), ("c", 3.0, 4)]
    assert [f.path for f in client.list_artifacts(rid, "images")] == ["images/x.png"]
    client.create_registered_model("m", deployment_job_id="job-1")
    assert client.update_registered_model("m", "text", deployment_job_id="job-1").description == "text"
    assert client.create_model_version("m", f"runs:/{rid}/model", model_id="m-1").version == 1


def test_conflicting_image_keywords_are_type_errors_as_in_mlflow(client: MlflowClient) -> None:
    mlflow.set_tracking_uri(client.tracking_uri)
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    with mlflow.start_run() as run:
        with pytest.raises(TypeError, match="cannot be used in conjunction"):
            mlflow.log_image(image, "a.png", step=1)
        with pytest.raises(TypeError, match="exactly one of `artifact_file` or `key`"):
            mlflow.log_image(image)
    assert client.list_artifacts(run.info.run_id) == []
