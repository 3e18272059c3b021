"""A library prints nothing to stdout: DuckDB's progress bar is off on every connection lite_tracker
opens, even when 16 processes make compaction and queries slow."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lite_tracker import MlflowClient
from lite_tracker.store import connection, sandbox

PACKAGE = Path(connection.__file__).parents[1]

_WRITER = """
import sys, time
from lite_tracker import MlflowClient
from lite_tracker.entities import Metric
client = MlflowClient(sys.argv[1])
run = client.create_run("0").info.run_id
deadline = time.monotonic() + float(sys.argv[2])
step = 0
while time.monotonic() < deadline:
    client.log_batch(run, [Metric("m", float(i), 0, i) for i in range(step, step + 2000)])
    step += 2000
    if step % 20000 == 0:
        client.search_runs(["0"], filter_string="metrics.m > 0")
client.set_terminated(run)
sys.stderr.write(f"{run} {step}\\n")
"""


def test_only_one_module_opens_duckdb_connections() -> None:
    opened = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
              if re.search(r"^[^\"'#]*duckdb\.connect\(", p.read_text(), re.MULTILINE)  # code, not text
              and p.name != "connection.py"]
    assert opened == []


def _progress_bar(con: object) -> bool:
    return bool(con.execute("SELECT current_setting('enable_progress_bar')").fetchall()[0][0])  # type: ignore[attr-defined]


def test_every_kind_of_connection_has_the_progress_bar_off(client: MlflowClient, store_path: Path) -> None:
    client.create_run("0")
    client.flush()
    with client._store.session() as reader:
        assert not _progress_bar(reader)
    for con in (connection.connect(), connection.connect(store_path, read_only=True), sandbox.connect()):
        try:
            assert not _progress_bar(con)
        finally:
            con.close()


def test_sixteen_writers_print_nothing_to_stdout(store_path: Path) -> None:
    MlflowClient(str(store_path)).flush()  # create the store once
    env_args = [sys.executable, "-c", _WRITER, str(store_path), "4"]

    def one(_: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(env_args, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "LITE_TRACKER_FLUSH_INTERVAL": "0.05",
                                   "LITE_TRACKER_COMPACT_INTERVAL": "0.05"})

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(16)))
    for r in results:
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout == ""
    client = MlflowClient(str(store_path))
    for r in results:
        run, steps = r.stderr.split()[-2:]
        assert len(client.get_metric_history(run, "m")) == int(steps)
