#!/usr/bin/env python3
"""Logging throughput of lite_tracker against MLflow (SQLite store) and trackio (local).

Every (library, workload, repeat) runs in a fresh subprocess with its own temporary store, so
import state, caches and open files never leak between measurements. A child times its workload
with ``time.perf_counter()`` until the data is durable (the run ended / ``trackio.finish()``
returned), reads the data back to count lost points (untimed), and prints one JSON line.

The parent prints a table of medians with the ratios lite/mlflow and lite/trackio, then ONE JSON
line with every sample. It exits 1 if any sample failed, raised errors or lost points.

Usage::

    python benchmarks/bench_logging.py                      # all libraries, all workloads, 3 repeats
    python benchmarks/bench_logging.py --quick              # smaller sizes, smoke run
    python benchmarks/bench_logging.py --only mlflow,trackio --workloads log_batch,multiproc
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import json
import logging
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common
from _common import LIBS, child_env, result_stream

WORKLOADS = ("log_metric_loop", "log_metrics_step", "log_batch", "runs_created", "multiproc", "import")
UNSUPPORTED = {("trackio", "log_batch")}  # trackio has no batch-of-Metric-objects API

SIZES: dict[str, dict[str, Any]] = {
    "log_metric_loop": {"calls": 10_000},
    "log_metrics_step": {"steps": 10_000, "keys": 10},
    "log_batch": {"points": 100_000, "chunk": 1_000},
    "runs_created": {"runs": 100, "params": 10, "metrics": 10, "tags": 3},
    "multiproc": {"procs": 8, "calls": 2_000},
    "import": {"samples": 5},
}
QUICK_SIZES: dict[str, dict[str, Any]] = {
    "log_metric_loop": {"calls": 300},
    "log_metrics_step": {"steps": 300, "keys": 10},
    "log_batch": {"points": 10_000, "chunk": 1_000},
    "runs_created": {"runs": 10, "params": 10, "metrics": 10, "tags": 3},
    "multiproc": {"procs": 8, "calls": 100},
    "import": {"samples": 3},
}
UNITS = {
    "log_metric_loop": "calls/s",
    "log_metrics_step": "points/s",
    "log_batch": "points/s",
    "runs_created": "runs/s",
    "multiproc": "points/s",
    "import": "s",
}
CHILD_TIMEOUT_S = 1800.0
PROJECT = "bench"



# ----------------------------------------------------------------------------------------------
# Child side: adapters over the three libraries
# ----------------------------------------------------------------------------------------------


class Tracker:
    """The few operations the workloads need, implemented once per library."""

    def begin(self, name: str, params: dict[str, str] | None = None) -> str:
        """Start a run (with optional params) and return its id."""
        raise NotImplementedError

    def log_metric(self, key: str, value: float, step: int) -> None:
        """Log one metric point to the active run."""
        raise NotImplementedError

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Log several metrics at one step to the active run."""
        raise NotImplementedError

    def set_tags(self, tags: dict[str, str]) -> None:
        """Set tags on the active run (no-op where the library has none)."""

    def end(self) -> None:
        """End the active run; return only once its data is durable."""
        raise NotImplementedError

    def log_batch(self, n_points: int, chunk: int) -> tuple[str, float]:
        """Create a run, log ``n_points`` via the client batch API, end it; return (run id, seconds)."""
        raise NotImplementedError

    def count_points(self, run_id: str, key: str) -> int:
        """Number of stored points of ``key`` in a run."""
        raise NotImplementedError

    def count_runs(self) -> int:
        """Number of runs in the benchmark experiment / project."""
        raise NotImplementedError


