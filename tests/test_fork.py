"""fork() is a non-event: children that never touch lite_tracker exit cleanly, children that log land
their data, and the parent keeps logging and reading; plus spawn and forkserver pools for contrast."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from _forker import CHILD_POINTS, by_kind, log_by_run_id, wait_exit

import lite_tracker as mlflow
from lite_tracker import MlflowClient
from lite_tracker.store.locks import exclusive

HERE = Path(__file__).parent
ROUNDS = 20


def _forker(*args: str, env: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    proc = subprocess.run([sys.executable, str(HERE / "_forker.py"), *args], capture_output=True, text=True,
                          timeout=90, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["statuses"] == [0] * len(out["statuses"]), f"children failed:\n{proc.stderr[-3000:]}"
    return out  # type: ignore[no-any-return]


def _experiment_runs(store: Path, name: str) -> list[mlflow.entities.Run]:
    client = MlflowClient(str(store))
    exp = client.get_experiment_by_name(name)
    assert exp is not None
    return client.search_runs([exp.experiment_id], max_results=1000)


# ---------------------------------------------------------------- os.fork, children ending every way


def test_forked_children_inside_a_run(store_path: Path) -> None:
    out = _forker("rounds", str(store_path), "run", str(ROUNDS))
    assert out["statuses"] == [0] * (3 * ROUNDS)
    assert out["running"] == ["RUNNING"] * ROUNDS  # children's exits did not end the parent's run
    client = MlflowClient(str(store_path))
    run_id = out["run_id"]
    assert [m.step for m in client.get_metric_history(run_id, "parent")] == list(range(ROUNDS))
    assert [m.step for m in client.get_metric_history(run_id, "child")] == list(range(ROUNDS * CHILD_POINTS))
    runs = _experiment_runs(store_path, "fork")
    assert len(runs) == 1 + ROUNDS
    assert {r.info.status for r in runs} == {"FINISHED"}
    children = [r for r in runs if r.info.run_id != run_id]
    assert {r.data.tags.get("mlflow.parentRunId") for r in children} == {run_id}
    assert all(len(client.get_metric_history(r.info.run_id, "child")) == CHILD_POINTS for r in children)


def test_forked_children_outside_a_run(store_path: Path) -> None:
    out = _forker("rounds", str(store_path), "none", str(ROUNDS))
    assert out["statuses"] == [0] * (2 * ROUNDS)
    runs = _experiment_runs(store_path, "fork")
    assert len(runs) == 2 * ROUNDS
    assert {r.info.status for r in runs} == {"FINISHED"}
    children = [r for r in runs if "child" in r.data.metrics]
    assert len(children) == ROUNDS
    client = MlflowClient(str(store_path))
    assert all(len(client.get_metric_history(r.info.run_id, "child")) == CHILD_POINTS for r in children)
    assert all(len(client.get_metric_history(r.info.run_id, "parent")) == 1 for r in runs if r not in children)


def test_fork_while_the_flusher_and_compactor_work(store_path: Path) -> None:
    out = _forker("storm", str(store_path), str(ROUNDS), env={"LITE_TRACKER_FLUSH_INTERVAL": "0.002",
                                                            "LITE_TRACKER_COMPACT_INTERVAL": "0.005"})
    assert out["statuses"] == [0] * ROUNDS
    client = MlflowClient(str(store_path))
    run_id = out["run_id"]
    assert len(client.get_metric_history(run_id, "bg")) == out["bg"]
    assert len(client.get_metric_history(run_id, "child")) == out["forks"]["parent"] * CHILD_POINTS
    runs = _experiment_runs(store_path, "storm")
    assert len(runs) == 1 + out["forks"]["own"]
    assert {r.info.status for r in runs} == {"FINISHED"}


def test_a_child_does_not_keep_the_parents_file_locks(store_path: Path) -> None:
    """A thread holds the store's experiment lock while another forks: the child (alive for seconds)
    must not keep that lock held after the parent's thread lets go."""
    client = MlflowClient(str(store_path))
    held, release = threading.Event(), threading.Event()

    def hold_experiment_lock() -> None:
        with exclusive(client._store.layout.locks / "meta.lock", 10, "experiment lock"):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold_experiment_lock)
    thread.start()
    assert held.wait(10)
    pid = os.fork()
    if pid == 0:  # never return into pytest
        try:
            time.sleep(3)
        finally:
            os._exit(0)
    release.set()
    thread.join()
    start = time.monotonic()
    client.create_experiment("after the fork")
    assert time.monotonic() - start < 2
    assert wait_exit(pid) == 0


