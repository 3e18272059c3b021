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

# Fold order: what others refer to comes first; METRICS stays last (EVENT_TABLES is all but it).
TABLES: tuple[TableSpec, ...] = (EXPERIMENTS, EXPERIMENT_TAGS, RUNS, PARAMS, TAGS, *REGISTRY_TABLES, METRICS)
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


def warm_up() -> None:
    """Load and exercise the Parquet writer once (a background thread calls this when a store
    opens), so the first real flush - often inside ``end_run`` - pays no first-use costs."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    for columns in SEGMENT_KINDS.values():
        sample = {name: [None if t != DOUBLE else 0.0] for name, t in columns}
        pq.write_table(pa.table({name: _column(sample[name], t) for name, t in columns}), io.BytesIO())


def write_segment(folder: Path, columns: tuple[tuple[str, str], ...], data: dict[str, list[Any]]) -> Path:
    """Write one immutable segment atomically: temp file in the same folder, fsync, rename.

    The file name (time-sortable and unique) is the segment's idempotency key: the compactor
    records it in its ledger, so a segment is folded into the store exactly once.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({name: _column(data[name], t) for name, t in columns})
    final = folder / f"{time_sortable_hex()}.parquet"
    tmp = final.with_name(final.name + ".tmp")
    pq.write_table(table, tmp)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    return final