class MlflowLike(Tracker):
    """MLflow's fluent and client API; lite_tracker exposes the same one."""

    def __init__(self, lib: str, store: Path) -> None:
        try:
            mod: Any = importlib.import_module(lib)
            metric_cls: Any = importlib.import_module(f"{lib}.entities").Metric
        except ImportError as e:
            raise SystemExit(f"{lib} cannot be imported ({e}); install it first") from e
        if lib == "mlflow":
            uri = f"sqlite:///{store / 'mlflow.db'}"
        else:
            uri = str(store / "lite_tracker.duckdb")
        logging.getLogger(lib).setLevel(logging.WARNING)
        self.lib = lib
        self.mod = mod
        self.metric_cls = metric_cls
        mod.set_tracking_uri(uri)
        self.experiment_id: str = mod.set_experiment(PROJECT).experiment_id
        self.client: Any = mod.MlflowClient()

    def _durable(self) -> None:
        if self.lib == "lite_tracker":
            self.mod.flush()

    def begin(self, name: str, params: dict[str, str] | None = None) -> str:
        run = self.mod.start_run(run_name=name)
        if params:
            self.mod.log_params(params)
        return str(run.info.run_id)

    def log_metric(self, key: str, value: float, step: int) -> None:
        self.mod.log_metric(key, value, step=step)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.mod.log_metrics(metrics, step=step)

    def set_tags(self, tags: dict[str, str]) -> None:
        self.mod.set_tags(tags)

    def end(self) -> None:
        self.mod.end_run()

    def log_batch(self, n_points: int, chunk: int) -> tuple[str, float]:
        ts = int(time.time() * 1000)
        batches = [
            [self.metric_cls("loss", _value(i), ts, i) for i in range(lo, min(lo + chunk, n_points))]
            for lo in range(0, n_points, chunk)
        ]
        t0 = time.perf_counter()
        run_id = str(self.client.create_run(self.experiment_id).info.run_id)
        for batch in batches:
            self.client.log_batch(run_id, metrics=batch)
        self.client.set_terminated(run_id)
        self._durable()
        return run_id, time.perf_counter() - t0

    def count_points(self, run_id: str, key: str) -> int:
        return len(self.client.get_metric_history(run_id, key))

    def count_runs(self) -> int:
        return len(self.client.search_runs([self.experiment_id], max_results=50_000))


class Trackio(Tracker):
    """trackio's local-first API; its SQLite files live in ``$TRACKIO_DIR`` (the store folder)."""

    def __init__(self, store: Path) -> None:
        import trackio

        self.trackio: Any = trackio

    def begin(self, name: str, params: dict[str, str] | None = None) -> str:
        # System monitors off: they log hardware stats, not what is measured here.
        self.trackio.init(project=PROJECT, name=name, config=params, auto_log_cpu=False, auto_log_gpu=False)
        return name

    def log_metric(self, key: str, value: float, step: int) -> None:
        self.trackio.log({key: value}, step=step)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.trackio.log(metrics, step=step)

    def end(self) -> None:
        self.trackio.finish()

    def count_points(self, run_id: str, key: str) -> int:
        from trackio.sqlite_storage import SQLiteStorage

        return len(SQLiteStorage.get_metric_values(PROJECT, run_id, key))

    def count_runs(self) -> int:
        return len(self.trackio.Api().runs(PROJECT))


def _value(i: int) -> float:
    """A deterministic, non-trivial metric value."""
    return math.sin(i * 0.001) + i * 1e-6


def _tracker(lib: str, store: Path) -> Tracker:
    return Trackio(store) if lib == "trackio" else MlflowLike(lib, store)


def _verify(expected: int, count: Any) -> dict[str, Any]:
    """Run an (untimed) read-back; a failing read is reported, not fatal."""
    try:
        stored = int(count())
    except Exception as e:  # noqa: BLE001 - reported in the results, never hidden
        return {"lost": None, "verify_error": f"{type(e).__name__}: {e}"}
    return {"lost": expected - stored}


