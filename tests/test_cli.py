"""The lite-tracker command, run as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import lite_tracker as mlflow
from lite_tracker.cli.main import _parser


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lite_tracker", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_demo_logs_a_sweep_into_the_default_store_and_prints_best_runs(tmp_path: Path) -> None:
    proc = _cli("demo", "--steps", "10", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Logged 24 runs" in proc.stdout and "Best runs by final val_loss" in proc.stdout
    assert (tmp_path / "lite_tracker.duckdb").exists()
    runs = mlflow.MlflowClient(str(tmp_path / "lite_tracker.duckdb")).search_runs(
        [mlflow.MlflowClient(str(tmp_path / "lite_tracker.duckdb")).get_experiment_by_name("demo-sweep").experiment_id])
    assert len(runs) == 24 and all(r.info.status == "FINISHED" for r in runs)
    assert all(len(r.data.params) == 4 and set(r.data.metrics) == {"train_loss", "val_loss", "val_acc"} for r in runs)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("lr")]
    assert len(lines) == 5


def test_compact_and_errors(tmp_path: Path) -> None:
    assert _cli("demo", "--steps", "2", "--store", "s.duckdb", cwd=tmp_path).returncode == 0
    proc = _cli("compact", "--store", "s.duckdb", cwd=tmp_path)
    assert proc.returncode == 0 and "Compacted" in proc.stdout
    bad = _cli("compact", "--store", "http://server", cwd=tmp_path)
    assert bad.returncode == 2 and "needs no server" in bad.stderr


def test_every_command_has_help() -> None:
    parser = _parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, cmd in sub.choices.items():  # type: ignore[union-attr]
        assert cmd.description, name
        assert name in Path(__file__).parents[1].joinpath("README.md").read_text()


def test_demo_refuses_zero_steps_and_says_when_it_reuses_an_experiment(tmp_path: Path) -> None:
    bad = _cli("demo", "--steps", "0", cwd=tmp_path)
    assert bad.returncode == 2 and "must be at least 1" in bad.stderr and "Traceback" not in bad.stderr
    first = _cli("demo", "--steps", "2", cwd=tmp_path)
    assert first.returncode == 0 and "already held" not in first.stdout
    second = _cli("demo", "--steps", "2", cwd=tmp_path)
    assert second.returncode == 0 and "already held 24 runs from earlier demos" in second.stdout


def test_commands_that_only_read_never_create_a_store(tmp_path: Path) -> None:
    for args in (("compact",), ("models", "describe", "iris"), ("models", "serve", "-m", "models:/iris/1")):
        proc = _cli(*args, "--store", "typo.duckdb", cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "No lite_tracker store at" in proc.stderr and "typo.duckdb" in proc.stderr, proc.stderr
        assert not (tmp_path / "typo.duckdb").exists() and not (tmp_path / "typo.duckdb.d").exists()
