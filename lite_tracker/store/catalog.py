"""The DuckDB side of a store: schema and migrations, the compactor, and read sessions.

- :func:`open_store` creates the DuckDB file on first use and migrates older formats in place, in one
  transaction, under the write lock; a file written by a newer version is refused.
- :func:`compact` folds pending segments into the DuckDB file: one transaction inserts the events,
  refolds the state of the keys they touch and records the file names in the ``compacted`` ledger;
  only then are the files deleted (a crash in between is repaired by the next compaction). It also
  marks RUNNING runs whose processes all died as KILLED. Events of purged runs and experiments (see
  ``purged_runs``, written by :mod:`.gc`) are dropped, so a late writer cannot bring them back.
- :class:`Reader` answers queries from a per-process in-memory DuckDB that attaches the store file
  read-only for the length of one query and unions in the pending segments, through views named as
  the public SQL tables (``experiments, experiment_tags, runs, params, tags, metrics, latest_metrics``).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import LockTimeout, StoreBusy, StoreCorrupt, StoreFormatError, StoreReadOnly
from .connection import connect, missing_store, os_store_error, patiently, read_only_error, store_error
from .layout import Layout
from .locks import RunLiveness, RWLock, exclusive, try_exclusive
from .segments import (
    DATASET_TABLES,
    EVENT_TABLES,
    EXPERIMENT_TAGS,
    EXPERIMENTS,
    METRICS,
    PARAMS,
    REGISTRY_TABLES,
    RUNS,
    SEGMENT_KINDS,
    TABLES,
    TAGS,
    TableSpec,
    schema_problem,
)

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

FORMAT_VERSION = 5
STALE_TMP_SECONDS = 3600.0
MAX_FILES_PER_COMPACTION = 5000
# A compaction folds in passes of about this many bytes of segments, each under the write lock, and lets
# waiting readers in between: readers wait for one pass (well under a second), not for a whole backlog.
PASS_BYTES = 4 << 20
DEFAULT_EXPERIMENT_ID = "0"


def _q(text: str) -> str:
    """A SQL string literal of one of our own paths."""
    return "'" + text.replace("'", "''") + "'"


def _ddl(name: str, columns: tuple[tuple[str, str], ...]) -> str:
    return f"CREATE TABLE {name} ({', '.join(f'{c} {t}' for c, t in columns)})"


def _match(keys: tuple[str, ...], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{k} = {right}.{k}" for k in keys)


def fold_sql(spec: TableSpec, source: str) -> str:
    """SELECT that folds the events in ``source`` into state rows (see segments.py for the rules)."""
    keys = ", ".join(spec.keys)
    if spec.merge == "partial":
        vals = ", ".join(f"arg_max({c}, seq) AS {c}" for c, _ in spec.values)
        return f"SELECT {keys}, {vals}, max(seq) AS seq FROM {source} GROUP BY {keys}"
    if spec.merge == "latest":
        return (
            f"SELECT * FROM (SELECT {keys}, arg_max_null(value, seq) AS value, max(seq) AS seq "
            f"FROM {source} GROUP BY {keys}) WHERE value IS NOT NULL"
        )
    if spec.merge == "first":
        return f"SELECT {keys}, arg_min(value, seq) AS value, min(seq) AS seq FROM {source} GROUP BY {keys}"
    return (
        "SELECT run_id, key, m.v AS value, m.t AS timestamp, m.s AS step FROM ("
        "SELECT run_id, key, max({'s': step, 't': timestamp, 'v': value}) AS m "
        f"FROM {source} GROUP BY run_id, key)"
    )


def _state_columns(spec: TableSpec) -> tuple[tuple[str, str], ...]:
    cols = tuple((k, "VARCHAR") for k in spec.keys) + spec.values
    return cols if spec.merge == "append" else cols + (("seq", "BIGINT"),)


# ---------------------------------------------------------------- schema and migrations

def _migrate_v1(con: duckdb.DuckDBPyConnection, artifact_root: str) -> None:
    """Events and state tables, the ledger, and the Default experiment."""
    con.execute("CREATE TABLE meta (key VARCHAR, value VARCHAR)")
    con.execute("CREATE TABLE compacted (file VARCHAR)")
    for spec in (EXPERIMENTS, EXPERIMENT_TAGS, RUNS, PARAMS, TAGS, METRICS):  # the tables of format 1
        con.execute(_ddl(spec.events, spec.columns))
        if spec.merge != "append":
            con.execute(_ddl(spec.state, _state_columns(spec)))
    now = int(time.time() * 1000)
    con.execute(
        "INSERT INTO experiment_events VALUES (?, 'Default', ?, 'active', ?, ?, 0)",
        [DEFAULT_EXPERIMENT_ID, f"{artifact_root.rstrip('/')}/{DEFAULT_EXPERIMENT_ID}", now, now],
    )
    con.execute("INSERT INTO experiments SELECT * FROM experiment_events")


def _migrate_v2(con: duckdb.DuckDBPyConnection, artifact_root: str) -> None:
    """The latest-value summary of metrics, so run search never scans metric history."""
    con.execute(_ddl(METRICS.state, _state_columns(METRICS)))
    con.execute(f"INSERT INTO latest_metrics {fold_sql(METRICS, 'metrics')}")


def _migrate_v3(con: duckdb.DuckDBPyConnection, artifact_root: str) -> None:
    """The model registry: models, versions, their tags, aliases and the stage-transition history."""
    for spec in REGISTRY_TABLES:
        con.execute(_ddl(spec.events, spec.columns))
        con.execute(_ddl(spec.state, _state_columns(spec)))


def _migrate_v4(con: duckdb.DuckDBPyConnection, artifact_root: str) -> None:
    """Dataset inputs of runs (``log_input``) and their tags."""
    for spec in DATASET_TABLES:
        con.execute(_ddl(spec.events, spec.columns))
        con.execute(_ddl(spec.state, _state_columns(spec)))


def _migrate_v5(con: duckdb.DuckDBPyConnection, artifact_root: str) -> None:
    """The ledger of runs and experiments deleted for good (``lite-tracker gc``): their events are
    dropped wherever they still turn up (a process that logged until the end, a pull from a bucket)."""
    con.execute("CREATE TABLE purged_runs (run_id VARCHAR, purge_time BIGINT)")
    con.execute("CREATE TABLE purged_experiments (experiment_id VARCHAR, purge_time BIGINT)")


MIGRATIONS: tuple[Callable[[Any, str], None], ...] = (_migrate_v1, _migrate_v2, _migrate_v3, _migrate_v4,
                                                      _migrate_v5)
assert len(MIGRATIONS) == FORMAT_VERSION


def read_version(con: duckdb.DuckDBPyConnection) -> int:
    """Format version recorded in the store (0 for an empty or half-created file)."""
    [(found,)] = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = 'meta'"
    ).fetchall()
    if not found:
        return 0
    rows = con.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchall()
    return int(rows[0][0]) if rows else 0


def migrate(con: duckdb.DuckDBPyConnection, artifact_root: str, target: int = FORMAT_VERSION) -> int:
    """Bring the store to ``target`` in one transaction; return the version found before.

    ``artifact_root`` is where a new store's Default experiment keeps its artifacts.
    """
    found = read_version(con)
    if found > FORMAT_VERSION:
        raise _too_new(found)
    if found >= target:
        return found
    con.execute("BEGIN TRANSACTION")
    try:
        for step in MIGRATIONS[found:target]:
            step(con, artifact_root)
        con.execute("DELETE FROM meta WHERE key = 'format_version'")
        con.execute("INSERT INTO meta VALUES ('format_version', ?)", [str(target)])
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
    return found


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back the open transaction after a failure, unless DuckDB already did: it ends the
    transaction itself on a failed COMMIT or a fatal I/O error (a full disk), and a second ROLLBACK
    would then replace the real cause with "cannot rollback - no transaction is active"."""
    import duckdb

    try:
        con.execute("ROLLBACK")
    except duckdb.Error as e:
        log.debug("lite_tracker: transaction already ended by DuckDB: %s", e)


_DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB file


def open_store(layout: Layout, rw: RWLock, artifact_root: str) -> StoreReadOnly | None:
    """Create or migrate the store file if needed; refuse a newer format, a file that is not a DuckDB
    store, and a missing file whose folder still holds data.

    Returns the error writes must raise when the store's folder is read-only (the store is then only
    read), else None. A file held read-write by another program is not an error here: logging goes on
    and queries and compaction say who holds it.
    """
    check_header(layout.db_path)
    exists = layout.db_path.exists()
    if not exists and holds_data(layout):
        raise missing_store(layout.db_path)
    fresh = not layout.sidecar.exists()
    read_only = _ensure_folders(layout)
    if exists:
        try:
            with rw.read():
                con = patiently(lambda: connect(layout.db_path, read_only=True))
                try:
                    version = read_version(con)
                finally:
                    con.close()
        except StoreBusy as e:
            log.warning("lite_tracker: %s", e.message)
            return read_only
        except StoreCorrupt:
            if fresh and read_only is None:  # the folder was made just now, for a file that is no store
                shutil.rmtree(layout.sidecar)
            raise
        if version == FORMAT_VERSION:
            return read_only
        if version > FORMAT_VERSION:
            raise _too_new(version)
    if read_only is not None:
        raise read_only
    with rw.write():
        con = connect(layout.db_path)
        try:
            migrate(con, artifact_root)
        finally:
            con.close()
    return None


