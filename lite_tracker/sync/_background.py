"""Periodic push in a background thread: never on the logging path, survives network outages."""

from __future__ import annotations

import atexit
import logging
import os
import threading

from ..errors import LiteTrackerException

log = logging.getLogger("lite_tracker.sync")

MIN_BACKOFF = 5.0


class BackgroundSync:
    """Push ``store`` to ``url`` every ``interval`` seconds from a daemon thread.

    A failed push is logged as a warning and retried after a backoff that doubles from
    ``min_backoff`` up to ``interval``; logging calls never wait for it.
    """

    def __init__(self, url: str, store: str | None, interval: float, push_at_exit: bool,
                 min_backoff: float = MIN_BACKOFF) -> None:
        self.url = url
        self.store = store
        self.interval = interval
        self.push_at_exit = push_at_exit
        self.min_backoff = min(min_backoff, interval)
        self.failures = 0
        self.pushes = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one push at a time (the loop, or the last push at exit)
        self._thread = threading.Thread(target=self._loop, name="lite_tracker-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def push_now(self) -> bool:
        """Push once; True on success (errors are logged, never raised)."""
        from . import push

        with self._lock:
            try:
                push(self.url, store=self.store)
            except (LiteTrackerException, OSError) as e:
                self.failures += 1
                self.last_error = str(e)
                log.warning("lite_tracker: background push to %s failed (attempt %d), will retry: %s",
                            self.url, self.failures, e)
                return False
            self.failures = 0
            self.last_error = None
            self.pushes += 1
            return True

    def _loop(self) -> None:
        wait = self.interval
        while not self._stop.wait(wait):
            if self.push_now():
                wait = self.interval
            else:
                wait = min(self.interval, self.min_backoff * 2 ** min(self.failures - 1, 16))

    def stop(self, final_push: bool, timeout: float = 60.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        if final_push:
            self.push_now()


_active: dict[str, BackgroundSync] = {}
_active_lock = threading.Lock()


def _forget_after_fork() -> None:
    """A forked child leaves the pushing to its parent (whose syncer thread it does not have)."""
    global _active_lock
    _active_lock = threading.Lock()
    _active.clear()


def enable(url: str, store: str | None, interval: float, push_at_exit: bool,
           min_backoff: float = MIN_BACKOFF) -> BackgroundSync:
    with _active_lock:
        old = _active.pop(url, None)
        if old is not None:
            old.stop(final_push=False)
        syncer = _active[url] = BackgroundSync(url, store, interval, push_at_exit, min_backoff)
    syncer.start()
    return syncer


def disable(url: str | None, final_push: bool) -> None:
    with _active_lock:
        stopping = [_active.pop(u) for u in list(_active) if url is None or u == url]
    for syncer in stopping:
        syncer.stop(final_push)


def _at_exit() -> None:
    with _active_lock:
        stopping = list(_active.values())
        _active.clear()
    for syncer in stopping:
        syncer.stop(final_push=syncer.push_at_exit)


def _register_at_exit() -> None:
    """Run the last push while the interpreter can still start threads: the S3 client needs a thread
    pool, which refuses work once ``atexit`` handlers run. ``threading``'s own exit hooks run earlier
    (last registered first, so before the thread pools shut down); plain ``atexit`` is the fallback."""
    import concurrent.futures.thread  # noqa: F401  (its exit hook must be registered before ours)

    hook = getattr(threading, "_register_atexit", None)
    if hook is None:
        atexit.register(_at_exit)
    else:
        hook(_at_exit)


_register_at_exit()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
