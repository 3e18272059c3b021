"""MLflow's REST API 2.0 over a lite_tracker store, so MLflow's own clients can read and log over HTTP.

Paths, request fields and response JSON follow MLflow's protobuf service (``service.proto``,
``model_registry.proto``) as MLflow 3's server sends it: snake_case field names, int64 as JSON numbers,
non-finite doubles as ``"NaN"``/``"Infinity"``/``"-Infinity"``, unset fields and empty lists left out.
GET requests carry their fields in the query string; the others in a JSON body.

Run artifacts are served by MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts/...``):
a run's ``artifact_uri`` is given as ``mlflow-artifacts:/<experiment_id>/<run_id>/artifacts``, which
MLflow's client resolves against the tracking URI, so downloads and uploads go through this server
(confined to the run's artifact folder, refused when read-only) wherever the store keeps the files.
"""

from __future__ import annotations

import json
import math
import mimetypes
import os
import posixpath
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from ..entities import Experiment, FileInfo, Metric, Param, Run, RunInfo, RunTag, ViewType
from ..entities.model_registry import ModelVersion, RegisteredModel
from ..errors import (
    BAD_REQUEST,
    NOT_IMPLEMENTED,
    InvalidParameterValue,
    LiteTrackerException,
    ResourceNotFound,
)
from ..search import decode_page_token, encode_page_token
from ..tracking.client import MlflowClient
from . import openapi
from .errors import require_writable

MAX_JSON_BYTES = 1_000_000  # MLflow's limit for a log-batch request, applied to every JSON body
MAX_BATCH_METRICS, MAX_BATCH_PARAMS, MAX_BATCH_TAGS, MAX_BATCH_ENTITIES = 1000, 100, 100, 1000
ARTIFACTS_PREFIX = "mlflow-artifacts:/"
_UPLOAD_CHUNK = 1 << 20
_VIEW_TYPES = {"ACTIVE_ONLY": ViewType.ACTIVE_ONLY, "DELETED_ONLY": ViewType.DELETED_ONLY, "ALL": ViewType.ALL}
_RUN_STATUSES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
_TERMINAL = ("FINISHED", "FAILED", "KILLED")
_INTEGER = re.compile(r"-?[0-9]+")
# Served as plain text so that an artifact can never run script in the server's origin.
_ACTIVE_CONTENT = ("text/html", "image/svg+xml", "application/xhtml+xml", "text/xml", "application/xml",
                   "text/javascript", "application/javascript")


# ------------------------------------------------------------------ request fields


class Args:
    """The fields of one request, read with the type rules of MLflow's protobuf parsing.

    JSON bodies must hold the declared JSON types (int64 fields may also be decimal strings, as
    protobuf's JSON parser accepts); query strings hold strings only, so numbers and booleans are
    parsed from text and a repeated field may appear once.
    """

    def __init__(self, data: dict[str, Any], from_query: bool = False) -> None:
        self.data = data
        self.from_query = from_query

    def has(self, name: str) -> bool:
        """Whether the request sets ``name`` (to anything but null)."""
        return self.data.get(name) is not None

    def _bad(self, name: str, value: Any, expected: str) -> InvalidParameterValue:
        shown = repr(value) if len(repr(value)) <= 200 else repr(value)[:200] + "..."
        return InvalidParameterValue(f"Invalid value {shown} for parameter '{name}' supplied: {expected}.")

    def _missing(self, name: str) -> InvalidParameterValue:
        return InvalidParameterValue(f"Missing value for required parameter '{name}'. See the API docs for more "
                                     "information about request parameters.")

    def text(self, name: str, required: bool = False, default: str | None = None) -> Any:
        """A string field (``None``/``default`` when absent)."""
        value = self.data.get(name)
        if value is None:
            if required:
                raise self._missing(name)
            return default
        if not isinstance(value, str):
            raise self._bad(name, value, "expected a string")
        if required and not value:
            raise self._missing(name)
        return value

    def integer(self, name: str, required: bool = False, default: int | None = None) -> Any:
        """An int64/int32 field: a JSON integer or its decimal string."""
        value = self.data.get(name)
        if value is None:
            if required:
                raise self._missing(name)
            return default
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(name, value, "expected an integer")
        if not -(2**63) <= value < 2**63:
            raise self._bad(name, value, "expected a 64-bit integer")
        return value

    def number(self, name: str, required: bool = False) -> Any:
        """A double field: a JSON number, or ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` or a numeric string."""
        value = self.data.get(name)
        if value is None:
            if required:
                raise self._missing(name)
            return None
        return self._number(name, value)

    def _number(self, name: str, value: Any) -> float:
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                return float(value)
            except (ValueError, OverflowError):
                pass
        raise self._bad(name, value, "expected a number")

    def flag(self, name: str, default: bool = False) -> bool:
        """A bool field (``true``/``false`` in a query string)."""
        value = self.data.get(name)
        if value is None:
            return default
        if self.from_query and isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise self._bad(name, value, "expected true or false")
        return value

    def texts(self, name: str) -> list[Any]:
        """A repeated string field."""
        value = self.data.get(name)
        if value is None:
            return []
        if self.from_query and isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(name, value, "expected a list of strings")
        return value

    def objects(self, name: str) -> list[dict[str, Any]]:
        """A repeated message field: a list of JSON objects."""
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self._bad(name, value, "expected a list of objects")
        return value

    def pairs(self, name: str) -> list[tuple[Any, Any]]:
        """A repeated ``{"key", "value"}`` field (tags, params) as (key, value) tuples."""
        out = []
        for i, item in enumerate(self.objects(name)):
            key = item.get("key")
            if not key:
                raise self._missing(f"{name}[{i}].key")
            if not isinstance(key, str):
                raise self._bad(f"{name}[{i}].key", key, "expected a string")
            out.append((key, Args(item).text("value", default="")))
        return out

    def run_id(self) -> Any:
        """``run_id``, or the deprecated ``run_uuid`` MLflow still accepts."""
        if self.has("run_id"):
            return self.text("run_id", required=True)
        return self.text("run_uuid", required=True)

    def enum(self, name: str, names: dict[str, int], default: int) -> int:
        """A protobuf enum field given by name or number."""
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, str) and value in names:
            return names[value]
        if isinstance(value, str) and _INTEGER.fullmatch(value):
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value in names.values():
            return value
        raise self._bad(name, value, f"expected one of {', '.join(names)}")


