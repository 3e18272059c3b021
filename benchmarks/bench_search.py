#!/usr/bin/env python3
"""Query latency of lite_tracker against MLflow (SQLite store) and trackio (local SQLite).

Each library's store is populated ONCE per invocation, in a subprocess, with the same seeded data:
``runs`` runs with ``params`` params, ``metrics`` metrics (one value each) and ``tags`` tags, plus one
run (in its own experiment / project) holding a ``points``-long series of ``loss``. The lite_tracker
store is then flushed and compacted, so the queries read a compacted store.

Every (library, workload, repeat) then runs in a fresh subprocess against the populated store: the
client is built and one warm-up call made outside the timing, then ``calls`` calls are timed with
``time.perf_counter()``; the sample is their median. The result of the last call is checked against
the generated data (untimed). The parent prints a table of medians (of the per-process medians) with
the time ratios lite/mlflow and lite/trackio, the population times, the targets, then ONE JSON line.
It exits 1 if any sample failed or returned a wrong result.

Workloads:

* ``search_filter``: ``MlflowClient.search_runs`` with a two-clause filter, ordered by a metric,
  ``max_results=100`` (trackio has no filter grammar: n/a).
* ``search_df``: every run into a pandas DataFrame: fluent ``search_runs(experiment_ids=[...],
  max_results=runs)``; for trackio, what its dashboard loads (run records, all run configs and the
  logs of every run), reduced to one row per run with its params and the last value of each metric.
* ``history``: the whole ``loss`` series of one run: ``MlflowClient.get_metric_history``; for trackio
  ``SQLiteStorage.get_metric_values``.

Usage::

    python benchmarks/bench_search.py                      # all libraries, all workloads, 3 repeats
    python benchmarks/bench_search.py --quick              # 500 runs, 10,000 points: smoke run
    python benchmarks/bench_search.py --only lite,mlflow --workloads search_filter,history
    python benchmarks/bench_search.py --stores DIR         # keep (and reuse) the populated stores in DIR
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
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import _common
from _common import LIBS, child_env, result_stream

WORKLOADS = ("search_filter", "search_df", "history")
UNSUPPORTED = {("trackio", "search_filter")}  # trackio has no filter grammar

SIZES: dict[str, int] = {"runs": 10_000, "params": 10, "metrics": 10, "tags": 3, "points": 100_000,
                         "chunk": 1_000, "calls": 7}  # fmt: skip
QUICK_SIZES: dict[str, int] = {**SIZES, "runs": 500, "points": 10_000}
POPULATE_KEYS = ("runs", "params", "metrics", "tags", "points", "chunk")

SEED = 20240601
FILTER = "params.p0 = 'v3' and metrics.m0 > 0.5"
ORDER_BY = ["metrics.m1 DESC"]
FILTER_MAX_RESULTS = 100
PROJECT = "bench"  # experiment / project of the runs
HISTORY_PROJECT = "bench-history"  # experiment / project of the long series
HISTORY_RUN = "history"
HISTORY_KEY = "loss"
BASE_TS = 1_700_000_000_000  # metric timestamps (ms): fixed, so every store holds the same data

# Targets of the query work (full sizes only): upper bound on lite's median, lower bounds on speedups.
TARGETS: dict[str, dict[str, float]] = {
    "search_filter": {"max_ms": 50, "mlflow": 10},
    "search_df": {"max_ms": 500},
    "history": {"max_ms": 50, "trackio": 5, "mlflow": 40},
}

QUERY_TIMEOUT_S = 1800.0
POPULATE_TIMEOUT_S = 4 * 3600.0



# ----------------------------------------------------------------------------------------------
# The data (identical for every library)
# ----------------------------------------------------------------------------------------------


def make_runs(size: dict[str, int]) -> list[tuple[str, dict[str, str], dict[str, float], dict[str, str]]]:
    """``(name, params, metrics, tags)`` of every run, from a fixed seed."""
    rng = random.Random(SEED)
    runs = []
    for i in range(size["runs"]):
        params = {f"p{k}": f"v{rng.randrange(10)}" for k in range(size["params"])}
        metrics = {f"m{k}": rng.random() for k in range(size["metrics"])}
        tags = {f"t{k}": rng.choice(("red", "green", "blue")) for k in range(size["tags"])}
        runs.append((f"run-{i:05d}", params, metrics, tags))
    return runs


def expected_filter_result(size: dict[str, int]) -> list[float]:
    """``m1`` of the runs ``FILTER`` + ``ORDER_BY`` + ``FILTER_MAX_RESULTS`` must return, in order."""
    hits = [m["m1"] for _, p, m, _ in make_runs(size) if p["p0"] == "v3" and m["m0"] > 0.5]
    return sorted(hits, reverse=True)[:FILTER_MAX_RESULTS]


def history_value(i: int) -> float:
    """A deterministic, non-trivial metric value."""
    return math.sin(i * 0.001) + i * 1e-6


def _store_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ----------------------------------------------------------------------------------------------
# Child side: population and queries, per library
# ----------------------------------------------------------------------------------------------


class MlflowLike:
    """MLflow's client and fluent API; lite_tracker exposes the same one."""

    def __init__(self, lib: str, store: Path) -> None:
        try:
            self.mod: Any = importlib.import_module(lib)
            self.entities: Any = importlib.import_module(f"{lib}.entities")
        except ImportError as e:
            raise SystemExit(f"{lib} cannot be imported ({e}); install it first") from e
        logging.getLogger(lib).setLevel(logging.WARNING)
        self.lib = lib
        self.uri = f"sqlite:///{store / 'mlflow.db'}" if lib == "mlflow" else str(store / "lite_tracker.duckdb")
        self.client: Any = self.mod.MlflowClient(tracking_uri=self.uri)

    # -- population

    def populate(self, size: dict[str, int]) -> dict[str, Any]:
        Metric, Param, RunTag = self.entities.Metric, self.entities.Param, self.entities.RunTag
        runs = make_runs(size)
        out: dict[str, Any] = {}
        t0 = time.perf_counter()
        eid = str(self.client.create_experiment(PROJECT))
        for name, params, metrics, tags in runs:
            run_id = self.client.create_run(eid, run_name=name).info.run_id
            self.client.log_batch(
                run_id,
                metrics=[Metric(k, v, BASE_TS, 0) for k, v in metrics.items()],
                params=[Param(k, v) for k, v in params.items()],
                tags=[RunTag(k, v) for k, v in tags.items()],
            )
            self.client.set_terminated(run_id)
        if self.lib == "lite_tracker":
            self.client.flush()
        out["runs_s"] = time.perf_counter() - t0

        n, chunk = size["points"], size["chunk"]
        batches = [[Metric(HISTORY_KEY, history_value(i), BASE_TS + i, i) for i in range(lo, min(lo + chunk, n))]
                   for lo in range(0, n, chunk)]  # fmt: skip
        t0 = time.perf_counter()
        hid = str(self.client.create_experiment(HISTORY_PROJECT))
        hrun = self.client.create_run(hid, run_name=HISTORY_RUN).info.run_id
        for batch in batches:
            self.client.log_batch(hrun, metrics=batch)
        self.client.set_terminated(hrun)
        if self.lib == "lite_tracker":
            self.client.flush()
        out["history_s"] = time.perf_counter() - t0

        if self.lib == "lite_tracker":
            # Fold every pending segment into the DuckDB file: the queries measure a compacted store.
            store = self.client._store
            t0 = time.perf_counter()
            store.compact()
            for _ in range(100):  # one call usually suffices; the background compactor may hold the lock
                if not store.pending_count():
                    break
                time.sleep(0.2)
                store.compact()
            out["compact_s"] = time.perf_counter() - t0
            out["pending_after_compact"] = store.pending_count()
        out["experiment_id"] = eid
        out["history_run_id"] = str(hrun)
        out["stored_runs"] = len(self.client.search_runs([eid], max_results=size["runs"] + 1))
        out["stored_points"] = len(self.client.get_metric_history(hrun, HISTORY_KEY))
        return out

    # -- queries

    def query(self, workload: str, spec: dict[str, Any]) -> Callable[[], Any]:
        m = spec["manifest"]
        if workload == "search_filter":
            eid = m["experiment_id"]
            return lambda: self.client.search_runs([eid], FILTER, max_results=FILTER_MAX_RESULTS, order_by=ORDER_BY)
        if workload == "search_df":
            self.mod.set_tracking_uri(self.uri)
            eids, n = [m["experiment_id"]], spec["size"]["runs"]
            return lambda: self.mod.search_runs(experiment_ids=eids, max_results=n)
        if workload == "history":
            run_id = m["history_run_id"]
            return lambda: self.client.get_metric_history(run_id, HISTORY_KEY)
        raise ValueError(workload)


