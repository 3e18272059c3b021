"""``import_mlflow``: bring an MLflow store's history into a lite_tracker store, idempotently.

The source is read from its files (:mod:`._mlflow_source`), compared with the store in one read session
(only new or changed rows are kept: experiments, runs, params, tags and registry entries that differ, metric
points and dataset inputs not already there), then written through the store's bulk path: one events
segment and the metric points as Arrow segments, folded in by one compaction. Run ids and version numbers are kept.
"""

from __future__ import annotations

import os
import posixpath
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._ids import new_experiment_id, time_sortable_hex
from ..errors import InvalidParameterValue
from ..store.artifacts import ArtifactRepository
from ..store.locks import exclusive
from ..store.segments import (
    DATASET_INPUT_TAGS,
    DATASET_INPUTS,
    EXPERIMENT_TAGS,
    EXPERIMENTS,
    MODEL_ALIASES,
    MODEL_VERSION_TAGS,
    MODEL_VERSIONS,
    PARAMS,
    REGISTERED_MODEL_TAGS,
    REGISTERED_MODELS,
    RUNS,
    TAGS,
    TableSpec,
)
from ..tracking.client import MlflowClient
from ._mlflow_source import (
    EXPERIMENT_COLUMNS,
    RUN_COLUMNS,
    VERSION_COLUMNS,
    Row,
    Snapshot,
    read_mlflow,
)

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from ..store.duckdb_store import DuckDBStore


@dataclass(frozen=True)
class ImportProgress:
    """Where an import is: ``stage`` ("read", "compare", "write", "artifacts", "compact"), with ``done`` of
    ``total`` units of that stage (runs for artifacts, 1 otherwise)."""

    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class ImportResult:
    """What one import added (counts of new or changed rows; zero everywhere on a repeated import).
    ``dataset_inputs`` counts datasets as runs used them (with their tags): one dataset logged by two runs
    counts twice."""

    experiments: int
    runs: int
    params: int
    tags: int
    metric_points: int
    dataset_inputs: int
    models: int
    versions: int
    artifact_files: int
    seconds: float
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for a terminal."""
        counts = ", ".join(_count(n, noun) for n, noun in (
            (self.experiments, "experiment"), (self.runs, "run"), (self.params, "param"), (self.tags, "tag"),
            (self.metric_points, "metric point"), (self.dataset_inputs, "dataset input"), (self.models, "model"),
            (self.versions, "model version"), (self.artifact_files, "artifact file")))
        return " ".join([f"Imported {counts} in {self.seconds:.2f}s.", *self.notes])


def _count(n: int, noun: str) -> str:
    """``1 run``, ``2 runs``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


Progress = Callable[[ImportProgress], None]


