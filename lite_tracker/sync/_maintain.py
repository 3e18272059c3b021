"""Bucket upkeep: compact small files, vacuum unreferenced ones, and move a format-1 bucket to Delta."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from ..bucket import delta
from ..bucket.delta import PUSHES
from ..bucket.objects import BUCKET_FORMAT, MARKER, Bucket, read_parquet
from ..bucket.untrusted import commit_tables, read_commits, read_tables, skip_commit
from ..errors import InvalidParameterValue
from ..store.segments import METRICS, TABLES
from ._types import SyncProgress, SyncResult

_TABLES = [spec.events for spec in TABLES] + [PUSHES]


def optimize(url: str) -> dict[str, dict[str, int]]:
    """Compact each table's small files (metrics Z-ordered by run and key), then checkpoint its log.

    Safe while others push: compaction only rewrites files, appends never conflict with it.
    Returns ``table -> {"files_added": n, "files_removed": n}``.
    """
    bucket = Bucket(url)
    out: dict[str, dict[str, int]] = {}
    with bucket.errors("optimizing"):
        bucket.check()
        for table in _TABLES:
            dt = delta.load(bucket.url, table)
            if dt is None:
                continue
            got = dt.optimize.z_order(["run_id", "key"]) if table == METRICS.events else dt.optimize.compact()
            dt.create_checkpoint()
            out[table] = {"files_added": int(got.get("numFilesAdded", 0)),
                          "files_removed": int(got.get("numFilesRemoved", 0))}
    return out


def vacuum(url: str, retain_hours: float = 168.0, dry_run: bool = False) -> list[str]:
    """Delete files no snapshot younger than ``retain_hours`` needs, leftovers of interrupted pushes
    included; returns them (as ``tables/<table>/<path>``). Pushes in flight upload their files a moment
    before they commit them: keep ``retain_hours`` above the longest push (0 only when nobody pushes)."""
    bucket = Bucket(url)
    if retain_hours < 0:
        raise InvalidParameterValue(f"retain_hours must be 0 or more, got {retain_hours!r}.")
    removed: list[str] = []
    with bucket.errors("vacuuming"):
        bucket.check()
        for table in _TABLES:
            dt = delta.load(bucket.url, table)
            if dt is None:
                continue
            gone = dt.vacuum(retention_hours=int(retain_hours), dry_run=dry_run, enforce_retention_duration=False,
                             full=True)
            removed += [f"tables/{table}/{path}" for path in gone]
    return removed


def migrate(url: str, to: str | None = None, *, dry_run: bool = False,
            progress: Callable[[SyncProgress], None] | None = None) -> SyncResult:
    """Copy a format-1 bucket's commits into Delta tables (format 2), in place or under ``to``.

    Every commit becomes one push of its store (same number, same rows, same high-water marks), so a
    migrated store's next push carries on where it left off; a malformed commit is skipped with a
    warning, as a pull would. Run again, it commits nothing twice. In place, each store also gets a last
    format-1 commit saying "format 2", so lite_tracker versions that read format 1 stop with an
    "upgrade" error instead of missing new pushes. Artifacts stay where they are.
    """
    started = time.perf_counter()
    src = Bucket(url)
    dst = Bucket(to) if to else src
    with src.errors("migrating"):
        src.check_bucket()
        if src.format() != 1:
            raise InvalidParameterValue(f"{src.url} is not a format-1 bucket (format {src.format()}): "
                                        "nothing to migrate.")
        if dst is not src and dst.format() not in (0, BUCKET_FORMAT):
            raise InvalidParameterValue(f"{dst.url} already holds a bucket of format {dst.format()}.")
        numbers = src.commit_numbers()
        wanted = [(s, n) for s, ns in sorted(numbers.items()) for n in ns]
        commits = read_commits(src, wanted)
        files = [f["path"] for c in commits for fl in c.files.values() for f in fl]
        rows = sum(int(f["rows"]) for c in commits for fl in c.files.values() for f in fl)
        nbytes = sum(int(f["bytes"]) for c in commits for fl in c.files.values() for f in fl)
        if dry_run:
            return SyncResult("migrate", src.url, "", len(commits), len(files), nbytes, 0, rows,
                              time.perf_counter() - started, True, f"dry run: {len(numbers)} stores, nothing written")
        done = 0
        for c in commits:
            parsed = read_tables(src, [f["path"] for fl in c.files.values() for f in fl])
            try:
                tables = commit_tables(c, parsed)
            except InvalidParameterValue as e:
                skip_commit(src, c.store, c.number, e.message)
                continue
            _write_push(dst, c.store, c.number, tables, c.hwm, c.artifacts, c.created)
            done += 1
            if progress is not None:
                progress(SyncProgress("migrate", done, len(commits), 0, 0))
        dst.fs.pipe_file(dst.path(MARKER), json.dumps({"format": BUCKET_FORMAT}).encode())
        if dst is src:
            for store, ns in numbers.items():  # format-1 readers now stop with "upgrade lite_tracker"
                tomb = {"format": BUCKET_FORMAT, "store": store, "commit": ns[-1] + 1, "files": {}}
                src.fs.pipe_file(src.commit_path(store, ns[-1] + 1), json.dumps(tomb).encode())
    return SyncResult("migrate", dst.url, "", done, len(files), nbytes, 0, rows, time.perf_counter() - started)


def _write_push(bucket: Bucket, store: str, number: int, tables: dict[str, object], hwm: dict[str, int],
                artifacts: dict[str, dict[str, int]], created: int) -> None:
    """One format-1 commit as one push: a Delta transaction per table, then its ``pushes`` row."""
    import pyarrow as pa

    from ._push import _parquet_bytes, _push_row, _with_push

    pushes = delta.ensure(bucket.url, PUSHES)
    if (pushes.transaction_version(store) or 0) >= number:
        return  # migrated already
    counts: dict[str, int] = {}
    for name, table in tables.items():
        assert isinstance(table, pa.Table)
        dt = delta.ensure(bucket.url, name)
        counts[name] = table.num_rows
        if (dt.transaction_version(store) or 0) >= int(hwm.get(name, 0)) and hwm.get(name):
            continue
        rel = delta.data_path(store, number)
        table = _with_push(table, number)
        blob = _parquet_bytes(table)
        bucket.fs.pipe_file(bucket.path(f"tables/{name}/{rel}"), blob)
        delta.commit(dt, name, [(rel, len(blob), store, delta.stats(table))], store, int(hwm.get(name, 0)))
    row = _push_row(number, counts, artifacts, created)
    rel = delta.data_path(store, number)
    bucket.fs.pipe_file(bucket.path(f"tables/{PUSHES}/{rel}"), row)
    delta.commit(pushes, PUSHES, [(rel, len(row), store, delta.stats(read_parquet(row)))], store, number)
