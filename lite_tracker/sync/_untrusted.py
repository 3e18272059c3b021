"""Checks on what is read from a shared bucket: whoever can write to the bucket is untrusted input.

A pulled commit's event tables must follow the rules local input follows (id formats, keys, names,
status values, lifecycle stages, artifact locations); :func:`check_tables` raises
:class:`~lite_tracker.errors.InvalidParameterValue` naming the first thing that breaks one. Values are
checked once per distinct value, so a commit of many metric points costs a few checks per key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _validation as v
from ..entities import LifecycleStage, RunStatus
from ..entities.model_registry import ModelVersionStages, ModelVersionStatus
from ..errors import InvalidParameterValue
from ..registry.client import (
    MAX_DESCRIPTION_LENGTH,
    MAX_REGISTRY_TAG_VALUE_LENGTH,
    validate_alias,
    validate_model_name,
    validate_version,
)
from ..store.segments import (
    EXPERIMENT_TAGS,
    EXPERIMENTS,
    METRICS,
    MODEL_ALIASES,
    MODEL_VERSIONS,
    PARAMS,
    RUNS,
    TABLES,
    TAGS,
    TableSpec,
)

if TYPE_CHECKING:
    import pyarrow as pa

_MODEL_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_TEXT_LIMIT = 65535  # names, sources, links and ids the local API has no tighter rule for


def check_tables(tables: dict[str, pa.Table]) -> None:
    """Check every pulled event table (in the local column order, as ``_pull._concat`` makes them).

    Raises:
        InvalidParameterValue: A key column is empty, or a value breaks the local rule for its column.
    """
    for spec in TABLES:
        table = tables.get(spec.events)
        if table is None or not table.num_rows:
            continue
        for name in spec.column_names:
            column = table.column(name)
            if (name in spec.keys or name == "seq") and column.null_count:
                raise InvalidParameterValue(f"{spec.events}: {column.null_count} rows have no {name}.")
            check = _rule(spec, name)
            if check is None:
                continue
            for value in column.unique().to_pylist():
                if value is not None:
                    check(value)


def check_artifact_location(uri: Any) -> str:
    """A pulled artifact location must be a remote URL (``s3://...``): a local path or ``file://``
    URL could point a pulled run at this machine's files."""
    if (not isinstance(uri, str) or "://" not in uri or uri.startswith("file://") or len(uri) > _TEXT_LIMIT
            or ".." in uri.split("://", 1)[1].split("/")):
        raise InvalidParameterValue(f"Invalid artifact location {uri!r}: a pulled run or experiment must keep its "
                                    "artifacts at a remote URL without '..'.")
    return uri


def _rule(spec: TableSpec, column: str) -> Callable[[Any], Any] | None:
    """The check of one column's values (None: any value of the column's type is fine)."""
    if column == "experiment_id":
        return v.validate_experiment_id
    if column == "run_id":
        return v.validate_run_id
    if column == "model_id":
        return _model_id
    if column == "key":
        return lambda key: v.validate_key(key, spec.events)
    if column == "artifact_uri" or column == "artifact_location":
        return check_artifact_location
    if column == "lifecycle_stage":
        return _one_of(column, (LifecycleStage.ACTIVE, LifecycleStage.DELETED))
    if spec is RUNS and column == "status":
        return _one_of(column, tuple(RunStatus.to_string(s) for s in RunStatus.all_status()))
    if spec is RUNS and column in ("run_name", "user_id"):
        return _text(column, v.MAX_TAG_VALUE_LENGTH)
    if spec is EXPERIMENTS and column == "name":
        return v.validate_experiment_name
    if spec is MODEL_VERSIONS and column == "status":
        return _one_of(column, (ModelVersionStatus.READY, ModelVersionStatus.PENDING_REGISTRATION,
                                ModelVersionStatus.FAILED_REGISTRATION))
    if column in ("current_stage", "from_stage", "to_stage"):
        return _one_of(column, ModelVersionStages.ALL_STAGES)
    if column == "name":
        return validate_model_name
    if column == "version" or (spec is MODEL_ALIASES and column == "value"):
        return validate_version
    if spec is MODEL_ALIASES and column == "alias":
        return validate_alias
    if column == "value":
        return _value_rule(spec)
    if column == "description":
        return _text(column, MAX_DESCRIPTION_LENGTH)
    if column in ("source", "run_link", "user_id", "transition_id"):
        return _text(column, _TEXT_LIMIT)
    return None


def _value_rule(spec: TableSpec) -> Callable[[Any], Any] | None:
    if spec is METRICS:
        return None
    limit = {PARAMS: v.MAX_PARAM_VALUE_LENGTH, TAGS: v.MAX_TAG_VALUE_LENGTH,
             EXPERIMENT_TAGS: v.MAX_EXPERIMENT_TAG_VALUE_LENGTH}.get(spec, MAX_REGISTRY_TAG_VALUE_LENGTH)
    return _text("value", limit)


def _model_id(model_id: Any) -> str:
    if not isinstance(model_id, str) or not _MODEL_ID_RE.match(model_id):
        raise InvalidParameterValue(f"Invalid model id {model_id!r}: letters, digits, '_' or '-' expected.")
    return model_id


def _one_of(column: str, allowed: tuple[str, ...]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise InvalidParameterValue(f"Invalid {column} {value!r}: expected one of {', '.join(allowed)}.")
        return value

    return check


def _text(column: str, limit: int) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if len(value) > limit:
            raise InvalidParameterValue(f"{column} is {len(value)} characters long; the limit is {limit}.")
        return value

    return check
