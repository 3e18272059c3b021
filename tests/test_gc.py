"""``lite-tracker gc``: soft-deleted runs and experiments are deleted for good (rows, pending rows and
artifacts), nothing else is touched, and nothing comes back: not through a later compaction, not from
a process that was still logging to the run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from lite_tracker import MlflowClient
from lite_tracker.cli.maintenance import gc
from lite_tracker.entities import Metric
from lite_tracker.errors import InvalidParameterValue, ResourceNotFound
from lite_tracker.settings import resolve_settings
from lite_tracker.store.doctor import FAIL, diagnose
from lite_tracker.store.gc import parse_older_than

_TABLES = ("runs", "params", "tags", "metrics", "latest_metrics")


def _gc(store: Path, *args: str) -> Result:
    result = CliRunner().invoke(gc, ["--store", str(store), *args], env={"COLUMNS": "200"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _run(client: MlflowClient, experiment_id: str, name: str, artifacts: bool = True) -> str:
    rid = client.create_run(experiment_id, run_name=name).info.run_id
    client.log_batch(rid, [Metric("loss", float(i), 0, i) for i in range(5)])
    client.log_param(rid, "lr", "0.1")
    client.set_tag(rid, "t", name)
    if artifacts:
        client.log_text(rid, "hello", "notes/a.txt")
        client.log_dict(rid, {"k": 1}, "model/conf.json")
    client.set_terminated(rid)
    return rid


def _rows(client: MlflowClient, run_id: str) -> dict[str, int]:
    """Rows of the run in each public view (compacted and pending alike)."""
    return {t: client.sql(f"SELECT count(*) AS n FROM {t} WHERE run_id = ?", [run_id]).column("n")[0].as_py()
            for t in _TABLES}


def _verified(store: Path) -> list[str]:
    """What ``doctor --verify`` finds failing (nothing when every invariant of the store holds)."""
    return [f"{c.name}: {c.message}" for c in diagnose(resolve_settings(str(store)), verify=True) if c.status == FAIL]


def _file_rows(store: Path, run_id: str) -> int:
    """Rows of the run in every table of the DuckDB file (events and state)."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_columns() WHERE column_name = 'run_id' "
                                            "AND table_name NOT LIKE 'purged%' AND table_name NOT LIKE 'model%'")
                  .fetchall()]
        return sum(con.execute(f"SELECT count(*) FROM {t} WHERE run_id = ?", [run_id]).fetchall()[0][0]
                   for t in tables)
    finally:
        con.close()


def test_older_than_takes_mlflow_ages() -> None:
    assert parse_older_than("1d2h3m4s") == ((24 + 2) * 3600 + 3 * 60 + 4) * 1000
    assert parse_older_than("30m") == 1_800_000 and parse_older_than("0.5s") == 500
    for bad in ("", "3x", "1h2d", "d", "1..2s"):
        with pytest.raises(InvalidParameterValue, match="Could not parse any time information"):
            parse_older_than(bad)


def test_gc_on_an_empty_store_has_nothing_to_do(store_path: Path) -> None:
    MlflowClient(str(store_path)).flush()
    for args in ((), ("--yes",)):
        result = _gc(store_path, *args)
        assert result.exit_code == 0 and "Nothing to delete" in result.output
    assert json.loads(_gc(store_path, "--json").output)["runs"] == []


def test_gc_never_creates_a_store(tmp_path: Path) -> None:
    with pytest.raises(ResourceNotFound, match="No lite_tracker store"):
        _gc(tmp_path / "typo.duckdb", "--yes")
    assert not (tmp_path / "typo.duckdb").exists()


def test_dry_run_lists_then_yes_deletes_one_run_and_its_artifacts(store_path: Path) -> None:
    client = MlflowClient(str(store_path))
    exp = client.create_experiment("e")
    doomed, kept = _run(client, exp, "doomed"), _run(client, exp, "kept")
    doomed_art = Path(client.get_run(doomed).info.artifact_uri)
    kept_art = Path(client.get_run(kept).info.artifact_uri)
    client.delete_run(doomed)

    dry = _gc(store_path)
    assert dry.exit_code == 0 and doomed in dry.output and kept not in dry.output and "--yes" in dry.output
    assert client.get_run(doomed).info.lifecycle_stage == "deleted" and (doomed_art / "notes" / "a.txt").exists()

    done = _gc(store_path, "--yes")
    assert done.exit_code == 0 and "Deleted 1 runs and 0 experiments" in done.output
    with pytest.raises(ResourceNotFound):
        client.get_run(doomed)
    assert _rows(client, doomed) == dict.fromkeys(_TABLES, 0) and _file_rows(store_path, doomed) == 0
    assert not doomed_art.exists() and not doomed_art.parent.exists()
    assert _rows(client, kept) == {"runs": 1, "params": 1, "tags": 2, "metrics": 5, "latest_metrics": 1}
    assert (kept_art / "notes" / "a.txt").read_text() == "hello"
    assert "Nothing to delete" in _gc(store_path, "--yes").output


