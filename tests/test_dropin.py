"""The MLflow calls people use every day exist, with MLflow's names, defaults, results and errors.

Each test states the MLflow behaviour it checks (from MLflow's documentation and API reference).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage

import lite_tracker
import lite_tracker as mlflow
from lite_tracker import MlflowClient
from lite_tracker.entities import Metric, Param, RunInfo, RunTag
from lite_tracker.entities.model_registry import RegisteredModel
from lite_tracker.errors import InvalidParameterValue, LiteTrackerException, NotSupported, ResourceNotFound
from lite_tracker.settings import TrackingUriIgnoredWarning

# ------------------------------------------------------------------ experiments and runs


def test_set_experiment_tags_tag_the_active_experiment(fluent) -> None:  # type: ignore[no-untyped-def]
    exp = mlflow.set_experiment("tagged")
    mlflow.set_experiment_tag("release", "2.2")
    mlflow.set_experiment_tags({"team": "ml", "stage": 3})
    assert mlflow.get_experiment(exp.experiment_id).tags == {"release": "2.2", "team": "ml", "stage": "3"}


def test_get_parent_run(fluent) -> None:  # type: ignore[no-untyped-def]
    with mlflow.start_run() as parent:
        with mlflow.start_run(nested=True) as child:
            pass
    assert mlflow.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id
    assert mlflow.get_parent_run(parent.info.run_id) is None
    assert MlflowClient().get_parent_run(child.info.run_id).info.run_id == parent.info.run_id


def test_nested_start_run_under_mlflow_run_id_creates_a_child(fluent, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    outer = MlflowClient().create_run("0")
    monkeypatch.setenv("MLFLOW_RUN_ID", outer.info.run_id)
    with mlflow.start_run() as resumed:
        assert resumed.info.run_id == outer.info.run_id
        with mlflow.start_run(nested=True) as child:
            assert child.info.run_id != outer.info.run_id
    assert mlflow.get_parent_run(child.info.run_id).info.run_id == outer.info.run_id
    assert "MLFLOW_RUN_ID" not in os.environ  # resumed once, as MLflow does


def test_nested_start_run_in_a_process_given_mlflow_run_id(fluent, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    outer = MlflowClient().create_run("0")
    monkeypatch.setenv("MLFLOW_RUN_ID", outer.info.run_id)
    with mlflow.start_run(nested=True) as child:
        assert child.info.run_id != outer.info.run_id
    assert mlflow.get_parent_run(child.info.run_id).info.run_id == outer.info.run_id


def test_last_active_run_is_per_thread(fluent) -> None:  # type: ignore[no-untyped-def]
    with mlflow.start_run() as main_run:
        pass
    seen: dict[str, object] = {}

    def other() -> None:
        seen["before"] = mlflow.last_active_run()
        with mlflow.start_run() as run:
            pass
        seen["own"] = (run.info.run_id, mlflow.last_active_run().info.run_id)

    t = threading.Thread(target=other)
    t.start()
    t.join(60)
    assert not t.is_alive()
    assert seen["before"] is None
    own, last = seen["own"]  # type: ignore[misc]
    assert own == last
    assert mlflow.last_active_run().info.run_id == main_run.info.run_id


def test_description_and_note_tag_conflict_is_mlflows_error(fluent) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LiteTrackerException, match="Description is already set via the tag mlflow.note.content") as e:
        mlflow.start_run(description="a", tags={"mlflow.note.content": "b"})
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert mlflow.active_run() is None


def test_set_experiment_by_unknown_id(fluent) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ResourceNotFound) as e:
        mlflow.set_experiment(experiment_id="123456789")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_max_results_none_is_mlflows_error(client: MlflowClient) -> None:
    with pytest.raises(InvalidParameterValue, match="Invalid value None for parameter 'max_results' supplied. "
                                                    "It must be a positive integer"):
        client.search_runs(["0"], max_results=None)  # type: ignore[arg-type]
    assert len(client.search_experiments(max_results=None)) == 1  # None means every experiment there


def test_negative_end_time_is_refused_and_the_run_stays_open(client: MlflowClient) -> None:
    rid = client.create_run("0").info.run_id
    with pytest.raises(InvalidParameterValue, match="end_time") as e:
        client.set_terminated(rid, end_time=-5)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(rid).info.status == "RUNNING"


def test_search_runs_of_unknown_experiment_names_is_empty(fluent) -> None:  # type: ignore[no-untyped-def]
    with mlflow.start_run():
        pass
    assert mlflow.search_runs(experiment_names=["no-such-experiment"]).empty
    assert mlflow.search_runs(experiment_names=["no-such-experiment"], output_format="list") == []


# ------------------------------------------------------------------ logging


def test_same_metric_point_twice_is_stored_once(client: MlflowClient) -> None:
    rid = client.create_run("0").info.run_id
    client.log_batch(rid, metrics=[Metric("m", 1.0, 5, 1), Metric("m", 1.0, 5, 1), Metric("m", 2.0, 5, 1)])
    client.flush()
    client._store.compact()
    client.log_metric(rid, "m", 1.0, 5, 1)  # again, after the first copy was compacted
    client.log_metric(rid, "m", float("nan"), 6, 1)
    client.log_metric(rid, "m", float("nan"), 6, 1)
    history = client.get_metric_history(rid, "m")
    assert [(p.value, p.timestamp, p.step) for p in history[:2]] == [(1.0, 5, 1), (2.0, 5, 1)]
    assert len(history) == 3 and np.isnan(history[2].value)
    bulk = client.get_metric_history_bulk([rid], ["m"])
    assert bulk.num_rows == 3


def test_log_batch_repeated_tag_keeps_the_last_value(client: MlflowClient) -> None:
    rid = client.create_run("0").info.run_id
    client.log_batch(rid, tags=[RunTag("a", "1"), RunTag("a", "2"), RunTag("b", "x"), RunTag("a", "3")])
    assert client.get_run(rid).data.tags["a"] == "3"


def test_synchronous_false_returns_run_operations(fluent) -> None:  # type: ignore[no-untyped-def]
    with mlflow.start_run() as run:
        ops = [mlflow.log_metric("m", 1.0, synchronous=False), mlflow.log_metrics({"n": 2.0}, synchronous=False),
               mlflow.log_param("p", 1, synchronous=False), mlflow.log_params({"q": 2}, synchronous=False),
               mlflow.set_tag("t", 1, synchronous=False), mlflow.set_tags({"u": 2}, synchronous=False)]
        for op in ops:
            assert isinstance(op, mlflow.RunOperations)
            op.wait()
        assert mlflow.log_param("r", 5) == 5
        assert mlflow.log_metric("m", 2.0) is None
        mlflow.flush_async_logging()
    data = mlflow.get_run(run.info.run_id).data
    assert (data.metrics, data.params) == ({"m": 2.0, "n": 2.0}, {"p": "1", "q": "2", "r": "5"})


def test_set_tracking_uri_is_returned_as_given_and_reaches_subprocesses(tmp_path: Path) -> None:
    mlflow.set_tracking_uri("relative/store.duckdb")
    assert mlflow.get_tracking_uri() == "relative/store.duckdb"
    with mlflow.start_run() as run:
        pass
    code = ("import lite_tracker as mlflow; "
            "print(mlflow.MlflowClient().get_run(" + repr(run.info.run_id) + ").info.status)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd="/", check=True).stdout
    assert out.strip() == "FINISHED"


def test_registry_uri_is_the_tracking_store(fluent, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert mlflow.get_registry_uri() == mlflow.get_tracking_uri()
    mlflow.set_registry_uri(mlflow.get_tracking_uri())
    with pytest.raises(InvalidParameterValue, match="keeps the model registry in the tracking store"):
        mlflow.set_registry_uri(str(tmp_path / "other.duckdb"))


# ------------------------------------------------------------------ artifacts


def test_log_artifact_of_a_folder_keeps_its_name(fluent, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "outputs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(folder))
        mlflow.log_artifact(str(folder), artifact_path="copy")
    rid = run.info.run_id
    assert {f.path for f in lite_tracker.artifacts.list_artifacts(run_id=rid)} == {"copy", "outputs"}
    assert lite_tracker.artifacts.load_text(f"runs:/{rid}/copy/outputs/sub/b.txt") == "b"


def test_artifacts_load_text_dict_image_and_list(fluent) -> None:  # type: ignore[no-untyped-def]
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    with mlflow.start_run() as run:
        mlflow.log_text("hello", "notes/a.txt")
        mlflow.log_dict({"k": [1, 2]}, "conf.json")
        mlflow.log_dict({"k": {"nested": True}}, "conf.yaml")
        mlflow.log_image(image, "pics/x.png")
    base = f"runs:/{run.info.run_id}"
    from lite_tracker import artifacts

    assert artifacts.load_text(f"{base}/notes/a.txt") == "hello"
    assert artifacts.load_dict(f"{base}/conf.json") == {"k": [1, 2]}
    assert artifacts.load_dict(f"{base}/conf.yaml") == {"k": {"nested": True}}
    assert "k:\n  nested: true" in artifacts.load_text(f"{base}/conf.yaml")
    assert np.array_equal(np.asarray(artifacts.load_image(f"{base}/pics/x.png")), image)
    assert [f.path for f in artifacts.list_artifacts(f"{base}/notes")] == ["notes/a.txt"]
    with pytest.raises(ResourceNotFound):
        artifacts.load_text(f"{base}/missing.txt")


def test_artifacts_list_a_models_uri_relative_to_the_model(fluent) -> None:  # type: ignore[no-untyped-def]
    with mlflow.start_run() as run:
        mlflow.log_text("flavor: x", "model/MLmodel")
        mlflow.log_text("w", "model/data/weights.bin")
    mlflow.register_model(f"runs:/{run.info.run_id}/model", "clf")
    from lite_tracker import artifacts

    listed = artifacts.list_artifacts("models:/clf/1")
    assert sorted((f.path, f.is_dir) for f in listed) == [("MLmodel", False), ("data", True)]
    assert artifacts.list_artifacts("models:/clf/latest") == listed
    with pytest.raises(ResourceNotFound, match="clf"):
        artifacts.list_artifacts("models:/clf/7")


def test_image_series_is_stored_as_mlflow_stores_it(fluent) -> None:  # type: ignore[no-untyped-def]
    image = np.random.default_rng(0).integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
    with mlflow.start_run() as run:
        for step in range(3):
            mlflow.log_image(image, key="val/samples", step=step, timestamp=1000 + step)
        mlflow.log_image(mlflow.Image(image), key="val/samples", step=3)
    rid = run.info.run_id
    names = sorted(f.path for f in MlflowClient().list_artifacts(rid, "images"))
    assert len(names) == 8
    pngs = [n for n in names if n.endswith(".png")]
    thumbs = [n for n in names if n.endswith("%compressed.webp")]
    assert len(pngs) == len(thumbs) == 4
    first = next(n for n in pngs if "%step%0%" in n)
    assert first.startswith("images/val#samples%step%0%timestamp%1000%")
    suffix = first.rsplit("%", 1)[1][:-len(".png")]
    assert len(suffix) == 36 and suffix[0] not in "0123456789abcdef"
    from lite_tracker import artifacts

    assert np.array_equal(np.asarray(artifacts.load_image(f"runs:/{rid}/{first}")), image)
    thumb = artifacts.load_image(f"runs:/{rid}/{first[:-len('.png')]}%compressed.webp")
    assert max(thumb.size) == 256
    assert mlflow.get_run(rid).data.tags["mlflow.loggedImages"] == "True"
    with pytest.raises(ValueError, match="may only contain alphanumerics"):
        MlflowClient().log_image(rid, image, key="bad%key")


def test_image_class_and_array_rules() -> None:
    img = mlflow.Image([[0, 255], [255, 0]])
    assert img.size == (2, 2)
    assert img.to_list() == [[0, 255], [255, 0]]
    assert img.resize((4, 4)).to_array().shape == (4, 4)
    mask = mlflow.Image(np.array([[True, False]]))
    assert mask.to_list() == [[255, 0]]
    with pytest.raises(ValueError, match=r"range \[0.0, 1.0\]"):
        mlflow.Image(np.array([[1.5]]))
    with pytest.raises(ValueError, match=r"range \[0, 255\]"):
        mlflow.Image(np.array([[300]]))
    with pytest.raises(ValueError, match="Invalid channel length: 2"):
        mlflow.Image(np.zeros((2, 2, 2)))
    with pytest.raises(TypeError, match="Unsupported image object type"):
        mlflow.Image(3.5)


def test_image_of_a_file_path(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    PILImage.new("RGB", (5, 3), (10, 20, 30)).save(path)
    img = mlflow.Image(str(path))
    assert img.size == (5, 3) and img.to_array()[0, 0].tolist() == [10, 20, 30]
    img.save(tmp_path / "y.jpg")
    with PILImage.open(tmp_path / "y.jpg") as saved:
        assert saved.size == (5, 3)


def test_log_table_appends_and_load_table_concatenates(fluent) -> None:  # type: ignore[no-untyped-def]
    with mlflow.start_run() as a:
        mlflow.log_table({"q": ["x", "y"], "score": [0.1, 0.2]}, "eval.json")
        mlflow.log_table(pd.DataFrame({"q": ["z"], "score": [0.3]}), "eval.json")
    with mlflow.start_run() as b:
        mlflow.log_table({"q": ["w"], "score": [0.4]}, artifact_file="eval.json")
    with mlflow.start_run():
        pass  # a run without the table is skipped
    one = mlflow.load_table("eval.json", run_ids=[a.info.run_id])
    assert one["q"].tolist() == ["x", "y", "z"]
    both = mlflow.load_table("eval.json", extra_columns=["run_id"])
    assert sorted(zip(both["q"], both["run_id"])) == sorted(
        [("x", a.info.run_id), ("y", a.info.run_id), ("z", a.info.run_id), ("w", b.info.run_id)])
    with pytest.raises(ResourceNotFound, match="No runs found with the corresponding table artifact"):
        mlflow.load_table("other.json")
    with pytest.raises(InvalidParameterValue, match=r"\.json"):
        mlflow.log_table({"a": [1]}, "eval.csv")


def _table(run_id: str, artifact_file: str) -> pd.DataFrame:
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_file)
    return pd.read_parquet(path) if path.endswith(".parquet") else pd.read_json(path, orient="split", dtype=False)


@pytest.mark.parametrize("ext", ["json", "parquet"])
def test_log_table_writes_json_or_parquet_and_keeps_strings_on_append(fluent, ext: str) -> None:  # type: ignore[no-untyped-def]
    stamp = "2026-12-01 10:00:00.123456+00:00"
    with mlflow.start_run() as run:
        mlflow.log_table({"q": ["x", "y"], "start_time": [stamp, stamp]}, f"dir/eval.{ext}")
        mlflow.log_table(pd.DataFrame({"q": ["z"], "start_time": [stamp]}), f"dir/eval.{ext}")
    table = _table(run.info.run_id, f"dir/eval.{ext}")  # a date-like column stays the string logged
    assert table["q"].tolist() == ["x", "y", "z"] and table["start_time"].tolist() == [stamp] * 3
    logged = json.loads(mlflow.get_run(run.info.run_id).data.tags["mlflow.loggedArtifacts"])
    assert logged == [{"path": f"dir/eval.{ext}", "type": "table"}]
    with pytest.raises(InvalidParameterValue, match="data must be a pandas.DataFrame or a dictionary"):
        mlflow.log_table("not a table", f"eval.{ext}", run_id=run.info.run_id)


@pytest.mark.parametrize("ext", ["json", "parquet"])
def test_log_table_saves_image_cells_as_files_as_mlflow_does(fluent, ext: str) -> None:  # type: ignore[no-untyped-def]
    small = mlflow.Image([[0, 128, 255]])
    big = PILImage.fromarray(np.arange(600 * 300 * 3, dtype=np.uint8).reshape(600, 300, 3))
    with mlflow.start_run() as run:
        mlflow.log_table({"q": ["a", "b"], "image": [small, big]}, f"eval.{ext}")
        mlflow.log_table({"q": ["c"], "image": [small]}, f"eval.{ext}")
    table = _table(run.info.run_id, f"eval.{ext}")
    cells = table["image"].tolist()
    assert [c["type"] for c in cells] == ["image"] * 3
    assert all(c["filepath"].startswith("table_images/eval/") and c["filepath"].endswith(".png") for c in cells)
    for cell, original in zip(cells, [small.to_pil(), big, small.to_pil()]):
        full = mlflow.artifacts.load_image(f"{run.info.artifact_uri}/{cell['filepath']}")
        assert np.array_equal(np.array(full), np.array(original))
        thumb = mlflow.artifacts.load_image(f"{run.info.artifact_uri}/{cell['compressed_filepath']}")
        assert max(thumb.size) <= 256
    assert mlflow.artifacts.load_image(f"{run.info.artifact_uri}/{cells[1]['compressed_filepath']}").size == (128, 256)


def test_a_column_mixing_images_and_values_is_refused_and_nothing_is_written(fluent) -> None:  # type: ignore[no-untyped-def]
    with mlflow.start_run() as run:
        with pytest.raises(ValueError, match="Column `image` contains a mix of images and non-images"):
            mlflow.log_table({"image": [mlflow.Image([[1, 2]]), "text"]}, "eval.json")
    assert mlflow.MlflowClient().list_artifacts(run.info.run_id) == []
    assert "mlflow.loggedArtifacts" not in mlflow.get_run(run.info.run_id).data.tags


def test_load_table_adds_any_column_of_the_runs(fluent) -> None:  # type: ignore[no-untyped-def]
    ids = []
    for lr in (0.1, 0.2):
        with mlflow.start_run() as run:
            mlflow.log_param("lr", lr)
            mlflow.log_table({"q": ["x"], "status": ["mine"]}, "eval.parquet")
            ids.append(run.info.run_id)
    table = mlflow.load_table("eval.parquet", extra_columns=["run_id", "params.lr", "status"])
    assert sorted(zip(table["run_id"], table["params.lr"])) == sorted(zip(ids, ["0.1", "0.2"]))
    assert table["status"].tolist() == ["mine", "mine"]  # the table's own column keeps its name
    assert table["status_"].tolist() == ["FINISHED", "FINISHED"]
    one = mlflow.load_table("eval.parquet", run_ids=[ids[0]], extra_columns=["tags.mlflow.loggedArtifacts"])
    assert len(one) == 1 and json.loads(one["tags.mlflow.loggedArtifacts"][0])[0]["path"] == "eval.parquet"
    with pytest.raises(KeyError, match="no_such_column"):
        mlflow.load_table("eval.parquet", extra_columns=["no_such_column"])


def test_log_stream_stores_a_binary_stream_and_refuses_text(fluent, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import io

    blob = bytes(range(256)) * 9000  # over 2 MB: several read() chunks
    (tmp_path / "model.bin").write_bytes(blob)
    with mlflow.start_run() as run:
        mlflow.log_stream(io.BytesIO(b"binary content"), "small.bin")
        with open(tmp_path / "model.bin", "rb") as f:
            mlflow.log_stream(f, "dir/model.bin")
    client = mlflow.MlflowClient()
    client.log_stream(run.info.run_id, io.BytesIO(b""), "empty.bin")
    rid = run.info.run_id
    assert Path(client.download_artifacts(rid, "small.bin", str(tmp_path))).read_bytes() == b"binary content"
    assert Path(client.download_artifacts(rid, "dir/model.bin", str(tmp_path))).read_bytes() == blob
    assert Path(client.download_artifacts(rid, "empty.bin", str(tmp_path))).read_bytes() == b""
    with pytest.raises(InvalidParameterValue, match="binary"):
        client.log_stream(rid, io.StringIO("text"), "text.bin")
    with pytest.raises(InvalidParameterValue, match="read"):
        client.log_stream(rid, b"bytes, not a stream", "raw.bin")
    names = sorted(f.path for f in client.list_artifacts(rid))
    assert names == ["dir", "empty.bin", "small.bin"]  # nothing half-written, no temp file left
    assert [p.name for p in Path(run.info.artifact_uri.removeprefix("file://")).iterdir()
            if p.name.startswith(".tmp")] == []


def test_search_runs_returns_a_dataframe_on_a_plain_install(fluent) -> None:  # type: ignore[no-untyped-def]
    with mlflow.start_run():
        mlflow.log_metric("m", 1.0)
    assert isinstance(mlflow.search_runs(), pd.DataFrame)


# ------------------------------------------------------------------ registry


def test_fluent_registry_searches_and_tags(fluent) -> None:  # type: ignore[no-untyped-def]
    client = MlflowClient()
    for name in ("a", "b"):
        client.create_registered_model(name)
        for i in range(3):
            client.create_model_version(name, f"/models/{name}/{i}")
    assert [m.name for m in mlflow.search_registered_models()] == ["a", "b"]
    assert [m.name for m in mlflow.search_registered_models(filter_string="name = 'b'")] == ["b"]
    assert len(mlflow.search_registered_models(max_results=1)) == 1
    assert [v.version for v in mlflow.search_model_versions(filter_string="name = 'a'")] == [3, 2, 1]
    assert len(mlflow.search_model_versions(max_results=4)) == 4
    mlflow.set_model_version_tag("a", 2, "validated", "yes")
    assert client.get_model_version("a", 2).tags == {"validated": "yes"}


def test_copy_model_version(client: MlflowClient) -> None:
    rid = client.create_run("0").info.run_id
    client.create_registered_model("staging-m")
    client.create_model_version("staging-m", "/models/m", run_id=rid, tags={"k": "v"}, description="d")
    copy = client.copy_model_version("models:/staging-m/1", "prod-m")
    assert (copy.name, copy.version, copy.run_id, copy.tags, copy.description) == ("prod-m", 1, rid, {"k": "v"}, "d")
    assert copy.source == client.get_model_version("staging-m", 1).source
    assert client.copy_model_version("models:/staging-m/1", "prod-m").version == 2


def test_registry_defaults_as_mlflow(client: MlflowClient) -> None:
    assert client.create_registered_model("m").description == ""
    assert client.get_registered_model("m").description == ""
    mv = client.create_model_version("m", "/x", run_id="f" * 32)  # the registry does not own runs
    assert mv.run_id == "f" * 32
    client.create_model_version("m", "/y")
    assert [v.version for v in client.search_model_versions("name = 'm'")] == [2, 1]


# ------------------------------------------------------------------ entities


def test_entity_helpers() -> None:
    m = Metric("loss", 0.5, 1700, 3, "r1")
    assert Metric.from_dictionary(m.to_dictionary()) == m
    with pytest.raises(ValueError, match="Missing keys"):
        Metric.from_dictionary({"key": "x"})
    assert RunInfo.get_searchable_attributes() == [
        "artifact_uri", "end_time", "run_id", "run_name", "start_time", "status", "user_id"]
    page = lite_tracker.entities.PagedList([1, 2], "tok")
    assert page.to_list() == [1, 2] and type(page.to_list()) is list


def test_entities_print_as_mlflow_prints_them() -> None:
    assert repr(Param("lr", "0.1")) == "<Param: key='lr', value='0.1'>"
    assert str(RunTag("a", "b")) == "<RunTag: key='a', value='b'>"
    assert repr(Metric("m", 1.0, 2, 3)) == "<Metric: key='m', run_id=None, step=3, timestamp=2, value=1.0>"
    text = repr(RegisteredModel("iris", 1))
    assert text.startswith("<RegisteredModel: aliases={}, creation_timestamp=1, description='',")


def test_fluent_restore_experiment_tags_and_is_tracking_uri_set(fluent, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert mlflow.is_tracking_uri_set()  # the fixture set it
    exp = mlflow.set_experiment("restorable")
    mlflow.set_experiment_tags({"team": "a", "keep": "b"})
    mlflow.delete_experiment_tag("team")
    assert mlflow.get_experiment(exp.experiment_id).tags == {"keep": "b"}
    with mlflow.start_run() as run:
        pass
    mlflow.delete_run(run.info.run_id)
    mlflow.restore_run(run.info.run_id)
    assert mlflow.get_run(run.info.run_id).info.lifecycle_stage == "active"
    mlflow.delete_experiment(exp.experiment_id)
    mlflow.restore_experiment(exp.experiment_id)
    assert mlflow.get_experiment(exp.experiment_id).lifecycle_stage == "active"
    mlflow.flush_artifact_async_logging()  # artifacts are written synchronously: nothing to wait for
    code = "import lite_tracker; print(lite_tracker.is_tracking_uri_set())"
    env = {k: v for k, v in os.environ.items() if k not in ("LITE_TRACKER_URI", "MLFLOW_TRACKING_URI")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.stdout.strip() == "False"


def test_deleting_an_experiment_deletes_its_runs_and_restoring_restores_them(fluent) -> None:  # type: ignore[no-untyped-def]
    exp = mlflow.set_experiment("sweep")
    ids = []
    for _ in range(3):
        with mlflow.start_run() as run:
            ids.append(run.info.run_id)
    mlflow.delete_run(ids[0])
    mlflow.delete_experiment(exp.experiment_id)  # MLflow 3 deletes the runs with their experiment
    assert mlflow.search_runs([exp.experiment_id], output_format="list") == []
    assert {mlflow.get_run(i).info.lifecycle_stage for i in ids} == {"deleted"}
    with pytest.raises(ResourceNotFound, match=f"No Experiment with id={exp.experiment_id} exists"):
        mlflow.delete_experiment(exp.experiment_id)
    mlflow.restore_experiment(exp.experiment_id)  # ... and restores all of them, as MLflow 3 does
    assert sorted(r.info.run_id for r in mlflow.search_runs([exp.experiment_id], output_format="list")) == sorted(ids)
    with pytest.raises(ResourceNotFound, match=f"No Experiment with id={exp.experiment_id} exists"):
        mlflow.restore_experiment(exp.experiment_id)


def test_log_inputs_records_each_dataset_with_its_context_and_tags(fluent) -> None:  # type: ignore[no-untyped-def]
    train = mlflow.data.from_numpy(np.arange(6).reshape(3, 2), source="train.csv", name="train")
    test = mlflow.data.from_numpy(np.arange(4).reshape(2, 2), source="test.csv", name="test")
    with mlflow.start_run() as run:
        mlflow.log_inputs([train, test], contexts=["training", None], tags_list=[None, {"split": "holdout"}])
        with pytest.raises(InvalidParameterValue, match="same length"):
            mlflow.log_inputs([train], contexts=[], tags_list=[])
    inputs = {d.dataset.name: {t.key: t.value for t in d.tags}
              for d in mlflow.get_run(run.info.run_id).inputs.dataset_inputs}
    assert inputs == {"train": {"mlflow.data.context": "training"}, "test": {"split": "holdout"}}


# ------------------------------------------------------------------ surface and surprises


def test_mlflow_import_paths_after_a_plain_import() -> None:
    code = ("import lite_tracker; print(lite_tracker.tracking.MlflowClient.__name__, "
            "lite_tracker.exceptions.MlflowException.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["MlflowClient", "LiteTrackerException"]
    from lite_tracker.exceptions import MlflowException

    assert MlflowException is LiteTrackerException


@pytest.mark.parametrize("name", ["tracing", "genai", "start_span", "register_prompt", "pytorch", "deployments",
                                  "projects", "recipes", "evaluate"])
def test_unsupported_mlflow_names_say_so(name: str) -> None:
    with pytest.raises(NotSupported, match=f"lite_tracker does not support mlflow.{name} yet; see README"):
        getattr(lite_tracker, name)
    assert not hasattr(lite_tracker, name)
    with pytest.raises(AttributeError, match="has no attribute 'not_an_mlflow_name'"):
        lite_tracker.not_an_mlflow_name  # noqa: B018


def test_every_public_name_of_mlflow_is_there_or_says_it_is_not() -> None:
    """MLflow's own ``__all__`` (the real MLflow of the test extra): no name ends in a bare AttributeError."""
    mlflow_all = subprocess.run([sys.executable, "-c", "import mlflow, json; print(json.dumps(mlflow.__all__))"],
                                capture_output=True, text=True, timeout=120, check=True).stdout
    bare = []
    for name in json.loads(mlflow_all):
        try:
            getattr(lite_tracker, name)
        except NotSupported:
            continue
        except AttributeError:
            bare.append(name)
    assert bare == []


