"""Process state of the fluent API: the active-run stack (a ContextVar, so each thread and asyncio
task has its own), the chosen tracking URI and experiment, and the hooks that end runs when the
process exits, crashes or gets SIGTERM."""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import MlflowClient
    from .fluent import ActiveRun

log = logging.getLogger(__name__)

active_runs: ContextVar[tuple[ActiveRun, ...]] = ContextVar("lite_tracker_active_runs", default=())


@dataclass
class FluentState:
    """What ``set_tracking_uri``/``set_experiment`` chose, and the runs the fluent API started."""

    tracking_uri: str | None = None
    experiment_id: str | None = None
    last_run_id: str | None = None
    client: MlflowClient | None = None
    started: dict[str, MlflowClient] = field(default_factory=dict)
    exit_status: str = "FINISHED"
    hooks_installed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


state = FluentState()


def end_started_runs(status: str) -> None:
    """End every run the fluent API started and did not end yet (at exit or on a signal)."""
    for run_id, client in reversed(list(state.started.items())):
        try:
            client.set_terminated(run_id, status)
        except Exception as e:  # the process is going down: report, go on with the others
            log.error("lite_tracker: could not end run %s: %s", run_id, e)
        state.started.pop(run_id, None)
        state.last_run_id = run_id
    active_runs.set(())


def install_hooks() -> None:
    """Once per process: atexit ends open runs (FINISHED, or FAILED/KILLED after an uncaught
    exception or Ctrl-C), and SIGTERM ends them KILLED before the process dies."""
    with state.lock:
        if state.hooks_installed:
            return
        state.hooks_installed = True
    atexit.register(lambda: end_started_runs(state.exit_status))
    previous_hook = sys.excepthook

    def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        state.exit_status = "KILLED" if issubclass(kind, KeyboardInterrupt) else "FAILED"
        previous_hook(kind, value, tb)

    sys.excepthook = excepthook
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGTERM)
        if previous is not signal.SIG_IGN:
            signal.signal(signal.SIGTERM, _on_sigterm(previous))


def _on_sigterm(previous: Any) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        end_started_runs("KILLED")
        if callable(previous):
            previous(signum, frame)
        else:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    return handler


def _reset_after_fork() -> None:
    # A forked child does not own its parent's runs: it must not end them at its exit.
    state.started = {}
    state.lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
