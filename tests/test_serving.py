"""The scoring server over real HTTP: `lite-tracker models serve` in a subprocess, every payload shape
MLflow's scoring server accepts, and malformed requests that must get a 400 and leave it serving."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import lite_tracker as mlflow
import lite_tracker.sklearn
from lite_tracker.serving import BadRequest, parse_payload, predictions_json
from lite_tracker.tracking.client import close_all

X, Y = load_iris(return_X_y=True)
COLUMNS = ["sl", "sw", "pl", "pw"]


def _request(url: str, body: bytes | None = None, content_type: str = "application/json") -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type} if body is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
        e.close()
    return status, (json.loads(raw) if raw.strip() else None)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[int]]]:
    store = tmp_path_factory.mktemp("serve") / "s.duckdb"
    mlflow.set_tracking_uri(str(store))
    model = LogisticRegression(max_iter=500).fit(X, Y)
    with mlflow.start_run():
        lite_tracker.sklearn.log_model(model, "model", registered_model_name="iris", input_example=X[:2])
    mlflow.MlflowClient().transition_model_version_stage("iris", 1, "Production")
    close_all()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lite_tracker", "models", "serve", "-m", "models:/iris/Production",
                             "--port", str(port), "--store", str(store)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _request(base + "/ping")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {proc.communicate(timeout=5)}")
            time.sleep(0.1)
        yield base, model.predict(X[:3]).tolist()
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def _post(base: str, payload: Any) -> tuple[int, Any]:
    return _request(base + "/invocations", json.dumps(payload).encode())


def test_ping(server: tuple[str, list[int]]) -> None:
    assert _request(server[0] + "/ping")[0] == 200


@pytest.mark.parametrize("payload", [
    {"dataframe_split": {"columns": COLUMNS, "data": X[:3].tolist()}},
    {"dataframe_split": {"columns": COLUMNS, "index": [7, 8, 9], "data": X[:3].tolist()}},
    {"dataframe_records": [dict(zip(COLUMNS, row)) for row in X[:3].tolist()]},
    {"instances": X[:3].tolist()},
    {"inputs": X[:3].tolist()},
], ids=["dataframe_split", "split_with_index", "dataframe_records", "instances", "inputs"])
def test_every_payload_shape(server: tuple[str, list[int]], payload: Any) -> None:
    base, expected = server
    assert _post(base, payload) == (200, {"predictions": expected})


@pytest.mark.parametrize("body, content_type, status, message", [
    (b"{not json", "application/json", 400, "not valid JSON"),
    (b"[1, 2]", "application/json", 400, "expected a JSON object"),
    (b"{}", "application/json", 400, "exactly one of"),
    (b'{"inputs": [[1]], "instances": [[1]]}', "application/json", 400, "exactly one of"),
    (b'{"data": [[1, 2, 3, 4]]}', "application/json", 400, "exactly one of"),
    (b'{"inputs": [[1, 2], [3]]}', "application/json", 400, "same length"),
    (b'{"inputs": "text"}', "application/json", 400, "must be a list"),
    (b'{"dataframe_split": [1, 2]}', "application/json", 400, "dataframe_split must be an object"),
    (b'{"dataframe_records": [1, 2]}', "application/json", 400, "dataframe_records must be a list of objects"),
    (b'{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}', "application/json", 400, "Invalid dataframe_split"),
    (b'{"inputs": [[1, 2]]}', "application/json", 400, "Failed to predict"),  # wrong number of features
    (b'{"inputs": [["a", "b", "c", "d"]]}', "application/json", 400, "Failed to predict"),
    (b'{"inputs": [[1, 2, 3, 4]], "params": 3}', "application/json", 400, "params must be a JSON object"),
    (b"1,2,3,4", "text/plain", 415, "not supported"),
])
def test_malformed_requests_get_a_clear_error_and_the_server_keeps_serving(
        server: tuple[str, list[int]], body: bytes, content_type: str, status: int, message: str) -> None:
    base, expected = server
    got_status, got = _request(base + "/invocations", body, content_type)
    assert got_status == status, got
    assert got["error_code"] == "BAD_REQUEST" and message in got["message"], got
    assert _post(base, {"inputs": X[:3].tolist()}) == (200, {"predictions": expected})


def test_unknown_model_fails_to_start_with_a_message(tmp_path: Path) -> None:
    mlflow.MlflowClient(str(tmp_path / "s.duckdb"))  # the store exists; the model does not
    close_all()
    proc = subprocess.run([sys.executable, "-m", "lite_tracker", "models", "serve", "-m", "models:/nope/1",
                           "--port", str(free_port()), "--store", str(tmp_path / "s.duckdb")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "RESOURCE_DOES_NOT_EXIST" in proc.stderr and "nope" in proc.stderr
    assert "Serving" not in proc.stdout  # nothing claims to serve before the model is loaded


def test_a_busy_port_fails_to_start_with_a_message(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    mlflow.set_tracking_uri(str(store))
    with mlflow.start_run():
        X, y = load_iris(return_X_y=True)
        mlflow.log_model(LogisticRegression(max_iter=200).fit(X, y), registered_model_name="neg")
    close_all()
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "lite_tracker", "models", "serve", "-m", "models:/neg/1",
                               "--port", str(port), "--store", str(store)], capture_output=True, text=True, timeout=90)
    assert proc.returncode == 1 and f"Cannot listen on 127.0.0.1:{port}" in proc.stderr, proc.stderr
    assert "Serving" not in proc.stdout


def test_payload_helpers() -> None:
    frame, params = parse_payload(json.dumps({"dataframe_split": {"columns": ["a"], "data": [[1], [2]]},
                                              "params": {"k": 1}}))
    assert frame["a"].tolist() == [1, 2] and params == {"k": 1}
    named, _ = parse_payload('{"inputs": {"a": [1, 2]}}')
    assert named["a"].tolist() == [1, 2]
    with pytest.raises(BadRequest) as e:
        parse_payload("nope")
    assert e.value.error_code == "BAD_REQUEST"
    import pandas as pd

    assert predictions_json(pd.DataFrame({"p": [1]})) == {"predictions": [{"p": 1}]}
    assert predictions_json([1, 2]) == {"predictions": [1, 2]}
