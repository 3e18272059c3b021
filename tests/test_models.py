"""Model flavors end to end: train a real scikit-learn model, log and register it, move it through
stages and aliases, and load it back by every kind of URI in a fresh process."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _models import AddOffset, Doubler
from conftest import run_worker
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import lite_tracker.pyfunc
import lite_tracker.sklearn
from lite_tracker.errors import LiteTrackerException
from lite_tracker.models import DependencyMismatchWarning, Model, infer_signature

X, Y = load_iris(return_X_y=True)


def test_seed_workflow_log_register_transition_and_load_in_fresh_process(fluent, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    v1_model = LogisticRegression(max_iter=500).fit(X, Y)
    v2_model = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, Y)  # predicts differently on purpose
    with fluent.start_run() as run:
        info = lite_tracker.sklearn.log_model(v1_model, name="model", registered_model_name="iris",
                                              input_example=X[:3])
    assert info.registered_model_version == 1 and info.model_uri == f"runs:/{run.info.run_id}/model"
    assert info.signature is not None and info.signature.inputs[0]["tensor-spec"]["shape"] == [-1, 4]
    with fluent.start_run():
        info2 = lite_tracker.sklearn.log_model(v2_model, artifact_path="clf", registered_model_name="iris")
    assert info2.registered_model_version == 2
    client = fluent.MlflowClient()
    client.transition_model_version_stage("iris", 1, "Production")
    client.transition_model_version_stage("iris", 2, "staging")
    client.set_registered_model_alias("iris", "champion", 1)
    client.set_registered_model_alias("iris", "challenger", 2)
    p1, p2 = v1_model.predict(X).tolist(), v2_model.predict(X).tolist()
    assert p1 != p2
    uris = {"models:/iris/1": p1, "models:/iris/Production": p1, "models:/iris@champion": p1,
            "models:/iris/2": p2, "models:/iris/Staging": p2, "models:/iris@challenger": p2,
            "models:/iris/latest": p2, info.model_uri: p1}
    out = run_worker("predict", str(store_path), *uris).stdout.splitlines()
    got = {d["uri"]: d for d in map(json.loads, out)}
    for uri, expected in uris.items():
        assert got[uri]["sklearn"] == expected and got[uri]["pyfunc"] == expected, uri
    # archive_existing_versions: promoting 2 archives 1, and the stage URIs follow
    client.transition_model_version_stage("iris", 2, "Production", archive_existing_versions=True)
    assert client.get_model_version("iris", 1).current_stage == "Archived"
    assert lite_tracker.sklearn.load_model("models:/iris/Production").predict(X).tolist() == p2
    assert lite_tracker.sklearn.load_model("models:/iris/Archived").predict(X).tolist() == p1
    with pytest.raises(LiteTrackerException, match="stage 'Staging'") as e:
        lite_tracker.sklearn.load_model("models:/iris/Staging")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_model_folder_contents(fluent) -> None:  # type: ignore[no-untyped-def]
    frame = pd.DataFrame(X[:5], columns=["sl", "sw", "pl", "pw"])
    model = LogisticRegression(max_iter=500).fit(pd.DataFrame(X, columns=frame.columns), Y)
    with fluent.start_run():
        info = lite_tracker.sklearn.log_model(model, "model", input_example=frame, serialization_format="pickle")
    folder = Path(fluent.artifacts.download_artifacts(info.model_uri))
    assert sorted(p.name for p in folder.iterdir()) == ["MLmodel", "input_example.json", "model.pkl",
                                                        "requirements.txt"]
    meta = Model.load(folder)
    assert meta.flavors["sklearn"]["serialization_format"] == "pickle"
    assert meta.flavors["python_function"]["loader_module"] == "lite_tracker.sklearn"
    assert meta.signature is not None and meta.signature.input_names() == ["sl", "sw", "pl", "pw"]
    assert meta.signature.outputs == [{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]
    assert "scikit-learn==" in (folder / "requirements.txt").read_text()
    example = json.loads((folder / "input_example.json").read_text())
    assert example["dataframe_split"]["columns"] == ["sl", "sw", "pl", "pw"]
    with open(folder / "model.pkl", "rb") as f:
        assert pickle.load(f).predict(frame).tolist() == model.predict(frame).tolist()
    # a column signature turns a plain array into a DataFrame with the right names (no sklearn warning)
    assert lite_tracker.pyfunc.load_model(info.model_uri).predict(X[:5]).tolist() == model.predict(frame).tolist()


def test_pyfunc_python_model_with_artifacts_and_plain_objects(fluent, tmp_path: Path, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    offset = tmp_path / "offset.txt"
    offset.write_text("10")
    with fluent.start_run():
        info = lite_tracker.pyfunc.log_model("adder", python_model=AddOffset(), artifacts={"offset": str(offset)},
                                             registered_model_name="adder", input_example=np.array([[1.0, 2.0]]))
        plain = lite_tracker.pyfunc.log_model(python_model=Doubler())
        func = lite_tracker.pyfunc.log_model("f", python_model=np.negative)
    offset.write_text("999")  # the model keeps its own copy
    loaded = lite_tracker.pyfunc.load_model("models:/adder/1")
    assert loaded.predict(np.array([[1.0, 2.0]])).tolist() == [[11.0, 12.0]]
    assert loaded.predict([[0, 1]]).tolist() == [[10.0, 11.0]]
    assert isinstance(loaded.unwrap_python_model(), AddOffset)
    assert lite_tracker.pyfunc.load_model(plain.model_uri).predict(np.array([3])).tolist() == [6]
    assert lite_tracker.pyfunc.load_model(func.model_uri).predict(np.array([3])).tolist() == [-3]
    assert info.signature is not None and info.signature.outputs is not None
    with pytest.raises(LiteTrackerException, match="not a scikit-learn model"):
        lite_tracker.sklearn.load_model(info.model_uri)
    with pytest.raises(LiteTrackerException, match="python_model must be"):
        lite_tracker.pyfunc.log_model("x", python_model=42)


def test_version_mismatch_warns(fluent) -> None:  # type: ignore[no-untyped-def]
    model = LogisticRegression(max_iter=500).fit(X, Y)
    with fluent.start_run():
        info = lite_tracker.sklearn.log_model(model, "model")
    folder = Path(lite_tracker.models.model.local_model_dir(info.model_uri))
    meta = Model.load(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lite_tracker.sklearn.load_model(info.model_uri)  # same versions: no warning
    meta.flavors["sklearn"]["sklearn_version"] = "0.20.0"
    meta.save(folder)
    with pytest.warns(DependencyMismatchWarning, match="sklearn 0.20.0"):
        est = lite_tracker.sklearn.load_model(info.model_uri)
    assert est.predict(X[:2]).tolist() == model.predict(X[:2]).tolist()


def test_uri_errors(fluent, client) -> None:  # type: ignore[no-untyped-def]
    client.create_registered_model("iris")
    cases = [
        ("models:/nope/1", "RESOURCE_DOES_NOT_EXIST", "name=nope not found"),
        ("models:/iris/3", "RESOURCE_DOES_NOT_EXIST", r"version=3\) not found"),
        ("models:/iris/Production", "RESOURCE_DOES_NOT_EXIST", "stage 'Production'"),
        ("models:/iris/latest", "RESOURCE_DOES_NOT_EXIST", "has no versions"),
        ("models:/iris@gold", "RESOURCE_DOES_NOT_EXIST", "alias gold not found"),
        ("models:/iris/Prod", "INVALID_PARAMETER_VALUE", "Invalid Model Version stage"),
        ("models:/iris", "INVALID_PARAMETER_VALUE", "Invalid model URI"),
        ("models:/a/b/c", "INVALID_PARAMETER_VALUE", "Invalid model URI"),
        ("runs:/0123/model", "RESOURCE_DOES_NOT_EXIST", "Run with id=0123 not found"),
        ("/no/such/folder", "RESOURCE_DOES_NOT_EXIST", "No model at"),
    ]
    for uri, code, match in cases:
        with pytest.raises(LiteTrackerException, match=match) as e:
            lite_tracker.pyfunc.load_model(uri)
        assert e.value.error_code == code, uri
    with pytest.raises(LiteTrackerException, match="exactly one of artifact_uri or run_id"):
        fluent.artifacts.download_artifacts()
    with fluent.start_run() as run:
        fluent.log_text("hi", "notes/a.txt")
    local = fluent.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="notes/a.txt")
    assert Path(local).read_text() == "hi"
    with pytest.raises(LiteTrackerException) as e:
        fluent.artifacts.download_artifacts(f"runs:/{run.info.run_id}/missing")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_register_model_fluent(fluent) -> None:  # type: ignore[no-untyped-def]
    with fluent.start_run() as run:
        lite_tracker.sklearn.log_model(LogisticRegression(max_iter=500).fit(X, Y), "model")
    uri = f"runs:/{run.info.run_id}/model"
    assert [fluent.register_model(uri, "m").version for _ in range(2)] == [1, 2]
    mv = fluent.register_model("models:/m/1", "copy", tags={"from": "m"})
    assert mv.source == fluent.MlflowClient().get_model_version("m", 1).source and mv.run_id == run.info.run_id
    assert mv.tags == {"from": "m"}


def test_infer_signature_shapes() -> None:
    assert infer_signature(pd.DataFrame({"a": [1], "b": [1.5], "c": ["x"]})).inputs == [
        {"type": "long", "name": "a", "required": True}, {"type": "double", "name": "b", "required": True},
        {"type": "string", "name": "c", "required": True}]
    assert infer_signature([{"a": 1, "b": "x"}]).input_names() == ["a", "b"]
    assert infer_signature(np.zeros((2, 3), dtype="float32")).is_tensor()
