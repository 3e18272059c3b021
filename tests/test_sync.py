"""Team sync through a real S3 server (SeaweedFS on loopback): push, pull, the read-only bucket client,
concurrency, crashes of the server, and errors."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from s3server import S3Server

import lite_tracker
from lite_tracker import sync
from lite_tracker.cli import main
from lite_tracker.entities import Metric, Param, RunTag
from lite_tracker.errors import InvalidState, SyncError
from lite_tracker.sync import SkippedCommitWarning
from lite_tracker.tracking.client import MlflowClient


def _fill(client: MlflowClient, tmp_path: Path, experiment: str = "team", runs: int = 3, steps: int = 50,
          artifacts: bool = True) -> list[str]:
    exp = client.get_experiment_by_name(experiment)
    eid = exp.experiment_id if exp else client.create_experiment(experiment, tags={"team": "vision"})
    ids = []
    for i in range(runs):
        run = client.create_run(eid, run_name=f"{experiment}-{i}", tags={"seed": str(i)})
        rid = run.info.run_id
        client.log_batch(rid, metrics=[Metric("loss", 1 / (s + 1) + i, 1000 + s, s) for s in range(steps)]
                         + [Metric("acc", float("nan"), 5, 0)],
                         params=[Param("lr", str(0.1 * (i + 1))), Param("layers", "3")],
                         tags=[RunTag("stage", "dev")])
        client.set_tag(rid, "stage", "prod")  # last writer wins, history kept
        if artifacts:
            client.log_text(rid, f"notes of {rid}", "notes/readme.md")
            src = tmp_path / f"art-{rid}"
            (src / "deep").mkdir(parents=True)
            (src / "deep" / "w.bin").write_bytes(os.urandom(2000 + i))
            client.log_artifacts(rid, str(src), "model")
        client.set_terminated(rid)
        ids.append(rid)
    client.flush()
    return ids


def _snapshot(client: MlflowClient, run_ids: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rid in run_ids:
        run = client.get_run(rid)
        i = run.info
        history = {k: [(m.step, m.timestamp, repr(m.value)) for m in client.get_metric_history(rid, k)]
                   for k in sorted(run.data.metrics)}
        out[rid] = (i.run_name, i.status, i.start_time, i.end_time, i.lifecycle_stage, i.user_id,
                    dict(run.data.params), dict(run.data.tags), {k: repr(v) for k, v in run.data.metrics.items()},
                    history)
    return out


def _artifact_bytes(client: MlflowClient, rid: str, dest: Path) -> dict[str, bytes]:
    root = Path(client.download_artifacts(rid, "", str(dest)))
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _pushes(s3: dict[str, Any]) -> list[tuple[str, int]]:
    """(store, push number) of every row of the bucket's ``pushes`` Delta table."""
    from deltalake import DeltaTable

    from lite_tracker.sync import storage_options

    t = DeltaTable(f"{s3['url']}/tables/pushes", storage_options=storage_options()).to_pyarrow_table()
    return sorted(zip(t.column("store").to_pylist(), t.column("_push").to_pylist()))


def _objects(s3: dict[str, Any]) -> dict[str, Any]:
    return {k: v["ETag"] for k, v in s3["fs"].find(s3["prefix"], detail=True).items()}


