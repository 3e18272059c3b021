"""DuckDBStore: writes pending segments, reads through :class:`~.catalog.Reader`, compacts in the
background. One instance per store file per process (see ``client._backend``)."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Sequence
from functools import partial
from itertools import repeat
from typing import TYPE_CHECKING, Any

from .._ids import new_experiment_id
from ..entities import Dataset, DatasetInput, Experiment, InputTag, Metric, Run, RunData, RunInfo, RunInputs
from ..errors import LockTimeout, ResourceAlreadyExists, ResourceNotFound, StoreBusy, StoreReadOnly
from . import catalog, sandbox
from .catalog import CompactionResult, Reader
from .connection import os_store_error
from .layout import Layout
from .locks import RunLiveness, RWLock, exclusive
from .segments import (
    EVENT_TABLES,
    EXPERIMENT_TAGS,
    EXPERIMENTS,
    METRICS,
    SEGMENT_KINDS,
    MetricChunk,
    SeqClock,
    events_table,
    metrics_table,
    write_segment,
)

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from ..settings import Settings

log = logging.getLogger(__name__)

Columns = dict[str, list[Any]]
PUBLIC_VIEWS = ("experiments", "experiment_tags", "runs", "params", "tags", "metrics", "latest_metrics",
                "registered_models", "registered_model_tags", "model_versions", "model_version_tags",
                "model_aliases", "stage_transitions", "dataset_inputs", "dataset_input_tags")


class DuckDBStore:
    """The embedded store: one DuckDB file plus its sidecar folder.

    Args:
        settings: Resolved settings naming the DuckDB file and the artifact root.
    """

    read_only: StoreReadOnly | None = None  # the error writes raise when the store's folder is read-only

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.layout = Layout(settings.store_path)
        self.rw = RWLock(self.layout.locks, timeout=settings.lock_timeout)
        self.liveness = RunLiveness(self.layout.live)
        self.clock = SeqClock()
        self.reader = Reader(self.layout, self.rw)
        self.read_only = catalog.open_store(self.layout, self.rw, settings.artifact_root)
        self._stop = threading.Event()
        self._compactor: threading.Thread | None = None
        self._compacting: duckdb.DuckDBPyConnection | None = None  # the compactor's open connection
        self._compacting_lock = threading.Lock()
        self._restart_compactor = False  # a forked child whose parent compacted: start on the first write

    # ------------------------------------------------------------ writing

    def write(self, batches: dict[str, Columns], metrics: tuple[tuple[list[Any], ...], list[MetricChunk]] | None = None
              ) -> None:
        """Write the events of one flush as one events segment, then its metric points (single points
        and chunks, see ``segments.metrics_table``) as one metrics segment."""
        if self._restart_compactor:
            self._restart_compactor = False
            self.start_compactor()
        unknown = set(batches) - {spec.events for spec in EVENT_TABLES}
        if unknown:  # a programming error: metric points go in ``metrics``, never dropped silently
            raise ValueError(f"Not event tables: {sorted(unknown)}")
        union = SEGMENT_KINDS["events"]
        events: Columns = {name: [] for name, _ in union}
        for spec in EVENT_TABLES:
            columns = batches.get(spec.events)
            n = len(columns[spec.keys[0]]) if columns else 0
            if not n:
                continue
            assert columns is not None
            events["table"].extend([spec.events] * n)
            for name, _ in union[1:]:
                events[name].extend(columns.get(name) or [None] * n)
        with_metrics = metrics is not None and bool(metrics[0][0] or metrics[1])
        if not events["table"] and not with_metrics:
            return
        self.check_writable()
        try:
            if events["table"]:
                write_segment(self.layout.pending_dir("events"), events_table(events))
            if with_metrics:
                assert metrics is not None
                write_segment(self.layout.pending_dir("metrics"), metrics_table(*metrics))
        except OSError as e:
            err = os_store_error(e, self.layout.pending)
            if err is None:
                raise
            raise err from e

    def check_writable(self) -> None:
        """Raise StoreReadOnly if this store's folder cannot be written (it is then only read)."""
        if self.read_only is not None:
            raise self.read_only

    def write_metric_points(self, points: pa.Table, rows_per_segment: int = 1_000_000) -> None:
        """Write metric points given as an Arrow table with the ``metrics`` columns (run_id, key, value,
        timestamp, step) as metrics segments: the bulk path of imports, no per-point Python work."""
        points = points.select(list(METRICS.column_names))
        for start in range(0, points.num_rows, rows_per_segment):
            write_segment(self.layout.pending_dir("metrics"), points.slice(start, rows_per_segment))

    def create_experiment(self, name: str, artifact_location: str | None, tags: dict[str, str]) -> str:
        """Create an experiment; the name is checked unique under the store's metadata lock."""
        self.check_writable()
        with exclusive(self.layout.locks / "meta.lock", self.settings.lock_timeout, "experiment lock"):
            self._check_name_free(name)
            experiment_id = new_experiment_id()
            location = artifact_location or self.default_artifact_location(experiment_id)
            now = int(time.time() * 1000)
            seq = self.clock()
            batches = {
                EXPERIMENTS.events: _rows(EXPERIMENTS, [(experiment_id, name, location, "active", now, now, seq)]),
                EXPERIMENT_TAGS.events: _rows(EXPERIMENT_TAGS, [(experiment_id, k, v, seq) for k, v in tags.items()]),
            }
            self.write(batches)
        return experiment_id

    def update_experiment(self, experiment_id: str, *, name: str | None = None,
                          lifecycle_stage: str | None = None) -> None:
        """Rename (name checked unique) or change the lifecycle stage of an experiment."""
        self.check_writable()
        with exclusive(self.layout.locks / "meta.lock", self.settings.lock_timeout, "experiment lock"):
            if name is not None:
                self._check_name_free(name)
            now = int(time.time() * 1000)
            row = (experiment_id, name, None, lifecycle_stage, None, now, self.clock())
            self.write({EXPERIMENTS.events: _rows(EXPERIMENTS, [row])})

    def _check_name_free(self, name: str) -> None:
        existing = self.get_experiment_by_name(name)
        if existing is not None:
            extra = ""
            if existing.lifecycle_stage == "deleted":
                extra = (" It is deleted: restore it with restore_experiment(), or rename it, "
                         "before reusing the name.")
            raise ResourceAlreadyExists(
                f"Experiment(name={name}) already exists (id {existing.experiment_id}).{extra}"
            )

    # ------------------------------------------------------------ run markers shared by processes

    def mark_run(self, run_id: str, marker: str, present: bool = True) -> None:
        """Create (or remove) the ``shared`` or ``deleted`` marker file of a run (see ``Layout``)."""
        self.check_writable()
        path = self.layout.runs / f"{run_id}.{marker}"
        try:
            if present:
                path.touch()
            else:
                path.unlink(missing_ok=True)
        except OSError as e:
            err = os_store_error(e, self.layout.runs)
            if err is None:
                raise
            raise err from e

    def run_marked(self, run_id: str, marker: str) -> bool:
        return (self.layout.runs / f"{run_id}.{marker}").exists()

    def logged_params(self, run_id: str, keys: Sequence[str]) -> dict[str, str]:
        """The values the store holds (compacted or pending) for some params of a run; none while
        another program holds the store file (logging never waits on it)."""
        try:
            return dict(self.rows("SELECT key, value FROM params WHERE run_id = ? AND key IN (SELECT unnest(?))",
                                  [run_id, list(keys)]))
        except StoreBusy as e:
            log.debug("lite_tracker: params of run %s not checked: %s", run_id, e.message)
            return {}

    def default_artifact_location(self, experiment_id: str) -> str:
        return f"{self.settings.artifact_root.rstrip('/')}/{experiment_id}"

    # ------------------------------------------------------------ reading

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read query over the public views."""
        with self.reader.session() as con:
            return con.execute(sql, list(params)).fetchall()

    def arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run one read query over the public views; return an Arrow table."""
        with self.reader.session() as con:
            return con.sql(sql, params=list(params)).to_arrow_table()

    def session(self) -> Any:
        """A read session (context manager yielding a DuckDB connection over the public views)."""
        return self.reader.session()

    def get_experiment(self, experiment_id: str) -> Experiment | None:
        found = self.experiments("experiment_id = ?", [experiment_id])
        return found[0] if found else None

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        found = self.experiments("name = ?", [name])
        return found[0] if found else None

    def experiments(self, where: str = "TRUE", params: Sequence[Any] = (),
                    con: duckdb.DuckDBPyConnection | None = None) -> list[Experiment]:
        """Experiments matching a SQL condition written by lite_tracker itself (values as params)."""
        sql = (
            "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time "
            f"FROM experiments WHERE {where}"
        )
        if con is None:
            with self.reader.session(metrics=False) as c:
                return self.experiments(where, params, c)
        rows = con.execute(sql, list(params)).fetchall()
        if not rows:
            return []
        tags: dict[str, dict[str, str]] = {}
        for eid, k, v in con.execute(
            "SELECT experiment_id, key, value FROM experiment_tags WHERE experiment_id IN (SELECT unnest(?))",
            [[r[0] for r in rows]],
        ).fetchall():
            tags.setdefault(eid, {})[k] = v
        return [Experiment(r[0], r[1], r[2], r[3], tags.get(r[0], {}), r[4], r[5]) for r in rows]

    def get_runs(self, run_ids: Sequence[str], con: duckdb.DuckDBPyConnection | None = None) -> list[Run]:
        """Runs by id, in the order given; unknown ids are left out."""
        if con is None:
            with self.reader.session() as c:
                return self.get_runs(run_ids, c)
        ids = list(run_ids)
        infos = {
            r[0]: r for r in con.execute(
                "SELECT run_id, experiment_id, run_name, user_id, status, start_time, end_time, "
                "lifecycle_stage, artifact_uri FROM runs WHERE run_id IN (SELECT unnest(?))", [ids]
            ).fetchall()
        }
        data: dict[str, tuple[dict[str, float], dict[str, str], dict[str, str]]] = {
            rid: ({}, {}, {}) for rid in infos
        }
        t = con.sql(  # metrics, params and tags in one round trip: slot 0, 1, 2
            "WITH ids AS (SELECT unnest(?) AS run_id) "
            "SELECT 0 AS slot, run_id, key, value AS number, NULL::VARCHAR AS text FROM latest_metrics "
            "WHERE run_id IN (SELECT run_id FROM ids) "
            "UNION ALL SELECT 1, run_id, key, NULL, value FROM params WHERE run_id IN (SELECT run_id FROM ids) "
            "UNION ALL SELECT 2, run_id, key, NULL, value FROM tags WHERE run_id IN (SELECT run_id FROM ids)",
            params=[ids],
        ).to_arrow_table()
        for slot, rid, k, number, text in zip(*(t.column(i).to_pylist() for i in range(5))):
            data[rid][slot][k] = number if slot == 0 else text
        inputs = self._dataset_inputs(con, list(infos))
        runs = []
        for rid in ids:
            r = infos.get(rid)
            if r is None:
                continue
            status = r[4]
            if status == "RUNNING" and self.liveness.is_dead(rid):
                status = "KILLED"
            m, p, t_ = data[rid]
            info = RunInfo(rid, r[1], r[3] or "", status or "RUNNING", r[5], r[6], r[7] or "active", r[8] or "",
                           r[2] or "")
            runs.append(Run(info, RunData(m, p, t_), RunInputs(inputs.get(rid, []))))
        return runs

    @staticmethod
    def _dataset_inputs(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> dict[str, list[DatasetInput]]:
        """The dataset inputs of runs, each with its tags, in (name, digest) order."""
        if not run_ids:
            return {}
        rows = con.execute(
            "SELECT d.run_id, d.dataset_name, d.dataset_digest, d.dataset_source_type, d.dataset_source, "
            "d.dataset_schema, d.dataset_profile, list(struct_pack(k := t.key, v := t.value) ORDER BY t.key) "
            "FILTER (WHERE t.key IS NOT NULL) FROM dataset_inputs d LEFT JOIN dataset_input_tags t "
            "ON t.run_id = d.run_id AND t.dataset_name = d.dataset_name AND t.dataset_digest = d.dataset_digest "
            "WHERE d.run_id IN (SELECT unnest(?)) GROUP BY ALL ORDER BY d.run_id, d.dataset_name, d.dataset_digest",
            [run_ids],
        ).fetchall()
        out: dict[str, list[DatasetInput]] = {}
        for rid, name, digest, source_type, source, schema, profile, tags in rows:
            dataset = Dataset(name, digest, source_type or "", source or "", schema, profile)
            out.setdefault(rid, []).append(DatasetInput(dataset, [InputTag(t["k"], t["v"]) for t in tags or []]))
        return out

    def get_run(self, run_id: str) -> Run:
        runs = self.get_runs([run_id])
        if not runs:
            raise ResourceNotFound(f"Run with id={run_id} not found")
        return runs[0]

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric in step, then timestamp order (RESOURCE_DOES_NOT_EXIST for an
        unknown run). As in MLflow, the points carry no run id, so they equal hand-built ``Metric``s."""
        with self.reader.session() as con:
            cols = con.execute(
                # DISTINCT: a point (step, timestamp, value) logged twice is one point, as in MLflow.
                "SELECT DISTINCT value, timestamp, step FROM metrics WHERE run_id = ? AND key = ? "
                "ORDER BY step, timestamp, value",
                [run_id, key],
            ).fetchnumpy()
            if not len(cols["value"]) and not con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchall():
                raise ResourceNotFound(f"Run with id={run_id} not found")
        values, stamps, steps = (cols[c].tolist() for c in ("value", "timestamp", "step"))
        # tuple.__new__ straight from C is a third faster than calling the named tuple per point, and
        # the collector would otherwise run a dozen passes over the new tuples (half the time).
        collecting = gc.isenabled()
        gc.disable()
        try:
            return list(map(partial(tuple.__new__, Metric), zip(repeat(key), values, stamps, steps, repeat(None))))
        finally:
            if collecting:
                gc.enable()

    def metric_histories(self, run_ids: Sequence[str], keys: Sequence[str] | None,
                         max_points: int | None) -> pa.Table:
        """Points of many series at once as (run_id, key, step, timestamp, value), ordered.

        With ``max_points``, a longer series is cut into ``max_points // 2`` buckets of equal step range
        (time range when its steps cannot separate its points) and each bucket keeps its lowest and highest
        point, so spikes survive downsampling.
        """
        where = "run_id IN (SELECT unnest(?))" + (" AND key IN (SELECT unnest(?))" if keys is not None else "")
        params: list[Any] = [list(run_ids)] + ([list(keys)] if keys is not None else [])
        # A point logged twice in separate compactions is stored twice: full histories show it once (MLflow's
        # metric key is the whole point); a downsampled chart keeps each bucket's extremes either way.
        distinct = "" if max_points is not None else "DISTINCT "
        select = f"SELECT {distinct}run_id, key, step, timestamp, value FROM metrics WHERE {where}"
        if max_points is not None:
            # Buckets split each series' step range evenly (its time range when its steps are too few to
            # separate the points, e.g. everything logged at step 0), so no sort of every point is needed:
            # one pass finds the ranges, one hash aggregation keeps each bucket's lowest and highest point.
            params += [max(1, max_points // 2)] * 3
            select = (
                f"WITH pts AS ({select}), rng AS (SELECT run_id, key, min(step) AS s0, max(step) - min(step) + 1 "
                "AS s_span, min(timestamp) AS t0, max(timestamp) - min(timestamp) + 1 AS t_span, count(*) AS n "
                "FROM pts GROUP BY run_id, key), numbered AS (SELECT p.*, CASE WHEN r.s_span >= least(r.n, ?) "
                "THEN (p.step - r.s0) * ? // r.s_span ELSE (p.timestamp - r.t0) * ? // r.t_span END AS bucket "
                "FROM pts p JOIN rng r USING (run_id, key)), ends AS (SELECT run_id, key, "
                "arg_min({'step': step, 'timestamp': timestamp, 'value': value}, (value, step)) AS lo, "
                "arg_max({'step': step, 'timestamp': timestamp, 'value': value}, (value, -step)) AS hi "
                "FROM numbered GROUP BY run_id, key, bucket), kept AS (SELECT run_id, key, lo AS p FROM ends "
                "UNION ALL SELECT run_id, key, hi FROM ends WHERE hi IS DISTINCT FROM lo) "
                "SELECT run_id, key, p.step AS step, p.timestamp AS timestamp, p.value AS value FROM kept"
            )
        return self.arrow(f"{select} ORDER BY run_id, key, step, timestamp", params)

    def sql(self, query: str, params: Sequence[Any] = (), timeout: float = sandbox.DEFAULT_TIMEOUT) -> pa.Table:
        """Run one read-only SELECT over the public views in the sandbox (see ``sandbox``); anything
        else, or a query running past ``timeout`` seconds, raises InvalidParameterValue."""
        limit = sandbox.check_timeout(timeout)
        con = sandbox.connect()
        try:
            names = sandbox.check(con, query, PUBLIC_VIEWS)
            with self.reader.session() as reader:  # only the views the query names are copied out
                tables = {name: reader.sql(f"SELECT * FROM {name}").to_arrow_table() for name in sorted(names)}
            return sandbox.run(con, query, params, tables, limit, PUBLIC_VIEWS)
        finally:
            con.close()

    # ------------------------------------------------------------ compaction

    def compact(self) -> CompactionResult | None:
        """Fold pending segments into the DuckDB file now (None if another process is doing it)."""
        return catalog.compact(self.layout, self.rw, self.liveness, self.clock, checks=self.reader.checks,
                               opened=self._compacting_with)

    def _compacting_with(self, con: duckdb.DuckDBPyConnection | None) -> None:
        with self._compacting_lock:
            self._compacting = con

    def pending_count(self) -> int:
        return sum(len(catalog.list_pending(self.layout, kind)) for kind in SEGMENT_KINDS)

    def start_compactor(self) -> None:
        """Start the background compactor thread of this process (idempotent)."""
        if self.read_only is not None:
            return
        if self._compactor is None or not self._compactor.is_alive():
            self._stop.clear()
            self._compactor = threading.Thread(target=self._compact_loop, name="lite_tracker-compactor",
                                               daemon=True)
            self._compactor.start()

    def stop_compactor(self, timeout: float = 5.0) -> None:
        """Stop the compactor thread: let a compaction under way finish for ``timeout`` seconds, then
        interrupt it (it rolls back; the next compaction redoes it) and wait for the thread. Abandoning
        it would let interpreter exit kill it inside DuckDB, which aborts the process."""
        self._stop.set()
        thread = self._compactor
        if thread is None or thread is threading.current_thread():
            return
        thread.join(timeout)
        while thread.is_alive():
            with self._compacting_lock:
                if self._compacting is not None:
                    self._compacting.interrupt()
            thread.join(0.1)

    def _compact_loop(self) -> None:
        ticks = 0
        reported = ""  # the failure last warned about: a lasting one (a busy file, a full disk) is said once
        main = threading.main_thread()
        while not self._stop.wait(self.settings.compact_interval) and main.is_alive():
            ticks += 1
            if not self.pending_count() and ticks % 10:
                continue
            try:
                self.compact()
                reported = ""
            except Exception as e:  # keep logging alive; the next tick retries
                if isinstance(e, LockTimeout) and not isinstance(e, StoreBusy):
                    # long queries of lite_tracker's own readers held the file: nothing is wrong, no warning
                    log.debug("lite_tracker: compaction waits for running queries: %s", e)
                    continue
                if main.is_alive() and str(e) != reported:  # at exit the next process compacts: say nothing
                    log.warning("lite_tracker: background compaction failed, will retry: %s", e)
                    reported = str(e)

    def after_fork_in_child(self) -> None:
        """Forget the parent's threads, connection and run locks without touching any DuckDB object; the
        child opens its own connection, and restarts the compactor, on first use."""
        self._restart_compactor = self._compactor is not None
        self._compactor = None
        self._stop = threading.Event()
        self._compacting_lock = threading.Lock()  # fork waited for any compaction to close its connection
        self.liveness.forget_after_fork()
        self.reader.after_fork_in_child()
        self.clock.after_fork_in_child()


def _rows(spec: Any, rows: list[tuple[Any, ...]]) -> Columns:
    names = spec.column_names
    return {name: [r[i] for r in rows] for i, name in enumerate(names)}

