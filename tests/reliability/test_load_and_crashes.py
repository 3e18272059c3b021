"""Load and crashes, with figures: N writer processes of mixed logging plus a searching reader and a
UI server polled like the runs page and its charts end with exact counts and zero errors; writers
killed with SIGKILL at random moments (compaction included) lose nothing they flushed and count it
exactly once.

CI runs 4 writers x 8 s and 30 kills; ``LITE_TRACKER_SOAK=1`` runs 16 writers x 60 s and 200 kills. Set
``LITE_TRACKER_FIGURES=path.json`` to keep the figures (RELIABILITY.md quotes them).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _faults import assert_verified
from conftest import free_port
from test_multiprocess import _kill_at_random

from lite_tracker import MlflowClient

SOAK = os.environ.get("LITE_TRACKER_SOAK") == "1"
WRITERS, SECONDS, KILLS = (16, 60.0, 200) if SOAK else (4, 8.0, 30)
# Rounds per second of each writer (1,100 points, a param and a tag each): 16 writers log about 90,000
# points/s, far more than a sweep of real training jobs. Unpaced, the writers of this test log 300,000+
# points/s on two cores, more than compaction folds, and query time grows with the backlog (RELIABILITY.md).
ROUNDS_PER_S = 5.0

# One writer: a run with metrics in single calls and in batches, params, tags and an artifact per
# round, until its time is up; it reports exactly what it logged on its last line.
_WRITER = """
import json, sys, time
from lite_tracker import MlflowClient
from lite_tracker.entities import Metric, Param, RunTag
client = MlflowClient(sys.argv[1])
exp = client.get_experiment_by_name("load").experiment_id
run = client.create_run(exp).info.run_id
deadline = time.monotonic() + float(sys.argv[2])
pace = 1 / float(sys.argv[3])
single = batched = rounds = 0
next_round = time.monotonic()
while time.monotonic() < deadline:
    next_round += pace
    time.sleep(max(0.0, next_round - time.monotonic()))
    for _ in range(100):
        client.log_metric(run, "single", float(single), step=single)
        single += 1
    client.log_batch(run, [Metric("batched", float(i), 0, i) for i in range(batched, batched + 1000)],
                     [Param(f"p{rounds}", str(rounds))], [RunTag("round", str(rounds))])
    batched += 1000
    if rounds % 10 == 0:
        client.log_text(run, str(rounds), f"notes/{rounds}.txt")
    rounds += 1
