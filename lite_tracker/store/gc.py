"""Permanent deletion of soft-deleted runs and experiments (``lite-tracker gc``, MLflow's ``mlflow gc``).

A purge runs under the compaction lock and the write lock (as a compaction does), after folding the
pending segments in, so it sees every delete logged so far. In one transaction it removes the rows
of the chosen runs (their params, tags, metrics, dataset inputs) and experiments (their tags) from
the state and event tables, and records their ids in ``purged_runs`` / ``purged_experiments``: the
compactor, the readers and sync pulls drop any event of a purged id that still turns up, such as the
last buffered points of a process that was logging to the run when it was deleted.

Artifacts go first (a failure leaves the run deleted, and the next gc finishes it), except what a live
model version's source points to: the registry keeps the run's id and its model files working, as
MLflow keeps its registry's copy. A purged run keeps its ``runs/<id>.deleted`` marker, so a process
still logging to it keeps refusing to.
"""

from __future__ import annotations

import errno
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidParameterValue, ResourceNotFound
from . import catalog
from .artifacts import ArtifactRepository
from .layout import Layout
from .segments import TABLES

if TYPE_CHECKING:
    import duckdb

    from .duckdb_store import DuckDBStore

_OLDER_THAN = re.compile(
    r"^((?P<days>[.\d]+?)d)?((?P<hours>[.\d]+?)h)?((?P<minutes>[.\d]+?)m)?((?P<seconds>[.\d]+?)s)?$"
)


def parse_older_than(text: str) -> int:
    """Milliseconds in an age such as ``1d2h3m4s``, ``8h`` or ``30m`` (MLflow's ``--older-than``).

    Raises:
        InvalidParameterValue: The text is not such an age.

    Example:
        >>> parse_older_than("1d2h")
        93600000
    """
    parts = _OLDER_THAN.match(text.strip()) if isinstance(text, str) else None
    try:
        values = {k: float(v) for k, v in parts.groupdict().items() if v} if parts else {}
    except ValueError:
        values = {}
    if not values:
        raise InvalidParameterValue(
            f"Could not parse any time information from {text!r}. Examples of valid strings: "
            "'8h', '2d8h5m20s', '2m4s'"
        )
    return int(timedelta(**values).total_seconds() * 1000)


@dataclass(frozen=True)
class PurgedRun:
    """A run gc deletes (or would): ``deleted_time`` is when it was deleted (ms)."""

    run_id: str
    experiment_id: str
    run_name: str
    deleted_time: int | None
    artifact_uri: str
    kept_artifacts: tuple[str, ...] = ()  # relative paths a live model version's source points into


@dataclass(frozen=True)
class PurgedExperiment:
    """An experiment gc deletes (or would), with every run in it."""

    experiment_id: str
    name: str
    deleted_time: int | None


@dataclass
class GcResult:
    """What a gc found, and (unless a dry run) deleted."""

    runs: list[PurgedRun]
    experiments: list[PurgedExperiment]
    dry_run: bool
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows deleted
    artifact_files: int = 0
    event_rows_kept: bool = False  # a store that syncs keeps its event log's rows (hidden; see _synced)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary."""
        return {
            "dry_run": self.dry_run,
            "runs": [vars(r) | {"kept_artifacts": list(r.kept_artifacts)} for r in self.runs],
            "experiments": [vars(e) for e in self.experiments],
            "rows_deleted": self.rows,
            "artifact_files_deleted": self.artifact_files,
            "event_rows_kept": self.event_rows_kept,
        }


