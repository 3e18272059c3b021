"""Search, DataFrames, raw SQL and bulk history end to end on a real store."""

from __future__ import annotations

import math

import pytest

import lite_tracker as mlflow
from lite_tracker import MlflowClient
from lite_tracker.entities import ViewType
from lite_tracker.errors import InvalidParameterValue


@pytest.fixture
def sweep(client: MlflowClient) -> tuple[MlflowClient, str, list[str]]:
    eid = client.create_experiment("sweep")
    ids = []
    for i in range(30):
        rid = client.create_run(eid, start_time=1000 + i, run_name=f"run-{i:02d}").info.run_id
        client.log_batch(rid, metrics=[mlflow.Metric("acc", i / 30, 0, 0)] + (
            [mlflow.Metric("loss", 1 - i / 30, 0, 0)] if i % 3 else []),
            params=[mlflow.Param("lr", str([0.1, 0.01][i % 2])), mlflow.Param("i", str(i))],
            tags=[mlflow.RunTag("group", "even" if i % 2 == 0 else "odd")])
        client.set_terminated(rid)
        ids.append(rid)
    return client, eid, ids


def test_filter_and_order(sweep) -> None:
    client, eid, ids = sweep
    runs = client.search_runs([eid], "params.lr = '0.1' and metrics.acc > 0.5", order_by=["metrics.acc DESC"])
    got = [r.data.params["i"] for r in runs]
    assert got == [str(i) for i in range(28, 15, -2)]
    missing = client.search_runs([eid], "metrics.loss != 0.5")
    assert all("loss" in r.data.metrics for r in missing) and len(missing) == 20
    by_loss = client.search_runs([eid], order_by=["metrics.loss ASC"])
    assert [r.data.metrics.get("loss") is None for r in by_loss][-10:] == [True] * 10  # missing sorts last
    default = client.search_runs([eid])
    assert [r.info.start_time for r in default] == sorted((r.info.start_time for r in default), reverse=True)
    like = client.search_runs([eid], "tags.group LIKE 'ev%' and attributes.run_name ILIKE 'RUN-0%'")
    assert sorted(r.info.run_name for r in like) == [f"run-0{i}" for i in range(0, 10, 2)]
    in_ids = client.search_runs([eid], f"attributes.run_id IN ('{ids[0]}', '{ids[5]}')")
    assert {r.info.run_id for r in in_ids} == {ids[0], ids[5]}


def test_pagination_never_repeats_or_skips(sweep) -> None:
    client, eid, ids = sweep
    seen, token = [], None
    while True:
        page = client.search_runs([eid], max_results=7, page_token=token, order_by=["params.i ASC"])
        seen += [r.info.run_id for r in page]
        token = page.token
        if token is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    with pytest.raises(InvalidParameterValue, match="50000"):
        client.search_runs([eid], max_results=50001)


def test_deleted_runs_and_view_types(sweep) -> None:
    client, eid, ids = sweep
    client.delete_run(ids[0])
    assert len(client.search_runs([eid])) == 29
    assert [r.info.run_id for r in client.search_runs([eid], run_view_type=ViewType.DELETED_ONLY)] == [ids[0]]
    assert len(client.search_runs([eid], run_view_type=ViewType.ALL)) == 30


def test_hostile_filters_are_errors_or_literals(sweep) -> None:
    client, eid, _ = sweep
    for bad in ["params.lr = '0.1'; DROP TABLE runs; --", "metrics.acc > 0 OR 1=1", "params.lr = ", "tags.`x = 'y'"]:
        with pytest.raises(InvalidParameterValue):
            client.search_runs([eid], bad)
    assert client.search_runs([eid], "params.lr = '0.1''; DROP TABLE runs; --'") == []
    assert client.search_runs([eid], "params.lr = \"x' OR '1'='1\"") == []
    assert len(client.search_runs([eid])) == 30


def test_fluent_dataframe_has_mlflow_columns(sweep) -> None:
    client, eid, _ = sweep
    mlflow.set_tracking_uri(client.tracking_uri)
    df = mlflow.search_runs([eid], order_by=["params.i ASC"])
    assert list(df.columns[:6]) == ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    wanted = {"metrics.acc", "metrics.loss", "params.lr", "params.i", "tags.group", "tags.mlflow.runName"}
    assert wanted <= set(df.columns)
    assert len(df) == 30 and df["params.i"].tolist() == sorted(str(i) for i in range(30))  # params are strings
    assert math.isnan(df["metrics.loss"][0]) and str(df["start_time"].dtype).startswith("datetime64")
    runs = mlflow.search_runs(experiment_names=["sweep"], output_format="list", filter_string="params.i = '3'")
    assert [r.data.params["i"] for r in runs] == ["3"]
    mlflow.set_experiment("sweep")
    assert len(mlflow.search_runs()) == 30
    assert len(mlflow.search_runs(search_all_experiments=True)) == 30


def test_raw_sql_is_read_only(sweep) -> None:
    client, eid, _ = sweep
    t = client.sql("SELECT count(*) AS n FROM runs WHERE experiment_id = ?", [eid])
    assert t.column("n").to_pylist() == [30]
    mlflow.set_tracking_uri(client.tracking_uri)
    df = mlflow.sql("SELECT key, count(*) AS n FROM params GROUP BY key ORDER BY key")
    assert df.to_dict("list") == {"key": ["i", "lr"], "n": [30, 30]}
    for bad in ["DROP VIEW runs", "CREATE TABLE x AS SELECT 1", "SELECT 1; DELETE FROM runs",
                "COPY runs TO 'x.csv'", "ATTACH 'x.duckdb' AS y", "INSERT INTO runs SELECT * FROM runs"]:
        with pytest.raises(InvalidParameterValue):
            client.sql(bad)
    assert client.sql("SELECT count(*) FROM runs").column(0).to_pylist() == [30]
    views = client.sql("SELECT count(*) FROM experiments, experiment_tags, tags, metrics, latest_metrics")
    assert views.num_rows == 1


def test_bulk_history_with_downsampling(client: MlflowClient) -> None:
    runs = [client.create_run("0").info.run_id for _ in range(3)]
    for rid in runs:
        client.log_batch(rid, metrics=[mlflow.Metric("m", float(i % 97), 0, i) for i in range(1000)])
    client.log_metric(runs[0], "spike", 1.0, step=0)
    full = client.get_metric_history_bulk(runs, ["m"])
    assert full.num_rows == 3000
    small = client.get_metric_history_bulk(runs, ["m"], max_points=50)
    per_run = small.group_by("run_id").aggregate([("value", "count"), ("value", "max"), ("value", "min")])
    assert all(c <= 50 for c in per_run.column("value_count").to_pylist())
    assert per_run.column("value_max").to_pylist() == [96.0] * 3
    assert per_run.column("value_min").to_pylist() == [0.0] * 3
    assert client.get_metric_history_bulk(runs[:1]).column("key").unique().to_pylist() == ["m", "spike"]