async def _read_json(request: Request) -> dict[str, Any]:
    """The JSON object in the request body (``{}`` when empty), at most :data:`MAX_JSON_BYTES` bytes."""
    too_big = InvalidParameterValue(f"Request bodies must be at most {MAX_JSON_BYTES} bytes; send big batches "
                                    "in several requests.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_JSON_BYTES:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise too_big
    if not body.strip():
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise InvalidParameterValue(f"Bad Content-Type {content_type or '(none)'!r}: send 'application/json'.")
    try:
        data = json.loads(body)
        if isinstance(data, str):  # older MLflow clients encode the JSON twice
            data = json.loads(data)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise LiteTrackerException(f"The request body is not valid JSON: {e}", BAD_REQUEST) from e
    if not isinstance(data, dict):
        raise LiteTrackerException("The request body must be a JSON object.", BAD_REQUEST)
    return data


async def _read_args(request: Request) -> Args:
    if request.method == "GET":
        q = request.query_params
        return Args({k: (q.getlist(k) if len(q.getlist(k)) > 1 else q[k]) for k in q.keys()}, from_query=True)
    return Args(await _read_json(request))


# ------------------------------------------------------------------ entities -> JSON


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    """Leave out unset fields and empty lists, as protobuf's JSON form does."""
    return {k: v for k, v in d.items() if v is not None and v != []}


def _double(x: float) -> float | str:
    """A double as protobuf's JSON writes it (non-finite values as strings)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def _kv(items: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(items.items())]


def run_artifact_uri(info: RunInfo) -> str:
    """The artifact URI MLflow's client sees for a run: served by this server's artifact proxy."""
    return f"{ARTIFACTS_PREFIX}{info.experiment_id}/{info.run_id}/artifacts"


def experiment_json(e: Experiment) -> dict[str, Any]:
    """MLflow's ``Experiment`` message."""
    return _clean({"experiment_id": e.experiment_id, "name": e.name, "artifact_location": e.artifact_location,
                   "lifecycle_stage": e.lifecycle_stage, "last_update_time": e.last_update_time,
                   "creation_time": e.creation_time, "tags": _kv(e.tags)})


def run_info_json(info: RunInfo) -> dict[str, Any]:
    """MLflow's ``RunInfo`` message (``run_uuid`` repeats ``run_id``, as MLflow sends it)."""
    return _clean({"run_id": info.run_id, "run_uuid": info.run_id, "run_name": info.run_name,
                   "experiment_id": info.experiment_id, "user_id": info.user_id, "status": info.status,
                   "start_time": info.start_time, "end_time": info.end_time,
                   "artifact_uri": run_artifact_uri(info), "lifecycle_stage": info.lifecycle_stage})


def run_json(run: Run) -> dict[str, Any]:
    """MLflow's ``Run`` message. Metrics carry their latest value (the history has steps and times)."""
    data = _clean({"metrics": [{"key": k, "value": _double(v)} for k, v in sorted(run.data.metrics.items())],
                   "params": _kv(run.data.params), "tags": _kv(run.data.tags)})
    return {"info": run_info_json(run.info), "data": data, "inputs": {}}


def metric_json(m: Metric) -> dict[str, Any]:
    """MLflow's ``Metric`` message."""
    return {"key": m.key, "value": _double(m.value), "timestamp": m.timestamp, "step": m.step}


def file_info_json(f: FileInfo, path: str | None = None) -> dict[str, Any]:
    """MLflow's ``FileInfo`` message (no size for folders)."""
    return _clean({"path": f.path if path is None else path, "is_dir": f.is_dir,
                   "file_size": None if f.is_dir else f.file_size})


class _View:
    """Entity -> JSON for one request, with the source runs of model versions looked up once each."""

    def __init__(self, client: MlflowClient) -> None:
        self.client = client
        self._runs: dict[str, RunInfo | None] = {}

    def _run_info(self, run_id: str) -> RunInfo | None:
        if run_id not in self._runs:
            try:
                self._runs[run_id] = self.client.get_run(run_id).info
            except ResourceNotFound:
                self._runs[run_id] = None
        return self._runs[run_id]

    def public_source(self, source: str | None, run_id: str | None) -> str | None:
        """A model location inside its run's artifacts, given as the proxy URI MLflow's client can fetch."""
        info = self._run_info(run_id) if source and run_id else None
        if info is None or source is None:
            return source
        base = info.artifact_uri.rstrip("/")
        if source == base or source.startswith(base + "/"):
            return run_artifact_uri(info) + source[len(base):]
        return source

    def model_version(self, mv: ModelVersion) -> dict[str, Any]:
        """MLflow's ``ModelVersion`` message (``version`` is a string there)."""
        return _clean({
            "name": mv.name, "version": str(mv.version), "creation_timestamp": mv.creation_timestamp,
            "last_updated_timestamp": mv.last_updated_timestamp, "user_id": mv.user_id,
            "current_stage": mv.current_stage, "description": mv.description,
            "source": self.public_source(mv.source, mv.run_id), "run_id": mv.run_id, "status": mv.status,
            "status_message": mv.status_message, "tags": _kv(mv.tags), "run_link": mv.run_link,
            "aliases": list(mv.aliases),
        })

    def registered_model(self, rm: RegisteredModel) -> dict[str, Any]:
        """MLflow's ``RegisteredModel`` message."""
        return _clean({
            "name": rm.name, "creation_timestamp": rm.creation_timestamp,
            "last_updated_timestamp": rm.last_updated_timestamp, "description": rm.description,
            "latest_versions": [self.model_version(mv) for mv in rm.latest_versions], "tags": _kv(rm.tags),
            "aliases": [{"alias": a, "version": str(v)} for a, v in rm.aliases.items()],
        })


# ------------------------------------------------------------------ artifact paths


def safe_artifact_path(path: str | None) -> str:
    """A relative artifact path that stays inside its root ('' for the root).

    Refused: absolute paths, ``..`` segments, backslashes, NUL and control characters, and the same in
    URL-encoded form (decoded repeatedly, as MLflow's server does).

    Raises:
        InvalidParameterValue: The path could leave its root.
    """
    if path is None or path == "":
        return ""
    bad = InvalidParameterValue(f"Invalid artifact path {path!r}: it must be relative and stay inside the "
                                "run's artifact folder.")
    decoded = path
    for _ in range(5):
        if any(c in decoded for c in "\\#") or any(ord(c) < 32 for c in decoded):
            raise bad
        parts = decoded.split("/")
        if decoded.startswith("/") or ".." in parts or "" in parts[:-1] or ":" in parts[0]:
            raise bad
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    else:
        raise bad
    norm = posixpath.normpath(path)
    return "" if norm == "." else norm


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def confined_local_path(root_uri: str, rel: str) -> Path | None:
    """For a local artifact root, the real path of ``rel`` under it, refused if a symlink leads out.

    Returns None for a remote root (object stores have no symlinks).

    Raises:
        InvalidParameterValue: ``rel`` resolves outside the root.
    """
    if not _is_local(root_uri):
        return None
    root = Path(os.path.realpath(root_uri.removeprefix("file://")))
    target = Path(os.path.realpath(root / rel)) if rel else root
    if target != root and root not in target.parents:
        raise InvalidParameterValue(f"Invalid artifact path {rel!r}: it leads outside the run's artifact folder.")
    return target


def _proxy_run(client: MlflowClient, path: str) -> tuple[Run, str]:
    """The run a proxy path ``<experiment_id>/<run_id>/artifacts[/<rel>]`` names, and ``rel``."""
    parts = path.split("/", 3)
    if len(parts) < 3 or parts[2] != "artifacts":
        raise ResourceNotFound(f"No artifacts at {path!r}: proxy paths look like "
                               "<experiment_id>/<run_id>/artifacts/<path>.")
    run = client.get_run(parts[1])
    if run.info.experiment_id != parts[0]:
        raise ResourceNotFound(f"Run {parts[1]} is not in experiment {parts[0]}.")
    return run, parts[3] if len(parts) == 4 else ""


def _media_type(name: str) -> str:
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return "text/plain" if guessed in _ACTIVE_CONTENT else guessed


def _send_file(client: MlflowClient, run: Run, rel: str) -> Response:
    """One artifact file as an attachment (streamed from disk; a remote file through a temp copy)."""
    if not rel:
        raise InvalidParameterValue("Artifact path refers to a directory, not a file: ''")
    local = confined_local_path(run.info.artifact_uri, rel)
    name = posixpath.basename(rel)
    headers = {"X-Content-Type-Options": "nosniff"}
    if local is not None:
        if local.is_dir():
            raise InvalidParameterValue(f"Artifact path refers to a directory, not a file: {rel!r}")
        if not local.is_file():
            raise ResourceNotFound(f"No artifact at {rel!r} in run {run.info.run_id}.")
        return FileResponse(local, media_type=_media_type(name), filename=name, headers=headers,
                            content_disposition_type="attachment")
    tmp = tempfile.mkdtemp(prefix="lite_tracker-")
    try:
        out = Path(client.download_artifacts(run.info.run_id, rel, tmp))
        if out.is_dir():
            raise InvalidParameterValue(f"Artifact path refers to a directory, not a file: {rel!r}")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return FileResponse(out, media_type=_media_type(name), filename=name, headers=headers,
                        content_disposition_type="attachment",
                        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True))


