"""Process state of the fluent API: the chosen experiment, the cached client, and the runs the
fluent API started (the hooks that end them live in :mod:`.fluent`). The chosen tracking URI is kept
in the environment (``LITE_TRACKER_URI``), as MLflow does, so clients and subprocesses see it."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from .client import MlflowClient


@dataclass
class FluentState:
    """What ``set_experiment`` chose, and the runs the fluent API started."""

    experiment_id: str | None = None
    tracking_uri: str | None = None  # as given to set_tracking_uri, returned by get_tracking_uri
    registry_uri: str | None = None
    client: MlflowClient | None = None
    started: dict[str, MlflowClient] = field(default_factory=dict)
    exit_status: str = "FINISHED"
    hooks_installed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


state = FluentState()


def _reset_after_fork() -> None:
    # A forked child does not own its parent's runs: it must not end them at its exit.
    state.started = {}
    state.lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
