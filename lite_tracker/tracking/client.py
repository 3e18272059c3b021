"""MlflowClient: MLflow's object API over the embedded store.

Every client of one store file in a process shares one :class:`_Backend` (store, write buffer, run
cache), so the process has one writer per store and always reads its own writes.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import posixpath
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _validation as v
from .._ids import time_sortable_hex
from .._remote import is_remote
from ..entities import (
    DatasetInput,
    Experiment,
    FileInfo,
    LifecycleStage,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
    _html,
)
from ..errors import InvalidParameterValue, InvalidState, LiteTrackerException, ResourceNotFound
from ..registry import RegistryClient
from ..settings import Settings, resolve_settings, tracking_uri_from_env
from ..store.artifacts import ArtifactRepository, check_artifact_path
from ..store.buffer import WriteBuffer
from ..store.duckdb_store import DuckDBStore
from ..store.sandbox import DEFAULT_TIMEOUT
from ..store.segments import DATASET_INPUT_TAGS, DATASET_INPUTS, EXPERIMENT_TAGS, PARAMS, RUNS, TAGS

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

_RUN_NAME_TAG = "mlflow.runName"
_LOGGED_ARTIFACTS = "mlflow.loggedArtifacts"
_TABLE_FORMATS = (".json", ".parquet")
_FLOAT = frozenset((float,))
_EXPERIMENT_CACHE_SECONDS = 10.0
_RUN_RECHECK_SECONDS = 0.5  # how often a process looks whether another one deleted a run it logs to


@dataclass
class _RunState:
    """What this process knows of a run it logs to: enough to validate without reading the store."""

    experiment_id: str
    artifact_uri: str
    lifecycle_stage: str
    params: dict[str, str] = field(default_factory=dict)
    created: bool = False  # by this process: its params need no look in the store unless others join
    joined: bool = False  # this process marked the run as logged to by more than its creator
    checked: float = 0.0  # time.monotonic() of the last look at the run's deleted marker
    deleted_elsewhere: bool = False  # the lifecycle stage came from the deleted marker


class _Backend:
    """The store, write buffer and run cache of one store file in this process."""

    read_only: str | None = None  # why writes are refused (set by read-only backends)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = DuckDBStore(settings)
        self.buffer = WriteBuffer(self.store)
        self.buffer.start()
        self.runs: dict[str, _RunState] = {}
        self.experiments: dict[str, tuple[float, Experiment]] = {}
        self.store.start_compactor()

    def close(self) -> None:
        self.buffer.close()
        self.store.stop_compactor()
        self.store.reader.close()

    def after_fork_in_child(self) -> None:
        """Start afresh in a forked child, touching no DuckDB object and starting no thread (the child
        starts them on first use); the run cache stays, so the child can log to its parent's runs."""
        self.buffer.after_fork_in_child()
        self.store.after_fork_in_child()
        for state in self.runs.values():  # the child did not create its parent's runs: it joins them
            state.created = state.joined = False
            state.checked = 0.0


_backends: dict[Path, _Backend] = {}
_backends_lock = threading.Lock()


def _backend(settings: Settings) -> _Backend:
    with _backends_lock:
        b = _backends.get(settings.store_path)
        if b is None or b.settings != settings:
            if b is not None:
                b.close()
            b = _backends[settings.store_path] = _Backend(settings)
        return b


def flush_all() -> None:
    """Make everything logged so far in this process durable."""
    for b in list(_backends.values()):
        b.buffer.flush()


def close_all() -> None:
    """Flush and close every store this process opened (run at exit; tests call it between cases)."""
    with _backends_lock:
        backends = list(_backends.values())
        _backends.clear()
    for b in backends:
        b.close()


def _reset_after_fork() -> None:
    global _backends_lock
    _backends_lock = threading.Lock()
    for b in _backends.values():
        b.after_fork_in_child()