def _positions(store: Path, table: str, run_id: str) -> list[int]:
    """Row numbers of a run's rows in an event table of the DuckDB file (what sync tracks pushes by)."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        return [r[0] for r in con.execute(f"SELECT rowid FROM {table} WHERE run_id = ? ORDER BY rowid", [run_id])
                .fetchall()]
    finally:
        con.close()


def test_a_store_that_syncs_keeps_its_event_rows_in_place_hidden(store_path: Path) -> None:
    """Sync pushes the event rows past a row number and records pulled ranges by row number: deleting
    event rows renumbers the ones after them (DuckDB compacts row groups), so a later push would skip
    rows. In a store that has synced, gc deletes the state and keeps the event rows, hidden."""
    client = MlflowClient(str(store_path))
    exp = client.create_experiment("e")
    doomed = [_run(client, exp, f"d{i}", artifacts=False) for i in range(3)]
    kept = _run(client, exp, "kept", artifacts=False)
    for rid in doomed:
        client.delete_run(rid)
    client._store.compact()
    resolve_settings(str(store_path)).store_path.with_name(store_path.name + ".d").joinpath("sync").mkdir()
    before = {t: _positions(store_path, t, kept) for t in ("metrics", "param_events", "run_events")}

    done = json.loads(_gc(store_path, "--yes", "--json").output)
    assert done["event_rows_kept"] and {r["run_id"] for r in done["runs"]} == set(doomed)
    assert {t: _positions(store_path, t, kept) for t in before} == before
    for rid in doomed:
        assert _rows(client, rid) == dict.fromkeys(_TABLES, 0)
        with pytest.raises(ResourceNotFound):
            client.get_run(rid)
    assert _rows(client, kept) == {"runs": 1, "params": 1, "tags": 2, "metrics": 5, "latest_metrics": 1}
    assert _verified(store_path) == []


def test_gc_many_runs_and_a_deleted_experiment_with_all_its_runs(store_path: Path) -> None:
    client = MlflowClient(str(store_path))
    live, gone = client.create_experiment("live"), client.create_experiment("gone")
    deleted = [_run(client, live, f"d{i}", artifacts=False) for i in range(6)]
    survivors = [_run(client, live, f"s{i}", artifacts=False) for i in range(3)]
    in_gone = [_run(client, gone, f"g{i}", artifacts=False) for i in range(3)]  # active runs, experiment deleted
    for rid in deleted:
        client.delete_run(rid)
    client.delete_experiment(gone)

    listed = json.loads(_gc(store_path, "--json").output)
    assert {r["run_id"] for r in listed["runs"]} == set(deleted + in_gone)
    assert [e["experiment_id"] for e in listed["experiments"]] == [gone] and listed["dry_run"]
    assert "Nothing to delete" in _gc(store_path, "--older-than", "1d", "--yes").output  # all deleted just now

    done = json.loads(_gc(store_path, "--yes", "--json").output)
    assert not done["dry_run"] and done["rows_deleted"]["runs"] == 9 and done["rows_deleted"]["experiments"] == 1
    assert client.get_experiment_by_name("gone") is None
    assert {r.info.run_id for r in client.search_runs([live], run_view_type=3)} == set(survivors)
    for rid in deleted + in_gone:
        assert _rows(client, rid) == dict.fromkeys(_TABLES, 0)
    assert client.sql("SELECT count(*) AS n FROM experiment_tags WHERE experiment_id = ?",
                      [gone]).column("n")[0].as_py() == 0


def test_gc_refuses_runs_and_experiments_that_are_not_deleted(store_path: Path) -> None:
    client = MlflowClient(str(store_path))
    exp = client.create_experiment("e")
    active = _run(client, exp, "a", artifacts=False)
    deleted = _run(client, exp, "d", artifacts=False)
    client.delete_run(deleted)
    other = client.create_experiment("other")
    client.delete_experiment(other)
    with pytest.raises(InvalidParameterValue, match=f"Run {active} is not in the deleted lifecycle stage"):
        _gc(store_path, "--yes", "--run-ids", f"{deleted},{active}")
    with pytest.raises(InvalidParameterValue, match="not in the deleted lifecycle stage"):
        _gc(store_path, "--yes", "--experiment-ids", exp)
    with pytest.raises(ResourceNotFound):
        _gc(store_path, "--yes", "--run-ids", "0" * 32)
    with pytest.raises(InvalidParameterValue, match="not older than"):
        _gc(store_path, "--yes", "--run-ids", deleted, "--older-than", "1h")
    assert client.get_run(deleted).info.lifecycle_stage == "deleted"  # nothing was deleted by a refused gc
    done = json.loads(_gc(store_path, "--yes", "--json", "--run-ids", deleted).output)
    assert [r["run_id"] for r in done["runs"]] == [deleted] and done["experiments"] == []
    assert client.get_run(active).info.lifecycle_stage == "active"
    assert client.get_experiment(other).lifecycle_stage == "deleted"  # --run-ids alone purges only those runs


def test_pending_rows_are_deleted_and_a_later_compaction_does_not_bring_them_back(store_path: Path) -> None:
    client = MlflowClient(str(store_path))
    client._store.stop_compactor()  # the run's rows stay in pending segments until gc folds them
    rid = _run(client, "0", "pending", artifacts=False)
    client.delete_run(rid)
    client.flush()
    assert client._store.pending_count() > 0
    assert json.loads(_gc(store_path, "--yes", "--json").output)["runs"][0]["run_id"] == rid
    assert client._store.pending_count() == 0
    # Late events of the run (a process that logged until the end) land in a segment after the gc:
    client._b.buffer.add_metric(rid, "late", 1.0, 0, 0)
    client._b.buffer.add_events("run_events", [(rid, None, None, None, "FINISHED", None, 1, None, None,
                                                client._store.clock())])
    client.flush()
    assert _rows(client, rid) == dict.fromkeys(_TABLES, 0)  # readers drop them while they are pending
    assert client._store.compact() is not None and client._store.pending_count() == 0
    assert _rows(client, rid) == dict.fromkeys(_TABLES, 0) and _file_rows(store_path, rid) == 0
    with pytest.raises(ResourceNotFound):
        client.get_run(rid)


def test_registered_model_files_stay_and_the_version_keeps_working(store_path: Path, tmp_path: Path) -> None:
    client = MlflowClient(str(store_path))
    rid = _run(client, "0", "fit")
    client.create_registered_model("m")
    mv = client.create_model_version("m", f"runs:/{rid}/model", rid)
    root = Path(client.get_run(rid).info.artifact_uri)
    client.delete_run(rid)
    listed = json.loads(_gc(store_path, "--json").output)
    assert listed["runs"][0]["kept_artifacts"] == ["model"]
    _gc(store_path, "--yes")
    assert (root / "model" / "conf.json").exists() and not (root / "notes").exists()
    version = client.get_model_version("m", mv.version)
    assert version.run_id == rid and version.source == str(root / "model")
    assert Path(client.get_model_version_download_uri("m", mv.version), "conf.json").exists()
    assert not _verified(store_path)  # a version whose source run is gone is no violation (MLflow keeps it too)


_CHILD = """
import sys
import time
from lite_tracker import MlflowClient
from lite_tracker.errors import InvalidParameterValue