def check_header(path: Path) -> None:
    """Refuse a non-empty file that is not a DuckDB database, before making any folder beside it."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except FileNotFoundError:
        return
    except OSError as e:
        raise store_error(e, path) from e
    if head and head[8:12] != _DUCKDB_MAGIC:
        raise StoreCorrupt(
            f"The file {str(path)!r} is not a DuckDB database, so not a lite_tracker store. Point the tracking "
            "URI to a new or existing store file (e.g. ./lite_tracker.duckdb); lite_tracker did not change it."
        )


def holds_data(layout: Layout) -> bool:
    """Whether the sidecar folder holds what only an existing store writes: pending or quarantined
    segments, run locks, artifacts."""
    folders = [layout.pending_dir(kind) for kind in SEGMENT_KINDS]
    folders += [layout.quarantine, layout.live, layout.default_artifact_root]
    for folder in folders:
        try:
            with os.scandir(folder) as entries:
                if any(True for _ in entries):
                    return True
        except FileNotFoundError:
            continue
    return False


def _ensure_folders(layout: Layout) -> StoreReadOnly | None:
    """Create the sidecar folders; the read-only error if the folder cannot be written."""
    try:
        layout.ensure(tuple(SEGMENT_KINDS))
    except OSError as e:
        err = os_store_error(e, layout.sidecar)
        if isinstance(err, StoreReadOnly):
            return err
        if err is None:
            raise
        raise err from e
    if not os.access(layout.pending_dir("events"), os.W_OK):
        return read_only_error(layout.sidecar, "no write permission")
    return None


def _require_current(con: duckdb.DuckDBPyConnection) -> None:
    version = read_version(con)
    if version > FORMAT_VERSION:
        raise _too_new(version)
    if version < FORMAT_VERSION:
        raise StoreFormatError(f"The store file has format version {version} but was opened as "
                               f"{FORMAT_VERSION}: it was replaced while in use. Open it again.")


def _too_new(version: int) -> StoreFormatError:
    return StoreFormatError(
        f"This store has format version {version}, written by a newer lite_tracker; this version reads "
        f"up to {FORMAT_VERSION}. Upgrade lite_tracker (pip install -U lite-tracker)."
    )


# ---------------------------------------------------------------- pending segments

# Every listing of the pending folders races with writers renaming temp files into them and with other
# processes compacting or quarantining what they list: a file that vanished in between is skipped.

def _quarantine(path: Path, quarantine: Path, reason: str) -> None:
    """Move a broken segment aside with a warning naming it (never delete data); skip it if another
    process compacted or moved it meanwhile."""
    try:
        os.replace(path, quarantine / f"{path.parent.name}-{path.name}")
    except FileNotFoundError:
        return
    except OSError as e:
        log.warning("lite_tracker: skipping unreadable segment %s (%s); could not move it to %s: %s",
                    path, reason, quarantine, e)
        return
    log.warning("lite_tracker: moved unreadable segment %s to %s (%s)", path, quarantine, reason)


def _check_segment(layout: Layout, name: str) -> bool:
    """Whether a pending segment's footer reads and its schema fits its kind; a file that fails is
    quarantined, one that vanished is skipped."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = layout.pending / name
    try:
        problem = schema_problem(name.split("/")[0], pq.read_schema(path))
    except FileNotFoundError:
        return False
    except (OSError, ValueError, pa.ArrowException) as e:
        problem = f"unreadable footer: {e}"
    if problem is None:
        return True
    _quarantine(path, layout.quarantine, problem)
    return False


class SegmentChecks:
    """The pending segments of one store known to pass :func:`_check_segment`, remembered by name
    (segments are immutable), so a process checks each file once; thread-safe."""

    def __init__(self, layout: Layout) -> None:
        self._layout = layout
        self._lock = threading.Lock()
        self._good: set[str] = set()

    def usable(self, names: list[str]) -> list[str]:
        """Those of ``names`` (of one kind, oldest first, as :func:`list_pending` lists them) whose
        footer and schema check out."""
        with self._lock:
            unknown = [n for n in names if n not in self._good]
        fresh = {n for n in unknown if _check_segment(self._layout, n)}
        with self._lock:
            if names:  # names sort by creation time: one older than the oldest pending is compacted
                kind = names[0].split("/")[0] + "/"
                self._good = {n for n in self._good if n >= names[0] or not n.startswith(kind)}
            self._good |= fresh
        failed = set(unknown) - fresh
        return [n for n in names if n not in failed]


