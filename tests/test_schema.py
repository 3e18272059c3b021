"""The store records its format version; older stores migrate in place, newer ones are refused."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from lite_tracker import MlflowClient
from lite_tracker.errors import StoreFormatError
from lite_tracker.store.catalog import FORMAT_VERSION, migrate, read_version


def test_v1_store_is_migrated_in_place(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    con = duckdb.connect(str(store_path))
    migrate(con, "/art", target=1)
    rid = "0" * 31 + "1"
    con.execute("INSERT INTO run_events VALUES (?, '0', 'old', 'u', 'FINISHED', 1, 2, 'active', '/a', 1)", [rid])
    con.execute("INSERT INTO runs SELECT * FROM run_events")
    con.execute("INSERT INTO metrics VALUES (?, 'loss', 0.5, 10, 1), (?, 'loss', 0.25, 11, 2)", [rid, rid])
    assert read_version(con) == 1
    con.close()
    client = MlflowClient(str(store_path))
    run = client.get_run(rid)
    assert run.data.metrics == {"loss": 0.25} and run.info.run_name == "old"
    con = duckdb.connect(str(store_path), read_only=True)
    assert read_version(con) == FORMAT_VERSION
    con.close()


def test_newer_store_is_refused_with_a_clear_message(store_path: Path) -> None:
    MlflowClient(str(store_path)).flush()
    from lite_tracker.tracking.client import close_all

    close_all()
    con = duckdb.connect(str(store_path))
    con.execute("UPDATE meta SET value = '999' WHERE key = 'format_version'")
    con.close()
    with pytest.raises(StoreFormatError, match="newer lite_tracker"):
        MlflowClient(str(store_path))


def test_half_created_store_file_recovers(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    duckdb.connect(str(store_path)).close()  # a file with no tables, as a crash during creation leaves
    client = MlflowClient(str(store_path))
    assert client.get_experiment("0").name == "Default"


def test_broken_segment_is_quarantined_not_lost_silently(store_path: Path) -> None:
    client = MlflowClient(str(store_path))
    rid = client.create_run("0").info.run_id
    client.log_metric(rid, "m", 1.0)
    client.flush()
    bad = store_path.parent / (store_path.name + ".d") / "pending" / "metrics" / "zzzz.parquet"
    bad.write_bytes(b"not parquet")
    assert client.get_run(rid).data.metrics == {"m": 1.0}  # readers skip it
    client._store.compact()
    quarantine = store_path.parent / (store_path.name + ".d") / "quarantine"
    assert [p.name for p in quarantine.iterdir()] == ["metrics-zzzz.parquet"]
    assert client.get_run(rid).data.metrics == {"m": 1.0}