def test_push_push_again_pull_compares_everything(s3: dict[str, Any], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    a = MlflowClient(str(tmp_path / "a.duckdb"))
    ids = _fill(a, tmp_path)
    seen: list[Any] = []
    first = sync.push(s3["url"], store=str(tmp_path / "a.duckdb"), progress=seen.append)
    assert first.files >= 6 + 3 * 2 and first.runs == 3 and first.rows > 150
    assert seen and seen[-1].files_done == seen[-1].files_total == first.files
    after_first = _objects(s3)
    assert any("/tables/pushes/_delta_log/" in k for k in after_first)  # Delta tables, one row per push
    assert any("/tables/metrics/_delta_log/" in k for k in after_first)
    assert any("/tables/metrics/store=" in k and k.endswith(".parquet") for k in after_first)

    again = sync.push(s3["url"], store=str(tmp_path / "a.duckdb"))
    assert (again.files, again.bytes, again.rows) == (0, 0, 0)
    assert _objects(s3) == after_first, "a second push must upload nothing"

    b_path = str(tmp_path / "b.duckdb")
    pulled = sync.pull(s3["url"], store=b_path)
    assert pulled.runs == 3
    b = MlflowClient(b_path)
    assert _snapshot(b, ids) == _snapshot(a, ids)
    exp_b = b.get_experiment_by_name("team")
    assert exp_b is not None and exp_b.tags == {"team": "vision"}
    assert {r.info.run_id for r in b.search_runs([exp_b.experiment_id])} == set(ids)
    for rid in ids:  # artifacts on demand from the bucket, byte for byte
        assert b.get_run(rid).info.artifact_uri == f"{s3['url']}/artifacts/{rid}"
        assert _artifact_bytes(b, rid, tmp_path / "b" / rid) == _artifact_bytes(a, rid, tmp_path / "a" / rid)
    assert sync.pull(s3["url"], store=b_path).rows == 0  # nothing new: idempotent

    # Pulling with --artifacts brings them home; the local copies serve the run afterwards.
    assert main(["sync", "pull", s3["url"], "--store", b_path, "--artifacts", "-q"]) == 0
    assert "pulled" in capsys.readouterr().out
    local_uri = b.get_run(ids[0]).info.artifact_uri
    assert "://" not in local_uri and Path(local_uri, "notes", "readme.md").is_file()
    # Pulled data is never pushed back by the puller: only its own Default experiment row goes up.
    back = sync.push(s3["url"], store=b_path)
    assert back.runs == 0 and back.rows <= 1

    # A run belongs to the store that created it: b's change to a's run does not flow back to a.
    b.set_tag(ids[0], "reviewed", "yes")  # on a teammate's run, from b
    b.flush()
    sync.push(s3["url"], store=b_path)
    with pytest.warns(SkippedCommitWarning, match="of this store"):
        sync.pull(s3["url"], store=str(tmp_path / "a.duckdb"))
    assert "reviewed" not in a.get_run(ids[0]).data.tags
    hist = a._read().arrow("SELECT value FROM s.tag_events WHERE run_id = ? AND key = 'stage' ORDER BY seq",
                           [ids[0]])  # the event history is internal: sql() shows only the views
    assert hist.column("value").to_pylist() == ["dev", "prod"]

    # Credentials are written nowhere: not in any object of the bucket, not in the stores.
    secret = os.environ["AWS_SECRET_ACCESS_KEY"].encode()
    key = os.environ["AWS_ACCESS_KEY_ID"].encode()
    blobs = s3["fs"].cat(list(s3["fs"].find(s3["prefix"])))
    assert blobs and not any(secret in b or key in b for b in blobs.values())
    for f in tmp_path.rglob("*"):
        if f.is_file() and f.suffix != ".lock":
            assert secret not in f.read_bytes(), f


def test_read_only_bucket_client(s3: dict[str, Any], tmp_path: Path) -> None:
    a = MlflowClient(str(tmp_path / "a.duckdb"))
    ids = _fill(a, tmp_path, runs=2)
    sync.push(s3["url"], store=str(tmp_path / "a.duckdb"))
    remote = MlflowClient(s3["url"])
    assert remote.tracking_uri == s3["url"]
    exp = remote.get_experiment_by_name("team")
    assert exp is not None
    assert {r.info.run_id for r in remote.search_runs([exp.experiment_id], "params.layers = '3'")} == set(ids)
    assert _snapshot(remote, ids) == _snapshot(a, ids)
    assert [f.path for f in remote.list_artifacts(ids[0], "notes")] == ["notes/readme.md"]
    assert [f.path for f in remote.list_artifacts(ids[0])] == ["model", "notes"]  # packs stay hidden
    # A file changed after it was pushed in a pack goes up again as a plain object, which wins.
    time.sleep(0.01)
    a.log_text(ids[0], "v2 of the notes", "notes/readme.md")
    assert sync.push(s3["url"], store=str(tmp_path / "a.duckdb")).files == 2  # the file and the commit
    got = Path(remote.download_artifacts(ids[0], "notes/readme.md", str(tmp_path / "v2")))
    assert got.read_text() == "v2 of the notes"
    for write in (lambda: remote.create_experiment("x"), lambda: remote.log_metric(ids[0], "m", 1.0),
                  lambda: remote.set_tag(ids[0], "k", "v"), lambda: remote.create_run(exp.experiment_id),
                  lambda: remote.log_text(ids[0], "x", "x.txt")):
        with pytest.raises(InvalidState, match="read-only"):
            write()


def test_experiments_with_the_same_name_merge(s3: dict[str, Any], tmp_path: Path) -> None:
    a, b = (MlflowClient(str(tmp_path / f"{n}.duckdb")) for n in "ab")
    ids_a = _fill(a, tmp_path, experiment="shared", runs=1, artifacts=False)
    time.sleep(0.01)
    ids_b = _fill(b, tmp_path, experiment="shared", runs=1, artifacts=False)
    eid_a, eid_b = (c.get_experiment_by_name("shared").experiment_id for c in (a, b))  # type: ignore[union-attr]
    assert eid_a != eid_b
    for n in "ab":
        sync.push(s3["url"], store=str(tmp_path / f"{n}.duckdb"))
    sync.pull(s3["url"], store=str(tmp_path / "b.duckdb"))
    assert {r.info.run_id for r in b.search_runs([eid_b])} == set(ids_a + ids_b)  # mapped to b's own id
    assert [e.name for e in b.search_experiments()].count("shared") == 1
    remote = MlflowClient(s3["url"])
    assert remote.get_experiment_by_name("shared").experiment_id == eid_a  # type: ignore[union-attr]  # oldest
    assert {r.info.run_id for r in remote.search_runs([eid_a])} == set(ids_a + ids_b)


def test_gc_of_a_store_that_syncs_loses_nothing_pushed_later(s3: dict[str, Any], tmp_path: Path) -> None:
    """Push finds new rows by position in the event tables: gc must not move the rows after the ones it
    deletes, or the next push skips them. Purged runs go up as deleted, never with their data."""
    path = str(tmp_path / "a.duckdb")
    a = MlflowClient(path)
    ids = _fill(a, tmp_path, runs=40, steps=300, artifacts=False)
    sync.push(s3["url"], store=path)
    doomed, kept = ids[:30], ids[30:]
    for rid in doomed:
        a.delete_run(rid)
    a.flush()
    assert main(["gc", "--yes", "--store", path]) == 0
    later = _fill(a, tmp_path, experiment="after", runs=3, artifacts=False)
    a.log_batch(kept[0], metrics=[Metric("late", 1.0, 0, s) for s in range(20)])
    a.flush()
    sync.push(s3["url"], store=path)
    b = MlflowClient(str(tmp_path / "b.duckdb"))
    sync.pull(s3["url"], store=str(tmp_path / "b.duckdb"))
    assert _snapshot(b, kept + later) == _snapshot(a, kept + later)
    assert {b.get_run(rid).info.lifecycle_stage for rid in doomed} == {"deleted"}


def test_two_stores_push_concurrently(s3: dict[str, Any], tmp_path: Path) -> None:
    stores = [str(tmp_path / f"s{i}.duckdb") for i in range(3)]
    ids: list[str] = []
    for i, path in enumerate(stores):
        ids += _fill(MlflowClient(path), tmp_path, experiment=f"e{i}", runs=2)
    results: list[Any] = []
    errors: list[BaseException] = []

    def go(path: str) -> None:
        try:
            results.append(sync.push(s3["url"], store=path))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=go, args=(p,)) for p in stores for _ in range(2)]  # 2 pushers per store
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    pushes = _pushes(s3)
    assert len(pushes) == 3, pushes  # one push per store: a racing second push found nothing new
    remote = MlflowClient(s3["url"])
    found = remote.sql("SELECT run_id, count(*) AS n FROM metrics GROUP BY run_id")
    assert sorted(found.column("run_id").to_pylist()) == sorted(ids)
    assert set(found.column("n").to_pylist()) == {51}