def _load_readable(con: duckdb.DuckDBPyConnection, table: str, layout: Layout, names: list[str],
                   columns: tuple[tuple[str, str], ...], filename: bool = False) -> list[str]:
    """Load the named segments into a temp table in one read (with ``filename``, each row's file in a
    column ``filename``); return the names loaded (none: no table).

    If that read fails, each segment is read on its own: those that fail are quarantined (or skipped if
    they vanished) and the rest loaded again. An error that no single segment causes is raised.
    """
    import duckdb

    while names:
        try:
            _load_segments(con, table, [str(layout.pending / n) for n in names], columns, filename)
            return names
        except (duckdb.InterruptException, duckdb.OutOfMemoryException):
            raise  # an interrupted or starved read says nothing about the segments: quarantine none
        except duckdb.Error:
            readable = [n for n in names if _data_reads(con, layout, n)]
            if len(readable) == len(names):
                raise
            names = readable
    return []


def _data_reads(con: duckdb.DuckDBPyConnection, layout: Layout, name: str) -> bool:
    """Whether all of one segment's data reads; if not, it is quarantined (skipped if it vanished)."""
    import duckdb

    path = layout.pending / name
    try:
        con.sql("SELECT * FROM read_parquet(?)", params=[str(path)]).to_arrow_table()
        return True
    except (duckdb.InterruptException, duckdb.OutOfMemoryException):
        raise
    except duckdb.Error as e:
        _quarantine(path, layout.quarantine, f"unreadable data: {e}")
        return False


def list_pending(layout: Layout, kind: str) -> list[str]:
    """Names (``kind/file.parquet``) of complete segments of one kind, oldest first."""
    try:
        names = sorted(e.name for e in os.scandir(layout.pending_dir(kind)) if e.name.endswith(".parquet"))
    except FileNotFoundError:
        return []
    return [f"{kind}/{n}" for n in names]


def _sweep_stale_tmp(layout: Layout, kind: str) -> None:
    """Temp files left by writers killed mid-write are moved to quarantine after an hour."""
    cutoff = time.time() - STALE_TMP_SECONDS
    try:
        entries = [e for e in os.scandir(layout.pending_dir(kind)) if e.name.endswith(".tmp")]
    except FileNotFoundError:
        return
    for entry in entries:
        try:
            stale = entry.stat().st_mtime < cutoff
        except FileNotFoundError:
            continue  # its writer renamed it to its final name since the listing
        if stale:
            _quarantine(Path(entry.path), layout.quarantine, "temp file of a writer that died mid-write")


# ---------------------------------------------------------------- compaction

@dataclass(frozen=True)
class CompactionResult:
    """What one compaction did."""

    files: int
    rows: int
    killed_runs: tuple[str, ...]
    seconds: float


def compact(layout: Layout, rw: RWLock, liveness: RunLiveness, clock: Callable[[], int],
            write_timeout: float = 5.0, checks: SegmentChecks | None = None,
            opened: Callable[[duckdb.DuckDBPyConnection | None], None] | None = None) -> CompactionResult | None:
    """Fold the segments pending now into the DuckDB file; None if another process is compacting.

    Safe to run from any process at any time, and to kill at any point: the ledger makes each
    segment count exactly once. The work goes in passes of about ``PASS_BYTES``, each one transaction
    under the write lock, which is let go between passes so that queries are not held up by a backlog
    (if a pass after the first cannot get the lock within ``write_timeout``, the rest waits for the next
    compaction). Unreadable segments are quarantined; ``checks`` remembers the segments already
    checked (a reader's, shared). ``opened`` is given each pass's connection while it is open (then
    None), so that another thread can interrupt the compaction.
    """
    started = time.perf_counter()
    checks = checks or SegmentChecks(layout)
    files = rows = 0
    killed: tuple[str, ...] = ()
    with try_exclusive(layout.locks / "compact.lock") as got:
        if not got:
            return None
        upto = _pending_now(layout)
        more = True
        while more:
            try:
                with rw.write(timeout=write_timeout):
                    done, n, more, killed = _compaction_pass(layout, liveness, clock, checks, opened, upto)
            except LockTimeout:
                if files:
                    break
                raise
            files += done
            rows += n
    return CompactionResult(files, rows, killed, time.perf_counter() - started)


