"""MLflow's own client against a lite_tracker server, in its own interpreter (MLflow's import side effects,
logging and warnings stay out of the test process).

Usage: python _mlflow_worker.py <scenario> <args JSON> <result file>; MLFLOW_TRACKING_URI names the server.
Each scenario writes what MLflow's client saw as JSON to the result file.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType


def _run_view(run: Any) -> dict[str, Any]:
    info = run.info
    return {
        "info": {"run_id": info.run_id, "run_name": info.run_name,
                 "experiment_id": info.experiment_id, "user_id": info.user_id, "status": info.status,
                 "start_time": info.start_time, "end_time": info.end_time, "artifact_uri": info.artifact_uri,
                 "lifecycle_stage": info.lifecycle_stage},
        "params": run.data.params, "metrics": run.data.metrics, "tags": run.data.tags,
    }


def read(args: dict[str, Any]) -> dict[str, Any]:
    """Read a run lite_tracker logged: data, history, search, artifacts (list and download)."""
    client = MlflowClient()
    run_id = args["run_id"]
    run = client.get_run(run_id)
    exp = client.get_experiment_by_name(args["experiment"])
    history = {key: [[m.step, m.timestamp, m.value] for m in client.get_metric_history(run_id, key)]
               for key in run.data.metrics}
    found = client.search_runs([exp.experiment_id], args["filter"], order_by=["metrics.acc DESC"])
    paged = client.search_runs([exp.experiment_id], max_results=2)
    page2 = client.search_runs([exp.experiment_id], max_results=2, page_token=paged.token)
    frame = mlflow.search_runs([exp.experiment_id], filter_string=args["filter"])
    dst = tempfile.mkdtemp()
    one = client.download_artifacts(run_id, "notes/hello.txt", dst)
    folder = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="notes", dst_path=tempfile.mkdtemp())
    return {
        "run": _run_view(run),
        "experiment": {"id": exp.experiment_id, "name": exp.name, "tags": exp.tags},
        "history": history,
        "found": [r.info.run_id for r in found],
        "pages": [[r.info.run_id for r in paged], [r.info.run_id for r in page2], page2.token],
        "frame": sorted(frame["run_id"].tolist()) if hasattr(frame, "columns") else None,
        "root": [[f.path, f.is_dir, f.file_size] for f in client.list_artifacts(run_id)],
        "notes": [[f.path, f.is_dir, f.file_size] for f in client.list_artifacts(run_id, "notes")],
        "downloaded": Path(one).read_text(),
        "folder": sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*")),
        "folder_text": (Path(folder) / "deep" / "b.txt").read_text(),
    }


def log(args: dict[str, Any]) -> dict[str, Any]:
    """Log a new run the way MLflow users do, then one more step through MlflowClient.log_batch."""
    mlflow.set_experiment(args["experiment"])
    with mlflow.start_run(run_name="from-mlflow") as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "optimizer": "adam"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step)
        mlflow.log_metrics({"acc": 0.9, "f1": float("nan")}, step=7, timestamp=1_700_000_000_100)
        mlflow.set_tag("team", "vision")
        mlflow.set_tags({"stage": "dev", "note": "<b>x</b>"})
        MlflowClient().log_batch(run.info.run_id, metrics=[Metric("loss", 0.1, 1_700_000_000_200, 5)],
                                 params=[Param("batch", "32")], tags=[RunTag("extra", "yes")])
        path = Path(tempfile.mkdtemp()) / "report.txt"
        path.write_text("report body")
        mlflow.log_artifact(str(path), artifact_path="reports")
        mlflow.log_text("plain", "top.txt")
    client = MlflowClient()
    got = client.get_run(run.info.run_id)
    exp_id = run.info.experiment_id
    client.set_experiment_tag(exp_id, "owner", "ada")
    client.rename_experiment(exp_id, args["experiment"] + "-renamed")
    scratch = client.create_run(exp_id, run_name="scratch", tags={"tmp": "1"})
    client.delete_tag(scratch.info.run_id, "tmp")
    client.update_run(scratch.info.run_id, name="scratch2")
    client.delete_run(scratch.info.run_id)
    deleted = client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
    client.restore_run(scratch.info.run_id)
    client.set_terminated(scratch.info.run_id, "FAILED")
    return {"run_id": run.info.run_id, "run": _run_view(got), "scratch": scratch.info.run_id,
            "deleted": [r.info.run_id for r in deleted],
            "experiments": [e.name for e in client.search_experiments(filter_string="name LIKE '%-renamed'")],
            "loss": [[m.step, m.timestamp, m.value] for m in client.get_metric_history(run.info.run_id, "loss")],
            "artifacts": sorted(f.path for f in client.list_artifacts(run.info.run_id))}


def registry(args: dict[str, Any]) -> dict[str, Any]:
    """Registered model, versions, stages, aliases, tags and a model download through the server."""
    client = MlflowClient()
    name, run_id = args["name"], args["run_id"]
    rm = client.create_registered_model(name, tags={"team": "ml"}, description="first")
    v1 = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, tags={"k": "v"})
    v2 = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    staged = client.transition_model_version_stage(name, v1.version, "Staging")
    prod = client.transition_model_version_stage(name, v2.version, "production", archive_existing_versions=False)
    client.set_registered_model_alias(name, "champion", v2.version)
    by_alias = client.get_model_version_by_alias(name, "champion")
    client.set_model_version_tag(name, v2.version, "quality", "good")
    client.update_model_version(name, v2.version, description="the best")
    client.update_registered_model(name, description="second")
    client.set_registered_model_tag(name, "owner", "me")
    latest = client.get_latest_versions(name, stages=["Production"])
    searched = client.search_model_versions(f"name = '{name}'")
    models = client.search_registered_models(f"name = '{name}'")
    uri = client.get_model_version_download_uri(name, v2.version)
    model_dir = mlflow.artifacts.download_artifacts(f"models:/{name}@champion", dst_path=tempfile.mkdtemp())
    client.delete_registered_model_alias(name, "champion")
    got = client.get_registered_model(name)
    return {
        "created": [rm.name, rm.description, rm.tags],
        "versions": [v1.version, v2.version],
        "stages": [staged.current_stage, prod.current_stage],
        "by_alias": [by_alias.version, list(by_alias.aliases)],
        "latest": [(mv.version, mv.current_stage) for mv in latest],
        "searched": sorted(mv.version for mv in searched),
        "models": [m.name for m in models],
        "download_uri": uri,
        "model_files": sorted(str(p.relative_to(model_dir)) for p in Path(model_dir).rglob("*")),
        "final": {"description": got.description, "tags": got.tags, "aliases": got.aliases,
                  "v2": [client.get_model_version(name, v2.version).description,
                         client.get_model_version(name, v2.version).tags]},
    }


def errors(args: dict[str, Any]) -> dict[str, Any]:
    """How MLflow's client surfaces this server's errors."""
    client = MlflowClient()
    out = {}
    for label, call in (("missing_run", lambda: client.get_run("0" * 32)),
                        ("bad_filter", lambda: client.search_runs(["0"], "metrics.x >>> 1")),
                        ("read_only", lambda: client.create_experiment("nope"))):
        try:
            call()
            out[label] = None
        except mlflow.exceptions.MlflowException as e:
            out[label] = e.error_code
    return out


if __name__ == "__main__":
    scenario, raw, result_file = sys.argv[1:4]
    result = {"read": read, "log": log, "registry": registry, "errors": errors}[scenario](json.loads(raw))
    Path(result_file).write_text(json.dumps(result))
