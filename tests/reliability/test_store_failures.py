"""Store-level failures surface as clear StoreError subclasses naming the path and what to do; reading
goes on where it can; nothing logged is lost."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from _faults import fill_disk, held_read_write, read_only_view, small_disk, tree_digest

from lite_tracker import MlflowClient
from lite_tracker.cli.main import main as cli
from lite_tracker.entities import Metric
from lite_tracker.errors import (
    InvalidParameterValue,
    LiteTrackerException,
    StoreBusy,
    StoreCorrupt,
    StoreFull,
    StoreReadOnly,
)
from lite_tracker.tracking.client import close_all


def _filled_store(path: Path, pending: bool = True) -> tuple[str, str]:
    """A store with one compacted run and (with ``pending``) one run still in pending segments."""
    client = MlflowClient(str(path))
    exp = client.create_experiment("e")
    old = client.create_run(exp).info.run_id
    client.log_batch(old, [Metric("m", float(i), 0, i) for i in range(10)])
    client.log_param(old, "p", "1")
    client.set_terminated(old)
    client.flush()
    client._store.compact()
    new = client.create_run(exp).info.run_id
    client.log_metric(new, "m", 5.0)
    client.set_terminated(new)
    client.flush()
    if not pending:
        client._store.compact()
    close_all()
    return old, new


def test_a_file_that_is_not_duckdb_is_refused_and_gets_no_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("my notes, not a database\n" * 200)
    with pytest.raises(StoreCorrupt, match="not a DuckDB database") as e:
        MlflowClient(str(path))
    assert e.value.error_code == "INVALID_STATE" and str(path) in e.value.message
    assert not path.with_name("notes.duckdb.d").exists()
    assert path.read_text().startswith("my notes")


def test_a_truncated_store_file_is_reported_damaged(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    _filled_store(path, pending=False)
    data = path.read_bytes()
    path.write_bytes(data[:20_000])
    with pytest.raises(StoreCorrupt, match="damaged") as e:
        MlflowClient(str(path)).search_runs(["0"])
    assert str(path) in e.value.message and "backup" in e.value.message


def test_a_deleted_store_file_whose_folder_holds_data_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    _filled_store(path, pending=True)
    path.unlink()
    with pytest.raises(StoreCorrupt, match="missing") as e:
        MlflowClient(str(path))
    assert str(path) in e.value.message
    assert not path.exists(), "no empty store was started over the remaining data"


def test_a_read_only_store_is_read_in_full_and_refuses_writes(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    old, new = _filled_store(folder / "s.duckdb", pending=True)
    before = tree_digest(folder)
    with read_only_view(folder) as view:
        client = MlflowClient(str(view / "s.duckdb"))
        runs = client.search_runs([client.get_experiment_by_name("e").experiment_id])  # type: ignore[union-attr]
        assert {r.info.run_id for r in runs} == {old, new}  # the compacted run and the pending one
        assert [m.value for m in client.get_metric_history(old, "m")] == [float(i) for i in range(10)]
        assert client.get_run(old).data.params == {"p": "1"}
        assert client.sql("SELECT count(*) AS n FROM metrics").column("n").to_pylist() == [11]
        with pytest.raises(StoreReadOnly, match="read-only") as e:
            client.create_run("0")
        assert e.value.error_code == "PERMISSION_DENIED" and str(view) in e.value.message
        with pytest.raises(StoreReadOnly):
            client.log_text(old, "x", "a.txt")
        assert client._store.compact is not None and client._store._compactor is None
        close_all()
    assert tree_digest(folder) == before


def test_a_store_file_copied_alone_to_a_read_only_folder_is_read(tmp_path: Path) -> None:
    src = tmp_path / "s.duckdb"
    old, _ = _filled_store(src, pending=False)
    folder = tmp_path / "alone"
    folder.mkdir()
    shutil.copy(src, folder / "s.duckdb")
    with read_only_view(folder) as view:
        client = MlflowClient(str(view / "s.duckdb"))
        assert client.get_run(old).data.params == {"p": "1"}
        close_all()
    assert sorted(os.listdir(folder)) == ["s.duckdb"]


def test_another_program_holding_the_file_never_stops_logging(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    old, _ = _filled_store(path, pending=False)
    client = MlflowClient(str(path))
    run = client.create_run("0").info.run_id
    client.log_metric(run, "k", 0.0, step=0)
    with held_read_write(path) as pid:
        client.log_batch(run, [Metric("k", float(i), 0, i) for i in range(1, 100)])
        client.flush()  # logging goes on: writers never open the file
        with pytest.raises(StoreBusy, match=f"PID {pid}") as e:
            client.search_runs(["0"])
        assert e.value.error_code == "TEMPORARILY_UNAVAILABLE" and "read_only=True" in e.value.message
        with pytest.raises(StoreBusy, match=f"PID {pid}"):
            client._store.compact()
    assert [m.step for m in client.get_metric_history(run, "k")] == list(range(100))
    assert client._store.compact() is not None
    assert [m.step for m in client.get_metric_history(run, "k")] == list(range(100))
    assert client.get_run(old).data.params == {"p": "1"}


def test_disk_full_names_enospc_and_loses_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with small_disk(tmp_path / "disk") as disk:
        path = disk / "s.duckdb"
        client = MlflowClient(str(path))
        run = client.create_run("0").info.run_id
        client.flush()
        client._store.compact()
        filler = fill_disk(disk, leave=200_000)
        logged = 0
        with pytest.raises(StoreFull) as e:
            for _ in range(100):
                client.log_batch(run, [Metric("m", float(i), 0, i) for i in range(logged, logged + 1000)])
                logged += 1000
                client.flush()  # the batch whose flush fails stays buffered
        assert "ENOSPC" in e.value.message and str(disk) in e.value.message
        assert e.value.error_code == "RESOURCE_EXHAUSTED"
        assert not [p for p in (path.parent / "s.duckdb.d" / "pending").rglob("*.tmp")]
        with pytest.raises(StoreFull, match="ENOSPC") as compacting:
            client._store.compact()
        assert "no transaction is active" not in compacting.value.message
        assert cli(["compact", "--store", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "ENOSPC" in err
        filler.unlink()
        client.flush()
        assert client._store.compact() is not None
        steps = [m.step for m in client.get_metric_history(run, "m")]
        assert steps == list(range(logged))
        close_all()


@pytest.mark.parametrize("name", ["x" * 300 + ".txt", "a\x00b.txt", "dir/" + "y" * 256 + "/f.txt"])
def test_artifact_names_the_os_refuses_are_invalid_and_leave_no_temp_files(client: MlflowClient, name: str) -> None:
    run = client.create_run("0")
    with pytest.raises(InvalidParameterValue) as e:
        client.log_text(run.info.run_id, "hello", name)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    root = Path(run.info.artifact_uri)
    assert not [p for p in root.parent.rglob(".tmp-*")] if root.parent.exists() else True


def test_a_path_too_long_for_the_os_is_invalid_and_leaves_no_temp_file(client: MlflowClient) -> None:
    run = client.create_run("0")
    name = "/".join(["d" * 200] * 25) + "/f.txt"  # every part fits, the whole path does not
    with pytest.raises(LiteTrackerException) as e:
        client.log_text(run.info.run_id, "hello", name)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    root = Path(run.info.artifact_uri)
    assert not list(root.rglob(".tmp-*")) if root.exists() else True


def test_clock_jumps_neither_reorder_nor_drop_metrics(client: MlflowClient) -> None:
    run = client.create_run("0").info.run_id
    now = 1_700_000_000_000
    jumps = [now, now + 10, now - 3_600_000, now - 3_600_000, now + 86_400_000, now - 1, 0]  # back, stuck, ahead
    stamps = [jumps[i % len(jumps)] for i in range(70)]
    for step, ts in enumerate(stamps):
        client.log_metric(run, "m", float(step), timestamp=ts, step=step)
    client.flush()
    client._store.compact()
    client.log_metric(run, "m", 70.0, timestamp=now - 86_400_000, step=70)  # pending, older than all
    history = client.get_metric_history(run, "m")
    assert [(m.step, m.timestamp) for m in history] == list(enumerate([*stamps, now - 86_400_000]))
    assert client.get_run(run).data.metrics["m"] == 70.0  # the latest step wins, whatever its timestamp
