"""MLflow's REST API 2.0 (lite_tracker/ui/rest.py) through Starlette's test client, on a real store.

The app is built as the web UI builds it: the REST mounts, the one error mapper, ``state.client`` and
``state.read_only``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.testclient import TestClient

from lite_tracker import MlflowClient, sync
from lite_tracker.entities import Metric, Param
from lite_tracker.ui import errors, rest

API = "/api/2.0/mlflow"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def api(client: MlflowClient) -> Iterator[TestClient]:
    app = Starlette(routes=rest.mounts(), exception_handlers=errors.exception_handlers)
    app.state.client = client
    app.state.read_only = False
    with TestClient(app, raise_server_exceptions=False) as tc:
        yield tc


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def fails(response: Any, status: int, code: str, text: str = "") -> str:
    """Assert MLflow's error JSON with this status and code (and ``text`` in the message)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"} and body["error_code"] == code, body
    assert text in body["message"], body
    assert "Traceback" not in response.text
    return str(body["message"])


def post(api: TestClient, endpoint: str, body: Any = None) -> Any:
    return api.post(API + endpoint, json=body if body is not None else {})


def get(api: TestClient, endpoint: str, **params: Any) -> Any:
    return api.get(API + endpoint, params=params)


def _run(api: TestClient, exp_id: str = "0", **fields: Any) -> str:
    return str(ok(post(api, "/runs/create", {"experiment_id": exp_id, **fields}))["run"]["info"]["run_id"])


# ------------------------------------------------------------------ experiments


def test_experiments(api: TestClient) -> None:
    assert [e["name"] for e in ok(post(api, "/experiments/search"))["experiments"]] == ["Default"]
    assert ok(post(api, "/experiments/search", {"filter": "name = 'nope'"})) == {}  # empty: no key, like MLflow
    exp_id = ok(post(api, "/experiments/create", {"name": "vision", "tags": [{"key": "team", "value": "cv"}]}))[
        "experiment_id"]
    exp = ok(get(api, "/experiments/get", experiment_id=exp_id))["experiment"]
    assert set(exp) == {"experiment_id", "name", "artifact_location", "lifecycle_stage", "last_update_time",
                        "creation_time", "tags"}
    assert (exp["experiment_id"], exp["name"], exp["lifecycle_stage"], exp["tags"]) == (
        exp_id, "vision", "active", [{"key": "team", "value": "cv"}])
    assert isinstance(exp["creation_time"], int) and isinstance(exp["last_update_time"], int)
    assert ok(get(api, "/experiments/get-by-name", experiment_name="vision"))["experiment"] == exp
    for i in range(3):
        ok(post(api, "/experiments/create", {"name": f"sweep-{i}"}))
    page = ok(post(api, "/experiments/search", {"filter": "name LIKE 'sweep-%'", "max_results": 2,
                                                "order_by": ["name DESC"]}))
    assert [e["name"] for e in page["experiments"]] == ["sweep-2", "sweep-1"]
    rest_ = ok(post(api, "/experiments/search", {"filter": "name LIKE 'sweep-%'", "max_results": 2,
                                                 "order_by": ["name DESC"], "page_token": page["next_page_token"]}))
    assert [e["name"] for e in rest_["experiments"]] == ["sweep-0"] and "next_page_token" not in rest_
    by_get = ok(api.get(API + "/experiments/search", params={"filter": "name = 'sweep-0'", "max_results": "5"}))
    assert [e["name"] for e in by_get["experiments"]] == ["sweep-0"]

    ok(post(api, "/experiments/update", {"experiment_id": exp_id, "new_name": "vision2"}))
    ok(post(api, "/experiments/set-experiment-tag", {"experiment_id": exp_id, "key": "k", "value": "v"}))
    ok(post(api, "/experiments/delete-experiment-tag", {"experiment_id": exp_id, "key": "team"}))
    exp = ok(get(api, "/experiments/get", experiment_id=exp_id))["experiment"]
    assert exp["name"] == "vision2" and exp["tags"] == [{"key": "k", "value": "v"}]
    ok(post(api, "/experiments/delete", {"experiment_id": exp_id}))
    names = {e["name"] for e in ok(post(api, "/experiments/search"))["experiments"]}
    assert "vision2" not in names
    deleted = ok(post(api, "/experiments/search", {"view_type": "DELETED_ONLY"}))["experiments"]
    assert [(e["name"], e["lifecycle_stage"]) for e in deleted] == [("vision2", "deleted")]
    assert len(ok(post(api, "/experiments/search", {"view_type": 3}))["experiments"]) == 5
    ok(post(api, "/experiments/restore", {"experiment_id": exp_id}))
    assert ok(get(api, "/experiments/get", experiment_id=exp_id))["experiment"]["lifecycle_stage"] == "active"


def test_experiment_errors(api: TestClient) -> None:
    fails(get(api, "/experiments/get", experiment_id="424242"), 404, "RESOURCE_DOES_NOT_EXIST", "424242")
    fails(get(api, "/experiments/get-by-name", experiment_name="nope"), 404, "RESOURCE_DOES_NOT_EXIST", "'nope'")
    fails(post(api, "/experiments/create", {}), 400, "INVALID_PARAMETER_VALUE", "required parameter 'name'")
    fails(post(api, "/experiments/create", {"name": 5}), 400, "INVALID_PARAMETER_VALUE", "parameter 'name'")
    ok(post(api, "/experiments/create", {"name": "a"}))
    fails(post(api, "/experiments/create", {"name": "a"}), 400, "RESOURCE_ALREADY_EXISTS")
    fails(post(api, "/experiments/search", {"max_results": "many"}), 400, "INVALID_PARAMETER_VALUE", "max_results")
    fails(post(api, "/experiments/search", {"view_type": "SOME"}), 400, "INVALID_PARAMETER_VALUE", "ACTIVE_ONLY")
    fails(post(api, "/experiments/search", {"filter": "name = "}), 400, "INVALID_PARAMETER_VALUE")
    fails(post(api, "/experiments/search", {"page_token": "garbage"}), 400, "INVALID_PARAMETER_VALUE", "page token")
    fails(post(api, "/experiments/delete", {"experiment_id": "0"}), 400, "INVALID_PARAMETER_VALUE", "default")


