"""Write an MLflow file store (``mlruns``) from exported tables, in the layout MLflow's ``FileStore`` and
``FileStore`` model registry read: ``<experiment>/meta.yaml``, ``<experiment>/<run>/{meta.yaml, params/,
tags/, metrics/, inputs/, artifacts/}``, ``<experiment>/datasets/``, deleted experiments under ``.trash/``,
``models/<name>/version-<n>/``."""

from __future__ import annotations

import hashlib
import shutil
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..entities import SourceType
from ._mlflow_source import STATUS_NAMES, _yaml

if TYPE_CHECKING:
    import pyarrow as pa

STATUS_CODES = {name: code for code, name in STATUS_NAMES.items()}


def write_mlruns(root: Path, tables: dict[str, pa.Table]) -> None:
    """Write the experiments, runs (with metric histories and local artifacts) and registry of ``tables``."""
    yaml = _yaml()
    root = root.absolute()
    (root / ".trash").mkdir(parents=True, exist_ok=True)

    def dump(path: Path, data: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, default_flow_style=False), encoding="utf-8")

    folders: dict[str, Path] = {}
    for exp in tables["experiments"].to_pylist():
        exp_id = exp["experiment_id"]
        folder = (root / ".trash" if exp["lifecycle_stage"] == "deleted" else root) / exp_id
        folders[exp_id] = folder
        dump(folder / "meta.yaml", {
            "artifact_location": (root / exp_id).as_uri(), "creation_time": exp["creation_time"],
            "experiment_id": exp_id, "last_update_time": exp["last_update_time"],
            "lifecycle_stage": exp["lifecycle_stage"], "name": exp["name"],
        })
    for exp_id, key, value in _rows(tables["experiment_tags"]):
        _write_value(folders[exp_id] / "tags", key, value)
    run_folders: dict[str, Path] = {}
    for run in tables["runs"].to_pylist():
        folder = folders[run["experiment_id"]] / run["run_id"]
        run_folders[run["run_id"]] = folder
        artifacts = folder / "artifacts"
        artifact_uri = artifacts.as_uri() if _copy_tree(run["artifact_uri"] or "", artifacts) else run["artifact_uri"]
        meta = {
            "artifact_uri": artifact_uri, "end_time": run["end_time"], "entry_point_name": "",
            "experiment_id": run["experiment_id"], "lifecycle_stage": run["lifecycle_stage"],
            "run_id": run["run_id"], "run_name": run["run_name"], "run_uuid": run["run_id"], "source_name": "",
            "source_type": SourceType.LOCAL, "source_version": "", "start_time": run["start_time"],
            "status": STATUS_CODES.get(run["status"], STATUS_CODES["RUNNING"]), "tags": [],
            "user_id": run["user_id"],
        }
        if run["lifecycle_stage"] == "deleted":
            meta["deleted_time"] = run["end_time"] or run["start_time"]
        dump(folder / "meta.yaml", meta)
        for sub in ("params", "tags", "metrics"):
            (folder / sub).mkdir(exist_ok=True)
    for run_id, key, value in _rows(tables["params"]):
        _write_value(run_folders[run_id] / "params", key, value)
    for run_id, key, value in _rows(tables["tags"]):
        _write_value(run_folders[run_id] / "tags", key, value)
    _write_metrics(tables["metrics"], run_folders)
    _write_dataset_inputs(tables, run_folders, dump)
    _write_registry(root / "models", tables, dump)


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return list(zip(*(table.column(i).to_pylist() for i in range(table.num_columns))))


def _write_value(folder: Path, key: str, value: str) -> None:
    """One param or tag file; a key with slashes is a nested path, as MLflow writes it."""
    path = folder / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value, encoding="utf-8")


def _write_metrics(metrics: pa.Table, run_folders: dict[str, Path]) -> None:
    """One file per (run, metric): ``timestamp value step`` lines, in step order."""
    lines: dict[tuple[str, str], list[str]] = defaultdict(list)
    columns = [metrics.column(c).to_pylist() for c in ("run_id", "key", "value", "timestamp", "step")]
    for run_id, key, value, stamp, step in zip(*columns):
        lines[(run_id, key)].append(f"{stamp} {value!r} {step}\n")
    for (run_id, key), text in lines.items():
        path = run_folders[run_id] / "metrics" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(text), encoding="utf-8")


def _write_dataset_inputs(tables: dict[str, pa.Table], run_folders: dict[str, Path], dump: Any) -> None:
    """Each run's dataset inputs as MLflow's FileStore keeps them: the dataset once per experiment under
    ``datasets/<md5(name, digest)>/``, the input under the run's ``inputs/<md5(dataset id, run id)>/`` with
    its tags (the ids are MLflow's, names for files, not security)."""
    tags: dict[tuple[str, str, str], dict[str, str]] = defaultdict(dict)
    for run_id, name, digest, key, value in _rows(tables["dataset_input_tags"]):
        tags[(run_id, name, digest)][key] = value
    for run_id, name, digest, source_type, source, schema, profile in _rows(tables["dataset_inputs"]):
        dataset_id = hashlib.md5(name.encode() + digest.encode(), usedforsecurity=False).hexdigest()
        run_folder = run_folders[run_id]
        dump(run_folder.parent / "datasets" / dataset_id / "meta.yaml", {
            "name": name, "digest": digest, "source_type": source_type, "source": source, "schema": schema,
            "profile": profile,
        })
        input_id = hashlib.md5(dataset_id.encode() + run_id.encode(), usedforsecurity=False).hexdigest()
        dump(run_folder / "inputs" / input_id / "meta.yaml", {
            "source_type": "DATASET", "source_id": dataset_id, "destination_type": "RUN",
            "destination_id": run_id, "tags": tags[(run_id, name, digest)],
        })


def _write_registry(folder: Path, tables: dict[str, pa.Table], dump: Any) -> None:
    aliases: dict[str, dict[str, str]] = defaultdict(dict)
    for name, alias, version in _rows(tables["model_aliases"]):
        aliases[name][alias] = str(version)
    for model in tables["registered_models"].to_pylist():
        name = model["name"]
        dump(folder / name / "meta.yaml", {
            "aliases": aliases[name], "creation_timestamp": model["creation_timestamp"],
            "description": model["description"], "last_updated_timestamp": model["last_updated_timestamp"],
            "name": name,
        })
        for alias, version in aliases[name].items():
            _write_value(folder / name / "aliases", alias, version)
    for name, key, value in _rows(tables["registered_model_tags"]):
        _write_value(folder / name / "tags", key, value)
    for v in tables["model_versions"].to_pylist():
        dump(folder / v["name"] / f"version-{v['version']}" / "meta.yaml", {
            "creation_timestamp": v["creation_timestamp"], "current_stage": v["current_stage"],
            "description": v["description"], "last_updated_timestamp": v["last_updated_timestamp"],
            "name": v["name"], "run_id": v["run_id"], "run_link": None, "source": v["source"],
            "status": v["status"], "status_message": None, "user_id": v["user_id"], "version": v["version"],
        })
    for name, version, key, value in _rows(tables["model_version_tags"]):
        _write_value(folder / name / f"version-{version}" / "tags", key, value)


def _copy_tree(uri: str, dest: Path) -> bool:
    """Copy a local artifact folder (plain path or ``file://``); False when it is remote or missing."""
    folder = Path(uri[len("file://"):]) if uri.startswith("file://") else (None if "://" in uri else Path(uri))
    if folder is None or not folder.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        return False
    shutil.copytree(folder, dest, dirs_exist_ok=True)
    return True
