"""The store's tables, described once, and the atomic writer of pending Parquet segments.

Every table is an append-only *event* table; the compactor folds events into a *state* table by key:

- ``partial``: each event sets some columns (others NULL); per column the newest non-NULL value wins.
- ``latest``:  the newest event wins; a NULL ``value`` is a deletion (tags).
- ``first``:   the oldest event wins (params are immutable).
- ``append``:  metrics: every point is kept; the state is the latest point per (run_id, key) in MLflow's
  order (max step, then timestamp, then value).

``seq`` orders events: a per-process, strictly increasing nanosecond clock.
"""

from __future__ import annotations

import array
import os
import threading
import time
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from .._ids import time_sortable_hex

STR, INT, DOUBLE = "VARCHAR", "BIGINT", "DOUBLE"


@dataclass(frozen=True)
class TableSpec:
    """One event table and the state table folded from it."""

    events: str
    state: str
    keys: tuple[str, ...]
    values: tuple[tuple[str, str], ...]
    merge: str

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        """Event columns in file order: keys, values, then ``seq`` (metrics have no seq)."""
        cols = tuple((k, STR) for k in self.keys) + self.values
        return cols if self.merge == "append" else cols + (("seq", INT),)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def state_columns(self) -> tuple[str, ...]:
        """Columns of the state table (what the public views show)."""
        return self.keys + tuple(name for name, _ in self.values)


EXPERIMENTS = TableSpec(
    "experiment_events", "experiments", ("experiment_id",),
    (("name", STR), ("artifact_location", STR), ("lifecycle_stage", STR),
     ("creation_time", INT), ("last_update_time", INT)),
    "partial",
)
EXPERIMENT_TAGS = TableSpec(
    "experiment_tag_events", "experiment_tags", ("experiment_id", "key"), (("value", STR),), "latest"
)
RUNS = TableSpec(
    "run_events", "runs", ("run_id",),
    (("experiment_id", STR), ("run_name", STR), ("user_id", STR), ("status", STR),
     ("start_time", INT), ("end_time", INT), ("lifecycle_stage", STR), ("artifact_uri", STR)),
    "partial",
)
PARAMS = TableSpec("param_events", "params", ("run_id", "key"), (("value", STR),), "first")
TAGS = TableSpec("tag_events", "tags", ("run_id", "key"), (("value", STR),), "latest")
METRICS = TableSpec(
    "metrics", "latest_metrics", ("run_id", "key"),
    (("value", DOUBLE), ("timestamp", INT), ("step", INT)), "append",
)


# Model registry (format 3). Models are keyed by a stable ``model_id`` so a rename is one event; a
# deleted model or version keeps its row with ``deleted_timestamp`` set, so version numbers are never
# reused. Versions are VARCHAR keys holding decimal integers.
REGISTERED_MODELS = TableSpec(
    "registered_model_events", "registered_models", ("model_id",),
    (("name", STR), ("description", STR), ("creation_timestamp", INT), ("last_updated_timestamp", INT),
     ("deleted_timestamp", INT)),
    "partial",
)
REGISTERED_MODEL_TAGS = TableSpec(
    "registered_model_tag_events", "registered_model_tags", ("model_id", "key"), (("value", STR),), "latest"
)
MODEL_VERSIONS = TableSpec(
    "model_version_events", "model_versions", ("model_id", "version"),
    (("source", STR), ("run_id", STR), ("run_link", STR), ("description", STR), ("current_stage", STR),
     ("status", STR), ("user_id", STR), ("creation_timestamp", INT), ("last_updated_timestamp", INT),
     ("deleted_timestamp", INT)),
    "partial",
)
MODEL_VERSION_TAGS = TableSpec(
    "model_version_tag_events", "model_version_tags", ("model_id", "version", "key"), (("value", STR),),
    "latest",
)
# value = the version the alias points to; NULL deletes the alias.
MODEL_ALIASES = TableSpec(
    "model_alias_events", "model_aliases", ("model_id", "alias"), (("value", STR),), "latest"
)
# Append-only history: every transition has its own ``transition_id`` key.
STAGE_TRANSITIONS = TableSpec(
    "stage_transition_events", "stage_transitions", ("model_id", "version", "transition_id"),
    (("from_stage", STR), ("to_stage", STR), ("user_id", STR), ("timestamp", INT)),
    "partial",
)
REGISTRY_TABLES: tuple[TableSpec, ...] = (
    REGISTERED_MODELS, REGISTERED_MODEL_TAGS, MODEL_VERSIONS, MODEL_VERSION_TAGS, MODEL_ALIASES,
    STAGE_TRANSITIONS,
)

