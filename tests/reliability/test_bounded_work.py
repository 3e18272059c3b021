"""Hostile input costs bounded work: long filters, absurd page tokens, huge or deeply nested scoring
requests all get a clear error at once."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import free_port

from lite_tracker import MlflowClient
from lite_tracker.errors import InvalidParameterValue
from lite_tracker.search.grammar import MAX_CLAUSES
from lite_tracker.search.paging import MAX_OFFSET, encode_page_token


def _clauses(n: int, kind: str = "params") -> str:
    return " AND ".join(f"{kind}.p{i} = 'x'" if kind != "metrics" else f"metrics.m{i} > 0" for i in range(n))


def test_a_filter_of_the_maximum_length_is_answered(client: MlflowClient) -> None:
    run = client.create_run("0").info.run_id
    for i in range(3):
        client.log_param(run, f"p{i}", "x")
    started = time.monotonic()
    assert client.search_runs(["0"], filter_string=_clauses(3)) != []
    assert client.search_runs(["0"], filter_string=_clauses(MAX_CLAUSES)) == []
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("n", [MAX_CLAUSES + 1, 300, 1000, 20_000])
@pytest.mark.parametrize("kind", ["params", "metrics"])
def test_longer_filters_are_refused_at_once(client: MlflowClient, n: int, kind: str) -> None:
    started = time.monotonic()
    with pytest.raises(InvalidParameterValue, match=f"at most {MAX_CLAUSES} clauses") as e:
        client.search_runs(["0"], filter_string=_clauses(n, kind))
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert time.monotonic() - started < 5


def _token(obj: Any) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


BAD_TOKENS: list[Any] = [
    _token({"offset": MAX_OFFSET + 1}), _token({"offset": 10**30}), _token({"offset": 2**63}),
    _token({"offset": -1}), _token({"offset": 1.5}), _token({"offset": "10"}), _token({"offset": None}),
    _token({"offset": True}), _token({}), _token([1]), _token("offset"), _token(None),
    base64.b64encode(b"[" * 900 + b"]" * 900).decode(), base64.b64encode(b"\xff\xfe").decode(),
    "not base64!", "abc", "A" * 10_000, "eyJvZmZzZXQiOiAxMDB9\x00", 12, 1.5, ["x"], {"offset": 1}, b"eyJ9",
]


def _searches(client: MlflowClient) -> list[Callable[[Any], object]]:
    return [
        lambda t: client.search_runs(["0"], page_token=t),
        lambda t: client.search_experiments(page_token=t),
        lambda t: client.search_registered_models(page_token=t),
        lambda t: client.search_model_versions(page_token=t),
    ]


@pytest.mark.parametrize("token", BAD_TOKENS, ids=range(len(BAD_TOKENS)))
def test_every_malformed_page_token_is_invalid(client: MlflowClient, token: Any) -> None:
    for search in _searches(client):
        with pytest.raises(InvalidParameterValue) as e:
            search(token)
        assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_the_largest_offset_is_an_empty_page(client: MlflowClient) -> None:
    for search in _searches(client):
        assert list(search(encode_page_token(MAX_OFFSET))) == []  # type: ignore[call-overload]


# ---------------------------------------------------------------- the scoring server

class _Echo:
    """A model that returns its input's length."""

    def predict(self, data: Any) -> list[int]:
        return [len(data)]


@pytest.fixture(scope="module")
def scoring() -> Iterator[int]:
    """A real uvicorn server (in a thread) over the scoring app with a 10 kB body limit."""
    import uvicorn

    from lite_tracker.serving import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(_Echo(), max_body_bytes=10_000), host="127.0.0.1",
                                           port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(30)


def _post(port: int, body: bytes | Iterator[bytes], headers: dict[str, str] | None = None) -> tuple[int, Any]:
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        con.request("POST", "/invocations", body=body,
                    headers={"Content-Type": "application/json", **(headers or {})},
                    encode_chunked=not isinstance(body, bytes))
        resp = con.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        con.close()


def test_a_body_over_the_limit_gets_413(scoring: int) -> None:
    status, got = _post(scoring, b'{"inputs": [' + b"1," * 6000 + b"1]}")
    assert status == 413 and "larger than 10000 bytes" in got["message"]
    status, got = _post(scoring, (b"1," * 1000 for _ in range(20)))  # chunked: no length declared
    assert status == 413
    assert _post(scoring, b'{"inputs": [1, 2, 3]}') == (200, {"predictions": [3]})


@pytest.mark.parametrize("depth", [65, 200, 4900])
def test_deeply_nested_json_gets_400(scoring: int, depth: int) -> None:
    status, got = _post(scoring, b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}")
    assert status == 400 and "nested deeper" in got["message"], got
    assert _post(scoring, b'{"inputs": [1, 2, 3]}') == (200, {"predictions": [3]})


def test_nesting_far_past_the_recursion_limit_is_a_bad_request() -> None:
    from lite_tracker.serving import BadRequest, parse_payload

    with pytest.raises(BadRequest, match="nested deeper"):
        parse_payload(b'{"inputs": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")