def test_readme_lists_every_unsupported_name() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("### Not supported"):]
    missing = [name for name in lite_tracker.NOT_SUPPORTED if f"`{name}`" not in section]
    assert missing == []


def test_server_tracking_uri_in_the_environment_warns_once(fluent, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("LITE_TRACKER_URI")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://user:secret@mlflow.example.com:5000/path?token=x")
    with pytest.warns(TrackingUriIgnoredWarning) as caught:
        MlflowClient()
    message = str(caught[0].message)
    assert "https://mlflow.example.com:5000/path" in message and "secret" not in message and "token" not in message
    assert f"Runs go to {Path.cwd() / 'lite_tracker.duckdb'} instead" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MlflowClient()  # once is enough


def test_log_dict_yaml_and_json(fluent) -> None:  # type: ignore[no-untyped-def]
    with mlflow.start_run() as run:
        mlflow.log_dict({"a": 1}, "c.yml")
        mlflow.log_dict({"a": 1}, "c.json")
    from lite_tracker import artifacts

    assert artifacts.load_text(f"runs:/{run.info.run_id}/c.yml") == "a: 1\n"
    assert json.loads(artifacts.load_text(f"runs:/{run.info.run_id}/c.json")) == {"a": 1}


# ------------------------------------------------------------------ gaps found by running MLflow's own tests


def test_search_runs_experiment_names_of_none_is_an_empty_result(fluent) -> None:  # type: ignore[no-untyped-def]
    # MLflow: names that match no experiment (None included) are skipped; none left means no runs.
    with mlflow.start_run():
        pass
    assert mlflow.search_runs(experiment_names=[None], output_format="list") == []
    assert mlflow.search_runs(experiment_names=[None, "nope"]).empty


def test_set_experiment_of_an_unknown_id_is_resource_does_not_exist(fluent) -> None:  # type: ignore[no-untyped-def]
    # MLflow raises RESOURCE_DOES_NOT_EXIST "No Experiment with id=... exists" whatever the id looks like,
    # and the active experiment stays as it was.
    exp = mlflow.set_experiment("kept")
    for unknown in ("-1337", "123456"):
        with pytest.raises(ResourceNotFound, match=f"No Experiment with id={unknown} exists") as e:
            mlflow.set_experiment(experiment_id=unknown)
        assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with mlflow.start_run() as run:
        assert run.info.experiment_id == exp.experiment_id


def test_experiment_name_errors_use_mlflow_wording(fluent) -> None:  # type: ignore[no-untyped-def]
    # Users and MLflow's tests match on these messages.
    with pytest.raises(InvalidParameterValue, match=r"Invalid experiment name: 'None'"):
        mlflow.create_experiment(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterValue, match=r"Invalid experiment name: ''"):
        mlflow.create_experiment("")
    for bad in (123, -1.2, ["A"], {1: 2}):
        with pytest.raises(InvalidParameterValue, match=rf"Invalid experiment name: {re.escape(str(bad))}\. "
                                                          r"Expects a string\."):
            mlflow.create_experiment(bad)  # type: ignore[arg-type]
    mlflow.create_experiment("popular")
    with pytest.raises(LiteTrackerException, match=re.escape("Experiment(name=popular) already exists")) as e:
        mlflow.create_experiment("popular")
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"


@pytest.mark.parametrize("experiment_id", [("a", "b"), ["a"], {"a": 1}, [], 1.5])
def test_start_run_with_an_experiment_id_of_the_wrong_type(  # type: ignore[no-untyped-def]
        fluent, experiment_id) -> None:
    # MLflow: "Invalid experiment id: <id> of type <type>. Must be one of str, int, or None."
    with pytest.raises(InvalidParameterValue, match=r"Invalid experiment id: .* of type .*Must be one of str, int"):
        mlflow.start_run(experiment_id=experiment_id)
    assert mlflow.active_run() is None


def test_metric_value_and_key_errors_use_mlflow_wording(fluent) -> None:  # type: ignore[no-untyped-def]
    # MLflow's message: Invalid value <json> for parameter '<path>' supplied: ... valid double (64-bit ...)
    with mlflow.start_run() as run:
        with pytest.raises(InvalidParameterValue, match=r"Invalid value \"apple\" for parameter 'value' supplied: "
                                                        r".*Please specify value as a valid double"):
            mlflow.log_metric("m", "apple")  # type: ignore[arg-type]
        client = MlflowClient()
        rid = run.info.run_id
        cases = [
            (dict(metrics=[Metric("ok", 1.0, 3, 0), Metric("../bad", 0.3, 3, 0)]),
             r"\"../bad\" for parameter 'metrics\[1\].name'"),
            (dict(metrics=[Metric("ok", "x", 3, 0)]),
             r"\"x\" for parameter 'metrics\[0\].value' supplied: .*valid double"),
            (dict(metrics=[Metric("ok", 1.0, "t", 0)]),
             r"\"t\" for parameter 'metrics\[0\].timestamp' supplied"),
            (dict(params=[Param("../p", "v")]), r"\"../p\" for parameter 'params\[0\].key' supplied"),
            (dict(tags=[RunTag("../t", "v")]), r"\"../t\" for parameter 'tags\[0\].key' supplied"),
            (dict(metrics=[Metric(None, 1.0, 4, 1)]), r"Metric name cannot be None\. A key name must be provided\."),
        ]
        for kwargs, message in cases:
            with pytest.raises(InvalidParameterValue, match=message):
                client.log_batch(rid, **kwargs)  # type: ignore[arg-type]
    assert mlflow.get_run(rid).data.metrics == {}


def test_log_image_errors_are_mlflows(fluent) -> None:  # type: ignore[no-untyped-def]
    # MLflow: bad pixel values and shapes are ValueErrors, a bad dtype or object type a TypeError; a string
    # is not an image to log_image (only mlflow.Image reads a file path).
    with mlflow.start_run():
        for array, message in (([[-1]], "Integer pixel values out of acceptable range"),
                               ([[256]], "Integer pixel values out of acceptable range"),
                               ([[-0.1]], "Float pixel values out of acceptable range"),
                               ([[1.1]], "Float pixel values out of acceptable range"),
                               (np.zeros((1,), dtype=np.uint8), "`image` must be a 2D or 3D array"),
                               (np.zeros((1, 1, 5), dtype=np.uint8), "Invalid channel length")):
            with pytest.raises(ValueError, match=message):
                mlflow.log_image(np.array(array), "image.png")
        with pytest.raises(TypeError, match="Invalid array data type"):
            mlflow.log_image(np.tile("a", (1, 1, 3)), "image.png")
        Path("picture.png").write_bytes(b"not a png")
        with pytest.raises(TypeError, match="Unsupported image object type"):
            mlflow.log_image("picture.png", "image.png")
        assert mlflow.MlflowClient().list_artifacts(mlflow.active_run().info.run_id) == []


def test_get_artifact_uri_of_a_path_with_a_leading_slash(fluent) -> None:  # type: ignore[no-untyped-def]
    # MLflow appends the path without its leading "/" to the run's artifact URI.
    with mlflow.start_run() as run:
        assert mlflow.get_artifact_uri("/artifact/path") == f"{run.info.artifact_uri}/artifact/path"


def test_log_artifact_of_a_folder_keeps_its_empty_subfolders(fluent, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # MLflow copies a logged folder as a tree, empty subfolders included.
    src = tmp_path / "parent"
    (src / "child").mkdir(parents=True)
    (src / "file0").write_text("something")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(src))
    local = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(tmp_path / "out")))
    assert sorted(p.name for p in (local / "parent").iterdir()) == ["child", "file0"]


