"""Export bundles re-read with plain DuckDB, pyarrow and pandas (no lite_tracker), and the MLflow format
read back by real MLflow's client, compared run by run with the store it came from."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from _mlflow_store import describe

import lite_tracker as mlflow
from lite_tracker import MlflowClient
from lite_tracker.entities import ViewType
from lite_tracker.errors import InvalidFilter, InvalidParameterValue, ResourceNotFound
from lite_tracker.io import export

HERE = Path(__file__).parent
TABLES = ("experiments", "experiment_tags", "runs", "params", "tags", "metrics", "latest_metrics",
          "dataset_inputs", "dataset_input_tags", "registered_models", "model_versions", "model_aliases",
          "registered_model_tags", "model_version_tags")


@pytest.fixture
def filled(fluent, tmp_path: Path) -> Path:
    """A store with two experiments, odd values, a deleted run, artifacts and a registered model."""
    client = MlflowClient()
    for exp in ("alpha", "beta"):
        mlflow.set_experiment(exp)
        client.set_experiment_tag(mlflow.get_experiment_by_name(exp).experiment_id, "group", exp)
        for i in range(3):
            with mlflow.start_run(run_name=f"{exp}-{i}") as run:
                mlflow.log_params({"lr": str(0.1 * (i + 1)), "nested/key": "v"})
                mlflow.set_tag("note", "comma, \"quote\"\nnewline")
                for step in range(10):
                    mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step)
                mlflow.log_metric("odd", math.nan, step=0, timestamp=1_700_000_000_000)
                mlflow.log_metric("odd", math.inf, step=1, timestamp=1_700_000_000_001)
                mlflow.log_text(f"hello {i}", "notes/hello.txt")
                data = mlflow.data.from_numpy(np.arange(6 + i).reshape(-1, 1), source=f"{exp}.csv", name=exp)
                mlflow.log_input(data, context="training", tags={"split": str(i)})
    with mlflow.start_run(run_name="to-delete") as run:
        mlflow.log_param("p", "1")
    client.delete_run(run.info.run_id)
    first = mlflow.search_runs(experiment_names=["alpha"], filter_string="params.lr = '0.1'",
                               output_format="list")[0]
    client.create_registered_model("clf", tags={"owner": "ml"}, description="classifier")
    client.create_model_version("clf", f"{first.info.artifact_uri}/model", first.info.run_id, tags={"k": "v"})
    client.transition_model_version_stage("clf", 1, "Production")
    client.set_registered_model_alias("clf", "champion", 1)
    return Path(mlflow.get_tracking_uri())


@pytest.mark.parametrize("fmt", ["parquet", "csv", "duckdb"])
def test_bundles_open_in_plain_duckdb_and_pyarrow_with_a_readme(filled: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"bundle-{fmt}"
    result = export(out, format=fmt, store=filled)
    assert result.runs == 7 and result.rows["metrics"] == 6 * 12
    readme = (out / "README.md").read_text()
    con = duckdb.connect()
    if fmt == "duckdb":
        con = duckdb.connect(str(out / "export.duckdb"), read_only=True)
        assert "export.duckdb" in readme
        source = {name: name for name in TABLES}
    else:
        source = {name: f"'{out / f'{name}.{fmt}'}'" for name in TABLES}
        assert sorted(p.name for p in out.iterdir()) == sorted([f"{n}.{fmt}" for n in TABLES] + ["README.md"])
    for name in TABLES:
        assert (f"`{name}`" if fmt == "duckdb" else f"`{name}.{fmt}`") in readme
    client = MlflowClient(str(filled))
    runs = {r.info.run_id: r for r in client.search_runs(
        [e.experiment_id for e in client.search_experiments()], run_view_type=ViewType.ALL)}
    got = con.sql(f"SELECT run_id, run_name, status, lifecycle_stage FROM {source['runs']}").fetchall()
    assert {r[0]: (r[1], r[2], r[3]) for r in got} == {
        i: (r.info.run_name, r.info.status, r.info.lifecycle_stage) for i, r in runs.items()}
    for run_id, run in runs.items():
        params = dict(con.execute(f"SELECT key, value FROM {source['params']} WHERE run_id = ?", [run_id]).fetchall())
        tags = dict(con.execute(f"SELECT key, value FROM {source['tags']} WHERE run_id = ?", [run_id]).fetchall())
        assert params == run.data.params and tags == run.data.tags
        for key in run.data.metrics:
            points = con.execute(f"SELECT step, timestamp, value FROM {source['metrics']} WHERE run_id = ? AND "
                                 "key = ? ORDER BY step, timestamp", [run_id, key]).fetchall()
            history = client.get_metric_history(run_id, key)
            assert [(s, t, repr(float(v))) for s, t, v in points] == [
                (m.step, m.timestamp, repr(m.value)) for m in history]
    assert con.sql(f"SELECT name, version, current_stage FROM {source['model_versions']}").fetchall() == [
        ("clf", 1, "Production")]
    assert con.sql(f"SELECT alias, version FROM {source['model_aliases']}").fetchall() == [("champion", 1)]
    inputs = con.sql(f"SELECT run_id, dataset_name, dataset_source FROM {source['dataset_inputs']}").fetchall()
    assert sorted(inputs) == sorted((i, d.dataset.name, d.dataset.source) for i, r in runs.items()
                                    for d in client.get_run(i).inputs.dataset_inputs)
    assert len(inputs) == 6 and con.sql(f"SELECT count(*) FROM {source['dataset_input_tags']} "
                                        "WHERE key = 'mlflow.data.context' AND value = 'training'").fetchall() == [(6,)]
    if fmt == "parquet":
        assert pq.read_table(out / "metrics.parquet").num_rows == result.rows["metrics"]
        import pandas as pd

        assert len(pd.read_parquet(out / "runs.parquet")) == 7
    if fmt == "csv":
        assert pcsv.read_csv(out / "tags.csv").num_rows == result.rows["tags"]


def test_one_experiment_or_a_filter(filled: Path, tmp_path: Path) -> None:
    result = export(tmp_path / "a", format="parquet", experiment="beta", store=filled)
    assert result.runs == 4  # with the deleted one
    assert {r["name"] for r in pq.read_table(tmp_path / "a" / "experiments.parquet").to_pylist()} == {"beta"}
    assert pq.read_table(tmp_path / "a" / "model_versions.parquet").num_rows == 0
    result = export(tmp_path / "b", format="csv", filter_string="params.lr = '0.1'", store=filled)
    assert result.runs == 2
    assert "filter \"params.lr = '0.1'\"" in (tmp_path / "b" / "README.md").read_text()
    assert pcsv.read_csv(tmp_path / "b" / "model_versions.csv").num_rows == 1


def test_bad_requests_say_what_to_do(filled: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterValue, match="Unknown export format"):
        export(tmp_path / "x", format="xlsx", store=filled)
    with pytest.raises(ResourceNotFound, match="No experiment named"):
        export(tmp_path / "x", experiment="nope", store=filled)
    with pytest.raises(InvalidFilter):
        export(tmp_path / "x", filter_string="params.lr ~ 1", store=filled)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(InvalidParameterValue, match="not an empty folder"):
        export(tmp_path / "full", store=filled)
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="needs MLflow")
def test_mlflow_format_reads_back_in_mlflows_own_client(filled: Path, tmp_path: Path) -> None:
    out = tmp_path / "mlruns"
    export(out, format="mlflow", store=filled)
    dump = tmp_path / "dump.json"
    proc = subprocess.run([sys.executable, str(HERE / "_mlflow_store.py"), out.as_uri(), "0", str(dump)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen_by_mlflow: dict[str, Any] = json.loads(dump.read_text())
    ours: dict[str, Any] = json.loads(json.dumps(describe(MlflowClient(str(filled)), ViewType.ALL)))
    for section in ("experiments", "runs", "models"):
        assert sorted(seen_by_mlflow[section]) == sorted(ours[section]), section
        for key, want in ours[section].items():
            have = seen_by_mlflow[section][key]
            diff = {f: (have.get(f), want[f]) for f in want if have.get(f) != want[f]}
            assert not diff, f"{section} {key}: (MLflow reading the export, ours) {diff}"
