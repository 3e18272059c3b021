"""The OpenAPI document of MLflow's REST routes the server answers (``rest``), served at
``/api/2.0/mlflow/openapi.json``: what each route takes, and that every error is MLflow's JSON
``{"error_code", "message"}``. API clients and fuzzers (schemathesis) read it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

PREFIX = "/api/2.0/mlflow"

_STRING: dict[str, Any] = {"type": "string"}
_KV = {"type": "array", "items": {"type": "object", "properties": {"key": _STRING, "value": _STRING},
                                  "required": ["key"]}}
_TYPES: dict[str, dict[str, Any]] = {
    "max_results": {"type": "integer", "format": "int64"}, "start_time": {"type": "integer", "format": "int64"},
    "end_time": {"type": "integer", "format": "int64"}, "timestamp": {"type": "integer", "format": "int64"},
    "step": {"type": "integer", "format": "int64"}, "archive_existing_versions": {"type": "boolean"},
    "experiment_ids": {"type": "array", "items": _STRING}, "order_by": {"type": "array", "items": _STRING},
    "stages": {"type": "array", "items": _STRING}, "tags": _KV, "params": _KV,
    "datasets": {"type": "array", "items": {"type": "object"}},
    "models": {"type": "array", "items": {"type": "object"}},
    "metrics": {"type": "array", "items": {"type": "object", "required": ["key", "value", "timestamp"], "properties": {
        "key": _STRING, "value": {"type": "number"}, "timestamp": {"type": "integer"}, "step": {"type": "integer"}}}},
    "view_type": {"type": "string", "enum": ["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]},
    "run_view_type": {"type": "string", "enum": ["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]},
    "status": {"type": "string", "enum": ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]},
}
_SEARCH = "filter max_results order_by page_token"
# The fields of each route and method of ``rest``, as MLflow names them: "!" marks a required field, "#" a
# number (tests pin that this covers exactly the routes ``rest`` serves).
ROUTES: list[tuple[str, str, str]] = [
    ("/experiments/create", "post", "name! artifact_location tags"),
    ("/experiments/get", "get", "experiment_id!"),
    ("/experiments/get-by-name", "get", "experiment_name!"),
    ("/experiments/search", "post", f"view_type {_SEARCH}"),
    ("/experiments/search", "get", f"view_type {_SEARCH}"),
    ("/experiments/update", "post", "experiment_id! new_name!"),
    ("/experiments/delete", "post", "experiment_id!"),
    ("/experiments/restore", "post", "experiment_id!"),
    ("/experiments/set-experiment-tag", "post", "experiment_id! key! value"),
    ("/experiments/delete-experiment-tag", "post", "experiment_id! key!"),
    ("/runs/create", "post", "experiment_id! start_time tags user_id run_name"),
    ("/runs/update", "post", "run_id! status end_time run_name"),
    ("/runs/delete", "post", "run_id!"),
    ("/runs/restore", "post", "run_id!"),
    ("/runs/get", "get", "run_id!"),
    ("/runs/search", "post", f"experiment_ids run_view_type {_SEARCH}"),
    ("/runs/log-metric", "post", "run_id! key! value#! timestamp! step"),
    ("/runs/log-parameter", "post", "run_id! key! value"),
    ("/runs/set-tag", "post", "run_id! key! value"),
    ("/runs/delete-tag", "post", "run_id! key!"),
    ("/runs/log-batch", "post", "run_id! metrics params tags"),
    ("/runs/log-inputs", "post", "run_id! datasets models"),
    ("/logged-models/search", "post", "experiment_ids"),
    ("/metrics/get-history", "get", "run_id! metric_key! max_results page_token"),
    ("/artifacts/list", "get", "run_id! path"),
    ("/registered-models/create", "post", "name! tags description"),
    ("/registered-models/get", "get", "name!"),
    ("/registered-models/rename", "post", "name! new_name!"),
    ("/registered-models/update", "patch", "name! description"),
    ("/registered-models/delete", "delete", "name!"),
    ("/registered-models/search", "get", _SEARCH),
    ("/registered-models/get-latest-versions", "post", "name! stages"),
    ("/registered-models/get-latest-versions", "get", "name! stages"),
    ("/registered-models/set-tag", "post", "name! key! value"),
    ("/registered-models/delete-tag", "delete", "name! key!"),
    ("/registered-models/alias", "post", "name! alias! version!"),
    ("/registered-models/alias", "delete", "name! alias!"),
    ("/registered-models/alias", "get", "name! alias!"),
    ("/model-versions/create", "post", "name! source! run_id tags run_link description"),
    ("/model-versions/get", "get", "name! version!"),
    ("/model-versions/update", "patch", "name! version! description"),
    ("/model-versions/delete", "delete", "name! version!"),
    ("/model-versions/search", "get", _SEARCH),
    ("/model-versions/transition-stage", "post", "name! version! stage! archive_existing_versions"),
    ("/model-versions/set-tag", "post", "name! version! key! value"),
    ("/model-versions/delete-tag", "delete", "name! version! key!"),
    ("/model-versions/get-download-uri", "get", "name! version!"),
]
_ERROR = {"description": "MLflow's error JSON", "content": {"application/json": {"schema": {
    "type": "object", "required": ["error_code", "message"], "additionalProperties": False,
    "properties": {"error_code": {"type": "string", "minLength": 1}, "message": {"type": "string", "minLength": 1}}}}}}
_OK = {"description": "The response message", "content": {"application/json": {"schema": {"type": "object"}}}}


def _operation(method: str, fields: str) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for spec in fields.split():
        name = spec.rstrip("!#")
        props[name] = {"type": "number"} if "#" in spec else _TYPES.get(name, _STRING)
        if spec.endswith("!"):
            required.append(name)
    op: dict[str, Any] = {"responses": {"200": _OK, "400": _ERROR, "403": _ERROR, "404": _ERROR, "405": _ERROR,
                                        "413": _ERROR, "415": _ERROR, "501": _ERROR}}
    if method == "get":
        op["parameters"] = [{"name": n, "in": "query", "required": n in required,
                             "schema": s if s.get("type") != "array" else {**s, "items": _STRING},
                             **({"style": "form", "explode": True} if s.get("type") == "array" else {})}
                            for n, s in props.items()]
    else:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "properties": props, "required": required}}}}
    return op


def document() -> dict[str, Any]:
    """The OpenAPI 3.0 document of MLflow's REST routes this server answers under ``/api/2.0/mlflow``.

    Example:
        >>> sorted(document()["paths"]["/api/2.0/mlflow/runs/get"])
        ['get']
    """
    paths: dict[str, dict[str, Any]] = {}
    for path, method, fields in ROUTES:
        paths.setdefault(PREFIX + path, {})[method] = _operation(method, fields)
    return {"openapi": "3.0.3", "info": {"title": "lite_tracker: MLflow's REST API", "version": "2.0"},
            "paths": paths}


async def serve_document(request: Request) -> JSONResponse:
    """``GET /api/2.0/mlflow/openapi.json``: the document, for clients and API fuzzers."""
    return JSONResponse(document())
