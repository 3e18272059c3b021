"""The ASGI app of ``lite-tracker ui``: pages, the ``/api/lite`` JSON twins, MLflow's REST API, static files,
and the security middleware in front of all of them.

Security: an optional token (``Authorization: Bearer``, or ``?token=`` on a page URL, which sets an
HttpOnly SameSite=Strict cookie); without a token only IP-address and localhost ``Host`` headers are
served (so a DNS-rebinding page cannot reach a local server under its own name); state changes must
come from the server's own origin when the browser says where they come from, and API writes must be
JSON (a cross-site form cannot send that without a preflight); read-only mode is enforced by
``errors.require_writable`` in each write handler.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import ipaddress
import secrets
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import InvalidParameterValue
from ..tracking.client import MlflowClient
from . import errors, lite_api, pages, rest

_COOKIE = "lite_tracker_token"
_WRITE_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))
_STATIC = Path(__file__).parent / "static"
# Defence in depth on every response: scripts only from this server (plotly's WebGL traces compile
# shaders with Function, hence 'unsafe-eval'; inline scripts stay blocked), no framing (clickjacking).
_CSP = (b"default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data: blob:; object-src 'none'; base-uri 'none'")
_HEADERS = [
    (b"content-security-policy", _CSP + b"; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
# The server of lite_tracker.show() is framed by a notebook page of unknown origin: the same headers minus the
# two that forbid framing (that server is read-only, so a page framing it cannot change anything).
_EMBEDDABLE_HEADERS = [(b"content-security-policy", _CSP), *_HEADERS[2:]]
PLOTLY_PATH = "/vendor/plotly.min.js"


def create_app(tracking_uri: str, *, read_only: bool = False, token: str | None = None,
               embeddable: bool = False) -> Starlette:
    """Build the web app over the store at ``tracking_uri`` (a local path or an ``s3://`` bucket, always
    read-only).

    Args:
        tracking_uri: The store to show.
        read_only: Refuse every state change with 403.
        token: When set, every request must carry it (see the module docstring).
        embeddable: Let other pages frame this one (a notebook's iframe); only with ``read_only``.

    Raises:
        InvalidParameterValue: ``embeddable`` without ``read_only``, or an empty ``token``.

    Example:
        >>> app = create_app("runs/lite_tracker.duckdb", read_only=True)  # doctest: +SKIP
    """
    if embeddable and not read_only:
        raise InvalidParameterValue("An embeddable UI must be read-only: framing by any page allows clickjacking.")
    if token is not None and not token.strip():
        raise InvalidParameterValue("An empty token would let in anyone who sends 'Authorization: Bearer ': give a "
                                    "token (--token), or none to have one generated on a non-loopback host.")
    client = MlflowClient(tracking_uri)
    app = Starlette(
        routes=[
            *rest.mounts(),
            *lite_api.mounts(),
            *pages.routes,
            Route(PLOTLY_PATH, _plotly),
            Mount("/static", StaticFiles(directory=_STATIC), name="static"),
        ],
        exception_handlers=errors.exception_handlers,
    )
    app.state.client = client
    app.state.read_only = read_only or tracking_uri.startswith("s3://")
    app.state.plotly_url = f"{PLOTLY_PATH}?v={_plotly_version()}"
    app.state.store_label = store_label(client.tracking_uri)
    app.add_middleware(SecurityMiddleware, token=token, embeddable=embeddable)
    return app


def store_label(tracking_uri: str) -> str:
    """The store as the page header shows it: relative to the working directory when the store is under it
    (no machine path on screen or in screenshots), else as given.

    Example:
        >>> store_label("s3://bucket/team")
        's3://bucket/team'
    """
    if "://" in tracking_uri:
        return tracking_uri
    path = Path(tracking_uri).resolve()
    cwd = Path.cwd().resolve()
    return str(path.relative_to(cwd)) if cwd in path.parents else tracking_uri


def _plotly_version() -> str:
    return importlib.metadata.version("plotly")


def plotly_bundle() -> bytes:
    """plotly.js as the installed ``plotly`` package ships it (no CDN)."""
    return (importlib.resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()


async def _plotly(request: Request) -> Response:
    """plotly.js from the installed ``plotly`` package (no CDN); cached for a year (the URL carries the version)."""
    data = plotly_bundle()
    return Response(data, media_type="text/javascript",
                    headers={"Cache-Control": "public, max-age=31536000, immutable"})


def _is_api(path: str) -> bool:
    return path.startswith(("/api/", "/ajax-api/"))


def _is_artifact_upload(request: Request) -> bool:
    """MLflow's client uploads an artifact as a PUT of the file's own bytes to the artifact proxy. A
    cross-site page cannot send a PUT without a CORS preflight, which this server never grants."""
    return request.method == "PUT" and request.url.path.startswith(
        ("/api/2.0/mlflow-artifacts/artifacts/", "/ajax-api/2.0/mlflow-artifacts/artifacts/"))


class SecurityMiddleware:
    """Token check, same-origin check on state changes, JSON-only API writes and security headers, for every
    route."""

    def __init__(self, app: ASGIApp, token: str | None, embeddable: bool = False) -> None:
        self.app = app
        self.token = token
        self.headers = _EMBEDDABLE_HEADERS if embeddable else _HEADERS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal, set_cookie = self._check(request)
        extra = list(self.headers)
        if set_cookie:
            cookie = f"{_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            extra.append((b"set-cookie", cookie.encode("latin-1")))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await (refusal or self.app)(scope, receive, send_with_headers)

    def _check(self, request: Request) -> tuple[Response | None, bool]:
        """A refusal response (or None) and whether to set the token cookie."""
        set_cookie = False
        if self.token is None and not _host_is_safe(request.headers.get("host", "")):
            return _refuse(request, 403, "PERMISSION_DENIED",
                           "Without a token this server answers only to IP addresses and localhost (a protection "
                           "against DNS rebinding); start it with --token to serve it under a host name."), False
        if self.token is not None:
            ok, set_cookie = self._token_ok(request)
            if not ok:
                return _refuse(request, 401, "UNAUTHENTICATED",
                               "A token is required: open the URL printed at start (…/?token=…), or send "
                               "'Authorization: Bearer <token>'."), False
        if request.method in _WRITE_METHODS:
            origin = request.headers.get("origin") or _referer_origin(request.headers.get("referer"))
            if origin is not None and origin != _own_origin(request):
                return _refuse(request, 403, "PERMISSION_DENIED",
                               f"Cross-origin request refused: {origin!r} is not this server's origin."), False
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if (request.method != "DELETE" and _is_api(request.url.path) and ctype != "application/json"
                    and not _is_artifact_upload(request)):
                return _refuse(request, 415, "BAD_REQUEST",
                               "State changes need a JSON body with 'Content-Type: application/json'."), False
        return None, set_cookie

    def _token_ok(self, request: Request) -> tuple[bool, bool]:
        assert self.token is not None
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and _same(auth[7:].strip(), self.token):
            return True, False
        cookie: SimpleCookie = SimpleCookie(request.headers.get("cookie", ""))
        if _COOKIE in cookie and _same(cookie[_COOKIE].value, self.token):
            return True, False
        given = request.query_params.get("token")
        if given is not None and request.method == "GET" and _same(given, self.token):
            return True, True
        return False, False


def _same(given: str, token: str) -> bool:
    """Constant-time comparison that also takes non-ASCII input (``compare_digest`` on str refuses it)."""
    return secrets.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode("utf-8"))


def _host_is_safe(host: str) -> bool:
    """True for an IP address or localhost: names a DNS-rebinding page could use are anything else."""
    if host.startswith("["):
        name = host[1:host.find("]")]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


def _referer_origin(referer: str | None) -> str | None:
    if not referer:
        return None
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}"


def _refuse(request: Request, status: int, code: str, message: str) -> Response:
    if _is_api(request.url.path):
        return JSONResponse({"error_code": code, "message": message}, status_code=status)
    return HTMLResponse(errors.error_html(status, message), status_code=status)

