"""``lite-tracker import mlflow`` and ``lite-tracker export`` as real subprocesses, including the README's
command examples run as written."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb

from lite_tracker import MlflowClient
from lite_tracker.entities import ViewType

README = Path(__file__).parents[1] / "README.md"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lite_tracker", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def _readme_commands() -> list[list[str]]:
    """The ``lite-tracker`` lines of the README's bash example that starts with ``demo``."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    block = next(b for b in blocks if b.startswith("lite-tracker demo"))
    return [shlex.split(line)[1:] for line in block.splitlines() if line.startswith("lite-tracker ")]


def test_readme_export_and_import_commands_run_as_written(tmp_path: Path) -> None:
    commands = _readme_commands()
    assert {c[0] for c in commands} == {"demo", "export", "import"}
    outputs = []
    for args in commands:
        proc = _cli(*args, cwd=tmp_path)
        assert proc.returncode == 0, f"{args}: {proc.stderr}"
        outputs.append(proc.stdout)
    assert "Imported 1 experiment, 24 runs" in outputs[-1]  # Default matches by name
    assert duckdb.sql(f"SELECT count(*) FROM '{tmp_path / 'bundle' / 'runs.parquet'}'").fetchall() == [(24,)]
    assert duckdb.sql(f"SELECT count(*) FROM '{tmp_path / 'sweep-csv' / 'runs.csv'}'").fetchall() == [(8,)]
    assert (tmp_path / "bundle-db" / "export.duckdb").is_file() and (tmp_path / "bundle-db" / "README.md").is_file()

    original, copy = MlflowClient(str(tmp_path / "runs.duckdb")), MlflowClient(str(tmp_path / "copy.duckdb"))
    exp = original.get_experiment_by_name("demo-sweep")
    copied_exp = copy.get_experiment_by_name("demo-sweep")
    assert exp is not None and copied_exp is not None
    runs = original.search_runs([exp.experiment_id], run_view_type=ViewType.ALL)
    copied = {r.info.run_id: r for r in copy.search_runs([copied_exp.experiment_id], run_view_type=ViewType.ALL)}
    assert set(copied) == {r.info.run_id for r in runs}
    for run in runs:
        twin = copied[run.info.run_id]
        assert (twin.data.params, twin.data.tags, twin.data.metrics) == (run.data.params, run.data.tags,
                                                                         run.data.metrics)
        assert copy.get_metric_history(run.info.run_id, "val_loss") == original.get_metric_history(
            run.info.run_id, "val_loss")
        assert copy.list_artifacts(run.info.run_id) == original.list_artifacts(run.info.run_id)

    again = _cli("import", "mlflow", "--from", "./mlruns", "--store", "copy.duckdb", cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.startswith("Imported 0 experiments, 0 runs, 0 params, 0 tags, "
                                                             "0 metric points")
    assert not again.stderr  # no progress line when stderr is not a terminal


def test_errors_are_one_line_and_reading_never_creates_a_store(tmp_path: Path) -> None:
    proc = _cli("export", "--store", "missing.duckdb", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 1 and "No store at" in proc.stderr and "missing.duckdb" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "missing.duckdb").exists()
    proc = _cli("import", "mlflow", "--from", "sqlite:///nope.db", "--store", "s.duckdb", cwd=tmp_path)
    assert proc.returncode == 1 and "No MLflow database" in proc.stderr and "Traceback" not in proc.stderr
    proc = _cli("export", "--format", "xlsx", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 2 and "'xlsx' is not one of 'parquet'" in proc.stderr
    help_text = _cli("import", "mlflow", "--help", cwd=tmp_path).stdout
    assert "Example: lite-tracker import mlflow --from sqlite:///mlflow.db" in " ".join(help_text.split())
    help_text = _cli("export", "--help", cwd=tmp_path).stdout
    assert "Example: lite-tracker export --format parquet" in " ".join(help_text.split())


def test_a_skipped_dataset_input_is_one_warning_line(tmp_path: Path) -> None:
    run_dir = tmp_path / "mlruns" / "1" / "0123456789abcdef0123456789abcdef"
    (run_dir / "inputs" / "bad").mkdir(parents=True)
    (run_dir.parent / "meta.yaml").write_text("experiment_id: '1'\nname: exp\nlifecycle_stage: active\n")
    (run_dir / "meta.yaml").write_text(f"run_id: {run_dir.name}\nexperiment_id: '1'\nstatus: 3\nstart_time: 1\n")
    (run_dir / "inputs" / "bad" / "meta.yaml").write_text("source_type: DATASET\nsource_id: ../../../etc\n")
    proc = _cli("import", "mlflow", "--from", "./mlruns", "--store", "s.duckdb", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("Imported 1 experiment, 1 run, ")
    [line] = proc.stderr.splitlines()
    assert line.startswith("lite-tracker: warning: Skipped the dataset input ") and "inputs/bad/meta.yaml" in line
