"""Pull: merge what teammates pushed to the bucket into the local store.

Pulled events keep their ids and their ``seq``, so the usual fold rules apply: mutable fields are last
writer wins by ``seq``, params first writer wins, and every event stays in the history tables.
Experiments are merged by name: a teammate's experiment whose name exists locally under another id is
mapped to the local id (its runs and tags move there; the mapping is remembered for later pulls). Runs
keep their bucket artifact location, so artifacts are fetched on demand; ``artifacts=True`` downloads
them into the local artifact root now.

Pull reads the ``pushes`` Delta table (nothing more when its version is the one pulled last time), then
the rows of teammates' pushes newer than the last one pulled from each store, from the current snapshot
of each event table (so compaction and vacuum never make a pull miss or repeat rows).

Whoever can write to the bucket is untrusted: each push is read and checked on its own (files,
ids, values; see :mod:`lite_tracker.bucket.untrusted`), and may only create objects or change those first pulled from
its own store (:meth:`LocalStore.owners`). A push that fails is skipped whole with a
:class:`~lite_tracker.bucket.untrusted.SkippedCommitWarning`; the others are ingested together in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..bucket import delta
from ..bucket.delta import PUSHES
from ..bucket.objects import Bucket, arrow_type
from ..bucket.untrusted import Push, push_tables, read_pushes, read_rows, skip_push
from ..errors import InvalidParameterValue, ResourceNotFound
from ..store.catalog import DEFAULT_EXPERIMENT_ID
from ..store.segments import (
    BY_EVENTS,
    DATASET_TABLES,
    EXPERIMENT_TAGS,
    EXPERIMENTS,
    METRICS,
    PARAMS,
    REGISTERED_MODELS,
    REGISTRY_TABLES,
    RUNS,
    TAGS,
)
from ._local import OBJECT_TABLES, THIS_STORE, UNKNOWN_TEAMMATE, LocalStore
from ._types import SyncProgress, SyncResult

if TYPE_CHECKING:
    import pyarrow as pa

    from ..tracking.client import MlflowClient

def pull(client: MlflowClient, url: str, *, artifacts: bool = False, dry_run: bool = False,
         progress: Callable[[SyncProgress], None] | None = None,
         as_of: int | str | datetime | None = None) -> SyncResult:
    started = time.perf_counter()
    when = delta.parse_as_of(as_of)
    local = LocalStore(client)
    local.settle()
    bucket = Bucket(url)
    store_id = local.store_id(create=False) or ""
    with bucket.errors("pulling from"):
        bucket.check()
        pushes_dt = delta.load(bucket.url, PUSHES, when)
        version = pushes_dt.version() if pushes_dt is not None else -1
        cursors = local.cursors(bucket.url)
        unchanged = when is None and version == local.pulled_version(bucket.url)
        pushes = [] if pushes_dt is None or unchanged else read_pushes(bucket, pushes_dt)
        new = [p for p in pushes if p.store != store_id and p.number > cursors.get(p.store, 0)]
        rows = sum(n for p in new for n in p.tables.values())
        if dry_run or not new:
            note = "dry run: nothing downloaded" if dry_run else "nothing new"
            result = SyncResult("pull", bucket.url, store_id, len(new), 0, 0, 0, rows, time.perf_counter() - started,
                                dry_run, note)
            if not dry_run and when is None and version >= 0 and not unchanged:
                local.ingest({}, bucket.url, {}, {}, version=version)
            if not dry_run and artifacts:
                result = _with_artifacts(result, _fetch_artifacts(local, bucket, progress), started)
            return result
        wanted: dict[str, set[int]] = {}
        for p in new:
            wanted.setdefault(p.store, set()).add(p.number)
        names = sorted({name for p in new for name in p.tables if name in BY_EVENTS})  # unknown: a newer writer
        groups: dict[tuple[str, int], dict[str, list[pa.Table]]] = {}
        broken: dict[tuple[str, int], str] = {}
        files = nbytes = 0
        for i, name in enumerate(names):
            dt = delta.load(bucket.url, name)
            if dt is not None:
                got = read_rows(bucket, name, dt, wanted, groups, broken)
                files, nbytes = files + got[0], nbytes + got[1]
            if progress is not None:
                progress(SyncProgress("pull", i + 1, len(names), nbytes, nbytes))
        merged, origins = _accept(local, bucket, new, groups, broken)
        exp_map = _map_experiments(local, merged)
        merged = _apply_experiment_map(merged, exp_map)
        done = {p.store: max(n for n in wanted[p.store]) for p in new}
        rows = local.ingest(merged, bucket.url, done, exp_map, origins,
                            version=version if when is None else None)
        run_ids: set[str] = set()
        for t in merged.values():
            if "run_id" in t.column_names:
                run_ids.update(v for v in t.column("run_id").unique().to_pylist() if v)
        result = SyncResult("pull", bucket.url, store_id, len(new), files, nbytes, len(run_ids), rows,
                            time.perf_counter() - started)
        if artifacts:
            result = _with_artifacts(result, _fetch_artifacts(local, bucket, progress), started)
        return result


def _accept(local: LocalStore, bucket: Bucket, pushes: list[Push],
            groups: dict[tuple[str, int], dict[str, list[pa.Table]]],
            broken: dict[tuple[str, int], str]) -> tuple[dict[str, pa.Table], dict[tuple[str, str], str]]:
    """The rows of the pushes that pass every check, merged per table, and the store each new object
    comes from. A push that fails a check is skipped whole, with a warning naming it."""
    import pyarrow as pa

    checked: list[tuple[Push, dict[str, pa.Table]]] = []
    for p in pushes:
        key = (p.store, p.number)
        try:
            if key in broken:
                raise InvalidParameterValue(broken[key])
            tables = push_tables(groups.get(key, {}))
            found = {name: t.num_rows for name, t in tables.items() if t.num_rows}
            if found != {name: n for name, n in p.tables.items() if n and name in BY_EVENTS}:
                raise InvalidParameterValue(f"its row lists {p.tables} rows per table, its data files hold {found}.")
            checked.append((p, _without_default_experiment(tables)))
        except InvalidParameterValue as e:
            skip_push(bucket, p.store, p.number, e.message)
    wanted: dict[str, set[str]] = {}
    for _, tables in checked:
        for table, ids in _touched(tables).items():
            wanted.setdefault(table, set()).update(ids)
    owners = local.owners(wanted)
    models = local.live_model_names()
    origins: dict[tuple[str, str], str] = {}
    accepted: dict[str, list[pa.Table]] = {}
    for p, tables in checked:
        try:
            new = _check_owners(p.store, tables, owners, origins, models)
        except InvalidParameterValue as e:
            skip_push(bucket, p.store, p.number, e.message)
            continue
        origins.update(new)
        for name, t in tables.items():
            accepted.setdefault(name, []).append(t)
    return {name: pa.concat_tables(parts) for name, parts in accepted.items()}, origins


def _without_default_experiment(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """Every store has a Default experiment of the same id: a teammate's is merged into the local one,
    whose own fields stay (as for any experiment of the same name)."""
    import pyarrow.compute as pc

    exp = tables.get(EXPERIMENTS.events)
    if exp is None:
        return tables
    keep = pc.not_equal(exp.column("experiment_id"), DEFAULT_EXPERIMENT_ID)
    return {**tables, EXPERIMENTS.events: exp.filter(keep)}


# Tables whose rows change an object, by the object's table (see _local.OBJECT_TABLES) and id column.
_CHANGES = {
    EXPERIMENTS.events: (EXPERIMENTS, EXPERIMENT_TAGS),
    RUNS.events: (RUNS, PARAMS, TAGS, METRICS, *DATASET_TABLES),
    REGISTERED_MODELS.events: REGISTRY_TABLES,
}


def _touched(tables: dict[str, pa.Table]) -> dict[str, set[str]]:
    """Ids of the objects a commit's rows change, per object table."""
    out: dict[str, set[str]] = {}
    for table, column in OBJECT_TABLES:
        for spec in _CHANGES[table]:
            t = tables.get(spec.events)
            if t is not None and t.num_rows:
                out.setdefault(table, set()).update(t.column(column).unique().to_pylist())
    if DEFAULT_EXPERIMENT_ID in out.get(EXPERIMENTS.events, ()):
        out[EXPERIMENTS.events].discard(DEFAULT_EXPERIMENT_ID)  # shared: only its tags arrive here
    return out


