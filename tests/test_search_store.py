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


def test_bulk_history_downsampling_keeps_each_buckets_lowest_and_highest_point(client: MlflowClient) -> None:
    import random

    rng = random.Random(7)
    rid = client.create_run("0").info.run_id
    values = [rng.random() for _ in range(1000)]
    client.log_batch(rid, metrics=[mlflow.Metric("m", v, 10 * i, i) for i, v in enumerate(values)])
    small = client.get_metric_history_bulk([rid], ["m"], max_points=20)  # 10 buckets of 100 consecutive points
    want = sorted({lo + min(range(100), key=lambda j: values[lo + j]) for lo in range(0, 1000, 100)}
                  | {lo + max(range(100), key=lambda j: values[lo + j]) for lo in range(0, 1000, 100)})
    assert small.column("step").to_pylist() == want
    assert small.column("value").to_pylist() == [values[i] for i in want]
    assert small.column("timestamp").to_pylist() == [10 * i for i in want]


def test_bulk_history_downsampling_of_points_all_at_step_zero_uses_their_time(client: MlflowClient) -> None:
    """log_metric without a step logs everything at step 0: the buckets then split the time range."""
    rid = client.create_run("0").info.run_id
    client.log_batch(rid, metrics=[mlflow.Metric("m", float(i % 7), 1_000 + 10 * i, 0) for i in range(1000)])
    small = client.get_metric_history_bulk([rid], ["m"], max_points=20)
    assert 10 < small.num_rows <= 20
    assert set(small.column("value").to_pylist()) == {0.0, 6.0}  # every bucket's lowest and highest
    assert small.column("timestamp").to_pylist() == sorted(small.column("timestamp").to_pylist())


# ---------------------------------------------------------------- NaN and infinities (MLflow 3.x, measured)

NAN_VALUES = {"nan": float("nan"), "zero": 0.0, "one": 1.0, "pinf": float("inf"), "ninf": float("-inf")}


@pytest.fixture
def nan_runs(client: MlflowClient) -> tuple[MlflowClient, str]:
    eid = client.create_experiment("nan")
    for i, (name, value) in enumerate(NAN_VALUES.items()):
        rid = client.create_run(eid, start_time=100 - i, run_name=name).info.run_id
        client.log_metric(rid, "x", value)
    client.create_run(eid, start_time=1, run_name="none")  # no x at all
    return client, eid


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.x > 0.5", ["one", "pinf"]),
        ("metrics.x >= -1", ["zero", "one", "pinf"]),
        ("metrics.x < 0.5", ["zero", "ninf"]),
        ("metrics.x <= 1e999", ["zero", "one", "pinf", "ninf"]),
        ("metrics.x = 0", ["zero"]),
        ("metrics.x != 0", ["nan", "one", "pinf", "ninf"]),  # NaN matches != and nothing else
    ],
)
def test_nan_matches_only_not_equal(nan_runs, filter_string: str, expected: list[str]) -> None:
    client, eid = nan_runs
    assert [r.info.run_name for r in client.search_runs([eid], filter_string)] == expected


def test_nan_sorts_after_numbers_and_before_missing(nan_runs) -> None:
    client, eid = nan_runs
    desc = client.search_runs([eid], order_by=["metrics.x DESC"])
    assert [r.info.run_name for r in desc] == ["pinf", "one", "zero", "ninf", "nan", "none"]
    asc = client.search_runs([eid], order_by=["metrics.x ASC"])
    assert [r.info.run_name for r in asc] == ["ninf", "zero", "one", "pinf", "nan", "none"]
    mlflow.set_tracking_uri(client.tracking_uri)
    df = mlflow.search_runs([eid], order_by=["metrics.x DESC"])
    assert df["tags.mlflow.runName"].tolist() == ["pinf", "one", "zero", "ninf", "nan", "none"]
    assert df["metrics.x"].tolist()[:4] == [math.inf, 1.0, 0.0, -math.inf]
    assert math.isnan(df["metrics.x"][4]) and math.isnan(df["metrics.x"][5])


# ---------------------------------------------------------------- empty, one and many results

INFO_COLUMNS = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]


