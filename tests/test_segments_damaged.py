"""A damaged or foreign file among the pending segments is moved to quarantine/ with a warning, at read
and at compaction; every other run's data stays readable and exact."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lite_tracker import MlflowClient

DAMAGES = ("corrupt_pages", "other_schema", "empty", "not_parquet")


def _sidecar(store_path: Path) -> Path:
    return store_path.parent / (store_path.name + ".d")


def _log_run(client: MlflowClient, name: str) -> str:
    """A finished run with two params, one tag and three points of one metric, flushed."""
    run_id = client.create_run("0", run_name=name).info.run_id
    client.log_param(run_id, "lr", "0.1")
    client.log_param(run_id, "layers", "2")
    client.set_tag(run_id, "team", name)
    for step in range(3):
        client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
    client.set_terminated(run_id)
    client.flush()
    return run_id


def _newest(folder: Path) -> Path:
    return max(folder.glob("*.parquet"))


def _corrupt_pages(path: Path) -> None:
    """Overwrite the data pages (everything between the leading magic and the footer) with garbage,
    leaving the footer intact."""
    data = bytearray(path.read_bytes())
    footer_start = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    data[4:footer_start] = b"\xff" * (footer_start - 4)
    path.write_bytes(bytes(data))
    pq.read_metadata(path)  # the footer still reads


def _damage(store_path: Path, kind: str, damage: str) -> Path:
    """Damage the newest real segment of ``kind`` (corrupt_pages) or drop a stray file beside it."""
    folder = _sidecar(store_path) / "pending" / kind
    if damage == "corrupt_pages":
        bad = _newest(folder)
        _corrupt_pages(bad)
        return bad
    bad = folder / "ffffffffffffffffffffffffffffffff.parquet"
    if damage == "other_schema":  # known column names, wrong types, and a foreign column
        pq.write_table(pa.table({"run_id": [1, 2], "key": ["loss", "loss"], "value": [9.0, 9.0],
                                 "extra": ["x", "y"]}), bad)
    elif damage == "empty":
        bad.write_bytes(b"")
    else:
        bad.write_bytes(b"this is not parquet at all\n" * 100)
    return bad


@pytest.fixture
def client(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    monkeypatch.setenv("LITE_TRACKER_COMPACT_INTERVAL", "3600")  # compaction only when a test asks
    return MlflowClient(str(store_path))


def _expect(client: MlflowClient, present: list[str], with_metrics: list[str]) -> None:
    """Exactly the runs ``present``, each with its params and tag; metrics for ``with_metrics`` only."""
    runs = client.search_runs(["0"])
    assert sorted(r.info.run_id for r in runs) == sorted(present)
    for run_id in present:
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert run.data.params == {"lr": "0.1", "layers": "2"}
        assert run.data.tags["team"] == run.info.run_name
        assert run.data.metrics == ({"loss": 1.0 / 3} if run_id in with_metrics else {})
    counts = client.sql("SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM params), "
                        "(SELECT count(*) FROM tags WHERE key = 'team'), (SELECT count(*) FROM metrics), "
                        "(SELECT count(*) FROM latest_metrics)")
    assert [c[0].as_py() for c in counts.columns] == [
        len(present), 2 * len(present), len(present), 3 * len(with_metrics), len(with_metrics)]


@pytest.mark.parametrize("first", ["read", "compact"])
@pytest.mark.parametrize("kind", ["events", "metrics"])
@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_segment_is_quarantined_and_the_rest_stays_readable(
        client: MlflowClient, store_path: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str], damage: str, kind: str, first: str) -> None:
    caplog.set_level(logging.WARNING, logger="lite_tracker")
    compacted = _log_run(client, "compacted")
    assert client._store.compact() is not None
    pending = _log_run(client, "pending")
    damaged = _log_run(client, "damaged")
    bad = _damage(store_path, kind, damage)

    lost_run = damage == "corrupt_pages" and kind == "events"
    lost_metrics = damage == "corrupt_pages" and kind == "metrics"
    present = [compacted, pending] + ([] if lost_run else [damaged])
    with_metrics = [compacted, pending] + ([] if lost_metrics else [damaged])
    if first == "read":
        _expect(client, present, with_metrics)
    result = client._store.compact()
    assert result is not None
    _expect(client, present, with_metrics)

    quarantine = _sidecar(store_path) / "quarantine"
    assert [p.name for p in quarantine.iterdir()] == [f"{kind}-{bad.name}"]
    assert not bad.exists() and client._store.pending_count() == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(bad.name in w and "quarantine" in w for w in warnings), warnings
    assert capsys.readouterr().out == ""


def test_a_compaction_keeps_folding_after_a_quarantine(client: MlflowClient, store_path: Path) -> None:
    """Segments written after a bad one was moved aside are folded as usual."""
    first = _log_run(client, "first")
    _damage(store_path, "metrics", "corrupt_pages")
    assert client._store.compact() is not None
    second = _log_run(client, "second")
    assert client._store.compact() is not None
    _expect(client, [first, second], [second])


def test_an_interrupted_read_quarantines_no_segment(client: MlflowClient, store_path: Path) -> None:
    """Closing a store interrupts a compaction under way: that says nothing about the segments, which
    must stay pending (a real writers-and-reader run once moved six good segments aside this way)."""
    import threading

    import duckdb

    from lite_tracker.store import catalog

    run = _log_run(client, "kept")
    layout = client._store.layout
    names = catalog.list_pending(layout, "metrics")
    assert names
    con = duckdb.connect()
    # A read that runs long enough to be interrupted: the same segments many times over.
    slow = names * 20_000
    done = threading.Event()

    def keep_interrupting() -> None:  # as a closing store does, possibly more than once
        while not done.wait(0.05):
            con.interrupt()

    thread = threading.Thread(target=keep_interrupting)
    thread.start()
    try:
        with pytest.raises(duckdb.InterruptException):
            catalog._load_readable(con, "t", layout, slow, catalog.SEGMENT_KINDS["metrics"])
    finally:
        done.set()
        thread.join()
    con.close()
    assert list(layout.quarantine.glob("*")) == []
    assert catalog.list_pending(layout, "metrics") == names
    assert client._store.compact() is not None
    _expect(client, [run], [run])