def _check_owners(store: str, tables: dict[str, pa.Table], owners: dict[str, dict[str, str]],
                  claimed: dict[tuple[str, str], str], models: dict[str, str]) -> dict[tuple[str, str], str]:
    """Refuse a commit that changes an object another store owns, or takes a live model's name; return
    the objects it creates, as (table, id) -> ``store``."""
    new: dict[tuple[str, str], str] = {}
    for table, ids in _touched(tables).items():
        for oid in ids:
            owner = claimed.get((table, oid), owners.get(table, {}).get(oid))
            if owner is None:
                new[(table, oid)] = store
            elif owner not in (store, UNKNOWN_TEAMMATE):
                whose = "this store" if owner == THIS_STORE else f"store {owner}"
                raise InvalidParameterValue(f"it changes {table.removesuffix('_events')} {oid!r} of {whose}.")
    events = tables.get(REGISTERED_MODELS.events)
    if events is not None:
        for model_id, name in zip(events.column("model_id").to_pylist(), events.column("name").to_pylist()):
            if name in models and models[name] != model_id:
                raise InvalidParameterValue(f"it names model {model_id!r} {name!r}, a name model "
                                            f"{models[name]!r} of this store already has.")
    return new


def _with_artifacts(result: SyncResult, got: tuple[int, int, int], started: float) -> SyncResult:
    files, nbytes, runs = got
    return SyncResult(result.action, result.url, result.store_id, result.commit, result.files + files,
                      result.bytes + nbytes, max(result.runs, runs), result.rows, time.perf_counter() - started,
                      result.dry_run, "" if files else result.note)


