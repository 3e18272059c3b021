"""Datasets (``lite_tracker.data``) and ``log_input`` on a real store: what MLflow records comes back,
is searchable as ``datasets.*``, visible to ``sql()``, and survives compaction and an old store's migration."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

import lite_tracker as mlflow
from lite_tracker import MlflowClient
from lite_tracker.entities import Dataset, DatasetInput, InputTag
from lite_tracker.errors import InvalidFilter, InvalidParameterValue
from lite_tracker.store.catalog import FORMAT_VERSION, migrate, read_version


def _iris() -> pd.DataFrame:
    return pd.DataFrame({"sepal": [5.1, 4.9, 6.3], "petals": [3, 4, 5], "species": ["a", "b", "a"]})


def test_from_pandas_describes_the_frame_as_mlflow_does() -> None:
    ds = mlflow.data.from_pandas(_iris(), source="data/iris.csv", name="iris", targets="species")
    assert ds.name == "iris" and re.fullmatch(r"[0-9a-f]{8}", ds.digest)
    d = ds.to_dict()
    assert d["source_type"] == "local" and json.loads(d["source"]) == {"uri": "data/iris.csv"}
    assert json.loads(d["schema"]) == {"mlflow_colspec": [
        {"type": "double", "name": "sepal", "required": True},
        {"type": "long", "name": "petals", "required": True},
        {"type": "string", "name": "species", "required": True},
    ]}
    assert json.loads(d["profile"]) == {"num_rows": 3, "num_elements": 9}
    assert mlflow.data.from_pandas(_iris()).name == "dataset"  # MLflow's default name


def test_sources_are_resolved_like_mlflow() -> None:
    df = _iris()
    code = mlflow.data.from_pandas(df).source
    assert code.source_type == "code" and set(code.to_dict()["tags"]) == {
        "mlflow.user", "mlflow.source.name", "mlflow.source.type"}
    assert mlflow.data.from_pandas(df, source="s3://b/iris.parquet").source.to_dict() == {"uri": "s3://b/iris.parquet"}
    assert mlflow.data.from_pandas(df, source="s3://b/x").source._get_source_type() == "s3"
    assert mlflow.data.from_pandas(df, source="https://x.org/a.csv").source.to_dict() == {"url": "https://x.org/a.csv"}
    with pytest.raises(InvalidParameterValue, match="Could not find a dataset source"):
        mlflow.data.from_pandas(df, source="nosuch://x")
    with pytest.raises(InvalidParameterValue, match="targets column 'label'"):
        mlflow.data.from_pandas(df, targets="label")
    with pytest.raises(InvalidParameterValue, match="pandas DataFrame"):
        mlflow.data.from_pandas([1, 2, 3])


def test_pandas_digest_follows_the_data_not_the_object() -> None:
    digest = mlflow.data.from_pandas(_iris()).digest
    assert mlflow.data.from_pandas(_iris().copy()).digest == digest
    changed = _iris()
    changed.loc[0, "sepal"] = 9.9
    assert mlflow.data.from_pandas(changed).digest != digest
    assert mlflow.data.from_pandas(_iris().rename(columns={"sepal": "s"})).digest != digest
    # a column of Python objects (not strings, not numbers) is left out of the hashed contents, as in MLflow
    a, b = _iris(), _iris()
    a["obj"], b["obj"] = [[1], [2], [3]], [[4], [5], [6]]
    assert mlflow.data.from_pandas(a).digest == mlflow.data.from_pandas(b).digest
    assert mlflow.data.from_pandas(_iris(), digest="fixed").digest == "fixed"


def test_from_numpy_profile_schema_and_digest() -> None:
    x, y = np.arange(12, dtype=np.float64).reshape(4, 3), np.array([0, 1, 0, 1])
    ds = mlflow.data.from_numpy(x, targets=y, source="data/x.npy", name="arr")
    assert ds.profile == {"features_shape": [4, 3], "features_size": 12, "features_nbytes": 96,
                          "targets_shape": [4], "targets_size": 4, "targets_nbytes": y.nbytes}
    schema = json.loads(ds.to_dict()["schema"])["mlflow_tensorspec"]
    assert json.loads(schema["features"]) == [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 3]}}]
    assert json.loads(schema["targets"])[0]["tensor-spec"]["dtype"] == y.dtype.name
    assert mlflow.data.from_numpy(x, targets=y).digest == ds.digest
    assert mlflow.data.from_numpy(x).digest != ds.digest
    assert mlflow.data.from_numpy(x + 1, targets=y).digest != ds.digest
    with pytest.raises(InvalidParameterValue, match="NumPy array"):
        mlflow.data.from_numpy([[1, 2]])


def test_log_input_round_trip_through_the_store(fluent, store_path: Path) -> None:
    train = mlflow.data.from_pandas(_iris(), source="data/iris.csv", name="iris")
    test = mlflow.data.from_numpy(np.zeros((2, 2)), name="holdout")
    with mlflow.start_run() as run:
        mlflow.log_input(train, context="training", tags={"split": "80%"})
        mlflow.log_input(test, context="eval")
        mlflow.log_input(train, context="ignored")  # already recorded: MLflow keeps the first
    got = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    by_name = {i.dataset.name: i for i in got}
    assert set(by_name) == {"iris", "holdout"}
    assert by_name["iris"].dataset == train._to_mlflow_entity()
    assert sorted(by_name["iris"].tags, key=lambda t: t.key) == [
        InputTag("mlflow.data.context", "training"), InputTag("split", "80%")]
    assert by_name["holdout"].tags == [InputTag("mlflow.data.context", "eval")]
    assert mlflow.data.get_source(by_name["iris"]).uri == "data/iris.csv"
    client = MlflowClient(str(store_path))
    client._store.compact()  # folded into the DuckDB file, the same comes back
    assert client.get_run(run.info.run_id).inputs.dataset_inputs == got
    assert mlflow.active_run() is None


def test_client_log_inputs_validates_everything(client: MlflowClient) -> None:
    rid = client.create_run("0").info.run_id
    ok = Dataset("d", "abc", "local", '{"uri": "x"}')
    with pytest.raises(InvalidParameterValue, match="name is 501 characters long; the limit is 500"):
        client.log_inputs(rid, [DatasetInput(Dataset("n" * 501, "abc", "local", "{}"))])
    with pytest.raises(InvalidParameterValue, match="digest is 37 characters"):
        client.log_inputs(rid, [DatasetInput(Dataset("d", "x" * 37, "local", "{}"))])
    with pytest.raises(InvalidParameterValue, match="tag value is 501"):
        client.log_inputs(rid, [DatasetInput(ok, [InputTag("k", "v" * 501)])])
    with pytest.raises(InvalidParameterValue, match="DatasetInput"):
        client.log_inputs(rid, [ok])  # type: ignore[list-item]
    with pytest.raises(InvalidParameterValue, match="logged-model"):
        client.log_inputs(rid, models=["m"])
    assert client.get_run(rid).inputs.dataset_inputs == []  # nothing half-written
    client.log_inputs(rid, [DatasetInput(ok, [InputTag("k", "v")])])
    assert client.get_run(rid).inputs.dataset_inputs == [DatasetInput(ok, [InputTag("k", "v")])]


def test_fluent_log_input_refuses_what_it_cannot_record(fluent) -> None:
    with mlflow.start_run():
        with pytest.raises(InvalidParameterValue, match="lite_tracker.data"):
            mlflow.log_input(_iris())
        with pytest.raises(InvalidParameterValue, match="logged-model"):
            mlflow.log_input(mlflow.data.from_pandas(_iris()), model="m")


def test_search_runs_by_dataset_name_digest_and_context(fluent) -> None:
    iris = mlflow.data.from_pandas(_iris(), name="iris")
    wine = mlflow.data.from_numpy(np.ones((3, 2)), name="wine")
    ids = {}
    for label, ds, context in (("a", iris, "training"), ("b", wine, "eval"), ("c", None, None)):
        with mlflow.start_run() as run:
            if ds is not None:
                mlflow.log_input(ds, context=context)
        ids[label] = run.info.run_id

    def found(filter_string: str) -> set[str]:
        runs = mlflow.search_runs(filter_string=filter_string, output_format="list")
        return {k for k, v in ids.items() if v in {r.info.run_id for r in runs}}

    assert found("datasets.name = 'iris'") == {"a"}
    assert found(f"dataset.digest = '{wine.digest}'") == {"b"}
    assert found("datasets.context = 'eval'") == {"b"}
    assert found("datasets.name IN ('iris', 'wine')") == {"a", "b"}
    assert found("datasets.name NOT IN ('iris')") == {"b"}  # a run without datasets never matches
    assert found("datasets.name LIKE 'w%' AND datasets.context ILIKE 'EVAL'") == {"b"}
    assert found("datasets.name != 'iris'") == {"b"}
    with pytest.raises(InvalidFilter, match="Invalid dataset key 'source'"):
        mlflow.search_runs(filter_string="datasets.source = 'x'")
    with pytest.raises(InvalidFilter, match="Invalid comparator '>'"):
        mlflow.search_runs(filter_string="datasets.name > 'x'")


def test_sql_sees_the_dataset_views(fluent) -> None:
    with mlflow.start_run() as run:
        mlflow.log_input(mlflow.data.from_pandas(_iris(), source="data/iris.csv", name="iris"), context="training")
    df = mlflow.sql("SELECT d.run_id, d.dataset_name, d.dataset_source_type, t.value AS context "
                    "FROM dataset_inputs d JOIN dataset_input_tags t USING (run_id, dataset_name, dataset_digest) "
                    "WHERE t.key = 'mlflow.data.context'")
    assert df.to_dict("records") == [{"run_id": run.info.run_id, "dataset_name": "iris",
                                      "dataset_source_type": "local", "context": "training"}]


def test_v3_store_migrates_in_place_and_takes_datasets(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    con = duckdb.connect(str(store_path))
    migrate(con, "/art", target=3)
    rid = "0" * 31 + "1"
    con.execute("INSERT INTO run_events VALUES (?, '0', 'old', 'u', 'FINISHED', 1, 2, 'active', '/a', 1)", [rid])
    con.execute("INSERT INTO runs SELECT * FROM run_events")
    con.close()
    client = MlflowClient(str(store_path))
    assert client.get_run(rid).inputs.dataset_inputs == []
    new = client.create_run("0").info.run_id
    client.log_inputs(new, [DatasetInput(Dataset("d", "abc", "local", "{}"), [InputTag("mlflow.data.context", "x")])])
    client._store.compact()
    assert [i.dataset.name for i in client.get_run(new).inputs.dataset_inputs] == ["d"]
    con = duckdb.connect(str(store_path), read_only=True)
    assert read_version(con) == FORMAT_VERSION == 4
    con.close()


def test_dataset_inputs_travel_through_the_bucket(s3: dict, tmp_path: Path) -> None:
    from lite_tracker import sync

    a = MlflowClient(str(tmp_path / "a.duckdb"))
    rid = a.create_run("0").info.run_id
    ds = mlflow.data.from_pandas(_iris(), source="s3://data/iris.parquet", name="iris")
    tags = [InputTag("mlflow.data.context", "training"), InputTag("split: 80% (seed 1)", "x")]  # free-text key
    a.log_inputs(rid, [DatasetInput(ds._to_mlflow_entity(), tags)])
    a.set_terminated(rid)
    sync.push(s3["url"], store=str(tmp_path / "a.duckdb"))
    expected = a.get_run(rid).inputs
    sync.pull(s3["url"], store=str(tmp_path / "b.duckdb"))
    assert MlflowClient(str(tmp_path / "b.duckdb")).get_run(rid).inputs == expected
    assert len(expected.dataset_inputs[0].tags) == 2
    assert MlflowClient(s3["url"]).get_run(rid).inputs == expected  # the read-only bucket client
