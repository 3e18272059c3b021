"""Pull: merge what teammates pushed to the bucket into the local store.

Pulled events keep their ids and their ``seq``, so the usual fold rules apply: mutable fields are last
writer wins by ``seq``, params first writer wins, and every event stays in the history tables.
Experiments are merged by name: a teammate's experiment whose name exists locally under another id is
mapped to the local id (its runs and tags move there; the mapping is remembered for later pulls). Runs
keep their bucket artifact location, so artifacts are fetched on demand; ``artifacts=True`` downloads
them into the local artifact root now.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..bucket.objects import Bucket, arrow_type, concat_events, read_parquet
from ..errors import ResourceNotFound
from ..store.segments import EXPERIMENTS, RUNS
from ._local import LocalStore
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
        commits = bucket.read_commits(wanted)
        files = [(c.store, name, f["path"], int(f["bytes"])) for c in commits for name, fl in c.files.items()
                 for f in fl]
        total = sum(f[3] for f in files)
        if dry_run or not files:
            note = "dry run: nothing downloaded" if dry_run else "nothing new"
            result = SyncResult("pull", bucket.url, store_id, len(commits), len(files), total, 0,
                                sum(int(f["rows"]) for c in commits for fl in c.files.values() for f in fl),
                                time.perf_counter() - started, dry_run, note)
            if not dry_run and artifacts:
                got = _fetch_artifacts(local, bucket, progress)
                result = _with_artifacts(result, got, started)
            return result
        state = SyncProgress("pull", 0, len(files), 0, total)
        tables: dict[str, list[pa.Table]] = {}
        for i in range(0, len(files), 256):
            batch = files[i:i + 256]
            blobs = bucket.fs.cat([bucket.path(f[2]) for f in batch])
            for _, name, path, _ in batch:
                tables.setdefault(name, []).append(read_parquet(blobs[bucket.path(path)]))
            state = SyncProgress("pull", state.files_done + len(batch), len(files),
                                 state.bytes_done + sum(f[3] for f in batch), total)
            if progress is not None:
                progress(state)
        merged = {name: concat_events(name, parts) for name, parts in tables.items()}
        merged = {k: v for k, v in merged.items() if v is not None}
        exp_map = _map_experiments(local, merged)
        merged = _apply_experiment_map(merged, exp_map)
        new_cursors = {c.store: max(c.number, cursors.get(c.store, 0)) for c in commits}
        for c in commits:
            new_cursors[c.store] = max(new_cursors[c.store], c.number)
        rows = local.ingest(merged, bucket.url, new_cursors, exp_map)
        run_ids: set[str] = set()
        for t in merged.values():
            if "run_id" in t.column_names:
                run_ids.update(v for v in t.column("run_id").unique().to_pylist() if v)
        result = SyncResult("pull", bucket.url, store_id, len(commits), len(files), total, len(run_ids), rows,
                            time.perf_counter() - started)
        if artifacts:
            result = _with_artifacts(result, _fetch_artifacts(local, bucket, progress), started)
        return result


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
    from ..store.artifacts import ArtifactRepository

    runs = local.runs_with_artifacts_at(f"{bucket.url}/artifacts")
    moved: list[tuple[str, str]] = []
    files = nbytes = 0
    for i, (run_id, experiment_id, uri) in enumerate(runs):
        dest = Path(root) / experiment_id / run_id / "artifacts"
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
