"""Fork scenarios for tests/test_fork.py, and the tasks its multiprocessing pools run.

Run as `python _forker.py MODE STORE ...` so forked children can end the normal way (``sys.exit``:
atexit handlers, garbage collection, interpreter finalization), which a child of pytest cannot.
Each mode prints one JSON line for the test to check.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

import lite_tracker as mlflow
from lite_tracker import MlflowClient

CHILD_POINTS = 5


def wait_exit(pid: int, timeout: float = 30.0) -> int:
    """The exit code of child ``pid`` (minus the signal number if a signal ended it); a child still
    running after ``timeout`` seconds is killed and reported as ``-999``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return -999


# ---------------------------------------------------------------- pool tasks


def idle(i: int) -> int:
    """A worker that never touches lite_tracker."""
    return i * i


def log_to_active_run(i: int) -> int:
    """Log to the run the worker inherited from its parent's ``with start_run()``, durably."""
    for j in range(CHILD_POINTS):
        mlflow.log_metric("child", float(j), step=i * CHILD_POINTS + j)
    mlflow.flush()
    return i


def log_own_run(i: int) -> str:
    """Start a run of the worker's own (nested under the parent's run if one is active) and log to it."""
    with mlflow.start_run(nested=mlflow.active_run() is not None) as run:
        for j in range(CHILD_POINTS):
            mlflow.log_metric("child", float(j), step=j)
    return run.info.run_id


def by_kind(args: tuple[str, int]) -> object:
    """Run the task named ``args[0]`` (idle, parent, own) on ``args[1]``."""
    kind, i = args
    return {"idle": idle, "parent": log_to_active_run, "own": log_own_run}[kind](i)


def log_by_run_id(args: tuple[str, str, int]) -> int:
    """Log to a run by id through the object API (works under every start method)."""
    uri, run_id, i = args
    client = MlflowClient(uri)
    for j in range(CHILD_POINTS):
        client.log_metric(run_id, "child", float(j), step=i * CHILD_POINTS + j)
    client.flush()
    return os.getpid()


# ---------------------------------------------------------------- scenarios


def _child(what: str, exit_how: str, i: int) -> None:
    """The body of a forked child: never returns."""
    code = 0
    try:
        if what == "parent":
            for j in range(CHILD_POINTS):
                mlflow.log_metric("child", float(j), step=i * CHILD_POINTS + j)
        elif what == "own":
            log_own_run(i)
        if exit_how == "os":
            mlflow.flush()
    except BaseException as e:  # report it through the exit status
        print(f"child {i} failed: {e!r}", file=sys.stderr, flush=True)
        code = 3
    if exit_how == "os":
        os._exit(code)
    sys.exit(code)


def rounds(store: str, where: str, n: str) -> None:
    """``n`` rounds of: the parent logs and reads, then forks at once one child of each kind (idle,
    own: log a run of its own, and with ``where=run`` parent: log to the parent's run), ending through
    ``os._exit`` in even rounds and ``sys.exit`` in odd ones, and waits for them; a parent's run must
    still be RUNNING after each round."""
    mlflow.set_tracking_uri(store)
    mlflow.set_experiment("fork")
    client = MlflowClient(store)
    kinds = ["idle", "own"] + (["parent"] if where == "run" else [])
    statuses, running = [], []
    run_id = None
    if where == "run":
        run_id = mlflow.start_run().info.run_id
    for i in range(int(n)):
        if where == "run":
            mlflow.log_metric("parent", float(i), step=i)
        else:
            with mlflow.start_run():
                mlflow.log_metric("parent", float(i), step=i)
        mlflow.search_runs(output_format="list")
        pids = []
        for what in kinds:
            pid = os.fork()
            if pid == 0:
                _child(what, "os" if i % 2 == 0 else "sys", i)
            pids.append(pid)
        statuses += [wait_exit(pid) for pid in pids]
        if run_id is not None:
            running.append(client.get_run(run_id).info.status)
    if where == "run":
        mlflow.end_run()
    print(json.dumps({"run_id": run_id, "statuses": statuses, "running": running}), flush=True)


def storm(store: str, n: str) -> None:
    """Fork ``n`` times while a thread logs heavily (flusher and compactor busy, see the test's
    environment); children alternate: idle, log to the parent's run, log a run of their own, each
    ending through ``os._exit`` or ``sys.exit``."""
    mlflow.set_tracking_uri(store)
    mlflow.set_experiment("storm")
    run = mlflow.start_run()
    stop = threading.Event()
    logged = [0]

    def log_heavily() -> None:
        client = MlflowClient(store)
        while not stop.is_set():
            for _ in range(200):
                client.log_metric(run.info.run_id, "bg", float(logged[0]), step=logged[0])
                logged[0] += 1
            client.search_runs([run.info.experiment_id], max_results=5)

    thread = threading.Thread(target=log_heavily)
    thread.start()
    kinds = [(what, how) for what in ("idle", "parent", "own") for how in ("os", "sys")]
    statuses, forks = [], {k: 0 for k in ("idle", "parent", "own")}
    for i in range(int(n)):
        what, how = kinds[i % len(kinds)]
        pid = os.fork()
        if pid == 0:
            _child(what, how, i)
        statuses.append(wait_exit(pid))
        forks[what] += 1
    stop.set()
    thread.join()
    mlflow.end_run()
    print(json.dumps({"run_id": run.info.run_id, "statuses": statuses, "forks": forks, "bg": logged[0]}),
          flush=True)


if __name__ == "__main__":
    {"rounds": rounds, "storm": storm}[sys.argv[1]](*sys.argv[2:])
