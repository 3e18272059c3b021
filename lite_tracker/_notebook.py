"""``lite_tracker.show()``: the web UI inside a notebook, served from a background thread of this process.

The ``ui`` extra is imported only when ``show()`` is called, so ``import lite_tracker`` stays light. One
server per store runs for the life of the process, on a free loopback port; later calls reuse it. It is
read-only, because a notebook page of any origin has to frame it (the normal UI forbids framing), and it
prints nothing (uvicorn's access log and logging setup are off).
"""

from __future__ import annotations

import html
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from .errors import InvalidParameterValue, LiteTrackerException, ResourceNotFound
from .tracking.client import MlflowClient
from .tracking.fluent import get_tracking_uri

_START_TIMEOUT = 30.0
_servers: dict[str, tuple[Any, str]] = {}  # store -> (uvicorn server, base URL): one per store per process
_servers_lock = threading.Lock()


@dataclass(frozen=True)
class NotebookUI:
    """The UI embedded in a notebook: an iframe there, the URL elsewhere.

    Attributes:
        url: The page the iframe shows (open it in a browser outside notebooks).
        height: The iframe's height in pixels.
    """

    url: str
    height: int

    def _repr_html_(self) -> str:
        src = html.escape(self.url, quote=True)
        return (f'<iframe src="{src}" width="100%" height="{self.height}" style="border: 1px solid #dde3ea" '
                'title="lite_tracker UI"></iframe>')

    def __repr__(self) -> str:
        return f"lite_tracker UI (read-only) at {self.url}"


def show(store: str | None = None, experiment: str | None = None, height: int = 800) -> NotebookUI:
    """Show the web UI in a Jupyter notebook (the ``ui`` extra is needed).

    The first call for a store starts a read-only UI server in a background thread on a free port of
    127.0.0.1; later calls reuse it. The returned object displays as an iframe in a notebook and as its
    URL elsewhere.

    Args:
        store: The store to show (default: the current tracking URI).
        experiment: Open this experiment's runs (its name) instead of the experiments list.
        height: The iframe's height in pixels.

    Returns:
        A :class:`NotebookUI`; a notebook renders it as the UI.

    Raises:
        LiteTrackerException: The ui extra is not installed, or the server did not start.
        ResourceNotFound: No experiment has that name.
        InvalidParameterValue: ``height`` is not a positive integer.

    Example:
        >>> import lite_tracker as mlflow
        >>> mlflow.show(experiment="sweep")  # doctest: +SKIP
    """
    if type(height) is not int or height <= 0:
        raise InvalidParameterValue(f"height must be a positive number of pixels, got {height!r}.")
    try:
        import uvicorn

        from .ui import create_app
    except ImportError as e:
        raise LiteTrackerException(f"lite_tracker.show() needs the ui extra: `pip install 'lite-tracker[ui]'` "
                                   f"({e}).") from e
    client = MlflowClient(store if store is not None else get_tracking_uri())
    path = "/"
    if experiment is not None:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            raise ResourceNotFound(f"No experiment named {experiment!r} in {client.tracking_uri}.")
        path = f"/experiments/{exp.experiment_id}"
    with _servers_lock:
        if client.tracking_uri not in _servers:
            app = create_app(client.tracking_uri, read_only=True, embeddable=True)
            config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False)
            _servers[client.tracking_uri] = _start(uvicorn.Server(config))
        base = _servers[client.tracking_uri][1]
    return NotebookUI(base + path, height)


def _start(server: Any) -> tuple[Any, str]:
    """Run ``server`` in a daemon thread on a free loopback port; return it with its URL once it answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="lite_tracker-ui", daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            why = "stopped while starting (its error is on stderr)" if not thread.is_alive() else (
                f"did not start within {_START_TIMEOUT:.0f} s")
            raise LiteTrackerException(f"The UI server on 127.0.0.1:{port} {why}.")
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"
