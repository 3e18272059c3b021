"""A bad-input catalogue for the web server's MLflow REST API, over real HTTP to a real uvicorn process.

Every route gets malformed JSON, bodies that are not objects, wrong types in each field of a valid
request, unknown fields, wrong methods, a missing content type, huge and endless (chunked) bodies,
deep nesting and bad UTF-8; the search routes get huge page tokens and max_results; the artifact
routes get path traversal, plain and encoded; the id fields get hostile ids. Each answer is a 4xx with
MLflow's error JSON and the expected error code, never a 500 and never a hang (every request has a
timeout), and the server is up and answering after the whole catalogue.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import free_port
from test_load_and_crashes import _figures

from lite_tracker import MlflowClient
from lite_tracker.tracking.client import close_all
from lite_tracker.ui import rest

API = "/api/2.0/mlflow"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"
TIMEOUT = 30.0
BAD = "INVALID_PARAMETER_VALUE"
MISSING = "RESOURCE_DOES_NOT_EXIST"
_SERVE = """
import sys, uvicorn
from lite_tracker.ui.app import create_app
uvicorn.run(create_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="critical")
"""


@dataclass(frozen=True)
class Server:
    port: int
    proc: subprocess.Popen[bytes]
    run_id: str
    ids: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, body: bytes | Iterator[bytes] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes, float]:
        """One request on a fresh connection; (status, body, seconds). A hang fails at TIMEOUT."""
        con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        started = time.monotonic()
        try:
            chunked = body is not None and not isinstance(body, bytes)
            con.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
            response = con.getresponse()
            return response.status, response.read(), time.monotonic() - started
        finally:
            con.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    store = tmp_path_factory.mktemp("http") / "s.duckdb"
    client = MlflowClient(str(store))
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "m", 1.0)
    client.log_text(run_id, "x", "notes/a.txt")
    client.create_registered_model("iris")
    client.create_model_version("iris", f"runs:/{run_id}/notes", run_id)
    client.flush()
    close_all()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", _SERVE, str(store), str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    srv = Server(port, proc, run_id)
    deadline = time.monotonic() + 60
    while True:
        try:
            if srv.request("GET", f"{API}/experiments/search")[0] == 200:
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    try:
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        finally:
            assert proc.stderr is not None
            proc.stderr.close()


# ------------------------------------------------------------------ the catalogue

JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class Case:
    """One bad request and the error it must get (``codes``: any of them; ``None``: any 4xx, or success
    for input MLflow ignores, such as unknown fields)."""

    name: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    codes: tuple[str, ...] | None = (BAD,)
    status: int | None = None


# A valid request per route ("RUN" stands for the real run id): the catalogue spoils one thing at a time.
_VALID: dict[str, dict[str, Any]] = {
    "/experiments/create": {"name": "e"}, "/experiments/get": {"experiment_id": "0"},
    "/experiments/get-by-name": {"experiment_name": "Default"}, "/experiments/search": {"max_results": 5},
    "/experiments/update": {"experiment_id": "0", "new_name": "d"}, "/experiments/delete": {"experiment_id": "9"},
    "/experiments/restore": {"experiment_id": "9"},
    "/experiments/set-experiment-tag": {"experiment_id": "0", "key": "k", "value": "v"},
    "/experiments/delete-experiment-tag": {"experiment_id": "0", "key": "k"},
    "/runs/create": {"experiment_id": "0", "start_time": 1}, "/runs/update": {"run_id": "RUN", "end_time": 2},
    "/runs/delete": {"run_id": "RUN"}, "/runs/restore": {"run_id": "RUN"}, "/runs/get": {"run_id": "RUN"},
    "/runs/search": {"experiment_ids": ["0"], "max_results": 3},
    "/runs/log-metric": {"run_id": "RUN", "key": "m", "value": 1.5, "timestamp": 1, "step": 2},
    "/runs/log-parameter": {"run_id": "RUN", "key": "p", "value": "1"},
    "/runs/set-tag": {"run_id": "RUN", "key": "k", "value": "v"}, "/runs/delete-tag": {"run_id": "RUN", "key": "k"},
    "/runs/log-batch": {"run_id": "RUN", "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 0}]},
    "/runs/log-inputs": {"run_id": "RUN"}, "/logged-models/search": {"experiment_ids": ["0"]},
    "/metrics/get-history": {"run_id": "RUN", "metric_key": "m", "max_results": 2},
    "/artifacts/list": {"run_id": "RUN", "path": "notes"},
    "/registered-models/create": {"name": "m2"}, "/registered-models/get": {"name": "iris"},
    "/registered-models/rename": {"name": "nope", "new_name": "iris2"},
    "/registered-models/update": {"name": "iris", "description": "d"}, "/registered-models/delete": {"name": "nope"},
    "/registered-models/search": {"max_results": 5},
    "/registered-models/get-latest-versions": {"name": "iris", "stages": ["None"]},
    "/registered-models/set-tag": {"name": "iris", "key": "k", "value": "v"},
    "/registered-models/delete-tag": {"name": "iris", "key": "k"},
    "/registered-models/alias": {"name": "iris", "alias": "champion", "version": "1"},
    "/model-versions/create": {"name": "iris", "source": "runs:/RUN/notes", "run_id": "RUN"},
    "/model-versions/get": {"name": "iris", "version": "1"},
    "/model-versions/update": {"name": "iris", "version": "1", "description": "d"},
    "/model-versions/delete": {"name": "iris", "version": "99"},
    "/model-versions/search": {"max_results": 5},
    "/model-versions/transition-stage": {"name": "iris", "version": "1", "stage": "Staging"},
    "/model-versions/set-tag": {"name": "iris", "version": "1", "key": "k", "value": "v"},
    "/model-versions/delete-tag": {"name": "iris", "version": "1", "key": "k"},
    "/model-versions/get-download-uri": {"name": "iris", "version": "1"},
}
# Routes sharing a path with another method take fewer fields.
_VALID_FOR = {("GET", "/registered-models/alias"): {"name": "iris", "alias": "champion"},
              ("DELETE", "/registered-models/alias"): {"name": "iris", "alias": "champion"}}
_OTHER_METHOD = {"GET": "PUT", "POST": "PUT", "PATCH": "PUT", "DELETE": "PUT"}
_PAGED = ["/experiments/search", "/runs/search", "/registered-models/search", "/model-versions/search",
          "/metrics/get-history"]
# Values of the wrong JSON type for a field whose valid example has this type.
_WRONG: dict[type, list[Any]] = {str: [{"a": 1}, [1, 2], 1.5, True], int: ["abc", {"a": 1}, True, [1]],
                                 float: ["abc", {"a": 1}, True, [1]], list: ["not a list", [{"a": 1}]]}


def _query(fields: dict[str, Any]) -> str:
    from urllib.parse import urlencode

    return urlencode([(k, x) for k, v in fields.items() for x in (v if isinstance(v, list) else [v])])


def _request(path: str, method: str, fields: dict[str, Any], name: str, **kw: Any) -> Case:
    """A case sending ``fields`` the way the route takes them (query string for GET, JSON otherwise)."""
    if method == "GET":
        return Case(name, method, f"{API}{path}?{_query(fields)}", **kw)
    return Case(name, method, API + path, json.dumps(fields).encode(), **kw)


def _catalogue() -> list[Case]:
    cases: list[Case] = []
    for path, methods, _, _ in rest._API:
        method = methods[0]
        valid = _VALID_FOR.get((method, path), _VALID[path])
        at = f"{method} {path}"
        cases.append(Case(f"{at}: wrong method", _OTHER_METHOD[method], API + path, b"{}",
                          codes=("ENDPOINT_NOT_FOUND",), status=405))
        cases.append(_request(path, method, {**valid, "no_such_field": 1, "other": [{"x": None}]},
                              f"{at}: unknown fields", codes=None))
        if method == "GET":
            cases.append(Case(f"{at}: empty query", method, API + path, codes=None))
            first = next(iter(valid))
            cases.append(Case(f"{at}: bad percent-encoding and NUL", method,
                              f"{API}{path}?{_query(valid)}&{first}=%ff%00".replace(f"{first}=", "x=", 1),
                              codes=(BAD, MISSING)))
            continue
        cases.append(Case(f"{at}: malformed JSON", method, API + path, b'{"a": ', codes=("BAD_REQUEST",)))
        cases.append(Case(f"{at}: JSON list", method, API + path, b"[1, 2]", codes=("BAD_REQUEST",)))
        cases.append(Case(f"{at}: bad UTF-8", method, API + path, b'{"name": "\xff\xfe"}', codes=("BAD_REQUEST",)))
        cases.append(Case(f"{at}: deep nesting", method, API + path, b'{"a": ' + b"[" * 100_000 + b"]" * 100_000
                          + b"}", codes=("BAD_REQUEST",)))
        cases.append(Case(f"{at}: no content type", method, API + path, json.dumps(valid).encode(), headers={},
                          codes=("BAD_REQUEST",) if method != "DELETE" else (BAD,),
                          status=415 if method != "DELETE" else 400))
        cases.append(Case(f"{at}: huge body", method, API + path,
                          b'{"name": "' + b"x" * (rest.MAX_JSON_BYTES + 10) + b'"}'))
        for i, (key, value) in enumerate(valid.items()):
            wrongs = _WRONG[type(value)]
            wrong = wrongs[i % len(wrongs)]
            cases.append(_request(path, method, {**valid, key: wrong}, f"{at}: {key} of the wrong type"))
    for path in _PAGED:
        method = next(m for p, m, _, _ in rest._API if p == path)[0]
        valid = _VALID[path]
        for name, fields in [("huge page token", {"page_token": "A" * 200_000 if method != "GET" else "A" * 6000}),
                             ("page token of an absurd offset", {"page_token": "eyJvZmZzZXQiOiAxZTQwfQ=="}),
                             ("page token not base64", {"page_token": "%%%"}),
                             ("huge max_results", {"max_results": 10**12}),
                             ("max_results past int64", {"max_results": 2**70}),
                             ("negative max_results", {"max_results": -1})]:
            cases.append(_request(path, method, {**valid, **fields}, f"{path}: {name}"))
    for name, value in [("parent folder", "../../etc"), ("absolute path", "/etc/passwd"),
                        ("encoded parent folder", "%2e%2e/%2e%2e/etc"), ("double-encoded", "%252e%252e/x"),
                        ("backslashes", "..\\..\\x"), ("NUL", "notes/\x00"), ("control character", "a\x01")]:
        cases.append(_request("/artifacts/list", "GET", {"run_id": "RUN", "path": value}, f"artifact list: {name}"))
        proxied = _query({"path": "0/RUN/artifacts/" + value})
        cases.append(Case(f"artifact proxy list: {name}", "GET", f"{PROXY}?{proxied}"))
    for raw in ["0/RUN/artifacts/..%2f..%2fx", "0/RUN/artifacts/%2e%2e/%2e%2e/x", "0/RUN/artifacts/a%5c..%5cx",
                "0/RUN/artifacts/%252e%252e/x", "0/RUN/artifacts/x%00"]:
        cases.append(Case(f"artifact proxy download: {raw}", "GET", f"{PROXY}/{raw}"))
        cases.append(Case(f"artifact proxy upload: {raw}", "PUT", f"{PROXY}/{raw}", b"data",
                          headers={"content-type": "application/octet-stream"}))
    for name, run_id in [("SQL in a run id", "x' OR '1'='1"), ("long run id", "f" * 100_000),
                         ("unicode run id", "r\u00fcn\u202e"), ("path in a run id", "../../s.duckdb"),
                         ("NUL in a run id", "\x00")]:
        body = json.dumps({"run_id": run_id, "key": "k", "value": "v"}).encode()
        cases.append(Case(f"set-tag: {name}", "POST", API + "/runs/set-tag", body, codes=(BAD, MISSING)))
        cases.append(Case(f"get run: {name}", "GET", f"{API}/runs/get?{_query({'run_id': run_id[:6000]})}",
                          codes=(BAD, MISSING)))
        cases.append(Case(f"proxy download: {name}", "GET", f"{PROXY}/0/{_q(run_id[:6000])}/artifacts/notes/a.txt",
                          codes=(BAD, MISSING)))
    for name, version in [("version not a number", "one"), ("version past int64", "9" * 30),
                          ("negative version", "-1"), ("float version", "1.5")]:
        cases.append(Case(f"model version: {name}", "GET",
                          f"{API}/model-versions/get?{_query({'name': 'iris', 'version': version})}",
                          codes=(BAD, MISSING)))
    for path, key in [("/experiments/create", "tags"), ("/runs/create", "tags"), ("/runs/log-batch", "params"),
                      ("/runs/log-batch", "tags"), ("/registered-models/create", "tags"),
                      ("/model-versions/create", "tags")]:
        for name, item in [("key a list", {"key": ["k"], "value": "v"}), ("key an object", {"key": {"a": 1}}),
                           ("value a list", {"key": "k", "value": ["v"]}), ("item a string", "k=v")]:
            cases.append(_request(path, "POST", {**_VALID[path], key: [item]}, f"{path}: {key} with {name}"))
    cases.append(Case("unknown route", "GET", API + "/runs/nothing", codes=("ENDPOINT_NOT_FOUND",), status=404))
    cases.append(Case("unknown API version", "POST", "/api/9.9/mlflow/runs/search", b"{}",
                      codes=("ENDPOINT_NOT_FOUND",), status=404))
    return cases


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


CASES = _catalogue()


def _check(server: Server, case: Case, body: bytes | Iterator[bytes] | None = None) -> float:
    status, raw, seconds = server.request(case.method, case.path.replace("RUN", server.run_id),
                                          case.body.replace(b"RUN", server.run_id.encode()) if body is None
                                          and case.body is not None else body, case.headers)
    assert status < 500, f"{case.name}: {status} {raw[:500]!r}"
    if case.codes is None and status == 200:
        return seconds
    assert 400 <= status < 500, f"{case.name}: {status} {raw[:500]!r}"
    if case.status is not None:
        assert status == case.status, f"{case.name}: {status} {raw[:500]!r}"
    answer = json.loads(raw)
    assert set(answer) == {"error_code", "message"} and answer["message"], f"{case.name}: {answer}"
    if case.codes is not None:
        assert answer["error_code"] in case.codes, f"{case.name}: {answer}"
    assert "Traceback" not in answer["message"]
    return seconds


def test_every_bad_request_gets_a_4xx_error_json_and_the_server_stays_up(server: Server) -> None:
    assert {p for p, _, _, _ in rest._API} == set(_VALID)
    assert len({c.name for c in CASES}) == len(CASES), "two cases share a name"
    failures: list[str] = []
    slowest = 0.0
    for case in CASES:
        try:
            slowest = max(slowest, _check(server, case))
        except AssertionError as e:
            failures.append(str(e).splitlines()[0])
    # a body without a length that never stops is cut off at the limit, not read forever
    endless = Case("endless chunked body", "POST", API + "/runs/log-batch", None)
    slowest = max(slowest, _check(server, endless, (b"x" * 65536 for _ in range(10_000))))
    assert failures == [], "\n".join(failures)
    assert server.proc.poll() is None, "the server died"
    assert server.request("POST", API + "/runs/search", b'{"experiment_ids": ["0"]}', JSON)[0] == 200
    assert len(CASES) >= 300
    _figures("http_bad_input", {"requests": len(CASES) + 1, "routes": len(rest._API) + 3, "errors_5xx": 0,
                                "slowest_s": round(slowest, 2)})


def test_the_store_is_intact_after_the_catalogue(server: Server) -> None:
    status, raw, _ = server.request("GET", f"{API}/runs/get?run_id={server.run_id}")
    assert status == 200
    assert [m["key"] for m in json.loads(raw)["run"]["data"]["metrics"]] == ["m"]
    status, raw, _ = server.request("GET", f"{API}/model-versions/get?name=iris&version=1")
    assert status == 200 and json.loads(raw)["model_version"]["version"] == "1"

