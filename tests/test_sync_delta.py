"""The team bucket as Delta Lake tables (real S3 server): concurrent pushers from several processes,
pushes killed at random points, optimize and vacuum under pull, time travel, the migration from format 1,
readers outside lite_tracker (deltalake, pyarrow, DuckDB, polars), and fork()."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_sync import _fill, _pushes, _snapshot

from lite_tracker import sync
from lite_tracker.bucket.objects import Bucket, Commit
from lite_tracker.errors import SyncError
from lite_tracker.store.segments import TABLES
from lite_tracker.sync import storage_options
from lite_tracker.sync._local import LocalStore
from lite_tracker.sync._push import _relocate
from lite_tracker.tracking.client import MlflowClient

_PUSHER = textwrap.dedent("""
    import sys
    from lite_tracker import sync
    from lite_tracker.entities import Metric
    from lite_tracker.tracking.client import MlflowClient

    store, url, pushes = sys.argv[1], sys.argv[2], int(sys.argv[3])
    c = MlflowClient(store)
    eid = c.create_experiment("w-" + store[-12:])
    for i in range(pushes):
        rid = c.create_run(eid, run_name=f"r{i}").info.run_id
        c.log_batch(rid, metrics=[Metric("loss", float(s), 1, s) for s in range(25)])
        c.set_terminated(rid)
        c.flush()
        sync.push(url, store=store, artifacts=False)
    print("done", flush=True)
""")


def _python(code: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ})


def _remote(url: str) -> MlflowClient:
    """The read-only client of ``url``, up to date now (it refreshes by itself every few seconds)."""
    client = MlflowClient(url)
    client._store.reader.refresh()  # type: ignore[attr-defined]
    return client


def _delta(s3: dict[str, Any], table: str, version: int | None = None) -> Any:
    from deltalake import DeltaTable

    return DeltaTable(f"{s3['url']}/tables/{table}", version=version, storage_options=storage_options())


def test_four_processes_ten_pushes_each_land_every_row_once(s3: dict[str, Any], tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", _PUSHER, str(tmp_path / f"p{i}.duckdb"), s3["url"], "10"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
             for i in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and "done" in out, err[-3000:]
    pushes = _pushes(s3)
    assert len(pushes) == 40 and len(set(pushes)) == 40
    assert sorted(n for _, n in pushes) == sorted(list(range(1, 11)) * 4)
    metrics = _delta(s3, "metrics").to_pyarrow_table()
    assert metrics.num_rows == 40 * 25
    keys = set(zip(*(metrics.column(c).to_pylist() for c in ("run_id", "key", "step"))))
    assert len(keys) == 40 * 25  # every point exactly once
    remote = MlflowClient(s3["url"])
    assert remote.sql("SELECT count(*) FROM metrics").column(0).to_pylist() == [1000]
    assert remote.sql("SELECT count(*) FROM runs").column(0).to_pylist() == [40]


def test_a_push_killed_at_random_points_reruns_exactly_once(s3: dict[str, Any], tmp_path: Path) -> None:
    rng = random.Random(14)
    for round_ in range(4):
        url = f"{s3['url']}/kill-{round_}"
        path = str(tmp_path / f"k{round_}.duckdb")
        a = MlflowClient(path)
        ids = _fill(a, tmp_path / f"a{round_}", runs=6, steps=400, artifacts=False)
        code = "import sys; from lite_tracker import sync; sync.push(sys.argv[1], store=sys.argv[2])"
        proc = subprocess.Popen([sys.executable, "-c", code, url, path], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env={**os.environ})
        time.sleep(rng.uniform(0.3, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        remote = _remote(url)
        runs, points = (remote.sql(f"SELECT count(*) FROM {t}").column(0).to_pylist()[0] for t in ("runs", "metrics"))
        assert (runs, points) in {(0, 0), (6, 6 * 401)}, (round_, runs, points)  # nothing half visible
        sync.push(url, store=path)
        assert sync.push(url, store=path).rows == 0
        remote = _remote(url)
        assert remote.sql("SELECT count(*) FROM metrics").column(0).to_pylist() == [6 * 401]
        assert _delta({"url": url}, "metrics").to_pyarrow_table().num_rows == 6 * 401
        assert [n for _, n in _pushes({"url": url})] == [1]
        b = str(tmp_path / f"b{round_}.duckdb")
        sync.pull(url, store=b)
        assert _snapshot(MlflowClient(b), ids) == _snapshot(a, ids)


_KILLED_AT = textwrap.dedent("""
    import os, signal, sys
    from lite_tracker import sync
    from lite_tracker.bucket import delta

    commit, point = delta.commit, sys.argv[3]

    def commit_then_die(dt, table, *args):
        if point == "before-pushes" and table == "pushes":
            os.kill(os.getpid(), signal.SIGKILL)
        commit(dt, table, *args)
        if point == "after-one-table":
            os.kill(os.getpid(), signal.SIGKILL)

    delta.commit = commit_then_die
    sync.push(sys.argv[1], store=sys.argv[2], artifacts=False)
