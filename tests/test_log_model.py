"""`lite_tracker.log_model` picks the flavor from the object, `lite_tracker.load_model` returns the native model,
and every registered version says how to serve it; models are loaded back in fresh processes and served over
real HTTP."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _models import AddOffset, Scale, negate, square
from conftest import free_port
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import lite_tracker as mlflow
from lite_tracker import pyfunc
from lite_tracker._log_model import FLAVORS, FlavorDetector, flavor_for
from lite_tracker.errors import InvalidParameterValue
from lite_tracker.models import Model, ModelInfo
from lite_tracker.pyfunc import PyFuncModel
from lite_tracker.serving import serve_commands
from lite_tracker.tracking.client import close_all

HERE = Path(__file__).parent
X, Y = load_iris(return_X_y=True)
ROWS = X[::30]  # one row of each class, and then some
SMALL = np.array([[1.0, 2.0]])

# Runs in a fresh interpreter: load each URI with lite_tracker.load_model, print type and predictions.
LOADER = """
import json, sys
import numpy as np
import lite_tracker as mlflow
mlflow.set_tracking_uri(sys.argv[1])
for uri, rows in json.loads(sys.argv[2]):
    model = mlflow.load_model(uri)
    out = np.asarray(model.predict(np.asarray(rows))).tolist()
    print(json.dumps({"uri": uri, "type": type(model).__name__, "predictions": out}), flush=True)