class Trackio:
    """trackio's local-first API; its SQLite files live in ``$TRACKIO_DIR`` (inside the store folder)."""

    def __init__(self, store: Path) -> None:
        import trackio
        from trackio.sqlite_storage import SQLiteStorage

        self.trackio: Any = trackio
        self.storage: Any = SQLiteStorage

    def populate(self, size: dict[str, int]) -> dict[str, Any]:
        runs = make_runs(size)
        out: dict[str, Any] = {}
        t0 = time.perf_counter()
        for name, params, metrics, _tags in runs:  # trackio runs have no tags
            # System monitors off: they log hardware stats, not what is measured here.
            self.trackio.init(project=PROJECT, name=name, config=params, auto_log_cpu=False, auto_log_gpu=False)
            self.trackio.log(metrics)
            self.trackio.finish()
        out["runs_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.trackio.init(project=HISTORY_PROJECT, name=HISTORY_RUN, auto_log_cpu=False, auto_log_gpu=False)
        for i in range(size["points"]):
            self.trackio.log({HISTORY_KEY: history_value(i)}, step=i)
        self.trackio.finish()
        out["history_s"] = time.perf_counter() - t0
        out["stored_runs"] = len(self.storage.get_run_records(PROJECT))
        out["stored_points"] = len(self.storage.get_metric_values(HISTORY_PROJECT, HISTORY_RUN, HISTORY_KEY))
        return out

    def frame(self) -> Any:
        """All runs as a DataFrame, from the calls trackio's dashboard makes for a project
        (``get_run_records``, ``get_all_run_configs``, ``get_logs_batch`` with ``scalar_only``):
        one row per run with ``params.*`` from its config and ``metrics.*`` from its last logs."""
        import pandas as pd

        records = self.storage.get_run_records(PROJECT)
        configs = self.storage.get_all_run_configs(PROJECT)
        logs = self.storage.get_logs_batch(
            PROJECT, [{"run": r["name"], "run_id": r["id"]} for r in records], max_points=3000, scalar_only=True
        )
        rows = []
        for rec, batch in zip(records, logs):
            row: dict[str, Any] = {"run_id": rec["id"], "run_name": rec["name"], "start_time": rec["created_at"]}
            config = configs.get(rec["id"]) or configs.get(rec["name"]) or {}
            row.update({f"params.{k}": v for k, v in config.items()})
            last: dict[str, Any] = {}
            for entry in batch["logs"]:
                last.update(entry)
            row.update({f"metrics.{k}": v for k, v in last.items() if k not in ("step", "timestamp")})
            rows.append(row)
        return pd.DataFrame(rows)

    def query(self, workload: str, spec: dict[str, Any]) -> Callable[[], Any]:
        if workload == "search_df":
            return self.frame
        if workload == "history":
            return lambda: self.storage.get_metric_values(HISTORY_PROJECT, HISTORY_RUN, HISTORY_KEY)
        raise ValueError(workload)


def _tracker(lib: str, store: Path) -> MlflowLike | Trackio:
    return Trackio(store) if lib == "trackio" else MlflowLike(lib, store)


def check_result(lib: str, workload: str, result: Any, size: dict[str, int]) -> str | None:
    """Why ``result`` is wrong for the generated data, or None if it is right."""
    if workload == "search_filter":
        got = [r.data.metrics.get("m1") for r in result]
        want = expected_filter_result(size)
        if len(got) != len(want):
            return f"{len(got)} runs returned, expected {len(want)}"
        if any(g is None or not math.isclose(g, w, rel_tol=1e-12) for g, w in zip(got, want)):
            return "runs or their order differ from the expected result"
        return None
    if workload == "search_df":
        if len(result) != size["runs"]:
            return f"{len(result)} rows, expected {size['runs']}"
        missing = [c for c in ("run_id", "params.p0", "metrics.m1") if c not in result.columns]
        return f"missing columns {missing}" if missing else None
    if workload == "history":
        if len(result) != size["points"]:
            return f"{len(result)} points, expected {size['points']}"
        last = result[-1]
        value = last["value"] if isinstance(last, dict) else last.value
        return None if math.isclose(value, history_value(size["points"] - 1)) else "wrong last value"
    return None


def child_query(tracker: MlflowLike | Trackio, workload: str, spec: dict[str, Any], setup_s: float) -> dict[str, Any]:
    """One warm-up call, then ``calls`` timed calls; the sample is their median."""
    call = tracker.query(workload, spec)
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    times = []
    result = None
    for _ in range(spec["size"]["calls"]):
        t0 = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t0)
    out: dict[str, Any] = {"value": statistics.median(times), "first_s": first, "setup_s": setup_s,
                           "calls_s": times}  # fmt: skip
    wrong = check_result(spec["lib"], workload, result, spec["size"])
    if wrong:
        out["wrong"] = wrong
    return out


