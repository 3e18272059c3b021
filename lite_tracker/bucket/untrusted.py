"""Reading a shared bucket's commits as untrusted input: whoever can write to the bucket may be hostile.

:func:`read_commits` keeps only well-formed commit objects that name their own store and list only
their own data files; :func:`commit_tables` reads one commit's tables and checks them.

A pulled commit's event tables must follow the rules local input follows (id formats, keys, names,
status values, lifecycle stages, artifact locations); :func:`check_tables` raises
:class:`~lite_tracker.errors.InvalidParameterValue` naming the first thing that breaks one. Values are
checked once per distinct value, so a commit of many metric points costs a few checks per key.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
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
    DATASET_TABLES,
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
from .delta import PUSH, PUSHES, STORE, DataFile
from .delta import files as delta_files
from .objects import Bucket, Commit, concat_events, read_parquet

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

_STORE_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_MODEL_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_OBJECT_STORE_SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")
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
    """A pulled artifact location must be an object store URL (``s3://...``): a local path, ``file://``,
    or any other fsspec protocol (``local://``, chained ``simplecache::file://``, ``memory://``, ``http://``)
    could point a pulled run at this machine's files (which ``gc`` deletes with a deleted run) or at
    other hosts."""
    if (not isinstance(uri, str) or "://" not in uri or uri.split("://", 1)[0] not in _OBJECT_STORE_SCHEMES
            or len(uri) > _TEXT_LIMIT or ".." in uri.split("://", 1)[1].split("/")):
        raise InvalidParameterValue(f"Invalid artifact location {uri!r}: a pulled run or experiment must keep its "
                                    f"artifacts at an object store URL ({', '.join(_OBJECT_STORE_SCHEMES)}) "
                                    "without '..'.")
    return uri


# Dataset inputs: MLflow's limits (input tag keys are free text, unlike run tag keys).
_DATASET_LIMITS = {
    "dataset_name": v.MAX_DATASET_NAME_SIZE, "dataset_digest": v.MAX_DATASET_DIGEST_SIZE,
    "dataset_source_type": v.MAX_DATASET_SOURCE_SIZE, "dataset_source": v.MAX_DATASET_SOURCE_SIZE,
    "dataset_schema": v.MAX_DATASET_SCHEMA_SIZE, "dataset_profile": v.MAX_DATASET_PROFILE_SIZE,
    "key": v.MAX_INPUT_TAG_KEY_SIZE, "value": v.MAX_INPUT_TAG_VALUE_SIZE,
}


def _rule(spec: TableSpec, column: str) -> Callable[[Any], Any] | None:
    """The check of one column's values (None: any value of the column's type is fine)."""
    if column == "experiment_id":
        return v.validate_experiment_id
    if column == "run_id":
        return v.validate_run_id
    if column == "model_id":
        return _model_id
    if spec in DATASET_TABLES and column in _DATASET_LIMITS:
        return _text(column, _DATASET_LIMITS[column])
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


class SkippedCommitWarning(UserWarning):
    """A pulled commit broke a rule (a malformed file, an invalid id or value, a change to an object of
    another store) and was left out whole; the message names the commit and the reason."""


def skip_commit(bucket: Bucket, store: str, number: int, reason: str) -> None:
    """Warn that a commit is left out, naming it and why."""
    warnings.warn(f"Skipped the commit {bucket.url}/commits/store={store}/{number:012d}.json: {reason}",
                  SkippedCommitWarning, stacklevel=3)


def read_commits(bucket: Bucket, wanted: list[tuple[str, int]]) -> list[Commit]:
    """The commit objects ``wanted`` that are well formed, in order; others are skipped with a warning."""
    if not wanted:
        return []
    paths = [bucket.commit_path(s, n) for s, n in wanted]
    blobs = bucket.fs.cat(paths)
    out = []
    for (store, number), path in zip(wanted, paths):
        try:
            commit = Commit.from_json(blobs[path])
            _check_commit(commit, store, number)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            skip_commit(bucket, store, number, f"it is not a well-formed commit ({e}).")
            continue
        out.append(commit)
    return out


def _check_commit(commit: Commit, store: str, number: int) -> None:
    """A commit names its own store and number and lists only data files of its own store."""
    if not _STORE_ID_RE.match(store) or commit.store != store or commit.number != number:
        raise InvalidParameterValue(f"it claims store {commit.store!r} and number {commit.number!r}")
    for table, files in commit.files.items():
        for f in files:
            path = f["path"]
            if (not isinstance(path, str) or not path.startswith(f"tables/{table}/store={store}/")
                    or ".." in path.split("/") or not isinstance(f["bytes"], int) or not isinstance(f["rows"], int)):
                raise InvalidParameterValue(f"it lists {f!r} as a data file of {table}")


def read_tables(bucket: Bucket, paths: list[str]) -> dict[str, pa.Table | Exception]:
    """Data files by path: the table, or why it could not be read (missing, not Parquet)."""
    import pyarrow as pa

    blobs = bucket.fs.cat([bucket.path(p) for p in paths], on_error="return")
    out: dict[str, pa.Table | Exception] = {}
    for p in paths:
        blob = blobs[bucket.path(p)]
        if isinstance(blob, FileNotFoundError):
            out[p] = blob
        elif isinstance(blob, Exception):
            raise blob  # the network or the credentials: the whole pull fails with a SyncError
        else:
            try:
                out[p] = read_parquet(blob)
            except (pa.ArrowException, OSError) as e:
                out[p] = e
    return out


def commit_tables(commit: Commit, parsed: dict[str, pa.Table | Exception]) -> dict[str, pa.Table]:
    """One commit's event tables in the local column order, checked like local input.

    Raises:
        InvalidParameterValue: A data file is missing or unreadable, or a value breaks a local rule.
    """
    parts: dict[str, list[pa.Table]] = {}
    for name, files in commit.files.items():
        parts[name] = []
        for f in files:
            got = parsed[f["path"]]
            if isinstance(got, Exception):
                raise InvalidParameterValue(f"its data file {f['path']} cannot be read ({type(got).__name__}: {got}).")
            parts[name].append(got)
    return push_tables(parts)


# ---------------------------------------------------------------- format 2: Delta tables


@dataclass(frozen=True)
class Push:
    """One completed push of one store, as its row in the ``pushes`` table says."""

    store: str
    number: int
    created: int
    tables: dict[str, int]
    artifacts: dict[str, dict[str, int]]


def push_name(store: str, number: int) -> str:
    """How warnings name a push."""
    return f"push {number} of store {store}"


def skip_push(bucket: Bucket, store: str, number: int, reason: str) -> None:
    """Warn that a push is left out, naming it and why."""
    warnings.warn(f"Skipped {push_name(store, number)} in {bucket.url}: {reason}", SkippedCommitWarning, stacklevel=3)


def read_pushes(bucket: Bucket, dt: DeltaTable, stores: set[str] | None = None) -> list[Push]:
    """The well-formed rows of a snapshot of the ``pushes`` table (of ``stores`` only, if given), sorted
    by store and number; a malformed row or file is skipped with a warning naming it."""
    out: dict[tuple[str, int], Push] = {}
    entries = [f for f in delta_files(dt) if stores is None or f.store in stores]
    for f, (got, _) in zip(entries, read_files(bucket, PUSHES, entries)):
        if isinstance(got, Exception):
            warnings.warn(f"Skipped the file {bucket.url}/tables/{PUSHES}/{f.path}: it cannot be read "
                          f"({type(got).__name__}: {got}).", SkippedCommitWarning, stacklevel=2)
            continue
        columns = {n: got.column(n).to_pylist() if n in got.column_names else [None] * got.num_rows
                   for n in (PUSH, "created", "tables", "artifacts")}
        for number, created, tables, artifacts in zip(*columns.values()):
            try:
                push = Push(f.store, _number(number), int(created or 0), _counts(json.loads(tables or "{}")),
                            _artifacts(json.loads(artifacts or "{}")))
            except (ValueError, TypeError, AttributeError, InvalidParameterValue) as e:
                skip_push(bucket, f.store, number if isinstance(number, int) else -1, f"its row is malformed ({e}).")
                continue
            out.setdefault((push.store, push.number), push)
    return [out[k] for k in sorted(out)]


def _number(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidParameterValue(f"push number {value!r}")
    return value


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(n, int) for k, n in value.items()):
        raise InvalidParameterValue("its table counts are not a mapping of table to rows")
    return value


def _artifacts(value: Any) -> dict[str, dict[str, int]]:
    if not isinstance(value, dict) or not all(
            isinstance(files, dict) and all(isinstance(k, str) and isinstance(n, int) for k, n in files.items())
            for files in value.values()):
        raise InvalidParameterValue("its artifact list is not a mapping of run to files and sizes")
    return value


def read_rows(bucket: Bucket, table: str, dt: DeltaTable, wanted: dict[str, set[int]],
              groups: dict[tuple[str, int], dict[str, list[pa.Table]]], broken: dict[tuple[str, int], str]
              ) -> tuple[int, int]:
    """Read the rows of the pushes ``wanted`` (store -> numbers) from one event table's snapshot into
    ``groups`` ((store, push) -> table -> parts); a push with an unreadable file lands in ``broken``.
    Returns the files and bytes read."""
    import pyarrow as pa
    import pyarrow.compute as pc

    entries = [f for f in delta_files(dt) if f.store in wanted and _may_hold(f, wanted[f.store])]
    nbytes = 0
    for f, (got, size) in zip(entries, read_files(bucket, table, entries)):
        nbytes += size
        numbers = wanted[f.store]
        if isinstance(got, Exception) or PUSH not in got.column_names:
            why = f"{got}" if isinstance(got, Exception) else "it has no _push column"
            for n in numbers:
                if (f.lo is None or f.lo <= n) and (f.hi is None or n <= f.hi):
                    broken.setdefault((f.store, n), f"its data file tables/{table}/{f.path} cannot be read ({why}).")
            continue
        try:
            pushes = got.column(PUSH).cast(pa.int64())
        except pa.ArrowException as e:
            for n in numbers:
                broken.setdefault((f.store, n), f"its data file tables/{table}/{f.path} has a bad _push ({e}).")
            continue
        for n in pushes.unique().to_pylist():
            if n in numbers:
                part = got.filter(pc.equal(pushes, n))
                groups.setdefault((f.store, n), {}).setdefault(table, []).append(part)
    return len(entries), nbytes


def _may_hold(f: DataFile, numbers: set[int]) -> bool:
    return any((f.lo is None or f.lo <= n) and (f.hi is None or n <= f.hi) for n in numbers)


def read_files(bucket: Bucket, table: str, entries: list[DataFile]) -> list[tuple[pa.Table | Exception, int]]:
    """Data files of a table, fetched concurrently: each its table (or why it could not be read) and its
    size. A path outside the store's own partition (absolute, ``..``) is refused unread."""
    import pyarrow as pa

    keys: dict[str, str] = {}
    for f in entries:
        if (_STORE_ID_RE.match(f.store) and f.path.startswith(f"{STORE}={f.store}/") and "://" not in f.path
                and ".." not in f.path.split("/")):
            keys[f.path] = bucket.path(f"tables/{table}/{f.path}")
    blobs = bucket.fs.cat(sorted(set(keys.values())), on_error="return") if keys else {}
    out: list[tuple[pa.Table | Exception, int]] = []
    for f in entries:
        key = keys.get(f.path)
        blob = blobs.get(key) if key else InvalidParameterValue(f"it names a data file outside its partition: {f.path}")
        if isinstance(blob, Exception) and not isinstance(blob, (FileNotFoundError, InvalidParameterValue)):
            raise blob  # the network or the credentials: the whole read fails with a SyncError
        if not isinstance(blob, bytes):
            out.append((blob if isinstance(blob, Exception) else ValueError("not a file"), 0))
            continue
        try:
            out.append((read_parquet(blob), len(blob)))
        except (pa.ArrowException, OSError) as e:
            out.append((e, len(blob)))
    return out


def push_tables(parts: dict[str, list[pa.Table]]) -> dict[str, pa.Table]:
    """One push's event tables in the local column order, checked like local input.

    Raises:
        InvalidParameterValue: A file does not fit its table, or a value breaks a local rule.
    """
    import pyarrow as pa

    tables: dict[str, pa.Table] = {}
    for name, pieces in parts.items():
        try:
            table = concat_events(name, pieces)
        except pa.ArrowException as e:
            raise InvalidParameterValue(f"its data files of {name} do not fit the table ({e}).") from e
        if table is not None:
            tables[name] = table
    check_tables(tables)
    return tables