def w_log_metric_loop(t: Tracker, size: dict[str, Any]) -> dict[str, Any]:
    """Individual log_metric calls in one run, until the run has ended."""
    n = size["calls"]
    t0 = time.perf_counter()
    run_id = t.begin("log_metric_loop")
    for i in range(n):
        t.log_metric("loss", _value(i), i)
    t.end()
    dt = time.perf_counter() - t0
    return {"value": n / dt, "seconds": dt, **_verify(n, lambda: t.count_points(run_id, "loss"))}


def w_log_metrics_step(t: Tracker, size: dict[str, Any]) -> dict[str, Any]:
    """Fluent log_metrics of ``keys`` metrics per step, until the run has ended."""
    steps, keys = size["steps"], [f"m{k}" for k in range(size["keys"])]
    t0 = time.perf_counter()
    run_id = t.begin("log_metrics_step")
    for i in range(steps):
        t.log_metrics({k: _value(i + j) for j, k in enumerate(keys)}, i)
    t.end()
    dt = time.perf_counter() - t0
    n = steps * len(keys)
    return {
        "value": n / dt,
        "seconds": dt,
        **_verify(n, lambda: sum(t.count_points(run_id, k) for k in keys)),
    }


def w_log_batch(t: Tracker, size: dict[str, Any]) -> dict[str, Any]:
    """Client log_batch of pre-built Metric objects in fixed chunks."""
    n = size["points"]
    run_id, dt = t.log_batch(n, size["chunk"])
    return {"value": n / dt, "seconds": dt, **_verify(n, lambda: t.count_points(run_id, "loss"))}


def w_runs_created(t: Tracker, size: dict[str, Any]) -> dict[str, Any]:
    """Whole runs: params at start, one set of metrics, tags, end."""
    n = size["runs"]
    params = {f"p{k}": str(k) for k in range(size["params"])}
    metrics = {f"m{k}": _value(k) for k in range(size["metrics"])}
    tags = {f"t{k}": "x" for k in range(size["tags"])}
    t0 = time.perf_counter()
    for r in range(n):
        t.begin(f"run-{r}", params)
        t.log_metrics(metrics, 0)
        t.set_tags(tags)
        t.end()
    dt = time.perf_counter() - t0
    return {"value": n / dt, "seconds": dt, **_verify(n, t.count_runs)}


def w_multiproc_setup(t: Tracker, size: dict[str, Any]) -> dict[str, Any]:
    """Create the shared store and experiment before the workers start."""
    if isinstance(t, Trackio):
        t.begin("setup")
        t.end()
    return {}


def w_multiproc_worker(t: Tracker, size: dict[str, Any]) -> dict[str, Any]:
    """One of the concurrent writers: signal ready, wait for "go" on stdin, log, end."""
    Path(size["ready_dir"], str(size["index"])).touch()
    sys.stdin.readline()
    sent = errors = 0
    t0 = time.perf_counter()
    run_id = t.begin(f"worker-{size['index']}")
    for i in range(size["calls"]):
        try:
            t.log_metric("loss", _value(i), i)
            sent += 1
        except Exception as e:  # noqa: BLE001 - counted and reported: errors are a result
            errors += 1
            if errors == 1:
                print(f"worker {size['index']}: {type(e).__name__}: {e}", file=sys.stderr)
    t.end()
    return {"run_id": run_id, "t_start": t0, "t_end": time.perf_counter(), "sent": sent, "errors": errors}


def w_multiproc_verify(t: Tracker, size: dict[str, Any]) -> dict[str, Any]:
    """Count the points each worker's run holds."""
    return {"counts": {rid: t.count_points(rid, "loss") for rid in size["run_ids"]}}


CHILD_WORKLOADS = {
    "log_metric_loop": w_log_metric_loop,
    "log_metrics_step": w_log_metrics_step,
    "log_batch": w_log_batch,
    "runs_created": w_runs_created,
    "multiproc_setup": w_multiproc_setup,
    "multiproc_worker": w_multiproc_worker,
    "multiproc_verify": w_multiproc_verify,
}


