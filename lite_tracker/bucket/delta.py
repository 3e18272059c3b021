"""The bucket's tables as Delta Lake tables, through ``deltalake`` (delta-rs), loaded lazily.

Each event table of the store is one Delta table under ``<prefix>/tables/<table>/``, partitioned by
``store`` (the pushing store's id), with one extra column ``_push`` (the store's push number). The
``pushes`` table gets one row per completed push, committed last: a push's rows count once its row is
there. Commits are conditional puts (``If-None-Match``, ``conditional_put=etag``): no lock service.
Each commit carries a Delta application transaction (``txn``) whose app id is the store id: on event
tables its version is the store's row high-water mark, on ``pushes`` the push number, so an
interrupted push run again commits each table exactly once.

delta-rs owns a Tokio runtime that does not survive ``fork()``: a process forked after its parent used
Delta gets a :class:`~lite_tracker.errors.SyncError` saying so instead of a panic.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .._remote import endpoint_url
from ..errors import InvalidParameterValue, SyncError
from ..store.segments import BY_EVENTS

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

PUSHES = "pushes"
STORE = "store"
PUSH = "_push"
PUSH_COLUMNS = (("created", "BIGINT"), ("tables", "VARCHAR"), ("hwm", "VARCHAR"), ("artifacts", "VARCHAR"))

_owner_pid: int | None = None
_COMMIT_ATTEMPTS = 5
_BIG = 1.7976931348623157e308  # the largest finite double


def _deltalake() -> Any:
    """``deltalake``, imported on first use; refuses to run in a child forked after its parent used it."""
    global _owner_pid
    if _owner_pid is not None and _owner_pid != os.getpid():
        raise SyncError("Delta Lake (delta-rs) cannot run in a process forked after its parent used it: sync "
                        "from the parent, or start the child with multiprocessing's 'spawn' or 'forkserver' "
                        "method.")
    try:
        import deltalake
    except ImportError as e:
        raise InvalidParameterValue("Syncing with a bucket needs the s3 extra: pip install 'lite-tracker[s3]'.") from e
    _owner_pid = os.getpid()
    return deltalake


def storage_options() -> dict[str, str]:
    """Where the bucket is, for any Delta reader (deltalake, polars): the endpoint lite_tracker resolves
    (``AWS_ENDPOINT_URL``, ``AWS_ALLOW_HTTP`` for plain http) and a default region. Credentials are
    not in it: delta-rs reads the same AWS variables and profile itself."""
    opts: dict[str, str] = {}
    endpoint = endpoint_url()
    if endpoint:
        opts["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            opts["AWS_ALLOW_HTTP"] = "true"
    if not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
        opts["AWS_REGION"] = "us-east-1"
    return opts


def _options() -> dict[str, str]:
    """lite_tracker's own options: commits by conditional put (no lock service), bounded retries."""
    return {**storage_options(), "conditional_put": "etag", "connect_timeout": "5s", "timeout": "60s",
            "max_retries": "3", "retry_timeout": "30s"}


def table_uri(url: str, table: str) -> str:
    return f"{url.rstrip('/')}/tables/{table}"


def schema(table: str) -> pa.Schema:
    """The Delta schema of an event table (or ``pushes``): its columns, ``_push`` and ``store``."""
    import pyarrow as pa

    types = {"BIGINT": pa.int64(), "DOUBLE": pa.float64()}
    columns = BY_EVENTS[table].columns if table in BY_EVENTS else PUSH_COLUMNS
    fields = [pa.field(name, types.get(t, pa.string())) for name, t in columns]
    return pa.schema([*fields, pa.field(PUSH, pa.int64()), pa.field(STORE, pa.string())])


def load(url: str, table: str, as_of: int | str | datetime | None = None) -> DeltaTable | None:
    """The Delta table (None if it was never written), at ``as_of`` (a version or a time) if given."""
    deltalake = _deltalake()
    try:
        dt: DeltaTable = deltalake.DeltaTable(table_uri(url, table), storage_options=_options())
    except deltalake.exceptions.TableNotFoundError:
        return None
    if as_of is not None:
        dt.load_as_version(as_of)
    return dt


def ensure(url: str, table: str) -> DeltaTable:
    """The Delta table, created if missing (two creators racing: one creates, both go on)."""
    deltalake = _deltalake()
    dt = load(url, table)
    if dt is not None:
        return dt
    try:
        created: DeltaTable = deltalake.DeltaTable.create(table_uri(url, table), schema(table), mode="ignore",
                                                          partition_by=[STORE], storage_options=_options())
        return created
    except deltalake.exceptions.DeltaError:
        dt = load(url, table)
        if dt is None:
            raise
        return dt