client = MlflowClient(sys.argv[1])
doomed, kept, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
refused = False
i = 0
deadline = time.monotonic() + 60
while (i < n or not refused) and time.monotonic() < deadline:  # logs on until it sees the run deleted
    client.log_metric(kept, "k", float(i), step=i)
    if not refused:
        try:
            client.log_metric(doomed, "d", float(i), step=i)
        except InvalidParameterValue:
            refused = True
    if i == 50:
        print("logging", flush=True)
    if i % 50 == 0:
        client.flush()
    i += 1
client.flush()
print("done", refused, i, flush=True)
"""


def test_gc_while_another_process_logs_to_the_store(store_path: Path) -> None:
    client = MlflowClient(str(store_path))
    doomed = _run(client, "0", "doomed", artifacts=False)
    kept = client.create_run("0", run_name="kept").info.run_id
    client.flush()
    n = 4000
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(store_path), doomed, kept, str(n)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "logging"
        client.delete_run(doomed)
        client.flush()
        done = json.loads(_gc(store_path, "--yes", "--json").output)
        assert [r["run_id"] for r in done["runs"]] == [doomed]
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == 0, err[-3000:]
    done_line, refused, logged = out.split()
    assert (done_line, refused) == ("done", "True")  # the child saw the delete and stopped logging to the run
    client._store.compact()
    assert _rows(client, doomed) == dict.fromkeys(_TABLES, 0) and _file_rows(store_path, doomed) == 0
    assert [m.step for m in client.get_metric_history(kept, "k")] == list(range(int(logged)))
    assert not _verified(store_path)


def test_gc_deletes_artifacts_in_s3_but_the_registered_model(s3: dict, store_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITE_TRACKER_ARTIFACT_ROOT", f"{s3['url']}/artifacts")
    client = MlflowClient(str(store_path))
    doomed, other, kept = (_run(client, "0", name) for name in ("doomed", "other", "kept"))
    client.create_registered_model("m")
    client.create_model_version("m", f"runs:/{other}/model", other)
    for rid in (doomed, other):
        client.delete_run(rid)
    fs = s3["fs"]

    def files(rid: str) -> list[str]:
        root = client.get_run(kept).info.artifact_uri.replace(kept, rid).removeprefix("s3://")
        return sorted(f[len(root) + 1:] for f in fs.find(root) if f != root)  # SeaweedFS keeps empty folders

    assert files(doomed) == files(other) == ["model/conf.json", "notes/a.txt"]
    done = json.loads(_gc(store_path, "--yes", "--json").output)
    assert done["artifact_files_deleted"] == 3
    assert files(doomed) == [] and files(other) == ["model/conf.json"]
    assert files(kept) == ["model/conf.json", "notes/a.txt"]