# ------------------------------------------------------------------ MlflowClient details from MLflow's test_client.py


def test_client_create_run_user_is_unknown_without_a_user_tag(client: MlflowClient) -> None:
    """MLflow's ``MlflowClient.create_run`` takes the user from the ``mlflow.user`` tag, else ``"unknown"``."""
    exp = client.create_experiment("users")
    assert client.create_run(exp).info.user_id == "unknown"
    assert client.get_run(client.create_run(exp).info.run_id).info.user_id == "unknown"
    assert client.create_run(exp, tags={"mlflow.user": "ana"}).info.user_id == "ana"


def test_client_search_runs_takes_one_experiment_id_as_int_or_str(client: MlflowClient) -> None:
    """MLflow wraps a single experiment id (an int or a str) given to ``search_runs`` in a list."""
    exp = client.create_experiment("one-id")
    run_id = client.create_run(exp).info.run_id
    assert [r.info.run_id for r in client.search_runs(int(exp))] == [run_id]
    assert [r.info.run_id for r in client.search_runs(exp)] == [run_id]
    assert [r.info.run_id for r in client.search_runs([int(exp)])] == [run_id]


def test_source_type_entity() -> None:
    """``mlflow.entities.SourceType`` names where a run came from and converts to and from strings."""
    from lite_tracker.entities import SourceType

    assert SourceType.to_string(SourceType.JOB) == "JOB"
    assert SourceType.from_string("NOTEBOOK") == SourceType.NOTEBOOK
    assert [SourceType.NOTEBOOK, SourceType.JOB, SourceType.PROJECT, SourceType.LOCAL,
            SourceType.UNKNOWN] == [1, 2, 3, 4, 5]
    with pytest.raises(InvalidParameterValue, match="Valid source type strings: .*'LOCAL'"):
        SourceType.from_string("NOPE")


