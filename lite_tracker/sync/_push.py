"""Push: copy what is new in a local store (every event table, and the runs' artifacts) to the bucket."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._remote import MULTIPART_CHUNK
from ..bucket import delta
from ..bucket.delta import PUSH, PUSHES
from ..bucket.objects import Bucket, read_parquet
from ..bucket.untrusted import read_pushes, read_rows
from ..errors import SyncError
from ..store.artifacts import PACK_FOLDER
from ..store.locks import exclusive
from ..store.segments import TABLES
from ._local import LocalStore
from ._types import SyncProgress, SyncResult

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

    from ..tracking.client import MlflowClient

_BATCH_FILES = 256
PACK_MAX_FILE = 2**20  # files below this size are packed on their first push
PACK_MAX_BYTES = 32 * 2**20
_BATCH_BYTES = 64 * 2**20


def push(client: MlflowClient, url: str, *, artifacts: bool = True, dry_run: bool = False,
         progress: Callable[[SyncProgress], None] | None = None) -> SyncResult:
    started = time.perf_counter()
    local = LocalStore(client)
    left = local.settle()
    bucket = Bucket(url)
    store_id = local.store_id(create=not dry_run) or "(new store)"
    with bucket.errors("pushing to"):
        bucket.check()
        # One push of this store at a time on this machine; the Delta txn ids keep it exact anyway.
        with exclusive(local.layout.locks / f"push-{_url_hash(bucket)}.lock", 300.0, "push lock of this store"):
            result = _push_once(local, bucket, store_id, artifacts, dry_run, progress, started)
    if left:  # another process kept the store busy: those events go with the next push
        note = f"{left} segments not compacted yet, pushed next time"
        result = dataclasses.replace(result, note=f"{result.note}; {note}" if result.note else note)
    return result


def _push_once(local: LocalStore, bucket: Bucket, store_id: str, artifacts: bool, dry_run: bool,
               progress: Callable[[SyncProgress], None] | None, started: float) -> SyncResult:
    names = [spec.events for spec in TABLES]
    with ThreadPoolExecutor(len(names) + 1) as pool:  # delta-rs releases the GIL: load the logs side by side
        loaded = dict(zip([PUSHES, *names], pool.map(lambda t: delta.load(bucket.url, t), [PUSHES, *names])))
    pushes_dt = loaded.pop(PUSHES)
    last = (pushes_dt.transaction_version(store_id) or 0) if pushes_dt is not None else 0
    number = last + 1
    hwm = {name: dt.transaction_version(store_id) or 0 for name, dt in loaded.items() if dt is not None}
    # A push killed after committing some tables left rows of push ``number``: its row still has to come,
    # and must count those rows too (pull reads the tables a push's row lists, and checks their counts).
    committed = _committed_rows(bucket, loaded, store_id, number)
    tables, marks, local_runs = local.new_rows(hwm)

    # Data files: one Parquet file per table with new rows; local artifact folders become bucket URLs.
    blobs: dict[str, bytes] = {}
    added: dict[str, tuple[str, int, str, str]] = {}
    counts = dict(committed)
    run_ids: set[str] = set()
    rows = 0
    for name, table in tables.items():
        table = _relocate(table, bucket)
        if "run_id" in table.column_names:
            run_ids.update(v for v in table.column("run_id").unique().to_pylist() if v)
        rel = delta.data_path(store_id, number)
        table = _with_push(table, number)
        blob = _parquet_bytes(table)
        blobs[bucket.path(f"tables/{name}/{rel}")] = blob
        added[name] = (rel, len(blob), store_id, delta.stats(table))
        counts[name] = counts.get(name, 0) + table.num_rows
        rows += table.num_rows

    # Artifacts: files not pushed yet (or changed) under the local artifact folders of local runs.
    # Small files pushed for the first time go up in one zip pack per run (one object instead of many);
    # large and changed files go up as plain objects, which win over packed copies when read.
    known = _known_artifacts(local, bucket, store_id, pushes_dt, last) if artifacts else {}
    uploads: list[tuple[str, str, int]] = []
    packs: dict[str, list[tuple[str, str, int]]] = {}
    current: dict[str, dict[str, list[int]]] = {}
    pushed_artifacts: dict[str, dict[str, int]] = {}
    if artifacts:
        for run_id, folder in local_runs:
            for rel, size, mtime in _walk(folder):
                current.setdefault(run_id, {})[rel] = [size, mtime]
                seen = known.get(run_id, {}).get(rel)
                if seen is None or seen[0] != size or (seen[1] is not None and seen[1] != mtime):
                    if seen is None and size < PACK_MAX_FILE and not rel.startswith(".lite_tracker/"):
                        packs.setdefault(run_id, []).append((os.path.join(folder, rel), rel, size))
                    else:
                        uploads.append((os.path.join(folder, rel), bucket.artifact_key(run_id, rel), size))
                    pushed_artifacts.setdefault(run_id, {})[rel] = size
                    run_ids.add(run_id)

    packed_files = sum(len(v) for v in packs.values())
    if not blobs and not uploads and not packs and not committed:
        if artifacts and not dry_run and last:
            _save_known(local, bucket, store_id, last, known, current)
        return SyncResult("push", bucket.url, store_id, last, 0, 0, 0, 0,
                          time.perf_counter() - started, dry_run, "nothing new")
    row = _push_row(number, counts, pushed_artifacts)
    total_files = len(blobs) + len(uploads) + packed_files + 1
    total_bytes = (sum(map(len, blobs.values())) + sum(u[2] for u in uploads)
                   + sum(f[2] for files in packs.values() for f in files) + len(row))
    if dry_run:
        return SyncResult("push", bucket.url, store_id, number, total_files, total_bytes, len(run_ids), rows,
                          time.perf_counter() - started, True, "dry run: nothing uploaded")

    report = _Reporter("push", total_files, total_bytes, progress)
    if blobs:
        bucket.fs.pipe(blobs)
        report.add(len(blobs), sum(map(len, blobs.values())))
    for packed in _pack_batches(packs, bucket, store_id, number):
        bucket.fs.pipe({key: data for key, data, _, _ in packed})
        report.add(sum(b[2] for b in packed), sum(b[3] for b in packed))
    for batch in _batches(uploads):
        bucket.fs.put([u[0] for u in batch], [u[1] for u in batch], chunksize=MULTIPART_CHUNK)
        report.add(len(batch), sum(u[2] for u in batch))

    # One Delta transaction per table (side by side), then the push's row in ``pushes``, which makes it whole.
    def commit_table(name: str) -> None:
        dt = loaded.get(name) or delta.ensure(bucket.url, name)
        delta.commit(dt, name, [added[name]], store_id, marks[name])

    with ThreadPoolExecutor(max(1, len(added))) as pool:
        list(pool.map(commit_table, sorted(added)))
    rel = delta.data_path(store_id, number)
    bucket.fs.pipe_file(bucket.path(f"tables/{PUSHES}/{rel}"), row)
    delta.commit(pushes_dt or delta.ensure(bucket.url, PUSHES), PUSHES,
                 [(rel, len(row), store_id, delta.stats(read_parquet(row)))], store_id, number)
    report.add(1, len(row))
    bucket.ensure_marker()
    _save_known(local, bucket, store_id, number, known, current)
    return SyncResult("push", bucket.url, store_id, number, total_files, total_bytes, len(run_ids), rows,
                      time.perf_counter() - started, False, "")


def _committed_rows(bucket: Bucket, loaded: dict[str, DeltaTable | None], store_id: str,
                   number: int) -> dict[str, int]:
    """Rows of push ``number`` of this store that the event tables already hold, per table: what a run
    of the push killed before its ``pushes`` row committed (none after a push that completed)."""
    wanted = {store_id: {number}}
    groups: dict[tuple[str, int], dict[str, list[pa.Table]]] = {}
    broken: dict[tuple[str, int], str] = {}
    for name, dt in loaded.items():
        if dt is not None and any(f.store == store_id and (f.hi is None or f.hi >= number) for f in delta.files(dt)):
            read_rows(bucket, name, dt, wanted, groups, broken)
    if broken:
        raise SyncError(f"Push {number} of this store was interrupted and the bucket cannot give its committed rows "
                        f"back: {broken[(store_id, number)]} Restore the file, or push this store to a new prefix.")
    parts = groups.get((store_id, number), {})
    return {name: n for name, tables in parts.items() if (n := sum(t.num_rows for t in tables))}


def _with_push(table: pa.Table, number: int) -> pa.Table:
    import pyarrow as pa

    return table.append_column(PUSH, pa.array([number] * table.num_rows, pa.int64()))


def _push_row(number: int, counts: dict[str, int], artifacts: dict[str, dict[str, int]],
              created: int | None = None) -> bytes:
    """The Parquet file of one row of the ``pushes`` table."""
    import pyarrow as pa

    when = int(time.time() * 1000) if created is None else created
    return _parquet_bytes(pa.table({"created": pa.array([when], pa.int64()),
                                    "tables": [json.dumps(counts, separators=(",", ":"))],
                                    "artifacts": [json.dumps(artifacts, separators=(",", ":"))],
                                    PUSH: pa.array([number], pa.int64())}))


def _url_hash(bucket: Bucket) -> str:
    import hashlib

    return hashlib.sha256(bucket.url.encode()).hexdigest()[:16]


class _Reporter:
    def __init__(self, action: str, files: int, nbytes: int, callback: Callable[[SyncProgress], None] | None):
        self.state = SyncProgress(action, 0, files, 0, nbytes)
        self.callback = callback

    def add(self, files: int, nbytes: int) -> None:
        s = self.state
        self.state = SyncProgress(s.action, s.files_done + files, s.files_total, s.bytes_done + nbytes, s.bytes_total)
        if self.callback is not None:
            self.callback(self.state)


def _batches(uploads: list[tuple[str, str, int]]) -> list[list[tuple[str, str, int]]]:
    out: list[list[tuple[str, str, int]]] = [[]]
    size = 0
    for u in uploads:
        if len(out[-1]) >= _BATCH_FILES or (out[-1] and size + u[2] > _BATCH_BYTES):
            out.append([])
            size = 0
        out[-1].append(u)
        size += u[2]
    return [b for b in out if b]


def _pack_batches(packs: dict[str, list[tuple[str, str, int]]], bucket: Bucket, store_id: str,
                  number: int) -> Iterator[list[tuple[str, bytes, int, int]]]:
    """Zip packs ``(key, data, files, bytes)`` of at most ``PACK_MAX_BYTES`` each, yielded in batches
    of about ``_BATCH_BYTES`` so memory stays bounded."""
    batch: list[tuple[str, bytes, int, int]] = []
    size = 0
    token = uuid.uuid4().hex[:8]  # two racing pushes of one store never overwrite each other's packs
    for run_id, files in packs.items():
        start = 0
        k = 0
        while start < len(files):
            buf = io.BytesIO()
            n = nbytes = 0
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
                for path, rel, fsize in files[start:]:
                    if n and nbytes + fsize > PACK_MAX_BYTES:
                        break
                    z.write(path, rel)
                    n += 1
                    nbytes += fsize
            start += n
            key = bucket.artifact_key(run_id, f"{PACK_FOLDER}/{number:012d}-{store_id[:12]}-{token}-{k:04d}.zip")
            k += 1
            batch.append((key, buf.getvalue(), n, nbytes))
            size += nbytes
            if size >= _BATCH_BYTES or len(batch) >= _BATCH_FILES:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


def _relocate(table: pa.Table, bucket: Bucket) -> pa.Table:
    """Point local artifact folders at the bucket: a run's at ``<url>/artifacts/<run_id>``, an
    experiment's at ``<url>/artifacts``. Remote locations (``s3://`` ...) are kept."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for column, per_run in (("artifact_uri", True), ("artifact_location", False)):
        if column not in table.column_names:
            continue
        col = table.column(column)
        remote = pc.and_(pc.match_substring(col, "://"), pc.invert(pc.starts_with(col, "file://")))
        keep = pc.or_kleene(pc.is_null(col), remote)
        if per_run:
            target = pc.binary_join_element_wise(pa.scalar(f"{bucket.url}/artifacts"), table.column("run_id"), "/")
        else:
            target = pa.array([f"{bucket.url}/artifacts"] * table.num_rows, pa.string())
        new = pc.if_else(keep, col, target)
        table = table.set_column(table.column_names.index(column), column, new)
    return table