def _pending_now(layout: Layout) -> dict[str, str]:
    """The newest pending segment of each kind that has any: a compaction folds up to these, and
    segments written later wait for the next one (a steady stream of new segments cannot keep it, and
    its hold on the compaction lock, going for ever)."""
    return {kind: names[-1] for kind in SEGMENT_KINDS if (names := list_pending(layout, kind))}


def _compaction_pass(layout: Layout, liveness: RunLiveness, clock: Callable[[], int], checks: SegmentChecks,
                     opened: Callable[[duckdb.DuckDBPyConnection | None], None] | None,
                     upto: dict[str, str]) -> tuple[int, int, bool, tuple[str, ...]]:
    """One pass (the caller holds the compaction and write locks): (files, rows, whether segments up to
    ``upto`` are left, the runs found dead: looked for in the last pass only)."""
    import duckdb

    if not layout.db_path.exists():  # connecting would start an empty store over the pending data
        raise missing_store(layout.db_path)
    con = connect(layout.db_path)
    if opened is not None:
        opened(con)
    try:
        _require_current(con)
        _forget_compacted(con, layout)
        files, rows, more = _fold_pending(con, layout, checks, upto)
        killed = () if more else _reap_dead_runs(con, layout, liveness, clock, checks)
    except duckdb.Error as e:
        raise store_error(e, layout.db_path) from e
    finally:
        if opened is not None:
            opened(None)
        con.close()
    for name in files:
        try:
            os.unlink(layout.pending / name)
        except FileNotFoundError:
            pass
    return len(files), rows, more, killed


@contextmanager
def exclusive_session(layout: Layout, rw: RWLock, checks: SegmentChecks, timeout: float
                      ) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to the store file with the pending segments folded in, held under the
    compaction lock and the write lock (each waited for at most ``timeout`` seconds): for changes
    that no compaction, query or pull may interleave with (``gc``). The caller runs its own
    transaction."""
    import duckdb

    with exclusive(layout.locks / "compact.lock", timeout, "compaction lock"), rw.write(timeout=timeout):
        if not layout.db_path.exists():
            raise missing_store(layout.db_path)
        con = connect(layout.db_path)
        try:
            _require_current(con)
            upto = _pending_now(layout)
            more = True
            while more:  # each round is a compaction pass; its files go before the next round lists them
                _forget_compacted(con, layout)
                _, _, more = _fold_pending(con, layout, checks, upto)
            _forget_compacted(con, layout)
            yield con
        except duckdb.Error as e:
            raise store_error(e, layout.db_path) from e
        finally:
            con.close()


def _forget_compacted(con: duckdb.DuckDBPyConnection, layout: Layout) -> None:
    """Delete files a crashed compaction had committed but not yet removed, then clear the ledger."""
    names = [r[0] for r in con.execute("SELECT file FROM compacted").fetchall()]
    if not names:
        return
    for name in names:
        try:
            os.unlink(layout.pending / name)
        except FileNotFoundError:
            pass
    con.execute("DELETE FROM compacted")


def _fold_pending(con: duckdb.DuckDBPyConnection, layout: Layout, checks: SegmentChecks,
                  upto: dict[str, str]) -> tuple[list[str], int, bool]:
    """Fold the oldest pending segments (about ``PASS_BYTES``; of each kind, only those named up to
    ``upto``'s, see :func:`_pending_now`) in one transaction: (their names, rows, whether any of those
    were left for another pass)."""
    chosen: dict[str, list[str]] = {}
    budget, files, more = PASS_BYTES, MAX_FILES_PER_COMPACTION, False
    for kind in SEGMENT_KINDS:
        _sweep_stale_tmp(layout, kind)
        names = [n for n in list_pending(layout, kind) if kind in upto and n <= upto[kind]]
        chosen[kind] = []
        for name in names:
            try:
                size = (layout.pending / name).stat().st_size
            except FileNotFoundError:
                continue
            if files == 0 or (budget < PASS_BYTES and size > budget):  # the first file always goes
                more = True
                break
            chosen[kind].append(name)
            budget -= size
            files -= 1
    found: dict[str, list[str]] = {}
    for kind in SEGMENT_KINDS:  # loaded before the transaction: a failed read would abort it
        found[kind] = _load_readable(con, f"new_{kind}_segments", layout, checks.usable(chosen[kind]),
                                     SEGMENT_KINDS[kind])
    names = found["events"] + found["metrics"]
    if not names:
        return [], 0, more
    rows = 0
    con.execute("BEGIN TRANSACTION")
    try:
        if found["events"]:
            for spec in EVENT_TABLES:
                rows += _fold_table(con, spec, f"SELECT {', '.join(spec.column_names)} FROM new_events_segments "
                                               f"WHERE \"table\" = {_q(spec.events)}")
        if found["metrics"]:
            # A point logged twice in the segments folded together is stored once (MLflow's metric key
            # is the whole point); readers drop repeats across compactions (DuckDBStore.metric_history).
            rows += _fold_table(con, METRICS, f"SELECT DISTINCT {', '.join(METRICS.column_names)} "
                                              "FROM new_metrics_segments ORDER BY run_id, key, step")
        con.execute("INSERT INTO compacted SELECT unnest(?)", [names])
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
    return names, rows, more


def _load_segments(con: duckdb.DuckDBPyConnection, table: str, paths: list[str],
                   columns: tuple[tuple[str, str], ...] = (), filename: bool = False) -> None:
    """Load segments into a temp table; ``columns`` missing from every file (segments written before
    a format added them) are added as NULLs."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM read_parquet(?, union_by_name = true, "
                f"filename = {str(filename).lower()})", [paths])
    have = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    for name, sql_type in columns:
        if name not in have:
            con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {sql_type}')


