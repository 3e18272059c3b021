"""MLflow's fluent API (``import lite_tracker as mlflow``): sugar over :class:`MlflowClient`.

Like MLflow, logging without an active run starts one. The active run is per thread / asyncio task.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from .. import _validation as v
from ..entities import DatasetInput, Experiment, InputTag, PagedList, Param, Run, RunTag, ViewType
from ..entities.model_registry import ModelVersion, RegisteredModel
from ..errors import InvalidParameterValue, LiteTrackerException, ResourceNotFound
from ..settings import TRACKING_URI_ENV, current_user, store_path_from_uri, tracking_uri_from_env
from ..store.sandbox import DEFAULT_TIMEOUT
from . import _system_metrics
from ._context import library_tags, source_tags
from ._state import state
from .client import MlflowClient, RunOperations, flush_all, logging_result

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


class ActiveRun(Run):
    """The run returned by :func:`start_run`; a context manager that ends it.

    On leaving the ``with`` block the run ends FINISHED, FAILED after an exception, or KILLED after
    Ctrl-C.
    """

    def __init__(self, run: Run) -> None:
        super().__init__(run.info, run.data, run.inputs)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            status = "FINISHED"
        elif issubclass(exc_type, KeyboardInterrupt):
            status = "KILLED"
        else:
            status = "FAILED"
        stack = active_runs.get()
        if stack and stack[-1].info.run_id == self.info.run_id:
            end_run(status)


# The active-run stack: a ContextVar, so each thread and asyncio task has its own.
active_runs: ContextVar[tuple[ActiveRun, ...]] = ContextVar("lite_tracker_active_runs", default=())
# The run this thread (or task) ended last, for last_active_run().
last_run_id: ContextVar[str | None] = ContextVar("lite_tracker_last_run_id", default=None)


def _end_started_runs(status: str) -> None:
    """End every run the fluent API started and did not end yet (at exit or on a signal)."""
    for run_id, client in reversed(list(state.started.items())):
        _system_metrics.stop_monitor(run_id)
        try:
            client.set_terminated(run_id, status)
        except Exception as e:  # the process is going down: report, go on with the others
            log.error("lite_tracker: could not end run %s: %s", run_id, e)
        state.started.pop(run_id, None)
    active_runs.set(())


def _install_hooks() -> None:
    """Once per process: atexit ends open runs (FINISHED, or FAILED/KILLED after an uncaught
    exception or Ctrl-C), and SIGTERM ends them KILLED before the process dies."""
    with state.lock:
        if state.hooks_installed:
            return
        state.hooks_installed = True
    atexit.register(lambda: _end_started_runs(state.exit_status))
    previous_hook = sys.excepthook

    def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        state.exit_status = "KILLED" if issubclass(kind, KeyboardInterrupt) else "FAILED"
        previous_hook(kind, value, tb)

    sys.excepthook = excepthook
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGTERM)
        if previous is not signal.SIG_IGN:
            signal.signal(signal.SIGTERM, _on_sigterm(previous))


def _on_sigterm(previous: Any) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        _end_started_runs("KILLED")
        if callable(previous):
            previous(signum, frame)
        else:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    return handler


def _client() -> MlflowClient:
    c = state.client
    if c is None:
        c = state.client = MlflowClient()
    return c


# ---------------------------------------------------------------- configuration

def set_tracking_uri(uri: str | Path) -> None:
    """Use the store at ``uri`` (a ``.duckdb`` path, a folder, or a ``file:``/``duckdb:`` URI).

    Subprocesses started afterwards use the same store (through ``LITE_TRACKER_URI``, as MLflow does
    through ``MLFLOW_TRACKING_URI``), and :func:`get_tracking_uri` returns ``uri`` as given.

    Example:
        >>> set_tracking_uri("runs/lite_tracker.duckdb")  # doctest: +SKIP
    """
    client = MlflowClient(str(uri))  # validates and opens the store now: errors surface here
    os.environ[TRACKING_URI_ENV] = client.tracking_uri  # seen by new clients and subprocesses, as in MLflow
    state.client = client
    state.tracking_uri = str(uri)
    state.experiment_id = None


def get_tracking_uri() -> str:
    """The tracking URI as given to :func:`set_tracking_uri`, else the path of the store in use."""
    return state.tracking_uri or _client().tracking_uri


def is_tracking_uri_set() -> bool:
    """Whether a tracking URI was chosen: by :func:`set_tracking_uri`, ``LITE_TRACKER_URI`` or a local
    ``MLFLOW_TRACKING_URI`` (as MLflow's, False means the default store is used)."""
    return bool(state.tracking_uri) or tracking_uri_from_env() is not None


def set_registry_uri(uri: str) -> None:
    """Accept MLflow's registry URI when it names the tracking store: lite_tracker keeps the model
    registry inside the tracking store.

    Raises:
        InvalidParameterValue: ``uri`` names another store, a server or a database; use
            :func:`set_tracking_uri` to move both.
    """
    wanted = store_path_from_uri(str(uri))
    current = Path(_client().tracking_uri)
    if wanted != current:
        raise InvalidParameterValue(
            f"Registry URI {uri!r} names another store than the tracking store {str(current)!r}: lite_tracker "
            "keeps the model registry in the tracking store. Call set_tracking_uri() to use another store."
        )
    state.registry_uri = str(uri)


def get_registry_uri() -> str:
    """The registry URI given to :func:`set_registry_uri`, else the tracking URI (the same store)."""
    return state.registry_uri or get_tracking_uri()


def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Make an experiment active for new runs, creating it by name if needed."""
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidParameterValue("Must specify exactly one of: `experiment_id` or `experiment_name`.")
    client = _client()
    if experiment_id is not None:
        exp = _experiment_or_not_found(client, experiment_id)
    else:
        found = client.get_experiment_by_name(experiment_name)  # type: ignore[arg-type]
        if found is None:
            try:
                client.create_experiment(experiment_name)  # type: ignore[arg-type]
            except LiteTrackerException as e:
                if e.error_code != "RESOURCE_ALREADY_EXISTS":  # another process created it meanwhile
                    raise
            found = client.get_experiment_by_name(experiment_name)  # type: ignore[arg-type]
        assert found is not None
        exp = found
    if exp.lifecycle_stage != "active":
        raise InvalidParameterValue(
            f"Cannot set a deleted experiment {exp.name!r} as the active experiment. "
            "You can restore the experiment, or permanently delete the experiment to create a new one."
        )
    state.experiment_id = exp.experiment_id
    return exp


def _experiment_or_not_found(client: MlflowClient, experiment_id: Any) -> Experiment:
    """The experiment of this id; an id of no experiment, well-formed or not, is RESOURCE_DOES_NOT_EXIST
    (MLflow's outcome for ``set_experiment(experiment_id=...)``)."""
    try:
        return client.get_experiment(experiment_id)
    except InvalidParameterValue as e:
        raise ResourceNotFound(f"No Experiment with id={experiment_id} exists") from e


def set_experiment_tag(key: str, value: Any) -> None:
    """Set a tag on the active experiment (as chosen by :func:`set_experiment`, else the default)."""
    _client().set_experiment_tag(_active_experiment_id(), key, value)


def delete_experiment_tag(key: str) -> None:
    """Delete a tag of the active experiment (as chosen by :func:`set_experiment`, else the default)."""
    _client().delete_experiment_tag(_active_experiment_id(), key)


def set_experiment_tags(tags: dict[str, Any]) -> None:
    """Set several tags on the active experiment."""
    if not isinstance(tags, dict):
        raise InvalidParameterValue(f"tags must be a dict, got {type(tags).__name__}.")
    for key, value in tags.items():
        set_experiment_tag(key, value)


def create_experiment(name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None) -> str:
    """Create an experiment; return its id."""
    return _client().create_experiment(name, artifact_location, tags)


def get_experiment(experiment_id: str) -> Experiment:
    """The experiment with this id."""
    return _client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    """The experiment with this name, or None."""
    return _client().get_experiment_by_name(name)


def delete_experiment(experiment_id: str) -> None:
    """Soft-delete an experiment."""
    _client().delete_experiment(experiment_id)


def restore_experiment(experiment_id: str) -> None:
    """Restore a soft-deleted experiment (and its runs)."""
    _client().restore_experiment(experiment_id)


def search_experiments(view_type: int = ViewType.ACTIVE_ONLY, max_results: int | None = None,
                       filter_string: str | None = None, order_by: list[str] | None = None) -> list[Experiment]:
    """All experiments matching the filter (every page)."""
    client = _client()
    out: list[Experiment] = []
    token = None
    while True:
        page = client.search_experiments(view_type, max_results or 1000, filter_string, order_by, token)
        out.extend(page)
        token = page.token
        if token is None or (max_results is not None and len(out) >= max_results):
            return out[:max_results] if max_results is not None else out


def _active_experiment_id() -> str:
    if state.experiment_id is not None:
        return state.experiment_id
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if name:
        return set_experiment(experiment_name=name).experiment_id
    return os.environ.get("MLFLOW_EXPERIMENT_ID") or "0"


# ---------------------------------------------------------------- runs

def start_run(run_id: str | None = None, experiment_id: str | None = None, run_name: str | None = None,
              nested: bool = False, parent_run_id: str | None = None, tags: dict[str, Any] | None = None,
              description: str | None = None, log_system_metrics: bool | None = None) -> ActiveRun:
    """Start a run (or resume ``run_id``) and make it active; use it as a context manager.

    ``log_system_metrics=True`` samples CPU, memory, disk, network (and GPU) use in a background thread
    until the run ends; None follows ``enable_system_metrics_logging()`` /
    ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING``.

    Example:
        >>> with start_run(run_name="baseline") as run:  # doctest: +SKIP
        ...     log_param("lr", 0.01)
    """
    stack = active_runs.get()
    if stack and not nested:
        raise LiteTrackerException(
            f"Run with UUID {stack[-1].info.run_id} is already active. To start a new run, first end the "
            "current run with lite_tracker.end_run(). To start a nested run, call start_run with nested=True",
            "INVALID_STATE",
        )
    v.validate_experiment_id_type(experiment_id)
    system_metrics = _system_metrics.enabled_by_env() if log_system_metrics is None else bool(log_system_metrics)
    if system_metrics:
        _system_metrics.check_available()
    client = _client()
    parent = parent_run_id
    if nested and not parent:  # the active run, else (as in MLflow) the run MLFLOW_RUN_ID names
        parent = stack[-1].info.run_id if stack else os.environ.get("MLFLOW_RUN_ID") or None
    extra = dict(tags or {})
    if parent:
        extra["mlflow.parentRunId"] = parent
    if description is not None:
        if "mlflow.note.content" in extra:
            raise InvalidParameterValue(
                "Description is already set via the tag mlflow.note.content in tags.Remove the key "
                "mlflow.note.content from the tags or omit the description."
            )
        extra["mlflow.note.content"] = description
    if not run_id and not nested and os.environ.get("MLFLOW_RUN_ID"):
        # As MLflow: the environment's run is resumed once (a nested run becomes its child instead).
        run_id = os.environ.pop("MLFLOW_RUN_ID")
    if run_id:
        existing = client.get_run(run_id)
        if existing.info.lifecycle_stage != "active":
            raise InvalidParameterValue(f"Cannot start run with ID {run_id} because it is in the deleted state.")
        if experiment_id is not None and str(experiment_id) != existing.info.experiment_id:
            raise InvalidParameterValue(
                f"The run {run_id} belongs to experiment {existing.info.experiment_id}, not {experiment_id}."
            )
        client.update_run(run_id, status="RUNNING", name=run_name)
        for k, val in extra.items():
            client.set_tag(run_id, k, val)
        run = client.get_run(run_id)
    else:
        exp_id = str(experiment_id) if experiment_id is not None else _active_experiment_id()
        run = client.create_run(exp_id, tags={**_system_tags(), **extra}, run_name=run_name)
    active = ActiveRun(run)
    _install_hooks()
    state.started[run.info.run_id] = client
    active_runs.set(stack + (active,))
    if system_metrics:
        _system_metrics.start_monitor(client, run.info.run_id)
    return active


def end_run(status: str = "FINISHED") -> None:
    """End the active run (FINISHED by default); everything it logged is durable on return."""
    stack = active_runs.get()
    if not stack:
        return
    run = stack[-1]
    active_runs.set(stack[:-1])
    client = state.started.pop(run.info.run_id, None) or _client()
    _system_metrics.stop_monitor(run.info.run_id)
    client.set_terminated(run.info.run_id, status)
    last_run_id.set(run.info.run_id)


def active_run() -> ActiveRun | None:
    """The active run of this thread, or None."""
    stack = active_runs.get()
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    """The active run of this thread, or else the run this thread ended last (fetched fresh)."""
    current = active_run()
    run_id = current.info.run_id if current else last_run_id.get()
    return _client().get_run(run_id) if run_id else None


def _run_id(run_id: str | None = None) -> str:
    if run_id:
        return run_id
    stack = active_runs.get()
    return stack[-1].info.run_id if stack else start_run().info.run_id


def get_run(run_id: str) -> Run:
    """A run by id."""
    return _client().get_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    """The parent of a nested run (its ``mlflow.parentRunId`` tag), or None for a top-level run."""
    return _client().get_parent_run(run_id)


def delete_run(run_id: str) -> None:
    """Soft-delete a run."""
    _client().delete_run(run_id)


def restore_run(run_id: str) -> None:
    """Restore a soft-deleted run."""
    _client().restore_run(run_id)


# ---------------------------------------------------------------- logging

def log_metric(key: str, value: float, step: int | None = None, synchronous: bool | None = None,
               timestamp: int | None = None, run_id: str | None = None, model_id: str | None = None,
               dataset: Any = None) -> RunOperations | None:
    """Log one metric point to the active run (started if there is none).

    Takes MLflow 3's keywords; ``model_id`` and ``dataset`` (which link the point to a logged model or
    a dataset in MLflow) are accepted and not recorded: lite_tracker has no logged-model or dataset
    entities. Any other keyword raises ``TypeError``, so a typo such as ``stpe=5`` cannot silently
    log at the default step.

    Example:
        >>> log_metric("loss", 0.3, step=5)  # doctest: +SKIP
    """
    stack = active_runs.get()
    rid = run_id or (stack[-1].info.run_id if stack else _run_id())
    return _client().log_metric(rid, key, value, timestamp, step, synchronous)


def log_metrics(metrics: dict[str, float], step: int | None = None, synchronous: bool | None = None,
                run_id: str | None = None, timestamp: int | None = None, model_id: str | None = None,
                dataset: Any = None) -> RunOperations | None:
    """Log several metrics at one step (a :class:`RunOperations` with ``synchronous=False``).

    ``model_id`` and ``dataset`` are MLflow 3 keywords accepted and not recorded (see :func:`log_metric`);
    any other keyword raises ``TypeError``.
    """
    stack = active_runs.get()
    rid = run_id or (stack[-1].info.run_id if stack else _run_id())
    client = _client()
    client.log_metrics_dict(rid, metrics, step, timestamp)
    return logging_result(client, synchronous)


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Log a param (immutable); returns ``value``."""
    return _client().log_param(_run_id(), key, value, synchronous)


def log_params(params: dict[str, Any], synchronous: bool | None = None,
               run_id: str | None = None) -> RunOperations | None:
    """Log several params at once (validated together)."""
    if not isinstance(params, dict):
        raise InvalidParameterValue(f"params must be a dict, got {type(params).__name__}.")
    return _client().log_batch(_run_id(run_id), params=[Param(k, val) for k, val in params.items()],
                               synchronous=synchronous)


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> RunOperations | None:
    """Set a tag on the active run."""
    return _client().set_tag(_run_id(), key, value, synchronous)


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> RunOperations | None:
    """Set several tags on the active run."""
    if not isinstance(tags, dict):
        raise InvalidParameterValue(f"tags must be a dict, got {type(tags).__name__}.")
    return _client().log_batch(_run_id(), tags=[RunTag(k, val) for k, val in tags.items()],
                               synchronous=synchronous)


def flush_async_logging() -> None:
    """Wait until everything logged so far (with ``synchronous=False`` or not) is durable."""
    flush_all()


def delete_tag(key: str) -> None:
    """Delete a tag of the active run."""
    _client().delete_tag(_run_id(), key)


def log_artifact(local_path: str, artifact_path: str | None = None, run_id: str | None = None) -> None:
    """Copy a local file, or a folder with its contents, into the active run's artifacts."""
    _client().log_artifact(_run_id(run_id), local_path, artifact_path)


def log_artifacts(local_dir: str, artifact_path: str | None = None, run_id: str | None = None) -> None:
    """Copy a local folder's contents into the active run's artifacts."""
    _client().log_artifacts(_run_id(run_id), local_dir, artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    """Save text as an artifact file."""
    _client().log_text(_run_id(run_id), text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Save a dict as a JSON (or YAML) artifact file."""
    _client().log_dict(_run_id(run_id), dictionary, artifact_file)


def log_figure(figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None) -> None:
    """Save a matplotlib or plotly figure as an artifact file (``save_kwargs`` go to its save method)."""
    _client().log_figure(_run_id(), figure, artifact_file, save_kwargs=save_kwargs)


def log_image(image: Any, artifact_file: str | None = None, key: str | None = None, step: int | None = None,
              timestamp: int | None = None, synchronous: bool | None = False) -> None:
    """Log an image to the active run, as MLflow does: ``log_image(image, "dir/x.png")`` saves one
    file; ``log_image(image, key="samples", step=3)`` adds a point to an image series, stored as
    MLflow stores it (a PNG plus a WebP thumbnail under ``images/``).

    ``image`` is a numpy array, a PIL image or an :class:`~lite_tracker.Image`. ``artifact_file`` cannot
    go with ``key``/``step``/``timestamp`` and one of ``artifact_file``/``key`` is needed (``TypeError``,
    as in MLflow). ``synchronous`` is accepted; the files are written before the call returns.

    Example:
        >>> log_image(np.zeros((8, 8, 3), dtype=np.uint8), key="samples", step=1)  # doctest: +SKIP
    """
    _client().log_image(_run_id(), image, artifact_file, key, step, timestamp, synchronous)


def log_stream(stream: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Log what a binary file-like object (``io.BytesIO``, a file opened ``"rb"``) reads as the artifact
    file ``artifact_file`` of the active run (started if none) or of ``run_id``."""
    _client().log_stream(_run_id(run_id), stream, artifact_file)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Log a dict of columns or a pandas DataFrame as a JSON or Parquet table (appended to an existing
    one); image cells are saved as files, as in MLflow."""
    _client().log_table(_run_id(run_id), data, artifact_file)


def load_table(artifact_file: str, run_ids: list[str] | None = None,
               extra_columns: list[str] | None = None) -> pd.DataFrame:
    """The table ``artifact_file`` of ``run_ids`` (default: the active experiment's runs that logged it)
    as one DataFrame; ``extra_columns=["run_id", "params.lr"]`` adds those columns of each row's run."""
    return _client().load_table(_active_experiment_id(), artifact_file, run_ids, extra_columns)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """Where the active run's artifacts (or one of them) live."""
    from ..store.artifacts import check_artifact_path

    rid = _run_id()
    run = active_run()
    base = run.info.artifact_uri if run and run.info.run_id == rid else _client().get_run(rid).info.artifact_uri
    rel = check_artifact_path(artifact_path.lstrip("/") if artifact_path else artifact_path)  # as MLflow
    return f"{base}/{rel}" if rel else base


def flush_artifact_async_logging() -> None:
    """MLflow's wait for artifact uploads queued in the background. lite_tracker writes every artifact
    before the logging call returns, so when this is called nothing is pending and it returns at once."""


def flush() -> None:
    """Make everything logged so far in this process durable (all stores)."""
    flush_all()


DATASET_CONTEXT_TAG = "mlflow.data.context"


def log_input(dataset: Any = None, context: str | None = None, tags: dict[str, str] | None = None,
              model: Any = None) -> None:
    """Record that the active run (started if none) used ``dataset``, as MLflow's ``log_input``.

    Args:
        dataset: A dataset from :mod:`lite_tracker.data` (``from_pandas``, ``from_numpy``).
        context: What the run used it for (``"training"``, ``"eval"``...), stored as the input tag
            ``mlflow.data.context`` and searchable as ``datasets.context``.
        tags: More input tags.
        model: MLflow 3's logged-model input; not supported (lite_tracker has no logged models).

    Example:
        >>> ds = lite_tracker.data.from_pandas(df, source="data/iris.csv", name="iris")  # doctest: +SKIP
        >>> lite_tracker.log_input(ds, context="training")  # doctest: +SKIP
    """
    if model is not None:
        raise InvalidParameterValue("log_input(model=...) is not supported: lite_tracker has no logged-model "
                                    "entities. Log models with lite_tracker.<flavor>.log_model.")
    _client().log_inputs(_run_id(), [_dataset_input(dataset, context, tags)])


def _dataset_input(dataset: Any, context: str | None, tags: dict[str, str] | None) -> DatasetInput:
    """The input record of one dataset with its context and tags (what log_input and log_inputs store)."""
    to_entity = getattr(dataset, "_to_mlflow_entity", None)
    if to_entity is None:
        raise InvalidParameterValue(
            "log_input needs a dataset from lite_tracker.data (from_pandas, from_numpy), "
            f"got {type(dataset).__name__}.")
    input_tags = [InputTag(k, v) for k, v in (tags or {}).items()]
    if context is not None:
        input_tags.append(InputTag(DATASET_CONTEXT_TAG, context))
    return DatasetInput(to_entity(), input_tags)


def log_inputs(datasets: list[Any] | None = None, contexts: list[str | None] | None = None,
               tags_list: list[dict[str, str] | None] | None = None, models: list[Any] | None = None) -> None:
    """Record several datasets the active run (started if none) used, as MLflow's ``log_inputs``: the
    lists ``datasets``, ``contexts`` and ``tags_list`` go together item by item and must have the same
    length; ``None`` in ``contexts`` or ``tags_list`` means none for that dataset.

    Raises:
        InvalidParameterValue: The lists differ in length, an item is not a ``lite_tracker.data`` dataset,
            or ``models`` is given (lite_tracker has no logged-model entities).
    """
    datasets, contexts, tags_list = datasets or [], contexts or [], tags_list or []
    if not len(datasets) == len(contexts) == len(tags_list):
        raise InvalidParameterValue(
            "`mlflow.log_inputs` requires `datasets`, `contexts`, `tags_list` to be non-empty list and have the "
            "same length.")
    if models:
        raise InvalidParameterValue("log_inputs(models=...) is not supported: lite_tracker has no logged-model "
                                    "entities. Log models with lite_tracker.log_model.")
    inputs = [_dataset_input(d, c, t) for d, c, t in zip(datasets, contexts, tags_list) if d is not None]
    _client().log_inputs(_run_id(), inputs)


# ---------------------------------------------------------------- search

def search_runs(experiment_ids: list[str] | None = None, filter_string: str = "",
                run_view_type: int = ViewType.ACTIVE_ONLY, max_results: int = 100_000,
                order_by: list[str] | None = None, output_format: str = "pandas",
                search_all_experiments: bool = False, experiment_names: list[str] | None = None) -> Any:
    """Runs matching the filter, as a pandas DataFrame (MLflow's columns) or a list of Runs."""
    client = _client()
    if experiment_ids and experiment_names:
        raise InvalidParameterValue("Only experiment_ids or experiment_names can be used, but not both")
    if experiment_names:  # as in MLflow, names of no experiment (None too) are skipped (none at all: no runs)
        found = (client.get_experiment_by_name(name) for name in experiment_names if isinstance(name, str))
        ids = [exp.experiment_id for exp in found if exp is not None]
    elif experiment_ids:
        ids = [str(i) for i in ([experiment_ids] if isinstance(experiment_ids, str) else experiment_ids)]
    elif search_all_experiments:
        ids = [e.experiment_id for e in search_experiments(view_type=ViewType.ALL)]
    else:
        ids = [_active_experiment_id()]
    if output_format == "list":
        out: list[Run] = []
        token = None
        while len(out) < max_results:
            page = client.search_runs(ids, filter_string, run_view_type, min(max_results - len(out), 50_000),
                                      order_by, token)
            out.extend(page)
            token = page.token
            if token is None:
                break
        return PagedList(out, None)  # a list that renders as a table in notebooks
    if output_format != "pandas":
        raise InvalidParameterValue(f"Unsupported output format {output_format!r}: use 'pandas' or 'list'.")
    table = client.search_runs_arrow(ids, filter_string, run_view_type, max_results, order_by)
    return _to_pandas(table)


def sql(query: str, params: list[Any] | None = None, output_format: str = "pandas", *,
        timeout: float = DEFAULT_TIMEOUT) -> Any:
    """Read-only SQL over the store's views, as a pandas DataFrame or (``output_format="arrow"``) an
    Arrow table. The query runs in a sandbox that sees only the views and is stopped after ``timeout``
    seconds (see ``MlflowClient.sql``).

    Args:
        query: One SELECT (or WITH ... SELECT) statement; ``?`` or ``$n`` placeholders for values.
        params: The placeholders' values.
        output_format: ``"pandas"`` or ``"arrow"``.
        timeout: Seconds the query may run before it is stopped.

    Raises:
        InvalidParameterValue: The query was refused, failed, or ran past ``timeout``.

    Example:
        >>> sql("SELECT run_id, value FROM latest_metrics WHERE key = 'loss' ORDER BY value LIMIT 3")  # doctest: +SKIP
    """
    if output_format not in ("pandas", "arrow"):
        raise InvalidParameterValue(f"Unsupported output format {output_format!r}: use 'pandas' or 'arrow'.")
    table = _client().sql(query, params, timeout=timeout)
    return table if output_format == "arrow" else _to_pandas(table)


def _to_pandas(table: Any) -> pd.DataFrame:
    return table.to_pandas()


# ---------------------------------------------------------------- model registry

def register_model(model_uri: str, name: str, await_registration_for: int = 300, *,
                   tags: dict[str, Any] | None = None) -> ModelVersion:
    """Register the model at ``model_uri`` as a new version of ``name`` (the model is created if needed).

    Args:
        model_uri: ``runs:/<run_id>/<path>``, ``models:/...``, or an artifact location.
        name: The registered model's name.
        await_registration_for: Accepted for MLflow compatibility (registration is synchronous).
        tags: Tags of the new version.

    Returns:
        The new :class:`~lite_tracker.entities.model_registry.ModelVersion`.

    Example:
        >>> register_model(f"runs:/{run_id}/model", "iris").version  # doctest: +SKIP
        1
    """
    client = _client()
    try:
        client.create_registered_model(name)
    except LiteTrackerException as e:
        if e.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    return client.create_model_version(name, model_uri, tags=tags)


def _all_pages(fetch: Callable[[int, str | None], PagedList[Any]], max_results: int | None,
               page_size: int) -> list[Any]:
    """Pages of ``fetch(max_results, page_token)`` until the last page or ``max_results`` items."""
    out: list[Any] = []
    token = None
    while max_results is None or len(out) < max_results:
        page = fetch(page_size if max_results is None else min(page_size, max_results - len(out)), token)
        out.extend(page)
        token = page.token
        if token is None:
            break
    return out


def search_registered_models(max_results: int | None = None, filter_string: str | None = None,
                             order_by: list[str] | None = None) -> list[RegisteredModel]:
    """Every registered model matching the filter (all pages), as MLflow's fluent function."""
    client = _client()
    return _all_pages(lambda n, token: client.search_registered_models(filter_string, n, order_by, token),
                      max_results, 1000)


def search_model_versions(max_results: int | None = None, filter_string: str | None = None,
                          order_by: list[str] | None = None) -> list[ModelVersion]:
    """Every model version matching the filter (all pages, newest first by default)."""
    client = _client()
    return _all_pages(lambda n, token: client.search_model_versions(filter_string, n, order_by, token),
                      max_results, 10_000)


def set_model_version_tag(name: str, version: int | str | None = None, key: str | None = None,
                          value: Any = None) -> None:
    """Set a tag on a model version."""
    _client().set_model_version_tag(name, version, key, value)


# ---------------------------------------------------------------- system tags

_system_tags_cache: dict[str, str] | None = None


def _system_tags() -> dict[str, str]:
    """MLflow's standard tags: user, source name and type, git commit, branch, dirty flag and remote when
    inside a checkout, Python and key library versions (see ``_context``; read once per process)."""
    global _system_tags_cache
    if _system_tags_cache is None:
        _system_tags_cache = {"mlflow.user": current_user(), **source_tags()}
    return {**_system_tags_cache, **library_tags()}

