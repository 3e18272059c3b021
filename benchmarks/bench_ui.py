#!/usr/bin/env python3
"""Speed of the web UI (``lite-tracker ui``) against ``mlflow server`` on SQLite, over real HTTP.

Two stores per library are populated ONCE per invocation, in a subprocess, with the same seeded data:
``runs`` runs with ``params`` params, ``metrics`` metrics and ``tags`` tags in one experiment, and
``series_runs`` runs each holding a ``points``-long ``loss`` series in another. Both are built with the
library's own client and ``log_batch``; the lite_tracker store is then flushed and compacted.

For every repeat and library the parent starts a fresh server process (lite_tracker: ``python -m
lite_tracker ui``, uvicorn; MLflow: ``mlflow server --backend-store-uri sqlite:///...``), waits until it
answers, and runs each workload in a fresh client process: one warm-up request (reported as "first
call"), then ``calls`` timed requests (``time.perf_counter()`` around the request and the read of the
whole response body); the sample is their median. The last response is checked (untimed). Libraries
are interleaved within each repeat. The parent prints the medians, the ratios lite/mlflow, the targets,
then ONE JSON line; it exits 1 if a sample failed or returned a wrong result.

Workloads:

* ``runs_page``: the first page of the runs table. lite_tracker: ``GET /api/lite/runs`` exactly as the
  runs page asks for it (100 runs, default order, the first 8 metric and 8 param columns from
  ``/api/lite/columns``); MLflow: ``POST /ajax-api/2.0/mlflow/runs/search`` with ``max_results=100`` and
  ``order_by=["attributes.start_time DESC"]``, as MLflow's UI asks for it.
* ``chart_data``: the compare chart of the ``series_runs`` runs. lite_tracker: ``GET
  /api/lite/metrics/bulk`` (``max_points=1000``, what the compare page asks for); MLflow: ``GET
  /ajax-api/2.0/mlflow/metrics/get-history-bulk-interval`` (``max_results=1000``, what its charts ask for).
* ``browser_runs``: the runs page in headless Chromium (Playwright, ``/usr/bin/chromium``): time from
  ``page.goto`` to the first row of the runs table present, in a fresh browser context (cold cache)
  each call. lite_tracker only (MLflow's React UI is not timed here).

Usage::

    python benchmarks/bench_ui.py                   # full sizes, 3 repeats
    python benchmarks/bench_ui.py --quick           # 500 runs, 4 x 10,000 points: smoke run
    python benchmarks/bench_ui.py --stores DIR      # keep (and reuse) the populated stores in DIR
    python benchmarks/bench_ui.py --mlflow-runs 1000 --mlflow-points 10000  # smaller MLflow stores
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import logging
import math
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import _common
from _common import child_env, result_stream

LIBS = ("lite_tracker", "mlflow")
WORKLOADS = ("runs_page", "chart_data", "browser_runs")
UNSUPPORTED = {("mlflow", "browser_runs")}

SIZES: dict[str, int] = {"runs": 10_000, "params": 20, "metrics": 10, "tags": 3, "series_runs": 20,
                         "points": 100_000, "chunk": 1_000, "calls": 7}  # fmt: skip
QUICK_SIZES: dict[str, int] = {**SIZES, "runs": 500, "series_runs": 4, "points": 10_000}
POPULATE_KEYS = ("runs", "params", "metrics", "tags", "series_runs", "points", "chunk")

SEED = 20240601
PROJECT = "bench-ui"
SERIES_PROJECT = "bench-ui-series"
SERIES_KEY = "loss"
PAGE_SIZE = 100  # the runs table's page
DEFAULT_COLUMNS = 8  # metric and param columns the runs page shows at first (runs.js)
CHART_POINTS = 1000  # points per series the compare page asks for (compare.js)
BASE_TS = 1_700_000_000_000

TARGETS: dict[str, dict[str, float]] = {
    "runs_page": {"max_ms": 300, "mlflow": 10},
    "chart_data": {"max_ms": 500},
    "browser_runs": {"max_ms": 2000},
}

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
POPULATE_TIMEOUT_S = 4 * 3600.0
QUERY_TIMEOUT_S = 1800.0
SERVER_START_S = 120.0


# ----------------------------------------------------------------------------------------------
# The data (identical for both libraries)
# ----------------------------------------------------------------------------------------------


def make_runs(size: dict[str, int]) -> list[tuple[str, dict[str, str], dict[str, float], dict[str, str]]]:
    """``(name, params, metrics, tags)`` of every run of the table store, from a fixed seed."""
    rng = random.Random(SEED)
    runs = []
    for i in range(size["runs"]):
        params = {f"p{k:02d}": f"v{rng.randrange(10)}" for k in range(size["params"])}
        metrics = {f"m{k}": rng.random() for k in range(size["metrics"])}
        tags = {f"t{k}": rng.choice(("red", "green", "blue")) for k in range(size["tags"])}
        runs.append((f"run-{i:05d}", params, metrics, tags))
    return runs


def series_value(run: int, i: int) -> float:
    """A deterministic, non-trivial metric value."""
    return math.exp(-i * 1e-4) * (1 + 0.1 * run) + 0.01 * math.sin(i * 0.01)


def _store_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ----------------------------------------------------------------------------------------------
# Child side: population
# ----------------------------------------------------------------------------------------------


def backend_uri(lib: str, store: Path) -> str:
    """Where a library's store lives inside ``store``."""
    return f"sqlite:///{store / 'mlflow.db'}" if lib == "mlflow" else str(store / "lite_tracker.duckdb")