def child_main(spec: dict[str, Any]) -> None:
    """Populate a store or time one query workload; print the result as the only line on stdout."""
    out = result_stream()
    t0 = time.perf_counter()
    tracker = _tracker(spec["lib"], Path(spec["store"]))
    setup_s = time.perf_counter() - t0
    if spec["workload"] == "populate":
        result = tracker.populate(spec["size"])
    else:
        result = child_query(tracker, spec["workload"], spec, setup_s)
    out.write(json.dumps(result) + "\n")
    out.flush()


# ----------------------------------------------------------------------------------------------
# Parent side: orchestration and report
# ----------------------------------------------------------------------------------------------


def run_child(lib: str, workload: str, store: Path, size: dict[str, int], manifest: dict[str, Any] | None,
              timeout: float) -> dict[str, Any]:  # fmt: skip
    """Run one child in a fresh interpreter (cwd = the library's store) and return its JSON result."""
    spec = {"lib": lib, "workload": workload, "store": str(store), "size": size, "manifest": manifest}
    err_file = store.parent / f"{lib}-{workload}.stderr"
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


def populate(lib: str, root: Path, size: dict[str, int]) -> dict[str, Any]:
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
    manifest = run_child(lib, "populate", store, size, None, POPULATE_TIMEOUT_S)
    manifest["size"] = wanted
    if "error" not in manifest:
        if manifest["stored_runs"] != size["runs"] or manifest["stored_points"] != size["points"]:
            manifest["error"] = (f"store holds {manifest['stored_runs']} runs and {manifest['stored_points']} "
                                 f"points, expected {size['runs']} and {size['points']}")  # fmt: skip
        manifest["store_bytes"] = _store_bytes(store)
        manifest_file.write_text(json.dumps(manifest))
    return manifest


