"""Read an MLflow tracking store straight from its files, without MLflow: a SQLite database
(``sqlite:///mlflow.db``, read with Python's ``sqlite3`` in read-only mode) or a file store folder
(``./mlruns``: ``meta.yaml`` files, one file per param and tag, one line per metric point).

Everything comes back as one :class:`Snapshot` of plain rows plus an Arrow table of metric points. A dataset
input that is broken or out of bounds (a field over MLflow's limit, a dataset it points to that is missing
or outside the store) is left out whole, with a :class:`SkippedImportWarning` naming it.
"""

from __future__ import annotations

import os
import re
import sqlite3
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _validation as limits
from ..errors import InvalidParameterValue, ResourceNotFound

if TYPE_CHECKING:
    import pyarrow as pa

Row = tuple[Any, ...]

EXPERIMENT_COLUMNS = ("experiment_id", "name", "artifact_location", "lifecycle_stage", "creation_time",
                      "last_update_time")
RUN_COLUMNS = ("run_id", "experiment_id", "run_name", "user_id", "status", "start_time", "end_time",
               "lifecycle_stage", "artifact_uri")
VERSION_COLUMNS = ("name", "version", "source", "run_id", "run_link", "description", "current_stage", "status",
                   "user_id", "creation_timestamp", "last_updated_timestamp")
STATUS_NAMES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
# A dataset's fields as MLflow names them, with the limits ``log_inputs`` checks (limit, required).
DATASET_FIELDS = (("name", limits.MAX_DATASET_NAME_SIZE, True), ("digest", limits.MAX_DATASET_DIGEST_SIZE, True),
                  ("source_type", limits.MAX_DATASET_SOURCE_SIZE, True),
                  ("source", limits.MAX_DATASET_SOURCE_SIZE, True), ("schema", limits.MAX_DATASET_SCHEMA_SIZE, False),
                  ("profile", limits.MAX_DATASET_PROFILE_SIZE, False))
_FOLDER_ID = re.compile(r"[\w\-]+")  # an mlruns dataset id names one folder: no separators, no dots


class SkippedImportWarning(UserWarning):
    """Part of the MLflow store could not be imported (a broken or out-of-bounds file or row); it was
    left out whole and the rest was imported. The message names it and says why."""


def _skip(what: str, reason: str) -> None:
    warnings.warn(f"Skipped {what}: {reason}", SkippedImportWarning, stacklevel=2)


@dataclass
class Snapshot:
    """Everything read from one MLflow store. Ids are strings; versions are ints."""

    experiments: list[Row] = field(default_factory=list)  # EXPERIMENT_COLUMNS
    experiment_tags: list[Row] = field(default_factory=list)  # experiment_id, key, value
    runs: list[Row] = field(default_factory=list)  # RUN_COLUMNS
    params: list[Row] = field(default_factory=list)  # run_id, key, value
    tags: list[Row] = field(default_factory=list)  # run_id, key, value
    metrics: pa.Table | None = None  # run_id, key, value, timestamp, step
    models: list[Row] = field(default_factory=list)  # name, description, creation_timestamp, last_updated_timestamp
    model_tags: list[Row] = field(default_factory=list)  # name, key, value
    versions: list[Row] = field(default_factory=list)  # VERSION_COLUMNS
    version_tags: list[Row] = field(default_factory=list)  # name, version, key, value
    aliases: list[Row] = field(default_factory=list)  # name, alias, version
    # run_id, name, digest, source_type, source, schema, profile
    dataset_inputs: list[Row] = field(default_factory=list)
    dataset_input_tags: list[Row] = field(default_factory=list)  # run_id, name, digest, key, value
    _input_keys: set[Row] = field(default_factory=set, repr=False)

    def add_dataset_input(self, what: str, run_id: str, dataset: Mapping[str, Any],
                          tags: Iterable[tuple[Any, Any]]) -> None:
        """Add one dataset input of a run with its tags, checked as ``log_inputs`` checks them. A broken
        one, or a second one of the same name and digest, is left out whole with a warning naming ``what``.
        """
        try:
            row = (run_id, *(limits.validate_dataset_field(f, dataset.get(f), limit, required)
                             for f, limit, required in DATASET_FIELDS))
            tag_rows = [(*row[:3], limits.validate_dataset_field("tag key", key, limits.MAX_INPUT_TAG_KEY_SIZE),
                         limits.validate_dataset_field("tag value", value, limits.MAX_INPUT_TAG_VALUE_SIZE,
                                                       required=False) or "") for key, value in tags]
        except InvalidParameterValue as e:
            _skip(what, e.message)
            return
        if row[:3] in self._input_keys:
            _skip(what, f"the run already has the dataset input {row[1]!r} with digest {row[2]!r}.")
            return
        self._input_keys.add(row[:3])
        self.dataset_inputs.append(row)
        self.dataset_input_tags += tag_rows