client.set_terminated(run)
print(json.dumps({"run": run, "single": single, "batched": batched, "rounds": rounds}), flush=True)
"""


def _figures(name: str, values: dict[str, Any]) -> None:
    path = os.environ.get("LITE_TRACKER_FIGURES")
    if not path:
        return
    found = json.loads(Path(path).read_text()) if Path(path).exists() else {}
    found[name] = values
    Path(path).write_text(json.dumps(found, indent=2, sort_keys=True) + "\n")


def _reader(store: Path, stop: threading.Event, latencies: list[float], errors: list[str]) -> None:
    """Search like a user and poll like the UI until told to stop, timing every query."""
    client = MlflowClient(str(store))
    exp = client.get_experiment_by_name("load")
    assert exp is not None
    queries = [
        lambda: client.search_runs([exp.experiment_id], "metrics.batched >= 0", order_by=["metrics.single DESC"]),
        lambda: client.search_runs([exp.experiment_id], "params.p0 = '0'", max_results=5),
        lambda: client.search_experiments(),
    ]
    i = 0
    while not stop.is_set():
        started = time.perf_counter()
        try:
            queries[i % len(queries)]()
        except Exception as e:  # any error is a failure of the load test: count it, keep reading
            errors.append(repr(e))
        latencies.append(time.perf_counter() - started)
        i += 1
        stop.wait(0.05)


def _get(url: str, timeout: float = 120.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.loads(answer.read())


def _ui_server(store: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``lite-tracker ui`` on a free port, answering."""
    port = free_port()
    command = str(Path(sys.executable).parent / "lite-tracker")
    proc = subprocess.Popen([command, "ui", "--store", str(store), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            _get(f"{base}/api/lite/experiments", timeout=5)
            return proc, base
        except (urllib.error.URLError, OSError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the UI server did not start: {proc.communicate()[1]!r}") from None
            time.sleep(0.2)


def _ui_poller(base: str, experiment_id: str, stop: threading.Event, latencies: list[float],
               errors: list[str]) -> None:
    """Poll like the runs page with live refresh (every second here; the page does it every 3 s) and its
    charts: one page of runs, then the downsampled histories of those runs."""
    while not stop.is_set():
        started = time.perf_counter()
        try:
            runs = _get(f"{base}/api/lite/runs?experiment_ids={experiment_id}")["runs"]
            ids = ",".join(r["run_id"] for r in runs[:10])
            if ids:
                _get(f"{base}/api/lite/metrics/bulk?run_ids={ids}&max_points=500")
        except Exception as e:  # any error is a failure of the load test: count it, keep polling
            errors.append(f"UI: {e!r}")
        latencies.append(time.perf_counter() - started)
        stop.wait(1.0)


def test_writers_and_a_reader_under_load_end_exact_with_zero_errors(store_path: Path) -> None:
    client = MlflowClient(str(store_path))
    experiment_id = client.create_experiment("load")
    stop = threading.Event()
    latencies: list[float] = []
    ui_latencies: list[float] = []
    errors: list[str] = []
    ui, base = _ui_server(store_path)
    reader = threading.Thread(target=_reader, args=(store_path, stop, latencies, errors))
    poller = threading.Thread(target=_ui_poller, args=(base, experiment_id, stop, ui_latencies, errors))
    reader.start()
    poller.start()
    started = time.monotonic()

    def writer(_: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", _WRITER, str(store_path), str(SECONDS), str(ROUNDS_PER_S)],
                              capture_output=True, text=True, timeout=SECONDS + 300)

    try:
        with ThreadPoolExecutor(WRITERS) as pool:
            results = list(pool.map(writer, range(WRITERS)))
    finally:
        stop.set()
        reader.join(60)
        poller.join(150)
        ui.terminate()
        _, ui_err = ui.communicate(timeout=30)
    elapsed = time.monotonic() - started
    assert b"Traceback" not in ui_err, ui_err.decode(errors="replace")[-2000:]
    for r in results:
        assert r.returncode == 0 and r.stderr == "", r.stderr[-2000:]
    assert errors == [], "\n".join(errors)
    logged = [json.loads(r.stdout.splitlines()[-1]) for r in results]
    client._store.compact()
    for w in logged:
        run = client.get_run(w["run"])
        assert run.info.status == "FINISHED"
        assert [m.step for m in client.get_metric_history(w["run"], "single")] == list(range(w["single"]))
        assert [m.step for m in client.get_metric_history(w["run"], "batched")] == list(range(w["batched"]))
        assert run.data.params == {f"p{i}": str(i) for i in range(w["rounds"])}
        assert run.data.tags["round"] == str(w["rounds"] - 1)
        assert len(client.list_artifacts(w["run"], "notes")) == len(range(0, w["rounds"], 10))
    points = sum(w["single"] + w["batched"] for w in logged)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    ui_cuts = statistics.quantiles(ui_latencies, n=100, method="inclusive")
    _figures("load", {"writers": WRITERS, "seconds": SECONDS, "points": points,
                      "points_per_s": round(points / elapsed), "params": sum(w["rounds"] for w in logged),
                      "queries": len(latencies), "reader_p50_ms": round(cuts[49] * 1000, 1),
                      "reader_p99_ms": round(cuts[98] * 1000, 1), "reader_max_ms": round(max(latencies) * 1000, 1),
                      "ui_polls": len(ui_latencies), "ui_p50_ms": round(ui_cuts[49] * 1000, 1),
                      "ui_p99_ms": round(ui_cuts[98] * 1000, 1), "ui_max_ms": round(max(ui_latencies) * 1000, 1),
                      "errors": len(errors)})


def test_sigkill_at_random_moments_loses_nothing_flushed(store_path: Path) -> None:
    with ThreadPoolExecutor(4) as pool:  # four at a time into the same store
        killed = list(pool.map(lambda i: _kill_at_random(store_path, random.Random(i)), range(KILLS)))
    client = MlflowClient(str(store_path))
    for _ in range(3):  # the first compaction after the kills may meet another process's lock
        if client._store.compact() is not None:
            break
    durable = 0
    for run_id, last in killed:
        steps = [m.step for m in client.get_metric_history(run_id, "x")]
        assert steps == list(range(len(steps))), f"gap or duplicate in {run_id}"
        assert len(steps) - 1 >= last, f"{run_id}: lost flushed points ({len(steps) - 1} < {last})"
        assert client.get_run(run_id).info.status == "KILLED"
        durable += last + 1
    assert client._store.pending_count() == 0
    assert_verified(store_path)
    _figures("kills", {"kills": KILLS, "flushed_points_checked": durable, "lost": 0, "duplicated": 0})
