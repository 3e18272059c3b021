"""``lite-tracker doctor [--verify]`` on real stores with real faults: a healthy store, a store held by
another program, a read-only folder, pending and quarantined segments, damaged files, and store
invariants broken with plain DuckDB. Doctor never changes the store."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import duckdb
from _faults import held_read_write, read_only_view, tree_digest
from click.testing import CliRunner, Result

from lite_tracker import MlflowClient
from lite_tracker.cli.maintenance import doctor
from lite_tracker.entities import Metric
from lite_tracker.tracking.client import close_all


def _doctor(store: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(doctor, ["--store", str(store), *args], env={"COLUMNS": "200", **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _checks(store: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, dict[str, str]]]:
    """Exit code and checks by name of ``doctor --json``."""
    result = _doctor(store, "--json", *args, env=env)
    report = json.loads(result.output)
    assert report["healthy"] == (result.exit_code == 0)
    return result.exit_code, {c["name"]: c for c in report["checks"]}


def _store(path: Path) -> str:
    """A store with one finished run (params, tags, metrics, an artifact), all compacted; closed."""
    client = MlflowClient(str(path))
    exp = client.create_experiment("e")
    rid = client.create_run(exp).info.run_id
    client.log_batch(rid, [Metric("m", float(i), 0, i) for i in range(10)])
    client.log_param(rid, "p", "1")
    client.log_text(rid, "x", "a.txt")
    client.set_terminated(rid)
    client.flush()
    client._store.compact()
    close_all()
    return rid


def test_a_healthy_store_passes_every_check_and_doctor_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    _store(path)
    before = tree_digest(tmp_path)
    result = _doctor(path, "--verify")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines and all(line.split()[0] == "OK" for line in lines), result.output
    code, checks = _checks(path, "--verify")
    assert code == 0 and {"store file", "pending segments", "disk space", "artifact root"} <= set(checks)
    assert any(name.startswith("verify:") for name in checks)
    assert "format 5" in checks["store file"]["message"]
    assert tree_digest(tmp_path) == before


def test_doctor_names_the_program_holding_the_store_file(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    _store(path)
    with held_read_write(path) as pid:
        code, checks = _checks(path)
        human = _doctor(path)
    assert code == 1 and checks["store file"]["status"] == "FAIL"
    assert f"PID {pid}" in checks["store file"]["message"] and "read_only=True" in checks["store file"]["message"]
    assert human.exit_code == 1 and any(line.startswith("FAIL") and f"PID {pid}" in line
                                        for line in human.output.splitlines())


def test_a_read_only_folder_is_a_warning_and_reading_still_works(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    _store(folder / "s.duckdb")
    before = tree_digest(folder)
    with read_only_view(folder) as view:
        code, checks = _checks(view / "s.duckdb", "--verify")
    assert code == 0, checks
    assert checks["store folder"]["status"] == "WARN" and "read-only" in checks["store folder"]["message"]
    assert checks["store file"]["status"] == "OK" and checks["verify: run ids unique"]["status"] == "OK"
    assert tree_digest(folder) == before


def test_old_pending_segments_say_compaction_is_stuck(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.duckdb"
    rid = _store(path)
    monkeypatch.setenv("LITE_TRACKER_COMPACT_INTERVAL", "3600")
    client = MlflowClient(str(path))
    client.log_metric(rid, "late", 1.0)
    client.flush()
    close_all()
    code, checks = _checks(path)
    assert code == 0 and checks["pending segments"]["status"] == "OK"
    hour_ago = time.time() - 3600
    for seg in (path.parent / "s.duckdb.d" / "pending").rglob("*.parquet"):
        os.utime(seg, (hour_ago, hour_ago))
    code, checks = _checks(path)
    assert code == 0 and checks["pending segments"]["status"] == "WARN"
    assert "lite-tracker compact" in checks["pending segments"]["message"]


def test_quarantined_segments_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    _store(path)
    (path.parent / "s.duckdb.d" / "quarantine" / "events-bad.parquet").write_bytes(b"not parquet")
    code, checks = _checks(path)
    assert code == 0 and checks["quarantined segments"]["status"] == "WARN"
    assert "1 segment" in checks["quarantined segments"]["message"]


def test_damaged_store_files_fail_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    _store(path)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 3)
    code, checks = _checks(path)
    assert code == 1 and checks["store file"]["status"] == "FAIL"
    assert "backup" in checks["store file"]["message"]
    _store(tmp_path / "b.duckdb")
    damaged = bytearray((tmp_path / "b.duckdb").read_bytes())
    damaged[3 * 4096 + 4096:] = os.urandom(len(damaged) - 4 * 4096)  # every block after the first's start
    (tmp_path / "b.duckdb").write_bytes(damaged)
    code, checks = _checks(tmp_path / "b.duckdb", "--verify")
    failed = [c for c in checks.values() if c["status"] == "FAIL"]
    assert code == 1 and failed and "damaged" in failed[0]["message"], checks
    path.write_bytes(b"this is a text file, not a store\n" * 10)
    code, checks = _checks(path)
    assert code == 1 and "not a DuckDB database" in checks["store file"]["message"]


def test_a_missing_store_file_is_a_failure_and_is_not_created(tmp_path: Path) -> None:
    code, checks = _checks(tmp_path / "none.duckdb")
    assert code == 1 and checks["store file"]["status"] == "FAIL"
    assert not (tmp_path / "none.duckdb").exists() and not (tmp_path / "none.duckdb.d").exists()


def test_verify_names_each_planted_violation(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    rid = _store(path)
    assert _checks(path, "--verify")[0] == 0
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO params VALUES ('0123456789abcdef0123456789abcdef', 'orphan', 'x', 1)")
    con.execute("INSERT INTO runs SELECT * FROM runs WHERE run_id = ?", [rid])
    con.execute("UPDATE experiments SET lifecycle_stage = 'archived' WHERE experiment_id = '0'")
    con.close()
    assert _checks(path)[0] == 0  # the quick checks do not read every row
    code, checks = _checks(path, "--verify")
    assert code == 1
    assert checks["verify: params belong to runs"]["status"] == "FAIL"
    assert "0123456789abcdef0123456789abcdef" in checks["verify: params belong to runs"]["message"]
    assert checks["verify: run ids unique"]["status"] == "FAIL" and rid in checks["verify: run ids unique"]["message"]
    assert checks["verify: experiment lifecycle stages valid"]["status"] == "FAIL"
    assert checks["verify: tags belong to runs"]["status"] == "OK"
    human = _doctor(path, "--verify")
    assert human.exit_code == 1 and "FAIL  verify: params belong to runs" in human.output


def test_s3_artifact_root_settings_are_read_and_contacted_only_when_asked(s3: dict, tmp_path: Path,
                                                                          monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.duckdb"
    _store(path)
    monkeypatch.setenv("LITE_TRACKER_ARTIFACT_ROOT", f"{s3['url']}/artifacts")
    code, checks = _checks(path)
    root = checks["artifact root"]
    assert code == 0 and root["status"] == "OK" and "not contacted" in root["message"]
    code, checks = _checks(path, "--connect")
    assert code == 0 and "answered" in checks["artifact root"]["message"]
    monkeypatch.setenv("LITE_TRACKER_ARTIFACT_ROOT", "s3://no-such-bucket-here/artifacts")
    code, checks = _checks(path, "--connect")
    assert code == 1 and checks["artifact root"]["status"] == "FAIL" and "no-such-bucket-here" in \
        checks["artifact root"]["message"]
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    code, checks = _checks(path)
    assert code == 0 and checks["artifact root"]["status"] == "WARN"
    assert "AWS_ACCESS_KEY_ID" in checks["artifact root"]["message"]
