"""Health checks of a store (``lite-tracker doctor``): each says OK, WARN or FAIL and what to do.

Doctor only looks: it never creates the store or its folder, never compacts, never moves a segment.
The quick checks read the file's catalog and list the sidecar folder; ``verify`` also checks the
store's invariants over every row (see :data:`INVARIANTS`).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .._remote import ENDPOINT_VARIABLES, endpoint_url, is_remote, redact_url
from ..errors import LiteTrackerException, LockTimeout, StoreBusy
from .catalog import FORMAT_VERSION, STALE_TMP_SECONDS, check_header, holds_data, list_pending, read_version
from .connection import connect, missing_store, store_error
from .layout import Layout
from .locks import RWLock, try_exclusive
from .segments import SEGMENT_KINDS, TABLES, schema_problem

if TYPE_CHECKING:
    import duckdb

    from ..settings import Settings

OK, WARN, FAIL = "OK", "WARN", "FAIL"
PENDING_STUCK_SECONDS = 120.0  # the compactor runs every second or so: older segments mean it cannot
LOW_DISK_BYTES = 1 << 30
FULL_DISK_BYTES = 100 << 20
_LOCK_WAIT = 5.0
_EXAMPLES = 3
_FILE_HEADERS = 3 * 4096  # a DuckDB file starts with its main header and two database headers
_CREDENTIALS = (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), ("AWS_PROFILE",), ("AWS_WEB_IDENTITY_TOKEN_FILE",),
                ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",), ("AWS_CONTAINER_CREDENTIALS_FULL_URI",))


@dataclass(frozen=True)
class Check:
    """One finding: ``status`` is OK, WARN or FAIL; ``message`` says what was found and what to do."""

    name: str
    status: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "message": self.message}


def _one_line(text: str) -> str:
    return " ".join(text.split())


_NOT_PURGED = " AND run_id NOT IN (SELECT run_id FROM purged_runs)"


def _orphans(table: str, column: str, parent: str) -> str:
    """Query of the ``column`` values of ``table`` that no row of ``parent`` has."""
    return f"SELECT DISTINCT {column} FROM {table} WHERE {column} NOT IN (SELECT {column} FROM {parent})"


def _not_in(table: str, column: str, values: tuple[str, ...]) -> str:
    """Query of the rows of ``table`` whose ``column`` is NULL or none of ``values`` (naming the row by its
    first key)."""
    key = next(spec.keys[0] for spec in TABLES if spec.state == table)
    allowed = ", ".join(f"'{v}'" for v in values)
    return f"SELECT {key} FROM {table} WHERE {column} IS NULL OR {column} NOT IN ({allowed})"


def _unmatched(table: str, keys: str, parent: str) -> str:
    """Query of the rows of ``table`` (named by ``keys`` joined with '/') with no ``parent`` row of the
    same model and version."""
    return (f"SELECT DISTINCT concat_ws('/', {keys}) FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM {parent} v "
            "WHERE v.model_id = t.model_id AND v.version = t.version)")


_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
_STAGES = ("active", "deleted")
# Each invariant: a name and a query returning the offending rows (their first column names them).
INVARIANTS: tuple[tuple[str, str], ...] = (
    ("run ids unique", "SELECT run_id FROM runs GROUP BY run_id HAVING count(*) > 1"),
    ("experiment ids unique", "SELECT experiment_id FROM experiments GROUP BY experiment_id HAVING count(*) > 1"),
    ("experiment names unique", "SELECT name FROM experiments GROUP BY name HAVING count(*) > 1"),
    ("runs belong to experiments", "SELECT run_id FROM runs WHERE experiment_id IS NULL OR experiment_id NOT IN "
                                   "(SELECT experiment_id FROM experiments)"),
    *((f"{spec.state.replace('_', ' ')} belong to runs", _orphans(spec.state, "run_id", "runs"))
      for spec in TABLES if "run_id" in spec.keys and spec.state != "runs"),
    # a store that syncs keeps the metric points of purged runs (see store/gc.py): they count as gone
    ("metric points belong to runs", _orphans("metrics", "run_id", "runs") + _NOT_PURGED),
    ("experiment tags belong to experiments", _orphans("experiment_tags", "experiment_id", "experiments")),
    ("run lifecycle stages valid", _not_in("runs", "lifecycle_stage", _STAGES)),
    ("experiment lifecycle stages valid", _not_in("experiments", "lifecycle_stage", _STAGES)),
    ("run statuses valid", _not_in("runs", "status", _STATUSES)),
    ("every metric series has its latest value",
     "SELECT DISTINCT concat_ws('/', run_id, key) FROM metrics m WHERE NOT EXISTS "
     "(SELECT 1 FROM latest_metrics l WHERE l.run_id = m.run_id AND l.key = m.key)" + _NOT_PURGED),
    ("latest values belong to a series",
     "SELECT concat_ws('/', run_id, key) FROM latest_metrics l WHERE NOT EXISTS "
     "(SELECT 1 FROM metrics m WHERE l.run_id = m.run_id AND l.key = m.key)"),
    ("purged runs are gone", "SELECT run_id FROM runs WHERE run_id IN (SELECT run_id FROM purged_runs)"),
    ("purged experiments are gone", "SELECT experiment_id FROM experiments WHERE experiment_id IN "
                                    "(SELECT experiment_id FROM purged_experiments)"),
    ("model versions belong to models", _orphans("model_versions", "model_id", "registered_models")),
    ("model version numbers valid", "SELECT concat_ws('/', model_id, version) FROM model_versions "
                                    "WHERE coalesce(TRY_CAST(version AS BIGINT) < 1, TRUE)"),
    ("live model names unique",
     "SELECT name FROM registered_models WHERE deleted_timestamp IS NULL GROUP BY name HAVING count(*) > 1"),
    ("model version tags belong to versions", _unmatched("model_version_tags", "model_id, version", "model_versions")),
    ("aliases point to live versions",
     "SELECT concat_ws('@', model_id, alias) FROM model_aliases a WHERE NOT EXISTS (SELECT 1 FROM model_versions v "
     "WHERE v.model_id = a.model_id AND v.version = a.value AND v.deleted_timestamp IS NULL)"),
    ("stage transitions belong to versions", _unmatched("stage_transitions", "model_id, version", "model_versions")),
)


def diagnose(settings: Settings, verify: bool = False, connect_s3: bool = False,
             env: Mapping[str, str] | None = None) -> list[Check]:
    """Check a store and its surroundings; with ``verify``, every invariant of its rows too.

    Args:
        settings: Resolved settings naming the store file and the artifact root.
        verify: Also check the invariants over every row (slower: reads the whole store).
        connect_s3: Also list the S3 artifact root (otherwise S3 settings are only read).
        env: The environment to read S3 settings from (default: ``os.environ``).

    Returns:
        The checks, in order; the store is healthy when none is FAIL.

    Example:
        >>> [c.status for c in diagnose(resolve_settings("runs.duckdb"))]  # doctest: +SKIP
        ['OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'OK']
    """
    env = os.environ if env is None else env
    layout = Layout(settings.store_path)
    store, version = _store_file(layout)
    checks = [store, _folder(layout), _sidecar(layout), _pending(layout), _quarantine(layout), _disk(layout),
              _artifact_root(settings.artifact_root, connect_s3, env)]
    if verify and store.status != FAIL:
        checks += _verify(layout)
    return checks


@contextmanager
def _read_only(layout: Layout) -> Iterator[duckdb.DuckDBPyConnection]:
    """The store file opened read-only under the store's read lock (never created); DuckDB errors of
    the queries run on it become :class:`~lite_tracker.errors.StoreError`."""
    import duckdb

    with RWLock(layout.locks, timeout=_LOCK_WAIT).read():
        con = connect(layout.db_path, read_only=True)
        try:
            yield con
        except duckdb.Error as e:
            raise store_error(e, layout.db_path) from e
        finally:
            con.close()


def _store_file(layout: Layout) -> tuple[Check, int | None]:
    """Whether the store file opens, its format version and what it holds."""
    name, path = "store file", layout.db_path
    if not path.exists():
        if holds_data(layout):
            return Check(name, FAIL, _one_line(missing_store(path).message)), None
        return Check(name, FAIL, f"No lite_tracker store at {str(path)!r}: check --store (or LITE_TRACKER_URI)."), None
    try:
        check_header(path)
        with _read_only(layout) as con:
            version = read_version(con)
            need = _bytes_needed(con)
            if version == FORMAT_VERSION:
                [(runs, experiments)] = con.execute(
                    "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM experiments)").fetchall()
    except StoreBusy as e:
        return Check(name, FAIL, _one_line(e.message)), None
    except LockTimeout:
        return Check(name, WARN, f"A compaction or gc held the store's write lock for over {_LOCK_WAIT:.0f} s; "
                                 "run doctor again. If it stays, a process is stuck holding it."), None
    except LiteTrackerException as e:
        return Check(name, FAIL, _one_line(e.message)), None
    size = f"{path.stat().st_size / 2**20:.1f} MiB"
    if path.stat().st_size < need:
        return Check(name, FAIL, f"The store file {str(path)!r} is truncated: {path.stat().st_size} bytes, but its "
                                 f"blocks need {need}. Restore it from a backup; lite_tracker did not change it."
                     ), version
    if version > FORMAT_VERSION:
        return Check(name, FAIL, f"{str(path)!r} has format {version}, written by a newer lite_tracker; this version "
                                 f"reads up to {FORMAT_VERSION}. Upgrade lite_tracker (pip install -U lite-tracker)."
                     ), version
    if version < FORMAT_VERSION:
        return Check(name, WARN, f"{str(path)!r} has format {version}; the next process that logs to it migrates "
                                 f"it in place to format {FORMAT_VERSION} (older lite_tracker versions then no longer "
                                 "open it: back it up first if they must)."), version
    return Check(name, OK, f"{str(path)!r}: format {version}, {experiments} experiments and {runs} runs compacted, "
                           f"{size}."), version


def _bytes_needed(con: duckdb.DuckDBPyConnection) -> int:
    """The size the store file must at least have: its headers and every block in use (free blocks at the
    end are not in the file: DuckDB truncates them away)."""
    [(block_size, blocks)] = con.execute("SELECT block_size, used_blocks FROM pragma_database_size() "
                                         "WHERE database_name = current_database()").fetchall()
    return _FILE_HEADERS + int(block_size) * int(blocks)


def _folder(layout: Layout) -> Check:
    """Whether the store can be written, or only read."""
    name = "store folder"
    blocked = [p for p in (layout.db_path.parent, layout.db_path, layout.sidecar, layout.pending_dir("events"))
               if p.exists() and not os.access(p, os.W_OK)]
    if blocked:
        return Check(name, WARN, f"{str(blocked[0])!r} is read-only: the store can be searched and read, but "
                                 "logging to it is refused. Copy it to a writable folder to log to it.")
    return Check(name, OK, f"{str(layout.db_path.parent)!r} is writable.")


def _sidecar(layout: Layout) -> Check:
    """The sidecar folder, its lock files and run locks."""
    name = "sidecar folder"
    if not layout.sidecar.exists():
        return Check(name, OK, f"{str(layout.sidecar)!r} does not exist yet; it is created on first use.")
    not_files = [p.name for p in layout.locks.glob("*") if not p.is_file()] if layout.locks.exists() else []
    if not_files:
        return Check(name, FAIL, f"{str(layout.locks)!r} holds {not_files[0]!r}, which is not a lock file: "
                                 "remove it (lock files are recreated as needed).")
    compacting = ""
    with try_exclusive(layout.locks / "compact.lock", create=False) as free:
        if not free and (layout.locks / "compact.lock").exists():
            compacting = " A compaction is running now."
    live = dead = 0
    for lock in layout.live.glob("*.lock") if layout.live.exists() else ():
        with try_exclusive(lock, create=False) as free:
            dead += free
            live += not free
    orphans = (f" {dead} run lock files no process holds: the next compaction removes them and marks a run "
               "still RUNNING among them KILLED." if dead else "")
    return Check(name, OK, f"{str(layout.sidecar)!r}: {live} runs being logged to now.{orphans}{compacting}")


def _pending(layout: Layout) -> Check:
    """How many segments wait for compaction, and how long the oldest has waited."""
    name = "pending segments"
    now = time.time()
    ages = []
    for kind in SEGMENT_KINDS:
        for rel in list_pending(layout, kind):
            try:
                ages.append(now - (layout.pending / rel).stat().st_mtime)
            except FileNotFoundError:
                continue  # compacted since the listing
    stale_tmp = sum(1 for kind in SEGMENT_KINDS if layout.pending_dir(kind).exists()
                    for p in layout.pending_dir(kind).glob("*.tmp") if now - p.stat().st_mtime > STALE_TMP_SECONDS)
    if ages and max(ages) > PENDING_STUCK_SECONDS:
        return Check(name, WARN, f"{len(ages)} segments wait for compaction, the oldest for {max(ages) / 60:.0f} min: "
                                 "compaction is not running or keeps failing. Run `lite-tracker compact` to fold them "
                                 "in and see why (another program holding the store file? a full disk?).")
    if stale_tmp:
        return Check(name, WARN, f"{stale_tmp} temp files of writers that died mid-write; the next compaction moves "
                                 "them to the quarantine folder.")
    return Check(name, OK, f"{len(ages)} segments wait for compaction." if ages else "None: everything is compacted.")


def _quarantine(layout: Layout) -> Check:
    """Segments moved aside because they could not be read."""
    name = "quarantined segments"
    found = sorted(p.name for p in layout.quarantine.iterdir()) if layout.quarantine.exists() else []
    if found:
        return Check(name, WARN, f"{len(found)} segment{'s' if len(found) > 1 else ''} in "
                                 f"{str(layout.quarantine)!r} could not be read (e.g. {found[0]!r}): their rows are "
                                 "not in the store. Inspect them with pyarrow, then move repaired files back to "
                                 "pending/, or delete them.")
    return Check(name, OK, "None.")


def _disk(layout: Layout) -> Check:
    """Free space where the store writes its segments."""
    name = "disk space"
    folder = next(p for p in (layout.sidecar, layout.db_path.parent, *layout.db_path.parents) if p.exists())
    usage = shutil.disk_usage(folder)
    free = f"{usage.free / 2**30:.2f} GiB free in {str(folder)!r}"
    if usage.free < FULL_DISK_BYTES:
        return Check(name, FAIL, f"Only {free}: logging and compaction will fail with ENOSPC. Free disk space.")
    if usage.free < LOW_DISK_BYTES:
        return Check(name, WARN, f"Only {free}: free some space before long runs.")
    return Check(name, OK, f"{free[0].upper()}{free[1:]}.")


def _artifact_root(root: str, connect_s3: bool, env: Mapping[str, str]) -> Check:
    """The artifact root exists (or can be made) and is writable; for S3, the settings it needs."""
    name = "artifact root"
    if is_remote(root):
        return _s3(root, connect_s3, env)
    path = Path(root.removeprefix("file://"))
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return Check(name, FAIL, f"{root!r} cannot be created: {str(existing)!r} is not a folder. Set "
                                 "MLFLOW_DEFAULT_ARTIFACT_ROOT (or LITE_TRACKER_ARTIFACT_ROOT) to a folder.")
    if not os.access(existing, os.W_OK):
        return Check(name, WARN, f"{str(existing)!r} is read-only: artifacts can be read, not logged.")
    made = "" if existing == path else " (created on the first artifact)"
    return Check(name, OK, f"{root!r} is writable{made}.")


def _s3(root: str, connect_s3: bool, env: Mapping[str, str]) -> Check:
    """S3 settings for an ``s3://`` artifact root: the s3 extra, credentials and endpoint; listed only
    with ``connect_s3``."""
    name = "artifact root"
    try:
        import s3fs  # noqa: F401
    except ImportError:
        return Check(name, FAIL, f"{root!r} needs the s3 extra: pip install 'lite-tracker[s3]'.")
    endpoint = f"endpoint {redact_url(endpoint_url(env))}"
    home = Path(env.get("HOME", "~")).expanduser()
    files = [Path(env.get("AWS_SHARED_CREDENTIALS_FILE", home / ".aws" / "credentials")),
             Path(env.get("AWS_CONFIG_FILE", home / ".aws" / "config"))]
    if not any(all(env.get(v) for v in group) for group in _CREDENTIALS) and not any(f.is_file() for f in files):
        return Check(name, WARN, f"{root!r} ({endpoint}): no AWS credentials found (AWS_ACCESS_KEY_ID and "
                                 "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or ~/.aws/credentials); only an instance "
                                 "role can work. Set them, then check with `lite-tracker doctor --connect`.")
    if not connect_s3:
        return Check(name, OK, f"{root!r} ({endpoint}): credentials are set; not contacted (add --connect).")
    from .._remote import filesystem

    try:
        fs, path = filesystem(root, env)
        fs.ls(path.split("/")[0])
    except (OSError, ValueError, LiteTrackerException) as e:
        endpoints = "/".join(ENDPOINT_VARIABLES)
        return Check(name, FAIL, _one_line(f"{root!r} ({endpoint}) cannot be listed: {e}. Check the bucket name, "
                                           f"the credentials, {endpoints} and the network."))
    return Check(name, OK, f"{root!r} ({endpoint}): the bucket answered.")


def _verify(layout: Layout) -> list[Check]:
    """Every invariant over the compacted rows, and every pending segment's footer and schema."""
    checks = []
    try:
        with _read_only(layout) as con:
            for name, sql in INVARIANTS:
                bad = [str(r[0]) for r in con.execute(sql).fetchall()]
                if bad:
                    examples = ", ".join(bad[:_EXAMPLES]) + (", ..." if len(bad) > _EXAMPLES else "")
                    checks.append(Check(f"verify: {name}", FAIL,
                                        f"{len(bad)} violations: {examples}. Restore the store from a backup, or "
                                        "export what is intact (lite-tracker export) into a new store."))
                else:
                    checks.append(Check(f"verify: {name}", OK, "Holds."))
            ledger = {r[0] for r in con.execute("SELECT file FROM compacted").fetchall()}
            tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = "
                                                "current_database() ORDER BY table_name").fetchall()]
            for table in tables:  # reads every block: a damaged one fails its checksum
                con.execute(f'SELECT sum(hash(t)) FROM "{table}" t').fetchall()
            checks.append(Check("verify: every block of the file reads", OK, f"{len(tables)} tables read."))
    except LiteTrackerException as e:
        return checks + [Check("verify", FAIL, _one_line(e.message))]
    return checks + [_ledger(layout, ledger), _segments(layout)]


