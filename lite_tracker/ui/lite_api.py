"""The UI's JSON API under ``/api/lite/...``: the data of every page (its JSON twin), plus what pages need
beyond MLflow's REST API (column discovery with metric ranges, downsampled bulk histories, artifact
previews, CSV export). Every handler parses its input, calls public ``MlflowClient`` methods and
renders JSON; every state change calls ``require_writable`` first.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route

from ..entities import Experiment, Run, ViewType
from ..entities.model_registry import ModelVersionStages, RegisteredModel
from ..errors import InvalidFilter, InvalidParameterValue, ResourceNotFound
from ..serving import serve_commands
from ..tracking.client import MlflowClient
from .errors import error_response, require_writable
from .rest import MAX_JSON_BYTES

PREFIX = "/api/lite"
PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_COMPARE = 100
PREVIEW_BYTES = 256 * 1024
PREVIEW_ROWS = 200
NOTE_TAG = "mlflow.note.content"
PARENT_TAG = "mlflow.parentRunId"
_VIEWS = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                ".webp": "image/webp", ".bmp": "image/bmp"}
_ENCODED_SEPARATORS = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
_RUN_ID = re.compile(r"[0-9a-f]{32}")


def client_of(request: Request) -> MlflowClient:
    """The app's client (set by ``create_app``)."""
    client: MlflowClient = request.app.state.client
    return client


def number(x: float | None) -> float | str | None:
    """A metric value JSON can carry: NaN and infinities become the strings ``NaN``, ``Infinity``, ``-Infinity``."""
    if x is None or math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def id_list(text: str | None, what: str, limit: int = 10_000) -> list[str]:
    """Comma-separated ids from a query parameter."""
    ids = [s.strip() for s in (text or "").split(",") if s.strip()]
    if len(ids) > limit:
        raise InvalidParameterValue(f"At most {limit} {what} at once, got {len(ids)}.")
    return ids