# ------------------------------------------------------------------ runs


def test_run_json_shape_and_logging(api: TestClient, client: MlflowClient) -> None:
    run_id = _run(api, run_name="first", start_time=1_700_000_000_000, user_id="ada",
                  tags=[{"key": "kind", "value": "base"}])
    ok(post(api, "/runs/log-metric", {"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 10, "step": 1}))
    ok(post(api, "/runs/log-metric", {"run_uuid": run_id, "key": "loss", "value": "NaN", "timestamp": "11",
                                      "step": 2}))
    ok(post(api, "/runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"}))
    ok(post(api, "/runs/set-tag", {"run_id": run_id, "key": "note", "value": "<img src=x onerror=alert(1)>"}))
    ok(post(api, "/runs/set-tag", {"run_id": run_id, "key": "gone", "value": "x"}))
    ok(post(api, "/runs/delete-tag", {"run_id": run_id, "key": "gone"}))
    ok(post(api, "/runs/log-batch", {
        "run_id": run_id, "params": [{"key": "depth", "value": "3"}], "tags": [{"key": "t", "value": "1"}],
        "metrics": [{"key": "acc", "value": 0.75, "timestamp": 12, "step": 0},
                    {"key": "big", "value": "Infinity", "timestamp": 12},
                    {"key": "small", "value": "-Infinity", "timestamp": 12}]}))
    updated = ok(post(api, "/runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 1_700_000_009_000,
                                            "run_name": "renamed"}))["run_info"]
    run = ok(get(api, "/runs/get", run_id=run_id))["run"]
    assert run["info"] == updated == {
        "run_id": run_id, "run_uuid": run_id, "run_name": "renamed", "experiment_id": "0", "user_id": "ada",
        "status": "FINISHED", "start_time": 1_700_000_000_000, "end_time": 1_700_000_009_000,
        "artifact_uri": f"mlflow-artifacts:/0/{run_id}/artifacts", "lifecycle_stage": "active"}
    assert sorted(run["data"]["metrics"], key=lambda m: m["key"]) == [
        {"key": "acc", "value": 0.75}, {"key": "big", "value": "Infinity"}, {"key": "loss", "value": "NaN"},
        {"key": "small", "value": "-Infinity"}]
    assert sorted(run["data"]["params"], key=lambda p: p["key"]) == [{"key": "depth", "value": "3"},
                                                                    {"key": "lr", "value": "0.1"}]
    assert {t["key"]: t["value"] for t in run["data"]["tags"]} == {
        "kind": "base", "mlflow.user": "ada", "mlflow.runName": "renamed", "note": "<img src=x onerror=alert(1)>",
        "t": "1"}
    assert run["inputs"] == {}
    assert ok(get(api, "/runs/get", run_uuid=run_id))["run"] == run  # the deprecated field name still works
    mine = client.get_run(run_id)  # what the store holds is what was sent
    assert mine.data.params == {"lr": "0.1", "depth": "3"} and mine.info.end_time == 1_700_000_009_000
    assert math.isnan(mine.data.metrics["loss"]) and mine.data.metrics["big"] == math.inf

    ok(post(api, "/runs/delete", {"run_id": run_id}))
    assert ok(get(api, "/runs/get", run_id=run_id))["run"]["info"]["lifecycle_stage"] == "deleted"
    ok(post(api, "/runs/restore", {"run_id": run_id}))
    assert ok(get(api, "/runs/get", run_id=run_id))["run"]["info"]["lifecycle_stage"] == "active"
    assert ok(post(api, "/runs/log-inputs", {"run_id": run_id})) == {}
    fails(post(api, "/runs/log-inputs", {"run_id": run_id, "datasets": [{"dataset": {"name": "d"}}]}), 501,
          "NOT_IMPLEMENTED", "not supported")


def test_update_run_status_only_and_name_only(api: TestClient) -> None:
    run_id = _run(api)
    info = ok(post(api, "/runs/update", {"run_id": run_id, "status": "KILLED"}))["run_info"]
    assert info["status"] == "KILLED" and isinstance(info["end_time"], int)
    run_id = _run(api, run_name="a")
    info = ok(post(api, "/runs/update", {"run_id": run_id, "run_name": "b"}))["run_info"]
    assert (info["status"], info["run_name"], "end_time" in info) == ("RUNNING", "b", False)
    fails(post(api, "/runs/update", {"run_id": run_id, "status": "DONE"}), 400, "INVALID_PARAMETER_VALUE", "RUNNING")


def test_search_runs(api: TestClient) -> None:
    assert ok(post(api, "/runs/search", {"experiment_ids": ["0"]})) == {}
    ids = []
    for i in range(5):
        run_id = _run(api, start_time=1000 + i, run_name=f"r{i}")
        ok(post(api, "/runs/log-batch", {"run_id": run_id, "metrics": [
            {"key": "acc", "value": i / 10, "timestamp": 1, "step": 0}], "params": [{"key": "i", "value": str(i)}]}))
        ids.append(run_id)
    one = ok(post(api, "/runs/search", {"experiment_ids": ["0"], "filter": "params.i = '3'"}))["runs"]
    assert [r["info"]["run_id"] for r in one] == [ids[3]]
    everything = ok(post(api, "/runs/search", {"experiment_ids": ["0"]}))["runs"]
    assert [r["info"]["run_id"] for r in everything] == ids[::-1]  # start_time DESC, as MLflow
    seen, token = [], None
    while True:
        page = ok(post(api, "/runs/search", {"experiment_ids": ["0"], "max_results": 2, "order_by": ["metrics.acc ASC"],
                                             **({"page_token": token} if token else {})}))
        seen += [r["info"]["run_id"] for r in page["runs"]]
        token = page.get("next_page_token")
        if token is None:
            break
    assert seen == ids
    ok(post(api, "/runs/delete", {"run_id": ids[0]}))
    deleted = ok(post(api, "/runs/search", {"experiment_ids": ["0"], "run_view_type": "DELETED_ONLY"}))["runs"]
    assert [r["info"]["run_id"] for r in deleted] == [ids[0]]
    fails(post(api, "/runs/search", {"experiment_ids": ["0"], "filter": "metrics.acc >> 1"}), 400,
          "INVALID_PARAMETER_VALUE", "position")
    fails(post(api, "/runs/search", {"experiment_ids": "0"}), 400, "INVALID_PARAMETER_VALUE", "list of strings")
    fails(post(api, "/runs/search", {"experiment_ids": ["0"], "max_results": 50001}), 400, "INVALID_PARAMETER_VALUE")


def test_metric_history_paged_like_mlflow(api: TestClient) -> None:
    run_id = _run(api)
    assert ok(get(api, "/metrics/get-history", run_id=run_id, metric_key="loss")) == {}
    ok(post(api, "/runs/log-batch", {"run_id": run_id, "metrics": [
        {"key": "loss", "value": 1 / (s + 1), "timestamp": 100 + s, "step": s} for s in range(5)]}))
    whole = ok(get(api, "/metrics/get-history", run_id=run_id, metric_key="loss"))
    assert whole == {"metrics": [{"key": "loss", "value": 1 / (s + 1), "timestamp": 100 + s, "step": s}
                                 for s in range(5)]}
    pages, token = [], None
    while True:
        page = ok(get(api, "/metrics/get-history", run_id=run_id, metric_key="loss", max_results=2,
                      **({"page_token": token} if token else {})))
        pages.append([m["step"] for m in page["metrics"]])
        token = page.get("next_page_token")
        if token is None:
            break
    assert pages == [[0, 1], [2, 3], [4]]
    fails(get(api, "/metrics/get-history", run_id=run_id, metric_key="loss", max_results=0), 400,
          "INVALID_PARAMETER_VALUE", "positive")
    fails(get(api, "/metrics/get-history", run_id="f" * 32, metric_key="loss"), 404, "RESOURCE_DOES_NOT_EXIST")
    fails(get(api, "/metrics/get-history", run_id=run_id), 400, "INVALID_PARAMETER_VALUE", "metric_key")


def test_run_errors(api: TestClient) -> None:
    fails(get(api, "/runs/get", run_id="0" * 32), 404, "RESOURCE_DOES_NOT_EXIST")
    fails(get(api, "/runs/get"), 400, "INVALID_PARAMETER_VALUE", "required parameter 'run_uuid'")
    fails(post(api, "/runs/create", {"experiment_id": "999"}), 404, "RESOURCE_DOES_NOT_EXIST")
    run_id = _run(api)
    fails(post(api, "/runs/log-metric", {"run_id": run_id, "key": "m", "value": "high", "timestamp": 1}), 400,
          "INVALID_PARAMETER_VALUE", "expected a number")
    fails(post(api, "/runs/log-metric", {"run_id": run_id, "key": "m", "value": True, "timestamp": 1}), 400,
          "INVALID_PARAMETER_VALUE")
    fails(post(api, "/runs/log-metric", {"run_id": run_id, "key": "m", "value": 1}), 400,
          "INVALID_PARAMETER_VALUE", "timestamp")
    fails(post(api, "/runs/log-metric", {"run_id": run_id, "key": "../x", "value": 1, "timestamp": 1}), 400,
          "INVALID_PARAMETER_VALUE")
    for start in ("--5", "²", 10**30, "1" * 30):  # protobuf's int64 rules: digits only, 64 bits
        fails(post(api, "/runs/create", {"experiment_id": "0", "start_time": start}), 400, "INVALID_PARAMETER_VALUE",
              "start_time")
    fails(api.post(API + "/runs/log-metric", content=f'{{"run_id": "{run_id}", "key": "m", "value": {10**400}, '
                   '"timestamp": 1}'.encode(), headers={"content-type": "application/json"}), 400,
          "INVALID_PARAMETER_VALUE", "expected a number")
    ok(post(api, "/runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"}))
    fails(post(api, "/runs/log-parameter", {"run_id": run_id, "key": "p", "value": "2"}), 400,
          "INVALID_PARAMETER_VALUE", "Changing param values is not allowed")
    fails(post(api, "/runs/delete-tag", {"run_id": run_id, "key": "nope"}), 404, "RESOURCE_DOES_NOT_EXIST")
    fails(post(api, "/runs/log-batch", {"run_id": run_id, "params": [{"value": "x"}]}), 400,
          "INVALID_PARAMETER_VALUE", "params[0].key")
    fails(post(api, "/runs/log-batch", {"run_id": run_id, "tags": "k=v"}), 400, "INVALID_PARAMETER_VALUE",
          "list of objects")
    many = [{"key": f"m{i}", "value": 1, "timestamp": 1} for i in range(1001)]
    fails(post(api, "/runs/log-batch", {"run_id": run_id, "metrics": many}), 400, "INVALID_PARAMETER_VALUE",
          "at most 1000 metrics")
    params = [{"key": f"p{i}", "value": "1"} for i in range(101)]
    fails(post(api, "/runs/log-batch", {"run_id": run_id, "params": params}), 400, "INVALID_PARAMETER_VALUE",
          "at most 100 params")