def _list_files(client: MlflowClient, run: Run, rel: str) -> list[FileInfo]:
    confined_local_path(run.info.artifact_uri, rel)
    return client.list_artifacts(run.info.run_id, rel or None)


# ------------------------------------------------------------------ experiments


Json = dict[str, Any]


def _page(items: list[Any], token: str | None, key: str) -> Json:
    return _clean({key: items, "next_page_token": token})


def create_experiment(v: _View, a: Args) -> Json:
    exp_id = v.client.create_experiment(a.text("name", required=True), a.text("artifact_location") or None,
                                        dict(a.pairs("tags")))
    return {"experiment_id": exp_id}


def get_experiment(v: _View, a: Args) -> Json:
    return {"experiment": experiment_json(v.client.get_experiment(a.text("experiment_id", required=True)))}


def get_experiment_by_name(v: _View, a: Args) -> Json:
    name = a.text("experiment_name", required=True)
    exp = v.client.get_experiment_by_name(name)
    if exp is None:
        raise ResourceNotFound(f"Could not find experiment with name '{name}'")
    return {"experiment": experiment_json(exp)}


def search_experiments(v: _View, a: Args) -> Json:
    found = v.client.search_experiments(a.enum("view_type", _VIEW_TYPES, ViewType.ACTIVE_ONLY),
                                        a.integer("max_results", default=1000), a.text("filter") or None,
                                        a.texts("order_by") or None, a.text("page_token") or None)
    return _page([experiment_json(e) for e in found], found.token, "experiments")


