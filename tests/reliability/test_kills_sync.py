"""kill -9 of a process in the middle of ``sync pull``, at random moments: after each kill ``doctor
--verify`` passes on the local store, the store's own runs are untouched, each push is there whole or
not at all, and the re-run pulls every push exactly once. (Pushes killed at random moments and at fixed
points are in ``tests/test_sync_delta.py``.)

CI runs 6 kills; ``LITE_TRACKER_SOAK=1`` runs 30.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _faults import assert_verified
from test_load_and_crashes import _figures
from test_sync import _fill, _snapshot

from lite_tracker import sync
from lite_tracker.tracking.client import MlflowClient

SOAK = os.environ.get("LITE_TRACKER_SOAK") == "1"
KILLS = 30 if SOAK else 6

_PULL = "import sys; from lite_tracker import sync; sync.pull(sys.argv[1], store=sys.argv[2])"


def _pull_process(url: str, store: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", _PULL, url, store], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ})


def test_sigkill_during_pull_leaves_the_store_whole_and_the_rerun_pulls_once(s3: dict[str, Any],
                                                                            tmp_path: Path) -> None:
    url = s3["url"]
    a_path = str(tmp_path / "a.duckdb")
    a = MlflowClient(a_path)
    first = _fill(a, tmp_path / "a", runs=4, steps=300, artifacts=False)
    sync.push(url, store=a_path, artifacts=False)
    second = _fill(a, tmp_path / "a2", experiment="second", runs=3, steps=300, artifacts=False)
    sync.push(url, store=a_path, artifacts=False)
    everything = _snapshot(a, first + second)

    started = time.monotonic()  # how long a whole pull takes in a process like those killed
    probe = _pull_process(url, str(tmp_path / "probe.duckdb"))
    assert probe.wait(timeout=180) == 0
    whole = time.monotonic() - started

    rng = random.Random(23)
    outcomes: Counter[str] = Counter()
    for i in range(KILLS):
        path = tmp_path / f"b{i}.duckdb"
        b = MlflowClient(str(path))
        mine = _fill(b, tmp_path / f"b{i}", experiment="mine", runs=1, steps=20, artifacts=False)
        own = _snapshot(b, mine)
        proc = _pull_process(url, str(path))
        time.sleep(rng.uniform(0.0, whole))
        proc.kill()
        proc.wait(timeout=30)

        assert_verified(path)
        b = MlflowClient(str(path))
        assert _snapshot(b, mine) == own
        present = {r.info.run_id for e in b.search_experiments() for r in b.search_runs([e.experiment_id])}
        pulled = [rid for rid in first + second if rid in present]
        assert pulled in ([], first, first + second), f"kill {i}: a push half pulled"
        assert _snapshot(b, pulled) == {rid: everything[rid] for rid in pulled}
        outcomes[{0: "before any push", len(first): "after the first push"}.get(len(pulled), "after both")] += 1

        sync.pull(url, store=str(path))
        assert sync.pull(url, store=str(path)).note == "nothing new"
        assert _snapshot(b, first + second) == everything
        assert _snapshot(b, mine) == own
        assert_verified(path)
    _figures("pull_kills", {"kills": KILLS, "pull_seconds": round(whole, 2), **outcomes})