def read_mlflow(source: str | os.PathLike[str]) -> Snapshot:
    """Read an MLflow store: ``sqlite:///path.db`` or a file store folder (``./mlruns``, ``file:///...``).

    Raises:
        ResourceNotFound: The database file or folder does not exist.
        InvalidParameterValue: It is not an MLflow tracking store, or the URI scheme is not supported.
    """
    text = os.fspath(source)
    if text.startswith("sqlite:///"):
        return _read_sqlite(Path(text[len("sqlite:///"):]))
    if "://" in text and not text.startswith("file://"):
        raise InvalidParameterValue(
            f"Cannot import from {text!r}: use sqlite:///path/to/mlflow.db or an mlruns folder. For another "
            "database or a tracking server, first export it with MLflow to a SQLite file or an mlruns folder."
        )
    path = Path(text.removeprefix("file://"))
    if path.is_file():
        return _read_sqlite(path)
    return _read_mlruns(path)


# ---------------------------------------------------------------- SQLite

def _read_sqlite(path: Path) -> Snapshot:
    if not path.is_file():
        raise ResourceNotFound(f"No MLflow database at {str(path)!r}: check the path after sqlite:///.")
    try:
        con = sqlite3.connect(f"file:{path.absolute().as_posix()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise InvalidParameterValue(f"Cannot open {str(path)!r} as a SQLite database: {e}") from e
    try:
        return _sqlite_snapshot(con, path)
    except sqlite3.DatabaseError as e:
        raise InvalidParameterValue(f"Cannot read {str(path)!r} as an MLflow database: {e}") from e
    finally:
        con.close()


def _sqlite_snapshot(con: sqlite3.Connection, path: Path) -> Snapshot:
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"experiments", "runs", "metrics", "params", "tags"} <= tables:
        raise InvalidParameterValue(f"{str(path)!r} is a SQLite file but not an MLflow tracking database "
                                    "(no experiments/runs/metrics tables).")

    def rows(sql: str, table: str) -> list[Row]:
        return con.execute(sql).fetchall() if table in tables else []

    snap = Snapshot()
    snap.experiments = rows("SELECT CAST(experiment_id AS TEXT), name, artifact_location, lifecycle_stage, "
                            "creation_time, last_update_time FROM experiments", "experiments")
    snap.experiment_tags = rows("SELECT CAST(experiment_id AS TEXT), key, value FROM experiment_tags",
                                "experiment_tags")
    snap.runs = rows("SELECT run_uuid, CAST(experiment_id AS TEXT), name, user_id, status, start_time, end_time, "
                     "lifecycle_stage, artifact_uri FROM runs", "runs")
    snap.params = rows("SELECT run_uuid, key, value FROM params", "params")
    snap.tags = rows("SELECT run_uuid, key, value FROM tags", "tags")
    snap.metrics = _sqlite_metrics(con)
    snap.models = rows("SELECT name, description, creation_time, last_updated_time FROM registered_models",
                       "registered_models")
    snap.model_tags = rows("SELECT name, key, value FROM registered_model_tags", "registered_model_tags")
    snap.versions = rows("SELECT name, version, source, run_id, run_link, description, current_stage, status, "
                         "user_id, creation_time, last_updated_time FROM model_versions", "model_versions")
    snap.version_tags = rows("SELECT name, version, key, value FROM model_version_tags", "model_version_tags")
    snap.aliases = rows("SELECT name, alias, version FROM registered_model_aliases", "registered_model_aliases")
    if "inputs" in tables:  # MLflow 2.4 and later
        _sqlite_inputs(con, path, tables, snap)
    return snap