# Datasets a run used (format 4; MLflow's ``log_input``), keyed by run and the dataset's name and
# digest: the dataset's description travels with each input, and its tags (``mlflow.data.context``)
# sit beside it. Columns are prefixed ``dataset_`` so none shares a name with another table's column.
DATASET_INPUTS = TableSpec(
    "dataset_input_events", "dataset_inputs", ("run_id", "dataset_name", "dataset_digest"),
    (("dataset_source_type", STR), ("dataset_source", STR), ("dataset_schema", STR), ("dataset_profile", STR)),
    "partial",
)
DATASET_INPUT_TAGS = TableSpec(
    "dataset_input_tag_events", "dataset_input_tags", ("run_id", "dataset_name", "dataset_digest", "key"),
    (("value", STR),), "latest",
)
DATASET_TABLES: tuple[TableSpec, ...] = (DATASET_INPUTS, DATASET_INPUT_TAGS)

# Fold order: what others refer to comes first; METRICS stays last (EVENT_TABLES is all but it).
TABLES: tuple[TableSpec, ...] = (EXPERIMENTS, EXPERIMENT_TAGS, RUNS, PARAMS, TAGS, *REGISTRY_TABLES, *DATASET_TABLES,
                                 METRICS)
EVENT_TABLES: tuple[TableSpec, ...] = TABLES[:-1]
BY_EVENTS = {spec.events: spec for spec in TABLES}


def _union_columns() -> tuple[tuple[str, str], ...]:
    cols: dict[str, str] = {"table": STR}
    for spec in EVENT_TABLES:
        for name, sql_type in spec.columns:
            assert cols.setdefault(name, sql_type) == sql_type, f"column {name} has two types"
    return tuple(cols.items())


# A flush writes at most two segments: every metadata event of the flush in one "events" file (rows
# tagged with their table, so a run, its params and tags land together or not at all), and the
# metric points in one "metrics" file.
SEGMENT_KINDS: dict[str, tuple[tuple[str, str], ...]] = {"events": _union_columns(), "metrics": METRICS.columns}
# Columns every segment of a kind has; an events segment may lack the columns of tables it holds no rows
# of (as those written before a format added them do): they read as NULL.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {"events": ("table", "seq"), "metrics": METRICS.column_names}


def schema_problem(kind: str, schema: Any) -> str | None:
    """What makes an Arrow schema unfit for a segment of ``kind`` (None if it fits): a column the kind
    does not have, a column of another type, or a missing required column."""
    import pyarrow as pa

    expected = dict(SEGMENT_KINDS[kind])
    for field in schema:
        sql_type = expected.get(field.name)
        if sql_type is None:
            return f"unexpected column {field.name!r}"
        arrow_type = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        fits = ((pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)) if sql_type == STR
                else arrow_type == (pa.float64() if sql_type == DOUBLE else pa.int64()))
        if not fits:
            return f"column {field.name!r} is {field.type}, not {sql_type}"
    missing = [name for name in REQUIRED_COLUMNS[kind] if name not in schema.names]
    return f"missing column {missing[0]!r}" if missing else None


