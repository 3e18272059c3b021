"""scikit-learn autologging on real fits: params, MLflow's training metrics, the model, search CV
child runs, runs started and ended around a fit, ``disable=True``, and ``autolog()`` naming what it
does not support."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import lite_tracker as mlflow
from lite_tracker import MlflowClient
from lite_tracker.models.model import load_yaml


@pytest.fixture
def autolog(fluent) -> Iterator[None]:  # type: ignore[no-untyped-def]
    mlflow.sklearn.autolog()
    yield
    mlflow.sklearn.autolog(disable=True)


@pytest.fixture
def iris() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    return X, y


def _runs() -> list[mlflow.Run]:
    return mlflow.search_runs(output_format="list", order_by=["attributes.start_time ASC"])


def test_fit_outside_a_run_logs_a_run_of_its_own(autolog, iris) -> None:
    X, y = iris
    model = LogisticRegression(max_iter=300, C=0.5).fit(X, y)
    assert mlflow.active_run() is None  # started and ended around the fit
    [run] = _runs()
    assert run.info.status == "FINISHED"
    assert run.data.params["C"] == "0.5" and run.data.params["max_iter"] == "300"
    assert set(run.data.params) == set(LogisticRegression().get_params(deep=True))
    assert run.data.tags["estimator_name"] == "LogisticRegression"
    assert run.data.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    m = run.data.metrics
    assert set(m) == {"training_score", "training_accuracy_score", "training_precision_score",
                      "training_recall_score", "training_f1_score", "training_log_loss", "training_roc_auc"}
    assert m["training_score"] == pytest.approx(model.score(X, y))
    assert m["training_accuracy_score"] == pytest.approx(model.score(X, y))
    loaded = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    assert (loaded.predict(X) == model.predict(X)).all()
    [ds] = run.inputs.dataset_inputs
    assert [(t.key, t.value) for t in ds.tags] == [("mlflow.data.context", "train")]
    assert ds.dataset.digest == mlflow.data.from_numpy(X, targets=y).digest


def test_fit_inside_a_run_logs_to_it_and_regressors_get_regression_metrics(autolog) -> None:
    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) ** 0.5})
    y = 3 * X["a"] + 1
    with mlflow.start_run() as run:
        LinearRegression().fit(X, y)
        assert mlflow.active_run().info.run_id == run.info.run_id  # not ended by autologging
        mlflow.log_metric("mine", 1.0)
    [got] = _runs()
    assert got.info.run_id == run.info.run_id
    assert {"training_mean_squared_error", "training_root_mean_squared_error", "training_mean_absolute_error",
            "training_r2_score", "training_score", "mine"} == set(got.data.metrics)
    assert got.data.metrics["training_r2_score"] == pytest.approx(1.0)
    model = Path(MlflowClient().download_artifacts(run.info.run_id, "model"))
    inputs = json.loads(load_yaml((model / "MLmodel").read_text())["signature"]["inputs"])
    assert [c["name"] for c in inputs] == ["a", "b"]


def test_pipeline_logs_once_with_deep_params(autolog, iris) -> None:
    X, y = iris
    Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=300))]).fit(X, y)
    [run] = _runs()  # the steps' own fits log nothing of their own
    assert run.data.params["clf__max_iter"] == "300" and "scale__with_mean" in run.data.params
    assert run.data.tags["estimator_name"] == "Pipeline"
    assert "training_accuracy_score" in run.data.metrics


def test_grid_search_has_best_values_on_the_parent_and_child_runs(autolog, iris) -> None:
    X, y = iris
    search = GridSearchCV(LogisticRegression(max_iter=300), {"C": [0.01, 0.1, 1.0, 10.0]}, cv=3)
    search.fit(X, y)
    runs = _runs()
    [parent] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 5 and len(children) == 4  # max_tuning_runs=5 by default, 4 candidates
    assert parent.data.params["best_C"] == str(search.best_params_["C"])
    assert parent.data.params["estimator__max_iter"] == "300"
    assert parent.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert "training_score" in parent.data.metrics
    assert {c.data.params["C"] for c in children} == {"0.01", "0.1", "1.0", "10.0"}
    for child in children:
        assert child.info.status == "FINISHED" and child.data.tags["estimator_name"] == "LogisticRegression"
        assert {"mean_test_score", "std_test_score", "rank_test_score", "mean_fit_time"} <= set(child.data.metrics)
        assert not any(k.startswith(("split", "param")) for k in child.data.metrics)
    client = MlflowClient()
    names = {f.path for f in client.list_artifacts(parent.info.run_id)}
    assert {"model", "best_estimator", "cv_results.csv"} <= names
    best = mlflow.sklearn.load_model(f"runs:/{parent.info.run_id}/best_estimator")
    assert best.get_params()["C"] == search.best_params_["C"]


def test_max_tuning_runs_keeps_the_best_candidates(fluent, iris) -> None:
    X, y = iris
    mlflow.sklearn.autolog(max_tuning_runs=2, log_models=False, log_datasets=False)
    try:
        search = GridSearchCV(LogisticRegression(max_iter=300), {"C": [0.001, 0.01, 1.0, 10.0]}, cv=3).fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    children = [r for r in _runs() if "mlflow.parentRunId" in r.data.tags]
    ranks = dict(zip([str(p["C"]) for p in search.cv_results_["params"]], search.cv_results_["rank_test_score"]))
    assert sorted(ranks[c.data.params["C"]] for c in children) == sorted(ranks.values())[:2]


def test_a_logging_failure_never_fails_the_fit(autolog, iris, caplog: pytest.LogCaptureFixture) -> None:
    X, y = iris
    with mlflow.start_run() as run:
        LogisticRegression(max_iter=300, C=1.0).fit(X, y)
        second = LogisticRegression(max_iter=300, C=2.0).fit(X, y)  # a run's params cannot change
    assert second.predict(X[:2]).shape == (2,)
    assert "could not log to run" in caplog.text and "Changing param values is not allowed" in caplog.text
    assert mlflow.get_run(run.info.run_id).data.params["C"] == "1.0"


def test_failed_fit_ends_its_run_failed(autolog) -> None:
    with pytest.raises(ValueError):
        LogisticRegression().fit(np.array([[1.0], [2.0]]), np.array([0, 0]))  # one class only
    [run] = _runs()
    assert run.info.status == "FAILED" and mlflow.active_run() is None


def test_disable_undoes_the_patching(fluent, iris) -> None:
    from sklearn.utils import all_estimators

    X, y = iris
    classes = [cls for _, cls in all_estimators()] + [Pipeline, GridSearchCV]
    before = {(cls, name): vars(cls).get(name) for cls in classes for name in ("fit", "fit_transform", "fit_predict")}
    mlflow.sklearn.autolog()
    assert LogisticRegression.fit is not before[(LogisticRegression, "fit")]
    mlflow.sklearn.autolog(disable=True)
    assert {key: vars(key[0]).get(key[1]) for key in before} == before  # inherited methods are inherited again
    LogisticRegression(max_iter=300).fit(X, y)
    assert _runs() == []


def test_exclusive_leaves_the_users_run_alone(fluent, iris) -> None:
    X, y = iris
    mlflow.sklearn.autolog(exclusive=True)
    try:
        with mlflow.start_run() as run:
            LogisticRegression(max_iter=300).fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    assert mlflow.get_run(run.info.run_id).data.params == {}


def test_top_level_autolog_turns_on_sklearn(fluent, iris) -> None:
    X, y = iris
    mlflow.autolog(exclude_flavors=["pytorch", "tensorflow", "keras", "xgboost", "lightgbm", "statsmodels",
                                    "spark", "transformers", "openai", "anthropic", "langchain", "llama_index",
                                    "dspy", "autogen"])
    try:
        LogisticRegression(max_iter=300).fit(X, y)
    finally:
        mlflow.autolog(disable=True)
    [run] = _runs()
    assert "training_score" in run.data.metrics
    LogisticRegression(max_iter=300).fit(X, y)
    assert len(_runs()) == 1


def test_autolog_names_installed_frameworks_it_does_not_support(tmp_path: Path) -> None:
    for name in ("xgboost", "lightgbm"):  # real importable packages under those names
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    code = textwrap.dedent(f"""
        import json, warnings
        import lite_tracker as mlflow
        mlflow.set_tracking_uri({str(tmp_path / 't.duckdb')!r})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mlflow.autolog()
        print(json.dumps([(w.category.__name__, str(w.message)) for w in caught]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         cwd=tmp_path, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    [(category, message)] = [w for w in json.loads(out.stdout) if w[0] == "AutologUnsupportedWarning"]
    assert "turned on autologging for scikit-learn" in message
    assert "installed but not supported yet: lightgbm, xgboost" in message
