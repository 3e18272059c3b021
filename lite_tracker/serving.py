"""A local prediction server for a logged or registered model, speaking MLflow's scoring protocol.

``POST /invocations`` takes JSON with exactly one of ``dataframe_split``, ``dataframe_records``,
``instances`` or ``inputs`` (optionally ``params``) and answers ``{"predictions": [...]}``;
``GET /ping`` (and ``/health``) answers 200 once the model is loaded. A payload that cannot be read,
or that the model rejects, gets a 400 with ``{"error_code": "BAD_REQUEST", "message": ...}``.

Built on Starlette and uvicorn (the ``ui`` extra), imported only when a server is created.
"""

from __future__ import annotations

import json
import shlex
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .entities.model_registry import ModelVersion, ModelVersionStages
from .errors import BAD_REQUEST, InvalidParameterValue, LiteTrackerException

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from .models.model import Predictor

INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
MAX_BODY_BYTES = 64 * 1024 * 1024  # a larger request body is refused with 413 before it is read
MAX_JSON_DEPTH = 64  # nesting deeper than numpy's 64 dimensions is no model input: 400
_INSTALL_HINT = "Serving models needs Starlette and uvicorn: `pip install 'lite-tracker[ui]'`."


class BadRequest(InvalidParameterValue):
    """A scoring request the server cannot turn into model input."""

    default_code = BAD_REQUEST


def parse_payload(body: bytes | str) -> tuple[Any, dict[str, Any] | None]:
    """Turn a scoring request body into model input (DataFrame, numpy array or dict) and params.

    Args:
        body: The JSON request body.

    Returns:
        The model input and the ``params`` dict (None if absent).

    Raises:
        BadRequest: The body is not JSON, has not exactly one input key, or the input is malformed.

    Example:
        >>> data, _ = parse_payload('{"inputs": [[1, 2], [3, 4]]}')
        >>> data.shape
        (2, 2)
    """
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"Invalid input: the request body is not valid JSON ({e}).") from e
    except RecursionError as e:
        raise BadRequest(f"Invalid input: the JSON is nested deeper than {MAX_JSON_DEPTH} levels.") from e
    if _depth(payload) > MAX_JSON_DEPTH:
        raise BadRequest(f"Invalid input: the JSON is nested deeper than {MAX_JSON_DEPTH} levels.")
    if not isinstance(payload, dict):
        raise BadRequest(f"Invalid input: expected a JSON object with one of {', '.join(INPUT_KEYS)}.")
    keys = [k for k in INPUT_KEYS if k in payload]
    unknown = sorted(set(payload) - set(INPUT_KEYS) - {"params"})
    if len(keys) != 1 or unknown:
        raise BadRequest(
            f"Invalid input. The input must contain exactly one of {', '.join(INPUT_KEYS)} (and optionally "
            f"params); got keys {sorted(payload)}."
        )
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise BadRequest("Invalid input: params must be a JSON object.")
    key = keys[0]
    value = payload[key]
    try:
        if key == "dataframe_split":
            import pandas as pd

            if not isinstance(value, dict) or "data" not in value:
                raise BadRequest("dataframe_split must be an object with 'columns' and 'data' (and optional 'index').")
            return pd.DataFrame(value["data"], columns=value.get("columns"), index=value.get("index")), params
        if key == "dataframe_records":
            import pandas as pd

            if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
                raise BadRequest("dataframe_records must be a list of objects (one per row).")
            return pd.DataFrame.from_records(value), params
        return _tensor(value, key), params
    except BadRequest:
        raise
    except (ValueError, TypeError, AssertionError) as e:
        raise BadRequest(f"Invalid {key} payload: {e}") from e


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (iteratively: no recursion limit)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _tensor(value: Any, key: str) -> Any:
    import numpy as np

    if isinstance(value, dict):  # named tensors / columns
        return {k: np.asarray(v) for k, v in value.items()}
    if not isinstance(value, list):
        raise BadRequest(f"{key} must be a list (rows) or an object of named columns.")
    if value and all(isinstance(r, dict) for r in value):  # instances as records
        import pandas as pd

        return pd.DataFrame.from_records(value)
    try:
        array = np.asarray(value)
    except ValueError as e:  # ragged rows
        raise BadRequest(f"{key} rows must all have the same length and scalar values ({e}).") from e
    if array.dtype == object:
        raise BadRequest(f"{key} rows must all have the same length and scalar values.")
    return array


def predictions_json(result: Any) -> dict[str, Any]:
    """The response body for a model's output: ``{"predictions": ...}`` in plain JSON types.

    Example:
        >>> import numpy as np
        >>> predictions_json(np.array([1, 2]))
        {'predictions': [1, 2]}
    """
    if hasattr(result, "to_dict") and hasattr(result, "columns"):  # DataFrame
        return {"predictions": result.to_dict(orient="records")}
    if hasattr(result, "tolist"):  # numpy array or pandas Series
        return {"predictions": result.tolist()}
    if isinstance(result, dict):
        return {"predictions": {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in result.items()}}
    if isinstance(result, tuple):
        result = list(result)
    return {"predictions": result}