"""


def _load_in_fresh_process(store: Path, cases: list[tuple[str, Any]], cwd: Path) -> dict[str, dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", LOADER, str(store), json.dumps(cases)], capture_output=True,
                          text=True, timeout=180, cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {d["uri"]: d for d in map(json.loads, proc.stdout.splitlines())}


def test_log_model_picks_the_flavor_registers_and_loads_back_in_a_fresh_process(  # type: ignore[no-untyped-def]
        fluent, store_path: Path, tmp_path: Path) -> None:
    offsets = [tmp_path / "ten.txt", tmp_path / "twenty.txt"]
    offsets[0].write_text("10")
    offsets[1].write_text("20")
    kinds: dict[str, tuple[list[Any], Any, set[str]]] = {
        # name: ([version 1, version 2], input rows, the types load_model returns)
        "sk": ([LogisticRegression(max_iter=500).fit(X, Y),
                make_pipeline(StandardScaler(), DummyClassifier(strategy="constant", constant=2)).fit(X, Y)],
               ROWS, {"LogisticRegression", "Pipeline"}),
        "pythonmodel": ([AddOffset(), AddOffset()], SMALL, {"PyFuncModel"}),
        "predictor": ([Scale(2), Scale(3)], SMALL, {"PyFuncModel"}),
        "function": ([negate, square], SMALL, {"PyFuncModel"}),
    }
    client = fluent.MlflowClient()
    expected: dict[str, list[Any]] = {}
    first = fluent.log_model(kinds["sk"][0][0], registered_model_name="sk", input_example=ROWS[:2])
    assert first.run_id == fluent.active_run().info.run_id  # no run was active: one was started, as log_param does
    fluent.end_run()
    for name, (versions, rows, _) in kinds.items():
        for i, model in enumerate(versions, start=1):
            if name == "sk" and i == 1:
                info = first
            else:
                options = {"artifacts": {"offset": str(offsets[i - 1])}} if name == "pythonmodel" else {}
                with fluent.start_run():
                    info = fluent.log_model(model, "m", registered_model_name=name, input_example=rows, **options)
                assert info.artifact_path == "m"
            assert isinstance(info, ModelInfo) and info.registered_model_version == i
            assert set(info.flavors) == {"python_function", "sklearn" if name == "sk" else "python_model"}
            expected[f"{name}/{i}"] = (
                model.predict(rows) if name in ("sk", "predictor") else
                rows + 10 * i if name == "pythonmodel" else model(rows)).tolist()
        client.transition_model_version_stage(name, 1, "Production")
        client.set_registered_model_alias(name, "champion", 2)
    close_all()

    cases = [(f"models:/{name}/{ref}", kinds[name][1].tolist())
             for name in kinds for ref in ("1", "2", "Production", "latest")]
    cases += [(f"models:/{name}@champion", kinds[name][1].tolist()) for name in kinds]
    got = _load_in_fresh_process(store_path, cases, tmp_path)
    assert len(got) == len(cases) == 20
    for name, (_, _, native) in kinds.items():
        by_ref = {ref: got[f"models:/{name}/{ref}"] for ref in ("1", "2", "Production", "latest")}
        by_ref["@champion"] = got[f"models:/{name}@champion"]
        for ref, version in (("1", 1), ("Production", 1), ("2", 2), ("latest", 2), ("@champion", 2)):
            assert by_ref[ref]["predictions"] == expected[f"{name}/{version}"], (name, ref)
        assert {d["type"] for d in by_ref.values()} == native, name
    assert expected["sk/1"] != expected["sk/2"] and expected["function/1"] != expected["function/2"]


def test_load_model_returns_the_native_model_or_the_pyfunc_wrapper(fluent) -> None:  # type: ignore[no-untyped-def]
    est = LogisticRegression(max_iter=500).fit(X, Y)
    with fluent.start_run():
        sk = fluent.log_model(est)
        fn = fluent.log_model(negate, name="fn")
    loaded = fluent.load_model(sk.model_uri)  # runs:/ URIs too
    assert isinstance(loaded, LogisticRegression) and loaded.predict(ROWS).tolist() == est.predict(ROWS).tolist()
    pyfunc = fluent.load_model(fn.model_uri)
    assert isinstance(pyfunc, PyFuncModel) and pyfunc.predict(SMALL).tolist() == [[-1.0, -2.0]]
    assert sk.artifact_path == "model" and fluent.pyfunc.load_model(sk.model_uri).predict(ROWS).tolist() == \
        est.predict(ROWS).tolist()
    with pytest.raises(mlflow.LiteTrackerException) as missing:
        fluent.load_model("models:/nope/1")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize("obj, named", [
    ("a string", "str"),
    (42, "int"),
    ({"weights": [1, 2]}, "dict"),
    (Scale, "the class"),  # a class with predict(), not an instance of it
])
def test_an_unsupported_object_is_refused_before_anything_is_logged(fluent, obj: Any, named: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidParameterValue) as err:
        fluent.log_model(obj, registered_model_name="never")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    message = str(err.value)
    assert named in message
    for supported in ("scikit-learn estimator or pipeline", "PythonModel", "predict()", "function"):
        assert supported in message, message
    assert fluent.active_run() is None  # refused before a run was started
    assert fluent.MlflowClient().search_registered_models() == []


def test_flavor_options_are_checked_against_the_chosen_flavor(fluent) -> None:  # type: ignore[no-untyped-def]
    est = LogisticRegression(max_iter=500).fit(X, Y)
    with pytest.raises(TypeError, match="'serialisation_format'.*sklearn"):
        fluent.log_model(est, serialisation_format="pickle")
    with pytest.raises(TypeError, match="'artifacts'.*sklearn"):  # a pyfunc option, not a sklearn one
        fluent.log_model(est, artifacts={"a": "b"})
    with pytest.raises(TypeError, match="'pyfunc_predict_fn'.*python_model"):
        fluent.log_model(negate, pyfunc_predict_fn="predict_proba")
    with pytest.raises(TypeError, match="'artifact_path'"):  # name= is the one way to say where
        fluent.log_model(negate, artifact_path="elsewhere")
    assert fluent.active_run() is None
    with fluent.start_run():
        info = fluent.log_model(est, serialization_format="pickle", pyfunc_predict_fn="predict_proba")
    assert info.flavors["sklearn"]["serialization_format"] == "pickle"
    proba = fluent.pyfunc.load_model(info.model_uri).predict(ROWS)
    assert np.allclose(proba, est.predict_proba(ROWS))


def test_a_new_flavor_is_one_more_row_before_the_generic_rule() -> None:
    assert [d.flavor for d in FLAVORS] == ["sklearn", "python_model"]  # specific first, generic "has predict" last
    scale = FlavorDetector("scale", "a Scale", lambda m: isinstance(m, Scale), pyfunc.log_model, "python_model",
                           pyfunc.load_model)
    table = (*FLAVORS[:-1], scale, FLAVORS[-1])
    assert flavor_for(Scale(2), table) is scale
    assert flavor_for(negate, table) is FLAVORS[-1]
    assert flavor_for(LogisticRegression(), table) is FLAVORS[0]
    with pytest.raises(InvalidParameterValue, match="a Scale \\(scale flavor\\)"):
        flavor_for(1, table)


# ---------------------------------------------------------------- deploy: describe and serve


def _request(url: str, body: bytes | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read().strip() or b"null")
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read().strip() or b"null")


@contextmanager
def _serving(command: str) -> Iterator[str]:
    """Run a serve command exactly as printed (``lite-tracker`` as this interpreter) until /ping answers."""
    argv = shlex.split(command)
    assert argv[:3] == ["lite-tracker", "models", "serve"], argv
    port = argv[argv.index("--port") + 1]
    proc = subprocess.Popen([sys.executable, "-m", "lite_tracker", *argv[1:]], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if _request(base + "/ping")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"server did not start: {proc.communicate(timeout=10)}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def _predict(base: str) -> Any:
    status, body = _request(base + "/invocations", json.dumps({"inputs": ROWS.tolist()}).encode())
    assert status == 200, body
    return body["predictions"]


def test_a_restarted_server_follows_alias_and_stage_promotions(fluent, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    v1 = LogisticRegression(max_iter=500).fit(X, Y)
    v2 = DummyClassifier(strategy="constant", constant=2).fit(X, Y)
    for model in (v1, v2):
        with fluent.start_run():
            fluent.log_model(model, registered_model_name="iris")
    client = fluent.MlflowClient()
    client.set_registered_model_alias("iris", "champion", 1)
    client.transition_model_version_stage("iris", 2, "Production")
    commands = serve_commands(client.get_model_version("iris", 1), str(store_path))
    by_alias, by_stage = commands["models:/iris@champion"], serve_commands(
        client.get_model_version("iris", 2), str(store_path))["models:/iris/Production"]
    close_all()
    alias_port, stage_port = free_port(), free_port()
    with _serving(f"{by_alias} --port {alias_port}") as a, _serving(f"{by_stage} --port {stage_port}") as s:
        assert _predict(a) == v1.predict(ROWS).tolist() != _predict(s) == v2.predict(ROWS).tolist()

    client = fluent.MlflowClient()
    client.set_registered_model_alias("iris", "champion", 2)
    client.transition_model_version_stage("iris", 1, "Production", archive_existing_versions=True)
    close_all()
    with _serving(f"{by_alias} --port {alias_port}") as a, _serving(f"{by_stage} --port {stage_port}") as s:
        assert _predict(a) == v2.predict(ROWS).tolist() != _predict(s) == v1.predict(ROWS).tolist()


def test_serve_commands_name_the_version_its_aliases_and_its_stage(fluent, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    with fluent.start_run():
        fluent.log_model(negate, registered_model_name="my model")
    client = fluent.MlflowClient()
    client.set_registered_model_alias("my model", "champion", 1)
    client.transition_model_version_stage("my model", 1, "Staging")
    mv = client.get_model_version("my model", 1)
    store = str(store_path)
    assert serve_commands(mv, store) == {
        "models:/my model/1": f"lite-tracker models serve -m 'models:/my model/1' --store {shlex.quote(store)}",
        "models:/my model@champion":
            f"lite-tracker models serve -m 'models:/my model@champion' --store {shlex.quote(store)}",
        "models:/my model/Staging":
            f"lite-tracker models serve -m 'models:/my model/Staging' --store {shlex.quote(store)}",
    }
    fresh = client.create_model_version("my model", mv.source or "", mv.run_id)
    assert list(serve_commands(fresh)) == ["models:/my model/2"]  # no alias, stage None: only the pinned one
    assert serve_commands(fresh)["models:/my model/2"] == "lite-tracker models serve -m 'models:/my model/2'"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lite_tracker", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_models_describe_prints_the_version_and_how_to_serve_it(fluent, store_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with fluent.start_run() as run:
        fluent.log_model(Scale(2), registered_model_name="scaler")
        fluent.log_model(Scale(3), "bigger", registered_model_name="scaler")
    client = fluent.MlflowClient()
    client.transition_model_version_stage("scaler", 1, "Production")
    client.set_registered_model_alias("scaler", "champion", 1)
    client.set_registered_model_alias("scaler", "prod-eu", 1)
    client.update_model_version("scaler", 1, description="doubles its input")
    close_all()
    store = str(store_path)

    proc = _cli("models", "describe", "scaler", "--version", "1", "--store", store, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for line in ("Model:        scaler", "Version:      1", "Stage:        Production",
                 "Aliases:      champion, prod-eu", f"Run:          {run.info.run_id}",
                 "Description:  doubles its input",
                 f"lite-tracker models serve -m models:/scaler/1 --store {store}",
                 f"lite-tracker models serve -m models:/scaler@champion --store {store}",
                 f"lite-tracker models serve -m models:/scaler@prod-eu --store {store}",
                 f"lite-tracker models serve -m models:/scaler/Production --store {store}"):
        assert line in out, (line, out)

    latest = _cli("models", "describe", "scaler", "--store", store, cwd=tmp_path)
    assert latest.returncode == 0 and "Version:      2" in latest.stdout and "Stage:        None" in latest.stdout
    assert f"lite-tracker models serve -m models:/scaler/2 --store {store}" in latest.stdout
    assert "Production" not in latest.stdout and "@" not in latest.stdout

    missing = _cli("models", "describe", "scaler", "--version", "9", "--store", store, cwd=tmp_path)
    assert missing.returncode == 1 and "scaler" in missing.stderr and "9" in missing.stderr
    unknown = _cli("models", "describe", "nope", "--store", store, cwd=tmp_path)
    assert unknown.returncode == 1 and "nope" in unknown.stderr


def test_model_info_matches_the_logged_descriptor(fluent) -> None:  # type: ignore[no-untyped-def]
    with fluent.start_run():
        info = fluent.log_model(Scale(2), name="scaler", input_example=SMALL, pip_requirements=["numpy"])
    folder = Path(fluent.artifacts.download_artifacts(info.model_uri))
    meta = Model.load(folder)
    assert (meta.model_uuid, meta.run_id, meta.artifact_path) == (info.model_uuid, info.run_id, "scaler")
    assert (folder / "requirements.txt").read_text() == "numpy\n"
    assert info.signature is not None and info.signature.outputs is not None