def _parquet_bytes(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _walk(folder: str) -> list[tuple[str, int, int]]:
    """``(relative path, size, mtime_ns)`` of the files under ``folder`` (none if it does not exist)."""
    out = []
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            entries = list(os.scandir(os.path.join(folder, rel_dir)))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for e in entries:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            if e.is_dir(follow_symlinks=False):
                stack.append(rel)
            elif e.is_file() and not e.name.startswith(".tmp-"):
                st = e.stat()
                out.append((rel, st.st_size, st.st_mtime_ns))
    return out


# ---------------------------------------------------------------- which artifacts the bucket has

def _known_path(local: LocalStore, bucket: Bucket) -> Path:
    return local.layout.sidecar / "sync" / f"pushed-{_url_hash(bucket)}.json"


def _known_artifacts(local: LocalStore, bucket: Bucket, store_id: str, pushes: DeltaTable | None,
                     last: int) -> dict[str, dict[str, list[int | None]]]:
    """Artifacts this store has pushed: ``run_id -> rel -> [size, mtime_ns or None]``.

    A local cache (keyed by the last push it saw) makes this free; if the cache is missing or behind
    (another process of this store pushed), this store's rows of the ``pushes`` table are read instead.
    """
    path = _known_path(local, bucket)
    try:
        cached = json.loads(path.read_text())
        if cached.get("store") == store_id and cached.get("commit") == last:
            return dict(cached["files"])
    except (OSError, ValueError, KeyError):
        pass
    known: dict[str, dict[str, list[int | None]]] = {}
    if pushes is not None and last:
        for p in read_pushes(bucket, pushes, {store_id}):
            for run_id, files in p.artifacts.items():
                for rel, size in files.items():
                    known.setdefault(run_id, {})[rel] = [size, None]
    return known


def _save_known(local: LocalStore, bucket: Bucket, store_id: str, number: int,
                known: dict[str, dict[str, list[Any]]], current: dict[str, dict[str, list[int]]]) -> None:
    merged = {run_id: dict(files) for run_id, files in known.items()}
    for run_id, files in current.items():
        merged.setdefault(run_id, {}).update(files)
    path = _known_path(local, bucket)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"store": store_id, "commit": number, "files": merged}))
    os.replace(tmp, path)
