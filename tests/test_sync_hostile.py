"""A crafted bucket against ``sync pull`` and the read-only bucket client (real S3 server): whoever can
write to the bucket must not write outside the store or take over this store's runs, experiments and
models. Malicious pushes and files are written straight into the bucket's Delta tables with s3fs, pyarrow
and deltalake."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lite_tracker import sync
from lite_tracker._ids import new_experiment_id, time_sortable_hex
from lite_tracker.artifacts import UnsafePathWarning
from lite_tracker.artifacts import download_artifacts as download
from lite_tracker.bucket import delta
from lite_tracker.bucket.untrusted import push_name
from lite_tracker.store.artifacts import PACK_FOLDER
from lite_tracker.store.segments import (
    BY_EVENTS,
    DOUBLE,
    EXPERIMENTS,
    INT,
    MODEL_VERSIONS,
    REGISTERED_MODELS,
    RUNS,
    TAGS,
    TableSpec,
)
from lite_tracker.sync import SkippedCommitWarning
from lite_tracker.sync._local import LocalStore
from lite_tracker.tracking.client import MlflowClient

BIG_SEQ = 2**62  # newer than anything a real store has written


def _rows(spec: TableSpec, **columns: list[Any]) -> pa.Table:
    """Event rows of ``spec``: the given columns, NULL elsewhere, a high ``seq`` by default."""
    n = len(next(iter(columns.values())))
    columns.setdefault("seq", [BIG_SEQ] * n)
    types = {INT: pa.int64(), DOUBLE: pa.float64()}
    return pa.table({name: pa.array(columns.get(name, [None] * n), types.get(t, pa.string()))
                     for name, t in spec.columns})


def _commit(s3: dict[str, Any], tables: dict[str, pa.Table | bytes], store: str | None = None,
            number: int = 1, row: dict[str, Any] | None = None) -> str:
    """Write data files into the bucket's Delta tables and a row into ``pushes``, the way a (hostile)
    store would; return how warnings name the push."""
    store = store or time_sortable_hex()
    counts: dict[str, int] = {}
    for name, table in tables.items():
        if isinstance(table, bytes):
            data, rows = table, 1
        else:
            buf = io.BytesIO()
            pq.write_table(table.append_column("_push", pa.array([number] * table.num_rows, pa.int64())), buf)
            data, rows = buf.getvalue(), table.num_rows
        counts[name] = rows
        _add(s3, name, store, number, data, rows)
    buf = io.BytesIO()
    pq.write_table(pa.table({"created": [0], "tables": [json.dumps(counts)], "artifacts": ["{}"], "_push": [number],
                             **(row or {})}), buf)
    _add(s3, delta.PUSHES, store, number, buf.getvalue(), 1)
    return push_name(store, number)


def _add(s3: dict[str, Any], table: str, store: str, number: int, data: bytes, rows: int) -> None:
    """Upload one data file and commit it to a Delta table of the bucket."""
    rel = delta.data_path(store, number)
    s3["fs"].pipe_file(f"{s3['prefix']}/tables/{table}/{rel}", data)
    stats = json.dumps({"numRecords": rows, "minValues": {"_push": number}, "maxValues": {"_push": number}})
    delta.commit(delta.ensure(s3["url"], table), table, [(rel, len(data), store, stats)], store, number)


def _new_run(s3: dict[str, Any], **extra: list[Any]) -> dict[str, pa.Table]:
    """A well-formed experiment with one run, as a store of its own would push it."""
    eid, rid = new_experiment_id(), time_sortable_hex()
    columns = {"run_id": [rid], "experiment_id": [eid], "run_name": ["theirs"], "status": ["FINISHED"],
               "start_time": [1], "lifecycle_stage": ["active"], "artifact_uri": [f"{s3['url']}/artifacts/{rid}"],
               **extra}
    return {EXPERIMENTS.events: _rows(EXPERIMENTS, experiment_id=[eid], name=[f"exp-{eid}"],
                                      lifecycle_stage=["active"], artifact_location=[f"{s3['url']}/artifacts"],
                                      creation_time=[1], seq=[1]),
            RUNS.events: _rows(RUNS, **{**columns, "seq": [1]})}


def _teammate(s3: dict[str, Any], tmp_path: Path) -> str:
    """A real teammate store with one run, pushed; returns the run id."""
    a = MlflowClient(str(tmp_path / "teammate.duckdb"))
    run = a.create_run(a.create_experiment("teammate"), run_name="valid")
    a.log_text(run.info.run_id, "theirs", "notes.txt")
    a.set_terminated(run.info.run_id)
    sync.push(s3["url"], store=str(tmp_path / "teammate.duckdb"))
    return run.info.run_id


def _mine(tmp_path: Path) -> tuple[MlflowClient, str, str]:
    """This store with one experiment and one run holding a model file; (client, experiment id, run id)."""
    me = MlflowClient(str(tmp_path / "me.duckdb"))
    eid = me.create_experiment("mine")
    rid = me.create_run(eid, run_name="my-run").info.run_id
    me.log_text(rid, "my weights", "model/model.pkl")
    me.set_terminated(rid)
    me.flush()
    return me, eid, rid


def _pack(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for info, data in entries:
            z.writestr(info, data)
    return buf.getvalue()


def test_zip_pack_entries_cannot_leave_the_destination(s3: dict[str, Any], tmp_path: Path) -> None:
    rid = _teammate(s3, tmp_path)
    outside = tmp_path / "outside" / "abs.txt"
    link = zipfile.ZipInfo("link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    pack = _pack([("../../slip.txt", b"evil"), (str(outside), b"evil"), (link, str(tmp_path / "victim").encode()),
                  ("good/ok.txt", b"fine")])
    s3["fs"].pipe_file(f"{s3['prefix']}/artifacts/{rid}/{PACK_FOLDER}/999999999999-evil.zip", pack)

    me = MlflowClient(str(tmp_path / "me.duckdb"))
    root = Path(me._store.settings.artifact_root)
    with pytest.warns(UnsafePathWarning) as caught:
        sync.pull(s3["url"], store=str(tmp_path / "me.duckdb"), artifacts=True)
    assert {"../../slip.txt", str(outside), "link"} <= {n for w in caught for n in _quoted(str(w.message))}
    home = Path(me.get_run(rid).info.artifact_uri)
    assert (home / "good" / "ok.txt").read_bytes() == b"fine" and (home / "notes.txt").read_text() == "theirs"
    assert not (home / "link").exists() and not outside.exists()
    assert not list(tmp_path.rglob("slip.txt"))
    assert home.is_relative_to(root)

    # The same pack through the read-only bucket client and download_artifacts into a destination.
    remote = MlflowClient(s3["url"])
    with pytest.warns(UnsafePathWarning):
        got = Path(remote.download_artifacts(rid, "", str(tmp_path / "dl" / "a" / "b")))
    assert (got / "good" / "ok.txt").is_file() and not (got / "link").exists()
    with pytest.warns(UnsafePathWarning):
        got = Path(download(f"runs:/{rid}/good", dst_path=str(tmp_path / "dl2" / "a" / "b"), tracking_uri=s3["url"]))
    assert (got / "ok.txt").is_file()
    assert not list(tmp_path.rglob("slip.txt")) and not outside.exists()
    # A symlink already in the destination does not carry a file out of it.
    (tmp_path / "dl3").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "dl3" / "good").symlink_to(tmp_path / "elsewhere")
    with pytest.warns(UnsafePathWarning) as caught:
        remote.download_artifacts(rid, "", str(tmp_path / "dl3"))
    assert any("good/ok.txt" in str(w.message) for w in caught)
    assert not list((tmp_path / "elsewhere").iterdir())


def _quoted(message: str) -> list[str]:
    """The quoted names in a warning message."""
    return message.split("'")[1::2]


def test_a_run_id_with_dots_is_refused_and_valid_commits_land(s3: dict[str, Any], tmp_path: Path) -> None:
    valid = _teammate(s3, tmp_path)
    bad = _new_run(s3)
    eid = bad[EXPERIMENTS.events].column("experiment_id")[0].as_py()
    bad[RUNS.events] = _rows(RUNS, run_id=["../../dir"], experiment_id=[eid], lifecycle_stage=["active"],
                             status=["FINISHED"], artifact_uri=[f"{s3['url']}/artifacts/../../dir"], seq=[1])
    key = _commit(s3, bad)  # type: ignore[arg-type]
    me = MlflowClient(str(tmp_path / "me.duckdb"))
    root = Path(me._store.settings.artifact_root)
    with pytest.warns(SkippedCommitWarning, match=key.replace(".", r"\.")):
        sync.pull(s3["url"], store=str(tmp_path / "me.duckdb"), artifacts=True)
    assert me.get_run(valid).info.run_name == "valid"
    assert {r.info.run_id for r in me.search_runs([e.experiment_id for e in me.search_experiments()])} == {valid}
    assert not (root.parent / "dir").exists() and not (root / "dir").exists()
    assert me.get_experiment_by_name(f"exp-{eid}") is None  # the commit is skipped whole


def test_a_pulled_commit_cannot_take_over_a_local_run(s3: dict[str, Any], tmp_path: Path) -> None:
    valid = _teammate(s3, tmp_path)
    me, eid, rid = _mine(tmp_path)
    before = me.get_run(rid)
    s3["fs"].pipe_file(f"{s3['prefix']}/artifacts/{rid}/model/model.pkl", b"attacker's pickle")
    takeover = _new_run(s3)  # a new run in the same commit must not land either
    takeover[RUNS.events] = pa.concat_tables([takeover[RUNS.events], _rows(
        RUNS, run_id=[rid], run_name=["pwned"], lifecycle_stage=["deleted"], status=["FAILED"],
        artifact_uri=[f"{s3['url']}/artifacts/{rid}"])])
    takeover[TAGS.events] = _rows(TAGS, run_id=[rid], key=["mlflow.runName"], value=["pwned"])
    key = _commit(s3, takeover)  # type: ignore[arg-type]
    with pytest.warns(SkippedCommitWarning, match=key.replace(".", r"\.")) as caught:
        sync.pull(s3["url"], store=str(tmp_path / "me.duckdb"), artifacts=True)
    assert "of this store" in str(caught[0].message)
    after = me.get_run(rid)
    assert (after.info.run_name, after.info.lifecycle_stage, after.info.status, after.info.artifact_uri) == (
        before.info.run_name, before.info.lifecycle_stage, before.info.status, before.info.artifact_uri)
    assert after.data.tags == before.data.tags
    got = Path(download(f"runs:/{rid}/model", dst_path=str(tmp_path / "model"),
                        tracking_uri=str(tmp_path / "me.duckdb")))
    assert (got / "model.pkl").read_text() == "my weights"
    new_run = takeover[RUNS.events].column("run_id")[0].as_py()
    assert {r.info.run_id for r in me.search_runs([e.experiment_id for e in me.search_experiments()])} == {
        rid, valid} and new_run != rid
    assert me.get_run(valid).info.run_name == "valid"


def test_a_pulled_commit_cannot_rename_a_local_experiment(s3: dict[str, Any], tmp_path: Path) -> None:
    valid = _teammate(s3, tmp_path)
    me, eid, rid = _mine(tmp_path)
    key = _commit(s3, {EXPERIMENTS.events: _rows(
        EXPERIMENTS, experiment_id=[eid, "0"], name=["pwned", "pwned-default"], lifecycle_stage=["deleted", "deleted"],
        artifact_location=[f"{s3['url']}/evil", f"{s3['url']}/evil"])})
    before = me.get_experiment(eid)
    with pytest.warns(SkippedCommitWarning, match=key.replace(".", r"\.")):
        sync.pull(s3["url"], store=str(tmp_path / "me.duckdb"))
    after = me.get_experiment(eid)
    assert (after.name, after.lifecycle_stage, after.artifact_location) == (
        before.name, before.lifecycle_stage, before.artifact_location)
    default = me.get_experiment("0")
    assert (default.name, default.lifecycle_stage) == ("Default", "active")
    assert me.get_run(valid).info.run_name == "valid"


def test_a_pulled_commit_cannot_touch_a_local_model(s3: dict[str, Any], tmp_path: Path) -> None:
    valid = _teammate(s3, tmp_path)
    me, eid, rid = _mine(tmp_path)
    me.create_registered_model("iris")
    source = me.create_model_version("iris", f"runs:/{rid}/model", run_id=rid).source
    me.flush()
    local = LocalStore(me)
    local.settle()
    with local.read() as con:
        model_id = con.execute("SELECT model_id FROM registered_models WHERE name = 'iris'").fetchall()[0][0]
    rename = _commit(s3, {REGISTERED_MODELS.events: _rows(REGISTERED_MODELS, model_id=[model_id], name=["pwned"]),
                          MODEL_VERSIONS.events: _rows(MODEL_VERSIONS, model_id=[model_id], version=["1"],
                                                       source=[f"{s3['url']}/evil/model"])})
    same_name = _commit(s3, {REGISTERED_MODELS.events: _rows(
        REGISTERED_MODELS, model_id=[time_sortable_hex()], name=["iris"], creation_timestamp=[1])})
    with pytest.warns(SkippedCommitWarning) as caught:
        sync.pull(s3["url"], store=str(tmp_path / "me.duckdb"))
    text = " ".join(str(w.message) for w in caught)
    assert rename in text and same_name in text
    assert me.get_registered_model("iris").name == "iris"
    assert me.get_model_version("iris", 1).source == source
    assert [m.name for m in me.search_registered_models()] == ["iris"]
    assert me.get_run(valid).info.run_name == "valid"


def test_garbage_commits_are_skipped_and_the_rest_lands(s3: dict[str, Any], tmp_path: Path) -> None:
    valid = _teammate(s3, tmp_path)
    garbage = _commit(s3, {RUNS.events: b"this is not parquet"})
    missing = _commit(s3, _new_run(s3))  # type: ignore[arg-type]
    s3["fs"].rm(s3["fs"].find(f"{s3['prefix']}/tables/run_events/store={missing.rsplit(' ', 1)[1]}"))
    wrong_type = _commit(s3, {RUNS.events: pa.table({"run_id": pa.array([[1]])})})
    broken_json = _commit(s3, _new_run(s3), row={"tables": ["{not json"]})  # type: ignore[arg-type]
    bad_status = _commit(s3, _new_run(s3, status=["WHATEVER"]))  # type: ignore[arg-type]
    me = MlflowClient(str(tmp_path / "me.duckdb"))
    with pytest.warns(SkippedCommitWarning) as caught:
        sync.pull(s3["url"], store=str(tmp_path / "me.duckdb"))
    text = " ".join(str(w.message) for w in caught)
    for key in (garbage, missing, wrong_type, broken_json, bad_status):
        assert key in text
    assert me.get_run(valid).info.run_name == "valid"
    assert len(me.search_runs([e.experiment_id for e in me.search_experiments()])) == 1
    sync.pull(s3["url"], store=str(tmp_path / "me.duckdb"))  # skipped for good: no second warning

    files = sync.committed_files(s3["url"])  # the Delta snapshot's files: what the log lists, checked or not
    assert len(files["run_events"]) == 6  # the teammate's and the five crafted ones

    remote = MlflowClient(s3["url"])  # the read-only client skips the same commits and serves the rest
    with pytest.warns(SkippedCommitWarning) as caught:
        assert remote.get_run(valid).info.run_name == "valid"
    assert garbage in " ".join(str(w.message) for w in caught)


def test_rows_a_push_does_not_list_are_never_read(s3: dict[str, Any], tmp_path: Path) -> None:
    """A push whose row lists no tables, with a run pointing at this machine's files in its data: pull
    and the read-only client both check every table they read against the row, and skip the push."""
    valid = _teammate(s3, tmp_path)
    unlisted = _commit(s3, _new_run(s3, artifact_uri=["/etc"]), row={"tables": ["{}"]})  # type: ignore[arg-type]
    me = MlflowClient(str(tmp_path / "me.duckdb"))
    with pytest.warns(SkippedCommitWarning, match=unlisted):
        sync.pull(s3["url"], store=str(tmp_path / "me.duckdb"))
    assert [r.info.run_id for r in me.search_runs([e.experiment_id for e in me.search_experiments()])] == [valid]
    remote = MlflowClient(s3["url"])
    with pytest.warns(SkippedCommitWarning) as caught:
        runs = remote.search_runs([e.experiment_id for e in remote.search_experiments()])
    assert [r.info.run_id for r in runs] == [valid]
    assert unlisted in " ".join(str(w.message) for w in caught)


def test_check_covers_every_table() -> None:
    """Every event table the store has is known to the pull's checks (a new table needs a rule)."""
    from lite_tracker.sync._pull import _CHANGES

    covered = {s.events for specs in _CHANGES.values() for s in specs}
    assert covered == set(BY_EVENTS)


