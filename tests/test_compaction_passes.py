"""Compaction of a backlog goes in passes, and queries get in between them: a reader waits for one pass,
not for the whole backlog, even while the compactor wants the file back at once. Readers load only the
segments that are new since their last query, and still count every row once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lite_tracker import MlflowClient
from lite_tracker.entities import Metric
from lite_tracker.store import catalog
from lite_tracker.store.locks import try_exclusive

SEGMENTS = 30
POINTS = 10_000  # per segment

# A compaction of the store whose passes take one segment each.
_COMPACT = """
import sys
from lite_tracker import MlflowClient
from lite_tracker.store import catalog
catalog.PASS_BYTES = 1
result = MlflowClient(sys.argv[1])._store.compact()
print(result.files, flush=True)
"""


@pytest.fixture
def no_background_compaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITE_TRACKER_COMPACT_INTERVAL", "3600")  # compaction only when a test asks


def _backlog(client: MlflowClient, run_id: str, segments: int, first: int = 0) -> None:
    for s in range(first, first + segments):
        client.log_batch(run_id, [Metric("x", float(i), 0, i) for i in range(s * POINTS, (s + 1) * POINTS)])
        client.flush()


@pytest.mark.usefixtures("no_background_compaction")
def test_a_query_during_the_compaction_of_a_backlog_waits_for_one_pass(store_path: Path) -> None:
    client = MlflowClient(str(store_path))
    run_id = client.create_run("0").info.run_id
    _backlog(client, run_id, SEGMENTS)
    assert client._store.pending_count() >= SEGMENTS
    compactor = subprocess.Popen([sys.executable, "-c", _COMPACT, str(store_path)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while client._store.pending_count() > SEGMENTS - 2:  # two passes done: it is under way
            assert compactor.poll() is None and time.monotonic() < deadline, compactor.communicate()
            time.sleep(0.01)
        started = time.monotonic()
        [run] = client.search_runs(["0"], "metrics.x >= 0")
        took = time.monotonic() - started
        # the query got in between passes: the compaction still holds its lock and has segments to go
        with try_exclusive(Path(f"{store_path}.d") / "locks" / "compact.lock",
                           create=False) as free:
            assert not free, f"the query waited {took:.2f}s, for the whole compaction"
        assert run.data.metrics["x"] == SEGMENTS * POINTS - 1
        assert len(client.get_metric_history(run_id, "x")) == SEGMENTS * POINTS
    finally:
        out, err = compactor.communicate(timeout=120)
    assert compactor.returncode == 0 and err == "", err
    assert int(out) >= SEGMENTS
    assert client._store.pending_count() == 0
    assert len(client.get_metric_history(run_id, "x")) == SEGMENTS * POINTS


@pytest.mark.usefixtures("no_background_compaction")
def test_a_reader_loads_only_the_new_segments_and_counts_every_row_once(store_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    client = MlflowClient(str(store_path))
    run_id = client.create_run("0").info.run_id
    loaded: list[str] = []
    load = catalog._load_segments

    def spy(con: Any, table: str, paths: list[str], *args: Any) -> None:
        if table == "p_segments":
            loaded.extend(Path(p).name for p in paths)
        load(con, table, paths, *args)

    monkeypatch.setattr(catalog, "_load_segments", spy)

    def history() -> list[int]:
        return [m.step for m in client.get_metric_history(run_id, "x")]

    _backlog(client, run_id, 2)
    assert history() == list(range(2 * POINTS))
    first = set(loaded)
    assert len(first) >= 2
    loaded.clear()
    assert history() == list(range(2 * POINTS)) and loaded == []  # nothing new: nothing read again

    _backlog(client, run_id, 1, first=2)
    assert history() == list(range(3 * POINTS))
    assert loaded and not first & set(loaded)  # only the new segment

    client._store.compact()  # the segments loaded before are now in the store file, and gone
    _backlog(client, run_id, 1, first=3)
    loaded.clear()
    assert history() == list(range(4 * POINTS))
    [run] = client.search_runs(["0"])
    assert run.data.metrics["x"] == 4 * POINTS - 1
    assert client.sql("SELECT count(*) FROM metrics").column(0).to_pylist() == [4 * POINTS]
    assert len(loaded) == 1


@pytest.mark.usefixtures("no_background_compaction")
def test_looking_up_an_experiment_reads_no_metric_segment(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that starts while a metric backlog waits (all compactors killed, say) starts its run at
    once: the experiment lookup reads event segments only."""
    writer = MlflowClient(str(store_path))
    run_id = writer.create_run("0").info.run_id
    _backlog(writer, run_id, 3)
    loaded: list[str] = []
    load = catalog._load_segments

    def spy(con: Any, table: str, paths: list[str], *args: Any) -> None:
        loaded.extend(paths)
        load(con, table, paths, *args)

    monkeypatch.setattr(catalog, "_load_segments", spy)
    fresh = MlflowClient(str(store_path))
    assert fresh.get_experiment("0").name == "Default"
    new_run = fresh.create_run("0").info.run_id
    assert loaded and not [p for p in loaded if "/metrics/" in p]
    assert fresh.get_run(run_id).data.metrics["x"] == 3 * POINTS - 1  # a run's data reads them all
    assert [p for p in loaded if "/metrics/" in p]
    assert fresh.get_run(new_run).info.status == "RUNNING"
