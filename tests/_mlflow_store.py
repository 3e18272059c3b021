"""Write an MLflow store with real MLflow, and describe any store through an MLflow-shaped client.

Run as a script (in its own interpreter, so MLflow's warnings and globals stay out of the test process):
``python _mlflow_store.py <tracking-uri> <phase 0|1|2> <dump.json>`` writes phase 1 (or the additions of
phase 2, or nothing for phase 0) with MLflow, then dumps the store as MLflow's own client reads it. The
tests describe lite_tracker stores with the same :func:`describe` and compare.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any


def describe(client: Any, view_all: int) -> dict[str, Any]:
    """Experiments, runs (info, params, tags, latest metrics, full histories, artifact files, dataset
    inputs) and the registry, keyed by names and ids that an import keeps."""
    exps = client.search_experiments(view_type=view_all)
    names = {e.experiment_id: e.name for e in exps}
    out: dict[str, Any] = {"experiments": {e.name: {"lifecycle_stage": e.lifecycle_stage, "tags": dict(e.tags)}
                                           for e in exps}}
    runs = client.search_runs(list(names), run_view_type=view_all, max_results=1000)
    out["runs"] = {}
    for run in runs:
        i = run.info
        histories = {}
        for key in run.data.metrics:
            histories[key] = sorted((m.step, m.timestamp, repr(float(m.value)))
                                    for m in client.get_metric_history(i.run_id, key))
        out["runs"][i.run_id] = {
            "experiment": names[i.experiment_id], "run_name": i.run_name, "status": i.status,
            "start_time": i.start_time, "end_time": i.end_time, "lifecycle_stage": i.lifecycle_stage,
            "user_id": i.user_id, "params": dict(run.data.params), "tags": dict(run.data.tags),
            "metrics": {k: repr(float(v)) for k, v in run.data.metrics.items()},
            "histories": histories, "artifacts": _artifacts(client, i.run_id),
            "inputs": _dataset_inputs(client.get_run(i.run_id)),
        }
    out["models"] = {}
    for model in client.search_registered_models():
        versions = {}
        for mv in client.search_model_versions(f"name = '{model.name}'"):
            versions[str(mv.version)] = {"stage": mv.current_stage, "run_id": mv.run_id, "tags": dict(mv.tags),
                                         "description": mv.description or None, "status": mv.status,
                                         "source_tail": (mv.source or "").rsplit("/artifacts/", 1)[-1]}
        out["models"][model.name] = {"description": model.description or None, "tags": dict(model.tags),
                                     "aliases": {a: str(v) for a, v in dict(model.aliases).items()},
                                     "versions": versions}
    return out


def _dataset_inputs(run: Any) -> list[dict[str, Any]]:
    """Every field of a run's dataset inputs and their tags, in (name, digest) order (stores list them in
    different orders)."""
    inputs = []
    for item in run.inputs.dataset_inputs:
        d = item.dataset
        inputs.append({"name": d.name, "digest": d.digest, "source_type": d.source_type, "source": d.source,
                       "schema": d.schema, "profile": d.profile,
                       "tags": sorted([t.key, t.value] for t in item.tags)})
    return sorted(inputs, key=lambda d: (d["name"], d["digest"]))


def _artifacts(client: Any, run_id: str, path: str | None = None) -> dict[str, str]:
    files: dict[str, str] = {}
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            files.update(_artifacts(client, run_id, info.path))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                local = client.download_artifacts(run_id, info.path, tmp)
                files[info.path] = Path(local).read_text()
    return files


def _phase1(mlflow: Any) -> None:
    import numpy as np
    import pandas as pd

    client = mlflow.MlflowClient()
    mlflow.set_experiment("exp-a")
    client.set_experiment_tag(mlflow.get_experiment_by_name("exp-a").experiment_id, "team", "vision")
    run_ids = []
    for i in range(3):
        with mlflow.start_run(run_name=f"run-{i}") as run:
            mlflow.log_params({"lr": 0.1 * (i + 1), "layers": i, "nested/key": "x"})
            mlflow.set_tags({"kind": "sweep", "i": str(i)})
            for step in range(20):
                mlflow.log_metric("loss", 1.0 / (step + 1 + i), step=step, timestamp=1_700_000_000_000 + step)
            mlflow.log_metric("odd", math.nan, step=0, timestamp=1_700_000_000_000)
            mlflow.log_metric("odd", -2.5, step=1, timestamp=1_700_000_000_001)
            if i == 0:
                mlflow.log_text("hello", "notes/hello.txt")
                mlflow.log_dict({"a": 1}, "config.json")
            if i < 2:  # one dataset used by two runs, and a NumPy one with extra tags
                ds = mlflow.data.from_pandas(pd.DataFrame({"x": [1, 2]}), name="train")
                mlflow.log_input(ds, context="training")
            if i == 1:
                arrays = mlflow.data.from_numpy(np.arange(6).reshape(3, 2), targets=np.array([0, 1, 0]), name="arr")
                mlflow.log_input(arrays, context="eval", tags={"fold": "1"})
            run_ids.append(run.info.run_id)
    with mlflow.start_run(run_name="failed") as run:
        pass
    client.set_terminated(run.info.run_id, "FAILED")
    with mlflow.start_run(run_name="deleted") as run:
        mlflow.log_param("p", "1")
    client.delete_run(run.info.run_id)
    gone = client.create_experiment("exp-gone")
    client.delete_experiment(gone)
    client.create_registered_model("clf", tags={"owner": "ml"}, description="classifier")
    for run_id in run_ids[:2]:
        client.create_model_version("clf", f"runs:/{run_id}/model", run_id, tags={"from": run_id[:6]})
    client.transition_model_version_stage("clf", 1, "Production")
    client.set_registered_model_alias("clf", "champion", 2)
    client.set_model_version_tag("clf", 1, "validated", "yes")
    Path("run_ids.json").write_text(json.dumps(run_ids))


def _phase2(mlflow: Any) -> None:
    import pandas as pd
    from mlflow.entities import DatasetInput, InputTag

    client = mlflow.MlflowClient()
    run_ids = json.loads(Path("run_ids.json").read_text())
    for step in range(20, 25):
        client.log_metric(run_ids[0], "loss", 0.01, step=step, timestamp=1_700_000_001_000 + step)
    client.set_tag(run_ids[1], "reviewed", "true")
    test_set = mlflow.data.from_pandas(pd.DataFrame({"x": [3.5], "y": ["a"]}), name="test")
    client.log_inputs(run_ids[1], [DatasetInput(test_set._to_mlflow_entity(),
                                                [InputTag("mlflow.data.context", "testing")])])
    mlflow.set_experiment("exp-a")
    with mlflow.start_run(run_name="late") as run:
        mlflow.log_metric("loss", 0.5)
        mlflow.log_text("late", "late.txt")
        mlflow.log_input(test_set, context="testing")
    client.create_model_version("clf", f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias("clf", "challenger", 3)
    client.transition_model_version_stage("clf", 2, "Staging")


def main() -> None:
    import warnings

    warnings.simplefilter("ignore")
    uri, phase, dump = sys.argv[1:4]
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    import mlflow
    import mlflow.data  # noqa: F401
    from mlflow.entities import ViewType

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if phase != "0":  # phase 0 only reads
        (_phase1 if phase == "1" else _phase2)(mlflow)
    Path(dump).write_text(json.dumps(describe(mlflow.MlflowClient(), ViewType.ALL)))


if __name__ == "__main__":
    main()
