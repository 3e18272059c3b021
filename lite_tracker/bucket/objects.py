"""The shared bucket's layout (paths and objects only; no local store).

Format 2 (Delta Lake, see :mod:`lite_tracker.bucket.delta`)::

    <prefix>/_lite_tracker.json                                   {"format": 2}
    <prefix>/tables/<table>/_delta_log/...                        one Delta table per event table
    <prefix>/tables/<table>/store=<store_id>/part-*.parquet       its data files, partitioned by store
    <prefix>/tables/pushes/...                                    one row per completed push
    <prefix>/artifacts/<run_id>/<artifact path>

Format 1 (before Delta; read only to migrate it)::

    <prefix>/tables/<table>/store=<store_id>/part-<commit>-<rand>.parquet
    <prefix>/commits/store=<store_id>/<commit:012d>.json          create-only (If-None-Match: *)

``<table>`` is an event table of the store (``run_events``, ``param_events``, ``metrics``, ...). Each
local store writes only under its own ``store=<store_id>`` partitions, so any number of stores push at
once; Delta's log makes each table's commit atomic and the ``pushes`` table says which pushes are whole.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._remote import filesystem, lost_create_race, sync_error
from ..errors import LiteTrackerException, SyncError
from ..store.segments import BY_EVENTS, DOUBLE, INT

if TYPE_CHECKING:
    import pyarrow as pa

BUCKET_FORMAT = 2
MARKER = "_lite_tracker.json"


@dataclass
class Commit:
    """One committed push of one store in a format-1 bucket (read to migrate it)."""

    store: str
    number: int
    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    hwm: dict[str, int] = field(default_factory=dict)
    artifacts: dict[str, dict[str, int]] = field(default_factory=dict)
    created: int = 0

    def to_json(self) -> bytes:
        return json.dumps({"format": 1, "store": self.store, "commit": self.number,
                           "created": self.created, "files": self.files, "hwm": self.hwm,
                           "artifacts": self.artifacts}, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Commit:
        d = json.loads(data)
        if int(d.get("format", 0)) > 1:
            raise SyncError(f"The bucket holds commits of format {d.get('format')}, written by a newer "
                            "lite_tracker; upgrade lite_tracker (pip install -U lite-tracker).")
        return cls(d["store"], int(d["commit"]), d.get("files", {}), d.get("hwm", {}), d.get("artifacts", {}),
                   int(d.get("created", 0)))


class Bucket:
    """The shared bucket at ``url`` (``s3://bucket/prefix``)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.fs, self.root = filesystem(self.url)

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Turn network, permission and missing-bucket failures into one clear SyncError."""
        try:
            yield
        except LiteTrackerException:
            raise
        except (OSError, ValueError, RuntimeError) as e:
            raise sync_error(e, self.url, action) from e
        except Exception as e:  # botocore/aiohttp errors that s3fs does not translate, delta-rs errors
            if type(e).__module__.split(".")[0] in ("botocore", "aiobotocore", "aiohttp") or _is_delta_error(e):
                raise sync_error(e, self.url, action) from e
            raise

    # ------------------------------------------------------------ paths

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def artifacts_url(self, run_id: str) -> str:
        return f"{self.url}/artifacts/{run_id}"

    def artifact_key(self, run_id: str, rel: str) -> str:
        return self.path(f"artifacts/{run_id}/{rel}")

    def commit_path(self, store: str, number: int) -> str:
        return self.path(f"commits/store={store}/{number:012d}.json")

    # ------------------------------------------------------------ bucket, format and format-1 commits

    def check_bucket(self) -> None:
        """Fail early and clearly when the bucket is missing or the credentials are refused."""
        bucket = self.root.split("/", 1)[0]
        try:
            self.fs.ls(self.root + "/", detail=False)
        except FileNotFoundError:
            if not self.fs.exists(bucket):
                raise sync_error(FileNotFoundError("NoSuchBucket: bucket does not exist"), self.url,
                                 "opening") from None

    def commit_numbers(self, store: str | None = None) -> dict[str, list[int]]:
        """Committed push numbers per store id (all stores, or one)."""
        base = self.path("commits" if store is None else f"commits/store={store}")
        try:
            names = self.fs.find(base)
        except FileNotFoundError:
            return {}
        found: dict[str, list[int]] = {}
        for name in names:
            parts = name.rsplit("/", 2)
            if len(parts) < 3 or not parts[1].startswith("store=") or not parts[2].endswith(".json"):
                continue
            try:
                number = int(parts[2][:-5])
            except ValueError:
                continue
            found.setdefault(parts[1][6:], []).append(number)
        for numbers in found.values():
            numbers.sort()
        return found

    def format(self) -> int:
        """The bucket's format from ``_lite_tracker.json`` (0: an empty prefix; 1 also for an old bucket
        with commit objects and no marker)."""
        try:
            return int(json.loads(self.fs.cat_file(self.path(MARKER))).get("format", 0))
        except FileNotFoundError:
            return 1 if self.fs.exists(self.path("commits")) else 0
        except (ValueError, TypeError, AttributeError) as e:
            raise SyncError(f"{self.url}/{MARKER} is not a lite_tracker bucket marker ({e}).") from None

    def check(self) -> None:
        """Before reading or writing the team's tables: the bucket exists, the credentials work, and it
        holds this lite_tracker's format (or nothing yet)."""
        self.check_bucket()
        self.check_format()

    def check_format(self) -> None:
        """Refuse a bucket of another format: a newer one (upgrade), or format 1 (migrate it)."""
        found = self.format()
        if found > BUCKET_FORMAT:
            raise SyncError(f"The bucket at {self.url} has format {found}, written by a newer lite_tracker; "
                            "upgrade lite_tracker (pip install -U lite-tracker).")
        if found == 1:
            raise SyncError(f"The bucket at {self.url} has format 1 (Parquet and commit objects); this lite_tracker "
                            f"reads format {BUCKET_FORMAT} (Delta Lake tables). Migrate it once with "
                            f"`lite-tracker sync migrate {self.url}` (add --dry-run to see what it does).")

    def ensure_marker(self) -> None:
        """Write ``_lite_tracker.json`` once (create-only); refuse a bucket of another format."""
        try:
            self.fs.pipe_file(self.path(MARKER), json.dumps({"format": BUCKET_FORMAT}).encode(), mode="create")
        except OSError as e:
            if not lost_create_race(e):
                raise
            self.check_format()


def _is_delta_error(error: BaseException) -> bool:
    deltalake = sys.modules.get("deltalake")
    return deltalake is not None and isinstance(error, deltalake.exceptions.DeltaError)


def read_parquet(data: bytes) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.read_table(pa.BufferReader(data))


def concat_events(name: str, parts: list[pa.Table]) -> pa.Table | None:
    """Files of one event table pulled from the bucket, in the local column order (unknown tables are skipped; columns a
    newer or older writer lacks are NULL)."""
    import pyarrow as pa

    spec = BY_EVENTS.get(name)
    if spec is None:
        return None
    fixed = []
    for t in parts:
        cols = {n: (t.column(n).cast(arrow_type(ty)) if n in t.column_names
                    else pa.nulls(t.num_rows, arrow_type(ty))) for n, ty in spec.columns}
        fixed.append(pa.table(cols))
    return pa.concat_tables(fixed)


def arrow_type(sql_type: str) -> pa.DataType:
    import pyarrow as pa

    return pa.int64() if sql_type == INT else pa.float64() if sql_type == DOUBLE else pa.string()
