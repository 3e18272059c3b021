"""Real processes against one store: concurrent writers, kill -9 at random moments, signals, resume."""

from __future__ import annotations

import os
import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import run_worker, start_worker

from lite_tracker import MlflowClient
from lite_tracker.store.catalog import FORMAT_VERSION


def test_eight_processes_log_into_one_store_exactly(store_path: Path) -> None:
    n = 2000
    with ThreadPoolExecutor(8) as pool:
        procs = list(pool.map(lambda i: run_worker("log_n", str(store_path), str(n), f"w{i}"), range(8)))
    run_ids = [p.stdout.split()[0] for p in procs]
    client = MlflowClient(str(store_path))
    exp = client.get_experiment_by_name("sweep")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], max_results=100)
    assert sorted(r.info.run_id for r in runs) == sorted(run_ids)
    for rid in run_ids:
        hist = client.get_metric_history(rid, "m")
        assert [m.step for m in hist] == list(range(n)), rid
        assert [m.value for m in hist] == [float(i) for i in range(n)]
        assert client.get_run(rid).info.status == "FINISHED"
    client._store.compact()
    assert sum(len(client.get_metric_history(r, "m")) for r in run_ids) == 8 * n


def _kill_at_random(store: Path, rng: random.Random) -> tuple[str, int]:
    """Start a writer, wait a random time, kill -9; return its run id and last durable step."""
    proc = start_worker("log_forever", str(store), env={"LITE_TRACKER_FLUSH_INTERVAL": "0.05",
                                                         "LITE_TRACKER_COMPACT_INTERVAL": "0.05"})
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert line[:1] == ["run"], proc.stderr.read() if proc.stderr else ""
    run_id, durable = line[1], -1
    deadline = time.monotonic() + rng.uniform(0.2, 1.0)
    while time.monotonic() < deadline:
        out = proc.stdout.readline().split()
        if out[:1] == ["durable"]:
            durable = int(out[1])
    proc.kill()
    proc.wait()
    for out in proc.stdout.read().splitlines():  # lines printed before the kill landed
        if out.startswith("durable"):
            durable = int(out.split()[1])
    proc.stdout.close()
    assert proc.stderr is not None
    proc.stderr.close()
    return run_id, durable


def test_kill_9_loop_never_loses_flushed_data_or_breaks_the_store(store_path: Path) -> None:
    rng = random.Random(7)
    killed: list[tuple[str, int]] = []
    for _ in range(22):
        killed.append(_kill_at_random(store_path, rng))
    client = MlflowClient(str(store_path))
    for _ in range(3):  # the reopened store compacts without user action
        if client._store.compact() is not None:
            break
    for run_id, durable in killed:
        steps = [m.step for m in client.get_metric_history(run_id, "x")]
        assert steps == list(range(len(steps))), f"gap or duplicate in {run_id}"
        assert len(steps) - 1 >= durable, f"{run_id}: lost flushed points ({len(steps) - 1} < {durable})"
        assert client.get_run(run_id).info.status == "KILLED"
    assert client._store.pending_count() == 0


def test_sigterm_marks_run_killed_and_keeps_points(store_path: Path) -> None:
    proc = start_worker("wait_for_signal", str(store_path))
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert line[0] == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == -signal.SIGTERM
    proc.stdout.close()
    assert proc.stderr is not None
    proc.stderr.close()
    client = MlflowClient(str(store_path))
    run = client.get_run(line[1])
    assert run.info.status == "KILLED" and run.info.end_time is not None
    assert len(client.get_metric_history(line[1], "y")) == 100


def test_kill_9_run_reported_killed_then_persisted(store_path: Path) -> None:
    proc = start_worker("wait_for_signal", str(store_path))
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    client = MlflowClient(str(store_path))
    assert client.get_run(line[1]).info.status == "RUNNING"
    proc.kill()
    proc.wait()
    proc.stdout.close()
    assert proc.stderr is not None
    proc.stderr.close()
    assert client.get_run(line[1]).info.status == "KILLED"  # lock free: dead
    result = client._store.compact()
    assert result is not None and line[1] in result.killed_runs
    assert client._store.rows("SELECT status FROM runs WHERE run_id = ?", [line[1]]) == [("KILLED",)]
    assert not (store_path.parent / (store_path.name + ".d") / "live" / f"{line[1]}.lock").exists()


def test_uncaught_exception_marks_failed(store_path: Path) -> None:
    proc = start_worker("fail", str(store_path))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "boom" in err
    assert MlflowClient(str(store_path)).get_run(out.split()[0]).info.status == "FAILED"


def test_resume_from_another_process(store_path: Path) -> None:
    client = MlflowClient(str(store_path))
    run = client.create_run("0")
    client.log_param(run.info.run_id, "first", "yes")
    client.set_terminated(run.info.run_id)
    run_worker("resume", str(store_path), run.info.run_id)
    got = client.get_run(run.info.run_id)
    assert got.data.params == {"first": "yes", "second": "yes"}
    assert got.data.metrics == {"resumed": 1.0} and got.info.status == "FINISHED"


def test_reader_polls_while_writers_write_and_compact(store_path: Path) -> None:
    client = MlflowClient(str(store_path))
    procs = [start_worker("log_n", str(store_path), "3000", f"w{i}") for i in range(3)]
    errors, reads = [], 0
    while any(p.poll() is None for p in procs):
        try:
            client._store.rows("SELECT count(*) FROM metrics")
            reads += 1
        except Exception as e:  # the point of the test: there must be none
            errors.append(e)
        time.sleep(0.01)
    for p in procs:
        _, err = p.communicate()
        assert p.returncode == 0, err
    assert errors == [] and reads > 5
    assert client._store.rows("SELECT count(*) FROM metrics") == [(9000,)]


def test_concurrent_set_experiment_creates_one(store_path: Path) -> None:
    MlflowClient(str(store_path))  # create the store first
    with ThreadPoolExecutor(6) as pool:
        procs = list(pool.map(lambda i: run_worker("log_n", str(store_path), "1", f"w{i}"), range(6)))
    assert all(p.returncode == 0 for p in procs)
    client = MlflowClient(str(store_path))
    names = [e.name for e in client.search_experiments()]
    assert names.count("sweep") == 1


def test_format_version_recorded(store_path: Path) -> None:
    client = MlflowClient(str(store_path))
    assert client._store.rows("SELECT value FROM s.meta WHERE key = 'format_version'") == [(str(FORMAT_VERSION),)]
    assert os.path.exists(store_path)
