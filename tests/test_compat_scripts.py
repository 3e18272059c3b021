"""Typical MLflow user scripts run unchanged but for the import line, each in its own interpreter.

Each script below is written the way MLflow's documentation and tutorials write them; only
``import mlflow`` became ``import lite_tracker as mlflow``. The test then reads what the script logged
back through the client, from the default store in the script's working folder.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lite_tracker import MlflowClient

TRAINING_LOOP = """
import lite_tracker as mlflow
import numpy as np

mlflow.set_experiment("training")
with mlflow.start_run(run_name="baseline") as run:
    mlflow.log_params({"lr": 0.01, "epochs": 20, "optimizer": "adam"})
    mlflow.set_tags({"team": "vision", "stage": "dev"})
    for epoch in range(20):
        loss = float(np.exp(-epoch / 5))
        mlflow.log_metrics({"train_loss": loss, "val_loss": loss * 1.1}, step=epoch)
    mlflow.log_metric("accuracy", 0.93)
    mlflow.log_dict({"classes": ["cat", "dog"]}, "config.yaml")
    mlflow.log_text("all good", "notes.txt")
print(run.info.run_id)
df = mlflow.search_runs(experiment_names=["training"], order_by=["metrics.val_loss ASC"])
assert df.loc[0, "params.optimizer"] == "adam", df
assert mlflow.last_active_run().info.status == "FINISHED"
"""

NESTED_SWEEP = """
import itertools
import lite_tracker as mlflow

mlflow.set_experiment("sweep")
with mlflow.start_run(run_name="sweep") as parent:
    best = None
    for lr, depth in itertools.product([0.1, 0.01], [3, 5]):
        with mlflow.start_run(nested=True, run_name=f"lr={lr},depth={depth}"):
            mlflow.log_params({"lr": lr, "depth": depth})
            score = lr * depth
            mlflow.log_metric("score", score)
            best = score if best is None else max(best, score)
    mlflow.log_metric("best_score", best)
children = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                              output_format="list")
assert len(children) == 4
assert mlflow.get_parent_run(children[0].info.run_id).info.run_id == parent.info.run_id
print(parent.info.run_id)
"""

IMAGE_SERIES = """
import numpy as np
import lite_tracker as mlflow
from PIL import Image

with mlflow.start_run() as run:
    for step in range(5):
        sample = np.full((32, 32, 3), step * 40, dtype=np.uint8)
        mlflow.log_image(sample, key="samples", step=step)
    mlflow.log_image(Image.new("RGB", (16, 16), "red"), "static/red.png")
    mlflow.log_image(mlflow.Image(np.zeros((8, 8))), key="masks", step=0)
print(run.info.run_id)
"""

REGISTRY_PROMOTION = """
import lite_tracker as mlflow
from lite_tracker import MlflowClient
from sklearn.linear_model import LogisticRegression

X, y = [[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]
client = MlflowClient()
for c in (0.1, 1.0):
    with mlflow.start_run():
        model = LogisticRegression(C=c).fit(X, y)
        mlflow.log_param("C", c)
        mlflow.sklearn.log_model(model, name="model", registered_model_name="classifier")
versions = mlflow.search_model_versions(filter_string="name = 'classifier'")
assert [v.version for v in versions] == [2, 1]
client.set_registered_model_alias("classifier", "champion", versions[0].version)
client.transition_model_version_stage("classifier", versions[0].version, "Production")
client.copy_model_version("models:/classifier@champion", "classifier-prod")
loaded = mlflow.pyfunc.load_model("models:/classifier@champion")
assert list(loaded.predict([[0.0], [3.0]])) == [0, 1]
print(mlflow.search_registered_models()[0].name)
"""


def run_script(tmp_path: Path, source: str) -> str:
    """Run ``source`` as a script in ``tmp_path`` (a fresh interpreter); return its stdout."""
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(source))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


@pytest.fixture
def store(tmp_path: Path) -> MlflowClient:
    return MlflowClient(str(tmp_path / "lite_tracker.duckdb"))


def test_training_loop(tmp_path: Path, store: MlflowClient) -> None:
    run_id = run_script(tmp_path, TRAINING_LOOP)
    run = store.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "baseline"
    assert run.data.params == {"lr": "0.01", "epochs": "20", "optimizer": "adam"}
    assert [m.step for m in store.get_metric_history(run_id, "val_loss")] == list(range(20))
    assert {f.path for f in store.list_artifacts(run_id)} == {"config.yaml", "notes.txt"}


def test_nested_sweep(tmp_path: Path, store: MlflowClient) -> None:
    parent_id = run_script(tmp_path, NESTED_SWEEP)
    exp = store.get_experiment_by_name("sweep")
    assert exp is not None
    runs = store.search_runs([exp.experiment_id], order_by=["metrics.score DESC"])
    assert len(runs) == 5 and runs[-1].info.run_id == parent_id  # no score: sorted last, as in MLflow
    assert runs[0].data.tags["mlflow.parentRunId"] == parent_id and runs[0].data.metrics["score"] == 0.5
    assert store.get_run(parent_id).data.metrics["best_score"] == 0.5


def test_image_series(tmp_path: Path, store: MlflowClient) -> None:
    run_id = run_script(tmp_path, IMAGE_SERIES)
    names = [f.path for f in store.list_artifacts(run_id, "images")]
    assert sum(n.startswith("images/samples%step%") and n.endswith(".png") for n in names) == 5
    assert sum(n.endswith("%compressed.webp") for n in names) == 6
    assert [f.path for f in store.list_artifacts(run_id, "static")] == ["static/red.png"]


def test_registry_promotion(tmp_path: Path, store: MlflowClient) -> None:
    assert run_script(tmp_path, REGISTRY_PROMOTION) == "classifier"
    champion = store.get_model_version_by_alias("classifier", "champion")
    assert (champion.version, champion.current_stage) == (2, "Production")
    assert store.get_model_version("classifier-prod", 1).run_id == champion.run_id