# ------------------------------------------------------------------ requests and errors


def test_bad_requests_get_mlflow_error_json(api: TestClient) -> None:
    url = API + "/runs/search"
    fails(api.post(url, content=b"{not json", headers={"content-type": "application/json"}), 400, "BAD_REQUEST",
          "not valid JSON")
    fails(api.post(url, content=b"[1, 2]", headers={"content-type": "application/json"}), 400, "BAD_REQUEST",
          "JSON object")
    fails(api.post(url, content=b"\xff\xfe", headers={"content-type": "application/json"}), 400, "BAD_REQUEST")
    fails(api.post(url, content=b"[" * 200_000, headers={"content-type": "application/json"}), 400, "BAD_REQUEST")
    fails(api.post(url, content=b"experiment_ids=0", headers={"content-type": "application/x-www-form-urlencoded"}),
          400, "INVALID_PARAMETER_VALUE", "application/json")
    huge = b'{"experiment_ids": ["0"], "filter": "' + b"x" * rest.MAX_JSON_BYTES + b'"}'
    fails(api.post(url, content=huge, headers={"content-type": "application/json"}), 400, "INVALID_PARAMETER_VALUE",
          "at most 1000000 bytes")
    # a body without a length header (chunked) is cut off at the same limit
    chunks = (b"x" * 65536 for _ in range(20))
    fails(api.post(API + "/runs/log-batch", content=chunks, headers={"content-type": "application/json"}), 400,
          "INVALID_PARAMETER_VALUE", "at most")
    double = '"{\\"experiment_ids\\": [\\"0\\"]}"'  # JSON encoded twice, as older MLflow clients send it
    assert ok(api.post(url, content=double.encode(), headers={"content-type": "application/json"})) == {}
    fails(api.get(API + "/runs/nothing"), 404, "ENDPOINT_NOT_FOUND", "/runs/nothing")
    fails(api.get(API + "/runs/search"), 405, "ENDPOINT_NOT_FOUND")


