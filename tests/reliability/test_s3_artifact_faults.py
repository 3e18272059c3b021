"""Faults of an s3:// artifact root (artifacts only; sync has its own tests): the S3 server killed in the
middle of an upload or a download, the server down, wrong credentials, a missing bucket.

Each call raises a LiteTrackerException that names the endpoint or the bucket and says what to do,
within a bounded time (no retry storm), with no secret in the message; no half-downloaded file is left
where the caller asked for the artifact; the run's other data is intact and, once the server is back,
the same calls work. The server is a private one (tests/s3server.py) so that killing it disturbs no
other test; its user may read and write but not create buckets, as on a real deployment.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import s3server
from s3server import S3Server
from test_load_and_crashes import _figures

from lite_tracker import MlflowClient
from lite_tracker.errors import LiteTrackerException

BOUND = 30.0  # seconds any failing call may take
BIG = 40 * 2**20  # several multipart parts
_USER = {"identities": [{"name": "user", "credentials": [{"accessKey": s3server.KEY, "secretKey": s3server.SECRET}],
                         "actions": ["Read", "List", "Tagging", "Write"]}]}
_TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    srv = S3Server()
    (srv.dir / "s3.json").write_text(json.dumps(_USER))
    srv.start()
    try:
        yield srv
    finally:
        srv.close()
        _figures("s3_artifact_faults", {k: round(v, 2) for k, v in sorted(_TIMES.items())})


@pytest.fixture
def up(server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The private server, running, with the environment pointing at it."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "MLFLOW_S3_", "LITE_TRACKER_S3_")):
            monkeypatch.delenv(name)
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    if server.proc is None:
        _restart(server)
    return server


def _client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root: str) -> tuple[MlflowClient, str]:
    """A store whose artifacts go to ``root``, with a run holding a param, a metric and a tag."""
    monkeypatch.setenv("LITE_TRACKER_ARTIFACT_ROOT", root)
    client = MlflowClient(str(tmp_path / "store" / "a.duckdb"))
    run_id = client.create_run("0").info.run_id
    client.log_param(run_id, "lr", "0.1")
    client.log_metric(run_id, "loss", 0.5, step=3)
    client.set_tag(run_id, "team", "a")
    return client, run_id


def _intact(client: MlflowClient, run_id: str) -> None:
    run = client.get_run(run_id)
    assert run.data.params == {"lr": "0.1"} and run.data.metrics == {"loss": 0.5}
    assert run.data.tags["team"] == "a"


def _fails_clearly(name: str, call: Callable[[], Any], *words: str) -> LiteTrackerException:
    """``call`` raises a LiteTrackerException within BOUND seconds whose message holds ``words`` and
    no secret."""
    started = time.monotonic()
    with pytest.raises(LiteTrackerException) as err:
        call()
    elapsed = time.monotonic() - started
    _TIMES[name] = max(_TIMES.get(name, 0.0), elapsed)
    message = str(err.value)
    assert elapsed < BOUND, f"{name} took {elapsed:.1f} s: {message}"
    for word in words:
        assert word in message, message
    for secret in (s3server.SECRET, "not-the-secret-xyz"):
        assert secret not in message
    return err.value


def _big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(BIG))
    return path


def _kill_soon(server: S3Server, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, server.kill)
    timer.start()
    return timer


def _restart(server: S3Server) -> None:
    """Start the server again and wait until its volumes serve writes and reads (SeaweedFS answers
    InternalError for a moment after it reports ready)."""
    server.start()
    fs = server.filesystem()
    deadline = time.monotonic() + BOUND
    while True:
        try:
            fs.pipe_file(f"{server.bucket}/ready-probe", b"ok")
            if fs.cat_file(f"{server.bucket}/ready-probe") == b"ok":
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def _kill_when_bytes_arrive(server: S3Server, folder: Path) -> threading.Thread:
    """Kill the server as soon as a downloaded file under ``folder`` holds some bytes."""
    def watch() -> None:
        deadline = time.monotonic() + BOUND
        while time.monotonic() < deadline:
            if any(f.is_file() and f.stat().st_size for f in folder.rglob("*")):
                break
            time.sleep(0.005)
        server.kill()

    thread = threading.Thread(target=watch)
    thread.start()
    return thread


def test_server_killed_mid_upload_fails_clearly_and_the_upload_works_once_it_is_back(
        up: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, run_id = _client(tmp_path, monkeypatch, f"s3://{up.bucket}/up")
    big = _big_file(tmp_path)
    endpoint = up.endpoint_url
    timer = _kill_soon(up, 0.3)
    _fails_clearly("upload, server killed", lambda: client.log_artifact(run_id, str(big)), endpoint)
    timer.join()
    _intact(client, run_id)
    _restart(up)
    client.log_artifact(run_id, str(big))
    [info] = client.list_artifacts(run_id)
    assert (info.path, info.file_size) == ("big.bin", BIG)


def test_server_killed_mid_download_fails_clearly_and_leaves_no_partial_file(
        up: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, run_id = _client(tmp_path, monkeypatch, f"s3://{up.bucket}/down")
    big = _big_file(tmp_path)
    client.log_artifact(run_id, str(big), "model")
    client.log_text(run_id, "small", "model/notes.txt")
    for what in ("model/big.bin", "model"):
        dst = tmp_path / f"dst-{what.replace('/', '-')}"
        dst.mkdir()
        watcher = _kill_when_bytes_arrive(up, dst)
        _fails_clearly("download, server killed", lambda w=what, d=dst: client.download_artifacts(run_id, w, str(d)),
                       up.endpoint_url)
        watcher.join()
        assert list(dst.rglob("*")) == [], f"a partial download was left: {list(dst.rglob('*'))}"
        _restart(up)
    out = Path(client.download_artifacts(run_id, "model", str(tmp_path / "dst")))
    assert hashlib.sha256((out / "big.bin").read_bytes()).digest() == hashlib.sha256(big.read_bytes()).digest()
    assert (out / "notes.txt").read_text() == "small"
    _intact(client, run_id)


def test_server_down_fails_clearly_within_bounded_time(up: S3Server, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    client, run_id = _client(tmp_path, monkeypatch, f"s3://{up.bucket}/gone")
    client.log_text(run_id, "x", "a/x.txt")
    up.kill()
    endpoint = up.endpoint_url
    _fails_clearly("log_text, server down", lambda: client.log_text(run_id, "y", "a/y.txt"), endpoint)
    _fails_clearly("log_artifact, server down", lambda: client.log_artifact(run_id, __file__), endpoint)
    _fails_clearly("list, server down", lambda: client.list_artifacts(run_id, "a"), endpoint)
    _fails_clearly("download, server down", lambda: client.download_artifacts(run_id, "a", str(tmp_path / "d")),
                   endpoint)
    _intact(client, run_id)


def test_wrong_credentials_fail_clearly_without_the_secret(up: S3Server, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    client, run_id = _client(tmp_path, monkeypatch, f"s3://{up.bucket}/creds")
    client.log_text(run_id, "x", "a/x.txt")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-xyz")
    for name, call in [("log_text", lambda: client.log_text(run_id, "y", "a/y.txt")),
                       ("list", lambda: client.list_artifacts(run_id, "a")),
                       ("download", lambda: client.download_artifacts(run_id, "a/x.txt", str(tmp_path / "d")))]:
        _fails_clearly(f"{name}, wrong credentials", call, "Access denied", up.endpoint_url, "AWS_SECRET_ACCESS_KEY")
    _intact(client, run_id)


def test_a_missing_bucket_is_named_for_every_artifact_call(up: S3Server, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    client, run_id = _client(tmp_path, monkeypatch, "s3://no-such-bucket-lt/arts")
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("list", lambda: client.list_artifacts(run_id)),
        ("download", lambda: client.download_artifacts(run_id, "x.txt", str(tmp_path / "d"))),
        ("log_text", lambda: client.log_text(run_id, "x", "x.txt")),
        ("log_artifact", lambda: client.log_artifact(run_id, __file__)),
    ]
    for name, call in calls:
        err = _fails_clearly(f"{name}, missing bucket", call, "'no-such-bucket-lt' does not exist", up.endpoint_url)
        assert err.error_code == "RESOURCE_DOES_NOT_EXIST"
    _intact(client, run_id)
