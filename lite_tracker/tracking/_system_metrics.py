"""System metrics (MLflow's ``mlflow.system_metrics``): a background thread samples CPU, memory, disk,
network and, with ``pynvml`` and an NVIDIA driver, GPU use every few seconds and logs the averages to
the run under MLflow's ``system/...`` keys, until the run ends.

Switched on per run (``start_run(log_system_metrics=True)``) or for every run
(``enable_system_metrics_logging()`` / ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=true``). The settings live
in the environment, as MLflow keeps them, so subprocesses inherit them. ``psutil`` is imported only
when a monitor starts. A forked child has no sampler thread and forgets its parent's monitors.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from ..entities import Metric
from ..errors import InvalidParameterValue, InvalidState, LiteTrackerException
from .client import MlflowClient

log = logging.getLogger(__name__)

ENABLE_ENV = "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"
INTERVAL_ENV = "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"
SAMPLES_ENV = "MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING"
NODE_ID_ENV = "MLFLOW_SYSTEM_METRICS_NODE_ID"
DEFAULT_INTERVAL = 10.0
_MB = 1e6


def _set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def enable_system_metrics_logging() -> None:
    """Log system metrics for every run started from now on (sets ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING``).

    Example:
        >>> enable_system_metrics_logging()  # doctest: +SKIP
        >>> with lite_tracker.start_run():  # doctest: +SKIP
        ...     train()  # system/cpu_utilization_percentage ... every 10 s
    """
    _set_env(ENABLE_ENV, "true")


def disable_system_metrics_logging() -> None:
    """Stop logging system metrics for runs started from now on (``start_run(log_system_metrics=True)``
    still turns it on for one run)."""
    _set_env(ENABLE_ENV, "false")


def set_system_metrics_sampling_interval(interval: float | None) -> None:
    """Seconds between samples (``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL``; None restores the default, 10).

    Raises:
        InvalidParameterValue: ``interval`` is not a positive number.
    """
    _set_env(INTERVAL_ENV, None if interval is None else str(_positive(interval, "sampling interval")))


def set_system_metrics_samples_before_logging(samples: int | None) -> None:
    """Samples averaged into each logged point (``MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING``; default 1).

    Raises:
        InvalidParameterValue: ``samples`` is not a positive integer.
    """
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
        raise InvalidParameterValue(f"samples_before_logging must be an integer >= 1, got {samples!r}.")
    _set_env(SAMPLES_ENV, None if samples is None else str(samples))


def set_system_metrics_node_id(node_id: str | None) -> None:
    """Name this machine in the keys (``system/<node_id>/cpu_utilization_percentage``), for runs that
    span several machines (``MLFLOW_SYSTEM_METRICS_NODE_ID``; None removes it)."""
    _set_env(NODE_ID_ENV, node_id)


def enabled_by_env() -> bool:
    """Whether ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING`` asks for system metrics (unset: no)."""
    raw = os.environ.get(ENABLE_ENV, "").strip().lower()
    if raw in ("", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise InvalidParameterValue(f"{ENABLE_ENV} must be true, false, 1 or 0, got {os.environ[ENABLE_ENV]!r}.")


def _positive(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        raise InvalidParameterValue(f"The system metrics {what} must be a positive number of seconds, got {value!r}.")
    return float(value)


def _settings() -> tuple[float, int, str | None]:
    """Sampling interval, samples per logged point and node id, from the environment."""
    try:
        interval = _positive(float(os.environ.get(INTERVAL_ENV) or DEFAULT_INTERVAL), "sampling interval")
        samples = int(os.environ.get(SAMPLES_ENV) or 1)
    except ValueError as e:
        raise InvalidParameterValue(f"{INTERVAL_ENV} must be a number of seconds and {SAMPLES_ENV} an integer: {e}"
                                    ) from e
    if samples < 1:
        raise InvalidParameterValue(f"{SAMPLES_ENV} must be an integer >= 1, got {samples}.")
    return interval, samples, os.environ.get(NODE_ID_ENV) or None


def _psutil() -> Any:
    try:
        import psutil
    except ImportError as e:
        raise InvalidState(
            "System metrics need psutil: pip install 'lite-tracker[system-metrics]' (or pip install psutil)."
        ) from e
    return psutil


class _Gpus:
    """NVIDIA GPUs through pynvml, when it is installed and a driver answers; otherwise none."""

    def __init__(self) -> None:
        self.handles: list[Any] = []
        self.nvml: Any = None
        try:
            import pynvml
        except ImportError:
            return
        try:
            pynvml.nvmlInit()
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            self.nvml = pynvml
        except pynvml.NVMLError as e:
            log.warning("lite_tracker: pynvml is installed but found no GPU (%s); logging no GPU metrics", e)

    def sample(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for i, handle in enumerate(self.handles):
            memory = self.nvml.nvmlDeviceGetMemoryInfo(handle)
            out[f"gpu_{i}_memory_usage_percentage"] = memory.used / memory.total * 100
            out[f"gpu_{i}_memory_usage_megabytes"] = memory.used / _MB
            out[f"gpu_{i}_utilization_percentage"] = float(self.nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            try:
                watts = self.nvml.nvmlDeviceGetPowerUsage(handle) / 1000
                limit = self.nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000
            except self.nvml.NVMLError:
                continue  # some boards do not report power
            out[f"gpu_{i}_power_usage_watts"] = watts
            out[f"gpu_{i}_power_usage_percentage"] = watts / limit * 100 if limit else 0.0
        return out


class SystemMetricsMonitor:
    """The sampler thread of one run: samples every ``interval`` seconds and logs the average of every
    ``samples`` samples at steps 0, 1, 2, ... under ``system/`` (``system/<node_id>/`` with a node id)."""

    def __init__(self, client: MlflowClient, run_id: str, interval: float, samples: int,
                 node_id: str | None = None) -> None:
        self.psutil = _psutil()
        self.client = client
        self.run_id = run_id
        self.interval = interval
        self.samples = samples
        self.prefix = f"system/{node_id}/" if node_id else "system/"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gpus = _Gpus()
        self._net0 = self.psutil.net_io_counters()
        self.psutil.cpu_percent()  # the first reading only starts the measurement

    def start(self) -> None:
        """Start sampling in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name=f"lite_tracker-system-metrics-{self.run_id[:8]}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop sampling and wait for the thread to finish its last write."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def sample(self) -> dict[str, float]:
        """One reading of every metric, keyed by MLflow's names without the ``system/`` prefix."""
        ps = self.psutil
        memory = ps.virtual_memory()
        disk = ps.disk_usage(os.path.abspath(os.sep))
        net = ps.net_io_counters()
        out = {
            "cpu_utilization_percentage": float(ps.cpu_percent()),
            "system_memory_usage_megabytes": memory.used / _MB,
            "system_memory_usage_percentage": memory.used / memory.total * 100,
            "disk_usage_percentage": float(disk.percent),
            "disk_usage_megabytes": disk.used / _MB,
            "disk_available_megabytes": disk.free / _MB,
            "network_receive_megabytes": (net.bytes_recv - self._net0.bytes_recv) / _MB,
            "network_transmit_megabytes": (net.bytes_sent - self._net0.bytes_sent) / _MB,
        }
        out.update(self._gpus.sample())
        return out

    def _loop(self) -> None:
        step = 0
        pending: list[dict[str, float]] = []
        while not self._stop.wait(self.interval):
            pending.append(self.sample())
            if len(pending) < self.samples:
                continue
            now = int(time.time() * 1000)
            metrics = [Metric(self.prefix + key, sum(p[key] for p in pending) / len(pending), now, step)
                       for key in pending[-1] if all(key in p for p in pending)]
            pending = []
            try:
                self.client.log_batch(self.run_id, metrics=metrics)
            except LiteTrackerException as e:
                log.warning("lite_tracker: stopped logging system metrics of run %s: %s", self.run_id, e.message)
                return
            step += 1


_monitors: dict[str, SystemMetricsMonitor] = {}
_lock = threading.Lock()


def start_monitor(client: MlflowClient, run_id: str) -> SystemMetricsMonitor:
    """Start logging system metrics to ``run_id`` (settings from the environment)."""
    interval, samples, node_id = _settings()
    monitor = SystemMetricsMonitor(client, run_id, interval, samples, node_id)
    with _lock:
        previous = _monitors.pop(run_id, None)
        _monitors[run_id] = monitor
    if previous is not None:
        previous.stop()
    monitor.start()
    return monitor


def stop_monitor(run_id: str) -> None:
    """Stop the monitor of ``run_id``, if it has one."""
    with _lock:
        monitor = _monitors.pop(run_id, None)
    if monitor is not None:
        monitor.stop()


def check_available() -> None:
    """Raise the install hint now if psutil is missing (before a run is created)."""
    _psutil()


def _forget_after_fork() -> None:
    global _lock
    _lock = threading.Lock()
    _monitors.clear()  # the threads did not survive the fork; the child does not own the runs


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