def collect_garbage(store: DuckDBStore, older_than: int | None = None, run_ids: Sequence[str] = (),
                    experiment_ids: Sequence[str] = (), dry_run: bool = True) -> GcResult:
    """Permanently delete soft-deleted runs and experiments, their rows and their artifacts.

    Without ``run_ids`` and ``experiment_ids`` every deleted run and deleted experiment is chosen; with
    them, exactly those (an experiment with every run in it). ``older_than`` (ms, see
    :func:`parse_older_than`) keeps what was deleted more recently.

    Args:
        store: The store (this process's, opened for writing).
        older_than: Only what was deleted at least this many milliseconds ago.
        run_ids: Deleted runs to purge.
        experiment_ids: Deleted experiments to purge, with their runs.
        dry_run: Only list what would go (the default).

    Returns:
        The runs and experiments chosen, and what was deleted.

    Raises:
        ResourceNotFound: A given id names no run or experiment.
        InvalidParameterValue: A given run or experiment is not deleted, or deleted too recently.
        StoreReadOnly: The store's folder cannot be written.

    Example:
        >>> collect_garbage(client._store, older_than=parse_older_than("30d"), dry_run=False)  # doctest: +SKIP
    """
    store.check_writable()
    layout = store.layout
    with catalog.exclusive_session(layout, store.rw, store.reader.checks, store.settings.lock_timeout) as con:
        runs, experiments = _choose(con, older_than, list(run_ids), list(experiment_ids))
        result = GcResult(runs, experiments, dry_run)
        if dry_run or not (runs or experiments):
            return result
        for run in runs:
            result.artifact_files += _delete_artifacts(run)
        result.event_rows_kept = _synced(con, layout)
        result.rows = _purge(con, [r.run_id for r in runs], [e.experiment_id for e in experiments],
                             keep_events=result.event_rows_kept)
    for run in runs:
        _settle_run_files(store, run.run_id)
    return result


def _choose(con: duckdb.DuckDBPyConnection, older_than: int | None, run_ids: list[str],
            experiment_ids: list[str]) -> tuple[list[PurgedRun], list[PurgedExperiment]]:
    """The runs and experiments to purge: those named (checked as MLflow's gc checks them), else every
    deleted one old enough; an experiment's runs go with it."""
    cutoff = None if older_than is None else int(time.time() * 1000) - older_than
    age = "" if older_than is None else f" (deleted more than {older_than // 1000} s ago)"

    def old_enough(when: int | None) -> bool:
        return cutoff is None or (when is not None and when < cutoff)

    exps = {r[0]: r for r in con.execute(
        "SELECT experiment_id, name, lifecycle_stage, last_update_time FROM experiments").fetchall()}
    runs = {r[0]: r for r in con.execute(
        "SELECT r.run_id, r.experiment_id, r.run_name, r.lifecycle_stage, r.artifact_uri, "
        "(SELECT max(e.seq) FROM run_events e WHERE e.run_id = r.run_id AND e.lifecycle_stage IS NOT NULL) "
        "// 1000000 FROM runs r").fetchall()}
    if run_ids or experiment_ids:
        for eid in experiment_ids:
            _check_named("Experiment", eid, exps.get(eid), 2, 3, old_enough, age)
        for rid in run_ids:
            _check_named("Run", rid, runs.get(rid), 3, 5, old_enough, age)
        chosen_exps, chosen_runs = set(experiment_ids), set(run_ids)
    else:
        chosen_exps = {e for e, r in exps.items() if r[2] == "deleted" and old_enough(r[3])}
        chosen_runs = {r for r, row in runs.items() if row[3] == "deleted" and old_enough(row[5])}
    ids = sorted(chosen_runs | {r for r, row in runs.items() if row[1] in chosen_exps})
    sources = [s for (s,) in con.execute(
        "SELECT source FROM model_versions WHERE deleted_timestamp IS NULL AND source IS NOT NULL").fetchall()]
    return (
        [PurgedRun(r, runs[r][1], runs[r][2] or "", runs[r][5], runs[r][4] or "",
                   _kept(runs[r][4] or "", sources)) for r in ids],
        [PurgedExperiment(e, exps[e][1], exps[e][3]) for e in sorted(chosen_exps)],
    )


def _check_named(kind: str, given: str, row: tuple[Any, ...] | None, stage: int, deleted_time: int,
                 old_enough: Callable[[int | None], bool], age: str) -> None:
    """Refuse a run or experiment named by id that does not exist, is not deleted, or was deleted too
    recently (``stage`` and ``deleted_time`` index its row), with MLflow's messages."""
    if row is None:
        raise ResourceNotFound(f"Run with id={given} not found" if kind == "Run"
                               else f"No Experiment with id={given} exists")
    if row[stage] != "deleted":
        undo = "delete_run" if kind == "Run" else "delete_experiment"
        raise InvalidParameterValue(
            f"{kind} {given} is not in the deleted lifecycle stage. Only {kind.lower()}s in the deleted lifecycle "
            f"stage can be deleted for good: delete it first ({undo})."
        )
    if not old_enough(row[deleted_time]):
        raise InvalidParameterValue(f"{kind} {given} is not older than the required age{age}.")


