"""SIGTERM during a long DuckDB call inside a run ends the process promptly, and the run ends KILLED
with everything flushed before it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lite_tracker import MlflowClient

_SLOW = "SELECT sum(a.range * b.range) AS s FROM range(400000) a, range(400000) b"  # minutes of work

_WORKER = f"""
import sys
import lite_tracker as mlflow
mlflow.set_tracking_uri(sys.argv[1])
run = mlflow.start_run()
for i in range(50):
    mlflow.log_metric("x", float(i), step=i)
mlflow.flush()
client = mlflow.MlflowClient()
print("ready", run.info.run_id, flush=True)
if sys.argv[2] == "sql":
    client.sql({_SLOW!r}, timeout=3600)
elif sys.argv[2] == "reader":
    with client._store.session() as con:
        con.execute({_SLOW!r}).fetchall()
else:
    with client._store.session() as con:
        con.sql({_SLOW!r}).to_arrow_table()
print("finished", flush=True)
"""


@pytest.mark.parametrize("where", ["sql", "reader", "arrow"])
def test_sigterm_during_a_slow_query_ends_the_process_promptly_and_the_run_killed(
        store_path: Path, where: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _WORKER, str(store_path), where], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline().split()
    assert line[:1] == ["ready"], proc.stderr.read()
    time.sleep(1.0)  # well inside the query
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == -signal.SIGTERM
    took = time.monotonic() - sent
    assert proc.stdout.read() == ""  # the query never finished
    proc.stdout.close()
    proc.stderr.close()
    assert took < 10, f"SIGTERM took {took:.1f}s to end the process"
    client = MlflowClient(str(store_path))
    run = client.get_run(line[1])
    assert run.info.status == "KILLED" and run.info.end_time is not None
    assert [m.step for m in client.get_metric_history(line[1], "x")] == list(range(50))


def test_closing_a_store_interrupts_a_compaction_under_way_instead_of_abandoning_it(
        client: MlflowClient) -> None:
    from lite_tracker.entities import Metric

    run = client.create_run("0").info.run_id
    for k in range(40):
        client.log_batch(run, [Metric(f"m{k % 5}", float(i), 0, i) for i in range(k * 10_000, (k + 1) * 10_000)])
    client.flush()
    store = client._store
    store.stop_compactor()
    store.start_compactor()
    deadline = time.monotonic() + 60
    while store._compacting is None:  # wait until the compactor is inside DuckDB
        assert time.monotonic() < deadline, "the compactor never started"
        time.sleep(0.001)
    started = time.monotonic()
    store.stop_compactor(timeout=0)
    assert store._compactor is not None and not store._compactor.is_alive()
    assert time.monotonic() - started < 10
    assert store.compact() is not None
    got = client.get_metric_history(run, "m0")
    assert [m.step for m in got] == sorted(s for k in range(0, 40, 5) for s in range(k * 10_000, (k + 1) * 10_000))
