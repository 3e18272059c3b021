"""WriteBuffer: the per-process, per-store buffer between the client and the store.

Logging calls append to in-memory columns and return; one daemon thread flushes them to a pending
segment every ``flush_interval`` seconds or when ``flush_max_points`` points wait. ``flush()`` (and
``end_run``, and interpreter exit) writes synchronously, so what it covered is durable when it returns.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from .duckdb_store import DuckDBStore
from .segments import BY_EVENTS, MetricChunk, warm_up

log = logging.getLogger(__name__)

_BACKPRESSURE = 20  # times flush_max_points buffered: the logging call flushes itself
_JOIN_TIMEOUT = 10.0  # seconds close() waits for the flusher thread to finish its last flush


class WriteBuffer:
    """Coalesces every ``log_*`` call of this process into few segment writes."""

    def __init__(self, store: DuckDBStore) -> None:
        self._store = store
        self._interval = store.settings.flush_interval
        self._max = store.settings.flush_max_points
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._forked = False  # whether this process is a fork of the one that made the buffer
        self._clear()

    def _clear(self) -> None:
        # Single points go to parallel columns; multi-point calls are kept as chunks and expanded
        # into the columns by the flusher, off the caller's path.
        self._m_run: list[str] = []
        self._m_key: list[str] = []
        self._m_value: list[float] = []
        self._m_ts: list[int] = []
        self._m_step: list[int] = []
        self._chunks: list[MetricChunk] = []
        self._points = 0
        self._woken = False
        self._events: dict[str, list[tuple[Any, ...]]] = {}

    # ------------------------------------------------------------ the hot path

    def add_metric(self, run_id: str, key: str, value: float, timestamp: int, step: int) -> None:
        """Buffer one validated metric point."""
        self._store.check_writable()
        with self._lock:
            self._m_run.append(run_id)
            self._m_key.append(key)
            self._m_value.append(value)
            self._m_ts.append(timestamp)
            self._m_step.append(step)
            self._points += 1
            n = self._points
        if self._thread is None or n >= self._max:
            self._after_add(n)

    def add_metrics(self, run_id: str, keys: list[str], values: list[float], timestamps: int | list[int],
                    steps: int | list[int]) -> None:
        """Buffer validated points of one run: parallel key and value lists, and per-point lists or one
        shared value for timestamps and steps."""
        self._store.check_writable()
        with self._lock:
            self._chunks.append((run_id, keys, values, timestamps, steps))
            self._points += len(keys)
            n = self._points
        if self._thread is None or n >= self._max:
            self._after_add(n)

    def add_events(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        """Buffer rows of an event table (runs, params, tags, ...) in its column order."""
        self._store.check_writable()
        with self._lock:
            self._events.setdefault(table, []).extend(rows)
        if self._thread is None:
            self._after_add(0)

    def _after_add(self, n: int) -> None:
        if self._thread is None:
            self.start()
        if n >= self._max * _BACKPRESSURE:
            self.flush()
        elif n >= self._max and not self._woken:
            self._woken = True
            self._wake.set()

    # ------------------------------------------------------------ flushing

    def flush(self) -> None:
        """Write everything buffered so far; durable when this returns."""
        with self._flush_lock:
            with self._lock:
                metrics: tuple[list[Any], ...] = (self._m_run, self._m_key, self._m_value, self._m_ts, self._m_step)
                chunks, events = self._chunks, self._events
                self._clear()
            batches = {
                table: {name: [r[i] for r in rows] for i, name in enumerate(BY_EVENTS[table].column_names)}
                for table, rows in events.items()
            }
            try:
                self._store.write(batches, (metrics, chunks))
            except BaseException:
                self._restore(metrics, chunks, events)
                raise

    def _restore(self, metrics: tuple[list[Any], ...], chunks: list[MetricChunk],
                 events: dict[str, list[tuple[Any, ...]]]) -> None:
        """Put back what a failed flush took (segment names are fresh, so a retry never doubles)."""
        with self._lock:
            current: tuple[list[Any], ...] = (self._m_run, self._m_key, self._m_value, self._m_ts, self._m_step)
            for old, new in zip(metrics, current):
                new[:0] = old
            self._chunks[:0] = chunks
            self._points += len(metrics[0]) + sum(len(c[1]) for c in chunks)
            for table, rows in events.items():
                self._events[table] = rows + self._events.get(table, [])

    def start(self) -> None:
        """Start the flusher thread (idempotent); it loads the Parquet writer at once, off the caller's path."""
        with self._lock:
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._loop, name="lite_tracker-flusher", daemon=True)
                self._thread.start()
                if self._forked:
                    _flush_at_process_exit(self)

    def _loop(self) -> None:
        warm_up()
        while not self._stopped:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception as e:  # data stays buffered; the next tick retries
                log.warning("lite_tracker: background flush failed, will retry: %s", e)

    def close(self) -> None:
        """Stop the flusher thread, waiting for it (interpreter exit kills a daemon thread wherever it
        is, which can abort the process inside native code), then flush what is left."""
        self._stopped = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT)
        self.flush()

    def after_fork_in_child(self) -> None:
        """Drop the parent's buffered data (the parent writes it), thread and locks; the child's first
        logging call starts its own flusher."""
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        self._stopped = False
        self._forked = True
        self._clear()


def _flush_at_process_exit(buffer: WriteBuffer) -> None:
    """A forked ``multiprocessing`` process (a ``Process``, a pool worker closed and joined) ends with
    ``os._exit`` after multiprocessing's own exit hooks, never running atexit: flush in those hooks."""
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        util.Finalize(None, buffer.flush, exitpriority=10)