def preflight(libs: list[str]) -> dict[str, str]:
    """Check each library imports in this interpreter with the API used here; return versions."""
    checks = {
        "lite_tracker": "import lite_tracker as m, pandas; from lite_tracker.entities import Metric, Param, RunTag; "
        "m.MlflowClient.flush, m.MlflowClient.search_runs, m.MlflowClient.get_metric_history, m.search_runs",
        "mlflow": "import mlflow, pandas; from mlflow.entities import Metric, Param, RunTag",
        "trackio": "import trackio, pandas; from trackio.sqlite_storage import SQLiteStorage as S; "
        "S.get_run_records, S.get_all_run_configs, S.get_logs_batch, S.get_metric_values",
    }
    return _common.preflight(libs, checks, ("duckdb", "pyarrow", "sqlalchemy", "pandas"))


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of the successful samples (each one a per-process median) and of their first calls."""
    good = [s for s in samples if "error" not in s]
    summary: dict[str, Any] = {"n": len(good), "samples": samples}
    if good:
        summary["median"] = statistics.median(s["value"] for s in good)
        summary["first_median"] = statistics.median(s["first_s"] for s in good)
        summary["setup_median"] = statistics.median(s["setup_s"] for s in good)
    summary["failed"] = len(samples) - len(good)
    summary["wrong"] = sorted({s["wrong"] for s in good if "wrong" in s})
    summary["ok"] = not summary["failed"] and not summary["wrong"]
    return summary


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1000
    return f"{ms:,.1f}" if ms < 100 else f"{ms:,.0f}"


def _print_table(table: list[list[str]], left: int = 1) -> None:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for i, r in enumerate(table):
        print("  ".join(c.ljust(widths[j]) if j < left else c.rjust(widths[j]) for j, c in enumerate(r)).rstrip())
        if i == 0:
            print("  ".join("-" * wd for wd in widths))


def report(results: dict[str, dict[str, dict[str, Any]]], populated: dict[str, dict[str, Any]],
           libs: list[str], workloads: list[str], quick: bool) -> dict[str, Any]:  # fmt: skip
    """Print the median tables (stdout); return the ratios, speedups and target checks."""
    others = [o for o in ("mlflow", "trackio") if o in libs and "lite_tracker" in libs]
    ratios: dict[str, dict[str, float | None]] = {}
    speedups: dict[str, dict[str, float | None]] = {}
    head = ["workload (ms, lower=better)", *libs] + [f"lite/{o}" for o in others] + ["notes"]
    table = [head]
    for key, label in (("median", ""), ("first_median", " first call")):
        for w in workloads:
            med = {lib: results.get(lib, {}).get(w, {}).get(key) for lib in libs}
            cells = [w + label]
            for lib in libs:
                cells.append("n/a" if (lib, w) in UNSUPPORTED else _ms(med[lib]))
            for o in others:
                a, b = med["lite_tracker"], med[o]
                ratio = a / b if a and b else None
                if key == "median":
                    ratios.setdefault(w, {})[f"lite/{o}"] = ratio
                    speedups.setdefault(w, {})[f"{o}/lite"] = b / a if a and b else None
                cells.append("n/a" if (o, w) in UNSUPPORTED else "-" if ratio is None else f"{ratio:.3f}x")
            notes = []
            for lib in libs:
                s = results.get(lib, {}).get(w)
                if s is None or key != "median":
                    continue
                if s["failed"]:
                    notes.append(f"{lib}: {s['failed']} failed")
                if s["wrong"]:
                    notes.append(f"{lib}: WRONG RESULT ({'; '.join(s['wrong'])})")
            cells.append("; ".join(notes))
            table.append(cells)
    _print_table(table)

    print()
    reused = [lib for lib in libs if populated[lib].get("reused")]
    pop = [["population (informative)", *libs]]
    rows = [("runs (s)", "runs_s", 1), ("history series (s)", "history_s", 1), ("compact (s)", "compact_s", 2)]
    for label, field, nd in rows:
        pop.append([label] + [("-" if populated[lib].get(field) is None else f"{populated[lib][field]:.{nd}f}")
                              for lib in libs])  # fmt: skip
    pop.append(["store size (MB)"] + [("-" if populated[lib].get("store_bytes") is None
                                       else f"{populated[lib]['store_bytes'] / 1e6:.1f}") for lib in libs])  # fmt: skip
    _print_table(pop)
    if reused:
        print(f"(stores of {', '.join(reused)} reused from an earlier invocation: their population times are from it)")

    targets: dict[str, Any] = {}
    lines = []
    for w in workloads:
        t = TARGETS.get(w, {})
        lite = results.get("lite_tracker", {}).get(w, {}).get("median")
        if lite is None:
            continue
        if "max_ms" in t:
            ok = lite * 1000 <= t["max_ms"]
            targets[f"{w}: lite <= {t['max_ms']:g} ms"] = ok
            lines.append(f"{w}: lite {_ms(lite)} ms <= {t['max_ms']:g} ms: {'met' if ok else 'MISSED'}")
        for o in ("mlflow", "trackio"):
            sp = speedups.get(w, {}).get(f"{o}/lite")
            if o in t and sp is not None:
                ok = sp >= t[o]
                targets[f"{w}: lite >= {t[o]:g}x faster than {o}"] = ok
                lines.append(f"{w}: lite {sp:.1f}x faster than {o} (target {t[o]:g}x): {'met' if ok else 'MISSED'}")
    if lines:
        print()
        print("targets (they apply to the full sizes, not to this --quick run):" if quick else "targets:")
        for line in lines:
            print("  " + line)
    return {"ratios": ratios, "speedups": speedups, "targets": targets}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    _common.add_selection(p, WORKLOADS)
    p.add_argument("--repeat", type=int, default=3, help="fresh processes per (library, workload); median reported")
    p.add_argument("--quick", action="store_true", help="500 runs and 10,000 points: a smoke run")
    p.add_argument("--calls", type=int, default=None, help="timed calls per process (default 7)")
    p.add_argument("--workdir", type=Path, default=None, help="parent folder of the temporary stores")
    p.add_argument("--stores", type=Path, default=None,
                   help="keep the populated stores in this folder and reuse those of the same sizes")  # fmt: skip
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is None:
        _common.resolve_selection(p, args, WORKLOADS)
    return args


def main(argv: list[str] | None = None) -> None:
    """Populate the stores, run the query matrix and report."""
    args = parse_args(argv)
    if args.child is not None:
        child_main(json.loads(args.child))
        return
    libs = [lib for lib in LIBS if lib in args.only]
    workloads = [w for w in WORKLOADS if w in args.workloads]
    size = dict(QUICK_SIZES if args.quick else SIZES)
    if args.calls is not None:
        size["calls"] = args.calls
    versions = preflight(libs)
    print(f"versions: {versions}", file=sys.stderr)
    if args.stores is not None:
        root = args.stores.resolve()
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = Path(tempfile.mkdtemp(prefix="bench-search-", dir=args.workdir))
    started = time.perf_counter()
    try:
        populated: dict[str, dict[str, Any]] = {}
        for lib in libs:
            print(f"[populate] {lib}: {size['runs']:,} runs + {size['points']:,} points ...", file=sys.stderr,
                  flush=True)  # fmt: skip
            m = populated[lib] = populate(lib, root, size)
            shown = m.get("error") or ("reused" if m.get("reused") else
                                       f"runs {m['runs_s']:.1f} s, history {m['history_s']:.1f} s")  # fmt: skip
            print(f"[populate] {lib}: {shown}", file=sys.stderr, flush=True)
        samples: dict[str, dict[str, list[dict[str, Any]]]] = {lib: {} for lib in libs}
        for w in workloads:
            # Interleave libraries within each repeat so drift on a shared machine hits all of them.
            for r in range(args.repeat):
                for lib in libs:
                    if (lib, w) in UNSUPPORTED:
                        continue
                    if "error" in populated[lib]:
                        s = {"error": "store not populated: " + populated[lib]["error"]}
                    else:
                        s = run_child(lib, w, root / lib, size, populated[lib], QUERY_TIMEOUT_S)
                    samples[lib].setdefault(w, []).append(s)
                    shown = s.get("error") or f"{_ms(s['value'])} ms (first call {_ms(s['first_s'])} ms)" + (
                        f" WRONG: {s['wrong']}" if "wrong" in s else "")  # fmt: skip
                    print(f"[{w} {r + 1}/{args.repeat}] {lib}: {shown}", file=sys.stderr, flush=True)
    finally:
        if args.stores is None:
            shutil.rmtree(root, ignore_errors=True)
    results = {lib: {w: summarize(ss) for w, ss in by_w.items()} for lib, by_w in samples.items()}
    print()
    derived = report(results, populated, libs, workloads, args.quick)
    doc = {
        "benchmark": "search",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "repeat": args.repeat,
        "sizes": size,
        "filter": FILTER,
        "order_by": ORDER_BY,
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
        sys.exit(1)  # a failed sample or a wrong result is a result too: make it visible


if __name__ == "__main__":
    main()