def _sqlite_inputs(con: sqlite3.Connection, path: Path, tables: set[str], snap: Snapshot) -> None:
    """The dataset inputs of runs (tables ``inputs``, ``datasets``, ``input_tags``), each checked."""
    if "datasets" not in tables:
        _skip(f"the dataset inputs in {str(path)!r}", "it has an inputs table but no datasets table.")
        return
    tags: dict[str, list[tuple[Any, Any]]] = {}
    if "input_tags" in tables:
        for input_id, key, value in con.execute("SELECT input_uuid, name, value FROM input_tags ORDER BY 1, 2"):
            tags.setdefault(input_id, []).append((key, value))
    runs = {r[0] for r in snap.runs}
    found = con.execute(
        "SELECT i.input_uuid, i.destination_id, i.source_id, d.dataset_uuid, d.name, d.digest, d.dataset_source_type, "
        "d.dataset_source, d.dataset_schema, d.dataset_profile FROM inputs i LEFT JOIN datasets d "
        "ON d.dataset_uuid = i.source_id WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' "
        "ORDER BY i.destination_id, i.input_uuid")
    for input_id, run_id, dataset_id, found_id, *values in found:
        what = f"the dataset input {input_id!r} of run {run_id!r} in {str(path)!r}"
        if run_id not in runs:
            _skip(what, "its run is not in the runs table.")
        elif found_id is None:
            _skip(what, f"its dataset {dataset_id!r} is not in the datasets table.")
        else:
            snap.add_dataset_input(what, run_id, dict(zip((f for f, _, _ in DATASET_FIELDS), values)),
                                   tags.get(input_id, []))


def _sqlite_metrics(con: sqlite3.Connection, batch: int = 1_000_000) -> pa.Table:
    """Every metric point; MLflow stores NaN as 0 with ``is_nan`` set. Rows go through a NumPy record
    array (one C loop) rather than per-column Python lists."""
    import numpy as np
    import pyarrow as pa

    record = [("run_id", "O"), ("key", "O"), ("value", "f8"), ("timestamp", "i8"), ("step", "i8"), ("is_nan", "?")]
    cur = con.execute("SELECT run_uuid, key, value, timestamp, step, is_nan FROM metrics")
    parts = []
    while rows := cur.fetchmany(batch):
        a = np.array(rows, dtype=record)
        values = a["value"].copy()
        values[a["is_nan"]] = np.nan
        parts.append(metrics_table(a["run_id"].tolist(), a["key"].tolist(), values, a["timestamp"], a["step"]))
    return pa.concat_tables(parts) if parts else metrics_table([], [], [], [], [])


def metrics_table(run_ids: list[str], keys: list[str], values: Any, stamps: Any, steps: Any) -> pa.Table:
    """Metric points as an Arrow table with the store's column names and types."""
    import numpy as np
    import pyarrow as pa

    return pa.table({
        "run_id": pa.array(run_ids, pa.string()), "key": pa.array(keys, pa.string()),
        "value": pa.array(np.asarray(values, dtype=np.float64)),
        "timestamp": pa.array(np.asarray(stamps, dtype=np.int64)), "step": pa.array(np.asarray(steps, dtype=np.int64)),
    })


# ---------------------------------------------------------------- file store (mlruns)

def _yaml() -> Any:
    try:
        import yaml
    except ImportError as e:
        raise InvalidParameterValue("Reading an mlruns folder needs PyYAML: pip install pyyaml.") from e
    return yaml