def import_mlflow(source: str | os.PathLike[str], store: str | os.PathLike[str] | None = None,
                  copy_artifacts: bool = True, progress: Progress | None = None) -> ImportResult:
    """Import an MLflow tracking store (``sqlite:///mlflow.db`` or an ``mlruns`` folder) into a store.

    Experiments (matched by name), runs (ids kept), params, tags, every metric point, the runs' dataset
    inputs with their tags, artifacts (copied into the store's artifact root, or referenced where they are
    with ``copy_artifacts=False``), registered models (matched by name) with their versions, stages,
    aliases and tags. Importing again adds only what is new or changed. A dataset input that is broken or
    over MLflow's limits is left out whole with a :class:`SkippedImportWarning` naming it.

    Args:
        source: ``sqlite:///path/to/mlflow.db``, a SQLite file, or an MLflow file store folder.
        store: The lite_tracker store (default: resolved as the client does).
        copy_artifacts: Copy artifact files (local MLflow artifact stores only); False keeps MLflow's URIs.
        progress: Called with an :class:`ImportProgress` as the import advances.

    Returns:
        An :class:`ImportResult` with the counts of what was added.

    Raises:
        ResourceNotFound: The source does not exist.
        InvalidParameterValue: The source is not an MLflow store.

    Warns:
        SkippedImportWarning: A dataset input of the source was left out; the message names it and says why.

    Example:
        >>> result = import_mlflow("sqlite:///mlflow.db", store="lite_tracker.duckdb")  # doctest: +SKIP
        >>> print(result.summary())  # doctest: +SKIP
    """
    started = time.perf_counter()
    report = progress or (lambda p: None)
    report(ImportProgress("read", 0, 1))
    snap = read_mlflow(source)
    report(ImportProgress("read", 1, 1))
    client = MlflowClient(os.fspath(store) if store is not None else None)
    client.flush()
    st = client._store
    notes: list[str] = []
    with exclusive(st.layout.locks / "meta.lock", st.settings.lock_timeout, "experiment lock"):
        report(ImportProgress("compare", 0, 1))
        plan = _Plan(st, snap, copy_artifacts)
        with st.session() as con:
            plan.compare(con)
        report(ImportProgress("compare", 1, 1))
        report(ImportProgress("write", 0, 1))
        plan.write_tracking()
    with exclusive(st.layout.locks / "registry.lock", st.settings.lock_timeout, "model registry lock"):
        with st.session() as con:
            plan.compare_registry(con)
        plan.write_registry()
    report(ImportProgress("write", 1, 1))
    copied = _copy_artifacts(plan.artifact_moves, report, notes) if copy_artifacts else 0
    if plan.uncopied:
        notes.append(f"The artifacts of {_count(plan.uncopied, 'run')} stay where they are ({plan.uncopied_example}): "
                     "only local MLflow artifact folders are copied.")
    notes += plan.notes
    report(ImportProgress("compact", 0, 1))
    st.compact()
    report(ImportProgress("compact", 1, 1))
    return ImportResult(plan.counts["experiments"], plan.counts["runs"], plan.counts["params"], plan.counts["tags"],
                        plan.counts["metrics"], plan.counts["dataset_inputs"], plan.counts["models"],
                        plan.counts["versions"], copied, time.perf_counter() - started, tuple(notes))


def _table(columns: Sequence[str], rows: list[Row], types: dict[str, Any] | None = None) -> pa.Table:
    """Rows as an Arrow table (VARCHAR columns unless ``types`` says otherwise)."""
    import pyarrow as pa

    types = types or {}
    data = list(zip(*rows)) if rows else [()] * len(columns)
    return pa.table({c: pa.array(list(values), types.get(c, pa.string())) for c, values in zip(columns, data)})


def _local_path(uri: str | None) -> Path | None:
    """The local folder of a plain path or ``file://`` URI; None for remote URIs."""
    if not uri:
        return None
    if uri.startswith("file://"):
        return Path(uri[len("file://"):])
    return None if "://" in uri or ":/" in uri.split("/", 1)[0] else Path(uri)