def test_copy_model_version_errors_as_mlflow(client: MlflowClient) -> None:
    """MLflow copies only ``models:/`` URIs and wraps a failed lookup of the source in its own message;
    a source version whose run lives in another store is copied."""
    client.create_registered_model("src")
    client.create_model_version("src", "runs:/elsewhere/model", "elsewhere")
    copy = client.copy_model_version("models:/src/1", "dst")
    assert (copy.name, copy.version, copy.run_id) == ("dst", 1, "elsewhere")
    with pytest.raises(LiteTrackerException, match=r"Failed to fetch model version from source model URI: "
                                                   r"'models:/nope/1'\. Error: .*name=nope not found"):
        client.copy_model_version("models:/nope/1", "dst")
    with pytest.raises(LiteTrackerException, match=r"Unsupported source model URI: 'runs:/x/m'"):
        client.copy_model_version("runs:/x/m", "dst")


def test_metric_history_points_equal_metrics_built_by_hand(client: MlflowClient) -> None:
    """MLflow's ``get_metric_history`` returns ``Metric(key, value, timestamp, step)`` without a run id,
    so a history compares equal to the points a user builds."""
    run_id = client.create_run(client.create_experiment("history")).info.run_id
    client.log_metric(run_id, "m1", 0.87, 123456789, 1)
    client.log_batch(run_id, [Metric("m2", 2.0, 5, 0)])
    assert client.get_metric_history(run_id, "m1") == [Metric("m1", 0.87, 123456789, 1)]
    assert client.get_metric_history(run_id, "m2") == [Metric("m2", 2.0, 5, 0)]