def _ledger(layout: Layout, ledger: set[str]) -> Check:
    """Segments both pending and in the ledger: left by a compaction killed after its commit."""
    name = "verify: no segment both pending and compacted"
    both = [n for kind in SEGMENT_KINDS for n in list_pending(layout, kind) if n in ledger]
    if both:
        return Check(name, WARN, f"{len(both)} segments were folded in by a compaction that was stopped before "
                                 "deleting them; queries skip them and the next compaction deletes them.")
    return Check(name, OK, "Holds.")


def _segments(layout: Layout) -> Check:
    """Every pending segment's footer reads and its schema fits its kind."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = "verify: pending segments readable"
    bad = []
    for kind in SEGMENT_KINDS:
        for rel in list_pending(layout, kind):
            try:
                problem = schema_problem(kind, pq.read_schema(layout.pending / rel))
            except FileNotFoundError:
                continue
            except (OSError, ValueError, pa.ArrowException) as e:
                problem = f"unreadable footer: {e}"
            if problem:
                bad.append(f"{rel} ({problem})")
    if bad:
        return Check(name, WARN, _one_line(f"{len(bad)} pending segments cannot be read, e.g. {bad[0]}: the next "
                                           "compaction moves them to the quarantine folder."))
    return Check(name, OK, "Holds.")