def test_a_child_forked_during_a_compaction_reads_the_store(store_path: Path) -> None:
    """fork() waits while a thread has the DuckDB file open for writing (as compaction does): DuckDB
    registers open files process-wide, so a child inheriting one could never open the store itself."""
    import duckdb

    client = MlflowClient(str(store_path))
    run = client.create_run("0")
    client.log_metric(run.info.run_id, "m", 1.0)
    client.flush()
    is_open = threading.Event()

    def compaction_like() -> None:
        with client._store.rw.write():
            con = duckdb.connect(str(store_path))
            is_open.set()
            time.sleep(0.5)
            con.close()

    thread = threading.Thread(target=compaction_like)
    thread.start()
    assert is_open.wait(10)
    pid = os.fork()
    if pid == 0:  # never return into pytest
        code = 1
        try:
            code = 0 if client.get_metric_history(run.info.run_id, "m")[0].value == 1.0 else 2
        finally:
            os._exit(code)
    thread.join()
    assert wait_exit(pid) == 0
    assert client.get_metric_history(run.info.run_id, "m")[0].value == 1.0


# ---------------------------------------------------------------- multiprocessing


def _run_pool(method: str, task: object, args: list[object]) -> list[object]:
    """Map ``task`` over ``args`` in a 2-worker pool; every worker must exit with status 0."""
    pool = multiprocessing.get_context(method).Pool(2)
    try:
        result = pool.map_async(task, args).get(timeout=60)  # type: ignore[arg-type]
        workers = list(pool._pool)  # type: ignore[attr-defined]
        pool.close()
        joiner = threading.Thread(target=pool.join, daemon=True)
        joiner.start()
        joiner.join(30)
        assert not joiner.is_alive(), "pool workers hang at exit"
    finally:
        pool.terminate()
    assert [w.exitcode for w in workers] == [0, 0]
    return result


@pytest.mark.parametrize("inside_run", [True, False])
def test_fork_pools(fluent, store_path: Path, inside_run: bool) -> None:  # type: ignore[no-untyped-def]
    """Each round a fresh pool runs one idle task, one that logs a run of its own and, inside a run,
    one that logs to the parent's run; the parent logs and reads in between."""
    fluent.set_experiment("pool")
    kinds = ["idle", "own"] + (["parent"] if inside_run else [])
    child_ids: list[object] = []
    with fluent.start_run() if inside_run else contextlib.nullcontext() as run:
        for i in range(ROUNDS):
            with contextlib.nullcontext() if inside_run else fluent.start_run():
                fluent.log_metric("parent", float(i), step=i)
            results = _run_pool("fork", by_kind, [(kind, i) for kind in kinds])
            assert results[0] == i * i
            child_ids.append(results[1])
            fluent.search_runs(output_format="list")
    runs = _experiment_runs(store_path, "pool")
    client = MlflowClient(str(store_path))
    assert len(set(child_ids)) == ROUNDS
    assert all(len(client.get_metric_history(str(rid), "child")) == CHILD_POINTS for rid in child_ids)
    assert {r.info.status for r in runs} == {"FINISHED"}
    if inside_run:
        assert len(runs) == 1 + ROUNDS
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "child")]
        assert steps == list(range(ROUNDS * CHILD_POINTS))
        assert len(client.get_metric_history(run.info.run_id, "parent")) == ROUNDS
    else:
        assert len(runs) == 2 * ROUNDS


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_spawn_and_forkserver_workers_log_to_the_parents_run(fluent, store_path: Path, method: str) -> None:  # type: ignore[no-untyped-def]
    with fluent.start_run() as run:
        fluent.log_metric("parent", 0.0)
        fluent.flush()  # the workers read the run from the store
        args = [(str(store_path), run.info.run_id, i) for i in range(ROUNDS)]
        pids = _run_pool(method, log_by_run_id, args)
        fluent.log_metric("parent", 1.0)
    assert os.getpid() not in pids
    client = MlflowClient(str(store_path))
    assert [m.step for m in client.get_metric_history(run.info.run_id, "child")] == list(range(ROUNDS * CHILD_POINTS))
    assert len(client.get_metric_history(run.info.run_id, "parent")) == 2
    assert client.get_run(run.info.run_id).info.status == "FINISHED"


def test_a_forked_process_lands_its_data_without_an_explicit_flush(fluent, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A fork-context Process logging to the parent's run ends through multiprocessing's own exit path
    (no atexit): what it logged still lands."""
    ctx = multiprocessing.get_context("fork")
    with fluent.start_run() as run:
        fluent.log_metric("parent", 0.0)
        procs = [ctx.Process(target=_log_without_flush, args=(i,)) for i in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        assert [p.exitcode for p in procs] == [0] * 4
        history = MlflowClient(str(store_path)).get_metric_history(run.info.run_id, "child")
        assert sorted(m.step for m in history) == list(range(4 * CHILD_POINTS))


def _log_without_flush(i: int) -> None:
    for j in range(CHILD_POINTS):
        mlflow.log_metric("child", float(j), step=i * CHILD_POINTS + j)