def test_client_can_be_pickled_and_works_after(client: MlflowClient) -> None:
    """MLflow's ``MlflowClient`` pickles (e.g. to hand it to a worker process) even though its stores
    cannot: the copy talks to the same store."""
    import pickle

    exp = client.create_experiment("pickled")
    client.create_registered_model("pickled-model")
    copy = pickle.loads(pickle.dumps(client))
    assert copy.tracking_uri == client.tracking_uri
    run_id = copy.create_run(exp).info.run_id
    copy.log_metric(run_id, "m", 1.0)
    assert client.get_run(run_id).data.metrics == {"m": 1.0}
    assert copy.get_registered_model("pickled-model").name == "pickled-model"


# ------------------------------------------------------------------ entities built by hand, as in MLflow's tests


def test_run_info_takes_mlflow_positional_order_and_prints_as_mlflow_3() -> None:
    """MLflow's ``RunInfo(run_id, experiment_id, user_id, status, start_time, end_time, lifecycle_stage,
    artifact_uri=None, run_name=None)``; MLflow 3 prints it without ``run_uuid``."""
    from lite_tracker.entities import Run, RunData, RunStatus

    info = RunInfo("hi", 0, "user-id", RunStatus.FAILED, 0, 1, "active")
    assert (info.artifact_uri, info.run_name, info.user_id) == (None, None, "user-id")
    data = RunData(metrics=[Metric(f"key-{i}", i, 0, i) for i in range(3)], params=[], tags=[])
    assert str(Run(info, data)) == (
        "<Run: data=<RunData: metrics={'key-0': 0, 'key-1': 1, 'key-2': 2}, params={}, tags={}>, "
        "info=<RunInfo: artifact_uri=None, end_time=1, experiment_id=0, lifecycle_stage='active', run_id='hi', "
        "run_name=None, start_time=0, status=4, user_id='user-id'>, "
        "inputs=<RunInputs: dataset_inputs=[], model_inputs=[]>>")
    assert dict(info) == {"run_id": "hi", "experiment_id": 0, "user_id": "user-id", "status": 4, "start_time": 0,
                          "end_time": 1, "lifecycle_stage": "active", "artifact_uri": None, "run_name": None}
    assert set(RunInfo.get_orderable_attributes()) == set(RunInfo.get_searchable_attributes())


