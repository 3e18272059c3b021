"""MLflow's own client (mlflow-skinny) against a real lite_tracker REST server.

The server is uvicorn in a background thread of this process, on 127.0.0.1 and a free port; MLflow's
client runs in a fresh interpreter (tests/_mlflow_worker.py) so its import side effects stay out of
this process. What MLflow's client logs is read back with lite_tracker, and what lite_tracker logged
is read with MLflow's client.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from lite_tracker import MlflowClient
from lite_tracker.entities import Metric, Param, RunTag
from lite_tracker.ui import create_app

HERE = Path(__file__).parent


class Server:
    """``lite-tracker ui``'s app under uvicorn, running in a thread until :meth:`stop`."""

    def __init__(self, client: MlflowClient) -> None:
        self.app = create_app(client.tracking_uri)  # the whole app, security middleware included
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False,
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()
        assert not self.thread.is_alive(), "the server did not stop"


@pytest.fixture
def server(client: MlflowClient) -> Iterator[Server]:
    s = Server(client)
    yield s
    s.stop()


def mlflow_client(server: Server, scenario: str, tmp_path: Path, **args: Any) -> Any:
    """Run one scenario of MLflow's client against ``server``; return what it saw."""
    out = tmp_path / f"{scenario}.json"
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.url, "MLFLOW_DISABLE_TELEMETRY": "true",
           "DO_NOT_TRACK": "true", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
           "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, str(HERE / "_mlflow_worker.py"), scenario, json.dumps(args), str(out)],
                          capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert proc.returncode == 0, f"MLflow's client failed in {scenario!r}:\n{proc.stderr[-4000:]}"
    return json.loads(out.read_text())


def _logged_by_lite_tracker(client: MlflowClient) -> tuple[str, str]:
    """An experiment with three runs; the first has params, tags, a metric history and artifacts."""
    exp_id = client.create_experiment("vision", tags={"team": "cv"})
    run = client.create_run(exp_id, start_time=1_700_000_000_000, run_name="lite-run", tags={"kind": "base"})
    run_id = run.info.run_id
    client.log_batch(run_id, metrics=[Metric("acc", 0.5 + 0.1 * s, 1_700_000_000_000 + s, s) for s in range(4)],
                     params=[Param("lr", "0.1"), Param("depth", "7")], tags=[RunTag("note", "hello")])
    client.log_metric(run_id, "odd", float("inf"), 1_700_000_000_009, 0)
    client.log_text(run_id, "hi there", "notes/hello.txt")
    client.log_text(run_id, "deep file", "notes/deep/b.txt")
    client.log_text(run_id, "{}", "config.json")
    client.set_terminated(run_id, "FINISHED", 1_700_000_001_000)
    for i, acc in enumerate((0.2, 0.95)):
        other = client.create_run(exp_id, start_time=1_700_000_000_000 + i + 1, run_name=f"other-{i}")
        client.log_metric(other.info.run_id, "acc", acc, 1_700_000_000_000, 0)
        client.set_terminated(other.info.run_id)
    client.flush()
    return exp_id, run_id


def test_mlflow_client_reads_what_lite_tracker_logged(client: MlflowClient, server: Server,
                                                      tmp_path: Path) -> None:
    exp_id, run_id = _logged_by_lite_tracker(client)
    seen = mlflow_client(server, "read", tmp_path, run_id=run_id, experiment="vision", filter="metrics.acc > 0.5")
    mine = client.get_run(run_id)
    assert seen["run"]["params"] == mine.data.params == {"lr": "0.1", "depth": "7"}
    assert seen["run"]["tags"] == mine.data.tags
    assert seen["run"]["metrics"]["acc"] == pytest.approx(0.8)
    assert seen["run"]["metrics"]["odd"] == math.inf
    info = seen["run"]["info"]
    assert (info["run_id"], info["run_name"], info["experiment_id"]) == (run_id, "lite-run", exp_id)
    assert (info["status"], info["start_time"], info["end_time"], info["lifecycle_stage"]) == (
        "FINISHED", 1_700_000_000_000, 1_700_000_001_000, "active")
    assert info["artifact_uri"] == f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts"
    assert seen["experiment"] == {"id": exp_id, "name": "vision", "tags": {"team": "cv"}}
    assert seen["history"]["acc"] == [[m.step, m.timestamp, m.value] for m in client.get_metric_history(run_id, "acc")]
    assert len(seen["history"]["acc"]) == 4
    # filter "metrics.acc > 0.5" ordered by acc DESC: the 0.95 run, then this one (0.8); not the 0.2 run
    assert seen["found"][1:] == [run_id] and len(seen["found"]) == 2
    assert seen["frame"] == sorted(seen["found"])
    first, second, token = seen["pages"]
    assert len(first) == 2 and len(second) == 1 and token is None and run_id in first + second
    assert seen["root"] == [["config.json", False, 2], ["notes", True, None]]  # MLflow's client sorts by path
    assert seen["notes"] == [["notes/deep", True, None], ["notes/hello.txt", False, 8]]
    assert seen["downloaded"] == "hi there"
    assert seen["folder"] == ["deep", "deep/b.txt", "hello.txt"]
    assert seen["folder_text"] == "deep file"