def populate(lib: str, store: Path, size: dict[str, int]) -> dict[str, Any]:
    """Log both data sets with the library's client (``log_batch``); return ids and timings."""
    import importlib

    mod: Any = importlib.import_module(lib)
    entities: Any = importlib.import_module(f"{lib}.entities")
    logging.getLogger(lib).setLevel(logging.WARNING)
    Metric, Param, RunTag = entities.Metric, entities.Param, entities.RunTag
    client: Any = mod.MlflowClient(tracking_uri=backend_uri(lib, store))
    out: dict[str, Any] = {}

    t0 = time.perf_counter()
    eid = str(client.create_experiment(PROJECT))
    for name, params, metrics, tags in make_runs(size):
        run_id = client.create_run(eid, run_name=name).info.run_id
        client.log_batch(run_id, metrics=[Metric(k, v, BASE_TS, 0) for k, v in metrics.items()],
                         params=[Param(k, v) for k, v in params.items()],
                         tags=[RunTag(k, v) for k, v in tags.items()])  # fmt: skip
        client.set_terminated(run_id)
    if lib == "lite_tracker":
        client.flush()
    out["runs_s"] = time.perf_counter() - t0

    n, chunk = size["points"], size["chunk"]
    t0 = time.perf_counter()
    sid = str(client.create_experiment(SERIES_PROJECT))
    series_ids = []
    for r in range(size["series_runs"]):
        run_id = client.create_run(sid, run_name=f"series-{r:02d}").info.run_id
        for lo in range(0, n, chunk):
            client.log_batch(run_id, metrics=[Metric(SERIES_KEY, series_value(r, i), BASE_TS + i, i)
                                              for i in range(lo, min(lo + chunk, n))])  # fmt: skip
        client.set_terminated(run_id)
        series_ids.append(str(run_id))
    if lib == "lite_tracker":
        client.flush()
    out["series_s"] = time.perf_counter() - t0

    if lib == "lite_tracker":
        st = client._store  # fold every pending segment into the DuckDB file: the server reads a compacted store
        t0 = time.perf_counter()
        st.compact()
        for _ in range(100):
            if not st.pending_count():
                break
            time.sleep(0.2)
            st.compact()
        out["compact_s"] = time.perf_counter() - t0
    out["experiment_id"] = eid
    out["series_experiment_id"] = sid
    out["series_run_ids"] = series_ids
    out["stored_runs"] = len(client.search_runs([eid], max_results=size["runs"] + 1))
    out["stored_points"] = sum(len(client.get_metric_history(r, SERIES_KEY)) for r in series_ids[:1]) * len(series_ids)
    return out