@dataclass(frozen=True)
class DataFile:
    """One data file of a table's snapshot: its path in the table, store partition and ``_push`` range."""

    path: str
    store: str
    rows: int
    lo: int | None
    hi: int | None


def files(dt: DeltaTable) -> list[DataFile]:
    """The data files of a snapshot (``lo``/``hi`` are None when the log has no ``_push`` statistics)."""
    import pyarrow as pa

    t = pa.table(dt.get_add_actions(flatten=True))
    names = t.column_names
    cols = {n: t.column(n).to_pylist() for n in ("path", "num_records", f"min.{PUSH}", f"max.{PUSH}",
                                                 f"partition.{STORE}") if n in names}
    out = []
    for i, path in enumerate(cols["path"]):
        out.append(DataFile(path, _get(cols, f"partition.{STORE}", i) or "", int(_get(cols, "num_records", i) or 0),
                            _get(cols, f"min.{PUSH}", i), _get(cols, f"max.{PUSH}", i)))
    return out


def _get(cols: dict[str, list[Any]], name: str, i: int) -> Any:
    values = cols.get(name)
    return None if values is None else values[i]


def data_path(store: str, number: int) -> str:
    """A new data file's path inside a table (unique: two pushes of one store never collide)."""
    import uuid

    return f"{STORE}={store}/part-{number:012d}-{uuid.uuid4().hex}.zstd.parquet"


def stats(table: pa.Table) -> str:
    """A data file's Delta statistics: its rows, and every column's NULL count and bounds. Readers
    prune files with them, and deltalake's pyarrow datasets need bounds for every non-NULL column (a
    column without them matches no filter there). Non-finite doubles widen the bounds to the largest
    finite doubles, which JSON can hold."""
    import math

    import pyarrow.compute as pc

    lo: dict[str, Any] = {}
    hi: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name)
        if column.null_count == table.num_rows:
            continue
        bounds = pc.min_max(column).as_py()
        low, high = bounds["min"], bounds["max"]
        if isinstance(low, float) and (not math.isfinite(low) or not math.isfinite(high)
                                       or pc.any(pc.invert(pc.is_finite(column))).as_py()):
            low, high = -_BIG, _BIG
        lo[name], hi[name] = low, high
    return json.dumps({"numRecords": table.num_rows, "minValues": lo, "maxValues": hi,
                       "nullCount": {name: table.column(name).null_count for name in table.column_names}})


def commit(dt: DeltaTable, table: str, added: list[tuple[str, int, str, str]], app_id: str,
           version: int) -> None:
    """Commit data files ``(path, bytes, store, stats)`` already uploaded into the table, as one
    transaction that also records ``txn(app_id, version)``."""
    deltalake = _deltalake()
    from deltalake.transaction import AddAction, CommitProperties, RemoveAction, Transaction

    now = int(time.time() * 1000)
    actions: list[AddAction | RemoveAction] = [AddAction(path, size, {STORE: store}, now, True, file_stats)
                                               for path, size, store, file_stats in added]
    props = CommitProperties(app_transactions=[Transaction(app_id, version)], max_commit_retries=50)
    for attempt in range(_COMMIT_ATTEMPTS):
        try:
            dt.create_write_transaction(actions, "append", schema(table), partition_by=[STORE],
                                        commit_properties=props)
            return
        except deltalake.exceptions.CommitFailedError as e:
            # delta-rs retries plain appends itself; a metadata commit in between (two stores creating
            # the table at once) needs a fresh snapshot. The txn id says whether this commit landed.
            dt.update_incremental()
            if (dt.transaction_version(app_id) or -1) >= version:
                return
            if attempt == _COMMIT_ATTEMPTS - 1:
                raise SyncError(f"Committing to the Delta table {table} failed ({e}); run the push again.") from e


def parse_as_of(value: str | int | datetime | None) -> int | datetime | None:
    """A table version (``12``) or a time (``2026-11-30T12:00:00``, ISO 8601; UTC if no zone)."""
    if value is None or isinstance(value, (int, datetime)):
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameterValue(f"Invalid as_of {value!r}: a version number (e.g. 12) or an ISO 8601 time "
                                    "(e.g. 2026-11-30T12:00:00Z).") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
