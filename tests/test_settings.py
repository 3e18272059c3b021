"""Where the store lives: explicit URI, then LITE_TRACKER_URI, then a local MLFLOW_TRACKING_URI, then the default."""

from __future__ import annotations

from pathlib import Path

import pytest

import lite_tracker as mlflow
from lite_tracker.errors import InvalidParameterValue
from lite_tracker.settings import TrackingUriIgnoredWarning, resolve_settings


def test_resolution_order(tmp_path: Path) -> None:
    env = {"LITE_TRACKER_URI": str(tmp_path / "a.duckdb"), "MLFLOW_TRACKING_URI": str(tmp_path / "b.duckdb")}
    assert resolve_settings(str(tmp_path / "x.duckdb"), env=env).store_path == tmp_path / "x.duckdb"
    assert resolve_settings(None, env=env).store_path == tmp_path / "a.duckdb"
    assert resolve_settings(None, env={"MLFLOW_TRACKING_URI": f"file:{tmp_path}/mlruns"}).store_path == (
        tmp_path / "mlruns" / "lite_tracker.duckdb")
    with pytest.warns(TrackingUriIgnoredWarning, match="Runs go to"):
        assert resolve_settings(None, env={"MLFLOW_TRACKING_URI": "http://order-test:5000"}).store_path == (
            Path.cwd() / "lite_tracker.duckdb")
    assert resolve_settings(f"duckdb://{tmp_path}/d.duckdb", env={}).store_path == tmp_path / "d.duckdb"


def test_artifact_root_resolution(tmp_path: Path) -> None:
    s = resolve_settings(str(tmp_path / "t.duckdb"), env={})
    assert s.artifact_root == str(tmp_path / "t.duckdb.d" / "artifacts")
    s = resolve_settings(str(tmp_path / "t.duckdb"), env={"MLFLOW_DEFAULT_ARTIFACT_ROOT": "s3://b/p/"})
    assert s.artifact_root == "s3://b/p"
    s = resolve_settings(str(tmp_path / "t.duckdb"), env={"LITE_TRACKER_ARTIFACT_ROOT": str(tmp_path / "art"),
                                                         "MLFLOW_DEFAULT_ARTIFACT_ROOT": "s3://b/p"})
    assert s.artifact_root == str(tmp_path / "art")


@pytest.mark.parametrize("uri", ["http://localhost:5000", "https://mlflow.example", "databricks"])
def test_server_uris_get_a_clear_error(uri: str) -> None:
    with pytest.raises(InvalidParameterValue, match="needs no server|Unsupported"):
        mlflow.set_tracking_uri(uri)


def test_database_uri_rejected() -> None:
    with pytest.raises(InvalidParameterValue, match="sqlite"):
        mlflow.set_tracking_uri("sqlite:///mlflow.db")


def test_default_store_is_created_in_cwd(tmp_path: Path) -> None:
    with mlflow.start_run():
        mlflow.log_metric("x", 1.0)
    assert (tmp_path / "lite_tracker.duckdb").exists()
    assert mlflow.get_tracking_uri() == str(tmp_path / "lite_tracker.duckdb")


def test_env_uri_and_bad_tuning_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITE_TRACKER_URI", str(tmp_path / "env.duckdb"))
    assert mlflow.MlflowClient().tracking_uri == str(tmp_path / "env.duckdb")
    with pytest.raises(InvalidParameterValue, match="LITE_TRACKER_FLUSH_INTERVAL"):
        resolve_settings(None, env={"LITE_TRACKER_FLUSH_INTERVAL": "soon"})