# ----------------------------------------------------------------------------------------------
# Child side: timed requests
# ----------------------------------------------------------------------------------------------


class Http:
    """One keep-alive HTTP connection to the server; ``call`` returns the whole response body."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{method} {path[:120]} answered {resp.status}: {payload[:300]!r}")
        return payload


def _query(pairs: list[tuple[str, str]]) -> str:
    from urllib.parse import urlencode

    return urlencode(pairs)


def request_for(lib: str, workload: str, spec: dict[str, Any], http_: Http) -> Callable[[], bytes]:
    """The timed request of one workload, built (and its columns discovered) outside the timing."""
    m = spec["manifest"]
    if lib == "lite_tracker" and workload == "runs_page":
        cols = json.loads(http_.call("GET", "/api/lite/columns?" + _query([("experiment_ids", m["experiment_id"])])))
        metrics = [c["key"] for c in cols["metrics"]][:DEFAULT_COLUMNS]
        params = cols["params"][:DEFAULT_COLUMNS]
        path = "/api/lite/runs?" + _query([("experiment_ids", m["experiment_id"]), ("view", "active"),
                                           ("max_results", str(PAGE_SIZE)), ("metrics", ",".join(metrics)),
                                           ("params", ",".join(params))])  # fmt: skip
        return lambda: http_.call("GET", path)
    if lib == "mlflow" and workload == "runs_page":
        body = {"experiment_ids": [m["experiment_id"]], "filter": "", "run_view_type": "ACTIVE_ONLY",
                "max_results": PAGE_SIZE, "order_by": ["attributes.start_time DESC"]}  # fmt: skip
        return lambda: http_.call("POST", "/ajax-api/2.0/mlflow/runs/search", body)
    ids = m["series_run_ids"]
    if lib == "lite_tracker" and workload == "chart_data":
        path = "/api/lite/metrics/bulk?" + _query([("run_ids", ",".join(ids)), ("keys", SERIES_KEY),
                                                   ("max_points", str(CHART_POINTS))])  # fmt: skip
        return lambda: http_.call("GET", path)
    if lib == "mlflow" and workload == "chart_data":
        path = "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?" + _query(
            [("run_ids", r) for r in ids] + [("metric_key", SERIES_KEY), ("max_results", str(CHART_POINTS))])
        return lambda: http_.call("GET", path)
    raise ValueError((lib, workload))


def check_response(lib: str, workload: str, payload: bytes, spec: dict[str, Any]) -> str | None:
    """Why the last response is wrong for the generated data, or None."""
    size = spec["size"]
    body = json.loads(payload)
    if workload == "runs_page":
        runs = body.get("runs", [])
        want = min(PAGE_SIZE, spec["manifest"]["stored_runs"])
        if len(runs) != want:
            return f"{len(runs)} runs on the page, expected {want}"
        names = [r["run_name"] if lib == "lite_tracker" else r["info"]["run_name"] for r in runs]
        newest = f"run-{spec['manifest']['stored_runs'] - 1:05d}"
        return None if names[0] == newest else f"first row is {names[0]}, expected the newest run {newest}"
    if workload == "chart_data":
        n = len(spec["manifest"]["series_run_ids"])
        if lib == "lite_tracker":
            series = body.get("series", [])
            if len(series) != n or any(not 2 <= len(s["values"]) <= 2 * CHART_POINTS for s in series):
                return f"{len(series)} series (expected {n}) or a wrong number of points"
            return None if all(s["steps"][-1] == size["points"] - 1 for s in series) else "last step missing"
        points = body.get("metrics", [])
        per_run = {p["run_id"] for p in points}
        return None if len(per_run) == n and points else f"points of {len(per_run)} runs, expected {n}"
    return None


def time_calls(call: Callable[[], Any], calls: int) -> tuple[float, list[float], Any]:
    """One warm-up call, then ``calls`` timed ones: (first call's time, the timed times, last result)."""
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    times = []
    result = None
    for _ in range(calls):
        t0 = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t0)
    return first, times, result