def update_experiment(v: _View, a: Args) -> Json:
    v.client.rename_experiment(a.text("experiment_id", required=True), a.text("new_name", required=True))
    return {}


def delete_experiment(v: _View, a: Args) -> Json:
    v.client.delete_experiment(a.text("experiment_id", required=True))
    return {}


def restore_experiment(v: _View, a: Args) -> Json:
    v.client.restore_experiment(a.text("experiment_id", required=True))
    return {}


def set_experiment_tag(v: _View, a: Args) -> Json:
    v.client.set_experiment_tag(a.text("experiment_id", required=True), a.text("key", required=True),
                                a.text("value", default=""))
    return {}


def delete_experiment_tag(v: _View, a: Args) -> Json:
    v.client.delete_experiment_tag(a.text("experiment_id", required=True), a.text("key", required=True))
    return {}


# ------------------------------------------------------------------ runs


def create_run(v: _View, a: Args) -> Json:
    tags = dict(a.pairs("tags"))
    user = a.text("user_id")
    if user and "mlflow.user" not in tags:
        tags["mlflow.user"] = user
    run = v.client.create_run(a.text("experiment_id", required=True), a.integer("start_time"), tags,
                              a.text("run_name") or None)
    return {"run": run_json(run)}


def update_run(v: _View, a: Args) -> Json:
    run_id = a.run_id()
    status_code = a.enum("status", {s: n for n, s in _RUN_STATUSES.items()}, 0)
    status = _RUN_STATUSES.get(status_code)
    end_time = a.integer("end_time")
    if end_time is not None or status in _TERMINAL:
        v.client.set_terminated(run_id, status or v.client.get_run(run_id).info.status, end_time)
    elif status is not None:
        v.client.update_run(run_id, status=status)
    if a.text("run_name"):
        v.client.update_run(run_id, name=a.text("run_name"))
    return {"run_info": run_info_json(v.client.get_run(run_id).info)}