def purged_filter(spec: TableSpec, schema: str = "") -> str:
    """A SQL condition that is true for the events of ``spec`` that belong to no purged run or
    experiment (TRUE for tables keyed otherwise); ``schema`` prefixes the ledger tables (``s.``)."""
    columns = set(spec.column_names)
    parts = []
    if "run_id" in spec.keys:
        parts.append(f"run_id NOT IN (SELECT run_id FROM {schema}purged_runs)")
    if "experiment_id" in columns and ("experiment_id" in spec.keys or spec is RUNS):
        parts.append(f"coalesce(experiment_id NOT IN (SELECT experiment_id FROM {schema}purged_experiments), TRUE)")
    return " AND ".join(parts) or "TRUE"


def _fold_table(con: duckdb.DuckDBPyConnection, spec: TableSpec, select: str) -> int:
    con.execute(f"CREATE OR REPLACE TEMP TABLE new_events AS {select}")
    con.execute(f"DELETE FROM new_events WHERE NOT ({purged_filter(spec)})")
    [(found,)] = con.execute("SELECT count(*) FROM new_events").fetchall()
    count = int(found)
    if count:
        con.execute(f"INSERT INTO {spec.events} SELECT * FROM new_events")
        con.execute(f"CREATE OR REPLACE TEMP TABLE touched AS SELECT DISTINCT {', '.join(spec.keys)} FROM new_events")
        _refold(con, spec)
        if spec.merge == "first":
            _warn_conflicts(con, spec)
    return count