def test_entities_convert_to_dicts_and_take_lists_as_mlflow() -> None:
    """MLflow entities iterate as (attribute, value) pairs, so ``dict(entity)`` works, and their
    constructors take lists of Metric/Param/RunTag/...Tag objects."""
    from lite_tracker.entities import Experiment, ExperimentTag, Run, RunData
    from lite_tracker.entities.model_registry import ModelVersion, ModelVersionTag, RegisteredModelTag

    assert dict(Param("lr", "0.1")) == {"key": "lr", "value": "0.1"}
    assert dict(RunTag("k", "v")) == {"key": "k", "value": "v"}
    rd = RunData(metrics=[Metric("a", 1.0, 1, 0), Metric("a", 2.0, 2, 1)], params=[Param("p", "1")],
                 tags=[RunTag("t", "x")])
    assert dict(rd) == {"metrics": {"a": 2.0}, "params": {"p": "1"}, "tags": {"t": "x"}}
    assert Experiment("1", "n", "/tmp", "active", tags=[ExperimentTag("a", "b")]).tags == {"a": "b"}
    assert dict(Experiment("1", "n", "/tmp", "active"))["tags"] == {}
    assert RegisteredModel("m", 1, 2, "d", [], [RegisteredModelTag("k", "v")]).tags == {"k": "v"}
    assert ModelVersion("m", 1, 1, tags=[ModelVersionTag("k", "v")]).tags == {"k": "v"}
    info = RunInfo("r", "0", "u", "FINISHED", 1, 2, "active")
    assert Run(info, None).to_dictionary() == {"info": dict(info)}
    with pytest.raises(InvalidParameterValue, match="run_info cannot be None"):
        Run(None, rd)  # type: ignore[arg-type]


