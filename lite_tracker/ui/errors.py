"""The one place where errors become HTTP answers: MLflow's error JSON ``{"error_code", "message"}``, or the
plain error page for a browser.

:class:`~lite_tracker.errors.LiteTrackerException` keeps its MLflow error code and gets the status
MLflow's server gives that code; Starlette's HTTP errors (unknown path, wrong method) get MLflow's
codes for them (a browser opening an unknown page gets the plain error page); anything else is logged
and answered with a generic 500 that carries no trace.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from ..errors import (
    _HTTP_STATUS,
    BAD_REQUEST,
    ENDPOINT_NOT_FOUND,
    INTERNAL_ERROR,
    LiteTrackerException,
    PermissionDenied,
)

_log = logging.getLogger(__name__)

# Starlette's HTTP errors -> MLflow's error codes (as MLflow's server names them).
_CODE_FOR_STATUS = {400: BAD_REQUEST, 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: ENDPOINT_NOT_FOUND,
                    405: ENDPOINT_NOT_FOUND, 413: "REQUEST_LIMIT_EXCEEDED", 429: "REQUEST_LIMIT_EXCEEDED"}


def status_for(error_code: str) -> int:
    """The HTTP status MLflow's server answers with for ``error_code`` (500 for unknown codes).

    Example:
        >>> status_for("RESOURCE_DOES_NOT_EXIST")
        404
    """
    return _HTTP_STATUS.get(error_code, 500)


def error_response(error_code: str, message: str, status: int | None = None) -> JSONResponse:
    """MLflow's error JSON, ``{"error_code": ..., "message": ...}``, with the code's status unless given.

    Example:
        >>> error_response("INVALID_PARAMETER_VALUE", "bad key").status_code
        400
    """
    return JSONResponse({"error_code": error_code, "message": message},
                        status_code=status if status is not None else status_for(error_code))


def error_html(status: int, message: str) -> str:
    """A plain error page (no template needed, so it works whatever failed).

    Example:
        >>> "<h1>Error 404</h1>" in error_html(404, "No run <x>")
        True
    """
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Error {status}</title>"
            "<link rel='stylesheet' href='/static/app.css'></head><body><main class='error'>"
            f"<h1>Error {status}</h1><p>{html.escape(message)}</p><p><a href='/'>Back to experiments</a></p>"
            "</main></body></html>")


def _wants_page(request: Request) -> bool:
    """A browser opening a page (not an API path): it should see an error page, not JSON."""
    return (request.method in ("GET", "HEAD") and not request.url.path.startswith(("/api/", "/ajax-api/"))
            and "text/html" in request.headers.get("accept", ""))


def require_writable(request: Request) -> None:
    """Refuse a state change when the server runs read-only (403 PERMISSION_DENIED).

    Raises:
        PermissionDenied: ``request.app.state.read_only`` is true.
    """
    if getattr(request.app.state, "read_only", True):
        raise PermissionDenied("This server is read-only: changes are refused. Start it without --read-only "
                               "on a local store to make changes.")


async def _lite_tracker_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LiteTrackerException)
    status = status_for(exc.error_code)
    if status >= 500:
        _log.error("%s %s failed: %s", request.method, request.url.path, exc)
    return error_response(exc.error_code, exc.message, status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    code = _CODE_FOR_STATUS.get(exc.status_code, BAD_REQUEST if exc.status_code < 500 else INTERNAL_ERROR)
    message = exc.detail if exc.status_code != 404 else f"No endpoint {request.method} {request.url.path}"
    if exc.status_code == 404 and _wants_page(request):
        return HTMLResponse(error_html(404, f"No page at {request.url.path}."), status_code=404)
    response = error_response(code, message, exc.status_code)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    _log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(INTERNAL_ERROR, "Internal server error; the server log has the details.", 500)


exception_handlers: dict[Any, Any] = {
    LiteTrackerException: _lite_tracker_error,
    HTTPException: _http_error,
    Exception: _unexpected_error,
}