class _Plan:
    """What to write, found by comparing the snapshot with the store."""

    def __init__(self, store: DuckDBStore, snap: Snapshot, copy_artifacts: bool) -> None:
        self.store = store
        self.snap = snap
        self.copy = copy_artifacts
        self.seq = store.clock()
        self.counts = {k: 0 for k in ("experiments", "runs", "params", "tags", "metrics", "dataset_inputs", "models",
                                      "versions")}
        self.events: dict[TableSpec, list[Row]] = {}
        self.metrics: pa.Table | None = None
        self.artifact_moves: list[tuple[Path, str]] = []  # (MLflow artifact folder, store artifact URI)
        self.run_uris: dict[str, tuple[str | None, str]] = {}  # run_id -> (MLflow URI, store URI)
        self.uncopied = 0
        self.uncopied_example = ""
        self.notes: list[str] = []

    def _add(self, spec: TableSpec, rows: list[Row]) -> None:
        self.events.setdefault(spec, []).extend(rows)

    # ------------------------------------------------------------ tracking

    def compare(self, con: duckdb.DuckDBPyConnection) -> None:
        import pyarrow as pa

        exp_map = self._experiments(con)
        locations = dict(con.execute("SELECT experiment_id, artifact_location FROM experiments").fetchall())
        for local_id, location in exp_map.values():
            locations.setdefault(local_id, location)
        runs: list[Row] = []
        for row in self.snap.runs:
            run_id, exp_id, mlflow_uri = row[0], exp_map[row[1]][0], row[8]
            uri = mlflow_uri or ""
            if self.copy:
                folder = _local_path(mlflow_uri)
                if folder is not None:
                    uri = f"{str(locations[exp_id]).rstrip('/')}/{run_id}/artifacts"
                    self.artifact_moves.append((folder, uri))
                elif mlflow_uri:
                    self.uncopied += 1
                    self.uncopied_example = mlflow_uri
            self.run_uris[run_id] = (mlflow_uri, uri)
            runs.append((run_id, exp_id, *row[2:8], uri))
        ints = {"start_time": pa.int64(), "end_time": pa.int64()}
        con.register("src_runs", _table(RUN_COLUMNS, runs, ints))
        con.register("src_params", _table(("run_id", "key", "value"), self.snap.params))
        con.register("src_tags", _table(("run_id", "key", "value"), self.snap.tags))
        con.register("src_metrics", self.snap.metrics if self.snap.metrics is not None else
                     _table(("run_id", "key", "value", "timestamp", "step"), [],
                            {"value": pa.float64(), "timestamp": pa.int64(), "step": pa.int64()}))
        con.register("src_inputs", _table(DATASET_INPUTS.state_columns, self.snap.dataset_inputs))
        con.register("src_input_tags", _table(DATASET_INPUT_TAGS.state_columns, self.snap.dataset_input_tags))
        try:
            cols = ", ".join(f"s.{c}" for c in RUN_COLUMNS)
            differs = " OR ".join(f"s.{c} IS DISTINCT FROM r.{c}" for c in RUN_COLUMNS[1:])
            new_runs = con.execute(f"SELECT {cols} FROM src_runs s LEFT JOIN runs r USING (run_id) "
                                   f"WHERE r.run_id IS NULL OR {differs}").fetchall()
            new_params = con.execute("SELECT s.run_id, s.key, s.value FROM src_params s ANTI JOIN params p "
                                     "ON s.run_id = p.run_id AND s.key = p.key").fetchall()
            conflicts = con.execute("SELECT count(*) FROM src_params s JOIN params p ON s.run_id = p.run_id "
                                    "AND s.key = p.key AND s.value IS DISTINCT FROM p.value").fetchall()[0][0]
            new_tags = con.execute("SELECT s.run_id, s.key, s.value FROM src_tags s ANTI JOIN tags t "
                                   "ON s.run_id = t.run_id AND s.key = t.key AND s.value = t.value").fetchall()
            self.metrics = con.sql(
                "SELECT s.run_id, s.key, s.value, s.timestamp, s.step FROM src_metrics s ANTI JOIN "
                "(SELECT * FROM metrics WHERE run_id IN (SELECT run_id FROM src_runs)) m "
                "ON s.run_id = m.run_id AND s.key = m.key AND s.step = m.step AND s.timestamp = m.timestamp "
                "AND s.value IS NOT DISTINCT FROM m.value").to_arrow_table()
            # As log_inputs: a dataset input already here (same run, name and digest) is left as it is.
            same = ("ANTI JOIN dataset_inputs d ON s.run_id = d.run_id AND s.dataset_name = d.dataset_name "
                    "AND s.dataset_digest = d.dataset_digest")
            new_inputs = con.execute(f"SELECT s.* FROM src_inputs s {same}").fetchall()
            new_input_tags = con.execute(f"SELECT s.* FROM src_input_tags s {same}").fetchall()
        finally:
            for name in ("src_runs", "src_params", "src_tags", "src_metrics", "src_inputs", "src_input_tags"):
                con.unregister(name)
        if conflicts:
            self.notes.append(f"Kept {_count(conflicts, 'param')} whose value here differs from MLflow's (params are "
                              "immutable).")
        self._add(RUNS, [(*r, self.seq) for r in new_runs])
        self._add(PARAMS, [(*r, self.seq) for r in new_params])
        self._add(TAGS, [(*r, self.seq) for r in new_tags])
        self._add(DATASET_INPUTS, [(*r, self.seq) for r in new_inputs])
        self._add(DATASET_INPUT_TAGS, [(*r, self.seq) for r in new_input_tags])
        self.counts.update(runs=len(new_runs), params=len(new_params), tags=len(new_tags),
                           metrics=self.metrics.num_rows, dataset_inputs=len(new_inputs))

    def _experiments(self, con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
        """MLflow experiment id -> (store experiment id, artifact location). An experiment with the same
        name is reused; otherwise MLflow's id is kept when free here."""
        by_name = {n: (i, loc) for i, n, loc in con.execute(
            "SELECT experiment_id, name, artifact_location FROM experiments").fetchall()}
        taken = {i for i, _ in by_name.values()}
        mapping: dict[str, tuple[str, str]] = {}
        new: list[Row] = []
        for row in self.snap.experiments:
            values = dict(zip(EXPERIMENT_COLUMNS, row))
            mlflow_id, name = str(values["experiment_id"]), values["name"]
            if name in by_name:
                mapping[mlflow_id] = by_name[name]
                continue
            local_id = mlflow_id if mlflow_id not in taken else new_experiment_id()
            taken.add(local_id)
            location = (self.store.default_artifact_location(local_id) if self.copy
                        else values["artifact_location"] or self.store.default_artifact_location(local_id))
            mapping[mlflow_id] = (local_id, location)
            new.append((local_id, name, location, values["lifecycle_stage"] or "active", values["creation_time"],
                        values["last_update_time"], self.seq))
        missing = {r[1] for r in self.snap.runs} - set(mapping)
        if missing:
            raise InvalidParameterValue(f"The MLflow store has runs in experiments it does not list: "
                                        f"{sorted(missing)[:5]}; it looks damaged.")
        tags = [(mapping[e][0], k, v) for e, k, v in self.snap.experiment_tags if e in mapping]
        existing = set(con.execute("SELECT experiment_id, key, value FROM experiment_tags").fetchall())
        new_tags = [(*t, self.seq) for t in tags if t not in existing]
        self._add(EXPERIMENTS, new)
        self._add(EXPERIMENT_TAGS, new_tags)
        self.counts["experiments"] = len(new)
        return mapping

    def write_tracking(self) -> None:
        self._flush_events()
        if self.metrics is not None and self.metrics.num_rows:
            self.store.write_metric_points(self.metrics)

    def _flush_events(self) -> None:
        batches = {spec.events: {name: [r[i] for r in rows] for i, name in enumerate(spec.column_names)}
                   for spec, rows in self.events.items() if rows}
        if batches:
            self.store.write(batches)
        self.events = {}

    # ------------------------------------------------------------ registry

    def compare_registry(self, con: duckdb.DuckDBPyConnection) -> None:
        """Models by name (live ones here), versions by number; a version here with another source or run
        is a conflict: kept, and noted."""
        live = dict(con.execute("SELECT name, model_id FROM registered_models "
                                "WHERE deleted_timestamp IS NULL").fetchall())
        models = {m: (d, c, u) for m, d, c, u in con.execute(
            "SELECT model_id, description, creation_timestamp, last_updated_timestamp FROM registered_models"
        ).fetchall()}
        ids: dict[str, str] = {}
        for name, description, created, updated in self.snap.models:
            model_id = live.get(name)
            if model_id is None:
                model_id = time_sortable_hex()
                self._add(REGISTERED_MODELS, [(model_id, name, description, created, updated, None, self.seq)])
                self.counts["models"] += 1
            elif models[model_id][0] != description:
                self._add(REGISTERED_MODELS, [(model_id, None, description, None, updated, None, self.seq)])
            ids[name] = model_id
        model_tags = set(con.execute("SELECT model_id, key, value FROM registered_model_tags").fetchall())
        self._add(REGISTERED_MODEL_TAGS, [(ids[n], k, v, self.seq) for n, k, v in self.snap.model_tags
                                          if n in ids and (ids[n], k, v) not in model_tags])
        have = {(m, v): row for m, v, *row in con.execute(
            "SELECT model_id, version, source, run_id, run_link, description, current_stage, status, user_id, "
            "creation_timestamp, last_updated_timestamp FROM model_versions WHERE deleted_timestamp IS NULL"
        ).fetchall()}
        skipped: set[tuple[str, int]] = set()
        for row in self.snap.versions:
            values = dict(zip(VERSION_COLUMNS, row))
            name, number = values["name"], int(values["version"])
            if name not in ids:
                continue
            values["source"] = self._source(values["source"], values["run_id"])
            key = (ids[name], str(number))
            new = [values[c] for c in VERSION_COLUMNS[2:]]
            old = have.get(key)
            if old is not None and (old[0], old[1]) != (new[0], new[1]):
                skipped.add((name, number))
                continue
            if old is None or list(old) != new:
                self._add(MODEL_VERSIONS, [(*key, *new, None, self.seq)])
                self.counts["versions"] += old is None
        if skipped:
            self.notes.append(f"Kept {_count(len(skipped), 'model version')} already here with another source "
                              f"or run (e.g. {sorted(skipped)[0][0]} v{sorted(skipped)[0][1]}).")
        version_tags = set(con.execute("SELECT model_id, version, key, value FROM model_version_tags").fetchall())
        self._add(MODEL_VERSION_TAGS, [(ids[n], str(v), k, val, self.seq) for n, v, k, val in self.snap.version_tags
                                       if n in ids and (n, int(v)) not in skipped
                                       and (ids[n], str(v), k, val) not in version_tags])
        aliases = set(con.execute("SELECT model_id, alias, value FROM model_aliases").fetchall())
        self._add(MODEL_ALIASES, [(ids[n], a, str(v), self.seq) for n, a, v in self.snap.aliases
                                  if n in ids and (ids[n], a, str(v)) not in aliases])

    def _source(self, source: str | None, run_id: str | None) -> str | None:
        """A version's source inside its run's MLflow artifact folder points to the copy here."""
        if not source or not run_id or run_id not in self.run_uris:
            return source
        mlflow_uri, uri = self.run_uris[run_id]
        if mlflow_uri and uri != mlflow_uri:
            for prefix in {mlflow_uri.rstrip("/"), "file://" + mlflow_uri.removeprefix("file://").rstrip("/")}:
                if source == prefix or source.startswith(prefix + "/"):
                    return uri + source[len(prefix):]
        return source

    def write_registry(self) -> None:
        self._flush_events()


def _copy_artifacts(moves: list[tuple[Path, str]], report: Progress, notes: list[str]) -> int:
    """Copy each MLflow artifact folder into the store; files already there with the same size are skipped."""
    copied = 0
    missing = 0
    for i, (folder, uri) in enumerate(moves):
        report(ImportProgress("artifacts", i, len(moves)))
        if not folder.is_dir():
            missing += 1
            continue
        repo = ArtifactRepository(uri)
        present = _listing(repo)
        for dirpath, _, names in os.walk(folder):
            rel_dir = Path(dirpath).relative_to(folder).as_posix()
            for name in sorted(names):
                file = Path(dirpath, name)
                rel = posixpath.normpath(posixpath.join(rel_dir, name))
                if present.get(rel) == file.stat().st_size:
                    continue
                repo.log_artifact(file, rel_dir if rel_dir != "." else None)
                copied += 1
    report(ImportProgress("artifacts", len(moves), len(moves)))
    if missing:
        notes.append(f"{_count(missing, 'run')} had no artifact folder to copy.")
    return copied


def _listing(repo: ArtifactRepository) -> dict[str, int | None]:
    """Every file already under a run's artifact root, with its size."""
    out: dict[str, int | None] = {}
    stack: list[str | None] = [None]
    while stack:
        for info in repo.list_artifacts(stack.pop()):
            if info.is_dir:
                stack.append(info.path)
            else:
                out[info.path] = info.file_size
    return out