def view_type(text: str | None) -> int:
    """``active`` (default), ``deleted`` or ``all``."""
    view = text or "active"
    if view not in _VIEWS:
        raise InvalidParameterValue(f"Invalid view {view!r}: use active, deleted or all.")
    return _VIEWS[view]


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, read up to :data:`MAX_JSON_BYTES` bytes (a bigger body is refused
    before it fills the server's memory)."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_JSON_BYTES:
            raise InvalidParameterValue(f"Request bodies must be at most {MAX_JSON_BYTES} bytes.")
    try:
        body = json.loads(data or b"{}")
    except (ValueError, RecursionError) as e:  # RecursionError: arrays nested thousands deep
        raise InvalidParameterValue(f"The request body is not valid JSON: {e}") from e
    if not isinstance(body, dict):
        raise InvalidParameterValue("The request body must be a JSON object.")
    return body


def _str_field(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise InvalidParameterValue(f"{key!r} must be a string.")
    return value


# ------------------------------------------------------------------ experiments


def experiments_data(client: MlflowClient, q: str = "", view: str | None = None) -> list[dict[str, Any]]:
    """Experiments (name containing ``q``, any case) with run counts and last activity, most recent first."""
    exps: list[Experiment] = []
    token = None
    while True:
        page = client.search_experiments(view_type(view), max_results=1000, page_token=token)
        exps.extend(page)
        token = page.token
        if token is None:
            break
    needle = q.strip().lower()
    exps = [e for e in exps if needle in e.name.lower()]
    stats = client.get_experiment_run_stats([e.experiment_id for e in exps])
    rows: list[dict[str, Any]] = []
    for e in exps:
        count, last = stats.get(e.experiment_id, (0, None))
        rows.append({"experiment_id": e.experiment_id, "name": e.name, "lifecycle_stage": e.lifecycle_stage,
                     "creation_time": e.creation_time, "last_update_time": e.last_update_time,
                     "run_count": count, "last_activity": last or e.last_update_time or e.creation_time,
                     "tags": e.tags})
    rows.sort(key=lambda r: (-(r["last_activity"] or 0), r["name"]))
    return rows


async def experiments(request: Request) -> Response:
    """GET: the experiments list (``q`` filters names, ``view`` is active, deleted or all)."""
    q = request.query_params
    return JSONResponse({"experiments": experiments_data(client_of(request), q.get("q", ""), q.get("view"))})


async def create_experiment(request: Request) -> Response:
    """POST ``{name}``: create an experiment; answers its id."""
    require_writable(request)
    body = await json_body(request)
    return JSONResponse({"experiment_id": client_of(request).create_experiment(_str_field(body, "name"))})


async def rename_experiment(request: Request) -> Response:
    """POST ``{name}``: rename an experiment."""
    require_writable(request)
    body = await json_body(request)
    client_of(request).rename_experiment(request.path_params["experiment_id"], _str_field(body, "name"))
    return JSONResponse({})


async def delete_experiment(request: Request) -> Response:
    """POST: soft-delete an experiment."""
    require_writable(request)
    client_of(request).delete_experiment(request.path_params["experiment_id"])
    return JSONResponse({})


async def restore_experiment(request: Request) -> Response:
    """POST: restore a deleted experiment."""
    require_writable(request)
    client_of(request).restore_experiment(request.path_params["experiment_id"])
    return JSONResponse({})


async def columns(request: Request) -> Response:
    """GET: metric keys with min and max, param keys and tag keys of some experiments' runs."""
    ids = id_list(request.query_params.get("experiment_ids"), "experiments")
    cols = client_of(request).get_run_columns(ids)
    metrics = [{"key": k, "min": number(lo), "max": number(hi)} for k, (lo, hi) in cols["metrics"].items()]
    return JSONResponse({"metrics": metrics, "params": cols["params"], "tags": cols["tags"]})


# ------------------------------------------------------------------ runs table


@dataclass(frozen=True)
class RunsQuery:
    """What the runs table asks for: which runs (one search page) and which columns."""

    experiment_ids: list[str]
    filter: str
    order_by: list[str]
    view: int
    page_token: str | None
    max_results: int
    metrics: list[str] | None
    params: list[str] | None
    tags: list[str] | None

    @classmethod
    def from_request(cls, request: Request) -> RunsQuery:
        """Parse the query string; a missing column list means every key."""
        q = request.query_params
        ids = id_list(q.get("experiment_ids"), "experiments")
        if not ids:
            raise InvalidParameterValue("experiment_ids is required (comma-separated experiment ids).")
        try:
            size = int(q.get("max_results", PAGE_SIZE))
        except ValueError as e:
            raise InvalidParameterValue(f"max_results must be an integer, got {q.get('max_results')!r}.") from e
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidParameterValue(f"max_results must be between 1 and {MAX_PAGE_SIZE}, got {size}.")

        def keys(name: str) -> list[str] | None:
            return None if name not in q else [k for k in q[name].split(",") if k]

        return cls(ids, q.get("filter", ""), [o for o in q.getlist("order_by") if o], view_type(q.get("view")),
                   q.get("page_token") or None, size, keys("metrics"), keys("params"), keys("tags"))


def _pick(values: dict[str, Any], keys: list[str] | None) -> dict[str, Any]:
    return dict(values) if keys is None else {k: values[k] for k in keys if k in values}


def run_row(run: Run, q: RunsQuery | None = None) -> dict[str, Any]:
    """One row of the runs table: attributes plus the chosen metrics, params and tags."""
    i, d = run.info, run.data
    return {
        "run_id": i.run_id, "run_name": i.run_name, "experiment_id": i.experiment_id, "status": i.status,
        "start_time": i.start_time, "end_time": i.end_time, "lifecycle_stage": i.lifecycle_stage,
        "user_id": i.user_id, "parent_run_id": d.tags.get(PARENT_TAG),
        "metrics": {k: number(v) for k, v in _pick(d.metrics, q.metrics if q else None).items()},
        "params": _pick(d.params, q.params if q else None),
        "tags": _pick(d.tags, q.tags if q else None),
    }


def invalid_filter_response(e: InvalidFilter) -> Response:
    """A bad filter's error JSON, with the parser's position and the filter text for inline display."""
    response = error_response(e.error_code, e.message)
    body = json.loads(bytes(response.body))
    body.update({"position": e.position, "filter": e.text})
    return JSONResponse(body, status_code=response.status_code)


async def runs(request: Request) -> Response:
    """GET: one page of the runs table."""
    q = RunsQuery.from_request(request)
    try:
        page = client_of(request).search_runs(q.experiment_ids, q.filter, q.view, q.max_results, q.order_by or None,
                                              q.page_token)
    except InvalidFilter as e:
        return invalid_filter_response(e)
    return JSONResponse({"runs": [run_row(r, q) for r in page], "next_page_token": page.token})


def _iso(ms: int | None) -> str:
    return "" if ms is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


async def runs_csv(request: Request) -> Response:
    """Every run matching the table's filter (not only the page shown), with the table's columns."""
    q = RunsQuery.from_request(request)
    client = client_of(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["run_id", "run_name", "status", "start_time", "end_time",
                     *(f"metrics.{k}" for k in q.metrics or []), *(f"params.{k}" for k in q.params or []),
                     *(f"tags.{k}" for k in q.tags or [])])
    token = None
    try:
        while True:
            page = client.search_runs(q.experiment_ids, q.filter, q.view, MAX_PAGE_SIZE, q.order_by or None, token)
            for run in page:
                row = run_row(run, q)
                writer.writerow([row["run_id"], row["run_name"], row["status"], _iso(row["start_time"]),
                                 _iso(row["end_time"]), *(row["metrics"].get(k, "") for k in q.metrics or []),
                                 *(row["params"].get(k, "") for k in q.params or []),
                                 *(row["tags"].get(k, "") for k in q.tags or [])])
            token = page.token
            if token is None:
                break
    except InvalidFilter as e:
        return invalid_filter_response(e)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="runs.csv"'})


async def _set_runs_stage(request: Request, restore: bool) -> Response:
    require_writable(request)
    body = await json_body(request)
    ids = body.get("run_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InvalidParameterValue("'run_ids' must be a list of run ids.")
    client = client_of(request)
    for run_id in ids:
        if restore:
            client.restore_run(run_id)
        else:
            client.delete_run(run_id)
    return JSONResponse({"run_ids": ids})


async def delete_runs(request: Request) -> Response:
    """POST ``{run_ids}``: soft-delete runs."""
    return await _set_runs_stage(request, restore=False)


async def restore_runs(request: Request) -> Response:
    """POST ``{run_ids}``: restore deleted runs."""
    return await _set_runs_stage(request, restore=True)


# ------------------------------------------------------------------ compare and run page


def _row_values(runs: list[Run], key: str, kind: str) -> dict[str, Any]:
    values = [getattr(r.data, kind).get(key) for r in runs]
    present = [v for v in values if v is not None]
    differs = len(present) != len(values) or len({repr(v) for v in present}) > 1
    shown = [number(v) for v in values] if kind == "metrics" else values
    return {"key": key, "values": shown, "differs": differs}


def runs_by_id(client: MlflowClient, run_ids: list[str]) -> list[Run]:
    """Runs in the order given, read with one search (``run_id IN (...)``) instead of one query per run."""
    if not all(_RUN_ID.fullmatch(r) for r in run_ids):
        return [client.get_run(r) for r in run_ids]  # the client reports a malformed or unknown id
    experiments = [e.experiment_id for e in client.search_experiments(ViewType.ALL, max_results=50_000)]
    listed = ", ".join(f"'{r}'" for r in run_ids)
    found = {r.info.run_id: r for r in client.search_runs(experiments, f"attributes.run_id IN ({listed})",
                                                           ViewType.ALL, MAX_PAGE_SIZE)}
    for rid in run_ids:
        if rid not in found:
            raise ResourceNotFound(f"Run with id={rid} not found")
    return [found[r] for r in run_ids]


def compare_data(client: MlflowClient, run_ids: list[str]) -> dict[str, Any]:
    """Runs side by side: params and latest metrics, each row flagged when the runs differ."""
    if not run_ids:
        raise InvalidParameterValue("run_ids is required (comma-separated run ids).")
    return side_by_side(runs_by_id(client, run_ids))


def side_by_side(runs: list[Run], metric_keys: list[str] | None = None) -> dict[str, Any]:
    """Rows of the runs plus one row per param and per metric (``metric_keys``, or every metric), each with
    the runs' values in order and ``differs`` when they are not all the same."""
    param_keys = sorted({k for r in runs for k in r.data.params})
    if metric_keys is None:
        metric_keys = sorted({k for r in runs for k in r.data.metrics})
    return {
        "runs": [run_row(r) for r in runs],
        "params": [_row_values(runs, k, "params") for k in param_keys],
        "metrics": [_row_values(runs, k, "metrics") for k in metric_keys],
    }


async def compare(request: Request) -> Response:
    """GET: the compare view's data for ``run_ids``."""
    ids = id_list(request.query_params.get("run_ids"), "runs", MAX_COMPARE)
    return JSONResponse(compare_data(client_of(request), ids))


def run_data(client: MlflowClient, run_id: str) -> dict[str, Any]:
    """Everything the run page shows except artifacts and metric histories."""
    run = client.get_run(run_id)
    info = run.info
    exp = client.get_experiment(info.experiment_id)
    children = client.search_runs([info.experiment_id], f"tags.`{PARENT_TAG}` = '{info.run_id}'", ViewType.ALL,
                                  MAX_PAGE_SIZE)
    end = info.end_time if info.end_time is not None else (int(time.time() * 1000) if info.status == "RUNNING"
                                                            else None)
    return {
        "run": run_row(run),
        "experiment_name": exp.name,
        "artifact_uri": info.artifact_uri,
        "duration_ms": None if end is None else end - info.start_time,
        "note": run.data.tags.get(NOTE_TAG, ""),
        "params": sorted(run.data.params.items()),
        "metrics": [[k, number(v)] for k, v in sorted(run.data.metrics.items())],
        "tags": sorted((k, v) for k, v in run.data.tags.items() if k != NOTE_TAG),
        "children": [run_row(c) for c in children],
    }


async def run(request: Request) -> Response:
    """GET: the run page's data."""
    return JSONResponse(run_data(client_of(request), request.path_params["run_id"]))


async def set_note(request: Request) -> Response:
    """POST ``{note}``: set the run's description (``mlflow.note.content``)."""
    require_writable(request)
    body = await json_body(request)
    client_of(request).set_tag(request.path_params["run_id"], NOTE_TAG, _str_field(body, "note"))
    return JSONResponse({})


async def metrics_bulk(request: Request) -> Response:
    """Downsampled histories: ``{"series": [{run_id, key, steps, timestamps, values}]}`` (non-finite values null)."""
    q = request.query_params
    ids = id_list(q.get("run_ids"), "runs", MAX_COMPARE)
    keys = id_list(q.get("keys"), "metrics") or None
    try:
        max_points = int(q.get("max_points", "1000"))
    except ValueError as e:
        raise InvalidParameterValue(f"max_points must be an integer, got {q.get('max_points')!r}.") from e
    if not 2 <= max_points <= 100_000:
        raise InvalidParameterValue(f"max_points must be between 2 and 100000, got {max_points}.")
    return JSONResponse({"series": metric_series(client_of(request), ids, keys, max_points)})


def metric_series(client: MlflowClient, run_ids: list[str], keys: list[str] | None,
                  max_points: int) -> list[dict[str, Any]]:
    """Histories downsampled to ``max_points`` per series, one ``{run_id, key, steps, timestamps, values}``
    per run and metric (non-finite values None, which charts draw as gaps)."""
    table = client.get_metric_history_bulk(run_ids, keys, max_points)
    cols = [table.column(c).to_pylist() for c in ("run_id", "key", "step", "timestamp", "value")]
    series: list[dict[str, Any]] = []
    current: tuple[str, str] | None = None
    for rid, key, step, ts, value in zip(*cols):
        if (rid, key) != current:
            current = (rid, key)
            series.append({"run_id": rid, "key": key, "steps": [], "timestamps": [], "values": []})
        s = series[-1]
        s["steps"].append(step)
        s["timestamps"].append(ts)
        s["values"].append(value if math.isfinite(value) else None)
    return series


# ------------------------------------------------------------------ artifacts


def artifact_path(text: str | None) -> str:
    """A relative artifact path; absolute paths, ``..``, backslashes and still-encoded separators are refused."""
    path = text or ""
    parts = [p for p in path.split("/") if p]
    if ("\x00" in path or "\\" in path or path.startswith("/") or _ENCODED_SEPARATORS.search(path)
            or any(p in (".", "..") for p in parts) or (parts and ":" in parts[0])):
        raise InvalidParameterValue(
            f"Invalid artifact path {path!r}: it must be relative and stay inside the run's artifact folder.")
    return "/".join(parts)


def _local_root(run: Run) -> Path | None:
    uri = run.info.artifact_uri
    if "://" in uri and not uri.startswith("file://"):
        return None
    return Path(uri.removeprefix("file://")).resolve()


def _inside(root: Path, rel: str) -> Path:
    """The real path of ``rel`` under ``root``; a symlink leading out of the root is refused."""
    target = (root / rel).resolve()
    if target != root and root not in target.parents:
        raise InvalidParameterValue(f"Invalid artifact path {rel!r}: it leads out of the run's artifact folder.")
    return target


def _confined(root: Path, rel: str) -> Path:
    """Like :func:`_inside`, and the artifact must exist."""
    target = _inside(root, rel)
    if not target.exists():
        raise ResourceNotFound(f"No artifact at {rel!r} in this run.")
    return target


@dataclass
class _Fetched:
    """An artifact as a local file or folder, with the temp folder to remove afterwards (remote stores)."""

    path: Path
    cleanup: str | None

    def remove(self) -> None:
        if self.cleanup is not None:
            shutil.rmtree(self.cleanup, ignore_errors=True)


def _fetch(client: MlflowClient, run_id: str, rel: str) -> _Fetched:
    run = client.get_run(run_id)
    root = _local_root(run)
    if root is not None:
        return _Fetched(_confined(root, rel), None)
    tmp = tempfile.mkdtemp(prefix="lite_tracker-ui-")
    try:
        return _Fetched(Path(client.download_artifacts(run.info.run_id, rel, tmp)), tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


_ARTIFACT_HEADERS = {"Content-Security-Policy": "sandbox"}  # an HTML artifact opened directly runs nothing


async def artifacts(request: Request) -> Response:
    """GET: the files and folders directly under ``path`` in a run's artifacts."""
    rel = artifact_path(request.query_params.get("path"))
    client = client_of(request)
    run = client.get_run(request.path_params["run_id"])
    root = _local_root(run)
    if root is not None:
        _inside(root, rel)
    files = client.list_artifacts(run.info.run_id, rel or None)
    return JSONResponse({"path": rel, "files": [{"path": f.path, "is_dir": f.is_dir, "file_size": f.file_size}
                                                for f in files]})


async def artifact_file(request: Request) -> Response:
    """One artifact file: raster images inline (for previews), anything else as a download."""
    rel = artifact_path(request.query_params.get("path"))
    if not rel:
        raise InvalidParameterValue("path must name an artifact file; use /zip for a folder.")
    fetched = _fetch(client_of(request), request.path_params["run_id"], rel)
    if fetched.path.is_dir():
        fetched.remove()
        raise InvalidParameterValue(f"{rel!r} is a folder: download it with /zip.")
    image = _IMAGE_TYPES.get(fetched.path.suffix.lower())
    inline = image is not None and request.query_params.get("download") != "1"
    return FileResponse(fetched.path, media_type=image if inline else "application/octet-stream",
                        filename=None if inline else os.path.basename(rel), headers=_ARTIFACT_HEADERS,
                        background=BackgroundTask(fetched.remove))


def _zip_folder(folder: Path, root_name: str, out: str) -> None:
    real = folder.resolve()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for dirpath, _, names in os.walk(folder):
            for name in sorted(names):
                f = Path(dirpath) / name
                if real not in f.resolve().parents:
                    raise InvalidParameterValue(f"{f.name!r} is a link out of the artifact folder; not zipped.")
                z.write(f, str(Path(root_name) / f.relative_to(folder)))


async def artifact_zip(request: Request) -> Response:
    """A folder of artifacts (the whole run's if ``path`` is empty) as a zip file."""
    rel = artifact_path(request.query_params.get("path"))
    run_id = request.path_params["run_id"]
    fetched = _fetch(client_of(request), run_id, rel)
    fd, out = tempfile.mkstemp(prefix="lite_tracker-ui-", suffix=".zip")
    os.close(fd)

    def cleanup() -> None:
        fetched.remove()
        os.unlink(out)

    name = os.path.basename(rel) or f"{run_id}-artifacts"
    try:
        if not fetched.path.is_dir():
            raise InvalidParameterValue(f"{rel!r} is a file: download it with /file.")
        _zip_folder(fetched.path, name, out)
    except BaseException:
        cleanup()
        raise
    return FileResponse(out, media_type="application/zip", filename=f"{name}.zip", headers=_ARTIFACT_HEADERS,
                        background=BackgroundTask(cleanup))


def preview(path: Path, rel: str) -> dict[str, Any]:
    """What the artifact browser shows for a file: text, pretty JSON, CSV rows, an image, or nothing."""
    suffix = path.suffix.lower()
    size = path.stat().st_size
    out: dict[str, Any] = {"path": rel, "size": size}
    if suffix in _IMAGE_TYPES:
        return {**out, "kind": "image"}
    with open(path, "rb") as f:
        data = f.read(PREVIEW_BYTES)
    truncated = size > len(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        if not (truncated and e.start >= len(data) - 3):  # only a character cut by the preview limit is fine
            return {**out, "kind": "binary"}
        text = data[:e.start].decode("utf-8")
    if suffix == ".json" and not truncated:
        try:
            return {**out, "kind": "json", "text": json.dumps(json.loads(text), indent=2), "truncated": False}
        except ValueError:
            pass
    if suffix in (".csv", ".tsv"):
        rows = list(csv.reader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ","))
        return {**out, "kind": "csv", "rows": rows[:PREVIEW_ROWS],
                "truncated": truncated or len(rows) > PREVIEW_ROWS}
    if "\x00" in text:
        return {**out, "kind": "binary"}
    return {**out, "kind": "text", "text": text, "truncated": truncated}


async def artifact_preview(request: Request) -> Response:
    """GET: a preview of one artifact file (see :func:`preview`)."""
    rel = artifact_path(request.query_params.get("path"))
    if not rel:
        raise InvalidParameterValue("path must name an artifact file.")
    fetched = _fetch(client_of(request), request.path_params["run_id"], rel)
    try:
        if fetched.path.is_dir():
            raise InvalidParameterValue(f"{rel!r} is a folder.")
        return JSONResponse(preview(fetched.path, rel))
    finally:
        fetched.remove()


# ------------------------------------------------------------------ models


def _version_row(mv: Any) -> dict[str, Any]:
    return {"name": mv.name, "version": mv.version, "current_stage": mv.current_stage, "run_id": mv.run_id,
            "source": mv.source, "description": mv.description or "", "tags": mv.tags, "aliases": mv.aliases,
            "creation_timestamp": mv.creation_timestamp, "last_updated_timestamp": mv.last_updated_timestamp,
            "user_id": mv.user_id, "status": mv.status}


def models_data(client: MlflowClient) -> list[dict[str, Any]]:
    """Registered models with their latest version per stage, aliases, tags and descriptions."""
    found: list[RegisteredModel] = []
    token = None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        found.extend(page)
        token = page.token
        if token is None:
            break
    return [{"name": m.name, "description": m.description or "", "tags": m.tags, "aliases": m.aliases,
             "creation_timestamp": m.creation_timestamp, "last_updated_timestamp": m.last_updated_timestamp,
             "latest_versions": [_version_row(v) for v in m.latest_versions]} for m in found]


def model_data(client: MlflowClient, name: str, store: str) -> dict[str, Any]:
    """One registered model with every version, each version's stage-transition history and the commands that
    serve it (``--store store``: the store as the page header shows it)."""
    m = client.get_registered_model(name)
    quoted = name.replace("'", "''")
    versions = client.search_model_versions(f"name = '{quoted}'", order_by=["version_number DESC"])
    rows = []
    for mv in versions:
        row = _version_row(mv)
        row["history"] = [{"from_stage": t.from_stage, "to_stage": t.to_stage, "user_id": t.user_id,
                           "timestamp": t.timestamp}
                          for t in client.get_model_version_stage_history(name, mv.version)]
        row["serve"] = list(serve_commands(mv, store).values())
        rows.append(row)
    return {"name": m.name, "description": m.description or "", "tags": m.tags, "aliases": m.aliases,
            "creation_timestamp": m.creation_timestamp, "last_updated_timestamp": m.last_updated_timestamp,
            "versions": rows, "stages": list(ModelVersionStages.ALL_STAGES)}


async def models(request: Request) -> Response:
    """GET: every registered model."""
    return JSONResponse({"registered_models": models_data(client_of(request))})


async def model(request: Request) -> Response:
    """GET: one registered model (``name``) with its versions and their stage history."""
    name = request.query_params.get("name")
    if not name:
        raise InvalidParameterValue("name is required.")
    return JSONResponse(model_data(client_of(request), name, request.app.state.store_label))


def _version_field(body: dict[str, Any]) -> int:
    version = body.get("version")
    if isinstance(version, str) and version.isdigit():
        return int(version)
    if type(version) is not int:
        raise InvalidParameterValue("'version' must be a version number.")
    return version


async def transition_stage(request: Request) -> Response:
    """POST ``{name, version, stage, archive_existing_versions}``: move a version to a stage."""
    require_writable(request)
    body = await json_body(request)
    mv = client_of(request).transition_model_version_stage(
        _str_field(body, "name"), _version_field(body), _str_field(body, "stage"),
        archive_existing_versions=bool(body.get("archive_existing_versions", False)))
    return JSONResponse({"model_version": _version_row(mv)})


async def set_alias(request: Request) -> Response:
    """POST ``{name, alias, version}``: point an alias at a version (set or move)."""
    require_writable(request)
    body = await json_body(request)
    client_of(request).set_registered_model_alias(_str_field(body, "name"), _str_field(body, "alias"),
                                                  _version_field(body))
    return JSONResponse({})


async def delete_alias(request: Request) -> Response:
    """POST ``{name, alias}``: delete an alias."""
    require_writable(request)
    body = await json_body(request)
    client_of(request).delete_registered_model_alias(_str_field(body, "name"), _str_field(body, "alias"))
    return JSONResponse({})


async def set_description(request: Request) -> Response:
    """The description of a model (no ``version``) or of one of its versions."""
    require_writable(request)
    body = await json_body(request)
    name, text = _str_field(body, "name"), _str_field(body, "description")
    if body.get("version") is None:
        client_of(request).update_registered_model(name, description=text)
    else:
        client_of(request).update_model_version(name, _version_field(body), description=text)
    return JSONResponse({})


routes = [
    Route("/experiments", experiments),
    Route("/experiments/create", create_experiment, methods=["POST"]),
    Route("/experiments/{experiment_id}/rename", rename_experiment, methods=["POST"]),
    Route("/experiments/{experiment_id}/delete", delete_experiment, methods=["POST"]),
    Route("/experiments/{experiment_id}/restore", restore_experiment, methods=["POST"]),
    Route("/columns", columns),
    Route("/runs", runs),
    Route("/runs.csv", runs_csv),
    Route("/runs/delete", delete_runs, methods=["POST"]),
    Route("/runs/restore", restore_runs, methods=["POST"]),
    Route("/compare", compare),
    Route("/metrics/bulk", metrics_bulk),
    Route("/runs/{run_id}", run),
    Route("/runs/{run_id}/note", set_note, methods=["POST"]),
    Route("/runs/{run_id}/artifacts", artifacts),
    Route("/runs/{run_id}/artifacts/file", artifact_file),
    Route("/runs/{run_id}/artifacts/zip", artifact_zip),
    Route("/runs/{run_id}/artifacts/preview", artifact_preview),
    Route("/models", models),
    Route("/model", model),
    Route("/model/stage", transition_stage, methods=["POST"]),
    Route("/model/alias", set_alias, methods=["POST"]),
    Route("/model/alias/delete", delete_alias, methods=["POST"]),
    Route("/model/description", set_description, methods=["POST"]),
]


def mounts() -> list[Mount]:
    """The JSON API under ``/api/lite``."""
    return [Mount(PREFIX, routes=routes)]
