"""What MLflow guarantees across writers holds across processes: a param keeps its first value, and a
run deleted by one process takes no more logging from another."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lite_tracker import MlflowClient
from lite_tracker.errors import InvalidParameterValue

# A second process that starts logging to a run (so it caches the run), then runs each command line
# it reads ("param KEY VALUE", "metric KEY", "flush") and answers "ok" or the error code and message.
_OTHER = """
import sys
from lite_tracker import MlflowClient
from lite_tracker.errors import LiteTrackerException
client = MlflowClient(sys.argv[1])
run = sys.argv[2]
client.log_metric(run, "other", 0.0)
client.flush()
print("ready", flush=True)
for line in sys.stdin:
    cmd, *args = line.split()
    try:
        if cmd == "param":
            client.log_param(run, args[0], args[1])
        elif cmd == "metric":
            client.log_metric(run, args[0], 1.0)
        client.flush()
        print("ok", flush=True)
    except LiteTrackerException as e:
        print(e.error_code, e.message.replace(chr(10), " "), flush=True)
"""


class _Other:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc

    def do(self, command: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()


@contextmanager
def _other_process(store: Path, run_id: str) -> Iterator[_Other]:
    proc = subprocess.Popen([sys.executable, "-c", _OTHER, str(store), run_id], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield _Other(proc)
    finally:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()
        proc.wait(timeout=60)
        proc.stdout.close()


def test_a_param_another_process_logged_is_immutable_there_too(store_path: Path) -> None:
    client = MlflowClient(str(store_path))
    run = client.create_run("0").info.run_id
    client.flush()
    with _other_process(store_path, run) as other:
        client.log_param(run, "lr", "0.1")
        client.flush()
        answer = other.do("param lr 0.2")
        assert answer.startswith("INVALID_PARAMETER_VALUE") and "value='0.1'" in answer, answer
        assert other.do("param lr 0.1") == "ok"  # the same value again is fine, as in MLflow
        assert other.do("param batch 32") == "ok"
        with pytest.raises(InvalidParameterValue, match="value='32'"):
            client.log_param(run, "batch", "64")
    assert client.get_run(run).data.params == {"lr": "0.1", "batch": "32"}


def test_a_conflict_inside_the_remaining_window_is_reported_at_compaction(
        store_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = MlflowClient(str(store_path))
    run = client.create_run("0").info.run_id
    client.flush()
    with _other_process(store_path, run) as other:
        client.log_param(run, "seed", "1")  # buffered here, not yet flushed: the other cannot see it
        assert other.do("param seed 2") == "ok"
        client.flush()
    with caplog.at_level(logging.WARNING, "lite_tracker"):
        client._store.compact()
    assert "seed" in caplog.text and "'2'" in caplog.text and "'1'" in caplog.text, caplog.text
    assert client.get_run(run).data.params["seed"] in ("1", "2")


def test_a_run_deleted_by_another_process_takes_no_more_logging(store_path: Path) -> None:
    client = MlflowClient(str(store_path))
    run = client.create_run("0").info.run_id
    client.flush()
    with _other_process(store_path, run) as other:
        assert other.do("metric before") == "ok"
        client.delete_run(run)
        time.sleep(0.6)  # the other process re-checks a run's state at most every 0.5 s
        answer = other.do("metric after")
        assert answer.startswith("INVALID_PARAMETER_VALUE") and "must be in the 'active' state" in answer, answer
        client.restore_run(run)
        time.sleep(0.6)
        assert other.do("metric again") == "ok"
    assert set(client.get_run(run).data.metrics) == {"other", "before", "again"}