def test_unexpected_errors_are_a_generic_500(api: TestClient) -> None:
    api.app.state.client = None  # type: ignore[attr-defined]  # any handler now hits an AttributeError
    response = post(api, "/runs/search", {"experiment_ids": ["0"]})
    message = fails(response, 500, "INTERNAL_ERROR")
    assert "NoneType" not in message and "AttributeError" not in response.text


def test_same_api_under_ajax_prefix(api: TestClient) -> None:
    run_id = _run(api)
    a = ok(api.get("/ajax-api/2.0/mlflow/runs/get", params={"run_id": run_id}))
    assert a == ok(get(api, "/runs/get", run_id=run_id))
    ok(api.post("/ajax-api/2.0/mlflow/runs/set-tag", json={"run_id": run_id, "key": "k", "value": "v"}))
    assert {"key": "k", "value": "v"} in ok(get(api, "/runs/get", run_id=run_id))["run"]["data"]["tags"]


def test_read_only_refuses_changes_but_searches_work(api: TestClient, client: MlflowClient) -> None:
    run_id = _run(api)
    ok(post(api, "/registered-models/create", {"name": "m"}))
    api.app.state.read_only = True  # type: ignore[attr-defined]
    writes = [
        ("POST", "/experiments/create", {"name": "x"}), ("POST", "/experiments/delete", {"experiment_id": "0"}),
        ("POST", "/experiments/update", {"experiment_id": "0", "new_name": "y"}),
        ("POST", "/experiments/set-experiment-tag", {"experiment_id": "0", "key": "k", "value": "v"}),
        ("POST", "/runs/create", {"experiment_id": "0"}), ("POST", "/runs/delete", {"run_id": run_id}),
        ("POST", "/runs/update", {"run_id": run_id, "status": "FINISHED"}),
        ("POST", "/runs/log-metric", {"run_id": run_id, "key": "m", "value": 1, "timestamp": 1}),
        ("POST", "/runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"}),
        ("POST", "/runs/set-tag", {"run_id": run_id, "key": "k", "value": "v"}),
        ("POST", "/runs/log-batch", {"run_id": run_id, "params": [{"key": "p", "value": "1"}]}),
        ("POST", "/registered-models/create", {"name": "n"}),
        ("PATCH", "/registered-models/update", {"name": "m", "description": "d"}),
        ("DELETE", "/registered-models/delete", {"name": "m"}),
        ("POST", "/registered-models/alias", {"name": "m", "alias": "a", "version": "1"}),
        ("POST", "/model-versions/create", {"name": "m", "source": "/tmp/x"}),
    ]
    for method, path, body in writes:
        fails(api.request(method, API + path, json=body), 403, "PERMISSION_DENIED", "read-only")
    fails(api.put(f"{PROXY}/0/{run_id}/artifacts/a.txt", content=b"x"), 403, "PERMISSION_DENIED")
    assert len(ok(post(api, "/runs/search", {"experiment_ids": ["0"]}))["runs"]) == 1
    assert len(ok(post(api, "/experiments/search"))["experiments"]) == 1
    assert ok(post(api, "/registered-models/get-latest-versions", {"name": "m"})) == {}
    assert [m["name"] for m in ok(get(api, "/registered-models/search"))["registered_models"]] == ["m"]
    run = client.get_run(run_id)
    assert run.info.status == "RUNNING" and run.data.params == {} and client.list_artifacts(run_id) == []
    assert client.get_registered_model("m").description == ""  # unchanged: MLflow shows an unset description as ""


# ------------------------------------------------------------------ model registry


