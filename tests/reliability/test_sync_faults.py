"""Sync under S3 faults, against a private real S3 server (SeaweedFS) that the tests kill and restart:
the server killed in the middle of a push and of a pull, wrong credentials, a missing bucket. Each
fails within a bounded time with one clear SyncError naming the endpoint (or the bucket) and what to
do, never a traceback or a secret; nothing is half visible; the re-run completes exactly once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from s3server import S3Server
from test_sync import _fill, _pushes, _snapshot

from lite_tracker import sync
from lite_tracker.errors import SyncError
from lite_tracker.sync import SyncProgress
from lite_tracker.tracking.client import MlflowClient

BOUND = 60.0  # seconds a sync command may take to give up on a dead server (retries included)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """A private S3 server (this test may kill it), with the environment pointing at it."""
    srv = S3Server()
    try:
        srv.start()
        srv.filesystem().pipe_file(f"{srv.bucket}/{READY}", b"1")
        for name in list(os.environ):
            if name.startswith(("AWS_", "MLFLOW_S3_", "LITE_TRACKER_S3_")):
                monkeypatch.delenv(name)
        for name, value in srv.env().items():
            monkeypatch.setenv(name, value)
        yield srv
    finally:
        srv.close()


READY = "ready-probe"


def _restart(srv: S3Server) -> None:
    """Start the server again and wait until it serves an object written before (its volumes load a
    moment after the bucket answers)."""
    srv.start()
    fs = srv.filesystem()
    deadline = time.monotonic() + 30
    while True:
        try:
            fs.cat_file(f"{srv.bucket}/{READY}")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _counts(url: str) -> tuple[int, int]:
    """(runs, metric points) the read-only bucket client shows now (it refreshes by itself every few seconds)."""
    remote = MlflowClient(url)
    remote._store.reader.refresh()  # type: ignore[attr-defined]
    return tuple(remote.sql(f"SELECT count(*) FROM {t}").column(0).to_pylist()[0]  # type: ignore[return-value]
                 for t in ("runs", "metrics"))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = str(Path(sys.executable).parent / "lite-tracker")
    return subprocess.run([command, *args], capture_output=True, text=True, timeout=BOUND + 30, env={**os.environ})


# A server killed before a request says it cannot be reached; one killed during a request, that the
# connection broke: each names the endpoint and what to check.
_DOWN = ("Cannot reach the S3 endpoint", "The connection to the S3 endpoint")


def _assert_clear(err: SyncError, srv: S3Server, took: float) -> None:
    assert took < BOUND, took
    assert err.error_code == "TEMPORARILY_UNAVAILABLE"
    assert any(f"{down} {srv.endpoint_url}" in err.message for down in _DOWN), err.message
    assert "network" in err.message or "server is up" in err.message, err.message
    assert srv.env()["AWS_SECRET_ACCESS_KEY"] not in err.message


@pytest.mark.parametrize("delay", [0.0, 0.2, 0.6])
def test_server_killed_mid_push_fails_clearly_and_the_rerun_lands_once(server: S3Server, tmp_path: Path,
                                                                        delay: float) -> None:
    """The server dies once the push's data files are up: at once (before any Delta commit), or a
    moment later (during the table commits or the ``pushes`` commit)."""
    url = f"s3://{server.bucket}/push-kill"
    path = str(tmp_path / "a.duckdb")
    a = MlflowClient(path)
    ids = _fill(a, tmp_path / "a", runs=4, steps=200, artifacts=False)
    killer: list[threading.Timer] = []

    def kill_once_uploaded(p: SyncProgress) -> None:
        if not killer:
            killer.append(threading.Timer(delay, server.kill))
            killer[0].start()

    started = time.monotonic()
    try:
        landed = sync.push(url, store=path, artifacts=False, progress=kill_once_uploaded).commit == 1
    except SyncError as e:
        _assert_clear(e, server, time.monotonic() - started)
        landed = False
    killer[0].join()
    assert not landed or delay > 0  # killed before any commit, the push cannot have landed

    # While the server is down, the command says the same in one line, without a traceback.
    cli = _cli("sync", "push", url, "--store", path, "-q")
    assert cli.returncode == 1 and cli.stdout == ""
    assert any(cli.stderr.startswith(f"lite-tracker: error: TEMPORARILY_UNAVAILABLE: {down}") for down in _DOWN), \
        cli.stderr
    assert "Traceback" not in cli.stderr and cli.stderr.count("\n") == 1

    _restart(server)
    assert _counts(url) in {(0, 0), (4, 4 * 201)}  # nothing half visible
    assert sync.push(url, store=path, artifacts=False).commit == 1
    assert sync.push(url, store=path, artifacts=False).rows == 0
    assert [n for _, n in _pushes({"url": url})] == [1]
    assert _counts(url) == (4, 4 * 201)
    b = str(tmp_path / "b.duckdb")
    sync.pull(url, store=b)
    assert _snapshot(MlflowClient(b), ids) == _snapshot(a, ids)


def test_server_killed_mid_pull_fails_clearly_and_the_rerun_pulls_once(server: S3Server, tmp_path: Path) -> None:
    url = f"s3://{server.bucket}/pull-kill"
    a_path, b_path = str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb")
    a = MlflowClient(a_path)
    ids = _fill(a, tmp_path / "a", runs=3, artifacts=False)
    sync.push(url, store=a_path, artifacts=False)
    ids += _fill(a, tmp_path / "a2", experiment="second", runs=2, artifacts=False)
    sync.push(url, store=a_path, artifacts=False)
    b = MlflowClient(b_path)
    b.create_experiment("mine")

    def kill_after_first_table(p: SyncProgress) -> None:
        server.kill()

    started = time.monotonic()
    with pytest.raises(SyncError) as err:
        sync.pull(url, store=b_path, progress=kill_after_first_table)
    _assert_clear(err.value, server, time.monotonic() - started)
    assert b.search_experiments() and [e.name for e in b.search_experiments()] == ["mine", "Default"]
    assert b.search_runs([e.experiment_id for e in b.search_experiments()]) == []  # nothing half pulled

    cli = _cli("sync", "pull", url, "--store", b_path, "-q")
    assert cli.returncode == 1 and cli.stdout == "" and "Traceback" not in cli.stderr
    assert any(cli.stderr.startswith(f"lite-tracker: error: TEMPORARILY_UNAVAILABLE: {down}") for down in _DOWN), \
        cli.stderr

    _restart(server)
    assert sync.pull(url, store=b_path).runs == 5
    assert sync.pull(url, store=b_path).note == "nothing new"
    assert _snapshot(b, ids) == _snapshot(a, ids)
    assert len(b.get_metric_history(ids[0], "loss")) == 50  # every point once


def test_wrong_credentials_are_refused_clearly_without_the_secret(server: S3Server, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"s3://{server.bucket}/creds"
    path = str(tmp_path / "a.duckdb")
    _fill(MlflowClient(path), tmp_path / "a", runs=1, artifacts=False)
    sync.push(url, store=path, artifacts=False)
    wrong = "wrong-secret-0123456789"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
    calls: dict[str, Any] = {
        "push": lambda: sync.push(url, store=path),
        "pull": lambda: sync.pull(url, store=str(tmp_path / "b.duckdb")),
        "read": lambda: MlflowClient(url).search_experiments(),
        "optimize": lambda: sync.optimize(url),
        "vacuum": lambda: sync.vacuum(url),
    }
    for name, call in calls.items():
        started = time.monotonic()
        with pytest.raises(SyncError) as err:
            call()
        assert time.monotonic() - started < BOUND
        e = err.value
        assert e.error_code == "PERMISSION_DENIED" and e.get_http_status_code() == 403, (name, e)
        assert e.message.startswith(f"Access denied by {server.endpoint_url}"), (name, e.message)
        assert "AWS_SECRET_ACCESS_KEY" in e.message and url in e.message
        assert wrong not in e.message and server.env()["AWS_SECRET_ACCESS_KEY"] not in e.message
    cli = _cli("sync", "pull", url, "--store", str(tmp_path / "b.duckdb"), "-q")
    assert cli.returncode == 1 and "lite-tracker: error: PERMISSION_DENIED: Access denied" in cli.stderr
    assert wrong not in cli.stderr and "Traceback" not in cli.stderr


def test_a_missing_bucket_is_named(server: S3Server, tmp_path: Path) -> None:
    url = "s3://no-such-team-bucket/tracking"
    path = str(tmp_path / "a.duckdb")
    _fill(MlflowClient(path), tmp_path / "a", runs=1, artifacts=False)
    calls: dict[str, Any] = {
        "push": lambda: sync.push(url, store=path),
        "pull": lambda: sync.pull(url, store=path),
        "read": lambda: MlflowClient(url).search_experiments(),
        "optimize": lambda: sync.optimize(url),
        "vacuum": lambda: sync.vacuum(url),
        "migrate": lambda: sync.migrate(url),
    }
    for name, call in calls.items():
        with pytest.raises(SyncError) as err:
            call()
        e = err.value
        assert e.error_code == "RESOURCE_DOES_NOT_EXIST" and e.get_http_status_code() == 404, (name, e)
        assert e.message.startswith(f"Bucket 'no-such-team-bucket' does not exist at {server.endpoint_url}"), name
        assert "create it first" in e.message
    cli = _cli("sync", "push", url, "--store", path, "-q")
    assert cli.returncode == 1 and "Traceback" not in cli.stderr
    assert "RESOURCE_DOES_NOT_EXIST: Bucket 'no-such-team-bucket' does not exist" in cli.stderr


def _closed_port_containing(digits: str) -> int:
    """A port on 127.0.0.1 that nothing listens on and whose number contains ``digits``."""
    for port in range(int(digits) * 10, int(digits) * 10 + 10):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"no closed port found containing {digits}")


def test_a_dead_endpoint_is_unreachable_whatever_digits_its_port_has(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The kind of failure comes from the answer, never from digits in the message: a dead endpoint on
    port 4030x is "cannot reach", not "access denied" (HTTP 403)."""
    endpoint = f"http://127.0.0.1:{_closed_port_containing('4030')}"
    for name in list(os.environ):
        if name.startswith(("AWS_", "MLFLOW_S3_", "LITE_TRACKER_S3_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-value")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    path = str(tmp_path / "a.duckdb")
    _fill(MlflowClient(path), tmp_path / "a", runs=1, artifacts=False)
    for call in (lambda: sync.push("s3://team/x", store=path, artifacts=False),
                 lambda: sync.pull("s3://team/x", store=path)):
        with pytest.raises(SyncError) as err:
            call()
        assert err.value.error_code == "TEMPORARILY_UNAVAILABLE", err.value.message
        assert err.value.message.startswith(f"Cannot reach the S3 endpoint {endpoint}"), err.value.message
