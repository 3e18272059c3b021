"""Sync speed on a loopback S3 server (SeaweedFS, started here the same way the tests start it).

Workloads (medians of 3):
  1. push of 1,000 artifacts of 10 KB, vs uploading the same files one by one with s3fs ``put_file``;
  2. re-push of an unchanged store with 10,000 runs (nothing to upload);
  3. push of 1,000,000 metric points;
  4. pull of 10 teammates' pushes (10 stores x 100 runs x 1,000 points) into a fresh store;
  5. a team-wide "best runs" query over 100,000 runs in the bucket: the read-only client's
     ``search_runs(order_by=metrics.loss, max_results=10)`` from cold, and the README's deltalake + DuckDB
     query.

Prints a table and one JSON line. Usage: ``python benchmarks/bench_sync.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from s3server import S3Server  # noqa: E402


def _median(fn, reps: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(reps):
        times.append(fn())
    return statistics.median(times)


def bench_artifacts(server: S3Server, work: Path, n: int) -> dict[str, float]:
    from lite_tracker import sync
    from lite_tracker.tracking.client import MlflowClient

    store = str(work / "art.duckdb")
    client = MlflowClient(store)
    run = client.create_run("0")
    src = work / "files"
    src.mkdir()
    rng = os.urandom
    for i in range(n):
        (src / f"f{i:04d}.bin").write_bytes(rng(10_000))
    client.log_artifacts(run.info.run_id, str(src), "data")
    client.flush()
    files = sorted(src.iterdir())
    fs = server.filesystem()

    def push() -> float:
        url = f"s3://{server.bucket}/bench-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        result = sync.push(url, store=store)
        took = time.perf_counter() - started
        assert result.files >= n
        return took

    def one_by_one() -> float:
        prefix = f"{server.bucket}/loop-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        for f in files:
            fs.put_file(str(f), f"{prefix}/{f.name}")
        return time.perf_counter() - started

    push()  # warm up (first writes, client sessions)
    t_push = _median(push)
    t_loop = _median(one_by_one)
    return {"artifacts_push_s": t_push, "artifacts_put_file_loop_s": t_loop, "artifacts_speedup": t_loop / t_push}


def _bulk_store(path: str, runs: int, points_per_run: int, keys: int = 10) -> None:
    """Write a store fast through the segment writer (the same path logging takes)."""
    from lite_tracker.store.segments import PARAMS, RUNS, TAGS
    from lite_tracker.tracking.client import MlflowClient

    client = MlflowClient(path)
    store = client._store
    ids = [uuid.uuid4().hex for _ in range(runs)]
    now = int(time.time() * 1000)
    chunk = 2000
    for i in range(0, runs, chunk):
        part = ids[i:i + chunk]
        k = len(part)
        seq = store.clock()
        store.write({
            RUNS.events: {"run_id": part, "experiment_id": ["0"] * k, "run_name": [f"r{j}" for j in range(k)],
                          "user_id": ["bench"] * k, "status": ["FINISHED"] * k, "start_time": [now] * k,
                          "end_time": [now + 1] * k, "lifecycle_stage": ["active"] * k,
                          "artifact_uri": [f"{path}.d/artifacts/0/{r}/artifacts" for r in part], "seq": [seq] * k},
            PARAMS.events: {"run_id": part * 3, "key": ["lr"] * k + ["layers"] * k + ["opt"] * k,
                            "value": ["0.1"] * k + ["3"] * k + ["sgd"] * k, "seq": [seq] * (3 * k)},
            TAGS.events: {"run_id": part, "key": ["team"] * k, "value": ["vision"] * k, "seq": [seq] * k},
        })
    steps = points_per_run // keys
    if steps:
        n = steps * keys
        per_write = max(1, 100_000 // n)  # runs per segment: about 100k points each
        for i in range(0, runs, per_write):
            part = ids[i:i + per_write]
            points = ([r for r in part for _ in range(n)], [f"m{j % keys}" for _ in part for j in range(n)],
                      [j * 0.5 for _ in part for j in range(n)], [now + j for _ in part for j in range(n)],
                      [j // keys for _ in part for j in range(n)])
            store.write({}, (points, []))
    while store.pending_count():
        store.compact()


def bench_repush(server: S3Server, work: Path, runs: int) -> dict[str, float]:
    from lite_tracker import sync

    store = str(work / "runs.duckdb")
    _bulk_store(store, runs, 0)
    url = f"s3://{server.bucket}/repush-{uuid.uuid4().hex[:8]}"
    first = sync.push(url, store=store)
    assert first.runs == runs, first

    def again() -> float:
        started = time.perf_counter()
        result = sync.push(url, store=store)
        took = time.perf_counter() - started
        assert result.files == 0, result
        return took

    return {"repush_unchanged_s": _median(again), "first_push_runs_s": first.seconds}


def bench_metrics(server: S3Server, work: Path, points: int) -> dict[str, float]:
    from lite_tracker import sync

    store = str(work / "metrics.duckdb")
    runs = 100
    _bulk_store(store, runs, points // runs)

    def push() -> float:
        url = f"s3://{server.bucket}/metrics-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        result = sync.push(url, store=store)
        took = time.perf_counter() - started
        assert result.rows >= points, result
        return took

    return {"push_metric_points_s": _median(push), "metric_points": float(points)}


def bench_pull(server: S3Server, work: Path, teammates: int, points: int) -> dict[str, float]:
    from lite_tracker import sync

    url = f"s3://{server.bucket}/pull-{uuid.uuid4().hex[:8]}"
    for i in range(teammates):
        store = str(work / f"mate{i}.duckdb")
        _bulk_store(store, 100, points // 100)
        sync.push(url, store=store)

    def pull() -> float:
        started = time.perf_counter()
        result = sync.pull(url, store=str(work / f"puller-{uuid.uuid4().hex[:8]}.duckdb"))
        took = time.perf_counter() - started
        assert result.runs == teammates * 100, result
        return took

    return {"pull_10_teammates_s": _median(pull)}


def bench_best_runs(server: S3Server, work: Path, runs: int) -> dict[str, float]:
    import duckdb
    from deltalake import DeltaTable

    from lite_tracker import sync
    from lite_tracker.bucket.reader import BucketReader
    from lite_tracker.tracking.client import MlflowClient

    url = f"s3://{server.bucket}/best-{uuid.uuid4().hex[:8]}"
    store = str(work / "best.duckdb")
    _bulk_store(store, runs, 10, keys=1)  # one metric per run, 10 points
    sync.push(url, store=store)

    def client_query() -> float:
        started = time.perf_counter()
        client = MlflowClient(url)
        client._store.reader = BucketReader(url)  # cold: nothing downloaded yet
        best = client.search_runs(["0"], order_by=["metrics.m0 ASC"], max_results=10)
        took = time.perf_counter() - started
        assert len(best) == 10
        return took

    def delta_query() -> float:
        started = time.perf_counter()
        con = duckdb.connect()
        for name in ("run_events", "metrics"):
            con.register(name, DeltaTable(f"{url}/tables/{name}", storage_options=sync.storage_options())
                         .to_pyarrow_dataset())
        rows = con.sql("WITH r AS (SELECT run_id, arg_max(run_name, seq) AS run_name FROM run_events "
                       "GROUP BY run_id), m AS (SELECT run_id, arg_max(value, (step, timestamp)) AS v FROM metrics "
                       "WHERE key = 'm0' GROUP BY run_id) SELECT run_name, v FROM r JOIN m USING (run_id) "
                       "ORDER BY v LIMIT 10").fetchall()
        took = time.perf_counter() - started
        assert len(rows) == 10
        return took

    return {"best_runs_client_s": _median(client_query), "best_runs_deltalake_duckdb_s": _median(delta_query)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of each workload")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    server = S3Server()
    server.start()
    os.environ.update(server.env())
    results: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "a").mkdir()
            (work / "b").mkdir()
            (work / "c").mkdir()
            (work / "d").mkdir()
            (work / "e").mkdir()
            results.update(bench_artifacts(server, work / "a", 1000 // scale))
            results.update(bench_repush(server, work / "b", 10_000 // scale))
            results.update(bench_metrics(server, work / "c", 1_000_000 // scale))
            results.update(bench_pull(server, work / "d", 10, 100_000 // scale))
            results.update(bench_best_runs(server, work / "e", 100_000 // scale))
    finally:
        from lite_tracker.tracking.client import close_all

        close_all()
        server.close()
    print(f"push of {1000 // scale} artifacts of 10 KB:   {results['artifacts_push_s']:.2f} s "
          f"(put_file loop {results['artifacts_put_file_loop_s']:.2f} s, {results['artifacts_speedup']:.1f}x)")
    print(f"re-push, unchanged store, {10_000 // scale} runs: {results['repush_unchanged_s']:.2f} s")
    print(f"push of {1_000_000 // scale:,} metric points:    {results['push_metric_points_s']:.2f} s")
    print(f"pull of 10 teammates' pushes:        {results['pull_10_teammates_s']:.2f} s")
    print(f"best runs over {100_000 // scale:,} runs: client {results['best_runs_client_s']:.2f} s, "
          f"deltalake+DuckDB {results['best_runs_deltalake_duckdb_s']:.2f} s")
    print(json.dumps({"benchmark": "sync", **{k: round(v, 4) for k, v in results.items()}}))


if __name__ == "__main__":
    main()
