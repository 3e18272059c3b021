"""Every validation rule: the right MLflow error code, a message naming the item, and nothing written."""

from __future__ import annotations

import json
import math

import pytest

import lite_tracker as mlflow
from lite_tracker import MlflowClient
from lite_tracker.entities import Metric, Param, RunTag
from lite_tracker.errors import InvalidParameterValue, LiteTrackerException, MlflowException, ResourceNotFound


def _code(excinfo: pytest.ExceptionInfo[LiteTrackerException]) -> str:
    return excinfo.value.error_code


@pytest.mark.parametrize("key", ["", ".", "/abs", "../up", "a//b", "a/", "bad*char", "x" * 251, "tab\tkey", "./a"])
def test_bad_keys_rejected_for_metric_param_tag(fluent, key: str) -> None:
    with mlflow.start_run() as run:
        for call in (lambda: mlflow.log_metric(key, 1.0), lambda: mlflow.log_param(key, 1),
                     lambda: mlflow.set_tag(key, "v")):
            with pytest.raises(InvalidParameterValue) as e:
                call()
            assert _code(e) == "INVALID_PARAMETER_VALUE" and json.dumps(key)[:40] in e.value.message
    got = mlflow.get_run(run.info.run_id)
    assert got.data.metrics == {} and got.data.params == {}


@pytest.mark.parametrize("key", ["a", "a/b", "a.b-c d:e", "x" * 250, "train/loss_1"])
def test_good_keys_accepted(fluent, key: str) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metric(key, 1.0)
    assert mlflow.get_run(run.info.run_id).data.metrics == {key: 1.0}


@pytest.mark.parametrize("value", [None, True, "1.0", [1], object()])
def test_bad_metric_values(fluent, value: object) -> None:
    with mlflow.start_run():
        with pytest.raises(InvalidParameterValue, match="'m'"):
            mlflow.log_metric("m", value)  # type: ignore[arg-type]
        with pytest.raises(InvalidParameterValue, match="'m'"):
            mlflow.log_metrics({"ok": 1.0, "m": value})  # type: ignore[dict-item]


def test_numpy_and_int_values_become_floats(fluent) -> None:
    np = pytest.importorskip("numpy")
    with mlflow.start_run() as run:
        mlflow.log_metrics({"i": 3, "f32": np.float32(0.5), "i64": np.int64(7)}, step=np.int64(2))
    assert mlflow.get_run(run.info.run_id).data.metrics == {"i": 3.0, "f32": 0.5, "i64": 7.0}


@pytest.mark.parametrize("step", [1.5, "1", True, 2**64])
def test_bad_steps_and_timestamps(fluent, step: object) -> None:
    with mlflow.start_run():
        with pytest.raises(InvalidParameterValue, match="step"):
            mlflow.log_metric("m", 1.0, step=step)  # type: ignore[arg-type]
        with pytest.raises(InvalidParameterValue, match="timestamp"):
            mlflow.log_metric("m", 1.0, timestamp=step)  # type: ignore[arg-type]
        with pytest.raises(InvalidParameterValue, match="timestamp"):
            mlflow.log_metric("m", 1.0, timestamp=-1)


def test_value_length_limits(fluent) -> None:
    with mlflow.start_run() as run:
        mlflow.log_param("ok", "x" * 6000)
        with pytest.raises(InvalidParameterValue, match="6000"):
            mlflow.log_param("long", "x" * 6001)
        mlflow.set_tag("ok", "y" * 8000)
        with pytest.raises(InvalidParameterValue, match="8000"):
            mlflow.set_tag("long", "y" * 8001)
    got = mlflow.get_run(run.info.run_id)
    assert "long" not in got.data.params and "long" not in got.data.tags


def test_log_batch_is_all_or_nothing(client: MlflowClient) -> None:
    run = client.create_run("0")
    rid = run.info.run_id
    with pytest.raises(InvalidParameterValue, match="Duplicate parameter keys"):
        client.log_batch(rid, params=[Param("a", 1), Param("a", 2)])
    with pytest.raises(InvalidParameterValue):
        client.log_batch(rid, metrics=[Metric("good", 1.0, 0, 0), Metric("bad", None, 0, 0)],  # type: ignore[arg-type]
                         params=[Param("p", 1)], tags=[RunTag("t", "v")])
    client.set_terminated(rid)
    got = client.get_run(rid)
    assert got.data.metrics == {} and got.data.params == {} and "t" not in got.data.tags


def test_param_immutable_across_processes_of_the_same_store(client: MlflowClient, store_path) -> None:
    run = client.create_run("0")
    client.log_param(run.info.run_id, "p", "1")
    client.flush()
    other = MlflowClient(str(store_path))  # same process shares the cache; use the store state instead
    with pytest.raises(InvalidParameterValue, match="Changing param values is not allowed"):
        other.log_param(run.info.run_id, "p", "2")


def test_ids_and_unknown_resources(client: MlflowClient) -> None:
    with pytest.raises(InvalidParameterValue, match="Invalid run ID"):
        client.get_run("../etc")
    with pytest.raises(ResourceNotFound) as e:
        client.get_run("0" * 32)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(InvalidParameterValue, match="Invalid experiment ID"):
        client.create_run("bad id!")
    with pytest.raises(ResourceNotFound):
        client.create_run("42")
    with pytest.raises(InvalidParameterValue):
        client.create_experiment("")
    with pytest.raises(InvalidParameterValue, match="500"):
        client.create_experiment("n" * 501)
    with pytest.raises(InvalidParameterValue, match="status"):
        client.set_terminated(client.create_run("0").info.run_id, "DONE")


def test_exception_tree() -> None:
    assert MlflowException is LiteTrackerException
    e = InvalidParameterValue("x")
    assert isinstance(e, ValueError) and e.get_http_status_code() == 400
    assert isinstance(ResourceNotFound("y"), LookupError)


def test_nan_inf_exact_round_trip_in_history(client: MlflowClient) -> None:
    rid = client.create_run("0").info.run_id
    for i, x in enumerate([math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324]):
        client.log_metric(rid, "v", x, step=i)
    hist = [m.value for m in client.get_metric_history(rid, "v")]
    assert math.isnan(hist[0]) and hist[1:] == [math.inf, -math.inf, 1e308, -0.0, 5e-324]
