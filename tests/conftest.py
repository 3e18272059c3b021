"""Shared fixtures: every test gets its own real store in tmp_path; nothing is mocked."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from s3server import s3, s3_server  # noqa: F401  (real S3 server fixtures, see tests/s3server.py)

import lite_tracker as mlflow
from lite_tracker.tracking import _state
from lite_tracker.tracking import fluent as fluent_api
from lite_tracker.tracking.client import MlflowClient, close_all

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees another's store, environment or fluent state; stores are closed after each."""
    for name in ("LITE_TRACKER_URI", "MLFLOW_TRACKING_URI", "LITE_TRACKER_ARTIFACT_ROOT",
                 "MLFLOW_DEFAULT_ARTIFACT_ROOT", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    yield
    while mlflow.active_run():
        mlflow.end_run()
    close_all()
    _state.state.client = None
    _state.state.experiment_id = None
    _state.state.tracking_uri = None
    _state.state.registry_uri = None
    fluent_api.last_run_id.set(None)
    _state.state.started.clear()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "t.duckdb"


@pytest.fixture
def client(store_path: Path) -> MlflowClient:
    return MlflowClient(str(store_path))


@pytest.fixture
def fluent(store_path: Path):  # type: ignore[no-untyped-def]
    mlflow.set_tracking_uri(str(store_path))
    return mlflow


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_worker(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run tests/_worker.py in a fresh interpreter and fail with its stderr if it fails."""
    proc = subprocess.run([sys.executable, str(HERE / "_worker.py"), *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, f"worker {args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return proc


def start_worker(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start tests/_worker.py in the background, stdout piped line by line."""
    return subprocess.Popen([sys.executable, str(HERE / "_worker.py"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1, env={**os.environ, **(env or {})})
