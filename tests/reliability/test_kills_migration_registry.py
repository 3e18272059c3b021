"""SIGKILL during schema migration and during registry updates.

Migration: processes open a copy of an older-format store (format 1, holding a run with many metric
points, so that the in-place migration takes a while) and are killed at random moments, two at a time;
after each kill the store opens, is at the current format, and holds every committed row exactly once.

Registry: processes create models, versions, stages, aliases and tags on one shared model (all under
the registry lock) and are killed at random moments, three at a time; after the kills every change a
process saw return is there, and no version is half-made: none without its model, no number used twice
or skipped, no alias to a missing version, at most one version in Production.

CI runs 6 migration rounds and 9 registry kills; ``LITE_TRACKER_SOAK=1`` runs 40 and 60.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
from _faults import assert_verified
from test_load_and_crashes import _figures

from lite_tracker import MlflowClient
from lite_tracker.store.catalog import FORMAT_VERSION, migrate, read_version
from lite_tracker.tracking.client import close_all

SOAK = os.environ.get("LITE_TRACKER_SOAK") == "1"
MIGRATION_ROUNDS, REGISTRY_KILLS = (40, 60) if SOAK else (6, 9)
POINTS = 400_000
RUN_ID = "0" * 31 + "1"

# Opens the store (which migrates it), says so, then logs a point durably and says so.
_OPENER = """
import sys
from lite_tracker import MlflowClient
print("start", flush=True)
client = MlflowClient(sys.argv[1])
print("opened", flush=True)
client.log_metric(sys.argv[2], "after", 1.0, step=int(sys.argv[3]))
client.flush()
print("durable", flush=True)
"""

# Registry changes in a loop on the shared model "m"; prints each change once it has returned.
_REGISTRAR = """
import random, sys
from lite_tracker import MlflowClient
from lite_tracker.errors import LiteTrackerException
client = MlflowClient(sys.argv[1])
me, rng = sys.argv[2], random.Random(sys.argv[2])
print("ready", flush=True)
i = 0
while True:
    i += 1
    v = int(client.create_model_version("m", f"s3://b/{me}/{i}", tags={"by": me}).version)
    print("version", v, flush=True)
    client.set_model_version_tag("m", v, "round", str(i))
    print("tag", v, i, flush=True)
    client.set_registered_model_alias("m", f"a{me}", v)
    print("alias", f"a{me}", v, flush=True)
    client.transition_model_version_stage("m", v, rng.choice(["Staging", "Production"]), archive_existing_versions=True)
    print("stage", v, flush=True)
    client.set_registered_model_tag("m", f"last{me}", str(v))
    if i % 3 == 0:
        try:
            client.delete_model_version("m", v - 1)  # may be another process's version, or gone already
            print("deleted", v - 1, flush=True)
        except LiteTrackerException:
            pass
    client.create_registered_model(f"own-{me}-{i}", tags={"i": str(i)})
    print("model", f"own-{me}-{i}", flush=True)
"""

_FAST = {"LITE_TRACKER_FLUSH_INTERVAL": "0.05", "LITE_TRACKER_COMPACT_INTERVAL": "0.05"}


def _start(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **_FAST})


def _kill_after(proc: subprocess.Popen[str], first: str, seconds: float) -> list[list[str]]:
    """Wait for the line ``first``, SIGKILL ``seconds`` later; return every line the process printed."""
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    assert line.split()[:1] == [first], proc.stderr.read()[-3000:]
    time.sleep(seconds)
    proc.kill()
    proc.wait(timeout=30)
    out = [line.split()] + [x.split() for x in proc.stdout.read().splitlines()]
    proc.stdout.close()
    proc.stderr.close()
    return out


def _old_store(path: Path) -> None:
    """A format-1 store holding one finished run with a param, a tag and ``POINTS`` metric points."""
    path.parent.mkdir(parents=True)
    con = duckdb.connect(str(path))
    migrate(con, "/art", target=1)
    con.execute("INSERT INTO run_events VALUES (?, '0', 'old', 'u', 'FINISHED', 1, 2, 'active', '/a', 1)",
                [RUN_ID])
    con.execute("INSERT INTO runs SELECT * FROM run_events")
    con.execute("INSERT INTO param_events VALUES (?, 'lr', '0.1', 1)", [RUN_ID])
    con.execute("INSERT INTO params SELECT run_id, key, value, seq FROM param_events")
    con.execute("INSERT INTO tag_events VALUES (?, 'team', 'a', 1)", [RUN_ID])
    con.execute("INSERT INTO tags SELECT run_id, key, value, seq FROM tag_events")
    con.execute("INSERT INTO metrics SELECT ?, 'k' || (i % 50), i::DOUBLE, i, i // 50 FROM range(?) t(i)",
                [RUN_ID, POINTS])
    con.close()


def _check_migrated(store: Path, after: set[int]) -> None:
    """The store opens at the current format with the old run's data exactly once, and every point
    logged after a migration that a process saw durable."""
    client = MlflowClient(str(store))
    client._store.compact()
    rows = client._store.rows
    assert rows("SELECT value FROM s.meta WHERE key = 'format_version'") == [(str(FORMAT_VERSION),)]
    assert rows("SELECT count(*), count(DISTINCT (key, step)) FROM metrics WHERE key LIKE 'k%'") == [(POINTS, POINTS)]
    assert rows("SELECT count(*) FROM latest_metrics WHERE key LIKE 'k%'") == [(50,)]
    run = client.get_run(RUN_ID)
    assert run.data.params == {"lr": "0.1"} and run.data.tags["team"] == "a"
    assert run.data.metrics["k49"] == float(POINTS - 1)
    steps = [m.step for m in client.get_metric_history(RUN_ID, "after")]
    assert len(steps) == len(set(steps)) and after <= set(steps), (steps, after)
    close_all()
    assert_verified(store)


def _version_left(store: Path) -> int:
    """The format version a killed migration left in the file (as a read-only reader sees it)."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        return read_version(con)
    finally:
        con.close()