def delete_run(v: _View, a: Args) -> Json:
    v.client.delete_run(a.text("run_id", required=True))
    return {}


def restore_run(v: _View, a: Args) -> Json:
    v.client.restore_run(a.text("run_id", required=True))
    return {}


def get_run(v: _View, a: Args) -> Json:
    return {"run": run_json(v.client.get_run(a.run_id()))}


def search_runs(v: _View, a: Args) -> Json:
    found = v.client.search_runs(a.texts("experiment_ids"), a.text("filter", default=""),
                                 a.enum("run_view_type", _VIEW_TYPES, ViewType.ACTIVE_ONLY),
                                 a.integer("max_results", default=1000), a.texts("order_by") or None,
                                 a.text("page_token") or None)
    return _page([run_json(r) for r in found], found.token, "runs")


def log_metric(v: _View, a: Args) -> Json:
    v.client.log_metric(a.run_id(), a.text("key", required=True), a.number("value", required=True),
                        a.integer("timestamp", required=True), a.integer("step", default=0))
    return {}


def log_param(v: _View, a: Args) -> Json:
    v.client.log_param(a.run_id(), a.text("key", required=True), a.text("value", default=""))
    return {}


def set_tag(v: _View, a: Args) -> Json:
    v.client.set_tag(a.run_id(), a.text("key", required=True), a.text("value", default=""))
    return {}


def delete_tag(v: _View, a: Args) -> Json:
    v.client.delete_tag(a.text("run_id", required=True), a.text("key", required=True))
    return {}


def log_batch(v: _View, a: Args) -> Json:
    run_id = a.text("run_id", required=True)
    raw_metrics, params, tags = a.objects("metrics"), a.pairs("params"), a.pairs("tags")
    for what, n, limit in (("metrics", len(raw_metrics), MAX_BATCH_METRICS), ("params", len(params),
                           MAX_BATCH_PARAMS), ("tags", len(tags), MAX_BATCH_TAGS),
                           ("entities", len(raw_metrics) + len(params) + len(tags), MAX_BATCH_ENTITIES)):
        if n > limit:
            raise InvalidParameterValue(f"A batch logging request can contain at most {limit} {what}. "
                                        f"Got {n} {what}. Please split up {what} across multiple requests and "
                                        "try again.")
    metrics = []
    for m in raw_metrics:
        f = Args(m)
        metrics.append(Metric(f.text("key", required=True), f.number("value", required=True),
                              f.integer("timestamp", required=True), f.integer("step", default=0)))
    v.client.log_batch(run_id, metrics, [Param(k, val) for k, val in params], [RunTag(k, val) for k, val in tags])
    return {}


def log_inputs(v: _View, a: Args) -> Json:
    a.text("run_id", required=True)
    if a.objects("datasets") or a.objects("models"):
        raise LiteTrackerException("Logging dataset and model inputs is not supported by lite_tracker; record "
                                   "them as run tags or params instead.", NOT_IMPLEMENTED)
    return {}


def search_logged_models(v: _View, a: Args) -> Json:
    """MLflow 3's logged models are not kept by lite_tracker (models are run artifacts and registry
    versions), so a search finds none; MLflow's client asks when it lists or downloads run artifacts."""
    a.texts("experiment_ids")
    return {}


