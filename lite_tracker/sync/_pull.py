"""Pull: merge what teammates pushed to the bucket into the local store.

Pulled events keep their ids and their ``seq``, so the usual fold rules apply: mutable fields are last
writer wins by ``seq``, params first writer wins, and every event stays in the history tables.
Experiments are merged by name: a teammate's experiment whose name exists locally under another id is
mapped to the local id (its runs and tags move there; the mapping is remembered for later pulls). Runs
keep their bucket artifact location, so artifacts are fetched on demand; ``artifacts=True`` downloads
them into the local artifact root now.

Whoever can write to the bucket is untrusted: each commit is read and checked on its own (files,
ids, values; see :mod:`lite_tracker.bucket.untrusted`), and may only create objects or change those first pulled from
its own store (:meth:`LocalStore.owners`). A commit that fails is skipped whole with a
:class:`~lite_tracker.bucket.untrusted.SkippedCommitWarning`; the others are ingested together in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..bucket.objects import Bucket, Commit, arrow_type
from ..bucket.untrusted import commit_tables, read_commits, read_tables, skip_commit
from ..errors import InvalidParameterValue, ResourceNotFound
from ..store.catalog import DEFAULT_EXPERIMENT_ID
from ..store.segments import (
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
         progress: Callable[[SyncProgress], None] | None = None) -> SyncResult:
    started = time.perf_counter()
    local = LocalStore(client)
    local.settle()
    bucket = Bucket(url)
    store_id = local.store_id(create=False) or ""
    with bucket.errors("pulling from"):
        bucket.check_bucket()
        cursors = local.cursors(bucket.url)
        wanted = [(s, n) for s, numbers in sorted(bucket.commit_numbers().items()) if s != store_id
                  for n in numbers if n > cursors.get(s, 0)]
        commits = read_commits(bucket, wanted)
        files = [(c.store, name, f["path"], int(f["bytes"])) for c in commits for name, fl in c.files.items()
                 for f in fl]
        total = sum(f[3] for f in files)
        if dry_run or not files:
            note = "dry run: nothing downloaded" if dry_run else "nothing new"
            result = SyncResult("pull", bucket.url, store_id, len(commits), len(files), total, 0,
                                sum(int(f["rows"]) for c in commits for fl in c.files.values() for f in fl),
                                time.perf_counter() - started, dry_run, note)
            if not dry_run and len(commits) < len(wanted):
                local.ingest({}, bucket.url, _cursors(wanted, cursors), {})  # skipped for good: warn once
            if not dry_run and artifacts:
                result = _with_artifacts(result, _fetch_artifacts(local, bucket, progress), started)
            return result
        state = SyncProgress("pull", 0, len(files), 0, total)
        parsed: dict[str, pa.Table | Exception] = {}
        for i in range(0, len(files), 256):
            batch = files[i:i + 256]
            parsed.update(read_tables(bucket, [f[2] for f in batch]))
            state = SyncProgress("pull", state.files_done + len(batch), len(files),
                                 state.bytes_done + sum(f[3] for f in batch), total)
            if progress is not None:
                progress(state)
        merged, origins = _accept(local, bucket, commits, parsed)
        exp_map = _map_experiments(local, merged)
        merged = _apply_experiment_map(merged, exp_map)
        rows = local.ingest(merged, bucket.url, _cursors(wanted, cursors), exp_map, origins)
        run_ids: set[str] = set()
        for t in merged.values():
            if "run_id" in t.column_names:
                run_ids.update(v for v in t.column("run_id").unique().to_pylist() if v)
        result = SyncResult("pull", bucket.url, store_id, len(commits), len(files), total, len(run_ids), rows,
                            time.perf_counter() - started)
        if artifacts:
            result = _with_artifacts(result, _fetch_artifacts(local, bucket, progress), started)
        return result


def _cursors(wanted: list[tuple[str, int]], cursors: dict[str, int]) -> dict[str, int]:
    """The last commit read per store, skipped ones included (they are skipped for good)."""
    out: dict[str, int] = {}
    for store, number in wanted:
        out[store] = max(number, out.get(store, cursors.get(store, 0)))
    return out


def _accept(local: LocalStore, bucket: Bucket, commits: list[Commit],
            parsed: dict[str, pa.Table | Exception]) -> tuple[dict[str, pa.Table], dict[tuple[str, str], str]]:
    """The rows of the commits that pass every check, merged per table, and the store each new object
    comes from. A commit that fails a check is skipped whole, with a warning naming it."""
    import pyarrow as pa

    checked: list[tuple[Commit, dict[str, pa.Table]]] = []
    for c in commits:
        try:
            checked.append((c, _without_default_experiment(commit_tables(c, parsed))))
        except InvalidParameterValue as e:
            skip_commit(bucket, c.store, c.number, e.message)
    wanted: dict[str, set[str]] = {}
    for _, tables in checked:
        for table, ids in _touched(tables).items():
            wanted.setdefault(table, set()).update(ids)
    owners = local.owners(wanted)
    models = local.live_model_names()
    origins: dict[tuple[str, str], str] = {}
    accepted: dict[str, list[pa.Table]] = {}
    for c, tables in checked:
        try:
            new = _check_owners(c.store, tables, owners, origins, models)
        except InvalidParameterValue as e:
            skip_commit(bucket, c.store, c.number, e.message)
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
