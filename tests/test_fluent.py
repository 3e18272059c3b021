"""The fluent API end to end on a real store: what is logged comes back exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import lite_tracker as mlflow
from lite_tracker import MlflowClient
from lite_tracker.entities import RunStatus


def test_round_trip_of_everything(fluent, tmp_path: Path) -> None:
    exp = mlflow.set_experiment("round-trip")
    with mlflow.start_run(run_name="first", tags={"team": "a"}, description="hello") as run:
        assert mlflow.active_run().info.run_id == run.info.run_id
        assert mlflow.log_param("lr", 0.01) == 0.01
        mlflow.log_params({"layers": 3, "opt": "adam"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.5, "nan": math.nan, "pinf": math.inf, "ninf": -math.inf}, step=7)
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"a": 1, "b": "two"})
        mlflow.delete_tag("a")
        (tmp_path / "f.txt").write_text("file")
        mlflow.log_artifact(str(tmp_path / "f.txt"), "files")
        mlflow.log_text("some text", "notes/n.txt")
        mlflow.log_dict({"k": [1, 2]}, "cfg/c.json")
        uri = mlflow.get_artifact_uri()
    assert mlflow.active_run() is None
    got = mlflow.get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.info.end_time >= got.info.start_time
    assert got.info.experiment_id == exp.experiment_id and got.info.run_name == "first"
    assert got.data.params == {"lr": "0.01", "layers": "3", "opt": "adam"}
    m = got.data.metrics
    assert m["loss"] == pytest.approx(0.2) and m["acc"] == 0.5
    assert math.isnan(m["nan"]) and m["pinf"] == math.inf and m["ninf"] == -math.inf
    tags = got.data.tags
    assert tags["stage"] == "dev" and tags["b"] == "two" and "a" not in tags and tags["team"] == "a"
    assert tags["mlflow.runName"] == "first" and tags["mlflow.note.content"] == "hello"
    assert tags["mlflow.user"] and tags["mlflow.source.type"] == "LOCAL" and "mlflow.source.name" in tags
    history = MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert [(h.step, h.value) for h in history] == [(s, 1.0 / (s + 1)) for s in range(5)]
    assert Path(uri, "notes", "n.txt").read_text() == "some text"
    assert json.loads(Path(uri, "cfg", "c.json").read_text()) == {"k": [1, 2]}
    assert Path(uri, "files", "f.txt").read_text() == "file"
    assert mlflow.last_active_run().info.run_id == run.info.run_id


def test_logging_without_active_run_starts_one_like_mlflow(fluent) -> None:
    mlflow.log_metric("x", 1.0)
    run = mlflow.active_run()
    assert run is not None
    mlflow.end_run()
    assert mlflow.get_run(run.info.run_id).data.metrics == {"x": 1.0}


def test_exception_marks_failed_and_keyboard_interrupt_killed(fluent) -> None:
    with pytest.raises(ValueError), mlflow.start_run() as run:
        raise ValueError("x")
    assert mlflow.get_run(run.info.run_id).info.status == "FAILED"
    with pytest.raises(KeyboardInterrupt), mlflow.start_run() as run2:
        raise KeyboardInterrupt
    assert mlflow.get_run(run2.info.run_id).info.status == "KILLED"


def test_nested_runs_and_double_start(fluent) -> None:
    with mlflow.start_run() as parent:
        with pytest.raises(mlflow.LiteTrackerException, match="already active"):
            mlflow.start_run()
        with mlflow.start_run(nested=True) as child:
            assert mlflow.active_run().info.run_id == child.info.run_id
        assert mlflow.active_run().info.run_id == parent.info.run_id
    assert mlflow.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id


def test_resume_in_same_process_and_param_immutability(fluent) -> None:
    with mlflow.start_run() as run:
        mlflow.log_param("p", "1")
    with mlflow.start_run(run_id=run.info.run_id):
        mlflow.log_param("p", "1")  # same value again is fine
        with pytest.raises(mlflow.LiteTrackerException) as e:
            mlflow.log_param("p", "2")
        assert e.value.error_code == "INVALID_PARAMETER_VALUE" and "p" in e.value.message
        mlflow.log_metric("after", 2.0)
    got = mlflow.get_run(run.info.run_id)
    assert got.data.params == {"p": "1"} and got.data.metrics == {"after": 2.0}
    assert got.info.status == "FINISHED"


def test_experiments(fluent) -> None:
    eid = mlflow.create_experiment("e1", tags={"owner": "me"})
    assert mlflow.get_experiment(eid).name == "e1"
    assert mlflow.get_experiment_by_name("e1").tags == {"owner": "me"}
    assert mlflow.get_experiment_by_name("nope") is None
    with pytest.raises(mlflow.LiteTrackerException) as e:
        mlflow.create_experiment("e1")
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    names = {x.name for x in mlflow.search_experiments()}
    assert {"Default", "e1"} <= names
    mlflow.delete_experiment(eid)
    with pytest.raises(mlflow.LiteTrackerException, match="deleted"):
        mlflow.set_experiment("e1")
    with pytest.raises(mlflow.LiteTrackerException) as e2:
        mlflow.get_experiment("123")
    assert e2.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_default_experiment_and_env_experiment(fluent, monkeypatch: pytest.MonkeyPatch) -> None:
    with mlflow.start_run() as run:
        pass
    assert run.info.experiment_id == "0"
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    with mlflow.start_run() as run2:
        pass
    assert mlflow.get_experiment(run2.info.experiment_id).name == "from-env"


def test_run_status_names() -> None:
    assert RunStatus.to_string(RunStatus.KILLED) == "KILLED"
    assert RunStatus.is_terminated("FAILED") and not RunStatus.is_terminated(RunStatus.RUNNING)


def test_log_image_writes_png(fluent) -> None:
    np = pytest.importorskip("numpy")
    with mlflow.start_run():
        mlflow.log_image(np.zeros((4, 5, 3), dtype=np.uint8), "img/black.png")
        uri = mlflow.get_artifact_uri("img/black.png")
    data = Path(uri).read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and b"IHDR" in data


def test_client_object_api(client: MlflowClient) -> None:
    eid = client.create_experiment("objs")
    run = client.create_run(eid, run_name="r")
    rid = run.info.run_id
    assert len(rid) == 32 and int(rid, 16) >= 0
    client.log_metric(rid, "m", 3, step=2, timestamp=5)
    client.log_batch(rid, metrics=[mlflow.Metric("m", 4.0, 6, 3)], params=[mlflow.Param("p", 1)],
                     tags=[mlflow.RunTag("t", "v")])
    client.set_terminated(rid)
    got = client.get_run(rid)
    assert got.data.metrics == {"m": 4.0} and got.data.params == {"p": "1"} and got.data.tags["t"] == "v"
    assert [(m.value, m.step, m.timestamp) for m in client.get_metric_history(rid, "m")] == [(3.0, 2, 5), (4.0, 3, 6)]
    client.delete_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "deleted"
    with pytest.raises(mlflow.LiteTrackerException, match="must be in the 'active' state"):
        client.log_metric(rid, "m", 1.0)
    client.restore_run(rid)
    client.rename_experiment(eid, "objs2")
    assert client.get_experiment(eid).name == "objs2"
