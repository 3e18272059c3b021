"""Entities shaped like MLflow's (``mlflow.entities``), so user code ports unchanged.

All entities are frozen dataclasses. ``Run.data.metrics`` holds the latest value of each metric, as in
MLflow; the full history comes from ``MlflowClient.get_metric_history``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

from . import _html

T = TypeVar("T")


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
        """Name of an integer status code."""
        return RunStatus._NAMES[status]

    @staticmethod
    def from_string(status: str) -> int:
        """Integer code of a status name such as ``"FINISHED"``."""
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


class ViewType:
    """Which lifecycle stages a search returns (MLflow's values)."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    @staticmethod
    def stages(view_type: int) -> tuple[str, ...]:
        """Lifecycle stages selected by ``view_type``."""
        return {1: ("active",), 2: ("deleted",), 3: ("active", "deleted")}[view_type]


class LifecycleStage:
    """Soft-delete state of experiments and runs."""

    ACTIVE = "active"
    DELETED = "deleted"


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


@dataclass(frozen=True)
class Param:
    """A run parameter (immutable once logged)."""

    key: str
    value: str


@dataclass(frozen=True)
class RunTag:
    """A run tag (mutable, last write wins)."""

    key: str
    value: str


@dataclass(frozen=True)
class ExperimentTag:
    """An experiment tag."""

    key: str
    value: str


@dataclass(frozen=True)
class RunInfo:
    """Metadata of a run, as MLflow's ``RunInfo``."""

    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str

    @property
    def run_uuid(self) -> str:
        """Deprecated MLflow alias of ``run_id``."""
        return self.run_id


@dataclass(frozen=True)
class RunData:
    """Latest metrics, params and tags of a run, as plain dicts."""

    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """A run: ``info`` plus ``data``."""

    info: RunInfo
    data: RunData

    def to_dictionary(self) -> dict[str, Any]:
        """Plain-dict form, like MLflow's ``Run.to_dictionary``."""
        return {
            "info": {**self.info.__dict__},
            "data": {
                "metrics": dict(self.data.metrics),
                "params": dict(self.data.params),
                "tags": dict(self.data.tags),
            },
        }

    def _repr_html_(self) -> str:
        """A compact table for notebooks: info, latest metrics, params, tags."""
        return _html.run(self)


@dataclass(frozen=True)
class Experiment:
    """An experiment, as MLflow's ``Experiment``."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None

    def _repr_html_(self) -> str:
        """A compact table for notebooks."""
        return _html.experiment(self)


@dataclass(frozen=True)
class FileInfo:
    """An artifact entry: relative path, whether it is a folder, size in bytes (None for folders)."""

    path: str
    is_dir: bool
    file_size: int | None


class PagedList(list[T], Generic[T]):
    """A list with the ``token`` of the next page (None on the last page), as MLflow's."""

    def __init__(self, items: list[T] | Iterator[T], token: str | None) -> None:
        super().__init__(items)
        self.token = token

    def _repr_html_(self) -> str | None:
        """A table of the runs, experiments, models or versions in the list (plain repr otherwise)."""
        return _html.listing(self)