def _text(path: Path) -> str:
    """A file of the MLflow store as UTF-8 text.

    Raises:
        InvalidParameterValue: The file cannot be read or is not UTF-8 (the import stops before writing).
    """
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InvalidParameterValue(f"Cannot import {str(path)!r}: it is not UTF-8 text ({e.reason} at byte "
                                    f"{e.start}). Fix or remove the file and import again.") from e
    except OSError as e:
        raise InvalidParameterValue(f"Cannot read {str(path)!r}: {e.strerror or e}.") from e


def _meta(path: Path) -> dict[str, Any]:
    yaml = _yaml()
    try:
        data = yaml.safe_load(_text(path))
    except yaml.YAMLError as e:
        raise InvalidParameterValue(f"Cannot parse {str(path)!r}: {e}") from e
    return data if isinstance(data, dict) else {}


def _files(folder: Path) -> Iterator[tuple[str, Path]]:
    """``(key, file)`` under ``folder``; a key with slashes is a nested path, as MLflow writes it."""
    if not folder.is_dir():
        return
    for dirpath, _, names in os.walk(folder):
        for name in names:
            file = Path(dirpath, name)
            yield file.relative_to(folder).as_posix(), file


def _read_mlruns(root: Path) -> Snapshot:
    if not root.is_dir():
        raise ResourceNotFound(f"No MLflow store at {str(root)!r}: give an mlruns folder or sqlite:///path.db.")
    experiment_dirs = [d for d in root.iterdir() if d.is_dir() and (d / "meta.yaml").is_file()]
    trash = root / ".trash"
    if trash.is_dir():
        experiment_dirs += [d for d in trash.iterdir() if d.is_dir() and (d / "meta.yaml").is_file()]
    if not experiment_dirs:
        raise InvalidParameterValue(f"{str(root)!r} is not an MLflow file store (no experiment folders with "
                                    "meta.yaml).")
    snap = Snapshot()
    run_ids: list[str] = []
    keys: list[str] = []
    values: list[float] = []
    stamps: list[int] = []
    steps: list[int] = []
    for exp_dir in sorted(experiment_dirs):
        meta = _meta(exp_dir / "meta.yaml")
        exp_id = str(meta.get("experiment_id", exp_dir.name))
        snap.experiments.append((exp_id, meta.get("name"), meta.get("artifact_location"),
                                 meta.get("lifecycle_stage", "active"), meta.get("creation_time"),
                                 meta.get("last_update_time")))
        snap.experiment_tags += [(exp_id, k, _text(f)) for k, f in _files(exp_dir / "tags")]
        for run_dir in sorted(d for d in exp_dir.iterdir() if d.is_dir() and (d / "meta.yaml").is_file()):
            run = _meta(run_dir / "meta.yaml")
            run_id = str(run.get("run_id") or run.get("run_uuid") or run_dir.name)
            status = run.get("status")
            snap.runs.append((run_id, exp_id, run.get("run_name"), run.get("user_id"),
                              STATUS_NAMES.get(status, status) if isinstance(status, int) else status,
                              run.get("start_time"), run.get("end_time"), run.get("lifecycle_stage", "active"),
                              run.get("artifact_uri")))
            snap.params += [(run_id, k, _text(f)) for k, f in _files(run_dir / "params")]
            snap.tags += [(run_id, k, _text(f)) for k, f in _files(run_dir / "tags")]
            for key, file in _files(run_dir / "metrics"):
                _metric_lines(file, run_id, key, run_ids.append, keys.append, values, stamps, steps)
            inputs = run_dir / "inputs"
            for input_dir in sorted(d for d in inputs.iterdir() if d.is_dir()) if inputs.is_dir() else ():
                _mlruns_input(input_dir / "meta.yaml", exp_dir / "datasets", run_id, snap)
    snap.metrics = metrics_table(run_ids, keys, values, stamps, steps)
    _read_models(root / "models", snap)
    return snap