def test_empty_search_results_in_every_output(client: MlflowClient) -> None:
    mlflow.set_tracking_uri(client.tracking_uri)
    eid = mlflow.create_experiment("empty")
    df = mlflow.search_runs([eid])
    assert df.empty and list(df.columns) == INFO_COLUMNS
    assert mlflow.search_runs([eid], output_format="list") == []
    table = client.search_runs_arrow([eid])
    assert table.num_rows == 0 and table.column_names == INFO_COLUMNS
    assert client.search_runs([eid]) == [] and client.search_runs([eid]).token is None
    assert mlflow.search_runs(experiment_names=["no such experiment"]).empty  # MLflow: no error
    assert mlflow.search_runs(experiment_names=["no such experiment"], output_format="list") == []
    with mlflow.start_run(experiment_id=eid) as run:
        mlflow.log_metric("m", 1.0)
        mlflow.log_param("p", "v")
    nothing = "metrics.m > 5"
    df = mlflow.search_runs([eid], nothing)
    assert df.empty and list(df.columns) == INFO_COLUMNS
    assert client.search_runs_arrow([eid], nothing).num_rows == 0
    assert mlflow.search_runs([eid], nothing, output_format="list") == []
    assert mlflow.search_runs([eid])["run_id"].tolist() == [run.info.run_id]  # the connection is still usable
    assert client.sql("SELECT count(*) AS n FROM runs WHERE experiment_id = ?", [eid]).column("n").to_pylist() == [1]


def test_one_run_in_every_output(client: MlflowClient) -> None:
    mlflow.set_tracking_uri(client.tracking_uri)
    eid = mlflow.create_experiment("one")
    with mlflow.start_run(experiment_id=eid) as run:
        pass  # no metrics, params or user tags
    rid = run.info.run_id
    df = mlflow.search_runs([eid])
    assert df["run_id"].tolist() == [rid] and list(df.columns[:6]) == INFO_COLUMNS
    assert not any(c.startswith(("metrics.", "params.")) for c in df.columns)
    assert [r.info.run_id for r in mlflow.search_runs([eid], output_format="list")] == [rid]
    assert client.search_runs_arrow([eid]).column("run_id").to_pylist() == [rid]
    assert [r.info.run_id for r in client.search_runs([eid])] == [rid]


def test_searches_and_history_on_empty_and_one_item_stores(client: MlflowClient) -> None:
    assert [e.name for e in client.search_experiments()] == ["Default"]
    assert client.search_experiments(filter_string="name = 'nope'") == []
    assert client.search_registered_models() == [] and client.search_model_versions() == []
    rid = client.create_run("0").info.run_id
    assert client.get_metric_history(rid, "loss") == []
    assert client.get_metric_history_bulk([rid]).num_rows == 0
    client.log_metric(rid, "loss", 0.5, step=3)
    assert [(m.value, m.step) for m in client.get_metric_history(rid, "loss")] == [(0.5, 3)]
    client.create_experiment("second")
    assert [e.name for e in client.search_experiments(filter_string="name = 'second'")] == ["second"]
    client.create_registered_model("m")
    client.create_model_version("m", "file:///tmp/model", run_id=rid)
    assert [m.name for m in client.search_registered_models()] == ["m"]
    assert [v.version for v in client.search_model_versions("name = 'm'")] == [1]
    assert client.search_registered_models("name = 'other'") == []
    assert client.search_model_versions("name = 'other'") == []


def test_hundred_thousand_runs_in_every_output(client: MlflowClient) -> None:
    """100,000 finished runs, written as one segment through the store's write primitive (through
    ``create_run``/``set_terminated`` each run costs a durable flush, which would take minutes)."""
    import time

    from lite_tracker.store.segments import RUNS

    started = time.monotonic()
    eid = client.create_experiment("big")
    n, seq = 100_000, client._store.clock()
    rows = [(f"{i:032x}", eid, f"run-{i}", "u", "FINISHED", i, i + 1, "active", f"mem://{i}", seq) for i in range(n)]
    client._store.write({RUNS.events: {name: [r[j] for r in rows] for j, name in enumerate(RUNS.column_names)}})
    mlflow.set_tracking_uri(client.tracking_uri)
    df = mlflow.search_runs([eid])
    assert len(df) == 100_000 and df["start_time"].is_monotonic_decreasing
    assert client.search_runs_arrow([eid]).num_rows == 100_000
    assert len(mlflow.search_runs([eid], output_format="list")) == 100_000
    assert time.monotonic() - started < 120
