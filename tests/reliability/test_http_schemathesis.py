"""Schemathesis over an OpenAPI document of the MLflow REST routes the web server serves, against a real
uvicorn process: valid and invalid requests generated from the document at every route. Every answer
must be no 500 (501 only for the documented NOT_IMPLEMENTED), of a documented status code and content
type, and match the documented response schema (MLflow's error JSON for every 4xx).

The document is the one the server serves (``lite_tracker/ui/openapi.py``, at
``/api/2.0/mlflow/openapi.json``); a test pins that it covers exactly the routes ``lite_tracker/ui/rest.py``
serves. ``EXAMPLES`` per route keeps the run to a few
hundred requests (10x in soak mode).
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from test_http_bad_input import API, Server, server  # noqa: F401  (the real server fixture)

from lite_tracker.ui import openapi, rest

EXAMPLES = 80 if os.environ.get("LITE_TRACKER_SOAK") == "1" else 8

def test_the_document_covers_every_route_served() -> None:
    served = {(path, m.lower()) for path, methods, _, _ in rest._API for m in methods}
    assert {(path, method) for path, method, _ in openapi.ROUTES} == served


def test_the_server_serves_the_document(server: Server) -> None:  # noqa: F811
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{API}/openapi.json", timeout=30) as response:
        assert json.loads(response.read()) == openapi.document()


schema = schemathesis.openapi.from_dict(openapi.document())
schema.config.generation.update(max_examples=EXAMPLES, database="none", deterministic=True)


@schema.parametrize()
def test_generated_requests_get_documented_answers_never_a_500(case: Any, server: Server) -> None:  # noqa: F811
    response = case.call(base_url=f"http://127.0.0.1:{server.port}", timeout=30)
    # 501 is the one documented 5xx: logging dataset inputs over REST is not supported
    assert response.status_code < 500 or (response.status_code == 501 and response.json()["error_code"]
                                          == "NOT_IMPLEMENTED"), f"{response.status_code} {response.text[:500]}"
    case.validate_response(response, checks=[status_code_conformance, content_type_conformance,
                                             response_schema_conformance])
    assert server.proc.poll() is None
