"""A read-only store over a shared bucket: ``MlflowClient("s3://bucket/prefix")`` answers queries over
everyone's committed pushes, with no local store and no pull.

The reader lists the commits (at most every ``REFRESH_SECONDS``), downloads the data files of commits it
has not seen into an in-memory DuckDB (event tables ``ev_<table>``), and refolds the state tables with
the same fold SQL the local store uses. Only committed files are read, so a push in progress is never
half visible. Experiments are merged by name: the oldest experiment id of a name stands for all of them
(its runs and tags include those of the other ids). Every write raises :class:`InvalidState`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidParameterValue, InvalidState
from ..settings import Settings
from ..store.catalog import fold_sql, keep_after_fork
from ..store.connection import connect
from ..store.duckdb_store import DuckDBStore
from ..store.segments import EXPERIMENTS, TABLES, SeqClock
from .objects import Bucket
from .untrusted import commit_tables, read_commits, read_tables, skip_commit

if TYPE_CHECKING:
    import duckdb

REFRESH_SECONDS = 2.0


def read_only_message(url: str) -> str:
    return (f"{url} is a read-only view of a shared bucket. Log to a local store, then share with "
            f"`lite-tracker sync push {url}` (or lite_tracker.sync.push).")


class BucketReader:
    """Read sessions over the committed data in one bucket (thread-safe)."""

    def __init__(self, url: str) -> None:
        self.bucket = Bucket(url)
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._seen: set[tuple[str, int]] = set()
        self._checked = 0.0

    @contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            con = self._connection()
            if time.monotonic() - self._checked > REFRESH_SECONDS:
                with self.bucket.errors("reading"):
                    self._refresh(con)
                self._checked = time.monotonic()
            yield con

    def refresh(self) -> None:
        """Read new commits now (queries do this by themselves every few seconds)."""
        with self._lock, self.bucket.errors("reading"):
            self._refresh(self._connection())
            self._checked = time.monotonic()

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            con = connect()
            for spec in TABLES:
                con.execute(f"CREATE TABLE ev_{spec.events} ({', '.join(f'{c} {t}' for c, t in spec.columns)})")
            self._con = con
            self._fold(con)
        return self._con

    def _refresh(self, con: duckdb.DuckDBPyConnection) -> None:
        import pyarrow as pa

        numbers = self.bucket.commit_numbers()
        wanted = [(s, n) for s, ns in sorted(numbers.items()) for n in ns if (s, n) not in self._seen]
        if not wanted:
            return
        commits = read_commits(self.bucket, wanted)
        parsed = read_tables(self.bucket, [f["path"] for c in commits for fl in c.files.values() for f in fl])
        by_table: dict[str, list[Any]] = {}
        for c in commits:
            try:
                tables = commit_tables(c, parsed)
            except InvalidParameterValue as e:
                skip_commit(self.bucket, c.store, c.number, e.message)
                continue
            for name, table in tables.items():
                by_table.setdefault(name, []).append(table)
        if by_table:
            con.execute("BEGIN TRANSACTION")
            try:
                for name, parts in by_table.items():
                    con.register("new_rows", pa.concat_tables(parts))
                    con.execute(f"INSERT INTO ev_{name} SELECT * FROM new_rows")
                    con.unregister("new_rows")
                self._fold(con)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        self._seen.update(wanted)

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
                self._seen = set()

    def after_fork_in_child(self) -> None:
        """In a forked child: leave the parent's connection untouched (see ``keep_after_fork``); the
        next session downloads the commits again into the child's own."""
        if self._con is not None:
            keep_after_fork(self._con)
        self._lock = threading.Lock()
        self._con = None
        self._seen = set()
        self._checked = 0.0


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
        self.url = url.rstrip("/")
        self.settings = Settings(store_path=Path("/nonexistent/bucket.duckdb"), artifact_root=f"{self.url}/artifacts",
                                 remote_uri=self.url)
        self.reader = BucketReader(self.url)  # type: ignore[assignment]
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