def _kept(artifact_uri: str, sources: list[str]) -> tuple[str, ...]:
    """The paths under a run's artifacts that live model versions' sources point to ('' for all)."""
    root = artifact_uri.rstrip("/")
    if not root:
        return ()
    return tuple(sorted({s.rstrip("/")[len(root) + 1:] for s in sources
                         if s.rstrip("/") == root or s.startswith(root + "/")}))


def _delete_artifacts(run: PurgedRun) -> int:
    """Delete a run's artifacts but the kept ones; its run folder goes too when left empty."""
    if not run.artifact_uri:
        return 0
    count = ArtifactRepository(run.artifact_uri).delete_artifacts(run.kept_artifacts)
    if "://" not in run.artifact_uri or run.artifact_uri.startswith("file://"):
        folder = Path(run.artifact_uri.removeprefix("file://")).parent
        if folder.name == run.run_id:
            _remove_empty(folder)
    return count


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
            raise


_ID_TABLES = {"run_id": "gc_runs", "experiment_id": "gc_experiments"}  # the temp tables of the chosen ids


def _synced(con: duckdb.DuckDBPyConnection, layout: Layout) -> bool:
    """Whether the store has pushed to or pulled from a bucket: sync finds new rows and pulled ranges by
    the event tables' row numbers, which deleting rows renumbers (DuckDB compacts row groups)."""
    pulled = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'sync_pulled'").fetchall()
    return layout.sync.exists() or bool(pulled[0][0])


def _purge(con: duckdb.DuckDBPyConnection, run_ids: list[str], experiment_ids: list[str],
           keep_events: bool) -> dict[str, int]:
    """Delete the rows of the runs and experiments and record them as purged, in one transaction; with
    ``keep_events`` the event tables keep theirs (hidden from every read, compaction and push by the
    purge records)."""
    now = int(time.time() * 1000)
    counts: dict[str, int] = {}
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE gc_runs AS SELECT unnest(?::VARCHAR[]) AS run_id", [run_ids])
        con.execute("CREATE OR REPLACE TEMP TABLE gc_experiments AS SELECT unnest(?::VARCHAR[]) AS experiment_id",
                    [experiment_ids])
        con.execute("INSERT INTO purged_runs SELECT run_id, ? FROM gc_runs", [now])
        con.execute("INSERT INTO purged_experiments SELECT experiment_id, ? FROM gc_experiments", [now])
        for spec in TABLES:
            key = next((k for k in _ID_TABLES if k in spec.keys), None)
            if key is None:
                continue  # registry tables: model versions keep the id of their source run, as in MLflow
            chosen = f"{key} IN (SELECT {key} FROM {_ID_TABLES[key]})"
            for table in dict.fromkeys((spec.state,) if keep_events else (spec.events, spec.state)):
                [(n,)] = con.execute(f"SELECT count(*) FROM {table} WHERE {chosen}").fetchall()
                if n:
                    con.execute(f"DELETE FROM {table} WHERE {chosen}")
                    counts[table] = int(n)
        con.execute("COMMIT")
    except BaseException:
        catalog.rollback(con)
        raise
    return counts


def _settle_run_files(store: DuckDBStore, run_id: str) -> None:
    """Leave the purged run's ``deleted`` marker (processes still logging to it keep refusing), and
    drop its ``shared`` marker and its liveness lock file unless a process still holds it."""
    layout = store.layout
    (layout.runs / f"{run_id}.deleted").touch()
    (layout.runs / f"{run_id}.shared").unlink(missing_ok=True)
    with store.liveness.probe_dead(run_id) as free:
        if free:
            os.unlink(layout.run_lock(run_id))
