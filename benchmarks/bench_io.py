"""Import and export speed (medians of 3).

Workloads:
  1. import of an MLflow SQLite store with 1,000 runs x 10 params x 5 metrics x 100 steps (500,000 points)
     with ``lite_tracker.io.import_mlflow``, vs reading the same runs through MLflow's own client run by run
     (``get_run`` plus ``get_metric_history`` of each metric);
  2. export of a store with 10,000 runs (10 params, 3 tags, 5 metrics x 10 steps) in each format (the
     ``mlflow`` format, 180,000 small files, is timed once).

The MLflow database gets its schema from MLflow itself, then its rows are inserted with ``sqlite3`` (creating
1,000 runs through MLflow's API would take minutes and measure nothing of interest here).

Prints a table and one JSON line. Usage: ``python benchmarks/bench_io.py [--quick]`` (needs
``pip install -e '.[bench]'`` or the test extra, for MLflow).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path


def _median(fn: Callable[[], float], reps: int) -> float:
    return statistics.median(fn() for _ in range(reps))


def make_mlflow_db(path: Path, runs: int, params: int, metrics: int, steps: int) -> list[str]:
    """An MLflow SQLite store: schema by MLflow, rows inserted directly. Returns the run ids."""
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    import mlflow

    uri = f"sqlite:///{path}"
    exp_id = mlflow.MlflowClient(uri).create_experiment("bench")
    ids = [uuid.uuid4().hex for _ in range(runs)]
    now = int(time.time() * 1000)
    con = sqlite3.connect(path)
    with con:
        con.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
            "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) "
            "VALUES (?, ?, 'LOCAL', '', '', 'bench', 'FINISHED', ?, ?, '', 'active', ?, ?)",
            [(r, f"run-{i}", now + i, now + i + 1, f"{path.parent}/artifacts/{r}", int(exp_id))
             for i, r in enumerate(ids)])
        con.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                        [(f"p{j}", str(i * j), r) for i, r in enumerate(ids) for j in range(params)])
        con.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                        [("mlflow.runName", f"run-{i}", r) for i, r in enumerate(ids)])
        con.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, 0)",
            [(f"m{k}", 1.0 / (s + 1 + k), now + s, r, s) for r in ids for k in range(metrics) for s in range(steps)])
        con.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, 0, ?)",
            [(f"m{k}", 1.0 / (steps + k), now + steps - 1, steps - 1, r) for r in ids for k in range(metrics)])
    con.close()
    return ids


def bench_import(work: Path, runs: int, steps: int, reps: int) -> dict[str, float]:
    import mlflow

    from lite_tracker.io import import_mlflow
    from lite_tracker.tracking.client import close_all

    db = work / "mlflow.db"
    ids = make_mlflow_db(db, runs, 10, 5, steps)
    points = runs * 5 * steps

    def ours() -> float:
        store = work / f"import-{uuid.uuid4().hex[:8]}" / "lite.duckdb"
        started = time.perf_counter()
        result = import_mlflow(f"sqlite:///{db}", store=store, copy_artifacts=False)
        took = time.perf_counter() - started
        assert result.runs == runs and result.metric_points == points, result
        close_all()  # stop this store's background compactor before deleting it
        shutil.rmtree(store.parent)
        return took

    client = mlflow.MlflowClient(f"sqlite:///{db}")

    def theirs() -> float:
        started = time.perf_counter()
        n = 0
        for run_id in ids:
            run = client.get_run(run_id)
            for key in run.data.metrics:
                n += len(client.get_metric_history(run_id, key))
        took = time.perf_counter() - started
        assert n == points
        return took

    ours()  # warm up imports
    t_ours = _median(ours, reps)
    t_theirs = _median(theirs, reps)
    return {"import_s": t_ours, "mlflow_client_read_s": t_theirs, "import_speedup": t_theirs / t_ours,
            "import_points_per_s": points / t_ours}


def make_store(path: Path, runs: int, steps: int) -> None:
    """A store of ``runs`` runs written through the store's bulk path."""
    import numpy as np
    import pyarrow as pa

    from lite_tracker.store.segments import PARAMS, RUNS, TAGS
    from lite_tracker.tracking.client import MlflowClient

    client = MlflowClient(str(path))
    store = client._store
    ids = [uuid.uuid4().hex for _ in range(runs)]
    now = int(time.time() * 1000)
    k = len(ids)
    seq = store.clock()
    store.write({
        RUNS.events: {"run_id": ids, "experiment_id": ["0"] * k, "run_name": [f"r{j}" for j in range(k)],
                      "user_id": ["bench"] * k, "status": ["FINISHED"] * k, "start_time": [now + j for j in range(k)],
                      "end_time": [now + j + 1 for j in range(k)], "lifecycle_stage": ["active"] * k,
                      "artifact_uri": [f"{path}.d/artifacts/0/{r}/artifacts" for r in ids], "seq": [seq] * k},
        PARAMS.events: {"run_id": ids * 10, "key": [f"p{j}" for j in range(10) for _ in ids],
                        "value": [str(j) for j in range(10) for _ in ids], "seq": [seq] * (10 * k)},
        TAGS.events: {"run_id": ids * 3, "key": [f"t{j}" for j in range(3) for _ in ids],
                      "value": ["x"] * (3 * k), "seq": [seq] * (3 * k)},
    })
    n = k * 5 * steps
    store.write_metric_points(pa.table({
        "run_id": pa.array(np.repeat(np.array(ids), 5 * steps)),
        "key": pa.array(np.tile(np.repeat(np.array([f"m{j}" for j in range(5)]), steps), k)),
        "value": pa.array(np.linspace(0, 1, n)),
        "timestamp": pa.array(np.full(n, now, dtype=np.int64)),
        "step": pa.array(np.tile(np.arange(steps, dtype=np.int64), 5 * k)),
    }))
    while store.pending_count():
        store.compact()


def bench_export(work: Path, runs: int, steps: int, reps: int, formats: tuple[str, ...]) -> dict[str, float]:
    from lite_tracker.io import export

    store = work / "export-src" / "lite.duckdb"
    make_store(store, runs, steps)
    out: dict[str, float] = {}
    for fmt in formats:
        def once(fmt: str = fmt) -> float:
            target = work / f"export-{fmt}-{uuid.uuid4().hex[:8]}"
            started = time.perf_counter()
            result = export(target, format=fmt, store=store)
            took = time.perf_counter() - started
            assert result.runs == runs and result.rows["metrics"] == runs * 5 * steps, result
            shutil.rmtree(target)
            return took

        # the mlflow format writes a file per param, tag and metric (180,000 files for 10,000 runs): one sample
        out[f"export_{fmt}_s"] = _median(once, 1 if fmt == "mlflow" else reps)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (100 runs), one repeat")
    parser.add_argument("--workdir", help="folder for the temporary stores (default: the system temp folder)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    reps = 1 if args.quick else 3
    sizes = {"import_runs": 100 if args.quick else 1000, "import_steps": 100,
             "export_runs": 1000 if args.quick else 10_000, "export_steps": 10}
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        results.update(bench_import(work, sizes["import_runs"], sizes["import_steps"], reps))
        results.update(bench_export(work, sizes["export_runs"], sizes["export_steps"], reps,
                                    ("parquet", "csv", "duckdb", "mlflow")))
        from lite_tracker.tracking.client import close_all

        close_all()
    width = max(map(len, results))
    for name, value in results.items():
        print(f"{name:<{width}}  {value:,.2f}")
    print(json.dumps({"benchmark": "io", "quick": args.quick, "repeat": reps, "sizes": sizes, "results": results}))


if __name__ == "__main__":
    main()