def browser_runs(spec: dict[str, Any]) -> dict[str, Any]:
    """The runs page in Chromium: navigation until the table's first row is present, fresh context each call."""
    from playwright.sync_api import sync_playwright

    url = f"http://127.0.0.1:{spec['port']}/experiments/{spec['manifest']['experiment_id']}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        rows: list[int] = []

        def once() -> int:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.goto(url, wait_until="commit")
            page.wait_for_selector("#runs-table tbody tr[data-run-id]", timeout=60_000)
            n = page.locator("#runs-table tbody tr[data-run-id]").count()
            context.close()
            rows.append(n)
            return n

        first, times, n = time_calls(once, spec["size"]["calls"])
        browser.close()
    out: dict[str, Any] = {"value": statistics.median(times), "first_s": first, "calls_s": times}
    want = min(PAGE_SIZE, spec["manifest"]["stored_runs"])
    if n != want:
        out["wrong"] = f"{n} rows rendered, expected {want}"
    return out


def child_main(spec: dict[str, Any]) -> None:
    """Populate a store or time one workload against a running server; print ONE JSON line on stdout."""
    out = result_stream()
    if spec["workload"] == "populate":
        result = populate(spec["lib"], Path(spec["store"]), spec["size"])
    elif spec["workload"] == "browser_runs":
        result = browser_runs(spec)
    else:
        http_ = Http(spec["port"])
        call = request_for(spec["lib"], spec["workload"], spec, http_)
        first, times, payload = time_calls(call, spec["size"]["calls"])
        result = {"value": statistics.median(times), "first_s": first, "calls_s": times,
                  "bytes": len(payload)}  # fmt: skip
        wrong = check_response(spec["lib"], spec["workload"], payload, spec)
        if wrong:
            result["wrong"] = wrong
    out.write(json.dumps(result) + "\n")
    out.flush()


# ----------------------------------------------------------------------------------------------
# Parent side: stores, servers, orchestration and report
# ----------------------------------------------------------------------------------------------


def run_child(spec: dict[str, Any], store: Path, timeout: float) -> dict[str, Any]:
    """Run one child in a fresh interpreter (cwd = the library's store) and return its JSON result."""
    err_file = store.parent / f"{spec['lib']}-{spec['workload']}.stderr"
    try:
        with err_file.open("w") as err:
            proc = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
                check=False, cwd=store, env=child_env(store), stdout=subprocess.PIPE, stderr=err,
                stdin=subprocess.DEVNULL, text=True, timeout=timeout,
            )  # fmt: skip
    except subprocess.TimeoutExpired as e:
        return {"error": f"timeout after {e.timeout:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode == 0 and lines:
        return dict(json.loads(lines[-1]))
    tail = err_file.read_text(errors="replace").strip().splitlines()[-5:]
    return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}