def _warn_conflicts(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    """Log the keys of a write-once table (params) that processes logged with different values at the
    same time, naming the value kept (the first) and the ones dropped."""
    keys = ", ".join(f"e.{k}" for k in spec.keys)
    rows = con.execute(
        f"SELECT {keys}, list(DISTINCT e.value ORDER BY e.value) FROM {spec.events} e "
        f"WHERE EXISTS (SELECT 1 FROM touched a WHERE {_match(spec.keys, 'a', 'e')}) "
        f"GROUP BY ALL HAVING count(DISTINCT e.value) > 1"
    ).fetchall()
    for *key, values in rows:
        [(kept,)] = con.execute(f"SELECT value FROM {spec.state} WHERE {' AND '.join(f'{k} = ?' for k in spec.keys)}",
                                key).fetchall()
        log.warning("lite_tracker: %s %s was logged with different values %s by processes at the same time; "
                    "kept the first, %r", spec.state, "/".join(key), values, kept)


def _refold(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    """Recompute the state rows of the keys in temp table ``touched`` (new events in ``new_events``)."""
    hit = f"EXISTS (SELECT 1 FROM touched a WHERE {_match(spec.keys, 'a', 't')})"
    if spec.merge == "append":
        source = (
            f"(SELECT run_id, key, value, timestamp, step FROM {spec.state} t WHERE {hit} "
            "UNION ALL SELECT run_id, key, value, timestamp, step FROM new_events)"
        )
    else:
        source = f"(SELECT * FROM {spec.events} t WHERE {hit})"
    con.execute(f"CREATE OR REPLACE TEMP TABLE refolded AS {fold_sql(spec, source)}")
    con.execute(f"DELETE FROM {spec.state} t WHERE {hit}")
    con.execute(f"INSERT INTO {spec.state} SELECT * FROM refolded")


def _reap_dead_runs(con: duckdb.DuckDBPyConnection, layout: Layout, liveness: RunLiveness,
                    clock: Callable[[], int], checks: SegmentChecks) -> tuple[str, ...]:
    """Mark RUNNING runs whose lock no live process holds as KILLED; drop lock files of ended runs."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    status = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
    try:
        lock_files = [n[:-5] for n in os.listdir(layout.live) if n.endswith(".lock")]
    except FileNotFoundError:
        return ()
    with ExitStack() as held:
        dead: list[str] = []
        ended: list[str] = []
        for run_id in lock_files:
            if run_id not in status:
                continue  # created but not compacted yet
            if held.enter_context(liveness.probe_dead(run_id)):
                (dead if status[run_id] == "RUNNING" else ended).append(run_id)
        if dead:
            # A process may have ended the run just before releasing its lock: trust pending events.
            ended_pending: set[str] = set()
            for name in checks.usable(list_pending(layout, "events")):
                try:
                    with pq.ParquetFile(layout.pending / name) as f:
                        if not {"run_id", "status"} <= set(f.schema_arrow.names):
                            continue  # no run events in this segment
                        t = f.read(columns=["table", "run_id", "status"])
                except FileNotFoundError:
                    continue
                except (OSError, ValueError, pa.ArrowException) as e:
                    _quarantine(layout.pending / name, layout.quarantine, f"unreadable data: {e}")
                    continue
                for tbl, rid, st in zip(*(t.column(i).to_pylist() for i in range(3))):
                    if tbl == RUNS.events and st is not None:
                        (ended_pending.add if st != "RUNNING" else ended_pending.discard)(rid)
            dead = [r for r in dead if r not in ended_pending]
        if dead:
            now = int(time.time() * 1000)
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(
                    "CREATE OR REPLACE TEMP TABLE new_events AS SELECT unnest(?) AS run_id, "
                    "NULL::VARCHAR AS experiment_id, NULL::VARCHAR AS run_name, NULL::VARCHAR AS user_id, "
                    "'KILLED' AS status, NULL::BIGINT AS start_time, ?::BIGINT AS end_time, "
                    "NULL::VARCHAR AS lifecycle_stage, NULL::VARCHAR AS artifact_uri, ?::BIGINT AS seq",
                    [dead, now, clock()],
                )
                con.execute("INSERT INTO run_events SELECT * FROM new_events")
                con.execute("CREATE OR REPLACE TEMP TABLE touched AS SELECT DISTINCT run_id FROM new_events")
                _refold(con, RUNS)
                con.execute("COMMIT")
            except BaseException:
                rollback(con)
                raise
        for run_id in dead + ended:
            for path in (layout.run_lock(run_id), layout.runs / f"{run_id}.shared"):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
    return tuple(dead)


# ---------------------------------------------------------------- reading

# DuckDB objects a forked child inherited from its parent. DuckDB is not fork-safe: closing or destroying
# one in the child crashes it (its threads and locks are the parent's), so the child never lets go of
# them (see ``keep_after_fork``) and opens fresh ones when it needs them.
INHERITED_AFTER_FORK: list[object] = []


def keep_after_fork(obj: object) -> None:
    """In a forked child: keep an inherited DuckDB object alive until the process ends, interpreter
    exit included (it empties module globals, so the list alone would not do)."""
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))
    INHERITED_AFTER_FORK.append(obj)


class Reader:
    """Read sessions over one store for this process (thread-safe; one query at a time)."""

    def __init__(self, layout: Layout, rw: RWLock) -> None:
        self._layout = layout
        self._rw = rw
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._loaded: dict[str, set[str]] = {}  # the pending segments loaded, by kind
        self._views: bool | None = None  # whether the views include pending segments (None: not defined)
        self.checks = SegmentChecks(layout)

    @contextmanager
    def session(self, metrics: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection whose public views show the store plus its pending segments; with ``metrics``
        False, for a query that reads no metric view, the pending metric segments are not loaded (a
        process that starts while a backlog waits looks its experiment up at once)."""
        import duckdb

        path = self._layout.db_path
        with self._lock, self._rw.read():
            con = self._connection()
            patiently(lambda: self._attach(con))
            try:
                self._load_pending(con, ("events", "metrics") if metrics else ("events",))
                yield con
            except duckdb.IOException as e:  # a damaged file fails when its blocks are read
                raise store_error(e, path) from e
            finally:
                con.execute("DETACH s")

    def _attach(self, con: duckdb.DuckDBPyConnection) -> None:
        import duckdb

        path = self._layout.db_path
        try:
            con.execute(f"ATTACH {_q(str(path))} AS s (READ_ONLY)")
        except duckdb.Error as e:
            raise store_error(e, path) from e

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
                self._loaded = {}

    def after_fork_in_child(self) -> None:
        """In a forked child: leave the parent's connection untouched (see ``keep_after_fork``); the
        next session opens the child's own."""
        if self._con is not None:
            keep_after_fork(self._con)
        self._lock = threading.Lock()
        self._con = None
        self._loaded = {}
        self._views = None

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            con = connect()
            for spec in TABLES:  # the pending rows, each with the path of its segment
                con.execute(_ddl(f"p_{spec.events}", (*spec.columns, ("segment", "VARCHAR"))))
            self._con = con
            self._views = None
        return self._con

    def _define_views(self, con: duckdb.DuckDBPyConnection, with_pending: bool) -> None:
        """(Re)define the public views: plain reads of the store file while no segment is pending
        (the usual case, and faster), unions with the pending segments otherwise."""
        for spec in TABLES:
            if with_pending:
                view = self._view_sql(spec)
            else:
                view = f"SELECT {', '.join(spec.state_columns)} FROM s.{spec.state}"
            con.execute(f"CREATE OR REPLACE VIEW {spec.state} AS {view}")
            if spec.merge == "append":
                # a store that syncs keeps the event rows of purged runs (see store/gc.py): never shown
                union = f" UNION ALL SELECT {', '.join(spec.column_names)} FROM p_{spec.events}" if with_pending else ""
                con.execute(f"CREATE OR REPLACE VIEW {spec.events} AS SELECT * FROM s.{spec.events} "
                            f"WHERE {purged_filter(spec, 's.')}{union}")
        self._views = with_pending

    @staticmethod
    def _view_sql(spec: TableSpec) -> str:
        pending = f"p_{spec.events}"
        cols = ", ".join(spec.state_columns)
        hit = f"EXISTS (SELECT 1 FROM {pending} p WHERE {_match(spec.keys, 'p', 't')})"
        if spec.merge == "append":
            source = f"(SELECT {cols} FROM s.{spec.state} t WHERE {hit} UNION ALL SELECT {cols} FROM {pending})"
        else:
            source = (f"(SELECT * FROM s.{spec.state} t WHERE {hit} "
                      f"UNION ALL SELECT {', '.join(spec.column_names)} FROM {pending})")
        return (
            f"SELECT {cols} FROM s.{spec.state} t WHERE NOT {hit} "
            f"UNION ALL SELECT {cols} FROM ({fold_sql(spec, source)})"
        )

    def _load_pending(self, con: duckdb.DuckDBPyConnection, kinds: tuple[str, ...]) -> None:
        """Bring the pending rows of ``kinds`` up to date: drop those of segments compacted since the
        last session and load the new segments only (under heavy logging a session would otherwise
        read the whole backlog again)."""
        ledger = {r[0] for r in con.execute("SELECT file FROM s.compacted").fetchall()}
        for kind in kinds:
            names = [n for n in list_pending(self._layout, kind) if n not in ledger]
            loaded = self._loaded.get(kind, set())
            gone = loaded.difference(names)
            new = [n for n in self.checks.usable(names) if n not in loaded]
            specs = EVENT_TABLES if kind == "events" else (METRICS,)
            try:
                if gone:
                    paths = [str(self._layout.pending / n) for n in gone]
                    for spec in specs:
                        con.execute(f"DELETE FROM p_{spec.events} WHERE segment IN (SELECT unnest(?))", [paths])
                if _load_readable(con, "p_segments", self._layout, new, SEGMENT_KINDS[kind], filename=True):
                    for spec in specs:
                        where = f"\"table\" = {_q(spec.events)} AND " if kind == "events" else ""
                        con.execute(f"INSERT INTO p_{spec.events} SELECT {', '.join(spec.column_names)}, filename "
                                    f"FROM p_segments WHERE {where}{purged_filter(spec, 's.')}")
                    con.execute("DROP TABLE p_segments")
            except BaseException:  # interrupted half way: start this kind afresh next time
                self._loaded.pop(kind, None)
                for spec in specs:
                    con.execute(f"DELETE FROM p_{spec.events}")
                raise
            self._loaded[kind] = set(names)
        with_pending = any(self._loaded.values())
        if self._views != with_pending:
            self._define_views(con, with_pending)


def fold_events(con: duckdb.DuckDBPyConnection, spec: TableSpec, select: str) -> int:
    """Append the events a ``select`` returns (in ``spec``'s column order) to ``spec``'s event table and
    refold the state of the keys they touch, as compaction does; the caller holds the compaction lock
    and the transaction. Used by sync to merge pulled events. Returns the number of rows."""
    return _fold_table(con, spec, select)
