"""MLflow import against stores that real MLflow writes during the test (SQLite and mlruns), compared run
by run through MLflow's own client and ours; a second import after MLflow added data brings only what is
new, and a third adds nothing."""

from __future__ import annotations

import importlib.util
import json
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
from lite_tracker.io import ImportProgress, import_mlflow

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
    assert first.artifact_files == 2 and any("1 dataset inputs" in n for n in first.notes)
    assert seen[0].stage == "read" and seen[-1] == ImportProgress("compact", 1, 1)
    run0 = next(r for r, v in expected["runs"].items() if v["run_name"] == "run-0")
    local_uri = MlflowClient(str(store)).get_run(run0).info.artifact_uri
    assert Path(local_uri).is_relative_to(store.parent), "artifacts are copied into the store's artifact root"

    expected = write_with_mlflow(folder, uri, 2)
    second = import_mlflow(source, store=store)
    assert_same(imported(store), expected)
    assert (second.experiments, second.runs, second.metric_points) == (0, 1, 5 + 1)  # one new run
    assert second.versions == 1 and second.artifact_files == 1

    third = import_mlflow(source, store=store)
    assert (third.experiments, third.runs, third.params, third.tags, third.metric_points, third.models,
            third.versions, third.artifact_files) == (0,) * 8
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