def test_registered_models_and_versions(api: TestClient, client: MlflowClient) -> None:
    assert ok(get(api, "/registered-models/search")) == {}
    run_id = _run(api)
    client.log_text(run_id, "flavors: {}", "model/MLmodel")
    rm = ok(post(api, "/registered-models/create", {"name": "iris", "description": "d",
                                                    "tags": [{"key": "team", "value": "ml"}]}))["registered_model"]
    assert (rm["name"], rm["description"], rm["tags"]) == ("iris", "d", [{"key": "team", "value": "ml"}])
    assert isinstance(rm["creation_timestamp"], int) and "latest_versions" not in rm
    proxy_source = f"mlflow-artifacts:/0/{run_id}/artifacts/model"
    mv = ok(post(api, "/model-versions/create", {"name": "iris", "source": proxy_source, "run_id": run_id,
                                                 "tags": [{"key": "k", "value": "v"}]}))["model_version"]
    assert mv == {"name": "iris", "version": "1", "creation_timestamp": mv["creation_timestamp"],
                  "last_updated_timestamp": mv["last_updated_timestamp"], "user_id": mv["user_id"],
                  "current_stage": "None", "source": proxy_source, "run_id": run_id, "status": "READY",
                  "tags": [{"key": "k", "value": "v"}]}
    assert client.get_model_version("iris", 1).source == f"{client.get_run(run_id).info.artifact_uri}/model"
    ok(post(api, "/model-versions/create", {"name": "iris", "source": f"runs:/{run_id}/model"}))
    ok(post(api, "/model-versions/create", {"name": "iris", "source": "s3://bucket/elsewhere"}))
    got = ok(get(api, "/model-versions/get", name="iris", version="3"))["model_version"]
    assert got["source"] == "s3://bucket/elsewhere" and "run_id" not in got
    moved = ok(post(api, "/model-versions/transition-stage", {"name": "iris", "version": "2", "stage": "staging",
                                                              "archive_existing_versions": False}))["model_version"]
    assert moved["current_stage"] == "Staging"
    ok(post(api, "/model-versions/transition-stage", {"name": "iris", "version": "1", "stage": "Production",
                                                      "archive_existing_versions": True}))
    latest = ok(post(api, "/registered-models/get-latest-versions", {"name": "iris", "stages": ["Production"]}))
    assert [(v["version"], v["current_stage"]) for v in latest["model_versions"]] == [("1", "Production")]
    by_get = ok(api.get(API + "/registered-models/get-latest-versions", params={"name": "iris", "stages": "Staging"}))
    assert [v["version"] for v in by_get["model_versions"]] == ["2"]
    ok(post(api, "/registered-models/alias", {"name": "iris", "alias": "champion", "version": "2"}))
    assert ok(get(api, "/registered-models/alias", name="iris", alias="champion"))["model_version"]["aliases"] == [
        "champion"]
    rm = ok(get(api, "/registered-models/get", name="iris"))["registered_model"]
    assert rm["aliases"] == [{"alias": "champion", "version": "2"}]
    assert sorted(v["current_stage"] for v in rm["latest_versions"]) == ["None", "Production", "Staging"]
    ok(api.request("DELETE", API + "/registered-models/alias", json={"name": "iris", "alias": "champion"}))
    fails(get(api, "/registered-models/alias", name="iris", alias="champion"), 404, "RESOURCE_DOES_NOT_EXIST")

    ok(post(api, "/model-versions/set-tag", {"name": "iris", "version": "2", "key": "q", "value": "good"}))
    ok(api.request("DELETE", API + "/model-versions/delete-tag", json={"name": "iris", "version": "1", "key": "k"}))
    ok(post(api, "/registered-models/set-tag", {"name": "iris", "key": "owner", "value": "me"}))
    ok(api.request("DELETE", API + "/registered-models/delete-tag", json={"name": "iris", "key": "team"}))
    upd = ok(api.patch(API + "/model-versions/update", json={"name": "iris", "version": "2", "description": "x"}))
    assert upd["model_version"]["description"] == "x" and upd["model_version"]["tags"] == [{"key": "q",
                                                                                            "value": "good"}]
    assert ok(api.patch(API + "/registered-models/update", json={"name": "iris", "description": "new"}))[
        "registered_model"]["tags"] == [{"key": "owner", "value": "me"}]
    uri = ok(get(api, "/model-versions/get-download-uri", name="iris", version="2"))["artifact_uri"]
    assert uri == proxy_source
    found = ok(get(api, "/model-versions/search", filter="name = 'iris'", max_results=2))
    # MLflow's default order: last updated first (2 got a description, 1 moved to Production)
    assert [v["version"] for v in found["model_versions"]] == ["2", "1"] and found["next_page_token"]
    ok(post(api, "/registered-models/create", {"name": "wine"}))
    names = [m["name"] for m in ok(get(api, "/registered-models/search", filter="name LIKE '%i%'"))[
        "registered_models"]]
    assert names == ["iris", "wine"]
    renamed = ok(post(api, "/registered-models/rename", {"name": "wine", "new_name": "red"}))["registered_model"]
    assert renamed["name"] == "red"
    ok(api.request("DELETE", API + "/model-versions/delete", json={"name": "iris", "version": "3"}))
    fails(get(api, "/model-versions/get", name="iris", version="3"), 404, "RESOURCE_DOES_NOT_EXIST")
    ok(api.request("DELETE", API + "/registered-models/delete", json={"name": "red"}))
    fails(get(api, "/registered-models/get", name="red"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_registry_errors(api: TestClient) -> None:
    fails(get(api, "/registered-models/get", name="nope"), 404, "RESOURCE_DOES_NOT_EXIST")
    fails(post(api, "/registered-models/create", {}), 400, "INVALID_PARAMETER_VALUE", "'name'")
    ok(post(api, "/registered-models/create", {"name": "m"}))
    fails(post(api, "/registered-models/create", {"name": "m"}), 400, "RESOURCE_ALREADY_EXISTS")
    fails(post(api, "/model-versions/create", {"name": "nope", "source": "/x"}), 404, "RESOURCE_DOES_NOT_EXIST")
    fails(post(api, "/model-versions/create", {"name": "m", "source": "mlflow-artifacts:/0/x"}), 400,
          "INVALID_PARAMETER_VALUE", "artifact proxy")
    fails(post(api, "/model-versions/create", {"name": "m", "source": "mlflow-artifacts:/0/abc/artifacts/../../x"}),
          400, "INVALID_PARAMETER_VALUE")
    fails(get(api, "/model-versions/get", name="m", version="x"), 400, "INVALID_PARAMETER_VALUE")
    fails(post(api, "/model-versions/transition-stage", {"name": "m", "version": "1", "stage": "Moon"}), 400,
          "INVALID_PARAMETER_VALUE")
    fails(post(api, "/model-versions/transition-stage", {"name": "m", "version": "1", "stage": "Staging",
                                                         "archive_existing_versions": "yes"}), 400,
          "INVALID_PARAMETER_VALUE", "true or false")
    fails(get(api, "/registered-models/search", max_results=1001), 400, "INVALID_PARAMETER_VALUE")


# ------------------------------------------------------------------ artifacts


def _artifact_run(api: TestClient, client: MlflowClient) -> tuple[str, Path]:
    run_id = _run(api)
    client.log_text(run_id, "hello", "notes/a.txt")
    client.log_text(run_id, "<script>alert(1)</script>", "page.html")
    root = Path(client.get_run(run_id).info.artifact_uri)
    return run_id, root


def test_artifacts_list_download_upload(api: TestClient, client: MlflowClient) -> None:
    empty = _run(api)
    assert ok(get(api, "/artifacts/list", run_id=empty)) == {"root_uri": f"mlflow-artifacts:/0/{empty}/artifacts"}
    run_id, _ = _artifact_run(api, client)
    listed = ok(get(api, "/artifacts/list", run_id=run_id))
    assert listed["files"] == [{"path": "notes", "is_dir": True}, {"path": "page.html", "is_dir": False,
                                                                  "file_size": 25}]
    assert ok(get(api, "/artifacts/list", run_id=run_id, path="notes"))["files"] == [
        {"path": "notes/a.txt", "is_dir": False, "file_size": 5}]
    assert ok(api.get(PROXY, params={"path": f"0/{run_id}/artifacts/notes"})) == {
        "files": [{"path": "a.txt", "is_dir": False, "file_size": 5}]}
    r = api.get(f"{PROXY}/0/{run_id}/artifacts/notes/a.txt")
    assert r.status_code == 200 and r.content == b"hello"
    assert r.headers["content-disposition"] == 'attachment; filename="a.txt"'
    page = api.get(f"{PROXY}/0/{run_id}/artifacts/page.html")  # never rendered as HTML in the server's origin
    assert page.headers["content-type"].startswith("text/plain") and page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["content-disposition"].startswith("attachment")
    ok(api.put(f"{PROXY}/0/{run_id}/artifacts/up/loaded.bin", content=b"\x00\x01data"))
    out = client.download_artifacts(run_id, "up/loaded.bin", str(Path(os.getcwd()) / "dl"))
    assert Path(out).read_bytes() == b"\x00\x01data"
    fails(api.get(f"{PROXY}/0/{run_id}/artifacts/notes"), 400, "INVALID_PARAMETER_VALUE", "directory")
    fails(api.get(f"{PROXY}/0/{run_id}/artifacts/nope.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    fails(api.get(f"{PROXY}/1/{run_id}/artifacts/notes/a.txt"), 404, "RESOURCE_DOES_NOT_EXIST", "not in experiment")
    fails(api.get(f"{PROXY}/0/{'e' * 32}/artifacts/notes/a.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    fails(api.get(f"{PROXY}/0/{run_id}/other/x"), 404, "RESOURCE_DOES_NOT_EXIST", "proxy paths look like")
    fails(api.put(f"{PROXY}/0/{run_id}/artifacts", content=b"x"), 400, "INVALID_PARAMETER_VALUE", "name a file")


@pytest.mark.parametrize("path", ["../../../etc/passwd", "notes/../../x", "%2e%2e/%2e%2e/x", "..%2F..%2Fx",
                                  "%252e%252e%252fx", "/etc/passwd", "notes\\..\\..\\x", "a\x00b"])
def test_artifact_paths_cannot_leave_the_run(api: TestClient, client: MlflowClient, path: str) -> None:
    run_id, _ = _artifact_run(api, client)
    fails(get(api, "/artifacts/list", run_id=run_id, path=path), 400, "INVALID_PARAMETER_VALUE")
    fails(api.get(PROXY, params={"path": f"0/{run_id}/artifacts/{path}"}), 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("raw", ["%2e%2e/%2e%2e/%2e%2e/etc/passwd", "..%2F..%2F..%2Fetc%2Fpasswd",
                                 "%252e%252e/%252e%252e/x", "notes/%2e%2e/%2e%2e/x", "%2Fetc%2Fpasswd",
                                 "..%5C..%5Cx"])
def test_encoded_traversal_in_proxy_urls_is_refused(api: TestClient, client: MlflowClient, raw: str,
                                                     tmp_path: Path) -> None:
    run_id, root = _artifact_run(api, client)
    fails(api.get(f"{PROXY}/0/{run_id}/artifacts/{raw}"), 400, "INVALID_PARAMETER_VALUE")
    fails(api.put(f"{PROXY}/0/{run_id}/artifacts/{raw}", content=b"pwned"), 400, "INVALID_PARAMETER_VALUE")
    assert not any(p.read_bytes() == b"pwned" for p in tmp_path.rglob("*") if p.is_file())


def test_symlinks_out_of_the_artifact_root_are_refused(api: TestClient, client: MlflowClient, tmp_path: Path) -> None:
    run_id, root = _artifact_run(api, client)
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    (secret_dir / "key.txt").write_text("s3cr3t")
    os.symlink(secret_dir, root / "escape")
    os.symlink(secret_dir / "key.txt", root / "key.txt")
    os.symlink(root / "notes" / "a.txt", root / "inside.txt")  # a symlink that stays inside is fine
    for url in (f"{PROXY}/0/{run_id}/artifacts/key.txt", f"{PROXY}/0/{run_id}/artifacts/escape/key.txt"):
        assert "s3cr3t" not in fails(api.get(url), 400, "INVALID_PARAMETER_VALUE", "outside")
    fails(get(api, "/artifacts/list", run_id=run_id, path="escape"), 400, "INVALID_PARAMETER_VALUE", "outside")
    fails(api.get(PROXY, params={"path": f"0/{run_id}/artifacts/escape"}), 400, "INVALID_PARAMETER_VALUE")
    fails(api.put(f"{PROXY}/0/{run_id}/artifacts/escape/new.txt", content=b"x"), 400, "INVALID_PARAMETER_VALUE")
    assert sorted(p.name for p in secret_dir.iterdir()) == ["key.txt"]
    assert api.get(f"{PROXY}/0/{run_id}/artifacts/inside.txt").content == b"hello"


def test_require_writable_defaults_to_read_only(client: MlflowClient) -> None:
    """An app that never said it is writable refuses changes."""
    app = Starlette(routes=rest.mounts(), exception_handlers=errors.exception_handlers)
    app.state.client = client
    with TestClient(app, raise_server_exceptions=False) as tc:
        fails(tc.post(API + "/experiments/create", json={"name": "x"}), 403, "PERMISSION_DENIED")
        assert tc.post(API + "/experiments/search", json={}).status_code == 200


def test_error_helpers() -> None:
    assert [errors.status_for(c) for c in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST", "RESOURCE_ALREADY_EXISTS",
                                           "INVALID_STATE", "RESOURCE_DOES_NOT_EXIST", "PERMISSION_DENIED",
                                           "INTERNAL_ERROR", "SOMETHING_ELSE")] == [400, 400, 400, 400, 404, 403,
                                                                                    500, 500]
    r = errors.error_response("RESOURCE_DOES_NOT_EXIST", "gone")
    assert r.status_code == 404 and r.body == b'{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"gone"}'
    assert errors.error_response("BAD_REQUEST", "x", 413).status_code == 413


# ------------------------------------------------------------------ any input: an answer, never a crash

_FIELDS = ["name", "experiment_id", "experiment_ids", "run_id", "run_uuid", "key", "value", "timestamp", "step",
           "metrics", "params", "tags", "filter", "max_results", "order_by", "page_token", "view_type",
           "run_view_type", "status", "end_time", "start_time", "run_name", "new_name", "metric_key", "path",
           "version", "stage", "alias", "source", "description", "stages", "archive_existing_versions", "user_id"]
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                     st.sampled_from(["0", "1", "NaN", "-Infinity", "ACTIVE_ONLY", "FINISHED", "Staging", "../x",
                                      "%2e%2e/x", "name = 'a'", "--5", "²", "9" * 30, "m", "RUN", "RUN",
                                      "iris", "1", "notes", "champion"]))
_OBJECTS = st.dictionaries(st.sampled_from(["key", "value", "timestamp", "step"]), _SCALARS, max_size=4)
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3), _OBJECTS, st.lists(_OBJECTS, max_size=3))


# A valid request per endpoint; the test keeps, drops or replaces each field at random.
_VALID: dict[str, dict[str, Any]] = {
    "/experiments/create": {"name": "e", "artifact_location": "", "tags": [{"key": "k", "value": "v"}]},
    "/experiments/get": {"experiment_id": "0"}, "/experiments/get-by-name": {"experiment_name": "Default"},
    "/experiments/search": {"filter": "name = 'a'", "max_results": 5, "order_by": ["name"], "view_type": "ALL"},
    "/experiments/update": {"experiment_id": "0", "new_name": "d"},
    "/experiments/delete": {"experiment_id": "0"}, "/experiments/restore": {"experiment_id": "0"},
    "/experiments/set-experiment-tag": {"experiment_id": "0", "key": "k", "value": "v"},
    "/experiments/delete-experiment-tag": {"experiment_id": "0", "key": "k"},
    "/runs/create": {"experiment_id": "0", "run_name": "r", "start_time": 1, "tags": [{"key": "k", "value": "v"}]},
    "/runs/update": {"run_id": "RUN", "status": "FINISHED", "end_time": 2, "run_name": "n"},
    "/runs/delete": {"run_id": "RUN"}, "/runs/restore": {"run_id": "RUN"}, "/runs/get": {"run_id": "RUN"},
    "/runs/search": {"experiment_ids": ["0"], "filter": "metrics.m > 0", "max_results": 3,
                     "order_by": ["metrics.m"], "run_view_type": "ALL"},
    "/runs/log-metric": {"run_id": "RUN", "key": "m", "value": 1.5, "timestamp": 1, "step": 2},
    "/runs/log-parameter": {"run_id": "RUN", "key": "p", "value": "1"},
    "/runs/set-tag": {"run_id": "RUN", "key": "k", "value": "v"}, "/runs/delete-tag": {"run_id": "RUN", "key": "k"},
    "/runs/log-batch": {"run_id": "RUN", "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 0}],
                        "params": [{"key": "p", "value": "1"}], "tags": [{"key": "k", "value": "v"}]},
    "/runs/log-inputs": {"run_id": "RUN"}, "/logged-models/search": {"experiment_ids": ["0"]},
    "/metrics/get-history": {"run_id": "RUN", "metric_key": "m", "max_results": 2},
    "/artifacts/list": {"run_id": "RUN", "path": "notes"},
    "/registered-models/create": {"name": "m2", "description": "d", "tags": [{"key": "k", "value": "v"}]},
    "/registered-models/get": {"name": "iris"}, "/registered-models/rename": {"name": "iris", "new_name": "iris2"},
    "/registered-models/update": {"name": "iris", "description": "d"}, "/registered-models/delete": {"name": "m2"},
    "/registered-models/search": {"filter": "name = 'iris'", "max_results": 5},
    "/registered-models/get-latest-versions": {"name": "iris", "stages": ["None"]},
    "/registered-models/set-tag": {"name": "iris", "key": "k", "value": "v"},
    "/registered-models/delete-tag": {"name": "iris", "key": "k"},
    "/registered-models/alias": {"name": "iris", "alias": "champion", "version": "1"},
    "/model-versions/create": {"name": "iris", "source": "mlflow-artifacts:/0/RUN/artifacts/notes", "run_id": "RUN"},
    "/model-versions/get": {"name": "iris", "version": "1"},
    "/model-versions/update": {"name": "iris", "version": "1", "description": "d"},
    "/model-versions/delete": {"name": "iris", "version": "2"},
    "/model-versions/search": {"filter": "name = 'iris'", "max_results": 5},
    "/model-versions/transition-stage": {"name": "iris", "version": "1", "stage": "Staging",
                                         "archive_existing_versions": False},
    "/model-versions/set-tag": {"name": "iris", "version": "1", "key": "k", "value": "v"},
    "/model-versions/delete-tag": {"name": "iris", "version": "1", "key": "k"},
    "/model-versions/get-download-uri": {"name": "iris", "version": "1"},
}


def test_every_endpoint_has_a_valid_example() -> None:
    assert {path for path, _, _, _ in rest._API} == set(_VALID)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(rest._API), data=st.data())
def test_any_request_gets_an_answer_never_a_crash(api: TestClient, client: MlflowClient, route: Any,
                                                   data: st.DataObject) -> None:
    """Valid requests with fields dropped or replaced by anything, at every endpoint; some values name the
    real run, model and version so that the requests reach the store."""
    if not hasattr(api, "run_id"):
        api.run_id = _run(api)  # type: ignore[attr-defined]
        client.log_text(api.run_id, "x", "notes/a.txt")  # type: ignore[attr-defined]
        client.create_registered_model("iris")
        client.create_model_version("iris", f"runs:/{api.run_id}/notes", api.run_id)  # type: ignore[attr-defined]

    def real(v: Any) -> Any:
        if isinstance(v, str):
            return v.replace("RUN", api.run_id)  # type: ignore[attr-defined]
        if isinstance(v, list):
            return [real(x) for x in v]
        return {k: real(x) for k, x in v.items()} if isinstance(v, dict) else v

    path, methods, _, _ = route
    body: dict[str, Any] = {}
    for key, value in _VALID[path].items():
        choice = data.draw(st.sampled_from(["keep", "keep", "keep", "drop", "replace"]))
        if choice != "drop":
            body[key] = value if choice == "keep" else data.draw(_VALUES)
    body.update(data.draw(st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=2)))
    body = real(body)
    method = methods[0]
    if method == "GET":
        response = api.get(API + path, params={k: str(v) for k, v in body.items() if v is not None})
    else:
        response = api.request(method, API + path, content=json.dumps(body).encode(),
                               headers={"content-type": "application/json"})
    assert response.status_code < 500 or response.json()["error_code"] == "NOT_IMPLEMENTED", response.text
    if response.status_code != 200:
        assert set(response.json()) == {"error_code", "message"}, response.text


def test_bucket_store_read_only_over_rest(s3: dict[str, Any], tmp_path: Path) -> None:
    """A shared bucket (s3://) served read-only: runs, history and artifacts come from the bucket."""
    local = MlflowClient(str(tmp_path / "a.duckdb"))
    run = local.create_run("0", run_name="pushed")
    run_id = run.info.run_id
    local.log_batch(run_id, metrics=[Metric("m", 0.5, 1, 0), Metric("m", 0.25, 2, 1)], params=[Param("p", "1")])
    local.log_text(run_id, "from the bucket", "notes/a.txt")
    local.set_terminated(run_id)
    sync.push(s3["url"], store=str(tmp_path / "a.duckdb"))
    app = Starlette(routes=rest.mounts(), exception_handlers=errors.exception_handlers)
    app.state.client = MlflowClient(s3["url"])
    app.state.read_only = True
    with TestClient(app, raise_server_exceptions=False) as tc:
        got = ok(tc.get(API + "/runs/get", params={"run_id": run_id}))["run"]
        assert got["info"]["run_name"] == "pushed" and got["data"]["params"] == [{"key": "p", "value": "1"}]
        history = ok(tc.get(API + "/metrics/get-history", params={"run_id": run_id, "metric_key": "m"}))
        assert [m["value"] for m in history["metrics"]] == [0.5, 0.25]
        assert ok(tc.get(PROXY, params={"path": f"0/{run_id}/artifacts/notes"}))["files"] == [
            {"path": "a.txt", "is_dir": False, "file_size": 15}]
        assert tc.get(f"{PROXY}/0/{run_id}/artifacts/notes/a.txt").content == b"from the bucket"
        fails(tc.get(f"{PROXY}/0/{run_id}/artifacts/notes"), 400, "INVALID_PARAMETER_VALUE", "directory")
        fails(tc.get(f"{PROXY}/0/{run_id}/artifacts/%2e%2e/%2e%2e/x"), 400, "INVALID_PARAMETER_VALUE")
        fails(tc.put(f"{PROXY}/0/{run_id}/artifacts/x.txt", content=b"x"), 403, "PERMISSION_DENIED")
        fails(tc.post(API + "/runs/set-tag", json={"run_id": run_id, "key": "k", "value": "v"}), 403,
              "PERMISSION_DENIED")
