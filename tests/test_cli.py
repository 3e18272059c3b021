"""The lite-tracker command, run as a real subprocess."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import click

import lite_tracker as mlflow
from lite_tracker.cli.main import cli


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
    assert bad.returncode == 1 and "needs no server" in bad.stderr


def _command_tree(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command and group under ``command``, with the words that name it."""
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found += _command_tree(sub, (*path, name))
    return found


def test_every_command_and_group_has_help_with_an_example_and_is_in_the_readme() -> None:
    readme = Path(__file__).parents[1].joinpath("README.md").read_text()
    tree = _command_tree(cli)
    assert len(tree) >= 35  # every command and group, the root included
    for path, command in tree:
        with click.Context(command, info_name=" ".join(("lite-tracker", *path))) as ctx:
            text = command.get_help(ctx)
        lines = [line.strip() for line in text.splitlines()]
        assert command.help and "Example:" in lines, path
        example = lines[lines.index("Example:") + 1]
        assert example.startswith("lite-tracker "), (path, example)
        if path:
            assert f"lite-tracker {' '.join(path)}" in readme, path


def test_demo_refuses_zero_steps_and_says_when_it_reuses_an_experiment(tmp_path: Path) -> None:
    bad = _cli("demo", "--steps", "0", cwd=tmp_path)
    assert bad.returncode == 2 and "0 is not in the range x>=1" in bad.stderr and "Traceback" not in bad.stderr
    first = _cli("demo", "--steps", "2", cwd=tmp_path)
    assert first.returncode == 0 and "already held" not in first.stdout
    second = _cli("demo", "--steps", "2", cwd=tmp_path)
    assert second.returncode == 0 and "already held 24 runs from earlier demos" in second.stdout


def test_commands_that_only_read_never_create_a_store(tmp_path: Path) -> None:
    for args in (("compact",), ("models", "describe", "iris"), ("models", "serve", "-m", "models:/iris/1")):
        proc = _cli(*args, "--store", "typo.duckdb", cwd=tmp_path)
        assert proc.returncode == 1, (args, proc.stderr)
        assert "No lite_tracker store at" in proc.stderr and "typo.duckdb" in proc.stderr, proc.stderr
        assert not (tmp_path / "typo.duckdb").exists() and not (tmp_path / "typo.duckdb.d").exists()


def test_a_ui_over_a_store_that_does_not_exist_says_it_starts_a_new_one(tmp_path: Path) -> None:
    with socket.socket() as busy:  # the server stops at once, after saying so
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "lite_tracker", "ui", "--port", str(port),
                               "--store", "new.duckdb"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "no store at" in proc.stderr and "new.duckdb yet: starting a new, empty one" in proc.stderr
    error = proc.stderr.splitlines()[-1]
    assert error.startswith(f"lite-tracker: error: INVALID_PARAMETER_VALUE: Cannot listen on 127.0.0.1:{port}: "
                            "Address already in use") and error.endswith("Choose another --port or --host."), error


def test_a_read_only_ui_refuses_a_store_that_does_not_exist(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "lite_tracker", "ui", "--read-only", "--port", "1",
                           "--store", "typo.duckdb"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 1 and "No lite_tracker store at" in proc.stderr and "typo.duckdb" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def _on_a_terminal(*args: str, cwd: Path) -> str:
    """stdout of ``lite-tracker ARGS`` written to a pseudo-terminal, as a user at a shell sees it."""
    import os
    import pty
    import select

    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "lite_tracker", *args], stdout=slave, stderr=subprocess.DEVNULL,
                            cwd=cwd, env={**env, "TERM": "xterm-256color"})
    os.close(slave)
    out = b""
    try:
        while select.select([master], [], [], 60)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    return out.decode()


def test_tables_have_colour_codes_on_a_terminal_only(tmp_path: Path) -> None:
    assert _cli("demo", "--steps", "2", cwd=tmp_path).returncode == 0
    args = ("runs", "list", "--experiment", "demo-sweep", "--columns", "params.lr,metrics.val_loss")
    piped = _cli(*args, cwd=tmp_path)
    assert piped.returncode == 0 and "params.lr" in piped.stdout and "\x1b[" not in piped.stdout
    assert "\x1b[" in _on_a_terminal(*args, cwd=tmp_path)
    as_json = _cli(*args, "--json", cwd=tmp_path)
    assert len(json.loads(as_json.stdout)) == 24 and "\x1b[" not in as_json.stdout
    missing = _cli("runs", "describe", "f" * 32, cwd=tmp_path)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith("lite-tracker: error: RESOURCE_DOES_NOT_EXIST")


def test_readme_command_line_examples_run_as_written(tmp_path: Path) -> None:
    """The bash blocks of the README's "Command line" section, run by bash with ``lite-tracker`` on the PATH;
    the models block runs after the README's model registry example put the iris model in the same store."""
    import os
    import re

    readme = Path(__file__).parents[1].joinpath("README.md").read_text()
    section = readme.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    runs_block, models_block = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    registry = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S)
                    if 'registered_model_name="iris"' in b)
    env = {**os.environ, "LITE_TRACKER_URI": "runs.duckdb",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def run(*argv: str) -> str:
        proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{argv[-1][:200]}:\n{proc.stderr[-3000:]}"
        assert "\x1b[" not in proc.stdout
        return proc.stdout

    out = run("bash", "-euo", "pipefail", "-c", runs_block)
    assert "Logged 24 runs" in out and "Created experiment 'baseline'" in out
    assert json.loads((tmp_path / "downloads" / "summary.json").read_text())["layers"] in (1, 2, 3)
    assert len((tmp_path / "cli-demo.csv").read_text().splitlines()) == 25

    run(sys.executable, "-c", registry)
    out = run("bash", "-euo", "pipefail", "-c", models_block)
    assert "version 1 is now in stage Staging" in out and "MLmodel" in out
    assert (tmp_path / "image" / "model" / "MLmodel").is_file()
    client = mlflow.MlflowClient(str(tmp_path / "runs.duckdb"))
    assert client.get_model_version("iris", 1).current_stage == "Staging"
    assert client.get_model_version("iris", 1).aliases == ["champion"]