def child_main(spec: dict[str, Any]) -> None:
    """Run one workload and print its result as the only line on stdout."""
    out = result_stream()
    tracker = _tracker(spec["lib"], Path(spec["store"]))
    result = CHILD_WORKLOADS[spec["workload"]](tracker, spec["size"])
    out.write(json.dumps(result) + "\n")
    out.flush()


# ----------------------------------------------------------------------------------------------
# Parent side: orchestration, import timing, report
# ----------------------------------------------------------------------------------------------


def _child_cmd(lib: str, workload: str, store: Path, size: dict[str, Any]) -> list[str]:
    spec = {"lib": lib, "workload": workload, "store": str(store), "size": size}
    return [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]


def _parse_child(proc_out: str, rc: int, err_file: Path) -> dict[str, Any]:
    lines = proc_out.strip().splitlines()
    if rc == 0 and lines:
        return dict(json.loads(lines[-1]))
    tail = err_file.read_text(errors="replace").strip().splitlines()[-5:]
    return {"error": f"exit {rc}: " + " | ".join(tail)}


def run_child(lib: str, workload: str, store: Path, size: dict[str, Any]) -> dict[str, Any]:
    """Run one workload in a fresh interpreter and return its parsed JSON result."""
    err_file = store / f"{workload}.stderr"
    with err_file.open("w") as err:
        proc = subprocess.run(
            _child_cmd(lib, workload, store, size),
            check=False, cwd=store, env=child_env(store), stdout=subprocess.PIPE, stderr=err,
            stdin=subprocess.DEVNULL, text=True, timeout=CHILD_TIMEOUT_S,
        )  # fmt: skip
    return _parse_child(proc.stdout, proc.returncode, err_file)


def run_multiproc(lib: str, store: Path, size: dict[str, Any]) -> dict[str, Any]:
    """N writer processes into one store, released together; aggregate rate and exact count check."""
    setup = run_child(lib, "multiproc_setup", store, {})
    if "error" in setup:
        return setup
    ready = store / "ready"
    ready.mkdir()
    procs = []
    for idx in range(size["procs"]):
        wsize = {"calls": size["calls"], "index": idx, "ready_dir": str(ready)}
        err = (store / f"worker-{idx}.stderr").open("w")
        proc = subprocess.Popen(
            _child_cmd(lib, "multiproc_worker", store, wsize),
            cwd=store, env=child_env(store), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
        procs.append((proc, err))
    try:
        deadline = time.monotonic() + 600
        while len(list(ready.iterdir())) < len(procs):
            if time.monotonic() > deadline or any(p.poll() is not None for p, _ in procs):
                break
            time.sleep(0.01)
        for proc, _ in procs:  # "go": every worker has imported its library and opened the store
            if proc.poll() is None and proc.stdin is not None:
                proc.stdin.write("go\n")
                proc.stdin.flush()
        workers = []
        for idx, (proc, _) in enumerate(procs):
            out, _ = proc.communicate(timeout=CHILD_TIMEOUT_S)
            workers.append(_parse_child(out, proc.returncode, store / f"worker-{idx}.stderr"))
    finally:
        for proc, err in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            err.close()
    ok = [w for w in workers if "error" not in w]
    expected = size["procs"] * size["calls"]
    res: dict[str, Any] = {
        "errors": sum(w["errors"] for w in ok) + size["calls"] * (len(workers) - len(ok)),
        "crashed_workers": [w["error"] for w in workers if "error" in w],
    }
    if not ok:
        return {"error": "every worker failed: " + res["crashed_workers"][0], **res}
    dt = max(w["t_end"] for w in ok) - min(w["t_start"] for w in ok)
    sent = sum(w["sent"] for w in ok)
    check = run_child(lib, "multiproc_verify", store, {"run_ids": [w["run_id"] for w in ok]})
    stored = sum(check["counts"].values()) if "counts" in check else None
    res.update(value=sent / dt, seconds=dt, sent=sent, expected=expected,
               lost=None if stored is None else sent - stored)  # fmt: skip
    if "error" in check:
        res["verify_error"] = check["error"]
    return res


def import_sample(lib: str, store: Path) -> dict[str, Any]:
    """One ``-X importtime`` run (cumulative us of the package) and one plain wall-clock import."""
    env = child_env(store)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {lib}"],
        check=False, cwd=store, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1]}
    cumulative_us = None
    for line in proc.stderr.splitlines():
        fields = line.split("|")
        if len(fields) == 3 and fields[2].rstrip() == f" {lib}":
            cumulative_us = int(fields[1])
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {lib}"], cwd=store, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)  # fmt: skip
    return {"value": time.perf_counter() - t0, "importtime_us": cumulative_us}