def _migration_seconds(template: Path) -> float:
    """How long a process takes from start to an open (migrated) copy of the template."""
    store = template.with_name("probe.duckdb")
    shutil.copy(template, store)
    proc = _start(_OPENER, str(store), RUN_ID, "0")
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().split() == ["start"], proc.stderr.read()[-3000:]
    started = time.monotonic()
    assert proc.stdout.readline().split() == ["opened"], proc.stderr.read()[-3000:]
    seconds = time.monotonic() - started
    proc.communicate(timeout=120)
    return seconds


def test_sigkill_during_migration_of_an_older_store_loses_nothing(tmp_path: Path) -> None:
    template = tmp_path / "template" / "old.duckdb"
    _old_store(template)
    seconds = _migration_seconds(template)
    window = 2 * seconds
    rng = random.Random(13)
    caught = uncommitted = with_wal = 0
    for r in range(MIGRATION_ROUNDS):
        store = tmp_path / f"round{r}" / "old.duckdb"
        store.parent.mkdir()
        shutil.copy(template, store)
        procs = [_start(_OPENER, str(store), RUN_ID, str(i)) for i in range(2)]
        with ThreadPoolExecutor(2) as pool:
            outs = list(pool.map(lambda p: _kill_after(p, "start", rng.uniform(0, window)), procs))
        caught += sum(1 for out in outs if ["opened"] not in out)
        left = _version_left(store)
        uncommitted += left < FORMAT_VERSION
        with_wal += store.with_name(store.name + ".wal").exists()
        _check_migrated(store, {i for i, out in enumerate(outs) if ["durable"] in out})
    assert uncommitted, "no kill landed before a migration committed: the window is mis-measured"
    _figures("migration_kills", {"rounds": MIGRATION_ROUNDS, "kills": 2 * MIGRATION_ROUNDS,
                                 "killed_while_opening": caught,
                                 "left_at_old_format": uncommitted, "left_with_wal": with_wal,
                                 "migration_s": round(seconds, 2), "points": POINTS, "lost": 0, "duplicated": 0})


def _check_registry(client: MlflowClient, outs: list[list[list[str]]]) -> int:
    """Every change seen returned is there; nothing half-made. Returns the number of changes checked."""
    rows = client._store.rows
    assert rows("SELECT model_id, version FROM model_versions ANTI JOIN registered_models USING (model_id)") == []
    [(model_id,)] = rows("SELECT model_id FROM registered_models WHERE name = 'm' AND deleted_timestamp IS NULL")
    numbers = sorted(int(v) for (v,) in rows("SELECT version FROM model_versions WHERE model_id = ?", [model_id]))
    assert numbers == list(range(1, len(numbers) + 1)), f"versions skipped or doubled: {numbers}"
    live = {int(v): stage for v, stage in rows("SELECT version, current_stage FROM model_versions "
                                                "WHERE model_id = ? AND deleted_timestamp IS NULL", [model_id])}
    assert rows("SELECT a.alias, a.value FROM model_aliases a WHERE a.model_id = ? AND a.value NOT IN "
                "(SELECT version FROM model_versions WHERE model_id = ? AND deleted_timestamp IS NULL)",
                [model_id, model_id]) == []
    assert sum(1 for s in live.values() if s == "Production") <= 1, live
    ids = rows("SELECT transition_id FROM stage_transitions")
    assert len(ids) == len(set(ids))
    deleted = {int(x[1]) for out in outs for x in out if x[0] == "deleted"}
    checked = 0
    for out in outs:
        for x in out:
            if x[0] == "version":
                assert int(x[1]) in numbers
            elif x[0] == "tag" and int(x[1]) not in deleted:
                assert client.get_model_version("m", x[1]).tags["round"] == x[2]
            elif x[0] == "stage" and int(x[1]) not in deleted:
                assert client.get_model_version_stage_history("m", x[1])[-1:] != []
            elif x[0] == "deleted":
                assert int(x[1]) not in live
            elif x[0] == "model":
                assert client.get_registered_model(x[1]).name == x[1]
            checked += x[0] != "ready"
    return checked


def test_sigkill_during_registry_updates_leaves_no_half_made_version(store_path: Path) -> None:
    client = MlflowClient(str(store_path))
    client.create_registered_model("m")
    rng = random.Random(29)
    outs: list[list[list[str]]] = []
    with ThreadPoolExecutor(3) as pool:  # three at a time on the same model
        outs = list(pool.map(lambda i: _kill_after(_start(_REGISTRAR, str(store_path), str(i)), "ready",
                                                   rng.uniform(0.5, 4.0)), range(REGISTRY_KILLS)))
    assert client._store.compact() is not None or client._store.compact() is not None
    checked = _check_registry(client, outs)
    assert_verified(store_path)
    assert checked >= REGISTRY_KILLS, f"too few changes landed before the kills ({checked})"
    versions = len(client._store.rows("SELECT 1 FROM model_versions"))
    _figures("registry_kills", {"kills": REGISTRY_KILLS, "changes_checked": checked, "versions": versions,
                                "half_made": 0})
