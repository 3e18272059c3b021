"""Where LiteTrackerException and HTTP errors become JSON responses (one place for the whole HTTP layer)."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import LiteTrackerException

_log = logging.getLogger(__name__)
_STATUS = {"INVALID_PARAMETER_VALUE": 400, "BAD_REQUEST": 400, "RESOURCE_ALREADY_EXISTS": 400, "INVALID_STATE": 400,
           "RESOURCE_DOES_NOT_EXIST": 404, "PERMISSION_DENIED": 403}
_HTTP_CODES = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "ENDPOINT_NOT_FOUND",
               405: "BAD_REQUEST"}


class _PermissionDenied(LiteTrackerException):
    default_code = "PERMISSION_DENIED"


def status_for(error_code: str) -> int:
    """The HTTP status MLflow's server answers for an error code."""
    return _STATUS.get(error_code, 500)


def error_response(error_code: str, message: str, status: int | None = None) -> JSONResponse:
    """MLflow's error JSON: ``{"error_code": ..., "message": ...}``."""
    return JSONResponse({"error_code": error_code, "message": message},
                        status_code=status if status is not None else status_for(error_code))


async def _lite_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LiteTrackerException)
    return error_response(exc.error_code, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(_HTTP_CODES.get(exc.status_code, "INTERNAL_ERROR"), str(exc.detail), exc.status_code)


async def _internal_error(request: Request, exc: Exception) -> Response:
    _log.exception("Unhandled error on %s %s", request.method, request.url.path)
    return error_response("INTERNAL_ERROR", "Internal server error; the server log has the details.", 500)


exception_handlers: dict[Any, Any] = {
    LiteTrackerException: _lite_error,
    HTTPException: _http_error,
    Exception: _internal_error,
}


def require_writable(request: Request) -> None:
    """Refuse a state change with PERMISSION_DENIED (403) when the server is read-only."""
    if request.app.state.read_only:
        raise _PermissionDenied("This server is read-only (started with --read-only, or over a bucket).")