def test_lite_tracker_reads_back_a_run_mlflow_logged(client: MlflowClient, server: Server, tmp_path: Path) -> None:
    seen = mlflow_client(server, "log", tmp_path, experiment="from-mlflow")
    run_id = seen["run_id"]
    mine = client.get_run(run_id)
    exp = client.get_experiment_by_name("from-mlflow-renamed")
    assert exp is not None and mine.info.experiment_id == exp.experiment_id and exp.tags == {"owner": "ada"}
    assert seen["experiments"] == ["from-mlflow-renamed"] and seen["deleted"] == [seen["scratch"]]
    scratch = client.get_run(seen["scratch"])
    assert (scratch.info.run_name, scratch.info.status, scratch.info.lifecycle_stage) == ("scratch2", "FAILED",
                                                                                         "active")
    assert "tmp" not in scratch.data.tags
    assert mine.data.params == seen["run"]["params"] == {"lr": "0.01", "layers": "3", "optimizer": "adam",
                                                         "batch": "32"}
    assert mine.data.tags == seen["run"]["tags"]
    assert {k: mine.data.tags[k] for k in ("team", "stage", "note", "extra")} == {
        "team": "vision", "stage": "dev", "note": "<b>x</b>", "extra": "yes"}
    assert mine.data.tags["mlflow.runName"] == mine.info.run_name == "from-mlflow"
    assert mine.data.metrics["acc"] == seen["run"]["metrics"]["acc"] == 0.9
    assert math.isnan(mine.data.metrics["f1"]) and math.isnan(seen["run"]["metrics"]["f1"])
    assert mine.data.metrics["loss"] == seen["run"]["metrics"]["loss"] == 0.1
    assert [[m.step, m.timestamp, m.value] for m in client.get_metric_history(run_id, "loss")] == seen["loss"]
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [0, 1, 2, 3, 4, 5]
    assert mine.info.status == seen["run"]["info"]["status"] == "FINISHED"
    assert mine.info.end_time == seen["run"]["info"]["end_time"] is not None
    assert mine.info.start_time == seen["run"]["info"]["start_time"]
    assert mine.info.user_id == seen["run"]["info"]["user_id"]
    assert seen["artifacts"] == ["reports", "top.txt"]
    local = Path(client.download_artifacts(run_id, "reports/report.txt", str(tmp_path / "dl")))
    assert local.read_text() == "report body"
    # Durable when the server answered: a fresh process reads the same run from disk.
    fresh = subprocess.run([sys.executable, "-c", _READ_RUN, client.tracking_uri, run_id], capture_output=True,
                           text=True, timeout=120)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    params, tags, metrics, loss = json.loads(fresh.stdout)
    assert (params, tags) == (mine.data.params, mine.data.tags)
    assert metrics["acc"] == 0.9 and metrics["loss"] == 0.1 and math.isnan(metrics["f1"])
    assert loss == seen["loss"]


_READ_RUN = """
import json, sys
from lite_tracker import MlflowClient
client = MlflowClient(sys.argv[1])
run = client.get_run(sys.argv[2])
loss = [[m.step, m.timestamp, m.value] for m in client.get_metric_history(sys.argv[2], "loss")]
print(json.dumps([run.data.params, run.data.tags, run.data.metrics, loss]))
"""


def test_mlflow_client_uses_the_model_registry(client: MlflowClient, server: Server, tmp_path: Path) -> None:
    run = client.create_run("0", run_name="trainer")
    client.log_text(run.info.run_id, "flavors: {}", "model/MLmodel")
    client.set_terminated(run.info.run_id)
    seen = mlflow_client(server, "registry", tmp_path, name="iris", run_id=run.info.run_id)
    assert seen["created"] == ["iris", "first", {"team": "ml"}]
    assert seen["versions"] == ["1", "2"]
    assert seen["stages"] == ["Staging", "Production"]
    assert seen["by_alias"] == ["2", ["champion"]]
    assert seen["latest"] == [["2", "Production"]]
    assert seen["searched"] == ["1", "2"]
    assert seen["models"] == ["iris"]
    assert seen["download_uri"] == f"mlflow-artifacts:/0/{run.info.run_id}/artifacts/model"
    assert "MLmodel" in seen["model_files"]  # MLflow adds its registered_model_meta beside it
    assert seen["final"] == {"description": "second", "tags": {"team": "ml", "owner": "me"}, "aliases": {},
                             "v2": ["the best", {"quality": "good"}]}
    mv = client.get_model_version("iris", 2)
    assert (mv.current_stage, mv.description, mv.run_id) == ("Production", "the best", run.info.run_id)
    assert mv.source == f"{run.info.artifact_uri}/model"  # stored as the real location, usable by lite_tracker
    assert [(t.from_stage, t.to_stage) for t in client.get_model_version_stage_history("iris", 1)] == [
        ("None", "Staging")]


def test_mlflow_client_sees_error_codes_and_read_only(client: MlflowClient, server: Server, tmp_path: Path) -> None:
    server.app.state.read_only = True
    seen = mlflow_client(server, "errors", tmp_path)
    assert seen == {"missing_run": "RESOURCE_DOES_NOT_EXIST", "bad_filter": "INVALID_PARAMETER_VALUE",
                    "read_only": "PERMISSION_DENIED"}
    assert client.get_experiment_by_name("nope") is None
