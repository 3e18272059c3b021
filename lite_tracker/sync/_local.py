"""The local store's side of sync: its id, what is new since the last push, and ingesting pulled events.

Incremental tracking uses DuckDB row ids. The store's event tables are append-only, so the rows of
each table are numbered densely in the order they were compacted, and "new since the last push" is
``rowid >= hwm`` where the high-water mark ``hwm`` per table is recorded in that table's Delta log in the
bucket, as the version of this store's application transaction (the bucket is the source of truth;
nothing to lose locally). Pulled events are appended by
:meth:`LocalStore.ingest` while it holds the compaction lock, so they get one contiguous row-id range
per table; those ranges are recorded (``sync_pulled``) in the same transaction and never pushed back.

Sync keeps three small tables in the store file, created on first use: ``sync_meta`` (the store id),
``sync_pulled`` (row-id ranges of pulled events) and ``sync_cursor`` (per bucket and teammate store,
the last push pulled; ``sync_meta`` also keeps the version of the bucket's ``pushes`` table last read),
plus ``sync_experiment_map`` (teammates' experiment ids mapped by name) and
``sync_origin`` (the store whose commit first brought each pulled experiment, run and registered model;
see :meth:`LocalStore.owners`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .._ids import time_sortable_hex
from ..errors import LockTimeout, SyncError
from ..store import catalog
from ..store.connection import connect
from ..store.locks import exclusive
from ..store.segments import RUNS, TABLES

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from ..tracking.client import MlflowClient

_SYNC_DDL = (
    "CREATE TABLE IF NOT EXISTS sync_meta (key VARCHAR, value VARCHAR)",
    "CREATE TABLE IF NOT EXISTS sync_pulled (tbl VARCHAR, lo BIGINT, hi BIGINT)",
    "CREATE TABLE IF NOT EXISTS sync_cursor (remote VARCHAR, store VARCHAR, last_commit BIGINT)",
    "CREATE TABLE IF NOT EXISTS sync_experiment_map (remote VARCHAR, experiment_id VARCHAR, local_id VARCHAR)",
    "CREATE TABLE IF NOT EXISTS sync_origin (tbl VARCHAR, id VARCHAR, store VARCHAR)",
)
# Objects a pulled commit may create or change, by the event table that creates them and its id column.
OBJECT_TABLES = (("experiment_events", "experiment_id"), ("run_events", "run_id"),
                 ("registered_model_events", "model_id"))
THIS_STORE = ""  # the owner of objects created here
UNKNOWN_TEAMMATE = "*"  # the owner of objects pulled before origins were recorded


class LocalStore:
    """Sync's access to one local store (through the client that owns it in this process)."""

    def __init__(self, client: MlflowClient) -> None:
        self.client = client
        self.store = client._store
        self.layout = self.store.layout
        self.settings = self.store.settings

    def settle(self, timeout: float = 30.0) -> int:
        """Flush this process's buffer and fold pending segments into the DuckDB file; return how many
        segments are still pending (another process's compaction may be holding the lock)."""
        self.client.flush()
        deadline = time.monotonic() + timeout
        while True:
            self.store.compact()
            left = self.store.pending_count()
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.05)

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.store.rw.read():
            con = connect(self.layout.db_path, read_only=True)
            try:
                yield con
            finally:
                con.close()

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection while holding the compaction lock (no compaction interleaves)."""
        timeout = self.settings.lock_timeout
        try:
            with exclusive(self.layout.locks / "compact.lock", timeout, "compaction lock"), self.store.rw.write():
                con = connect(self.layout.db_path)
                try:
                    for ddl in _SYNC_DDL:
                        con.execute(ddl)
                    yield con
                finally:
                    con.close()
        except LockTimeout as e:
            raise SyncError(f"The local store is busy: {e.message}") from e

    @staticmethod
    def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
        return {r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'main'").fetchall()}

    def store_id(self, create: bool = True) -> str | None:
        """This store's id in shared buckets (32 hex), created on first use."""
        with self.read() as con:
            if "sync_meta" in self._tables(con):
                rows = con.execute("SELECT value FROM sync_meta WHERE key = 'store_id'").fetchall()
                if rows:
                    return str(rows[0][0])
        if not create:
            return None
        with self.write() as con:
            rows = con.execute("SELECT value FROM sync_meta WHERE key = 'store_id'").fetchall()
            if rows:
                return str(rows[0][0])
            new = time_sortable_hex()
            con.execute("INSERT INTO sync_meta VALUES ('store_id', ?)", [new])
            return new

    # ------------------------------------------------------------ push side

    def new_rows(self, hwm: dict[str, int]) -> tuple[dict[str, pa.Table], dict[str, int], list[tuple[str, str]]]:
        """Rows appended since ``hwm`` per event table, minus pulled ranges; the new high-water marks;
        and ``(run_id, artifact_uri)`` of the runs whose artifacts live in a local folder, written
        locally (not pulled)."""
        with self.read() as con:
            present = self._tables(con)
            pulled: dict[str, list[tuple[int, int]]] = {}
            foreign_runs: set[str] = set()
            if "sync_pulled" in present:
                for tbl, lo, hi in con.execute("SELECT tbl, lo, hi FROM sync_pulled ORDER BY lo").fetchall():
                    pulled.setdefault(tbl, []).append((int(lo), int(hi)))
            out: dict[str, pa.Table] = {}
            marks: dict[str, int] = {}
            for spec in TABLES:
                if spec.events not in present:
                    continue
                end = _next_rowid(con, spec.events)
                start = int(hwm.get(spec.events, 0))
                marks[spec.events] = max(end, start)
                if end <= start:
                    continue
                # gc keeps purged runs' event rows in a store that syncs: only their lifecycle goes up (a
                # teammate who has the run sees it deleted), never their data
                kept = "TRUE" if spec is RUNS else catalog.purged_filter(spec)
                parts = [con.sql(f"SELECT {', '.join(spec.column_names)} FROM {spec.events} "
                                 f"WHERE rowid >= {a} AND rowid < {b} AND {kept}").to_arrow_table()
                         for a, b in _subtract((start, end), pulled.get(spec.events, []))]
                parts = [p for p in parts if p.num_rows]
                if parts:
                    import pyarrow as pa

                    out[spec.events] = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
            runs: list[tuple[str, str]] = []
            if "runs" in present:
                if "sync_pulled" in present and "run_events" in pulled:
                    where = " OR ".join(f"(rowid >= {lo} AND rowid < {hi})" for lo, hi in pulled["run_events"])
                    foreign_runs = {r[0] for r in con.execute(
                        f"SELECT DISTINCT run_id FROM run_events WHERE {where}").fetchall()}
                for run_id, uri in con.execute("SELECT run_id, artifact_uri FROM runs").fetchall():
                    if uri and _is_local(uri) and run_id not in foreign_runs:
                        runs.append((run_id, uri.removeprefix("file://")))
        return out, marks, runs

    # ------------------------------------------------------------ pull side

    def cursors(self, remote: str) -> dict[str, int]:
        with self.read() as con:
            if "sync_cursor" not in self._tables(con):
                return {}
            return {s: int(n) for s, n in con.execute(
                "SELECT store, max(last_commit) FROM sync_cursor WHERE remote = ? GROUP BY store", [remote]
            ).fetchall()}

    def pulled_version(self, remote: str) -> int | None:
        """The version of the bucket's ``pushes`` table read by the last pull from ``remote``."""
        with self.read() as con:
            if "sync_meta" not in self._tables(con):
                return None
            rows = con.execute("SELECT value FROM sync_meta WHERE key = ?", [f"pulled_version {remote}"]).fetchall()
        return int(rows[0][0]) if rows else None

    def experiment_names(self) -> tuple[dict[str, str], dict[str, str]]:
        """Local experiments as name -> id, and the remembered id mapping of teammates' experiments."""
        with self.read() as con:
            names = {n: i for i, n in con.execute("SELECT experiment_id, name FROM experiments").fetchall()}
            mapped: dict[str, str] = {}
            if "sync_experiment_map" in self._tables(con):
                mapped = dict(con.execute("SELECT experiment_id, local_id FROM sync_experiment_map").fetchall())
        return names, mapped

    def owners(self, ids: dict[str, set[str]]) -> dict[str, dict[str, str]]:
        """Who owns the objects ``ids`` (per table of :data:`OBJECT_TABLES`) that exist here.

        An object belongs to the store that first wrote it: :data:`THIS_STORE` if its first event was
        written here, else the store recorded in ``sync_origin`` when a pull brought it
        (:data:`UNKNOWN_TEAMMATE` for objects pulled before origins were recorded). Objects not here
        are left out."""
        out: dict[str, dict[str, str]] = {}
        with self.read() as con:
            present = self._tables(con)
            pulled: dict[str, list[tuple[int, int]]] = {}
            origin: dict[tuple[str, str], str] = {}
            if "sync_pulled" in present:
                for tbl, lo, hi in con.execute("SELECT tbl, lo, hi FROM sync_pulled").fetchall():
                    pulled.setdefault(tbl, []).append((int(lo), int(hi)))
            if "sync_origin" in present:
                origin = {(t, i): s for t, i, s in con.execute("SELECT tbl, id, store FROM sync_origin").fetchall()}
            for table, column in OBJECT_TABLES:
                wanted = sorted(ids.get(table, ()))
                if not wanted or table not in present:
                    continue
                found = out.setdefault(table, {})
                for oid, first in con.execute(f"SELECT {column}, min(rowid) FROM {table} "
                                              f"WHERE list_contains(?, {column}) GROUP BY {column}",
                                              [wanted]).fetchall():
                    if (table, oid) in origin:
                        found[oid] = origin[(table, oid)]
                    elif any(lo <= first < hi for lo, hi in pulled.get(table, ())):
                        found[oid] = UNKNOWN_TEAMMATE
                    else:
                        found[oid] = THIS_STORE
        return out

    def live_model_names(self) -> dict[str, str]:
        """Registered models not deleted, as name -> model id."""
        with self.read() as con:
            if "registered_models" not in self._tables(con):
                return {}
            return {n: i for i, n in con.execute(
                "SELECT model_id, name FROM registered_models WHERE deleted_timestamp IS NULL").fetchall()}

    def ingest(self, tables: dict[str, pa.Table], remote: str, cursors: dict[str, int],
               experiment_map: dict[str, str], origins: dict[tuple[str, str], str] | None = None,
               version: int | None = None) -> int:
        """Append pulled events in one transaction: fold them like compaction does, record their row-id
        ranges as pulled, the store each new object came from (``origins``: (table, id) -> store), and
        advance the cursors (the last push pulled per store, and ``version``, the ``pushes`` table's).
        Returns the number of rows."""
        rows = 0
        with self.write() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for spec in TABLES:
                    table = tables.get(spec.events)
                    if table is None or not table.num_rows:
                        continue
                    lo = _next_rowid(con, spec.events)
                    con.register("pulled_rows", table)
                    n = catalog.fold_events(con, spec, f"SELECT {', '.join(spec.column_names)} FROM pulled_rows")
                    con.unregister("pulled_rows")
                    con.execute("INSERT INTO sync_pulled VALUES (?, ?, ?)", [spec.events, lo, lo + n])
                    rows += n
                for store, number in cursors.items():
                    con.execute("DELETE FROM sync_cursor WHERE remote = ? AND store = ?", [remote, store])
                    con.execute("INSERT INTO sync_cursor VALUES (?, ?, ?)", [remote, store, number])
                if version is not None:
                    key = f"pulled_version {remote}"
                    con.execute("DELETE FROM sync_meta WHERE key = ?", [key])
                    con.execute("INSERT INTO sync_meta VALUES (?, ?)", [key, str(version)])
                for eid, local in experiment_map.items():
                    con.execute("DELETE FROM sync_experiment_map WHERE experiment_id = ?", [eid])
                    con.execute("INSERT INTO sync_experiment_map VALUES (?, ?, ?)", [remote, eid, local])
                for (table, oid), store in (origins or {}).items():
                    con.execute("INSERT INTO sync_origin VALUES (?, ?, ?)", [table, oid, store])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return rows

    def runs_with_artifacts_at(self, prefix: str) -> list[tuple[str, str, str]]:
        """``(run_id, experiment_id, artifact_uri)`` of runs whose artifacts are under ``prefix``."""
        with self.read() as con:
            return [(r, e, u) for r, e, u in con.execute(
                "SELECT run_id, experiment_id, artifact_uri FROM runs WHERE starts_with(artifact_uri, ?)",
                [prefix + "/"]).fetchall()]


def _next_rowid(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """The row id the next appended row gets (event tables are append-only, so row ids are dense)."""
    return int(con.execute(f"SELECT coalesce(max(rowid) + 1, 0) FROM {table}").fetchall()[0][0])


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def _subtract(span: tuple[int, int], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``[a, b)`` outside every ``[lo, hi)`` in ``holes`` (sorted by ``lo``)."""
    a, b = span
    out = []
    for lo, hi in holes:
        if hi <= a or lo >= b:
            continue
        if lo > a:
            out.append((a, lo))
        a = max(a, hi)
    if a < b:
        out.append((a, b))
    return out


def columns_of(table: Any) -> list[str]:
    return list(table.column_names)