def get_metric_history(v: _View, a: Args) -> Json:
    history = v.client.get_metric_history(a.run_id(), a.text("metric_key", required=True))
    max_results = a.integer("max_results")
    token = None
    if max_results is not None:
        if not 0 < max_results < 2**31:  # an int32 in MLflow's protobuf message
            raise InvalidParameterValue(f"Invalid value {max_results} for parameter 'max_results' supplied. "
                                        "It must be a positive 32-bit integer.")
        offset = decode_page_token(a.text("page_token") or None)
        if offset + max_results < len(history):
            token = encode_page_token(offset + max_results)
        history = history[offset:offset + max_results]
    return _page([metric_json(m) for m in history], token, "metrics")


def list_artifacts(v: _View, a: Args) -> Json:
    run = v.client.get_run(a.run_id())
    rel = safe_artifact_path(a.text("path"))
    files = _list_files(v.client, run, rel)
    return _clean({"root_uri": run_artifact_uri(run.info), "files": [file_info_json(f) for f in files]})


# ------------------------------------------------------------------ registered models


def create_registered_model(v: _View, a: Args) -> Json:
    rm = v.client.create_registered_model(a.text("name", required=True), dict(a.pairs("tags")),
                                          a.text("description"))
    return {"registered_model": v.registered_model(rm)}


def get_registered_model(v: _View, a: Args) -> Json:
    return {"registered_model": v.registered_model(v.client.get_registered_model(a.text("name", required=True)))}


def rename_registered_model(v: _View, a: Args) -> Json:
    rm = v.client.rename_registered_model(a.text("name", required=True), a.text("new_name", required=True))
    return {"registered_model": v.registered_model(rm)}


def update_registered_model(v: _View, a: Args) -> Json:
    rm = v.client.update_registered_model(a.text("name", required=True), a.text("description"))
    return {"registered_model": v.registered_model(rm)}


def delete_registered_model(v: _View, a: Args) -> Json:
    v.client.delete_registered_model(a.text("name", required=True))
    return {}


def search_registered_models(v: _View, a: Args) -> Json:
    found = v.client.search_registered_models(a.text("filter") or None, a.integer("max_results", default=100),
                                              a.texts("order_by") or None, a.text("page_token") or None)
    return _page([v.registered_model(rm) for rm in found], found.token, "registered_models")


def get_latest_versions(v: _View, a: Args) -> Json:
    found = v.client.get_latest_versions(a.text("name", required=True), a.texts("stages") or None)
    return _clean({"model_versions": [v.model_version(mv) for mv in found]})


def set_registered_model_tag(v: _View, a: Args) -> Json:
    v.client.set_registered_model_tag(a.text("name", required=True), a.text("key", required=True),
                                      a.text("value", default=""))
    return {}


def delete_registered_model_tag(v: _View, a: Args) -> Json:
    v.client.delete_registered_model_tag(a.text("name", required=True), a.text("key", required=True))
    return {}


def set_registered_model_alias(v: _View, a: Args) -> Json:
    v.client.set_registered_model_alias(a.text("name", required=True), a.text("alias", required=True),
                                        a.text("version", required=True))
    return {}


def delete_registered_model_alias(v: _View, a: Args) -> Json:
    v.client.delete_registered_model_alias(a.text("name", required=True), a.text("alias", required=True))
    return {}


def get_model_version_by_alias(v: _View, a: Args) -> Json:
    mv = v.client.get_model_version_by_alias(a.text("name", required=True), a.text("alias", required=True))
    return {"model_version": v.model_version(mv)}


# ------------------------------------------------------------------ model versions


def _store_source(source: str) -> str:
    """A proxy URI this server handed out (``mlflow-artifacts:/<exp>/<run>/artifacts/<path>``), as the
    ``runs:/<run>/<path>`` URI the registry resolves to the real location; other sources as given."""
    parsed = urlparse(source)
    if parsed.scheme != "mlflow-artifacts":
        return source
    parts = parsed.path.strip("/").split("/", 3)
    if len(parts) < 3 or parts[2] != "artifacts":
        raise InvalidParameterValue(f"Invalid model version source {source!r}: artifact proxy URIs look like "
                                    "mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path>.")
    return f"runs:/{parts[1]}/{safe_artifact_path(parts[3] if len(parts) == 4 else '')}".rstrip("/")


def create_model_version(v: _View, a: Args) -> Json:
    mv = v.client.create_model_version(a.text("name", required=True), _store_source(a.text("source", required=True)),
                                       a.text("run_id") or None, dict(a.pairs("tags")), a.text("run_link") or None,
                                       a.text("description"))
    return {"model_version": v.model_version(mv)}