def populate_store(lib: str, root: Path, size: dict[str, int]) -> dict[str, Any]:
    """Populate ``root/lib`` once (or reuse a complete store of the same sizes left there by ``--stores``)."""
    store = root / lib
    manifest_file = store / "manifest.json"
    wanted = {k: size[k] for k in POPULATE_KEYS}
    if manifest_file.exists():
        manifest = json.loads(manifest_file.read_text())
        if manifest.get("size") == wanted and "error" not in manifest:
            return {**manifest, "reused": True}
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    spec = {"lib": lib, "workload": "populate", "store": str(store), "size": size}
    manifest = run_child(spec, store, POPULATE_TIMEOUT_S)
    manifest["size"] = wanted
    if "error" not in manifest:
        want_points = size["series_runs"] * size["points"]
        if manifest["stored_runs"] != size["runs"] or manifest["stored_points"] != want_points:
            manifest["error"] = (f"store holds {manifest['stored_runs']} runs and {manifest['stored_points']} "
                                 f"points, expected {size['runs']} and {want_points}")  # fmt: skip
        manifest["store_bytes"] = _store_bytes(store)
        manifest_file.write_text(json.dumps(manifest))
    return manifest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(lib: str, store: Path, port: int) -> list[str]:
    """The server process of a library over its populated store."""
    if lib == "lite_tracker":
        return [sys.executable, "-m", "lite_tracker", "ui", "--store", backend_uri(lib, store), "--port", str(port)]
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri(lib, store),
            "--default-artifact-root", str(store / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1"]  # fmt: skip


def start_server(lib: str, store: Path, log: Path) -> tuple[subprocess.Popen[bytes], int, float]:
    """Start a server and wait until it answers: (process, port, seconds it took to answer)."""
    port = free_port()
    health = "/api/lite/experiments" if lib == "lite_tracker" else "/health"
    t0 = time.perf_counter()
    with log.open("ab") as err:
        proc = subprocess.Popen(server_command(lib, store, port), cwd=store, env=child_env(store),
                                stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError(f"{lib} server exited with {proc.returncode}: " + " | ".join(tail))
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", health)
            if conn.getresponse().status == 200:
                return proc, port, time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError(f"{lib} server did not answer within {SERVER_START_S:.0f} s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server we started (its whole process group: ``mlflow server`` forks its workers)."""
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=20)


def preflight(libs: list[str], workloads: list[str]) -> dict[str, str]:
    """Check each library (and Playwright with Chromium for the browser workload); return versions."""
    checks = {
        "lite_tracker": "import lite_tracker, uvicorn, starlette, jinja2, plotly; from lite_tracker.ui import app",
        "mlflow": "import mlflow, mlflow.server; from mlflow.entities import Metric, Param, RunTag",
    }
    versions = _common.preflight(libs, checks, ("duckdb", "sqlalchemy", "uvicorn", "starlette", "playwright"))
    if "browser_runs" in workloads and "lite_tracker" in libs:
        if not Path(CHROMIUM).exists():
            sys.exit(f"error: browser_runs needs Chromium at {CHROMIUM} (apt-get install chromium) "
                     "or leave it out with --workloads runs_page,chart_data")  # fmt: skip
        try:
            import playwright  # noqa: F401
        except ImportError:
            sys.exit('error: browser_runs needs Playwright (pip install -e ".[test]")')
    return versions


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of the successful samples (each one a per-process median) and of their first calls."""
    good = [s for s in samples if "error" not in s]
    summary: dict[str, Any] = {"n": len(good), "samples": samples}
    if good:
        summary["median"] = statistics.median(s["value"] for s in good)
        summary["first_median"] = statistics.median(s["first_s"] for s in good)
    summary["failed"] = len(samples) - len(good)
    summary["wrong"] = sorted({s["wrong"] for s in good if "wrong" in s})
    summary["ok"] = not summary["failed"] and not summary["wrong"]
    return summary


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1000
    return f"{ms:,.1f}" if ms < 100 else f"{ms:,.0f}"


def _print_table(table: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for i, r in enumerate(table):
        print("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(r)).rstrip())
        if i == 0:
            print("  ".join("-" * wd for wd in widths))


def report(results: dict[str, dict[str, dict[str, Any]]], populated: dict[str, dict[str, Any]],
           libs: list[str], workloads: list[str], quick: bool) -> dict[str, Any]:  # fmt: skip
    """Print the median tables (stdout); return the speedups and target checks."""
    both = "mlflow" in libs and "lite_tracker" in libs
    speedups: dict[str, float | None] = {}
    table = [["workload (ms, lower=better)", *libs] + (["lite/mlflow"] if both else []) + ["notes"]]
    for key, label in (("median", ""), ("first_median", " first call")):
        for w in workloads:
            med = {lib: results.get(lib, {}).get(w, {}).get(key) for lib in libs}
            cells = [w + label] + ["n/a" if (lib, w) in UNSUPPORTED else _ms(med[lib]) for lib in libs]
            if both:
                a, b = med["lite_tracker"], med["mlflow"]
                if key == "median":
                    speedups[w] = b / a if a and b else None
                cells.append("n/a" if ("mlflow", w) in UNSUPPORTED else f"{a / b:.3f}x" if a and b else "-")
            notes = []
            for lib in libs:
                s = results.get(lib, {}).get(w)
                if s is not None and key == "median":
                    notes += [f"{lib}: {s['failed']} failed"] if s["failed"] else []
                    notes += [f"{lib}: WRONG ({'; '.join(s['wrong'])})"] if s["wrong"] else []
            table.append(cells + ["; ".join(notes)])
    _print_table(table)

    print()
    pop = [["population (informative)", *libs]]
    for label, field in (("table runs (s)", "runs_s"), ("series (s)", "series_s"), ("compact (s)", "compact_s"),
                         ("server start (s)", "server_start_s")):  # fmt: skip
        pop.append([label] + ["-" if populated[lib].get(field) is None else f"{populated[lib][field]:.1f}"
                              for lib in libs])  # fmt: skip
    pop.append(["runs in the table store"] + [f"{populated[lib].get('stored_runs', 0):,}" for lib in libs])
    pop.append(["store size (MB)"] + [f"{populated[lib].get('store_bytes', 0) / 1e6:.1f}" for lib in libs])
    _print_table(pop)

    targets: dict[str, bool] = {}
    lines = []
    for w in workloads:
        t = TARGETS.get(w, {})
        lite = results.get("lite_tracker", {}).get(w, {}).get("median")
        if lite is None:
            continue
        ok = lite * 1000 <= t["max_ms"]
        targets[f"{w}: lite <= {t['max_ms']:g} ms"] = ok
        lines.append(f"{w}: lite {_ms(lite)} ms <= {t['max_ms']:g} ms: {'met' if ok else 'MISSED'}")
        sp = speedups.get(w)
        if "mlflow" in t and sp is not None:
            ok = sp >= t["mlflow"]
            targets[f"{w}: lite >= {t['mlflow']:g}x faster than mlflow"] = ok
            lines.append(f"{w}: lite {sp:.1f}x faster than mlflow (target {t['mlflow']:g}x): "
                         f"{'met' if ok else 'MISSED'}")  # fmt: skip
    if lines:
        print()
        print("targets (they apply to the full sizes, not to this --quick run):" if quick else "targets:")
        for line in lines:
            print("  " + line)
    return {"speedups": speedups, "targets": targets}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--only", default=",".join(LIBS), help=f"comma-separated libraries from {','.join(LIBS)}")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated from {','.join(WORKLOADS)}")
    p.add_argument("--repeat", type=int, default=3, help="fresh servers and clients per library; median reported")
    p.add_argument("--quick", action="store_true", help="500 runs and 4 x 10,000 points: a smoke run")
    p.add_argument("--calls", type=int, default=None, help="timed calls per process (default 7)")
    p.add_argument("--mlflow-runs", type=int, default=None,
                   help="runs in MLflow's table store (default: as many as lite_tracker's)")  # fmt: skip
    p.add_argument("--mlflow-points", type=int, default=None,
                   help="points per series in MLflow's series store (default: as many as lite_tracker's)")  # fmt: skip
    p.add_argument("--workdir", type=Path, default=None, help="parent folder of the temporary stores")
    p.add_argument("--stores", type=Path, default=None,
                   help="keep the populated stores in this folder and reuse those of the same sizes")  # fmt: skip
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is None:
        args.only = [_common.LIB_ALIASES.get(x.strip(), x.strip()) for x in args.only.split(",") if x.strip()]
        args.workloads = [x.strip() for x in args.workloads.split(",") if x.strip()]
        for name, valid in (("--only", LIBS), ("--workloads", WORKLOADS)):
            bad = [x for x in getattr(args, name[2:]) if x not in valid]
            if bad:
                p.error(f"{name}: unknown {', '.join(bad)} (choose from {', '.join(valid)})")
    return args


def main(argv: list[str] | None = None) -> None:
    """Populate the stores, time every workload against fresh servers and report."""
    args = parse_args(argv)
    if args.child is not None:
        child_main(json.loads(args.child))
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: servers stopped, temp removed
    libs = [lib for lib in LIBS if lib in args.only]
    workloads = [w for w in WORKLOADS if w in args.workloads]
    size = dict(QUICK_SIZES if args.quick else SIZES)
    if args.calls is not None:
        size["calls"] = args.calls
    sizes = {lib: dict(size) for lib in libs}
    if args.mlflow_runs is not None and "mlflow" in sizes:
        sizes["mlflow"]["runs"] = args.mlflow_runs
    if args.mlflow_points is not None and "mlflow" in sizes:
        sizes["mlflow"]["points"] = args.mlflow_points
    versions = preflight(libs, workloads)
    print(f"versions: {versions}", file=sys.stderr)
    if args.stores is not None:
        root = args.stores.resolve()
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = Path(tempfile.mkdtemp(prefix="bench-ui-", dir=args.workdir))
    started = time.perf_counter()
    try:
        populated: dict[str, dict[str, Any]] = {}
        for lib in libs:
            s = sizes[lib]
            print(f"[populate] {lib}: {s['runs']:,} runs + {s['series_runs']} x {s['points']:,} points ...",
                  file=sys.stderr, flush=True)  # fmt: skip
            m = populated[lib] = populate_store(lib, root, s)
            shown = m.get("error") or ("reused" if m.get("reused") else
                                       f"runs {m['runs_s']:.1f} s, series {m['series_s']:.1f} s")  # fmt: skip
            print(f"[populate] {lib}: {shown}", file=sys.stderr, flush=True)
        samples: dict[str, dict[str, list[dict[str, Any]]]] = {lib: {} for lib in libs}
        starts: dict[str, list[float]] = {lib: [] for lib in libs}
        for r in range(args.repeat):
            for lib in libs:  # interleaved, so drift on a shared machine hits both
                store = root / lib
                todo = [w for w in workloads if (lib, w) not in UNSUPPORTED]
                if "error" in populated[lib]:
                    for w in todo:
                        samples[lib].setdefault(w, []).append({"error": "store not populated"})
                    continue
                proc, port, start_s = start_server(lib, store, root / f"{lib}-server.log")
                starts[lib].append(start_s)
                try:
                    for w in todo:
                        spec = {"lib": lib, "workload": w, "port": port, "size": sizes[lib],
                                "manifest": populated[lib]}  # fmt: skip
                        s = run_child(spec, store, QUERY_TIMEOUT_S)
                        samples[lib].setdefault(w, []).append(s)
                        shown = s.get("error") or f"{_ms(s['value'])} ms (first call {_ms(s['first_s'])} ms)" + (
                            f" WRONG: {s['wrong']}" if "wrong" in s else "")  # fmt: skip
                        print(f"[{w} {r + 1}/{args.repeat}] {lib}: {shown}", file=sys.stderr, flush=True)
                finally:
                    stop_server(proc)
        for lib in libs:
            if starts[lib]:
                populated[lib]["server_start_s"] = statistics.median(starts[lib])
    finally:
        if args.stores is None:
            shutil.rmtree(root, ignore_errors=True)
    results = {lib: {w: summarize(ss) for w, ss in by_w.items()} for lib, by_w in samples.items()}
    print()
    derived = report(results, populated, libs, workloads, args.quick)
    doc = {
        "benchmark": "ui",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "repeat": args.repeat,
        "sizes": sizes,
        "units": "seconds",
        "versions": versions,
        "python": platform.python_version(),
        "machine": {"cpus": os.cpu_count(), "system": platform.system(), "arch": platform.machine()},
        "elapsed_s": round(time.perf_counter() - started, 1),
        "populate": populated,
        "results": results,
        **derived,
    }
    print(json.dumps(doc))
    failed = any("error" in m for m in populated.values())
    if failed or not all(s["ok"] for by_w in results.values() for s in by_w.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