def preflight(libs: list[str]) -> dict[str, str]:
    """Check each library imports in this interpreter with the API used here; return versions."""
    checks = {
        "lite_tracker": "import lite_tracker as m; from lite_tracker.entities import Metric; "
        "m.set_tracking_uri, m.set_experiment, m.start_run, m.log_metric, m.log_metrics, "
        "m.log_params, m.set_tags, m.end_run, m.flush, m.MlflowClient",
        "mlflow": "import mlflow; from mlflow.entities import Metric",
        "trackio": "import trackio",
    }
    return _common.preflight(libs, checks, ("duckdb", "pyarrow", "sqlalchemy"))


def run_one(lib: str, workload: str, size: dict[str, Any], workdir: Path | None) -> dict[str, Any]:
    """One sample of one workload for one library, in its own temporary store folder."""
    store = Path(tempfile.mkdtemp(prefix=f"bench-{lib}-{workload}-", dir=workdir))
    try:
        if workload == "multiproc":
            return run_multiproc(lib, store, size)
        if workload == "import":
            return import_sample(lib, store)
        return run_child(lib, workload, store, size)
    except subprocess.TimeoutExpired as e:
        return {"error": f"timeout after {e.timeout:.0f} s"}
    finally:
        shutil.rmtree(store, ignore_errors=True)


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of the successful samples plus the worst error/loss counts."""
    good = [s for s in samples if "error" not in s]
    summary: dict[str, Any] = {"n": len(good), "samples": samples}
    if good:
        summary["median"] = statistics.median(s["value"] for s in good)
    if any("importtime_us" in s for s in good):
        us = [s["importtime_us"] for s in good if s.get("importtime_us") is not None]
        summary["importtime_us_median"] = statistics.median(us) if us else None
    losses = [s["lost"] for s in good if s.get("lost") is not None]
    summary["lost_max"] = max(losses) if losses else None
    summary["errors_max"] = max((s.get("errors", 0) for s in good), default=0)
    summary["failed"] = len(samples) - len(good)
    summary["ok"] = not summary["failed"] and not summary["lost_max"] and not summary["errors_max"]
    return summary


def _fmt(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    if unit == "s":
        return f"{x:.3f} s"
    if unit == "ms":
        return f"{x:.0f} ms"
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def report(
    results: dict[str, dict[str, dict[str, Any]]], libs: list[str], workloads: list[str]
) -> dict[str, Any]:
    """Print the median table (stdout) and return the ratios."""
    rows: list[tuple[str, str, str, dict[str, float | None]]] = []
    for w in workloads:
        medians = {lib: results.get(lib, {}).get(w, {}).get("median") for lib in libs}
        if w == "import":
            rows.append(("import (wall)", "s", "lower", medians))
            ms = {lib: results.get(lib, {}).get(w, {}).get("importtime_us_median") for lib in libs}
            rows.append(
                ("import (-X importtime)", "ms", "lower", {k: v / 1000 if v else None for k, v in ms.items()})
            )
        else:
            rows.append((w, UNITS[w], "higher", medians))
    others = [o for o in ("mlflow", "trackio") if o in libs]
    ratios: dict[str, dict[str, float | None]] = {}
    head = ["workload", "unit", *libs] + [f"lite/{o}" for o in others if "lite_tracker" in libs] + ["notes"]
    table = [head]
    for name, unit, better, med in rows:
        cells = [name, unit + ("" if better == "higher" else " (lower=better)")]
        cells += [_fmt(med[lib], unit) for lib in libs]
        if "lite_tracker" in libs:
            for o in others:
                a, b = med["lite_tracker"], med[o]
                ratio = a / b if a and b else None
                ratios.setdefault(name, {})[f"lite/{o}"] = ratio
                cells.append("-" if ratio is None else f"{ratio:.2f}x")
        w = "import" if name.startswith("import") else name
        notes = []
        for lib in libs:
            s = results.get(lib, {}).get(w)
            if s is None:
                continue
            if s["failed"]:
                notes.append(f"{lib}: {s['failed']} failed")
            if s["lost_max"]:
                notes.append(f"{lib}: lost {s['lost_max']}")
            if s["errors_max"]:
                notes.append(f"{lib}: {s['errors_max']} errors")
            if any("verify_error" in x for x in s["samples"]):
                notes.append(f"{lib}: not verified")
        cells.append("; ".join(notes))
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for i, r in enumerate(table):
        print(
            "  ".join(c.ljust(widths[j]) if j < 2 else c.rjust(widths[j]) for j, c in enumerate(r)).rstrip()
        )
        if i == 0:
            print("  ".join("-" * wd for wd in widths))
    return ratios


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    _common.add_selection(p, WORKLOADS)
    p.add_argument("--repeat", type=int, default=3, help="samples per (library, workload); median reported")
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    p.add_argument("--workdir", type=Path, default=None, help="parent folder of the temporary stores")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is None:
        _common.resolve_selection(p, args, WORKLOADS)
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark matrix and report."""
    args = parse_args(argv)
    if args.child is not None:
        child_main(json.loads(args.child))
        return
    libs = [lib for lib in LIBS if lib in args.only]
    workloads = [w for w in WORKLOADS if w in args.workloads]
    sizes = QUICK_SIZES if args.quick else SIZES
    versions = preflight(libs)
    print(f"versions: {versions}", file=sys.stderr)
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {lib: {} for lib in libs}
    started = time.perf_counter()
    for w in workloads:
        # Interleave libraries within each repeat so drift on a shared machine hits all of them.
        n = max(args.repeat, sizes["import"]["samples"]) if w == "import" else args.repeat
        for r in range(n):
            for lib in libs:
                if (lib, w) in UNSUPPORTED:
                    continue
                s = run_one(lib, w, sizes[w], args.workdir)
                samples[lib].setdefault(w, []).append(s)
                shown = s.get("error") or _fmt(s["value"], UNITS[w]) + (
                    "" if w == "import" else f" {UNITS[w]}"
                )
                print(f"[{w} {r + 1}/{n}] {lib}: {shown}", file=sys.stderr, flush=True)
    results = {lib: {w: summarize(ss) for w, ss in by_w.items()} for lib, by_w in samples.items()}
    print()
    ratios = report(results, libs, workloads)
    doc = {
        "benchmark": "logging",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "repeat": args.repeat,
        "sizes": {w: sizes[w] for w in workloads},
        "units": {w: UNITS[w] for w in workloads},
        "versions": versions,
        "python": platform.python_version(),
        "machine": {"cpus": os.cpu_count(), "system": platform.system(), "arch": platform.machine()},
        "elapsed_s": round(time.perf_counter() - started, 1),
        "results": results,
        "ratios": ratios,
    }
    print(json.dumps(doc))
    if not all(s["ok"] for by_w in results.values() for s in by_w.values()):
        sys.exit(1)  # a failed sample, an error or a lost point is a result too: make it visible


if __name__ == "__main__":
    main()
