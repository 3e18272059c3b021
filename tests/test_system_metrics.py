"""System metrics: a real sampler thread logs MLflow's ``system/...`` keys every interval while the run
lives, stops with it, is switched on per run, globally or by the environment, and is absent in a fork."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import lite_tracker as mlflow
from lite_tracker import MlflowClient
from lite_tracker.errors import InvalidParameterValue
from lite_tracker.tracking import _system_metrics

KEYS = {
    "system/cpu_utilization_percentage", "system/system_memory_usage_megabytes",
    "system/system_memory_usage_percentage", "system/disk_usage_percentage", "system/disk_usage_megabytes",
    "system/disk_available_megabytes", "system/network_receive_megabytes", "system/network_transmit_megabytes",
}
ENV = (_system_metrics.ENABLE_ENV, _system_metrics.INTERVAL_ENV, _system_metrics.SAMPLES_ENV,
       _system_metrics.NODE_ID_ENV)


@pytest.fixture(autouse=True)
def _fast_sampling(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(_system_metrics.INTERVAL_ENV, "0.1")


def _sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("lite_tracker-system-metrics")]


def _wait_for_points(client: MlflowClient, run_id: str, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while len(client.get_metric_history(run_id, "system/cpu_utilization_percentage")) < count:
        assert time.monotonic() < deadline, "the sampler logged too few points"
        time.sleep(0.05)


def test_sampler_logs_every_interval_and_stops_with_the_run(fluent, store_path: Path) -> None:
    client = MlflowClient(str(store_path))
    with mlflow.start_run(log_system_metrics=True) as run:
        assert len(_sampler_threads()) == 1
        _wait_for_points(client, run.info.run_id, 3)
    assert _sampler_threads() == []
    got = client.get_run(run.info.run_id).data.metrics
    assert KEYS <= set(got)
    assert 0 <= got["system/cpu_utilization_percentage"] <= 100 * 64
    assert 0 < got["system/system_memory_usage_percentage"] <= 100
    assert got["system/disk_available_megabytes"] > 0
    history = client.get_metric_history(run.info.run_id, "system/system_memory_usage_megabytes")
    assert [m.step for m in history] == list(range(len(history)))  # steps 0, 1, 2, ... as MLflow
    time.sleep(0.5)  # nothing arrives after the run ended
    assert len(client.get_metric_history(run.info.run_id, "system/system_memory_usage_megabytes")) == len(history)


def test_off_by_default_and_switched_by_functions_and_env(fluent, store_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    client = MlflowClient(str(store_path))
    with mlflow.start_run() as plain:
        assert _sampler_threads() == []
    mlflow.enable_system_metrics_logging()
    try:
        with mlflow.start_run() as enabled:
            _wait_for_points(client, enabled.info.run_id, 1)
        with mlflow.start_run(log_system_metrics=False):
            assert _sampler_threads() == []
    finally:
        mlflow.disable_system_metrics_logging()
    with mlflow.start_run():
        assert _sampler_threads() == []
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    with mlflow.start_run():
        assert len(_sampler_threads()) == 1
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "maybe")
    with pytest.raises(InvalidParameterValue, match="MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"):
        mlflow.start_run()
    assert not any(k.startswith("system/") for k in client.get_run(plain.info.run_id).data.metrics)


def test_interval_samples_and_node_id(fluent, store_path: Path) -> None:
    mlflow.set_system_metrics_sampling_interval(0.05)
    mlflow.set_system_metrics_samples_before_logging(2)
    mlflow.set_system_metrics_node_id("node-a")
    client = MlflowClient(str(store_path))
    with mlflow.start_run(log_system_metrics=True) as run:
        deadline = time.monotonic() + 20
        while "system/node-a/cpu_utilization_percentage" not in client.get_run(run.info.run_id).data.metrics:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert not any(k.startswith("system/cpu") for k in client.get_run(run.info.run_id).data.metrics)
    mlflow.set_system_metrics_sampling_interval(None)
    mlflow.set_system_metrics_samples_before_logging(None)
    mlflow.set_system_metrics_node_id(None)
    assert _system_metrics._settings() == (10.0, 1, None)
    with pytest.raises(InvalidParameterValue, match="positive number"):
        mlflow.set_system_metrics_sampling_interval(0)
    with pytest.raises(InvalidParameterValue, match="integer >= 1"):
        mlflow.set_system_metrics_samples_before_logging(0)


def _child_checks(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put((len(_sampler_threads()), dict(_system_metrics._monitors)))


def test_forked_child_has_no_sampler(fluent) -> None:
    with mlflow.start_run(log_system_metrics=True):
        assert len(_sampler_threads()) == 1
        # No read connection may be open across the fork: dropping an inherited DuckDB connection in the
        # child crashes it (a store matter, handled on its own); the sampler itself only writes.
        MlflowClient()._store.reader.close()
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        child = ctx.Process(target=_child_checks, args=(queue,))
        child.start()
        child.join(30)
        assert child.exitcode == 0
        assert queue.get(timeout=5) == (0, {})
        assert len(_sampler_threads()) == 1  # the parent's sampler goes on


def test_missing_psutil_names_the_install_command(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['psutil'] = None\n"
        "import lite_tracker as mlflow\n"
        f"mlflow.set_tracking_uri({str(tmp_path / 't.duckdb')!r})\n"
        "try:\n"
        "    mlflow.start_run(log_system_metrics=True)\n"
        "except mlflow.LiteTrackerException as e:\n"
        "    print(e.error_code, e.message)\n"
        "print(mlflow.active_run())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert "INVALID_STATE System metrics need psutil: pip install 'lite-tracker[system-metrics]'" in out.stdout
    assert out.stdout.strip().endswith("None")  # no run was started