def test_reader_never_sees_a_partial_push(s3: dict[str, Any], tmp_path: Path) -> None:
    from lite_tracker.bucket.reader import BucketReader

    path = str(tmp_path / "a.duckdb")
    a = MlflowClient(path)
    _fill(a, tmp_path, runs=2, artifacts=False)
    sync.push(s3["url"], store=path)
    _fill(a, tmp_path, runs=20, steps=200, artifacts=True)
    done = threading.Event()
    seen: set[tuple[int, int]] = set()

    def poll() -> None:
        reader = BucketReader(s3["url"])
        while not done.is_set():
            reader.refresh()
            with reader.session() as con:
                counts = "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM metrics)"
                seen.add(con.execute(counts).fetchall()[0])
        reader.close()

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        sync.push(s3["url"], store=path)
        time.sleep(0.3)
    finally:
        done.set()
        poller.join()
    assert seen <= {(2, 2 * 51), (22, 2 * 51 + 20 * 201)}, seen
    assert (22, 2 * 51 + 20 * 201) in seen


def test_server_killed_mid_push_then_rerun_finishes_without_duplicates(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    server = S3Server()
    try:
        server.start()
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        url = f"s3://{server.bucket}/crash"
        path = str(tmp_path / "a.duckdb")
        a = MlflowClient(path)
        ids = _fill(a, tmp_path, runs=4, artifacts=False)
        for rid in ids:
            src = tmp_path / f"many-{rid}"
            src.mkdir()
            for j in range(150):
                (src / f"f{j}.txt").write_bytes(os.urandom(1000))
            a.log_artifacts(rid, str(src), "many")

        def kill_after_first_batch(p: Any) -> None:
            if p.files_done and server.proc is not None:
                server.kill()

        with pytest.raises(SyncError):
            sync.push(url, store=path, progress=kill_after_first_batch)
        server.start()
        result = sync.push(url, store=path)
        assert result.commit == 1 and result.runs == 4
        assert sync.push(url, store=path).files == 0
        remote = MlflowClient(url)
        assert remote.sql("SELECT count(*) FROM metrics").column(0).to_pylist() == [4 * 51]
        assert remote._read().arrow("SELECT count(*) FROM param_events").column(0).to_pylist() == [8]
        assert len(remote.list_artifacts(ids[-1], "many")) == 150
        b = str(tmp_path / "b.duckdb")
        sync.pull(url, store=b)
        assert _snapshot(MlflowClient(b), ids) == _snapshot(a, ids)
    finally:
        server.close()


def test_errors_are_clear_and_hold_no_secrets(s3: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "a.duckdb")
    _fill(MlflowClient(path), tmp_path, runs=1, artifacts=False)
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]

    with pytest.raises(SyncError, match="does not exist") as err:
        sync.push("s3://no-such-bucket-xyz/p", store=path)
    assert secret not in str(err.value)
    assert main(["sync", "push", "s3://no-such-bucket-xyz/p", "--store", path, "-q"]) == 1
    assert "does not exist" in capsys.readouterr().err

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-123456")
    with pytest.raises(SyncError, match="(?i)access denied") as err:
        sync.push(s3["url"], store=path)
    assert "wrong-secret-123456" not in str(err.value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # nothing listens on port 9
    started = time.monotonic()
    with pytest.raises(SyncError, match="(?i)cannot reach the S3 endpoint http://127.0.0.1:9") as err:
        sync.pull(s3["url"], store=path)
    assert time.monotonic() - started < 20
    assert secret not in str(err.value)


def test_endpoints_are_shown_without_user_info() -> None:
    from lite_tracker._remote import redact_url

    assert redact_url("https://user:pass@minio.local:9000/x?token=1") == "https://minio.local:9000/x"


def test_dry_run_uploads_nothing(s3: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "a.duckdb")
    _fill(MlflowClient(path), tmp_path, runs=2)
    assert main(["sync", "push", s3["url"], "--store", path, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("would have pushed") and "2 runs" in out
    assert not s3["fs"].exists(s3["prefix"] + "/tables")
    assert main(["sync", "push", s3["url"], "--store", path]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("pushed ") and "push:" in captured.err  # summary; progress on stderr


def test_background_sync_survives_an_outage(s3: dict[str, Any], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    path = str(tmp_path / "a.duckdb")
    a = MlflowClient(path)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # down at first
    lite_tracker.enable_sync(s3["url"], interval=0.3, store=path, push_at_exit=False, min_backoff=0.1)
    try:
        ids = _fill(a, tmp_path, runs=1, artifacts=False)
        deadline = time.monotonic() + 20
        while "background push" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "will retry" in caplog.text
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3["server"].endpoint_url)  # back up
        while not s3["fs"].exists(s3["prefix"] + "/tables/pushes") and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.perf_counter()
        for s in range(2000):  # logging is not slowed down by the syncer
            a.log_metric(ids[0], "late", float(s), step=s)
        assert time.perf_counter() - started < 2
    finally:
        lite_tracker.disable_sync(final_push=True)
    remote = MlflowClient(s3["url"])
    assert len(remote.get_metric_history(ids[0], "late")) == 2000


def test_last_push_at_exit(s3: dict[str, Any], tmp_path: Path) -> None:
    code = (
        "import lite_tracker as mlflow\n"
        f"mlflow.set_tracking_uri({str(tmp_path / 'x.duckdb')!r})\n"
        f"mlflow.enable_sync({s3['url']!r}, interval=3600)\n"
        "with mlflow.start_run() as run:\n"
        "    mlflow.log_metric('m', 1.0)\n"
        "print(run.info.run_id)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ})
    assert out.returncode == 0, out.stderr
    rid = out.stdout.strip()
    assert [m.value for m in MlflowClient(s3["url"]).get_metric_history(rid, "m")] == [1.0]
