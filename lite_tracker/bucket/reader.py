"""A read-only store over a shared bucket: ``MlflowClient("s3://bucket/prefix")`` answers queries over
everyone's committed pushes, with no local store and no pull.

The reader loads the ``pushes`` Delta table (at most every ``REFRESH_SECONDS``); when its version
changed, it downloads the data files of each event table's snapshot it has not read yet into an
in-memory DuckDB (``raw_<table>``), checks each new push's rows like local input, and refolds the state
tables from the rows of the pushes it accepted (``ev_<table>``) with the same fold SQL the local store
uses. Rows count once their push's row is in ``pushes``, so a push in progress is never half visible;
``as_of`` (a version of ``pushes`` or a time) shows the team's state at that point.
Experiments are merged by name: the oldest experiment id of a name stands for all of them
(its runs and tags include those of the other ids). Every write raises :class:`InvalidState`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidParameterValue, InvalidState
from ..settings import Settings
from ..store.catalog import fold_sql, keep_after_fork
from ..store.connection import connect
from ..store.duckdb_store import DuckDBStore
from ..store.segments import BY_EVENTS, EXPERIMENTS, TABLES, SeqClock, TableSpec
from . import delta
from .delta import PUSH, PUSHES, STORE
from .objects import Bucket, concat_events
from .untrusted import Push, push_tables, read_files, read_pushes, skip_push

if TYPE_CHECKING:
    import duckdb

REFRESH_SECONDS = 2.0


def read_only_message(url: str) -> str:
    return (f"{url} is a read-only view of a shared bucket. Log to a local store, then share with "
            f"`lite-tracker sync push {url}` (or lite_tracker.sync.push).")


class BucketReader:
    """Read sessions over the committed data in one bucket (thread-safe), at ``as_of`` (a version of
    the ``pushes`` table or a time) if given."""

    def __init__(self, url: str, as_of: int | datetime | None = None) -> None:
        self.bucket = Bucket(url)
        self.as_of = as_of
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._reset()

    def _reset(self) -> None:
        self._version: int | None = None
        self._files: dict[str, set[str]] = {spec.events: set() for spec in TABLES}
        self._broken: list[tuple[str, int | None, int | None, str]] = []  # store, _push range, why
        self._decided: set[tuple[str, int]] = set()
        self._checked = 0.0

    @contextmanager
    def session(self, metrics: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection over the bucket's tables, read again if the last read is a few seconds old
        (``metrics`` is the local reader's: the bucket's tables are read whole either way)."""
        with self._lock:
            con = self._connection()
            if time.monotonic() - self._checked > REFRESH_SECONDS:
                with self.bucket.errors("reading"):
                    self._refresh(con)
                self._checked = time.monotonic()
            yield con

    def refresh(self) -> None:
        """Read new pushes now (queries do this by themselves every few seconds)."""
        with self._lock, self.bucket.errors("reading"):
            self._refresh(self._connection())
            self._checked = time.monotonic()

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            con = connect()
            con.execute("CREATE TABLE good (store VARCHAR, push BIGINT)")
            for spec in TABLES:
                cols = ", ".join(f"{c} {t}" for c, t in spec.columns)
                con.execute(f"CREATE TABLE raw_{spec.events} ({cols}, {STORE} VARCHAR, {PUSH} BIGINT)")
                con.execute(f"CREATE VIEW ev_{spec.events} AS SELECT {', '.join(f'r.{c}' for c in spec.column_names)} "
                            f"FROM raw_{spec.events} r SEMI JOIN good g ON r.{STORE} = g.store AND r.{PUSH} = g.push")
            self._con = con
            self._fold(con)
        return self._con

    def _refresh(self, con: duckdb.DuckDBPyConnection) -> None:
        if self.as_of is not None and self._version is not None:
            return  # a past state does not change
        if self._version is None:  # first read: a missing bucket is named as such, as push and pull do
            self.bucket.check()
        pushes_dt = delta.load(self.bucket.url, PUSHES, self.as_of)
        if pushes_dt is None or pushes_dt.version() == self._version:
            return
        new = [p for p in read_pushes(self.bucket, pushes_dt) if (p.store, p.number) not in self._decided]
        if new:
            con.execute("BEGIN TRANSACTION")
            try:
                for spec in TABLES:
                    self._load_files(con, spec)
                for p in new:
                    self._decide(con, p)
                self._fold(con)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        self._version = pushes_dt.version()

    def _load_files(self, con: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
        """Bring the table's raw rows up to its current snapshot (all again after a compaction)."""
        import pyarrow as pa

        dt = delta.load(self.bucket.url, spec.events)
        if dt is None:
            return
        entries = delta.files(dt)
        seen = self._files[spec.events]
        if not seen <= {f.path for f in entries}:  # files were rewritten (optimize): read the table again
            con.execute(f"DELETE FROM raw_{spec.events}")
            seen.clear()
        entries = [f for f in entries if f.path not in seen]
        for f, (got, _) in zip(entries, read_files(self.bucket, spec.events, entries)):
            seen.add(f.path)
            try:
                if isinstance(got, Exception):
                    raise got
                rows = concat_events(spec.events, [got])
                assert rows is not None
                rows = rows.append_column(STORE, pa.array([f.store] * got.num_rows, pa.string()))
                rows = rows.append_column(PUSH, got.column(PUSH).cast(pa.int64()))
            except (pa.ArrowException, KeyError, OSError, ValueError, InvalidParameterValue) as e:
                self._broken.append((f.store, f.lo, f.hi, f"its data file tables/{spec.events}/{f.path} cannot be "
                                                           f"read ({type(e).__name__}: {e})."))
                continue
            con.register("new_rows", rows)
            con.execute(f"INSERT INTO raw_{spec.events} SELECT * FROM new_rows")
            con.unregister("new_rows")

    def _decide(self, con: duckdb.DuckDBPyConnection, p: Push) -> None:
        """Check one push's rows like local input; count them in (``good``) or skip it with a warning."""
        self._decided.add((p.store, p.number))
        try:
            for store, lo, hi, why in self._broken:
                if store == p.store and (lo is None or lo <= p.number) and (hi is None or p.number <= hi):
                    raise InvalidParameterValue(why)
            parts = {}
            for name, spec in BY_EVENTS.items():  # every table: rows the row does not list count in too
                cols = ", ".join(spec.column_names)
                parts[name] = [con.sql(f"SELECT {cols} FROM raw_{name} WHERE {STORE} = ? AND {PUSH} = ?",
                                       params=[p.store, p.number]).to_arrow_table()]
            found = {name: t.num_rows for name, t in push_tables(parts).items() if t.num_rows}
            if found != {name: n for name, n in p.tables.items() if n and name in BY_EVENTS}:
                raise InvalidParameterValue(f"its row lists {p.tables} rows per table, its data files hold {found}.")
        except InvalidParameterValue as e:
            skip_push(self.bucket, p.store, p.number, e.message)
            return
        con.execute("INSERT INTO good VALUES (?, ?)", [p.store, p.number])

    @staticmethod
    def _fold(con: duckdb.DuckDBPyConnection) -> None:
        """(Re)build the public tables from the event tables, experiments merged by name."""
        con.execute(
            f"CREATE OR REPLACE TABLE exp_alias AS SELECT experiment_id, first_value(experiment_id) OVER "
            f"(PARTITION BY name ORDER BY creation_time NULLS LAST, experiment_id) AS canonical "
            f"FROM ({fold_sql(EXPERIMENTS, 'ev_' + EXPERIMENTS.events)})"
        )
        for spec in TABLES:
            source = f"ev_{spec.events}"
            if "experiment_id" in spec.column_names and spec is not EXPERIMENTS:
                source = (f"(SELECT e.* REPLACE (coalesce(a.canonical, e.experiment_id) AS experiment_id) "
                          f"FROM {source} e LEFT JOIN exp_alias a ON a.experiment_id = e.experiment_id)")
            cols = ", ".join(spec.state_columns)
            where = " WHERE experiment_id IN (SELECT canonical FROM exp_alias)" if spec is EXPERIMENTS else ""
            con.execute(f"CREATE OR REPLACE TABLE {spec.state} AS SELECT {cols} FROM ({fold_sql(spec, source)}){where}")
        for spec in TABLES:  # the event history under the store's table names (metrics: every point)
            con.execute(f"CREATE OR REPLACE VIEW {spec.events} AS SELECT {', '.join(spec.column_names)} "
                        f"FROM ev_{spec.events}")

    def canonical_experiment(self, experiment_id: str) -> str:
        with self.session() as con:
            rows = con.execute("SELECT canonical FROM exp_alias WHERE experiment_id = ?", [experiment_id]).fetchall()
        return str(rows[0][0]) if rows else experiment_id

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
            self._reset()

    def after_fork_in_child(self) -> None:
        """In a forked child: leave the parent's connection untouched (see ``keep_after_fork``); the
        next session downloads the commits again into the child's own."""
        if self._con is not None:
            keep_after_fork(self._con)
        self._lock = threading.Lock()
        self._con = None
        self._reset()


def split_as_of(url: str) -> tuple[str, int | datetime | None]:
    """``s3://bucket/prefix?as_of=12`` (or ``?as_of=2026-11-30T12:00:00Z``) -> the bucket URL and the point
    in time to read it at (a version of the ``pushes`` table, or a time); no query: the latest state."""
    from urllib.parse import parse_qs

    base, _, query = url.partition("?")
    if not query:
        return base.rstrip("/"), None
    params = parse_qs(query.replace("+", "%2B"))  # a '+' is a time zone's sign, not a space
    if set(params) != {"as_of"} or len(params["as_of"]) != 1:
        raise InvalidParameterValue(f"Invalid bucket URL {url!r}: the only query it takes is ?as_of=VERSION|TIME.")
    return base.rstrip("/"), delta.parse_as_of(params["as_of"][0])


class _NoLiveness:
    """Runs in a bucket are never probed for liveness: their status is what their store pushed."""

    def __init__(self, url: str) -> None:
        self.url = url

    def is_dead(self, run_id: str) -> bool:
        return False

    def hold(self, run_id: str, timeout: float = 10.0) -> None:
        raise InvalidState(read_only_message(self.url))

    def release(self, run_id: str) -> None:
        return None


class BucketStore(DuckDBStore):
    """The store behind a read-only bucket client: DuckDBStore's queries over a :class:`BucketReader`."""

    def __init__(self, url: str) -> None:  # no local files: DuckDBStore.__init__ is not called
        base, as_of = split_as_of(url)
        self.url = base
        self.settings = Settings(store_path=Path("/nonexistent/bucket.duckdb"), artifact_root=f"{self.url}/artifacts",
                                 remote_uri=url.rstrip("/"))
        self.reader = BucketReader(self.url, as_of)  # type: ignore[assignment]
        self.liveness = _NoLiveness(self.url)  # type: ignore[assignment]
        self.clock = SeqClock()
        self._compactor = None

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise InvalidState(read_only_message(self.url))

    write = create_experiment = update_experiment = _refuse

    @property
    def layout(self) -> Any:  # type: ignore[override]
        """There are no local files (and no locks) to write under: writes that need them are refused."""
        raise InvalidState(read_only_message(self.url))

    def compact(self) -> None:
        return None

    def pending_count(self) -> int:
        return 0

    def start_compactor(self) -> None:
        return None

    def stop_compactor(self, timeout: float = 5.0) -> None:
        return None

    def after_fork_in_child(self) -> None:
        self.reader.after_fork_in_child()
        self.clock.after_fork_in_child()


class _ReadOnlyBuffer:
    def __init__(self, url: str) -> None:
        self.url = url

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def after_fork_in_child(self) -> None:
        return None

    def _refuse(self, *_: Any, **__: Any) -> None:
        raise InvalidState(read_only_message(self.url))

    add_metric = add_metrics = add_events = _refuse


class BucketBackend:
    """What a client needs of a backend (store, buffer, caches), for a bucket."""

    def __init__(self, url: str) -> None:
        self.store = BucketStore(url)
        self.settings = self.store.settings
        self.buffer = _ReadOnlyBuffer(self.store.url)
        self.runs: dict[str, Any] = {}
        self.experiments: dict[str, Any] = {}
        self.read_only = read_only_message(self.store.url)

    def close(self) -> None:
        self.store.reader.close()

    def after_fork_in_child(self) -> None:
        self.store.after_fork_in_child()


_backends: dict[str, BucketBackend] = {}
_backends_lock = threading.Lock()


def bucket_backend(url: str) -> BucketBackend:
    """The shared read-only backend of one bucket URL in this process."""
    from .._remote import endpoint_url

    key = f"{endpoint_url() or ''} {url.rstrip('/')}"
    with _backends_lock:
        b = _backends.get(key)
        if b is None:
            b = _backends[key] = BucketBackend(url)
        return b


def _reset_after_fork() -> None:
    global _backends_lock
    _backends_lock = threading.Lock()
    for b in _backends.values():
        b.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