@pytest.mark.parametrize("scheme", ["local://", "simplecache::file://", "dir::file://", "file:", "memory://",
                                    "https://example.invalid"])
def test_a_pulled_artifact_location_must_be_an_object_store(s3: dict[str, Any], tmp_path: Path,
                                                             scheme: str) -> None:
    """fsspec reaches this machine's files under other names than file:// ('local://', chained
    'simplecache::file://'): a deleted run pulled with such an artifact_uri would have 'gc' delete them."""
    valid = _teammate(s3, tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("mine")
    hostile = _new_run(s3, artifact_uri=[f"{scheme}{victim}"], lifecycle_stage=["deleted"])
    hostile[EXPERIMENTS.events] = _rows(
        EXPERIMENTS, **{**hostile[EXPERIMENTS.events].to_pydict(), "artifact_location": [f"{scheme}{victim}"]})
    key = _commit(s3, hostile)  # type: ignore[arg-type]
    me = MlflowClient(str(tmp_path / "me.duckdb"))
    with pytest.warns(SkippedCommitWarning, match=key.replace(".", r"\.")):
        sync.pull(s3["url"], store=str(tmp_path / "me.duckdb"))
    me.flush()
    from lite_tracker.store.gc import collect_garbage

    collect_garbage(me._store, dry_run=False)
    assert (victim / "precious.txt").read_text() == "mine"
    assert [r.info.run_id for r in me.search_runs([e.experiment_id for e in me.search_experiments()])] == [valid]
    remote = MlflowClient(s3["url"])
    with pytest.warns(SkippedCommitWarning, match=key.replace(".", r"\.")):
        assert "exp-" not in " ".join(e.name for e in remote.search_experiments())