def test_status_view_type_and_stage_helpers_as_mlflow() -> None:
    """``RunStatus``, ``ViewType`` and ``LifecycleStage`` helpers with MLflow's names and messages."""
    from lite_tracker.entities import LifecycleStage, RunStatus, ViewType

    with pytest.raises(InvalidParameterValue, match="Could not get string corresponding to run status -120"):
        RunStatus.to_string(-120)
    with pytest.raises(InvalidParameterValue, match="Could not get run status corresponding to string the IMPO"):
        RunStatus.from_string("the IMPOSSIBLE status string")
    assert ViewType.from_string("deleted_only") == ViewType.DELETED_ONLY
    assert ViewType.to_string(ViewType.ALL) == "all"
    with pytest.raises(InvalidParameterValue, match="Could not get valid view type"):
        ViewType.from_string("nope")
    assert LifecycleStage.is_valid("active") and not LifecycleStage.is_valid("gone")
    assert set(LifecycleStage.view_type_to_stages(ViewType.ALL)) == {"active", "deleted"}


def test_entities_from_dictionary_as_mlflow() -> None:
    """MLflow's ``Entity.from_dictionary`` builds an entity from a dict, ignoring keys it does not know
    (so a dict from a newer version still loads)."""
    from lite_tracker.entities import Experiment
    from lite_tracker.entities.model_registry import ModelVersion

    assert Param.from_dictionary({"key": "k", "value": "v"}) == Param("k", "v")
    info = RunInfo("r", "0", "u", "FINISHED", 1, 2, "active", "/a", "name")
    assert RunInfo.from_dictionary({**dict(info), "run_uuid": "r", "my_new_field": 1}) == info
    exp = Experiment.from_dictionary({"experiment_id": "1", "name": "n", "artifact_location": "/x",
                                      "lifecycle_stage": "active", "tags": {}, "workspace": "default"})
    assert (exp.experiment_id, exp.name) == ("1", "n")
    mv = ModelVersion.from_dictionary({"name": "m", "version": "5", "creation_timestamp": 1,
                                       "tags": [RunTag("k", "v")], "registered_model": None})
    assert (mv.version, mv.tags) == ("5", {"k": "v"})
