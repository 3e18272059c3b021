"""WriteBuffer: the per-process, per-store buffer between the client and the store.

Logging calls append to in-memory columns and return; one daemon thread flushes them to a pending
segment every ``flush_interval`` seconds or when ``flush_max_points`` points wait. ``flush()`` (and
``end_run``, and interpreter exit) writes synchronously, so what it covered is durable when it returns.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from .store.duckdb_store import DuckDBStore
from .store.segments import BY_EVENTS, METRICS

log = logging.getLogger(__name__)

_BACKPRESSURE = 20  # times flush_max_points buffered: the logging call flushes itself


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
        self._clear()

    def _clear(self) -> None:
        self._m_run: list[str] = []
        self._m_key: list[str] = []
        self._m_value: list[float] = []
        self._m_ts: list[int] = []
        self._m_step: list[int] = []
        self._events: dict[str, list[tuple[Any, ...]]] = {}

    # ------------------------------------------------------------ the hot path

    def add_metric(self, run_id: str, key: str, value: float, timestamp: int, step: int) -> None:
        """Buffer one validated metric point."""
        with self._lock:
            self._m_run.append(run_id)
            self._m_key.append(key)
            self._m_value.append(value)
            self._m_ts.append(timestamp)
            self._m_step.append(step)
            n = len(self._m_run)
        self._after_add(n)

    def add_metrics(self, run_id: str, keys: list[str], values: list[float], timestamps: list[int],
                    steps: list[int]) -> None:
        """Buffer validated metric points of one run, given as parallel columns."""
        with self._lock:
            self._m_run.extend([run_id] * len(keys))
            self._m_key.extend(keys)
            self._m_value.extend(values)
            self._m_ts.extend(timestamps)
            self._m_step.extend(steps)
            n = len(self._m_run)
        self._after_add(n)

    def add_events(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        """Buffer rows of an event table (runs, params, tags, ...) in its column order."""
        with self._lock:
            self._events.setdefault(table, []).extend(rows)
        self._after_add(0)

    def _after_add(self, n: int) -> None:
        if self._thread is None:
            self._start()
        if n >= self._max:
            if n >= self._max * _BACKPRESSURE:
                self.flush()
            else:
                self._wake.set()

    # ------------------------------------------------------------ flushing

    def flush(self) -> None:
        """Write everything buffered so far; durable when this returns."""
        with self._flush_lock:
            with self._lock:
                metrics = (self._m_run, self._m_key, self._m_value, self._m_ts, self._m_step)
                events = self._events
                self._clear()
            batches = {
                table: {name: [r[i] for r in rows] for i, name in enumerate(BY_EVENTS[table].column_names)}
                for table, rows in events.items()
            }
            if metrics[0]:
                batches[METRICS.events] = dict(zip(METRICS.column_names, metrics))
            try:
                self._store.write(batches)
            except BaseException:
                self._restore(metrics, events)
                raise

    def _restore(self, metrics: tuple[list[Any], ...], events: dict[str, list[tuple[Any, ...]]]) -> None:
        """Put back what a failed flush took (segment names are fresh, so a retry never doubles)."""
        with self._lock:
            for old, new in zip(metrics, (self._m_run, self._m_key, self._m_value, self._m_ts, self._m_step)):
                new[:0] = old
            for table, rows in events.items():
                self._events[table] = rows + self._events.get(table, [])

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._loop, name="lite_tracker-flusher", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while not self._stopped:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception as e:  # data stays buffered; the next tick retries
                log.warning("lite_tracker: background flush failed, will retry: %s", e)

    def close(self) -> None:
        """Final flush; stop the flusher thread."""
        self._stopped = True
        self._wake.set()
        self.flush()

    def after_fork_in_child(self) -> None:
        """Drop the parent's buffered data (the parent writes it) and its thread."""
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        self._stopped = False
        self._clear()