def get_model_version(v: _View, a: Args) -> Json:
    mv = v.client.get_model_version(a.text("name", required=True), a.text("version", required=True))
    return {"model_version": v.model_version(mv)}


def update_model_version(v: _View, a: Args) -> Json:
    mv = v.client.update_model_version(a.text("name", required=True), a.text("version", required=True),
                                       a.text("description"))
    return {"model_version": v.model_version(mv)}


def delete_model_version(v: _View, a: Args) -> Json:
    v.client.delete_model_version(a.text("name", required=True), a.text("version", required=True))
    return {}


def search_model_versions(v: _View, a: Args) -> Json:
    found = v.client.search_model_versions(a.text("filter") or None, a.integer("max_results", default=200_000),
                                           a.texts("order_by") or None, a.text("page_token") or None)
    return _page([v.model_version(mv) for mv in found], found.token, "model_versions")


def transition_model_version_stage(v: _View, a: Args) -> Json:
    mv = v.client.transition_model_version_stage(a.text("name", required=True), a.text("version", required=True),
                                                 a.text("stage", required=True),
                                                 a.flag("archive_existing_versions"))
    return {"model_version": v.model_version(mv)}


def set_model_version_tag(v: _View, a: Args) -> Json:
    v.client.set_model_version_tag(a.text("name", required=True), a.text("version", required=True),
                                   a.text("key", required=True), a.text("value", default=""))
    return {}


def delete_model_version_tag(v: _View, a: Args) -> Json:
    v.client.delete_model_version_tag(a.text("name", required=True), a.text("version", required=True),
                                      a.text("key", required=True))
    return {}


def get_model_version_download_uri(v: _View, a: Args) -> Json:
    name, version = a.text("name", required=True), a.text("version", required=True)
    mv = v.client.get_model_version(name, version)
    uri = v.client.get_model_version_download_uri(name, version)
    return {"artifact_uri": v.public_source(uri, mv.run_id)}


# ------------------------------------------------------------------ artifact proxy (mlflow-artifacts)


async def proxy_list(request: Request) -> Response:
    """``GET /mlflow-artifacts/artifacts?path=<exp>/<run>/artifacts/<path>``: entries by base name."""
    args = await _read_args(request)
    path = safe_artifact_path(args.text("path"))

    def work() -> Json:
        client = request.app.state.client
        run, rel = _proxy_run(client, path)
        files = _list_files(client, run, rel)
        return _clean({"files": [file_info_json(f, posixpath.basename(f.path)) for f in files]})

    return _json(await run_in_threadpool(work))


async def proxy_download(request: Request) -> Response:
    """``GET /mlflow-artifacts/artifacts/<exp>/<run>/artifacts/<path>``: one file."""
    path = safe_artifact_path(request.path_params["path"])

    def work() -> Response:
        client = request.app.state.client
        run, rel = _proxy_run(client, path)
        return _send_file(client, run, safe_artifact_path(rel))

    return await run_in_threadpool(work)


async def proxy_upload(request: Request) -> Response:
    """``PUT /mlflow-artifacts/artifacts/<exp>/<run>/artifacts/<path>``: store the body as that file."""
    require_writable(request)
    path = safe_artifact_path(request.path_params["path"])
    client: MlflowClient = request.app.state.client
    run, rel = await run_in_threadpool(_proxy_run, client, path)
    if not rel:
        raise InvalidParameterValue("An upload must name a file inside the run's artifacts.")
    confined_local_path(run.info.artifact_uri, rel)
    head, name = posixpath.split(rel)
    with tempfile.TemporaryDirectory(prefix="lite_tracker-") as tmp:
        local = Path(tmp) / name
        with open(local, "wb") as f:
            async for chunk in request.stream():
                await run_in_threadpool(f.write, chunk)
        await run_in_threadpool(client.log_artifact, run.info.run_id, str(local), head or None)
    return _json({})


# ------------------------------------------------------------------ routing

Handler = Callable[[_View, Args], Json]


def _json(body: Json) -> Response:
    return Response(json.dumps(body, allow_nan=False, separators=(",", ":")), media_type="application/json")


def _endpoint(fn: Handler, write: bool) -> Callable[[Request], Awaitable[Response]]:
    """An ASGI endpoint that reads the request's fields, runs ``fn`` in a worker thread and answers JSON.

    Write endpoints check :func:`require_writable` first and make the change durable before answering.
    """

    async def endpoint(request: Request) -> Response:
        if write:
            require_writable(request)
        args = await _read_args(request)
        client: MlflowClient = request.app.state.client

        def work() -> Json:
            out = fn(_View(client), args)
            if write:
                client.flush()
            return out

        return _json(await run_in_threadpool(work))

    endpoint.__name__ = fn.__name__
    return endpoint