""")


@pytest.mark.parametrize("point", ["after-one-table", "before-pushes"])
def test_a_push_killed_between_its_table_commits_reruns_whole(s3: dict[str, Any], tmp_path: Path,
                                                              point: str) -> None:
    """The window the random kills above hit only on a slow machine: some (or all) event tables hold
    rows of push 1, its ``pushes`` row is missing. The re-run's row must count every row of push 1,
    those committed before the kill included, or a pull (which reads the tables the row lists) misses
    them."""
    path = str(tmp_path / "k.duckdb")
    a = MlflowClient(path)
    ids = _fill(a, tmp_path / "a", runs=3, steps=40, artifacts=False)
    killed = subprocess.run([sys.executable, "-c", _KILLED_AT, s3["url"], path, point], capture_output=True,
                            text=True, timeout=120, env={**os.environ})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert _remote(s3["url"]).sql("SELECT count(*) FROM runs").column(0).to_pylist() == [0]  # nothing visible
    ids += _fill(a, tmp_path / "more", runs=1, steps=40, artifacts=False)  # logged before the re-run
    assert sync.push(s3["url"], store=path, artifacts=False).commit == 1
    assert sync.push(s3["url"], store=path, artifacts=False).rows == 0
    assert [n for _, n in _pushes(s3)] == [1]
    counts = json.loads(_delta(s3, "pushes").to_pyarrow_table().column("tables")[0].as_py())
    written = [spec.events for spec in TABLES if s3["fs"].exists(f"{s3['prefix']}/tables/{spec.events}/_delta_log")]
    assert counts == {name: _delta(s3, name).to_pyarrow_table().num_rows for name in written}
    assert counts["metrics"] == 4 * 41 and counts["run_events"] >= 4
    b_path = str(tmp_path / "b.duckdb")
    sync.pull(s3["url"], store=b_path)
    b = MlflowClient(b_path)
    assert b.get_experiment_by_name("team").tags == {"team": "vision"}
    assert _snapshot(b, ids) == _snapshot(a, ids)
    assert _snapshot(_remote(s3["url"]), ids) == _snapshot(a, ids)


def test_pull_after_optimize_and_vacuum_and_time_travel(s3: dict[str, Any], tmp_path: Path) -> None:
    a_path, b_path = str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb")
    a = MlflowClient(a_path)
    batches = []
    times = []
    versions = []
    for i in range(3):
        batches.append(_fill(a, tmp_path / f"f{i}", experiment="team", runs=2, artifacts=False))
        sync.push(s3["url"], store=a_path)
        times.append(datetime.now(timezone.utc))
        versions.append(_delta(s3, "pushes").version())
        time.sleep(1.1)
    assert sync.pull(s3["url"], store=b_path, as_of=versions[0]).runs == 2
    b = MlflowClient(b_path)
    assert {r.info.run_id for r in b.search_runs([b.get_experiment_by_name("team").experiment_id])} == set(batches[0])

    # A leftover of an interrupted push, then optimize (rewrites every table) and vacuum (deletes both).
    store_id = LocalStore(a).store_id()
    leftover = f"{s3['prefix']}/tables/metrics/store={store_id}/part-000000000009-leftover.zstd.parquet"
    buf = io.BytesIO()
    pq.write_table(pa.table({"run_id": ["x" * 32]}), buf)
    s3["fs"].pipe_file(leftover, buf.getvalue())
    before = len(_delta(s3, "metrics").file_uris())
    got = sync.optimize(s3["url"])
    assert got["metrics"]["files_removed"] == before == 3 and got["metrics"]["files_added"] == 1
    # Safe while others push: a teammate's push racing a second optimize lands whole.
    e_path = str(tmp_path / "e.duckdb")
    e_ids = _fill(MlflowClient(e_path), tmp_path / "e", experiment="other", runs=2, artifacts=False)
    racing = threading.Thread(target=sync.push, args=(s3["url"],), kwargs={"store": e_path})
    racing.start()
    sync.optimize(s3["url"])
    racing.join(timeout=120)
    assert _remote(s3["url"]).sql("SELECT count(*) FROM metrics").column(0).to_pylist() == [8 * 51]

    # Time travel on the read-only client, by version and by time, after optimize (which keeps the files
    # older snapshots need until a vacuum of their retention window).
    for as_of, runs in ((versions[0], 2), (times[1].isoformat(), 4), (versions[2], 6)):
        past = MlflowClient(f"{s3['url']}?as_of={as_of}")
        assert past.sql("SELECT count(*) FROM runs").column(0).to_pylist() == [runs], as_of
    from lite_tracker.cli import main

    d_path = str(tmp_path / "d.duckdb")
    assert main(["sync", "pull", s3["url"], "--store", d_path, "--as-of", times[0].isoformat(), "-q"]) == 0
    assert MlflowClient(d_path).sql("SELECT count(*) FROM runs").column(0).to_pylist() == [2]
    with pytest.raises(Exception, match="as_of"):
        MlflowClient(f"{s3['url']}?as_of=yesterday")

    removed = sync.vacuum(s3["url"], retain_hours=0)
    assert any(r.endswith("leftover.zstd.parquet") for r in removed) and not s3["fs"].exists(leftover)
    assert len(_delta(s3, "metrics").file_uris()) == 2  # one file per store partition

    everything = [rid for batch in batches for rid in batch]
    sync.pull(s3["url"], store=b_path)
    assert _snapshot(b, everything) == _snapshot(a, everything)
    assert b.sql("SELECT count(*) FROM metrics").column(0).to_pylist() == [8 * 51]  # nothing twice
    c_path = str(tmp_path / "c.duckdb")
    sync.pull(s3["url"], store=c_path)
    assert _snapshot(MlflowClient(c_path), everything) == _snapshot(a, everything)
    assert {r.info.run_id for r in MlflowClient(c_path).search_runs(
        [MlflowClient(c_path).get_experiment_by_name("other").experiment_id])} == set(e_ids)
    latest = _delta(s3, "pushes").version()  # the latest state still reads after vacuum
    assert MlflowClient(f"{s3['url']}?as_of={latest}").sql("SELECT count(*) FROM runs").column(0).to_pylist() == [8]


def _format_1_bucket(s3: dict[str, Any], url: str, path: str) -> None:
    """What a lite_tracker of format 1 pushed: Parquet files per table and a commit object per push."""
    local = LocalStore(MlflowClient(path))
    local.settle()
    store = local.store_id()
    prefix = url.split("://", 1)[1]
    hwm: dict[str, int] = {}
    for number in (1, 2):
        tables, marks, _ = local.new_rows(hwm)
        if number == 1:  # the first commit holds everything but the metrics, the second the metrics
            marks = {**marks, "metrics": 0}
            tables.pop("metrics")
        else:
            tables = {"metrics": tables["metrics"]}
        files = {}
        for name, table in tables.items():
            table = _relocate(table, Bucket(url))
            rel = f"tables/{name}/store={store}/part-{number:012d}-abcd1234.parquet"
            buf = io.BytesIO()
            pq.write_table(table, buf)
            s3["fs"].pipe_file(f"{prefix}/{rel}", buf.getvalue())
            files[name] = [{"path": rel, "rows": table.num_rows, "bytes": len(buf.getvalue())}]
        s3["fs"].pipe_file(f"{prefix}/commits/store={store}/{number:012d}.json", json.dumps(
            {"format": 1, "store": store, "commit": number, "created": 1, "files": files, "hwm": marks,
             "artifacts": {}}).encode())
        hwm = marks
    s3["fs"].pipe_file(f"{prefix}/_lite_tracker.json", b'{"format": 1}')


def test_migrate_a_format_1_bucket(s3: dict[str, Any], tmp_path: Path) -> None:
    path = str(tmp_path / "a.duckdb")
    a = MlflowClient(path)
    ids = _fill(a, tmp_path, runs=3, artifacts=False)
    url = f"{s3['url']}/old"
    _format_1_bucket(s3, url, path)
    for refused in (lambda: sync.push(url, store=path), lambda: sync.pull(url, store=str(tmp_path / "x.duckdb")),
                    lambda: MlflowClient(url).search_experiments()):
        with pytest.raises(SyncError, match="format 1.*sync migrate"):
            refused()

    dry = sync.migrate(url, dry_run=True)
    assert dry.dry_run and dry.commit == 2 and dry.rows > 150
    assert not s3["fs"].exists(f"{s3['prefix']}/old/tables/pushes")
    moved = sync.migrate(url, f"{s3['url']}/new")  # to a new prefix: the old one stays as it was
    assert moved.commit == 2
    assert json.loads(s3["fs"].cat_file(f"{s3['prefix']}/old/_lite_tracker.json")) == {"format": 1}
    assert _snapshot(MlflowClient(f"{s3['url']}/new"), ids) == _snapshot(a, ids)

    from lite_tracker.cli import main

    assert main(["sync", "migrate", url, "-q"]) == 0  # in place
    assert json.loads(s3["fs"].cat_file(f"{s3['prefix']}/old/_lite_tracker.json")) == {"format": 2}
    assert _snapshot(MlflowClient(url), ids) == _snapshot(a, ids)
    with pytest.raises(Exception, match="not a format-1 bucket"):
        sync.migrate(url)
    # The store carries on where its format-1 commits left off: nothing is pushed twice.
    assert sync.push(url, store=path).rows == 0
    # A format-1 reader meets a commit of format 2 and stops with "upgrade", instead of missing pushes.
    bucket = Bucket(url)
    last = bucket.commit_numbers()
    tomb = s3["fs"].cat_file(bucket.commit_path(*next((s, ns[-1]) for s, ns in last.items())))
    with pytest.raises(SyncError, match="newer"):
        Commit.from_json(tomb)


def test_outside_readers_get_what_the_client_returns(s3: dict[str, Any], tmp_path: Path) -> None:
    import duckdb
    import polars as pl
    from deltalake import DeltaTable

    for who in ("ana", "bo"):
        _fill(MlflowClient(str(tmp_path / f"{who}.duckdb")), tmp_path / who, experiment=who, runs=2,
              artifacts=False)
        sync.push(s3["url"], store=str(tmp_path / f"{who}.duckdb"))
    remote = MlflowClient(s3["url"])
    expected = sorted(remote.sql("SELECT run_id, key, step, timestamp, value FROM metrics").to_pylist(),
                      key=lambda r: (r["run_id"], r["key"], r["step"], r["timestamp"]))
    columns = ["run_id", "key", "step", "timestamp", "value"]
    opts = storage_options()
    uri = f"{s3['url']}/tables/metrics"

    def rows(table: Any) -> list[dict[str, Any]]:
        return sorted(table.select(columns).to_pylist(), key=lambda r: (r["run_id"], r["key"], r["step"],
                                                                         r["timestamp"]))

    def same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
        return [{**r, "value": repr(r["value"])} for r in a] == [{**r, "value": repr(r["value"])} for r in b]

    dataset = DeltaTable(uri, storage_options=opts).to_pyarrow_dataset()
    assert same(rows(dataset.to_table()), expected)
    assert same(rows(pl.read_delta(uri, storage_options=opts).to_arrow()), expected)
    con = duckdb.connect()
    con.register("metrics", dataset)
    got = con.sql("SELECT run_id, key, step, timestamp, value FROM metrics").to_arrow_table()
    assert same(rows(got), expected)
    stores = con.sql("SELECT count(DISTINCT store) FROM metrics").fetchall()
    assert stores == [(2,)]


def test_readme_sync_example_runs_on_the_bucket(s3: dict[str, Any], tmp_path: Path) -> None:
    """The README's push / pull / background sync / read-only client example runs as written."""
    import re

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = [b for b in re.findall(r"```py\n(.*?)```", readme, flags=re.S) if "enable_sync" in b]
    assert len(blocks) == 1
    setup = textwrap.dedent("""
        import lite_tracker as mlflow
        mlflow.set_experiment("mnist")
        for lr in (0.1, 0.01, 0.001):
            with mlflow.start_run():
                mlflow.log_param("lr", lr)
                mlflow.log_metric("val_loss", 10 * lr)
    """)
    check = "assert [r.data.params['lr'] for r in best] == ['0.001', '0.01', '0.1'], best\nprint('ok')\n"
    code = setup + blocks[0].replace("s3://team-bucket/tracking", s3["url"]) + check
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=180,
                          env={**os.environ})
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr[-3000:]
    assert [n for _, n in _pushes(s3)] == [1]  # the exit push found nothing new


