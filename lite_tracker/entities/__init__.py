"""Entities shaped like MLflow's (``mlflow.entities``), so user code ports unchanged.

All entities are frozen dataclasses. ``Run.data.metrics`` holds the latest value of each metric, as in
MLflow; the full history comes from ``MlflowClient.get_metric_history``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

from ..errors import InvalidParameterValue
from . import _html

T = TypeVar("T")


def mlflow_repr(obj: Any, names: tuple[str, ...]) -> str:
    """MLflow's entity repr: ``<Class: a=..., b=...>``, attributes in alphabetical order.

    Example:
        >>> mlflow_repr(Param("lr", "0.1"), ("key", "value"))
        "<Param: key='lr', value='0.1'>"
    """
    fields = ", ".join(f"{name}={getattr(obj, name)!r}" for name in sorted(names))
    return f"<{type(obj).__name__}: {fields}>"


class RunStatus:
    """Run status names and their MLflow integer codes.

    Example:
        >>> RunStatus.to_string(RunStatus.FINISHED)
        'FINISHED'
    """

    RUNNING = 1
    SCHEDULED = 2
    FINISHED = 3
    FAILED = 4
    KILLED = 5

    _NAMES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
    _CODES = {v: k for k, v in _NAMES.items()}

    @staticmethod
    def to_string(status: int) -> str:
        """Name of an integer status code (MLflow's message for an unknown one)."""
        if status not in RunStatus._NAMES:
            raise InvalidParameterValue(f"Could not get string corresponding to run status {status}. Valid run "
                                        f"statuses: {list(RunStatus._NAMES)}")
        return RunStatus._NAMES[status]

    @staticmethod
    def from_string(status: str) -> int:
        """Integer code of a status name such as ``"FINISHED"`` (MLflow's message for an unknown one)."""
        if status not in RunStatus._CODES:
            raise InvalidParameterValue(f"Could not get run status corresponding to string {status}. Valid run "
                                        f"status strings: {list(RunStatus._CODES)}")
        return RunStatus._CODES[status]

    @staticmethod
    def is_terminated(status: int | str) -> bool:
        """True for FINISHED, FAILED and KILLED."""
        name = status if isinstance(status, str) else RunStatus.to_string(status)
        return name in ("FINISHED", "FAILED", "KILLED")

    @staticmethod
    def all_status() -> list[int]:
        """Every status code."""
        return list(RunStatus._NAMES)


class SourceType:
    """Where a run came from (MLflow's ``mlflow.source.type`` tag values and their integer codes).

    Example:
        >>> SourceType.to_string(SourceType.LOCAL)
        'LOCAL'
    """

    NOTEBOOK = 1
    JOB = 2
    PROJECT = 3
    LOCAL = 4
    UNKNOWN = 5

    _NAMES = {1: "NOTEBOOK", 2: "JOB", 3: "PROJECT", 4: "LOCAL", 5: "UNKNOWN"}
    _CODES = {v: k for k, v in _NAMES.items()}

    @staticmethod
    def to_string(source_type: int) -> str:
        """Name of an integer source type code."""
        if source_type not in SourceType._NAMES:
            raise InvalidParameterValue(
                f"Unknown source type {source_type!r}. Valid source types: {list(SourceType._NAMES)}")
        return SourceType._NAMES[source_type]

    @staticmethod
    def from_string(source_type: str) -> int:
        """Integer code of a source type name such as ``"LOCAL"``."""
        if source_type not in SourceType._CODES:
            raise InvalidParameterValue(
                f"Unknown source type {source_type!r}. Valid source type strings: {list(SourceType._CODES)}")
        return SourceType._CODES[source_type]


class ViewType:
    """Which lifecycle stages a search returns (MLflow's values)."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    _NAMES = {1: "active_only", 2: "deleted_only", 3: "all"}

    @staticmethod
    def stages(view_type: int) -> tuple[str, ...]:
        """Lifecycle stages selected by ``view_type``."""
        return {1: ("active",), 2: ("deleted",), 3: ("active", "deleted")}[view_type]

    @staticmethod
    def from_string(view_str: str) -> int:
        """The view type named ``view_str`` (``active_only``, ``deleted_only``, ``all``), as MLflow's."""
        codes = {v: k for k, v in ViewType._NAMES.items()}
        if view_str not in codes:
            raise InvalidParameterValue(f"Could not get valid view type corresponding to string {view_str}. "
                                        f"Valid view types are {list(codes)}")
        return codes[view_str]

    @staticmethod
    def to_string(view_type: int) -> str:
        """The name of a view type code, as MLflow's."""
        if view_type not in ViewType._NAMES:
            raise InvalidParameterValue(f"Could not get valid view type corresponding to {view_type}. "
                                        f"Valid view types are {list(ViewType._NAMES)}")
        return ViewType._NAMES[view_type]


class LifecycleStage:
    """Soft-delete state of experiments and runs."""

    ACTIVE = "active"
    DELETED = "deleted"

    @staticmethod
    def is_valid(lifecycle_stage: str) -> bool:
        """True for ``active`` and ``deleted``."""
        return lifecycle_stage in (LifecycleStage.ACTIVE, LifecycleStage.DELETED)

    @staticmethod
    def view_type_to_stages(view_type: int = ViewType.ALL) -> list[str]:
        """The lifecycle stages a view type selects, as MLflow's."""
        return list(ViewType.stages(view_type))


class MlflowRepr:
    """Mixin of the dataclass entities: MLflow's ``<Class: field=value, ...>`` repr (``repr=False``), and
    iteration over ``(field, value)`` pairs, so ``dict(entity)`` works as with MLflow's entities."""

    def __repr__(self) -> str:
        return mlflow_repr(self, tuple(getattr(self, "__dataclass_fields__", ())))

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        for name in getattr(self, "__dataclass_fields__", ()):
            yield name, getattr(self, name)

    @classmethod
    def from_dictionary(cls, the_dict: dict[str, Any]) -> Any:
        """The entity a dict describes, ignoring keys it does not know, as MLflow's ``from_dictionary``.

        Example:
            >>> Param.from_dictionary({"key": "lr", "value": "0.1", "extra": 1})
            <Param: key='lr', value='0.1'>
        """
        known = getattr(cls, "__dataclass_fields__", {})
        return cls(**{k: v for k, v in the_dict.items() if k in known})


def as_key_value_dict(items: Any) -> Any:
    """A dict from what MLflow's entity constructors take: a dict as is, or a list of objects with
    ``key``/``value`` (tags, params, metrics: the last one of a key wins) or ``alias``/``version``."""
    if isinstance(items, (list, tuple)):
        return {(i.alias if hasattr(i, "alias") else i.key): (i.version if hasattr(i, "alias") else i.value)
                for i in items}
    return items


class Metric(NamedTuple):
    """One metric point.

    A named tuple rather than a dataclass: histories of 100,000 points are built in one pass.

    Example:
        >>> Metric("loss", 0.5, 1700000000000, 3).step
        3
    """

    key: str
    value: float
    timestamp: int
    step: int = 0
    run_id: str | None = None

    def __repr__(self) -> str:
        return mlflow_repr(self, self._fields)

    def to_dictionary(self) -> dict[str, Any]:
        """The point as a plain dict (``key``, ``value``, ``timestamp``, ``step``, ``run_id``), as MLflow's.

        Example:
            >>> Metric("loss", 0.5, 1700000000000, 3).to_dictionary()["step"]
            3
        """
        return {"key": self.key, "value": self.value, "timestamp": self.timestamp, "step": self.step,
                "run_id": self.run_id}

    @classmethod
    def from_dictionary(cls, metric_dict: dict[str, Any]) -> Metric:
        """The point a :meth:`to_dictionary` dict describes.

        Raises:
            ValueError: ``key``, ``value``, ``timestamp`` or ``step`` is missing, or the argument is not a dict.

        Example:
            >>> Metric.from_dictionary({"key": "loss", "value": 0.5, "timestamp": 1, "step": 2}).value
            0.5
        """
        if not isinstance(metric_dict, dict):
            raise ValueError(f"Metric.from_dictionary needs a dict, got {type(metric_dict).__name__}.")
        missing = [k for k in ("key", "value", "timestamp", "step") if k not in metric_dict]
        if missing:
            raise ValueError(f"Missing keys {missing} in metric dictionary {metric_dict!r}.")
        return cls(metric_dict["key"], metric_dict["value"], metric_dict["timestamp"], metric_dict["step"],
                   metric_dict.get("run_id"))


@dataclass(frozen=True, repr=False)
class Param(MlflowRepr):
    """A run parameter (immutable once logged)."""

    key: str
    value: str


@dataclass(frozen=True, repr=False)
class RunTag(MlflowRepr):
    """A run tag (mutable, last write wins)."""

    key: str
    value: str


@dataclass(frozen=True, repr=False)
class ExperimentTag(MlflowRepr):
    """An experiment tag."""

    key: str
    value: str


@dataclass(frozen=True, repr=False)
class RunInfo(MlflowRepr):
    """Metadata of a run, as MLflow's ``RunInfo``."""

    run_id: str
    experiment_id: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    # None only in a RunInfo built by hand, as MLflow allows; runs read from a store always have both.
    artifact_uri: str = None  # type: ignore[assignment]
    run_name: str = None  # type: ignore[assignment]

    @property
    def run_uuid(self) -> str:
        """Deprecated MLflow alias of ``run_id`` (not printed, as in MLflow 3)."""
        return self.run_id

    @classmethod
    def get_orderable_attributes(cls) -> list[str]:
        """The run attributes an ``order_by`` clause can name, as MLflow lists them."""
        return cls.get_searchable_attributes()

    @classmethod
    def get_searchable_attributes(cls) -> list[str]:
        """The run attributes a ``search_runs`` filter can name, as MLflow lists them.

        Example:
            >>> RunInfo.get_searchable_attributes()[:2]
            ['artifact_uri', 'end_time']
        """
        return ["artifact_uri", "end_time", "run_id", "run_name", "start_time", "status", "user_id"]


@dataclass(frozen=True, repr=False)
class RunData(MlflowRepr):
    """Latest metrics, params and tags of a run, as plain dicts."""

    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("metrics", "params", "tags"):  # MLflow's constructor takes lists of entities
            object.__setattr__(self, name, as_key_value_dict(getattr(self, name)))


@dataclass(frozen=True)
class Dataset:
    """A dataset as recorded with a run's inputs, as MLflow's ``mlflow.entities.Dataset``.

    ``source`` is JSON describing where the data came from (its kind in ``source_type``); ``schema``
    and ``profile`` are JSON too (None when unknown).

    Example:
        >>> Dataset("iris", "1a2b3c4d", "local", '{"uri": "/data/iris.csv"}').name
        'iris'
    """

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class InputTag:
    """A tag of a run's input, such as ``mlflow.data.context`` = ``"training"``."""

    key: str
    value: str


@dataclass(frozen=True)
class DatasetInput:
    """A dataset used by a run, with the tags of that use."""

    dataset: Dataset
    tags: list[InputTag] = field(default_factory=list)


@dataclass(frozen=True, repr=False)
class RunInputs(MlflowRepr):
    """The inputs of a run: ``dataset_inputs`` (``model_inputs`` is always empty: lite_tracker has no
    logged-model entities)."""

    dataset_inputs: list[DatasetInput] = field(default_factory=list)
    model_inputs: list[Any] = field(default_factory=list)


@dataclass(frozen=True, repr=False)
class Run(MlflowRepr):
    """A run: ``info``, ``data`` and ``inputs`` (the datasets it used)."""

    info: RunInfo
    data: RunData  # MLflow also allows None (a run built by hand without data)
    inputs: RunInputs = field(default_factory=RunInputs)

    def __post_init__(self) -> None:
        if self.info is None:
            raise InvalidParameterValue("run_info cannot be None")

    def to_dictionary(self) -> dict[str, Any]:
        """Plain-dict form, like MLflow's ``Run.to_dictionary`` (no ``data`` when the run has none)."""
        out: dict[str, Any] = {"info": dict(self.info)}
        if self.data is not None:
            out["data"] = {"metrics": dict(self.data.metrics), "params": dict(self.data.params),
                           "tags": dict(self.data.tags)}
        return out

    def _repr_html_(self) -> str:
        """A compact table for notebooks: info, latest metrics, params, tags."""
        return _html.run(self)


@dataclass(frozen=True, repr=False)
class Experiment(MlflowRepr):
    """An experiment, as MLflow's ``Experiment``."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", as_key_value_dict(self.tags))  # MLflow takes ExperimentTags too

    def _repr_html_(self) -> str:
        """A compact table for notebooks."""
        return _html.experiment(self)


@dataclass(frozen=True, repr=False)
class FileInfo(MlflowRepr):
    """An artifact entry: relative path, whether it is a folder, size in bytes (None for folders)."""

    path: str
    is_dir: bool
    file_size: int | None


class PagedList(list[T], Generic[T]):
    """A list with the ``token`` of the next page (None on the last page), as MLflow's."""

    def __init__(self, items: list[T] | Iterator[T], token: str | None) -> None:
        super().__init__(items)
        self.token = token

    def to_list(self) -> list[T]:
        """The items as a plain list (without the token), as MLflow's ``PagedList.to_list``."""
        return list(self)

    def _repr_html_(self) -> str | None:
        """A table of the runs, experiments, models or versions in the list (plain repr otherwise)."""
        return _html.listing(self)