class SeqClock:
    """Strictly increasing nanosecond timestamps for ordering events (thread-safe)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            now = time.time_ns()
            self._last = now if now > self._last else self._last + 1
            return self._last

    def after_fork_in_child(self) -> None:
        """A fresh lock (another thread of the parent may have held it at fork); the order carries on."""
        self._lock = threading.Lock()


def _column(values: list[Any], sql_type: str) -> Any:
    """An Arrow array built from buffers: ``pa.array()`` imports pandas on first use, which costs
    seconds per process in a sweep."""
    import pyarrow as pa

    if sql_type == STR:
        builder = pa.lib.StringBuilder()
        builder.append_values(values)
        return builder.finish()
    code, arrow_type = ("d", pa.float64()) if sql_type == DOUBLE else ("q", pa.int64())
    n = len(values)
    nulls = values.count(None)
    if not nulls:
        return pa.Array.from_buffers(arrow_type, n, [None, pa.py_buffer(array.array(code, values))])
    bitmap = bytearray((n + 7) // 8)  # validity bits, least significant bit first
    for i, x in enumerate(values):
        if x is not None:
            bitmap[i >> 3] |= 1 << (i & 7)
    data = array.array(code, [0 if x is None else x for x in values])
    return pa.Array.from_buffers(arrow_type, n, [pa.py_buffer(bitmap), pa.py_buffer(data)], null_count=nulls)


MetricChunk = tuple[str, list[str], list[float], Any, Any]  # run_id, keys, values, timestamp(s), step(s)


def metrics_table(singles: tuple[list[Any], ...], chunks: list[MetricChunk]) -> Any:
    """The Arrow table of one metrics segment, from single points (parallel run_id, key, value,
    timestamp, step lists) and chunks (one run, parallel keys and values, one or per-point timestamps
    and steps). Run ids and keys are dictionary-encoded: few distinct values, many points. Chunks are
    expanded with NumPy, not point by point in Python."""
    import numpy as np
    import pyarrow as pa

    runs: dict[str, int] = {}
    keys: dict[str, int] = {}
    s_run, s_key, s_value, s_ts, s_step = singles
    key_lists = [c[1] for c in chunks]
    lengths = np.fromiter(map(len, key_lists), dtype=np.int64, count=len(chunks))

    def per_point(pos: int) -> Any:  # a chunk's timestamp(s) or step(s), one per point
        col = [c[pos] for c in chunks]
        if all(type(x) is int for x in col):
            return np.repeat(np.array(col, dtype=np.int64), lengths)
        return np.fromiter(chain.from_iterable([x] * n if type(x) is int else x for x, n in zip(col, lengths)),
                           dtype=np.int64, count=int(lengths.sum()))

    first = key_lists[0] if key_lists else []
    if all(k == first for k in key_lists):  # a sweep logs the same keys step after step
        chunk_keys = np.tile(np.array([keys.setdefault(k, len(keys)) for k in first], dtype=np.int32), len(chunks))
    else:
        chunk_keys = np.array([keys.setdefault(k, len(keys)) for k in chain.from_iterable(key_lists)], dtype=np.int32)
    run_idx = np.concatenate([
        np.array([runs.setdefault(r, len(runs)) for r in s_run], dtype=np.int32),
        np.repeat(np.array([runs.setdefault(c[0], len(runs)) for c in chunks], dtype=np.int32), lengths),
    ])
    key_idx = np.concatenate([np.array([keys.setdefault(k, len(keys)) for k in s_key], dtype=np.int32), chunk_keys])
    values = np.concatenate([np.array(s_value, dtype=np.float64),
                             np.fromiter(chain.from_iterable(c[2] for c in chunks), dtype=np.float64,
                                         count=int(lengths.sum()))])
    stamps = np.concatenate([np.array(s_ts, dtype=np.int64), per_point(3)])
    steps = np.concatenate([np.array(s_step, dtype=np.int64), per_point(4)])

    def numbers(data: Any, arrow_type: Any) -> Any:
        return pa.Array.from_buffers(arrow_type, len(data), [None, pa.py_buffer(data)])

    def dictionary(codes: Any, names: dict[str, int]) -> Any:
        return pa.DictionaryArray.from_arrays(numbers(codes, pa.int32()), _column(list(names), STR))

    return pa.table({
        "run_id": dictionary(run_idx, runs), "key": dictionary(key_idx, keys),
        "value": numbers(values, pa.float64()), "timestamp": numbers(stamps, pa.int64()),
        "step": numbers(steps, pa.int64()),
    })


def events_table(data: dict[str, list[Any]]) -> Any:
    """The Arrow table of one events segment (columns as in ``SEGMENT_KINDS["events"]``)."""
    import pyarrow as pa

    return pa.table({name: _column(data[name], t) for name, t in SEGMENT_KINDS["events"]})


def warm_up() -> None:
    """Load and exercise the Parquet writer once (a background thread calls this when a store
    opens), so the first real flush - often inside ``end_run`` - pays no first-use costs."""
    import io

    import pyarrow.parquet as pq

    pq.write_table(events_table({name: [None] for name, _ in SEGMENT_KINDS["events"]}), io.BytesIO())
    pq.write_table(metrics_table(([""], [""], [0.0], [0], [0]), [("", [""], [0.0], 0, 0)]), io.BytesIO())


def write_segment(folder: Path, table: Any) -> Path:
    """Write one immutable segment (an Arrow table) atomically: temp file in the same folder, fsync,
    rename.

    The file name (time-sortable and unique) is the segment's idempotency key: the compactor
    records it in its ledger, so a segment is folded into the store exactly once.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    final = folder / f"{time_sortable_hex()}.parquet"
    tmp = final.with_name(final.name + ".tmp")
    # Segments live seconds until compaction: skip compression, and dictionary-encode only string
    # columns (hashing every metric value costs more than it saves).
    strings = [f.name for f in table.schema if not (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))]
    try:
        pq.write_table(table, tmp, compression="none", use_dictionary=strings)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except BaseException:  # a full disk: leave no partial temp file behind (the caller keeps the data)
        tmp.unlink(missing_ok=True)
        raise
    return final