def test_readme_best_runs_example_runs_on_the_bucket(s3: dict[str, Any], tmp_path: Path) -> None:
    """The README's team query (deltalake + DuckDB, committed data only) runs as written."""
    import re

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = [b for b in re.findall(r"```py\n(.*?)```", readme, flags=re.S) if "to_pyarrow_dataset" in b]
    assert len(blocks) == 1
    for who in ("ana", "bo"):
        c = MlflowClient(str(tmp_path / f"{who}.duckdb"))
        eid = c.create_experiment("mnist")
        for lr in (0.1, 0.01):
            rid = c.create_run(eid, run_name=f"{who}-{lr}").info.run_id
            c.log_param(rid, "lr", lr)
            for step in range(5):
                c.log_metric(rid, "val_loss", lr * 10 / (step + 1) + (who == "bo"), step=step)
            c.set_terminated(rid)
        sync.push(s3["url"], store=str(tmp_path / f"{who}.duckdb"))
    # A leftover file of an interrupted push is not read: only what the Delta log lists counts.
    store_id = LocalStore(MlflowClient(str(tmp_path / "ana.duckdb"))).store_id()
    buf = io.BytesIO()
    pq.write_table(pa.table({"run_id": ["f" * 32], "key": ["val_loss"], "value": [-1.0], "timestamp": [0],
                             "step": [0], "_push": [9]}), buf)
    s3["fs"].pipe_file(f"{s3['prefix']}/tables/metrics/store={store_id}/part-leftover.zstd.parquet", buf.getvalue())
    code = blocks[0].replace("s3://team-bucket/tracking", s3["url"]).replace(".show()", ".fetchall()")
    code = code.replace("con.sql(\"\"\"", "rows = con.sql(\"\"\"")
    scope: dict[str, Any] = {}
    exec(code, scope)
    rows = scope["rows"]
    assert [r[0] for r in rows] == ["ana-0.01", "ana-0.1", "bo-0.01", "bo-0.1"]
    assert rows[0][1:4] == ("FINISHED", "0.01", 0.02)


def test_a_forked_child_of_a_process_that_pushed(s3: dict[str, Any], tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import os, sys
        from lite_tracker import sync
        from lite_tracker.errors import SyncError
        from lite_tracker.tracking.client import MlflowClient

        store, url = sys.argv[1], sys.argv[2]
        c = MlflowClient(store)
        c.create_run("0")
        c.flush()
        sync.push(url, store=store)
        quiet = os.fork()
        if quiet == 0:  # never syncs: a normal exit, exit handlers included
            sys.exit(0)
        syncs = os.fork()
        if syncs == 0:
            try:
                sync.push(url, store=store)
            except SyncError as e:
                os._exit(3 if "forked" in str(e) and "spawn" in str(e) else 4)
            os._exit(5)
        print([os.waitpid(quiet, 0)[1], os.waitpid(syncs, 0)[1]])
        sync.push(url, store=store)  # the parent still pushes
    """)
    out = _python(code, str(tmp_path / "a.duckdb"), s3["url"], timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    quiet, syncs = json.loads(out.stdout.strip().splitlines()[-1])
    assert os.waitstatus_to_exitcode(quiet) == 0 and os.waitstatus_to_exitcode(syncs) == 3, out.stderr[-3000:]
    assert "panicked" not in out.stderr