def _map_experiments(local: LocalStore, tables: dict[str, pa.Table]) -> dict[str, str]:
    """Teammates' experiment ids to merge into another id with the same name (see the module doc)."""
    names, mapped = local.experiment_names()
    exp = tables.get(EXPERIMENTS.events)
    out: dict[str, str] = {}
    if exp is not None:
        latest: dict[str, tuple[int, str, int]] = {}
        for eid, name, created, seq in zip(*(exp.column(c).to_pylist() for c in
                                             ("experiment_id", "name", "creation_time", "seq"))):
            if name is not None and (eid not in latest or seq >= latest[eid][0]):
                latest[eid] = (seq, name, created if created is not None else latest.get(eid, (0, "", 0))[2])
        by_name: dict[str, list[tuple[int, str]]] = {}
        for eid, (_, name, created) in latest.items():
            if eid in mapped or names.get(name) == eid:
                continue
            if name in names:
                out[eid] = names[name]
            else:
                by_name.setdefault(name, []).append((created or 0, eid))
        for group in by_name.values():
            group.sort()
            for _, eid in group[1:]:
                out[eid] = group[0][1]
    return {**{k: v for k, v in mapped.items() if k != v}, **out}


def _apply_experiment_map(tables: dict[str, pa.Table], mapping: dict[str, str]) -> dict[str, pa.Table]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not mapping:
        return tables
    out = {}
    keys = pa.array(list(mapping), pa.string())
    values = pa.array(list(mapping.values()), pa.string())
    for name, t in tables.items():
        if "experiment_id" in t.column_names:
            col = t.column("experiment_id")
            if name == EXPERIMENTS.events:
                t = t.filter(pc.invert(pc.is_in(col, keys)))  # the local experiment keeps its own fields
            else:
                idx = pc.index_in(col, keys)
                new = pc.if_else(pc.is_null(idx), col, pc.take(values, idx))
                t = t.set_column(t.column_names.index("experiment_id"), "experiment_id", new)
        out[name] = t
    return out


def _fetch_artifacts(local: LocalStore, bucket: Bucket,
                     progress: Callable[[SyncProgress], None] | None) -> tuple[int, int, int]:
    """Download the artifacts of runs that point at this bucket into the local artifact root, then point
    those runs at the local copies. Returns (files, bytes, runs)."""
    import pyarrow as pa

    root = local.settings.artifact_root
    if "://" in root:
        return 0, 0, 0  # the local artifact root is itself remote: nothing to bring home
    from ..store.artifacts import ArtifactRepository, confined_path

    runs = local.runs_with_artifacts_at(f"{bucket.url}/artifacts")
    moved: list[tuple[str, str]] = []
    files = nbytes = 0
    for i, (run_id, experiment_id, uri) in enumerate(runs):
        dest = confined_path(root, f"{experiment_id}/{run_id}/artifacts")
        dest.mkdir(parents=True, exist_ok=True)
        try:
            ArtifactRepository(uri).download_artifacts("", dest)
        except ResourceNotFound:
            pass  # a run without artifacts
        got = [f.stat().st_size for f in dest.rglob("*") if f.is_file()]
        files += len(got)
        nbytes += sum(got)
        moved.append((run_id, str(dest)))
        if progress is not None:
            progress(SyncProgress("pull", i + 1, len(runs), nbytes, nbytes))
    if moved:
        seq = local.store.clock()
        n = len(moved)
        cols: dict[str, Any] = {name: pa.nulls(n, arrow_type(t)) for name, t in RUNS.columns}
        cols["run_id"] = pa.array([m[0] for m in moved], pa.string())
        cols["artifact_uri"] = pa.array([m[1] for m in moved], pa.string())
        cols["seq"] = pa.array([seq] * n, pa.int64())
        # Recorded as pulled: the new location is this machine's business, never pushed back.
        local.ingest({RUNS.events: pa.table(cols)}, bucket.url, {}, {})
    return files, nbytes, len(moved)