atexit.register(close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _now_ms() -> int:
    return int(time.time() * 1000)


class RunOperations:
    """What ``synchronous=False`` returns, as MLflow's ``RunOperations``: the call returned at once and
    ``wait()`` blocks until what it logged is durable.

    Example:
        >>> ops = client.log_metric(run_id, "loss", 0.5, synchronous=False)  # doctest: +SKIP
        >>> ops.wait()  # doctest: +SKIP
    """

    def __init__(self, client: MlflowClient) -> None:
        self._client = client

    def wait(self) -> None:
        """Block until everything logged so far to this store is durable."""
        self._client.flush()


def logging_result(client: MlflowClient, synchronous: bool | None) -> RunOperations | None:
    """Finish a logging call: flush when ``synchronous`` is True, hand back a :class:`RunOperations`
    when it is False, return None (buffered, flushed in the background) when it is None."""
    if synchronous:
        client.flush()
        return None
    return RunOperations(client) if synchronous is False else None


# The latest client of each store, for the inline metric charts of a run's notebook view (entities/_html):
# a Run does not know its store, so the stores this process reads are asked in turn.
_CHART_CLIENTS: weakref.WeakValueDictionary[str, MlflowClient] = weakref.WeakValueDictionary()


def _chart_histories(run_id: str, keys: Sequence[str]) -> dict[str, list[tuple[float, float]]]:
    """Downsampled ``(step, value)`` points of some metrics of a run, from the first store that has them."""
    for client in list(_CHART_CLIENTS.values()):
        try:
            table = client.get_metric_history_bulk([run_id], list(keys), _html.SPARK_POINTS)
        except LiteTrackerException:
            continue
        if table.num_rows:
            series: dict[str, list[tuple[float, float]]] = {}
            for key, step, value in zip(*(table.column(c).to_pylist() for c in ("key", "step", "value"))):
                series.setdefault(key, []).append((step, value))
            return series
    return {}


_html.history_reader = _chart_histories


class MlflowClient(RegistryClient):
    """MLflow's ``MlflowClient`` over a local lite_tracker store.

    Args:
        tracking_uri: A path to the store's DuckDB file or folder (``file:`` and ``duckdb:`` URIs too).
            Defaults to the URI given to ``set_tracking_uri``, then ``LITE_TRACKER_URI``, then a local
            ``MLFLOW_TRACKING_URI``, then
            ``./lite_tracker.duckdb``.
        registry_uri: Accepted for MLflow compatibility; the registry lives in the same store.

    Example:
        >>> client = MlflowClient(tracking_uri=str(tmp / "t.duckdb"))  # doctest: +SKIP
        >>> run = client.create_run("0")  # doctest: +SKIP
        >>> client.log_metric(run.info.run_id, "loss", 0.5)  # doctest: +SKIP
    """

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None,
                 *, settings: Settings | None = None) -> None:
        uri = tracking_uri or tracking_uri_from_env()
        if settings is None and uri and is_remote(uri):
            # A shared bucket (s3://bucket/prefix): read-only queries over everyone's pushed runs.
            from ..bucket.reader import bucket_backend

            self._b: _Backend = bucket_backend(uri)  # type: ignore[assignment]
            self._settings = self._b.settings
            self._store = self._b.store
            _CHART_CLIENTS[uri] = self
            return
        self._settings = settings or resolve_settings(uri)
        self._b = _backend(self._settings)
        self._store = self._b.store
        _CHART_CLIENTS[self._settings.tracking_uri] = self

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the client as the store it names, not its open store (locks and threads), as MLflow does."""
        if is_remote(self._settings.tracking_uri):
            return {"tracking_uri": self._settings.tracking_uri}
        return {"settings": self._settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Reopen the store a pickled client named."""
        self.__init__(state.get("tracking_uri"), settings=state.get("settings"))  # type: ignore[misc]

    @property
    def tracking_uri(self) -> str:
        """The store's DuckDB file path."""
        return self._settings.tracking_uri

    def flush(self) -> None:
        """Write everything this process logged to this store; durable on return."""
        self._b.buffer.flush()

    def _read(self) -> DuckDBStore:
        """The store, after making this process's buffered writes visible to queries."""
        self._b.buffer.flush()
        return self._store

    # ------------------------------------------------------------ experiments

    def create_experiment(self, name: str, artifact_location: str | None = None,
                          tags: dict[str, Any] | None = None) -> str:
        """Create an experiment and return its id; the name must be unused (deleted ones count)."""
        name = v.validate_experiment_name(name)
        tag_map = dict(v.validate_tag(k, val, v.MAX_EXPERIMENT_TAG_VALUE_LENGTH) for k, val in (tags or {}).items())
        if artifact_location is not None and not isinstance(artifact_location, str):
            raise InvalidParameterValue(f"artifact_location must be a string, got {artifact_location!r}.")
        return self._read().create_experiment(name, artifact_location, tag_map)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id (RESOURCE_DOES_NOT_EXIST if none)."""
        experiment_id = v.validate_experiment_id(experiment_id)
        exp = self._read().get_experiment(experiment_id)
        if exp is None:
            raise ResourceNotFound(f"No Experiment with id={experiment_id} exists")
        return exp

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with this name, or None."""
        if not isinstance(name, str):
            raise InvalidParameterValue(f"Experiment name must be a string, got {name!r}.")
        exp = self._read().get_experiment_by_name(name)
        if exp is not None:
            self._b.experiments[exp.experiment_id] = (time.monotonic(), exp)
        return exp

    def _cached_experiment(self, experiment_id: str) -> Experiment:
        """An experiment by id, cached for a few seconds: creating a run in a sweep must not wait for a
        store read (only the lifecycle stage can change, and deletes from this process clear the cache)."""
        hit = self._b.experiments.get(experiment_id)
        if hit is not None and time.monotonic() - hit[0] < _EXPERIMENT_CACHE_SECONDS:
            return hit[1]
        exp = self.get_experiment(experiment_id)
        self._b.experiments[experiment_id] = (time.monotonic(), exp)
        return exp

    def search_experiments(self, view_type: int = ViewType.ACTIVE_ONLY, max_results: int | None = None,
                           filter_string: str | None = None, order_by: list[str] | None = None,
                           page_token: str | None = None) -> PagedList[Experiment]:
        """Experiments matching MLflow's experiment filter grammar, paged like MLflow."""
        from ..search import (
            compile_search_experiments,
            decode_page_token,
            encode_page_token,
            validate_max_results,
        )

        limit = validate_max_results(1000 if max_results is None else max_results)
        offset = decode_page_token(page_token)
        q = compile_search_experiments(filter_string, _stages(view_type), order_by, limit + 1, offset)
        store = self._read()
        with store.session() as con:
            ids = [r[0] for r in con.execute(q.sql, q.params).fetchall()]
            found = {e.experiment_id: e for e in store.experiments(
                "experiment_id IN (SELECT unnest(?))", [ids[:limit]], con)}
        token = encode_page_token(offset + limit) if len(ids) > limit else None
        return PagedList([found[i] for i in ids[:limit] if i in found], token)

    def list_experiments(self, view_type: int = ViewType.ACTIVE_ONLY, max_results: int | None = None,
                         page_token: str | None = None) -> PagedList[Experiment]:
        """MLflow 1.x name of :meth:`search_experiments` without a filter."""
        return self.search_experiments(view_type, max_results, None, None, page_token)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Give an experiment a new, unused name."""
        exp = self.get_experiment(experiment_id)
        new_name = v.validate_experiment_name(new_name)
        if exp.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValue(f"Cannot rename experiment {experiment_id}: it is deleted; restore it first.")
        if new_name != exp.name:
            self._store.update_experiment(exp.experiment_id, name=new_name)
        self._b.experiments.pop(exp.experiment_id, None)

    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete an active experiment and, as MLflow 3 does, every run in it (restore both with
        :meth:`restore_experiment`).

        Raises:
            LiteTrackerException: RESOURCE_DOES_NOT_EXIST when no active experiment has that id.
        """
        exp = self._experiment_in_stage(experiment_id, LifecycleStage.ACTIVE)
        if exp.experiment_id == "0":
            raise InvalidParameterValue(
                "Cannot delete the default experiment '0'. This is an internally reserved experiment.")
        self._set_runs_lifecycle(exp.experiment_id, LifecycleStage.DELETED)
        self._store.update_experiment(exp.experiment_id, lifecycle_stage=LifecycleStage.DELETED)
        self._b.experiments.pop(exp.experiment_id, None)

    def restore_experiment(self, experiment_id: str) -> None:
        """Undo :meth:`delete_experiment`: the experiment and every run in it are active again, as in
        MLflow 3.

        Raises:
            LiteTrackerException: RESOURCE_DOES_NOT_EXIST when no deleted experiment has that id.
        """
        exp = self._experiment_in_stage(experiment_id, LifecycleStage.DELETED)
        self._set_runs_lifecycle(exp.experiment_id, LifecycleStage.ACTIVE)
        self._store.update_experiment(exp.experiment_id, lifecycle_stage=LifecycleStage.ACTIVE)
        self._b.experiments.pop(exp.experiment_id, None)

    def _experiment_in_stage(self, experiment_id: str, stage: str) -> Experiment:
        exp = self.get_experiment(experiment_id)
        if exp.lifecycle_stage != stage:
            raise ResourceNotFound(f"No Experiment with id={exp.experiment_id} exists")
        return exp

    def _set_runs_lifecycle(self, experiment_id: str, stage: str) -> None:
        """Mark every run of an experiment deleted or active, with the markers other processes check."""
        from ..search import compile_search_runs

        q = compile_search_runs([experiment_id], "", _stages(ViewType.ALL), None, 10**9, 0)
        with self._read().session() as con:
            run_ids = [r[0] for r in con.execute(q.sql, q.params).fetchall()]
        for run_id in run_ids:
            self._run_event(run_id, lifecycle_stage=stage)
            self._store.mark_run(run_id, "deleted", present=stage == LifecycleStage.DELETED)
            state = self._b.runs.get(run_id)
            if state is not None:
                state.lifecycle_stage = stage
                state.deleted_elsewhere = False
        self._b.buffer.flush()

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        """Set a tag on an experiment."""
        exp = self.get_experiment(experiment_id)
        key, text = v.validate_tag(key, value, v.MAX_EXPERIMENT_TAG_VALUE_LENGTH)
        self._store.write({EXPERIMENT_TAGS.events: {"experiment_id": [exp.experiment_id], "key": [key],
                                                    "value": [text], "seq": [self._store.clock()]}})

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove a tag from an experiment."""
        exp = self.get_experiment(experiment_id)
        if key not in exp.tags:
            raise ResourceNotFound(f"No tag with name: {key} in experiment with id {experiment_id}")
        self._store.write({EXPERIMENT_TAGS.events: {"experiment_id": [exp.experiment_id], "key": [key],
                                                    "value": [None], "seq": [self._store.clock()]}})

    # ------------------------------------------------------------ runs

    def create_run(self, experiment_id: str, start_time: int | None = None, tags: dict[str, Any] | None = None,
                   run_name: str | None = None) -> Run:
        """Create a RUNNING run in an active experiment; this process holds its liveness lock."""
        experiment_id = v.validate_experiment_id(experiment_id)
        exp = self._cached_experiment(experiment_id)
        if exp.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValue(
                f"The experiment {experiment_id} must be in the 'active' state to create a run in it. "
                "Current state is deleted."
            )
        tag_map = dict(v.validate_tag(k, val) for k, val in (tags or {}).items())
        if run_name is None:
            run_name = tag_map.get(_RUN_NAME_TAG) or _random_run_name()
        elif not isinstance(run_name, str):
            raise InvalidParameterValue(f"run_name must be a string, got {run_name!r}.")
        elif _RUN_NAME_TAG in tag_map and tag_map[_RUN_NAME_TAG] != run_name:
            raise InvalidParameterValue(
                f"Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values "
                f"(run_name='{run_name}', mlflow.runName='{tag_map[_RUN_NAME_TAG]}')."
            )
        tag_map[_RUN_NAME_TAG] = run_name
        start = _now_ms() if start_time is None else v.validate_int(start_time, "start_time", "run", 0)
        user = tag_map.get("mlflow.user", "unknown")  # MLflow's default without a user tag
        run_id = time_sortable_hex()
        artifact_uri = f"{exp.artifact_location.rstrip('/')}/{run_id}/artifacts"
        self._store.check_writable()
        self._store.liveness.hold(run_id)
        seq = self._store.clock()
        self._b.runs[run_id] = _RunState(experiment_id, artifact_uri, LifecycleStage.ACTIVE, created=True)
        self._b.buffer.add_events(RUNS.events, [(run_id, experiment_id, run_name, user, "RUNNING", start, None,
                                                 LifecycleStage.ACTIVE, artifact_uri, seq)])
        self._b.buffer.add_events(TAGS.events, [(run_id, k, val, seq) for k, val in tag_map.items()])
        info = RunInfo(run_id, experiment_id, user, "RUNNING", start, None, LifecycleStage.ACTIVE, artifact_uri,
                       run_name)
        return Run(info, RunData({}, {}, dict(tag_map)))

    def get_run(self, run_id: str) -> Run:
        """The run with its latest metrics, params and tags (RESOURCE_DOES_NOT_EXIST if unknown)."""
        return self._read().get_run(v.validate_run_id(run_id))

    def _state(self, run_id: str) -> _RunState:
        """This process's view of a run it logs to, loaded from the store on first use."""
        state = self._b.runs.get(run_id)
        if state is None:
            run = self.get_run(run_id)
            state = _RunState(run.info.experiment_id, run.info.artifact_uri, run.info.lifecycle_stage,
                              dict(run.data.params))
            self._b.runs[run_id] = state
        return state

    def _active_state(self, run_id: str) -> _RunState:
        state = self._b.runs.get(run_id) if type(run_id) is str else None  # a list id is no dict key
        if state is None:
            state = self._state(v.validate_run_id(run_id))
        now = time.monotonic()
        if now - state.checked >= _RUN_RECHECK_SECONDS:
            self._recheck(run_id, state)
            state.checked = now
        if state.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValue(
                f"The run {run_id} must be in the 'active' state. Current state is {state.lifecycle_stage}."
            )
        return state

    def _recheck(self, run_id: str, state: _RunState) -> None:
        """Mark a run this process did not create as shared, and follow deletes and restores made by
        other processes (through the store's run markers: a file check, no query)."""
        if not state.created and not state.joined:
            self._store.mark_run(run_id, "shared")
            state.joined = True
        if self._store.run_marked(run_id, "deleted"):
            if state.lifecycle_stage == LifecycleStage.ACTIVE:
                state.lifecycle_stage = LifecycleStage.DELETED
                state.deleted_elsewhere = True
        elif state.deleted_elsewhere:
            state.lifecycle_stage = LifecycleStage.ACTIVE
            state.deleted_elsewhere = False

    def _run_event(self, run_id: str, **fields: Any) -> None:
        row = tuple(fields.get(name) for name in RUNS.column_names[1:-1])
        self._b.buffer.add_events(RUNS.events, [(run_id, *row, self._store.clock())])

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        """Change a run's status and/or name (the name also sets the ``mlflow.runName`` tag)."""
        self._active_state(run_id)
        if status is not None:
            _check_status(status)
        if name is not None and not isinstance(name, str):
            raise InvalidParameterValue(f"Run name must be a string, got {name!r}.")
        if status == "RUNNING":
            self._store.liveness.hold(run_id)
        self._run_event(run_id, status=status, run_name=name)
        if name is not None:
            self._b.buffer.add_events(TAGS.events, [(run_id, _RUN_NAME_TAG, name, self._store.clock())])

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> None:
        """End a run (FINISHED by default); durable on return, then its liveness lock is released."""
        self._active_state(run_id)
        status = "FINISHED" if status is None else status
        _check_status(status)
        end = _now_ms() if end_time is None else v.validate_int(end_time, "end_time", "run", 0)
        self._run_event(run_id, status=status, end_time=end)
        self._b.buffer.flush()
        if RunStatus.is_terminated(status):
            self._store.liveness.release(run_id)

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run (restore with :meth:`restore_run`)."""
        state = self._state(v.validate_run_id(run_id))
        self._run_event(run_id, lifecycle_stage=LifecycleStage.DELETED)
        self._store.mark_run(run_id, "deleted")
        state.lifecycle_stage = LifecycleStage.DELETED
        state.deleted_elsewhere = False

    def restore_run(self, run_id: str) -> None:
        """Undo :meth:`delete_run`."""
        state = self._state(v.validate_run_id(run_id))
        self._run_event(run_id, lifecycle_stage=LifecycleStage.ACTIVE)
        self._store.mark_run(run_id, "deleted", present=False)
        state.lifecycle_stage = LifecycleStage.ACTIVE
        state.deleted_elsewhere = False

    def log_metric(self, run_id: str, key: str, value: float, timestamp: int | None = None,
                   step: int | None = None, synchronous: bool | None = None, dataset_name: str | None = None,
                   dataset_digest: str | None = None, model_id: str | None = None) -> RunOperations | None:
        """Log one metric point (``step`` defaults to 0, ``timestamp`` to now in ms).

        ``dataset_name``, ``dataset_digest`` and ``model_id`` are MLflow 3 keywords, accepted and not
        recorded (metrics are not linked to datasets or logged models here). Any other keyword raises
        ``TypeError``, so a typo such as ``stpe=5`` cannot silently log at step 0. With
        ``synchronous=False`` it returns a :class:`RunOperations` whose ``wait()`` makes the point durable.
        """
        state = self._b.runs.get(run_id) if type(run_id) is str else None
        if state is None or state.lifecycle_stage != LifecycleStage.ACTIVE \
                or time.monotonic() - state.checked >= _RUN_RECHECK_SECONDS:
            self._active_state(run_id)
        key = v.validate_key(key, "metric")
        value = v.validate_metric_value(key, value)
        ts = _now_ms() if timestamp is None else v.validate_int(timestamp, "timestamp", key, 0)
        st = v.validate_step(step, key)
        self._b.buffer.add_metric(run_id, key, value, ts, st)
        if synchronous is None:
            return None
        return logging_result(self, synchronous)

    def log_metrics_dict(self, run_id: str, metrics: dict[str, Any], step: int | None = None,
                         timestamp: int | None = None) -> None:
        """Log several metrics at one step and timestamp (what fluent ``log_metrics`` calls)."""
        state = self._b.runs.get(run_id) if type(run_id) is str else None
        if state is None or state.lifecycle_stage != LifecycleStage.ACTIVE \
                or time.monotonic() - state.checked >= _RUN_RECHECK_SECONDS:
            self._active_state(run_id)
        if type(metrics) is not dict:
            if not isinstance(metrics, dict):
                raise InvalidParameterValue(
                    f"metrics must be a dict of name -> number, got {type(metrics).__name__}.")
            metrics = dict(metrics)
        keys = list(metrics)
        if not v.known_keys.issuperset(keys):
            for k in keys:
                v.validate_key(k, "metric")
        values = list(metrics.values())
        if not _FLOAT.issuperset(map(type, values)):
            values = [v.validate_metric_value(k, val) for k, val in zip(keys, values)]
        ts = _now_ms() if timestamp is None else v.validate_int(timestamp, "timestamp", "metrics", 0)
        st = v.validate_step(step, "metrics")
        self._b.buffer.add_metrics(run_id, keys, values, ts, st)

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        """Log a param; returns ``value`` (a :class:`RunOperations` with ``synchronous=False``). Params
        are immutable: a different value raises."""
        ops = self.log_batch(run_id, params=[Param(key, value)], synchronous=synchronous)
        return value if ops is None else ops

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> RunOperations | None:
        """Set a tag (last write wins); ``mlflow.runName`` also renames the run."""
        return self.log_batch(run_id, tags=[RunTag(key, value)], synchronous=synchronous)

    def get_parent_run(self, run_id: str) -> Run | None:
        """The run whose ``mlflow.parentRunId`` tag names, or None for a top-level run.

        Example:
            >>> client.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id  # doctest: +SKIP
            True
        """
        parent = self.get_run(run_id).data.tags.get("mlflow.parentRunId")
        return self.get_run(parent) if parent else None

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag (RESOURCE_DOES_NOT_EXIST if the run has no such tag)."""
        self._active_state(run_id)
        if key not in self.get_run(run_id).data.tags:
            raise ResourceNotFound(f"No tag with name: {key} in run with id {run_id}")
        self._b.buffer.add_events(TAGS.events, [(run_id, key, None, self._store.clock())])

    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (), params: Sequence[Param] = (),
                  tags: Sequence[RunTag] = (), synchronous: bool | None = None) -> RunOperations | None:
        """Log metrics, params and tags together; all are validated before anything is written. A tag
        key given twice keeps its last value, as in MLflow."""
        state = self._active_state(run_id)
        m_keys, m_values, m_ts, m_steps = [], [], [], []
        for i, m in enumerate(metrics):  # errors name the item as MLflow does: metrics[3].value
            key = v.validate_key(m.key, "metric", f"metrics[{i}].name")
            m_keys.append(key)
            m_values.append(v.validate_metric_value(key, m.value, f"metrics[{i}].value"))
            m_ts.append(v.validate_int(m.timestamp, "timestamp", key, 0, f"metrics[{i}].timestamp"))
            m_steps.append(v.validate_int(m.step, "step", key, path=f"metrics[{i}].step"))
        new_params: dict[str, str] = {}
        for i, p in enumerate(params):
            key, text = v.validate_param(p.key, p.value, f"params[{i}].key")
            if key in new_params and new_params[key] != text:
                raise InvalidParameterValue(
                    f"Duplicate parameter keys have been submitted: [{key!r}]. Please ensure the request "
                    "contains only one param value per param key."
                )
            new_params[key] = text
        unknown = [k for k in new_params if k not in state.params]
        if unknown and (not state.created or self._store.run_marked(run_id, "shared")):
            state.params.update(self._store.logged_params(run_id, unknown))  # logged by another process
        for key, text in new_params.items():
            old = state.params.get(key)
            if old is not None and old != text:
                raise InvalidParameterValue(
                    f"Changing param values is not allowed. Param with key='{key}' was already logged with "
                    f"value='{old}' for run ID='{run_id}'. Attempted logging new value '{text}'."
                )
        tag_rows = list(dict(v.validate_tag(t.key, t.value, path=f"tags[{i}].key")  # a repeated key: last wins
                             for i, t in enumerate(tags)).items())
        seq = self._store.clock()
        fresh = [(run_id, k, val, seq) for k, val in new_params.items() if k not in state.params]
        if fresh:
            state.params.update(new_params)
            self._b.buffer.add_events(PARAMS.events, fresh)
        if tag_rows:
            self._b.buffer.add_events(TAGS.events, [(run_id, k, val, seq) for k, val in tag_rows])
            names = [val for k, val in tag_rows if k == _RUN_NAME_TAG]
            if names:
                self._run_event(run_id, run_name=names[-1])
        if m_keys:
            self._b.buffer.add_metrics(run_id, m_keys, m_values, m_ts, m_steps)
        return logging_result(self, synchronous)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] | None = None,
                   models: Sequence[Any] | None = None) -> None:
        """Record datasets a run used, with their tags (``mlflow.data.context`` = ``"training"`` ...).

        As in MLflow, a dataset already recorded for the run (same name and digest) is left as it is.

        Args:
            run_id: The run.
            datasets: :class:`~lite_tracker.entities.DatasetInput` entries (build them with
                ``lite_tracker.data`` and ``lite_tracker.log_input``).
            models: MLflow 3's logged-model inputs; lite_tracker has no logged models, so only
                ``None`` or an empty list is accepted.

        Raises:
            InvalidParameterValue: A field is missing or over MLflow's limit, or ``models`` is given.

        Example:
            >>> ds = lite_tracker.data.from_pandas(df, name="iris")  # doctest: +SKIP
            >>> client.log_inputs(run_id, [DatasetInput(ds._to_mlflow_entity())])  # doctest: +SKIP
        """
        if models:
            raise InvalidParameterValue("log_inputs(models=...) is not supported: lite_tracker has no logged-model "
                                        "entities. Log models with lite_tracker.<flavor>.log_model.")
        self._active_state(run_id)
        rows, tag_rows = [], []
        seq = self._store.clock()
        for item in datasets or ():
            if not isinstance(item, DatasetInput):
                raise InvalidParameterValue(f"log_inputs takes DatasetInput entries, got {type(item).__name__}.")
            d = item.dataset
            name = v.validate_dataset_field("name", d.name, v.MAX_DATASET_NAME_SIZE)
            digest = v.validate_dataset_field("digest", d.digest, v.MAX_DATASET_DIGEST_SIZE)
            rows.append((run_id, name, digest,
                         v.validate_dataset_field("source_type", d.source_type, v.MAX_DATASET_SOURCE_SIZE),
                         v.validate_dataset_field("source", d.source, v.MAX_DATASET_SOURCE_SIZE),
                         v.validate_dataset_field("schema", d.schema, v.MAX_DATASET_SCHEMA_SIZE, required=False),
                         v.validate_dataset_field("profile", d.profile, v.MAX_DATASET_PROFILE_SIZE, required=False),
                         seq))
            for tag in item.tags:
                tag_rows.append((run_id, name, digest,
                                 v.validate_dataset_field("tag key", tag.key, v.MAX_INPUT_TAG_KEY_SIZE),
                                 v.validate_dataset_field("tag value", tag.value, v.MAX_INPUT_TAG_VALUE_SIZE,
                                                          required=False) or "", seq))
        if not rows:
            return
        known = set(self._read().rows(
            "SELECT dataset_name, dataset_digest FROM dataset_inputs WHERE run_id = ?", [run_id]))
        self._b.buffer.add_events(DATASET_INPUTS.events, [r for r in rows if (r[1], r[2]) not in known])
        self._b.buffer.add_events(DATASET_INPUT_TAGS.events, [r for r in tag_rows if (r[1], r[2]) not in known])

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric of a run, ordered by step then timestamp."""
        run_id = v.validate_run_id(run_id)
        v.validate_key(key, "metric")
        return self._read().metric_history(run_id, key)

    def get_metric_history_bulk(self, run_ids: Sequence[str], keys: Sequence[str] | None = None,
                                max_points: int | None = None) -> pa.Table:
        """Histories of many runs and metrics in one query, as an Arrow table
        ``(run_id, key, step, timestamp, value)`` ordered by run, key, step.

        Args:
            run_ids: The runs to read.
            keys: Metric names to read; None for all.
            max_points: Downsample each series to at most this many points, keeping every bucket's
                minimum and maximum so peaks and dips survive (for charts).
        """
        ids = [v.validate_run_id(r) for r in run_ids]
        if keys is not None:
            keys = [v.validate_key(k, "metric") for k in keys]
        if max_points is not None and (type(max_points) is not int or max_points < 2):
            raise InvalidParameterValue(f"max_points must be an integer >= 2, got {max_points!r}.")
        return self._read().metric_histories(ids, keys, max_points)

    def sql(self, query: str, params: Sequence[Any] | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> pa.Table:
        """Run one read-only SQL SELECT over the store's views and return an Arrow table.

        Views: ``experiments, experiment_tags, runs, params, tags, metrics, latest_metrics`` and the
        registry's (see README). The query runs in a sandbox that sees only those views: no files, no
        settings, no extensions; anything else is refused.

        Args:
            query: One SELECT (or WITH ... SELECT) statement; ``?`` or ``$n`` placeholders for values.
            params: The placeholders' values.
            timeout: Seconds the query may run before it is stopped.

        Raises:
            InvalidParameterValue: The query was refused, failed, or ran past ``timeout``.

        Example:
            >>> client.sql("SELECT key, avg(value) FROM latest_metrics GROUP BY key")  # doctest: +SKIP
        """
        if not isinstance(query, str):
            raise InvalidParameterValue(f"query must be a string, got {type(query).__name__}.")
        return self._read().sql(query, list(params or ()), timeout)

    # ------------------------------------------------------------ artifacts

    def _artifacts(self, run_id: str, write: bool = True) -> ArtifactRepository:
        if write and self._b.read_only:
            raise InvalidState(self._b.read_only)
        if write:
            self._store.check_writable()
        return ArtifactRepository(self._state(v.validate_run_id(run_id)).artifact_uri)

    def log_artifact(self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Copy a local file, or a folder with everything in it, into the run's artifacts (under
        ``artifact_path``); a folder keeps its name, as in MLflow."""
        if Path(local_path).is_dir():
            target = posixpath.join(check_artifact_path(artifact_path), Path(local_path).resolve().name)
            self._artifacts(run_id).log_artifacts(local_path, target)
        else:
            self._artifacts(run_id).log_artifact(local_path, artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Copy a local folder's contents into the run's artifacts."""
        self._artifacts(run_id).log_artifacts(local_dir, artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Save ``text`` as an artifact file (UTF-8)."""
        if not isinstance(text, str):
            raise InvalidParameterValue(f"text must be a string, got {type(text).__name__}.")
        self._artifacts(run_id).write_bytes(text.encode("utf-8"), artifact_file)

    def log_stream(self, run_id: str, stream: Any, artifact_file: str) -> None:
        """Save what a binary file-like object (``io.BytesIO``, a file opened ``"rb"``) reads as the artifact
        file ``artifact_file``, as MLflow's ``log_stream``.

        Raises:
            InvalidParameterValue: ``stream`` is not a binary file-like object.
        """
        self._artifacts(run_id).write_stream(stream, artifact_file)

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """Save a JSON-serializable object as JSON, or as YAML for a ``.yaml``/``.yml`` file name."""
        ext = os.path.splitext(artifact_file)[1].lower()
        if ext in (".yaml", ".yml"):
            import yaml

            try:
                text = yaml.safe_dump(dictionary, sort_keys=False)
            except yaml.YAMLError as e:
                raise InvalidParameterValue(f"Cannot log dict as YAML: {e}") from e
        else:
            try:
                text = json.dumps(dictionary, indent=2)
            except (TypeError, ValueError) as e:
                raise InvalidParameterValue(f"Cannot log dict as JSON: {e}") from e
        self.log_text(run_id, text, artifact_file)

    def log_figure(self, run_id: str, figure: Any, artifact_file: str, *,
                   save_kwargs: dict[str, Any] | None = None) -> None:
        """Save a matplotlib or plotly figure (format from the file name; ``save_kwargs`` go to its
        save method)."""
        from ._media import figure_bytes

        self._artifacts(run_id).write_bytes(figure_bytes(figure, artifact_file, save_kwargs), artifact_file)

    def log_image(self, run_id: str, image: Any, artifact_file: str | None = None, key: str | None = None,
                  step: int | None = None, timestamp: int | None = None,
                  synchronous: bool | None = None) -> None:
        """Save an image, as MLflow does: either one file (``artifact_file``), or one point of an image
        series (``key``, ``step``, ``timestamp``) stored as MLflow stores it (see ``_media``).

        Args:
            run_id: The run.
            image: A numpy array, a PIL image or an :class:`~lite_tracker.Image`.
            artifact_file: Where to save a single image, e.g. ``"images/sample.png"``.
            key: The series name (letters, digits, ``_ - . /`` and space).
            step: The series step (default 0).
            timestamp: Milliseconds since the epoch (default now).
            synchronous: Accepted for MLflow compatibility; the files are written before the call returns.

        Raises:
            TypeError: ``artifact_file`` together with ``key``/``step``/``timestamp``, or neither
                ``artifact_file`` nor ``key`` (MLflow's errors), or an unsupported image type.
        """
        from ._media import image_bytes, series_files

        if artifact_file is not None and any(arg is not None for arg in (key, step, timestamp)):
            raise TypeError(
                "The `artifact_file` parameter cannot be used in conjunction with `key`, `step`, or `timestamp` "
                "parameters. Please ensure that `artifact_file` is specified alone, without any of these "
                "conflicting parameters."
            )
        if artifact_file is None and key is None:
            raise TypeError(
                "Invalid arguments: Please specify exactly one of `artifact_file` or `key`. Use `key` to log "
                "dynamic image charts or `artifact_file` for saving static images."
            )
        repo = self._artifacts(run_id)
        if artifact_file is not None:
            repo.write_bytes(image_bytes(image, artifact_file), artifact_file)
            return
        st = v.validate_step(step, "image")
        ts = _now_ms() if timestamp is None else v.validate_int(timestamp, "timestamp", "image", 0)
        for path, data in series_files(image, key, st, ts):  # type: ignore[arg-type]
            repo.write_bytes(data, path)
        self.set_tag(run_id, "mlflow.loggedImages", True)

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Save a dict of columns or a pandas DataFrame as a table artifact, as MLflow's ``log_table``:
        JSON (pandas' ``split`` orient) for ``*.json``, Parquet for ``*.parquet``. Rows logged again to the
        same file are appended to it. Image cells (PIL images, :class:`~lite_tracker.Image`) are saved as
        files under ``table_images/`` and referenced from the table, as MLflow does.

        Raises:
            InvalidParameterValue: ``artifact_file`` ends in neither ``.json`` nor ``.parquet``, or ``data``
                is neither a dict nor a DataFrame.
            ValueError: A column mixes images and other values (MLflow's error).
        """
        import pandas as pd

        from ._media import table_image_files

        if not isinstance(artifact_file, str) or not artifact_file.endswith(_TABLE_FORMATS):
            raise InvalidParameterValue(
                f"Table artifact_file must end with .json or .parquet, got {artifact_file!r}.")
        if isinstance(data, pd.DataFrame):
            frame = data.copy()  # image cells are replaced below; the caller's frame stays as it was
        elif isinstance(data, dict):
            frame = pd.DataFrame.from_dict(data)
        else:
            raise InvalidParameterValue(
                f"data must be a pandas.DataFrame or a dictionary, got {type(data).__name__}.")
        images = table_image_files(frame, artifact_file)
        logged = json.loads(self.get_run(run_id).data.tags.get(_LOGGED_ARTIFACTS, "[]"))
        entry = {"path": artifact_file, "type": "table"}
        if entry in logged:
            frame = pd.concat([self._read_table(run_id, artifact_file), frame], ignore_index=True)
        repo = self._artifacts(run_id)
        for path, content in images:
            repo.write_bytes(content, path)
        if artifact_file.endswith(".parquet"):
            buf = io.BytesIO()
            frame.to_parquet(buf, index=False)
            repo.write_bytes(buf.getvalue(), artifact_file)
        else:
            self.log_text(run_id, frame.to_json(orient="split", index=False, date_format="iso"), artifact_file)
        if entry not in logged:
            self.set_tag(run_id, _LOGGED_ARTIFACTS, json.dumps([*logged, entry]))

    def _read_table(self, run_id: str, artifact_file: str) -> pd.DataFrame:
        import pandas as pd

        with tempfile.TemporaryDirectory() as tmp:
            local = self.download_artifacts(run_id, artifact_file, tmp)
            if artifact_file.endswith(".parquet"):
                return pd.read_parquet(local)
            return pd.read_json(local, orient="split", dtype=False)

    def load_table(self, experiment_id: str, artifact_file: str, run_ids: list[str] | None = None,
                   extra_columns: list[str] | None = None) -> pd.DataFrame:
        """The table ``artifact_file`` logged by :meth:`log_table`, from the experiment's runs that logged
        it (only those among ``run_ids`` when given), newest run first, concatenated. ``extra_columns``
        names columns of :func:`~lite_tracker.search_runs`'s DataFrame (``run_id``, ``status``,
        ``params.lr``, ``tags.x``, ...) to add to every row of that run; a name the table already has
        gets a trailing ``_``, as in MLflow.

        Raises:
            LiteTrackerException: RESOURCE_DOES_NOT_EXIST when no run has that table.
            KeyError: An extra column that is not a column of the runs' DataFrame (as in MLflow).
        """
        import pandas as pd

        runs = self.search_runs_arrow([experiment_id]).to_pandas()
        entry = {"path": artifact_file, "type": "table"}
        tags = runs.get(f"tags.{_LOGGED_ARTIFACTS}", pd.Series([None] * len(runs), dtype=object))
        has_table = [isinstance(t, str) and entry in json.loads(t) for t in tags]
        runs = runs[has_table]
        if run_ids is not None:
            runs = runs[runs["run_id"].isin(list(run_ids))]
        if runs.empty:
            raise ResourceNotFound(f"No runs found with the corresponding table artifact: {artifact_file}.")
        for column in extra_columns or ():
            if column not in runs.columns:
                raise KeyError(f"{column!r} is not a column of the runs (search_runs' DataFrame columns: "
                               "run_id, experiment_id, status, artifact_uri, start_time, end_time, "
                               "metrics.*, params.*, tags.*).")
        frames = []
        for _, run in runs.iterrows():
            frame = self._read_table(run["run_id"], artifact_file)
            for column in extra_columns or ():
                frame[f"{column}_" if column in frame.columns else column] = run[column]
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """Files and folders directly under ``path`` in the run's artifacts."""
        return self._artifacts(run_id, write=False).list_artifacts(path)

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        """Copy an artifact file or folder to a local folder; return its local path."""
        return self._artifacts(run_id, write=False).download_artifacts(check_artifact_path(path), dst_path)

    # ------------------------------------------------------------ search

    def search_runs(self, experiment_ids: str | int | Sequence[str | int], filter_string: str = "",
                    run_view_type: int = ViewType.ACTIVE_ONLY, max_results: int = 1000,
                    order_by: list[str] | None = None, page_token: str | None = None) -> PagedList[Run]:
        """Runs matching MLflow's filter grammar, ordered and paged like MLflow."""
        from ..search import compile_search_runs, decode_page_token, encode_page_token, validate_max_results

        given = [experiment_ids] if isinstance(experiment_ids, (str, int)) else list(experiment_ids)
        ids = [v.validate_experiment_id(i) for i in given]
        limit = validate_max_results(max_results)
        offset = decode_page_token(page_token)
        q = compile_search_runs(ids, filter_string, _stages(run_view_type), order_by, limit + 1, offset)
        store = self._read()
        with store.session() as con:
            run_ids = [r[0] for r in con.execute(q.sql, q.params).fetchall()]
            runs = store.get_runs(run_ids[:limit], con)
        token = encode_page_token(offset + limit) if len(run_ids) > limit else None
        return PagedList(runs, token)

    def search_runs_arrow(self, experiment_ids: Sequence[str], filter_string: str = "",
                          run_view_type: int = ViewType.ACTIVE_ONLY, max_results: int = 100_000,
                          order_by: list[str] | None = None) -> pa.Table:
        """Like :meth:`search_runs`, as one wide Arrow table with MLflow's DataFrame columns."""
        from ..search import compile_search_runs, validate_max_results
        from ..search.frame import runs_table

        ids = [v.validate_experiment_id(i) for i in experiment_ids]
        limit = validate_max_results(max_results, maximum=10**9)
        q = compile_search_runs(ids, filter_string, _stages(run_view_type), order_by, limit, 0)
        with self._read().session() as con:
            return runs_table(con, q)

    def get_experiment_run_stats(self, experiment_ids: Sequence[str]) -> dict[str, tuple[int, int | None]]:
        """Per experiment, the number of active runs and the last activity (the latest run start or end
        time, ms); experiments without runs are left out. One query, for overview pages.

        Example:
            >>> client.get_experiment_run_stats(["0"])  # doctest: +SKIP
            {'0': (24, 1764600000000)}
        """
        ids = [v.validate_experiment_id(i) for i in experiment_ids]
        rows = self._read().rows(
            "SELECT experiment_id, count(*), max(greatest(start_time, coalesce(end_time, start_time))) FROM runs "
            "WHERE experiment_id IN (SELECT unnest(?)) AND lifecycle_stage = 'active' GROUP BY experiment_id", [ids])
        return {r[0]: (int(r[1]), r[2]) for r in rows}

    def get_run_columns(self, experiment_ids: Sequence[str]) -> dict[str, Any]:
        """The keys logged by the runs of some experiments, for choosing table columns: ``{"metrics":
        {key: (min, max)}, "params": [key, ...], "tags": [key, ...]}`` (metric ranges over latest values).

        Example:
            >>> client.get_run_columns(["0"])["metrics"]  # doctest: +SKIP
            {'loss': (0.1, 0.9)}
        """
        ids = [v.validate_experiment_id(i) for i in experiment_ids]
        rows = self._read().rows(
            "WITH r AS (SELECT run_id FROM runs WHERE experiment_id IN (SELECT unnest(?))) "
            "SELECT 'metrics', key, min(value) FILTER (WHERE isfinite(value)), "
            "max(value) FILTER (WHERE isfinite(value)) FROM latest_metrics WHERE run_id IN (SELECT run_id FROM r) "
            "GROUP BY key UNION ALL SELECT DISTINCT 'params', key, NULL, NULL FROM params "
            "WHERE run_id IN (SELECT run_id FROM r) UNION ALL SELECT DISTINCT 'tags', key, NULL, NULL FROM tags "
            "WHERE run_id IN (SELECT run_id FROM r) ORDER BY 1, 2", [ids])
        out: dict[str, Any] = {"metrics": {}, "params": [], "tags": []}
        for kind, key, low, high in rows:
            if kind == "metrics":
                out["metrics"][key] = (low, high)
            else:
                out[kind].append(key)
        return out


def _stages(view_type: int) -> tuple[str, ...]:
    if view_type not in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL):
        raise InvalidParameterValue(
            f"Invalid view type {view_type!r}: use ViewType.ACTIVE_ONLY (1), DELETED_ONLY (2) or ALL (3)."
        )
    return ViewType.stages(view_type)


def _check_status(status: Any) -> None:
    if status not in ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"):
        raise InvalidParameterValue(
            f"Invalid run status {status!r}: use one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED."
        )


_ADJECTIVES = ("able", "bold", "brave", "bright", "calm", "clever", "crisp", "eager", "fair", "gentle",
               "glad", "honest", "keen", "kind", "lucky", "merry", "neat", "proud", "quick", "quiet",
               "rare", "sharp", "shy", "smart", "swift", "tidy", "vivid", "warm", "wise", "zesty")
_NOUNS = ("ant", "bass", "bear", "crane", "deer", "dove", "eel", "finch", "fox", "frog", "gull", "hare",
          "hawk", "ibis", "lark", "lion", "lynx", "mole", "moth", "newt", "owl", "panda", "quail", "seal",
          "shrew", "slug", "snail", "stork", "swan", "toad", "trout", "whale", "wolf", "wren", "yak")


def _random_run_name() -> str:
    """A readable name like MLflow's, e.g. ``swift-owl-042``."""
    r = int.from_bytes(os.urandom(4), "big")
    return f"{_ADJECTIVES[r % len(_ADJECTIVES)]}-{_NOUNS[r // 31 % len(_NOUNS)]}-{r // 1999 % 1000:03d}"