def _mlruns_input(file: Path, datasets: Path, run_id: str, snap: Snapshot) -> None:
    """One ``inputs/<id>/meta.yaml`` of a run: a dataset input (its dataset in the experiment's
    ``datasets/<id>/meta.yaml``) or a logged-model input, which is not a dataset and is passed over."""
    what = f"the dataset input {str(file)!r}"
    meta = _checked_meta(file, what)
    if meta is None or meta.get("source_type") == "MODEL":
        return
    if meta.get("source_type") != "DATASET":
        _skip(what, f"its source_type {meta.get('source_type')!r} is neither DATASET nor MODEL.")
        return
    source_id = meta.get("source_id")
    if not isinstance(source_id, str) or not _FOLDER_ID.fullmatch(source_id):
        _skip(what, f"its source_id {source_id!r} is not the id of a dataset folder.")
        return
    dataset_file = datasets / source_id / "meta.yaml"
    what += f" (dataset {str(dataset_file)!r})"
    dataset = _checked_meta(dataset_file, what)
    if dataset is None:
        return
    tags = meta.get("tags") or {}
    if not isinstance(tags, dict):
        _skip(what, f"its tags are not a mapping of names to values: {tags!r}.")
        return
    snap.add_dataset_input(what, run_id, dataset, tags.items())


def _checked_meta(file: Path, what: str) -> dict[str, Any] | None:
    """A ``meta.yaml`` that must be there and hold a mapping; None (and a warning naming ``what``) otherwise."""
    yaml = _yaml()
    if not file.is_file():
        _skip(what, f"{str(file)!r} does not exist.")
        return None
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        _skip(what, f"{str(file)!r} cannot be read ({e}).")
        return None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        _skip(what, f"{str(file)!r} is not valid YAML ({getattr(e, 'problem', None) or 'unreadable'}{where}).")
        return None
    if not isinstance(data, dict):
        _skip(what, f"{str(file)!r} does not hold a mapping of fields.")
        return None
    return data


def _metric_lines(file: Path, run_id: str, key: str, add_run: Callable[[str], None], add_key: Callable[[str], None],
                  values: list[float], stamps: list[int], steps: list[int]) -> None:
    """Points of one metric file: ``timestamp value [step]`` per line."""
    for line in _text(file).splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) not in (2, 3):
            raise InvalidParameterValue(f"Unexpected metric line {line!r} in {str(file)!r}.")
        stamps.append(int(parts[0]))
        values.append(float(parts[1]))
        steps.append(int(parts[2]) if len(parts) == 3 else 0)
        add_run(run_id)
        add_key(key)


def _read_models(folder: Path, snap: Snapshot) -> None:
    if not folder.is_dir():
        return
    for model_dir in sorted(d for d in folder.iterdir() if (d / "meta.yaml").is_file()):
        meta = _meta(model_dir / "meta.yaml")
        name = str(meta.get("name", model_dir.name))
        snap.models.append((name, meta.get("description"), meta.get("creation_timestamp"),
                            meta.get("last_updated_timestamp")))
        snap.model_tags += [(name, k, _text(f)) for k, f in _files(model_dir / "tags")]
        aliases = dict(meta.get("aliases") or {})
        aliases.update({k: _text(f).strip() for k, f in _files(model_dir / "aliases")})
        snap.aliases += [(name, alias, int(version)) for alias, version in sorted(aliases.items())]
        for version_dir in sorted(model_dir.glob("version-*")):
            if not (version_dir / "meta.yaml").is_file():
                continue
            v = _meta(version_dir / "meta.yaml")
            number = int(v.get("version", version_dir.name.removeprefix("version-")))
            snap.versions.append((name, number, v.get("source"), v.get("run_id"), v.get("run_link"),
                                  v.get("description"), v.get("current_stage") or "None", v.get("status") or "READY",
                                  v.get("user_id"), v.get("creation_timestamp"), v.get("last_updated_timestamp")))
            snap.version_tags += [(name, number, k, _text(f))
                                  for k, f in _files(version_dir / "tags")]
