"""MLflow import against stores that real MLflow writes during the test (SQLite and mlruns), compared run
by run through MLflow's own client and ours (dataset inputs included); a second import after MLflow added
data brings only what is new, and a third adds nothing. Broken or hostile dataset files are skipped with a
warning that names them."""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _mlflow_store import describe

from lite_tracker import MlflowClient
from lite_tracker.entities import ViewType
from lite_tracker.errors import InvalidParameterValue, ResourceNotFound
from lite_tracker.io import ImportProgress, ImportResult, SkippedImportWarning, import_mlflow

HERE = Path(__file__).parent
needs_mlflow = pytest.mark.skipif(importlib.util.find_spec("mlflow") is None,
                                  reason="needs MLflow (pip install 'lite-tracker[test]')")


def write_with_mlflow(folder: Path, uri: str, phase: int) -> dict[str, Any]:
    """Let real MLflow write (phase 1) or add to (phase 2) a store; return its client's view of it."""
    dump = folder / f"mlflow-{phase}.json"
    proc = subprocess.run([sys.executable, str(HERE / "_mlflow_store.py"), uri, str(phase), str(dump)],
                          cwd=folder, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected: dict[str, Any] = json.loads(dump.read_text())
    return expected


def imported(store: Path) -> dict[str, Any]:
    view: dict[str, Any] = json.loads(json.dumps(describe(MlflowClient(str(store)), ViewType.ALL)))
    return view


def assert_same(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal, compared experiment by experiment, run by run and model by model (readable failures)."""
    for section in ("experiments", "runs", "models"):
        assert sorted(got[section]) == sorted(expected[section]), section
        for key, want in expected[section].items():
            have = got[section][key]
            diff = {f: (have.get(f), want[f]) for f in want if have.get(f) != want[f]}
            assert not diff, f"{section} {key}: (imported, MLflow) {diff}"


@needs_mlflow
@pytest.mark.parametrize("kind", ["sqlite", "mlruns"])
def test_import_matches_mlflow_run_by_run_and_reimport_adds_only_what_is_new(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "mlflow"
    folder.mkdir()
    uri = "sqlite:///mlflow.db" if kind == "sqlite" else "./mlruns"
    source = f"sqlite:///{folder / 'mlflow.db'}" if kind == "sqlite" else str(folder / "mlruns")
    store = tmp_path / "lite" / "lite.duckdb"

    expected = write_with_mlflow(folder, uri, 1)
    seen: list[ImportProgress] = []
    first = import_mlflow(source, store=store, progress=seen.append)
    assert_same(imported(store), expected)
    assert first.runs == 5 and first.models == 1 and first.versions == 2 and first.metric_points == 3 * 22
    assert first.artifact_files == 2 and first.dataset_inputs == 3
    assert not any("dataset" in n for n in first.notes), first.notes
    assert seen[0].stage == "read" and seen[-1] == ImportProgress("compact", 1, 1)
    run0 = next(r for r, v in expected["runs"].items() if v["run_name"] == "run-0")
    local_uri = MlflowClient(str(store)).get_run(run0).info.artifact_uri
    assert Path(local_uri).is_relative_to(store.parent), "artifacts are copied into the store's artifact root"

    expected = write_with_mlflow(folder, uri, 2)
    second = import_mlflow(source, store=store)
    assert_same(imported(store), expected)
    assert (second.experiments, second.runs, second.metric_points) == (0, 1, 5 + 1)  # one new run
    assert second.versions == 1 and second.artifact_files == 1
    assert second.dataset_inputs == 2  # the late run's, and one more on a run imported before

    third = import_mlflow(source, store=store)
    assert (third.experiments, third.runs, third.params, third.tags, third.metric_points, third.dataset_inputs,
            third.models, third.versions, third.artifact_files) == (0,) * 9
    assert_same(imported(store), expected)


@needs_mlflow
def test_no_copy_artifacts_references_mlflows_files(tmp_path: Path) -> None:
    folder = tmp_path / "mlflow"
    folder.mkdir()
    expected = write_with_mlflow(folder, "./mlruns", 1)
    store = tmp_path / "lite.duckdb"
    result = import_mlflow(folder / "mlruns", store=store, copy_artifacts=False)
    assert result.artifact_files == 0
    assert_same(imported(store), expected)
    run0 = next(r for r, v in expected["runs"].items() if v["run_name"] == "run-0")
    uri = MlflowClient(str(store)).get_run(run0).info.artifact_uri
    assert uri.removeprefix("file://").startswith(str(folder / "mlruns"))


def test_bad_sources_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ResourceNotFound, match="No MLflow database"):
        import_mlflow(f"sqlite:///{tmp_path / 'missing.db'}", store=tmp_path / "s.duckdb")
    with pytest.raises(ResourceNotFound, match="No MLflow store"):
        import_mlflow(tmp_path / "nowhere", store=tmp_path / "s.duckdb")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidParameterValue, match="not an MLflow file store"):
        import_mlflow(tmp_path / "empty", store=tmp_path / "s.duckdb")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE t (x)")
    with pytest.raises(InvalidParameterValue, match="not an MLflow tracking database"):
        import_mlflow(f"sqlite:///{other}", store=tmp_path / "s.duckdb")
    (tmp_path / "junk.db").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(InvalidParameterValue, match="Cannot read"):
        import_mlflow(tmp_path / "junk.db", store=tmp_path / "s.duckdb")
    with pytest.raises(InvalidParameterValue, match="sqlite:///"):
        import_mlflow("postgresql://host/db", store=tmp_path / "s.duckdb")


def test_a_file_that_is_not_utf8_stops_the_import_before_anything_is_written(tmp_path: Path) -> None:
    exp, run = tmp_path / "mlruns" / "0", "a" * 32
    (exp / run / "params").mkdir(parents=True)
    (exp / "meta.yaml").write_text("experiment_id: '0'\nname: Default\nartifact_location: x\n"
                                   "lifecycle_stage: active\n")
    (exp / run / "meta.yaml").write_text(f"run_id: {run}\nexperiment_id: '0'\nstatus: 3\nstart_time: 1\n"
                                         "lifecycle_stage: active\nartifact_uri: x\n")
    (exp / run / "params" / "lr").write_bytes(b"\xff\xfe not text")
    store = tmp_path / "s.duckdb"
    with pytest.raises(InvalidParameterValue, match=r"params/lr.*not UTF-8 text"):
        import_mlflow(tmp_path / "mlruns", store=store)
    assert MlflowClient(str(store)).search_runs(["0"]) == []


def _damage_mlruns(root: Path, run0: str, run1: str) -> list[str]:
    """Break run-0's input file, make the NumPy dataset's digest too long, and add an input to run-1 whose
    dataset id climbs out of the store; return the files the warnings must name."""
    exp_dir = next(d for d in root.iterdir() if (d / run0).is_dir())
    names = {d.name: _yaml_field(d / "meta.yaml", "name") for d in (exp_dir / "datasets").iterdir()}
    [input0] = (exp_dir / run0 / "inputs").glob("*/meta.yaml")
    input0.write_text("source_type: DATASET\ntags: [unclosed\n")
    arr = exp_dir / "datasets" / next(d for d, n in names.items() if n == "arr") / "meta.yaml"
    arr.write_text(re.sub(r"^digest: .*$", "digest: " + "f" * 40, arr.read_text(), flags=re.M))
    evil = exp_dir / run1 / "inputs" / "evil" / "meta.yaml"
    evil.parent.mkdir()
    evil.write_text("source_type: DATASET\nsource_id: ../../../../../etc\ndestination_type: RUN\n"
                    f"destination_id: {run1}\ntags: {{}}\n")
    return [str(input0), str(arr), str(evil)]


def _yaml_field(path: Path, key: str) -> str:
    line = next(x for x in path.read_text().splitlines() if x.startswith(f"{key}: "))
    return line.split(": ", 1)[1]


def _damage_sqlite(db: Path, run0: str) -> list[str]:
    """Make the NumPy dataset's digest too long, give run-0's input a tag that is not text, and add an
    input of run-0 whose dataset does not exist; return what the warnings must name."""
    with sqlite3.connect(db) as con:
        con.execute("UPDATE datasets SET digest = ? WHERE name = 'arr'", ["f" * 40])
        [(input0,)] = con.execute("SELECT input_uuid FROM inputs WHERE destination_id = ?", [run0]).fetchall()
        con.execute("UPDATE input_tags SET value = x'00ff' WHERE input_uuid = ?", [input0])
        con.execute("INSERT INTO inputs VALUES ('evil-input', 'DATASET', 'no-such-dataset', 'RUN', ?, 0)", [run0])
        [(arr_input,)] = con.execute("SELECT i.input_uuid FROM inputs i JOIN datasets d "
                                     "ON d.dataset_uuid = i.source_id WHERE d.name = 'arr'").fetchall()
    return [input0, arr_input, "evil-input"]


@needs_mlflow
@pytest.mark.parametrize("kind", ["sqlite", "mlruns"])
def test_broken_dataset_inputs_are_skipped_with_a_warning_naming_them(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "mlflow"
    folder.mkdir()
    expected = write_with_mlflow(folder, "sqlite:///mlflow.db" if kind == "sqlite" else "./mlruns", 1)
    run0, run1 = (next(r for r, v in expected["runs"].items() if v["run_name"] == f"run-{i}") for i in (0, 1))
    if kind == "sqlite":
        source = f"sqlite:///{folder / 'mlflow.db'}"
        named = _damage_sqlite(folder / "mlflow.db", run0)
    else:
        source = str(folder / "mlruns")
        named = _damage_mlruns(folder / "mlruns", run0, run1)
    store = tmp_path / "lite.duckdb"

    with pytest.warns(SkippedImportWarning) as caught:
        result = import_mlflow(source, store=store)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 3, messages
    for name in named:
        assert any(name in m for m in messages), (name, messages)
    assert any("digest" in m and "36" in m for m in messages), messages
    expected["runs"][run0]["inputs"] = []  # skipped whole: no input without its tags, no tags without it
    expected["runs"][run1]["inputs"] = [i for i in expected["runs"][run1]["inputs"] if i["name"] == "train"]
    assert result.dataset_inputs == 1 and result.runs == 5
    assert_same(imported(store), expected)

    with pytest.warns(SkippedImportWarning):
        again = import_mlflow(source, store=store)
    assert again.dataset_inputs == 0
    assert_same(imported(store), expected)


def test_summary_counts_in_words() -> None:
    one = ImportResult(1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5)
    assert one.summary() == ("Imported 1 experiment, 1 run, 1 param, 1 tag, 1 metric point, 1 dataset input, "
                             "1 model, 1 model version, 1 artifact file in 0.50s.")
    two = ImportResult(2, 0, 2, 2, 2, 2, 2, 2, 2, 1.0, ("A note.",))
    assert two.summary() == ("Imported 2 experiments, 0 runs, 2 params, 2 tags, 2 metric points, 2 dataset inputs, "
                             "2 models, 2 model versions, 2 artifact files in 1.00s. A note.")