def create_app(model: Predictor, max_body_bytes: int = MAX_BODY_BYTES) -> Starlette:
    """A Starlette app serving ``model`` (anything with ``predict(data)``); request bodies over
    ``max_body_bytes`` get 413.

    Example:
        >>> app = create_app(lite_tracker.pyfunc.load_model("models:/iris/Production"))  # doctest: +SKIP
    """
    try:
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse, PlainTextResponse
        from starlette.routing import Route
    except ImportError as e:
        raise LiteTrackerException(_INSTALL_HINT, "INVALID_STATE") from e

    def error(status: int, message: str, code: str = BAD_REQUEST) -> Response:
        return JSONResponse({"error_code": code, "message": message}, status_code=status)

    async def ping(request: Request) -> Response:
        return PlainTextResponse("\n")

    async def invocations(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return error(415, f"Content type {content_type or 'none'!r} is not supported; send application/json.")
        body = await _read_body(request, max_body_bytes)
        if body is None:
            return error(413, f"The request body is larger than {max_body_bytes} bytes; send smaller batches.")
        try:
            data, params = parse_payload(body)
        except BadRequest as e:
            return error(400, e.message)
        try:
            result = model.predict(data, params) if params else model.predict(data)  # type: ignore[call-arg]
        except LiteTrackerException as e:
            return error(e.get_http_status_code(), e.message, e.error_code)
        except Exception as e:  # the model rejected this input: tell the caller, keep serving
            return error(400, f"Failed to predict: {type(e).__name__}: {e}")
        try:
            return JSONResponse(predictions_json(result))
        except (TypeError, ValueError) as e:
            return error(500, f"The model's output cannot be returned as JSON: {e}", "INTERNAL_ERROR")

    routes = [
        Route("/ping", ping, methods=["GET"]),
        Route("/health", ping, methods=["GET"]),
        Route("/invocations", invocations, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def serve(model_uri: str, host: str = "127.0.0.1", port: int = 5000, tracking_uri: str | None = None,
          on_ready: Callable[[], None] | None = None) -> None:
    """Load a model and serve it over HTTP until interrupted (blocks).

    Args:
        model_uri: ``models:/<name>/<version|stage|latest>``, ``models:/<name>@<alias>``,
            ``runs:/<run_id>/<path>`` or a model folder.
        host: Interface to listen on (default 127.0.0.1: this machine only).
        port: TCP port.
        tracking_uri: The store holding the model (default: the current one).
        on_ready: Called once the model is loaded and the port is bound, just before serving.

    Raises:
        LiteTrackerException: the model cannot be found or loaded, or the port cannot be bound.
    """
    try:
        import uvicorn
    except ImportError as e:
        raise LiteTrackerException(_INSTALL_HINT, "INVALID_STATE") from e
    from . import pyfunc
    from .tracking.fluent import set_tracking_uri

    if tracking_uri is not None:
        set_tracking_uri(tracking_uri)
    app = create_app(pyfunc.load_model(model_uri))
    try:
        sock = socket.create_server((host, port))
    except OSError as e:
        raise InvalidParameterValue(f"Cannot listen on {host}:{port}: {e.strerror or e}. "
                                    "Choose another --port or --host.") from e
    if on_ready is not None:
        on_ready()
    with sock:
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


def serve_commands(version: ModelVersion, store: str | None = None) -> dict[str, str]:
    """The shell commands that serve a registered model version, by the model URI each one serves.

    The first is pinned to this version; then one per alias and one for its stage (unless ``None``):
    those follow promotions, so a server restarted after moving the alias or stage serves the new version.

    Args:
        version: The model version (``MlflowClient.get_model_version``).
        store: The store holding it, added as ``--store`` (omit for the default store).

    Returns:
        Model URI -> ``lite-tracker models serve -m <uri> [--store <store>]``, quoted for a POSIX shell.

    Example:
        >>> mv = ModelVersion("iris", 3, 0, current_stage="Production", aliases=["champion"])
        >>> for command in serve_commands(mv).values():
        ...     print(command)
        lite-tracker models serve -m models:/iris/3
        lite-tracker models serve -m models:/iris@champion
        lite-tracker models serve -m models:/iris/Production
    """
    uris = [f"models:/{version.name}/{version.version}", *(f"models:/{version.name}@{a}" for a in version.aliases)]
    if version.current_stage != ModelVersionStages.NONE:
        uris.append(f"models:/{version.name}/{version.current_stage}")
    suffix = f" --store {shlex.quote(store)}" if store else ""
    return {uri: f"lite-tracker models serve -m {shlex.quote(uri)}{suffix}" for uri in uris}
