"""Artifacts logged straight to s3:// on a real S3 server (SeaweedFS on loopback, see s3server.py)."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from lite_tracker.errors import LiteTrackerException, SyncError
from lite_tracker.tracking.client import MlflowClient


@pytest.fixture
def s3_client(s3: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    monkeypatch.setenv("LITE_TRACKER_ARTIFACT_ROOT", f"{s3['url']}/artifacts")
    return MlflowClient(str(tmp_path / "a.duckdb"))


def test_log_and_read_back_every_kind_of_artifact(s3_client: MlflowClient, s3: dict[str, Any],
                                                  tmp_path: Path) -> None:
    client = s3_client
    run = client.create_run("0")
    rid = run.info.run_id
    assert run.info.artifact_uri.startswith(s3["url"] + "/artifacts/0/")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.bin").write_bytes(os.urandom(3000))
    single = tmp_path / "model.pkl"
    single.write_bytes(b"\x00\x01" * 500)

    client.log_artifact(rid, str(single))
    client.log_artifact(rid, str(single), "nested/dir")
    client.log_artifacts(rid, str(src), "tree")
    client.log_text(rid, "hello ü", "notes/hello.txt")
    client.log_dict(rid, {"lr": 0.1, "layers": [1, 2]}, "config.json")
    import numpy as np

    client.log_image(rid, np.zeros((4, 5, 3), dtype=np.uint8), "images/black.png")

    class _Figure:  # anything with savefig() is logged like a matplotlib figure
        def savefig(self, buf: Any, format: str) -> None:
            buf.write(f"figure as {format}".encode())

    client.log_figure(rid, _Figure(), "plots/fig.svg")
    client.log_stream(rid, io.BytesIO(b"streamed bytes"), "streamed.bin")

    top = client.list_artifacts(rid)
    assert [(f.path, f.is_dir) for f in top] == [
        ("images", True), ("nested", True), ("notes", True), ("plots", True), ("tree", True),
        ("config.json", False), ("model.pkl", False), ("streamed.bin", False)]
    assert [f.path for f in client.list_artifacts(rid, "tree/sub")] == ["tree/sub/b.bin"]
    assert client.list_artifacts(rid, "tree/sub")[0].file_size == 3000

    out = Path(client.download_artifacts(rid, "", str(tmp_path / "dl")))
    assert (out / "model.pkl").read_bytes() == single.read_bytes()
    assert (out / "nested" / "dir" / "model.pkl").read_bytes() == single.read_bytes()
    assert (out / "tree" / "a.txt").read_text() == "alpha"
    assert (out / "tree" / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()
    assert (out / "notes" / "hello.txt").read_text(encoding="utf-8") == "hello ü"
    assert json.loads((out / "config.json").read_text()) == {"lr": 0.1, "layers": [1, 2]}
    assert (out / "images" / "black.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "plots" / "fig.svg").read_bytes() == b"figure as svg"
    assert (out / "streamed.bin").read_bytes() == b"streamed bytes"
    one = client.download_artifacts(rid, "tree/a.txt", str(tmp_path / "one"))
    assert Path(one).read_text() == "alpha"
    with pytest.raises(LiteTrackerException):
        client.download_artifacts(rid, "missing.txt", str(tmp_path / "none"))


def test_large_file_goes_up_as_multipart(s3_client: MlflowClient, s3: dict[str, Any], tmp_path: Path) -> None:
    run = s3_client.create_run("0")
    big = tmp_path / "weights.bin"
    data = os.urandom(20 * 2**20 + 123)
    big.write_bytes(data)
    s3_client.log_artifact(run.info.run_id, str(big), "ckpt")
    key = run.info.artifact_uri.removeprefix("s3://") + "/ckpt/weights.bin"
    info = s3["fs"].info(key)
    assert info["size"] == len(data)
    assert "-" in info["ETag"], "expected a multipart upload (ETag ends in -<parts>)"
    back = Path(s3_client.download_artifacts(run.info.run_id, "ckpt/weights.bin", str(tmp_path / "back")))
    assert hashlib.md5(back.read_bytes()).digest() == hashlib.md5(data).digest()


@pytest.mark.parametrize("variable", ["MLFLOW_S3_ENDPOINT_URL", "LITE_TRACKER_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"])
def test_endpoint_from_each_variable(variable: str, s3: dict[str, Any], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv(variable, s3["server"].endpoint_url)
    monkeypatch.setenv("MLFLOW_DEFAULT_ARTIFACT_ROOT", f"{s3['url']}/art")
    client = MlflowClient(str(tmp_path / "e.duckdb"))
    run = client.create_run("0")
    client.log_text(run.info.run_id, variable, "which.txt")
    assert s3["fs"].cat_file(run.info.artifact_uri.removeprefix("s3://") + "/which.txt") == variable.encode()


def test_bad_credentials_give_a_clear_error_without_secrets(s3: dict[str, Any], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-xyz")
    monkeypatch.setenv("LITE_TRACKER_ARTIFACT_ROOT", f"{s3['url']}/artifacts")
    client = MlflowClient(str(tmp_path / "c.duckdb"))
    run = client.create_run("0")
    with pytest.raises(SyncError) as err:
        client.log_text(run.info.run_id, "x", "x.txt")
    assert "access denied" in str(err.value).lower()
    assert "not-the-secret-xyz" not in str(err.value)
