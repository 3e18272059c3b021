"""Run the web UI with uvicorn (``lite-tracker ui``)."""

from __future__ import annotations

import secrets
import sys

import uvicorn

from .app import create_app

LOOPBACK = frozenset(("127.0.0.1", "localhost", "::1"))


def choose_token(host: str, token: str | None, no_token: bool) -> str | None:
    """The token the server requires: the given one; a new random one when listening beyond this machine
    (unless ``no_token``); none on loopback.

    Example:
        >>> choose_token("127.0.0.1", None, False) is None
        True
    """
    if token is not None:
        return token
    if no_token or host in LOOPBACK:
        return None
    return secrets.token_urlsafe(32)


def serve(store: str, host: str, port: int, *, read_only: bool, token: str | None) -> None:
    """Serve the UI and API for ``store`` until interrupted; print where to open it on stderr."""
    app = create_app(store, read_only=read_only, token=token)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    mode = " (read-only)" if app.state.read_only else ""
    print(f"lite-tracker ui: serving {app.state.client.tracking_uri}{mode}\n"
          f"    open {url}\n    Ctrl-C stops.", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