_API: list[tuple[str, list[str], Handler, bool]] = [
    ("/experiments/create", ["POST"], create_experiment, True),
    ("/experiments/get", ["GET"], get_experiment, False),
    ("/experiments/get-by-name", ["GET"], get_experiment_by_name, False),
    ("/experiments/search", ["POST", "GET"], search_experiments, False),
    ("/experiments/update", ["POST"], update_experiment, True),
    ("/experiments/delete", ["POST"], delete_experiment, True),
    ("/experiments/restore", ["POST"], restore_experiment, True),
    ("/experiments/set-experiment-tag", ["POST"], set_experiment_tag, True),
    ("/experiments/delete-experiment-tag", ["POST"], delete_experiment_tag, True),
    ("/runs/create", ["POST"], create_run, True),
    ("/runs/update", ["POST"], update_run, True),
    ("/runs/delete", ["POST"], delete_run, True),
    ("/runs/restore", ["POST"], restore_run, True),
    ("/runs/get", ["GET"], get_run, False),
    ("/runs/search", ["POST"], search_runs, False),
    ("/runs/log-metric", ["POST"], log_metric, True),
    ("/runs/log-parameter", ["POST"], log_param, True),
    ("/runs/set-tag", ["POST"], set_tag, True),
    ("/runs/delete-tag", ["POST"], delete_tag, True),
    ("/runs/log-batch", ["POST"], log_batch, True),
    ("/runs/log-inputs", ["POST"], log_inputs, True),
    ("/logged-models/search", ["POST"], search_logged_models, False),
    ("/metrics/get-history", ["GET"], get_metric_history, False),
    ("/artifacts/list", ["GET"], list_artifacts, False),
    ("/registered-models/create", ["POST"], create_registered_model, True),
    ("/registered-models/get", ["GET"], get_registered_model, False),
    ("/registered-models/rename", ["POST"], rename_registered_model, True),
    ("/registered-models/update", ["PATCH"], update_registered_model, True),
    ("/registered-models/delete", ["DELETE"], delete_registered_model, True),
    ("/registered-models/search", ["GET"], search_registered_models, False),
    ("/registered-models/get-latest-versions", ["POST", "GET"], get_latest_versions, False),
    ("/registered-models/set-tag", ["POST"], set_registered_model_tag, True),
    ("/registered-models/delete-tag", ["DELETE"], delete_registered_model_tag, True),
    ("/registered-models/alias", ["POST"], set_registered_model_alias, True),
    ("/registered-models/alias", ["DELETE"], delete_registered_model_alias, True),
    ("/registered-models/alias", ["GET"], get_model_version_by_alias, False),
    ("/model-versions/create", ["POST"], create_model_version, True),
    ("/model-versions/get", ["GET"], get_model_version, False),
    ("/model-versions/update", ["PATCH"], update_model_version, True),
    ("/model-versions/delete", ["DELETE"], delete_model_version, True),
    ("/model-versions/search", ["GET"], search_model_versions, False),
    ("/model-versions/transition-stage", ["POST"], transition_model_version_stage, True),
    ("/model-versions/set-tag", ["POST"], set_model_version_tag, True),
    ("/model-versions/delete-tag", ["DELETE"], delete_model_version_tag, True),
    ("/model-versions/get-download-uri", ["GET"], get_model_version_download_uri, False),
]

routes: list[BaseRoute] = [Route(path, _endpoint(fn, write), methods=methods) for path, methods, fn, write in _API]
routes.append(Route("/openapi.json", openapi.serve_document, methods=["GET"]))

artifact_routes: list[BaseRoute] = [
    Route("/artifacts", proxy_list, methods=["GET"]),
    Route("/artifacts/{path:path}", proxy_download, methods=["GET"]),
    Route("/artifacts/{path:path}", proxy_upload, methods=["PUT"]),
]


def mounts() -> list[Mount]:
    """MLflow's API under ``/api/2.0/mlflow`` and ``/ajax-api/2.0/mlflow``, and its artifact proxy under
    ``/api/2.0/mlflow-artifacts`` (and the ``ajax-api`` twin)."""
    return [Mount("/api/2.0/mlflow", routes=routes), Mount("/ajax-api/2.0/mlflow", routes=routes),
            Mount("/api/2.0/mlflow-artifacts", routes=artifact_routes),
            Mount("/ajax-api/2.0/mlflow-artifacts", routes=artifact_routes)]
