"""Compaction while writers flush as fast as they can: listing the pending folders races with writers
renaming their temp files and with other processes moving segments, and no round may fail for it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import start_worker

from lite_tracker import MlflowClient
from lite_tracker.store import catalog

SECONDS = 3.0
THREADS = 3


class Writers:
    """Writer threads in this process and one writer process, each logging one point per flush to its
    own run for a few seconds; ``join`` returns {run_id: points}."""

    def __init__(self, client: MlflowClient, store_path: Path) -> None:
        self._client = client
        self._proc = start_worker("flush_points", str(store_path), str(SECONDS))
        self._counts: dict[str, int] = {}
        self._errors: list[BaseException] = []
        self._threads = [threading.Thread(target=self._write) for _ in range(THREADS)]
        for t in self._threads:
            t.start()

    def _write(self) -> None:
        try:
            run_id = self._client.create_run("0").info.run_id
            n = 0
            deadline = time.monotonic() + SECONDS
            while time.monotonic() < deadline:
                self._client.log_metric(run_id, "x", float(n), step=n)
                self._client.flush()
                n += 1
            self._client.set_terminated(run_id)
            self._counts[run_id] = n
        except BaseException as e:  # reported by join()
            self._errors.append(e)

    def running(self) -> bool:
        return self._proc.poll() is None or any(t.is_alive() for t in self._threads)

    def join(self) -> dict[str, int]:
        for t in self._threads:
            t.join(timeout=60)
        out, err = self._proc.communicate(timeout=60)
        assert self._proc.returncode == 0, err[-3000:]
        assert not self._errors, self._errors
        word, run_id, n = out.split()
        assert word == "run"
        return {**self._counts, run_id: int(n)}


@pytest.fixture
def fast(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], Writers]]:
    """Tiny flush and compaction intervals for this process and the writer process."""
    monkeypatch.setenv("LITE_TRACKER_FLUSH_INTERVAL", "0.001")
    monkeypatch.setenv("LITE_TRACKER_COMPACT_INTERVAL", "0.01")
    yield lambda: Writers(MlflowClient(str(store_path)), store_path)


def _assert_exact(client: MlflowClient, counts: dict[str, int]) -> None:
    client._store.stop_compactor()
    assert client._store.compact() is not None
    assert client._store.pending_count() == 0
    got = client.sql("SELECT run_id, count(*), count(DISTINCT step), max(step) FROM metrics GROUP BY run_id")
    assert {r: (n, n, n - 1) for r, n in counts.items()} == {
        r: (n, d, m) for r, n, d, m in zip(*(c.to_pylist() for c in got.columns))}
    status = client.sql("SELECT DISTINCT status FROM runs").column(0).to_pylist()
    assert status == ["FINISHED"]
    assert not list((client._store.layout.quarantine).iterdir())


def test_pending_listings_tolerate_segments_renamed_underneath(fast: Callable[[], Writers],
                                                               store_path: Path) -> None:
    writers = fast()
    layout = writers._client._store.layout
    sweeps, errors = 0, []
    while writers.running():
        for kind in ("events", "metrics"):
            try:
                catalog._sweep_stale_tmp(layout, kind)
                catalog.list_pending(layout, kind)
            except OSError as e:
                errors.append(e)
        sweeps += 1
    counts = writers.join()
    assert not errors, f"{len(errors)} of {sweeps} sweeps failed, first: {errors[0]}"
    _assert_exact(writers._client, counts)


def test_compaction_never_fails_while_writers_flush(fast: Callable[[], Writers], store_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="lite_tracker")
    writers = fast()  # the client's background compactor runs every 10 ms alongside this loop
    client = writers._client
    rounds, failed = 0, []
    while writers.running():
        try:
            client._store.compact()
            client.sql("SELECT count(*) FROM metrics")
        except OSError as e:
            failed.append(e)
        rounds += 1
    counts = writers.join()
    reported = [r.getMessage() for r in caplog.records if "compaction failed" in r.getMessage()]
    assert not failed and not reported, (rounds, failed[:3], reported[:3])
    _assert_exact(client, counts)
