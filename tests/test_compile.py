"""Compiler tests: golden SQL, end-to-end queries on real DuckDB tables, hostile input, paging, and a
property test against a plain-Python reference evaluator of MLflow's search semantics."""

from __future__ import annotations

import base64
import math
import operator
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lite_tracker.errors import InvalidFilter, InvalidParameterValue
from lite_tracker.search import (
    Comparison,
    Identifier,
    OrderBy,
    compile_search_experiments,
    compile_search_runs,
    decode_page_token,
    encode_page_token,
    parse_order_by,
    parse_search_filter,
    validate_max_results,
)

# ------------------------------------------------------------------------------------------------
# Fixtures: the views the store provides, built as plain tables

VIEWS_DDL = """
CREATE TABLE runs(run_id VARCHAR, experiment_id VARCHAR, run_name VARCHAR, user_id VARCHAR,
                  status VARCHAR, start_time BIGINT, end_time BIGINT, lifecycle_stage VARCHAR,
                  artifact_uri VARCHAR);
CREATE TABLE params(run_id VARCHAR, key VARCHAR, value VARCHAR);
CREATE TABLE tags(run_id VARCHAR, key VARCHAR, value VARCHAR);
CREATE TABLE latest_metrics(run_id VARCHAR, key VARCHAR, value DOUBLE, timestamp BIGINT, step BIGINT);
CREATE TABLE experiments(experiment_id VARCHAR, name VARCHAR, artifact_location VARCHAR,
                         lifecycle_stage VARCHAR, creation_time BIGINT, last_update_time BIGINT);
CREATE TABLE experiment_tags(experiment_id VARCHAR, key VARCHAR, value VARCHAR);
"""


@dataclass
class Run:
    run_id: str
    run_name: str | None = None
    user_id: str = "alice"
    status: str = "FINISHED"
    start_time: int = 0
    end_time: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    experiment_id: str = "1"
    lifecycle_stage: str = "active"

    @property
    def artifact_uri(self) -> str:
        return f"mem://artifacts/{self.experiment_id}/{self.run_id}"


def insert(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[tuple[object, ...]]) -> None:
    """One multi-row INSERT (much faster than executemany for small batches)."""
    if rows:
        values = ", ".join("(" + ", ".join("?" * len(rows[0])) + ")" for _ in rows)
        con.execute(f"INSERT INTO {table} VALUES {values}", [v for row in rows for v in row])


def load(con: duckdb.DuckDBPyConnection, runs: Sequence[Run]) -> None:
    """Replace the content of the run tables with ``runs``."""
    for table in ("runs", "params", "tags", "latest_metrics"):
        con.execute(f"DELETE FROM {table}")
    insert(con, "runs", [
        (r.run_id, r.experiment_id, r.run_name, r.user_id, r.status, r.start_time, r.end_time,
         r.lifecycle_stage, r.artifact_uri)
        for r in runs
    ])  # fmt: skip
    insert(con, "params", [(r.run_id, k, v) for r in runs for k, v in r.params.items()])
    insert(con, "tags", [(r.run_id, k, v) for r in runs for k, v in r.tags.items()])
    insert(con, "latest_metrics", [(r.run_id, k, v, 0, 0) for r in runs for k, v in r.metrics.items()])


def new_db(runs: Sequence[Run] = ()) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute(VIEWS_DDL)
    load(con, runs)
    return con


HAND_RUNS = [
    Run("r01", "alpha", "alice", "FINISHED", 100, 200, {"acc": 0.9, "loss": 0.1},
        {"lr": "0.1", "opt": "adam"}, {"team": "vision", "mlflow.runName": "alpha"}),
    Run("r02", "beta", "bob", "FINISHED", 100, 210, {"acc": 0.8}, {"lr": "0.01", "opt": "Adam"},
        {"team": "Vision"}),
    Run("r03", "gamma", "alice", "FAILED", 300, None, {"loss": 0.5}, {"opt": "sgd"}, {}),
    Run("r04", "Alpha2", "carol", "RUNNING", 400, None, {"acc": 0.9, "loss": 0.2}, {"lr": "0.1"},
        {"team": "nlp"}),
    Run("r05", "delta", "bob", "KILLED", 50, 60, {"acc": 0.95}, {"lr": "1e-3", "opt": "adamw"},
        {"team": "vision", "note": "50% off_"}),
    Run("r06", "epsilon", "dave", "FINISHED", 300, 350, {"acc": -1.0}, {"lr": ""}, {"team": "a_b"}),
    Run("r07", "zeta", "alice", "FINISHED", 200, 260),
]  # fmt: skip
# Runs that must never show up when searching active runs of experiment "1".
OTHER_RUNS = [
    Run(f"x{i:02d}", f"other{i}", start_time=1000 + i, metrics={"acc": 0.99}, params={"lr": "0.1"},
        tags={"team": "vision"}, experiment_id="2")
    for i in range(15)
] + [
    Run(f"d{i:02d}", f"deleted{i}", start_time=5000, metrics={"acc": 0.99}, params={"lr": "0.1"},
        lifecycle_stage="deleted")
    for i in range(5)
] + [
    Run("h01", "hostile", start_time=1, experiment_id="9",
        params={"x": "'; DROP TABLE runs; --", "y'; --": "v"}, tags={'a"b': "/* c */"}),
]  # fmt: skip

EXPERIMENTS = [
    ("e1", "exp-a", "mem://e1", "active", 10, 20),
    ("e2", "Exp-B", "mem://e2", "active", 10, 30),
    ("e3", "other", "mem://e3", "active", 30, 40),
    ("e4", "exp-deleted", "mem://e4", "deleted", 50, 50),
]
EXPERIMENT_TAGS = [("e1", "team", "a"), ("e3", "team", "b"), ("e4", "team", "a")]


@pytest.fixture(scope="module")
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    con = new_db(HAND_RUNS + OTHER_RUNS)
    con.executemany("INSERT INTO experiments VALUES (?, ?, ?, ?, ?, ?)", EXPERIMENTS)
    con.executemany("INSERT INTO experiment_tags VALUES (?, ?, ?)", EXPERIMENT_TAGS)
    yield con
    con.close()


def search(
    con: duckdb.DuckDBPyConnection,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
    experiment_ids: Sequence[str] = ("1",),
    stages: Sequence[str] = ("active",),
    limit: int = 10_000,
    offset: int = 0,
) -> list[str]:
    query = compile_search_runs(list(experiment_ids), filter_string, list(stages), order_by, limit, offset)
    return [row[0] for row in con.execute(query.sql, query.params).fetchall()]


def search_experiments(
    con: duckdb.DuckDBPyConnection,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
    stages: Sequence[str] = ("active",),
) -> list[str]:
    query = compile_search_experiments(filter_string, list(stages), order_by, 100, 0)
    return [row[0] for row in con.execute(query.sql, query.params).fetchall()]


# ------------------------------------------------------------------------------------------------
# Golden SQL

RUNS_WHERE = (
    'SELECT "runs"."run_id" FROM "runs" WHERE "runs"."experiment_id" IN (?, ?) AND "runs"."lifecycle_stage" IN (?)'  # noqa: E501
)
DEFAULT_ORDER = ' ORDER BY "runs"."start_time" DESC NULLS LAST, "runs"."run_id" ASC NULLS LAST LIMIT ? OFFSET ?'


def test_golden_no_filter() -> None:
    query = compile_search_runs(["1", "2"], None, ["active"], None, 100, 0)
    assert query.sql == RUNS_WHERE + DEFAULT_ORDER
    assert query.params == ["1", "2", "active", 100, 0]


def test_golden_metric_filter_and_metric_order() -> None:
    query = compile_search_runs(["1", "2"], "metrics.acc > 0.9", ["active"], ["metrics.acc DESC"], 10, 20)
    assert query.sql == (
        RUNS_WHERE + ' AND EXISTS (SELECT 1 FROM "latest_metrics" WHERE "run_id" = "runs"."run_id" AND "key" = ?'
        ' AND "value" > ? AND NOT isnan("value"))'
        ' ORDER BY (SELECT -"value" FROM "latest_metrics" WHERE "run_id" = "runs"."run_id" AND "key" = ?)'
        ' ASC NULLS LAST, "runs"."start_time" DESC NULLS LAST, "runs"."run_id" ASC NULLS LAST'
        " LIMIT ? OFFSET ?"
    )
    assert query.params == ["1", "2", "active", "acc", 0.9, "acc", 10, 20]


def test_golden_metric_nan_rules() -> None:
    """NaN matches only ``!=`` and sorts after every number: ASC keeps DuckDB's order (NaN above +inf),
    DESC sorts the negated value ascending."""
    query = compile_search_runs(["1", "2"], "metrics.acc != 0.5 AND metrics.acc <= 1e999", ["active"],
                                ["metrics.acc ASC"], 10, 0)
    assert query.sql == (
        RUNS_WHERE + ' AND EXISTS (SELECT 1 FROM "latest_metrics" WHERE "run_id" = "runs"."run_id" AND "key" = ?'
        ' AND "value" != ?)'
        ' AND EXISTS (SELECT 1 FROM "latest_metrics" WHERE "run_id" = "runs"."run_id" AND "key" = ?'
        ' AND "value" <= ? AND NOT isnan("value"))'
        ' ORDER BY (SELECT "value" FROM "latest_metrics" WHERE "run_id" = "runs"."run_id" AND "key" = ?)'
        ' ASC NULLS LAST, "runs"."start_time" DESC NULLS LAST, "runs"."run_id" ASC NULLS LAST'
        " LIMIT ? OFFSET ?"
    )
    assert query.params == ["1", "2", "active", "acc", 0.5, "acc", float("inf"), "acc", 10, 0]


def test_golden_params_tags_attributes() -> None:
    query = compile_search_runs(
        ["1", "2"],
        "params.lr IS NULL AND tags.`team name` ILIKE '%Vis%' AND tags.mlflow.runName IS NOT NULL "
        "AND run_id NOT IN ('a', 'b') AND created >= 5 AND `Run Name` != \"x\" AND metrics.step = 3",
        ["active"],
        ["params.lr", "created ASC"],
        10,
        0,
    )
    assert query.sql == (
        RUNS_WHERE + ' AND NOT EXISTS (SELECT 1 FROM "params" WHERE "run_id" = "runs"."run_id" AND "key" = ?)'
        ' AND EXISTS (SELECT 1 FROM "tags" WHERE "run_id" = "runs"."run_id" AND "key" = ?'
        ' AND "value" ILIKE ?)'
        ' AND EXISTS (SELECT 1 FROM "tags" WHERE "run_id" = "runs"."run_id" AND "key" = ?)'
        ' AND "runs"."run_id" NOT IN (?, ?)'
        ' AND "runs"."start_time" >= ?'
        ' AND "runs"."run_name" != ?'
        ' AND EXISTS (SELECT 1 FROM "latest_metrics" WHERE "run_id" = "runs"."run_id" AND "key" = ?'
        ' AND "value" = ? AND NOT isnan("value"))'
        ' ORDER BY (SELECT "value" FROM "params" WHERE "run_id" = "runs"."run_id" AND "key" = ?)'
        ' ASC NULLS LAST, "runs"."start_time" ASC NULLS LAST, "runs"."run_id" ASC NULLS LAST'
        " LIMIT ? OFFSET ?"
    )
    assert query.params == [
        "1", "2", "active", "lr", "team name", "%Vis%", "mlflow.runName", "a", "b", 5, "x", "step", 3.0,
        "lr", 10, 0,
    ]  # fmt: skip
    assert isinstance(query.params[-4], float)  # metric values are bound as floats, as in MLflow


def test_golden_user_order_by_run_id_is_not_repeated() -> None:
    query = compile_search_runs(["1", "2"], "", ["active"], ["run_id DESC"], 1, 0)
    assert query.sql == (
        RUNS_WHERE + ' ORDER BY "runs"."run_id" DESC NULLS LAST, "runs"."start_time" DESC NULLS LAST LIMIT ? OFFSET ?'
    )


def test_golden_empty_lists_match_nothing() -> None:
    query = compile_search_runs([], None, [], None, 5, 0)
    assert query.sql == 'SELECT "runs"."run_id" FROM "runs" WHERE FALSE AND FALSE' + DEFAULT_ORDER
    assert query.params == [5, 0]


def test_golden_experiments_default() -> None:
    query = compile_search_experiments(None, ["active", "deleted"], None, 50, 0)
    assert query.sql == (
        'SELECT "experiments"."experiment_id" FROM "experiments"'
        ' WHERE "experiments"."lifecycle_stage" IN (?, ?)'
        ' ORDER BY "experiments"."creation_time" DESC NULLS LAST,'
        ' "experiments"."experiment_id" ASC NULLS LAST LIMIT ? OFFSET ?'
    )
    assert query.params == ["active", "deleted", 50, 0]


def test_golden_experiments_filter_and_order() -> None:
    query = compile_search_experiments(
        "name LIKE 'exp%' AND tags.team = 'a' AND last_update_time < 100", ["active"], ["name"], 50, 0
    )
    assert query.sql == (
        'SELECT "experiments"."experiment_id" FROM "experiments"'
        ' WHERE "experiments"."lifecycle_stage" IN (?)'
        ' AND "experiments"."name" LIKE ?'
        ' AND EXISTS (SELECT 1 FROM "experiment_tags" WHERE "experiment_id" = "experiments"."experiment_id"'
        ' AND "key" = ? AND "value" = ?)'
        ' AND "experiments"."last_update_time" < ?'
        ' ORDER BY "experiments"."name" ASC NULLS LAST, "experiments"."experiment_id" DESC NULLS LAST'
        " LIMIT ? OFFSET ?"
    )
    assert query.params == ["active", "exp%", "team", "a", 100, 50, 0]


def test_compiled_query_is_frozen() -> None:
    query = compile_search_runs(["1"], None, ["active"], None, 1, 0)
    with pytest.raises(AttributeError):
        query.sql = "DROP TABLE runs"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"limit": -1}, InvalidParameterValue),
        ({"offset": -5}, InvalidParameterValue),
        ({"limit": 1.5}, InvalidParameterValue),
        ({"limit": True}, InvalidParameterValue),
        ({"experiment_ids": "1"}, InvalidParameterValue),
        ({"lifecycle_stages": "active"}, InvalidParameterValue),
        ({"filter_string": "metrics.acc > 'x'"}, InvalidFilter),
        ({"order_by": ["metrics.acc sideways"]}, InvalidFilter),
    ],
)
def test_compile_rejects_bad_arguments(kwargs: dict[str, object], error: type[Exception]) -> None:
    arguments: dict[str, object] = {
        "experiment_ids": ["1"],
        "filter_string": None,
        "lifecycle_stages": ["active"],
        "order_by": None,
        "limit": 10,
        "offset": 0,
    }
    arguments.update(kwargs)
    with pytest.raises(error):
        compile_search_runs(**arguments)  # type: ignore[arg-type]


def test_experiment_compile_rejects_run_fields() -> None:
    with pytest.raises(InvalidFilter, match="Metrics cannot be used"):
        compile_search_experiments("metrics.a > 1", ["active"], None, 10, 0)
    with pytest.raises(InvalidFilter, match="Invalid attribute key 'start_time'"):
        compile_search_experiments(None, ["active"], ["start_time"], 10, 0)


# ------------------------------------------------------------------------------------------------
# End to end on real tables

DEFAULT = ["r04", "r03", "r06", "r07", "r01", "r02", "r05"]  # start_time DESC, then run_id ASC


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        (None, DEFAULT),
        ("metrics.acc > 0.85", ["r04", "r01", "r05"]),
        ("metrics.acc = 0.9", ["r04", "r01"]),
        ("metrics.acc != 0.9", ["r06", "r02", "r05"]),  # runs without acc never match
        ("metrics.acc <= -1", ["r06"]),
        ("metrics.acc < 0.9 AND metrics.acc >= 0.8", ["r02"]),
        ("metrics.acc >= 0.8 AND metrics.loss < 0.15", ["r01"]),
        ("metrics.loss > 0", ["r04", "r03", "r01"]),
        ("metrics.nope > -100", []),
        ("params.lr = '0.1'", ["r04", "r01"]),
        ('params.lr = "0.1"', ["r04", "r01"]),
        ("params.lr != '0.1'", ["r06", "r02", "r05"]),
        ("params.lr = ''", ["r06"]),
        ("params.opt = 'adam'", ["r01"]),  # = is case-sensitive
        ("params.opt LIKE 'adam%'", ["r01", "r05"]),  # LIKE is case-sensitive
        ("params.opt ILIKE 'adam%'", ["r01", "r02", "r05"]),
        ("params.opt LIKE 'a_am'", ["r01"]),
        ("params.opt LIKE '%a%'", ["r01", "r02", "r05"]),
        ("params.lr IS NULL", ["r03", "r07"]),
        ("params.lr IS NOT NULL", ["r04", "r06", "r01", "r02", "r05"]),
        ("params.lr IS NULL AND params.opt IS NULL", ["r07"]),
        ("tags.team = 'vision'", ["r01", "r05"]),
        ("tags.team ILIKE 'VISION'", ["r01", "r02", "r05"]),
        ("tags.team LIKE 'a_b'", ["r06"]),
        ("tags.note LIKE '%off_'", ["r05"]),
        ("tags.note LIKE '50\\% off_'", []),  # no escape character: the backslash is literal
        ("tags.mlflow.runName = 'alpha'", ["r01"]),
        ("tags.team IS NULL", ["r03", "r07"]),
        ("attributes.status = 'FINISHED'", ["r06", "r07", "r01", "r02"]),
        ("status != 'FINISHED'", ["r04", "r03", "r05"]),
        ("run_name LIKE 'alpha%'", ["r01"]),
        ("run_name ILIKE 'alpha%'", ["r04", "r01"]),
        ("`Run Name` = 'beta'", ["r02"]),
        ("user_id = 'alice' AND status = 'FINISHED'", ["r07", "r01"]),
        ("run_id IN ('r01', 'r05', 'x00')", ["r01", "r05"]),
        ("run_id NOT IN ('r01','r02')", ["r04", "r03", "r06", "r07", "r05"]),
        ("run_id = 'R01'", []),
        ("start_time >= 300", ["r04", "r03", "r06"]),
        ("created < 100", ["r05"]),
        ("end_time < 250", ["r01", "r02", "r05"]),
        ("end_time != 200", ["r06", "r07", "r02", "r05"]),  # NULL end_time never matches
        ("artifact_uri LIKE '%/r03'", ["r03"]),
    ],
)
def test_filters_end_to_end(db: duckdb.DuckDBPyConnection, filter_string: str | None, expected: list[str]) -> None:
    assert search(db, filter_string) == expected


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["metrics.acc DESC"], ["r05", "r04", "r01", "r02", "r06", "r03", "r07"]),
        (["metrics.acc ASC"], ["r06", "r02", "r04", "r01", "r05", "r03", "r07"]),
        (["params.lr DESC"], ["r05", "r04", "r01", "r02", "r06", "r03", "r07"]),
        (["params.lr"], ["r06", "r02", "r04", "r01", "r05", "r03", "r07"]),
        (["tags.team ASC", "metrics.acc DESC"], ["r02", "r06", "r04", "r05", "r01", "r03", "r07"]),
        (["start_time ASC"], ["r05", "r01", "r02", "r07", "r03", "r06", "r04"]),
        (["end_time DESC"], ["r06", "r07", "r02", "r01", "r05", "r04", "r03"]),  # NULLs last ...
        (["end_time ASC"], ["r05", "r01", "r02", "r07", "r06", "r04", "r03"]),  # ... both ways
        (["run_id DESC"], sorted(DEFAULT, reverse=True)),
        (["created DESC"], DEFAULT),
        (["`Run Name`"], ["r04", "r01", "r02", "r05", "r06", "r03", "r07"]),
        (["user_id DESC", "run_id"], ["r06", "r04", "r02", "r05", "r01", "r03", "r07"]),
    ],
)
def test_order_by_end_to_end(db: duckdb.DuckDBPyConnection, order_by: list[str], expected: list[str]) -> None:
    assert search(db, order_by=order_by) == expected


# MLflow 3.x, measured: NaN matches only !=, and sorts after every number in both directions.
NAN_RUNS = [
    Run("nan", start_time=6, metrics={"x": float("nan")}),
    Run("zero", start_time=5, metrics={"x": 0.0}),
    Run("one", start_time=4, metrics={"x": 1.0}),
    Run("pinf", start_time=3, metrics={"x": float("inf")}),
    Run("ninf", start_time=2, metrics={"x": float("-inf")}),
    Run("none", start_time=1),
]


@pytest.mark.parametrize(
    ("filter_string", "order_by", "expected"),
    [
        ("metrics.x > 0.5", None, ["one", "pinf"]),
        ("metrics.x >= -1", None, ["zero", "one", "pinf"]),
        ("metrics.x < 0.5", None, ["zero", "ninf"]),
        ("metrics.x <= 1e999", None, ["zero", "one", "pinf", "ninf"]),
        ("metrics.x > -1e999", None, ["zero", "one", "pinf"]),
        ("metrics.x = 0", None, ["zero"]),
        ("metrics.x = 1e999", None, ["pinf"]),
        ("metrics.x != 0", None, ["nan", "one", "pinf", "ninf"]),
        ("metrics.x != 1e999", None, ["nan", "zero", "one", "ninf"]),
        (None, ["metrics.x DESC"], ["pinf", "one", "zero", "ninf", "nan", "none"]),
        (None, ["metrics.x ASC"], ["ninf", "zero", "one", "pinf", "nan", "none"]),
        ("metrics.x != 0.5", ["metrics.x DESC"], ["pinf", "one", "zero", "ninf", "nan"]),
    ],
)
def test_nan_and_infinities_follow_mlflow(
    filter_string: str | None, order_by: list[str] | None, expected: list[str]
) -> None:
    con = new_db(NAN_RUNS)
    try:
        assert search(con, filter_string, order_by) == expected
    finally:
        con.close()


def test_limit_offset_end_to_end(db: duckdb.DuckDBPyConnection) -> None:
    assert search(db, order_by=["metrics.acc DESC"], limit=2, offset=2) == ["r01", "r02"]
    assert search(db, limit=0) == []
    assert search(db, offset=100) == []


def test_experiments_and_lifecycle_end_to_end(db: duckdb.DuckDBPyConnection) -> None:
    assert search(db, "metrics.acc > 0.98", experiment_ids=["1", "2"]) == [f"x{i:02d}" for i in range(14, -1, -1)]
    assert search(db, "metrics.acc > 0.98", stages=["active", "deleted"]) == [f"d{i:02d}" for i in range(5)]
    assert search(db, stages=["deleted"]) == [f"d{i:02d}" for i in range(5)]
    assert search(db, experiment_ids=[]) == []
    assert search(db, stages=[]) == []


@pytest.mark.parametrize(
    ("filter_string", "order_by", "stages", "expected"),
    [
        (None, None, ["active"], ["e3", "e1", "e2"]),
        (None, None, ["active", "deleted"], ["e4", "e3", "e1", "e2"]),
        ("name LIKE 'exp%'", None, ["active"], ["e1"]),
        ("name ILIKE 'exp%'", None, ["active"], ["e1", "e2"]),
        ("name = 'other'", None, ["active"], ["e3"]),
        ("name != 'other'", ["name"], ["active"], ["e2", "e1"]),
        ("creation_time > 10", None, ["active", "deleted"], ["e4", "e3"]),
        ("tags.team = 'a'", None, ["active", "deleted"], ["e4", "e1"]),
        ("tags.team IS NULL", None, ["active"], ["e2"]),
        ("tags.team != 'a'", None, ["active"], ["e3"]),
        (None, ["creation_time"], ["active"], ["e2", "e1", "e3"]),  # tie broken by experiment_id DESC
        (None, ["creation_time", "experiment_id"], ["active"], ["e1", "e2", "e3"]),
        (None, ["last_update_time DESC"], ["active"], ["e3", "e2", "e1"]),
    ],
)
def test_search_experiments_end_to_end(
    db: duckdb.DuckDBPyConnection,
    filter_string: str | None,
    order_by: list[str] | None,
    stages: list[str],
    expected: list[str],
) -> None:
    assert search_experiments(db, filter_string, order_by, stages) == expected


# ------------------------------------------------------------------------------------------------
# Pagination over a few thousand runs


@pytest.fixture(scope="module")
def big_db() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(":memory:")
    con.execute(VIEWS_DDL)
    con.execute(
        """
        INSERT INTO runs SELECT 'run' || lpad(i::VARCHAR, 5, '0'), '1', 'name' || (i % 17), 'u', 'FINISHED',
               i % 7, CASE WHEN i % 5 = 0 THEN NULL ELSE i % 11 END, 'active', 'mem://' || i
        FROM range(3000) AS t(i);
        INSERT INTO latest_metrics SELECT 'run' || lpad(i::VARCHAR, 5, '0'), 'm', (i % 13)::DOUBLE, 0, 0
        FROM range(3000) AS t(i) WHERE i % 3 <> 0;
        INSERT INTO params SELECT 'run' || lpad(i::VARCHAR, 5, '0'), 'p', (i % 9)::VARCHAR
        FROM range(3000) AS t(i) WHERE i % 4 <> 0;
        """
    )
    yield con
    con.close()


@pytest.mark.parametrize(
    ("filter_string", "order_by", "total"),
    [
        (None, None, 3000),
        (None, ["metrics.m DESC"], 3000),
        (None, ["params.p", "end_time DESC"], 3000),
        ("metrics.m > 3", ["metrics.m", "params.p DESC"], 1384),
    ],
)
def test_pagination_never_repeats_or_skips(
    big_db: duckdb.DuckDBPyConnection, filter_string: str | None, order_by: list[str] | None, total: int
) -> None:
    everything = search(big_db, filter_string, order_by, limit=100_000)
    assert len(everything) == len(set(everything)) == total
    pages: list[str] = []
    token: str | None = None
    while True:
        offset = decode_page_token(token)
        page = search(big_db, filter_string, order_by, limit=97 + 1, offset=offset)  # one extra: more?
        pages += page[:97]
        if len(page) <= 97:
            break
        token = encode_page_token(offset + 97)
    assert pages == everything


# ------------------------------------------------------------------------------------------------
# Hostile input

HOSTILE_FILTERS = [
    "params.x = '; DROP TABLE runs; --'",
    'params.x = "\'; DROP TABLE runs; --"',
    "params.x = ''; DROP TABLE runs; --'",
    "params.x = 'a'; DROP TABLE runs; --",
    "params.x = 'a' -- AND params.y = 'b'",
    "params.x = 'a' /* comment */",
    "params.`y'; --` = 'v'",
    "tags.`a\"b` = '/* c */'",
    'tags."a""b" LIKE \'%*/%\'',
    "metrics.m > 1; DELETE FROM runs",
    "metrics.m > 1 OR 1 = 1",
    "run_id = 'x' OR '1' = '1'",
    "run_id IN ('a'); DROP TABLE params; --')",
    "run_id IN ('a', (SELECT run_id FROM runs))",
    "status = 'x' UNION SELECT run_id FROM runs",
    "params.`x` = '\\'; DROP TABLE runs; --'",
    "`runs\"; DROP TABLE runs; --` = 'x'",
    'metrics."m""; DROP TABLE runs; --" > 0',
    "start_time > 0x10",
    "params.x = '\u0000'",
    "params.x = 'é' AND tags.t ILIKE '%\u2028%'",
]
HOSTILE_ORDER_BYS = [
    ["metrics.`a; DROP TABLE runs` DESC"],
    ['params."x""; DROP TABLE runs; --"'],
    ["start_time; DROP TABLE runs"],
    ["start_time DESC, (SELECT 1)"],
    ["run_id -- comment"],
]


def fingerprint(con: duckdb.DuckDBPyConnection) -> list[object]:
    tables = sorted(row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall())
    return [tables] + [con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables]


def test_hostile_input_is_rejected_or_bound_literally(db: duckdb.DuckDBPyConnection) -> None:
    before = fingerprint(db)
    outcomes: list[str] = []
    for filter_string in HOSTILE_FILTERS:
        try:
            query = compile_search_runs(["1", "9"], filter_string, ["active"], None, 10, 0)
        except InvalidFilter as e:
            assert e.position is not None
            outcomes.append("rejected")
            continue
        assert "DROP" not in query.sql and "--" not in query.sql and "/*" not in query.sql
        db.execute(query.sql, query.params).fetchall()
        outcomes.append("bound")
    for order_by in HOSTILE_ORDER_BYS:
        try:
            query = compile_search_runs(["1", "9"], None, ["active"], order_by, 10, 0)
        except InvalidFilter:
            outcomes.append("rejected")
            continue
        assert "DROP" not in query.sql
        db.execute(query.sql, query.params).fetchall()
        outcomes.append("bound")
    assert fingerprint(db) == before
    assert "bound" in outcomes and "rejected" in outcomes


@pytest.mark.parametrize(
    "filter_string",
    [
        "params.x = '''; DROP TABLE runs; --'",
        'params.x = "\'; DROP TABLE runs; --"',
        "params.`y'; --` = 'v'",
        "tags.`a\"b` = '/* c */'",
        'tags."a""b" LIKE \'/*%\'',
    ],
)
def test_hostile_strings_match_literally(db: duckdb.DuckDBPyConnection, filter_string: str) -> None:
    assert search(db, filter_string, experiment_ids=["1", "9"]) == ["h01"]


def test_hostile_order_by_key_is_a_bound_parameter() -> None:
    query = compile_search_runs(["1"], None, ["active"], ["metrics.`a; DROP TABLE runs` DESC"], 10, 0)
    assert "a; DROP TABLE runs" in query.params
    assert "DROP" not in query.sql


# ------------------------------------------------------------------------------------------------
# Paging helpers


def test_page_token_round_trip_and_mlflow_format() -> None:
    assert decode_page_token(None) == 0
    assert decode_page_token("") == 0
    for offset in (0, 1, 97, 10**9):
        assert decode_page_token(encode_page_token(offset)) == offset
    assert base64.b64decode(encode_page_token(100)) == b'{"offset": 100}'  # json.dumps, like MLflow
    assert decode_page_token(base64.b64encode(b'{"offset": 42}').decode()) == 42


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        "abc",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b"[1, 2]").decode(),
        base64.b64encode(b"{}").decode(),
        base64.b64encode(b'{"offset": -1}').decode(),
        base64.b64encode(b'{"offset": "10"}').decode(),
        base64.b64encode(b'{"offset": 1.5}').decode(),
        base64.b64encode(b'{"offset": true}').decode(),
        base64.b64encode(b"\xff\xfe").decode(),
    ],
)
def test_bad_page_tokens(token: str) -> None:
    with pytest.raises(InvalidParameterValue, match="Invalid page token") as info:
        decode_page_token(token)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("offset", [-1, 1.5, True, "3"])
def test_encode_page_token_rejects_bad_offsets(offset: object) -> None:
    with pytest.raises(InvalidParameterValue):
        encode_page_token(offset)  # type: ignore[arg-type]


def test_validate_max_results() -> None:
    assert validate_max_results(1) == 1
    assert validate_max_results(50000) == 50000
    assert validate_max_results(10, maximum=10) == 10
    with pytest.raises(InvalidParameterValue) as info:
        validate_max_results(50001)
    assert info.value.message == (
        "Invalid value 50001 for parameter 'max_results' supplied. It must be at most 50000"
    )
    with pytest.raises(InvalidParameterValue, match="Invalid value 11 .* at most 10"):
        validate_max_results(11, maximum=10)
    for bad in (0, -1, 1.5, "10", True, None):
        with pytest.raises(InvalidParameterValue, match="for parameter 'max_results' supplied. It must be a positive"):
            validate_max_results(bad)


# ------------------------------------------------------------------------------------------------
# Property test: compiled SQL == plain-Python evaluation of MLflow's semantics


def like(value: str, pattern: str, flags: int = 0) -> bool:
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, flags | re.DOTALL) is not None


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "LIKE": lambda a, b: like(str(a), str(b)),
    "ILIKE": lambda a, b: like(str(a), str(b), re.IGNORECASE),
    "IN": lambda a, b: a in b,
    "NOT IN": lambda a, b: a not in b,
}


def field_of(run: Run, identifier: Identifier) -> object:
    if identifier.entity == "attribute":
        return getattr(run, identifier.key)
    values: dict[str, dict[str, Any]] = {"metric": run.metrics, "param": run.params, "tag": run.tags}
    return values[identifier.entity].get(identifier.key)


def reference_matches(run: Run, clause: Comparison) -> bool:
    value = field_of(run, clause.identifier)
    if clause.comparator in ("IS NULL", "IS NOT NULL"):
        return (value is None) == (clause.comparator == "IS NULL")
    if value is None:  # a run lacking the key never matches (MLflow: `lhs is None -> False`)
        return False
    # Python's float comparisons are MLflow's NaN rule: NaN matches != and no other comparator.
    return OPERATORS[clause.comparator](value, clause.value)


def reference_search(
    runs: Sequence[Run], clauses: Sequence[Comparison], orders: Sequence[OrderBy], experiment_ids: Sequence[str]
) -> list[str]:
    """MLflow's in-memory search: filter, sort by (start_time DESC, run_id), then stable-sort each
    order_by clause from last to first with missing values last in both directions."""
    found = [
        r
        for r in runs
        if r.experiment_id in experiment_ids
        and r.lifecycle_stage == "active"
        and all(reference_matches(r, c) for c in clauses)
    ]
    found.sort(key=lambda r: (-r.start_time, r.run_id))
    for order in reversed(orders):
        present = [r for r in found if field_of(r, order.identifier) is not None and not is_nan(r, order.identifier)]
        nans = [r for r in found if is_nan(r, order.identifier)]  # after every number, both ways
        missing = [r for r in found if field_of(r, order.identifier) is None]
        present.sort(key=lambda r: field_of(r, order.identifier), reverse=not order.ascending)  # type: ignore[arg-type, return-value]
        found = present + nans + missing
    return [r.run_id for r in found]


def is_nan(run: Run, identifier: Identifier) -> bool:
    value = field_of(run, identifier)
    return isinstance(value, float) and math.isnan(value)


# Small pools make collisions likely; the mix of cases tells = from LIKE from ILIKE.
_POOL = st.sampled_from(["", "a", "A", "ab", "aB", "Ab", "AB", "a_b", "a%b", "it's", 'say "x"', "a.b"])
TEXT = st.one_of(_POOL, _POOL, _POOL, st.text(alphabet="aAbB_%'\" .", max_size=3))


@st.composite
def near(draw: st.DrawFn, seen: Sequence[str], pattern: bool) -> str:
    """A value close to one the runs hold (same, other case, and for patterns with % or _ edits),
    so that filters hit and narrowly miss real runs instead of matching nothing."""
    if not seen or draw(st.integers(0, 4)) == 0:
        return draw(TEXT)
    value = draw(st.sampled_from(seen))
    if draw(st.booleans()):
        value = value.swapcase()
    if pattern and value:
        cut = draw(st.integers(0, len(value) - 1))
        edit = draw(st.sampled_from(["none", "prefix%", "%suffix", "%middle%", "underscore"]))
        value = {
            "none": value,
            "prefix%": value[:cut] + "%",
            "%suffix": "%" + value[cut:],
            "%middle%": "%" + value[cut : cut + 1] + "%",
            "underscore": value[:cut] + "_" + value[cut + 1 :],
        }[edit]
    return value


METRIC_KEYS = ["acc", "loss"]
PARAM_KEYS = ["lr", "opt", "my key"]
TAG_KEYS = ["team", "mlflow.runName"]


@st.composite
def random_runs(draw: st.DrawFn) -> list[Run]:
    nan, inf = float("nan"), float("inf")
    metric_value = st.sampled_from([-2.0, -0.5, 0.0, 0.5, 1.0, 2.0, 1e10, nan, nan, inf, -inf])
    return [
        Run(
            run_id=f"r{i:02d}",
            run_name=draw(st.none() | TEXT),
            user_id=draw(st.sampled_from(["alice", "Alice", "bob"])),
            status=draw(st.sampled_from(["RUNNING", "FINISHED", "FAILED"])),
            start_time=draw(st.integers(0, 3)),
            end_time=draw(st.none() | st.integers(0, 3)),
            metrics=draw(st.dictionaries(st.sampled_from(METRIC_KEYS), metric_value)),
            params=draw(st.dictionaries(st.sampled_from(PARAM_KEYS), TEXT)),
            tags=draw(st.dictionaries(st.sampled_from(TAG_KEYS), TEXT)),
            experiment_id=draw(st.sampled_from(["1", "1", "2"])),
            lifecycle_stage=draw(st.sampled_from(["active", "active", "deleted"])),
        )
        for i in range(draw(st.integers(2, 14)))
    ]


def keyword(draw: st.DrawFn, words: str) -> str:
    """``words`` in a random letter case: keywords are case-insensitive."""
    return " ".join(draw(st.sampled_from([w, w.lower(), w.capitalize()])) for w in words.split())


def quote_key(draw: st.DrawFn, key: str) -> str:
    forms = ["`" + key.replace("`", "``") + "`", '"' + key.replace('"', '""') + '"']
    if re.fullmatch(r"\w+(\.\w+)*", key):
        forms.append(key)
    return draw(st.sampled_from(forms))


def quote_value(draw: st.DrawFn, value: str) -> str:
    quote = draw(st.sampled_from(["'", '"']))
    return quote + value.replace(quote, quote * 2) + quote


Clause = tuple[str, Comparison]  # filter text and the AST it must parse to


@st.composite
def numeric_clause(draw: st.DrawFn) -> Clause:
    if draw(st.booleans()):
        key = draw(st.sampled_from(METRIC_KEYS))
        lhs = draw(st.sampled_from(["metric.", "metrics."])) + quote_key(draw, key)
        identifier = Identifier("metric", key)
    else:
        name = draw(st.sampled_from(["start_time", "end_time", "created", "Created"]))
        lhs = draw(st.sampled_from(["", "attributes.", "run."])) + quote_key(draw, name)
        identifier = Identifier("attribute", "start_time" if name.lower() == "created" else name)
    op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
    numbers = [("-1", -1), ("0", 0), ("0.5", 0.5), ("1.0", 1.0), ("2", 2), ("1e10", 1e10)]
    if identifier.entity == "metric":  # infinities as literals (timestamps are integers)
        numbers += [("1e999", float("inf")), ("-1e999", float("-inf"))]
    text, number = draw(st.sampled_from(numbers))
    return f"{lhs} {op} {text}", Comparison(identifier, op, number)  # type: ignore[arg-type]


@st.composite
def key_value_clause(draw: st.DrawFn, seen: Sequence[str]) -> Clause:
    entity = draw(st.sampled_from(["param", "tag"]))
    key = draw(st.sampled_from(PARAM_KEYS if entity == "param" else TAG_KEYS))
    prefixes = ["param.", "params.", "parameter.", "parameters."] if entity == "param" else ["tag.", "tags."]
    lhs = draw(st.sampled_from(prefixes)) + quote_key(draw, key)
    identifier = Identifier(entity, key)  # type: ignore[arg-type]
    op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"]))
    if op.startswith("IS"):
        return f"{lhs} {keyword(draw, op)}", Comparison(identifier, op, None)  # type: ignore[arg-type]
    value = draw(near(seen, pattern="LIKE" in op))
    return f"{lhs} {keyword(draw, op)} {quote_value(draw, value)}", Comparison(identifier, op, value)  # type: ignore[arg-type]


@st.composite
def string_attribute_clause(draw: st.DrawFn, seen: Sequence[str]) -> Clause:
    name = draw(st.sampled_from(["run_name", "run name", "Run Name", "user_id", "status", "run_id"]))
    lhs = draw(st.sampled_from(["", "attribute.", "attr."])) + quote_key(draw, name)
    identifier = Identifier("attribute", "run_name" if name.lower() == "run name" else name)
    op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE"]))
    value = draw(near(seen, pattern="LIKE" in op))
    return f"{lhs} {keyword(draw, op)} {quote_value(draw, value)}", Comparison(identifier, op, value)  # type: ignore[arg-type]


@st.composite
def run_id_list_clause(draw: st.DrawFn) -> Clause:
    op = draw(st.sampled_from(["IN", "NOT IN"]))
    ids = draw(st.lists(st.sampled_from([f"r{i:02d}" for i in range(16)]), min_size=1, max_size=4))
    items = ", ".join(quote_value(draw, i) for i in ids)
    return f"run_id {keyword(draw, op)} ({items})", Comparison(Identifier("attribute", "run_id"), op, tuple(ids))  # type: ignore[arg-type]


def random_clause(runs: Sequence[Run]) -> st.SearchStrategy[Clause]:
    seen = sorted(
        {
            v
            for r in runs
            for v in (*r.params.values(), *r.tags.values(), r.run_name, r.user_id, r.status, r.run_id)
            if v
        }
    )
    return st.one_of(numeric_clause(), key_value_clause(seen), string_attribute_clause(seen), run_id_list_clause())


ORDERABLE = [
    ("metrics.acc", Identifier("metric", "acc")),
    ("metric.`loss`", Identifier("metric", "loss")),
    ("params.lr", Identifier("param", "lr")),
    ("params.`my key`", Identifier("param", "my key")),
    ("tags.mlflow.runName", Identifier("tag", "mlflow.runName")),
    ("tags.team", Identifier("tag", "team")),
    ("end_time", Identifier("attribute", "end_time")),
    ("created", Identifier("attribute", "start_time")),
    ("run_name", Identifier("attribute", "run_name")),
    ("attributes.user_id", Identifier("attribute", "user_id")),
    ("run_id", Identifier("attribute", "run_id")),
]


@st.composite
def random_order_by(draw: st.DrawFn) -> tuple[list[str], list[OrderBy]]:
    chosen = draw(st.lists(st.sampled_from(ORDERABLE), max_size=3, unique_by=lambda item: item[1]))
    texts, orders = [], []
    for text, identifier in chosen:
        direction = draw(st.sampled_from(["", " ASC", " DESC", " desc"]))
        texts.append(text + direction)
        orders.append(OrderBy(identifier, ascending="DESC" not in direction.upper()))
    return texts, orders


def sibling_clauses(clause: Comparison) -> list[Clause]:
    """The same string clause with each other string comparator (and IS NULL <-> IS NOT NULL),
    rendered canonically, so every drawn value also checks = vs LIKE vs ILIKE and their negations."""
    identifier, value = clause.identifier, clause.value
    lhs = f"{identifier.entity}.`{identifier.key}`" if identifier.entity != "attribute" else f"`{identifier.key}`"
    if clause.comparator in ("IS NULL", "IS NOT NULL"):
        other = "IS NOT NULL" if clause.comparator == "IS NULL" else "IS NULL"
        return [(f"{lhs} {other}", Comparison(identifier, other, None))]  # type: ignore[arg-type]
    if clause.comparator not in ("=", "!=", "LIKE", "ILIKE") or not isinstance(value, str):
        return []
    rhs = "'" + value.replace("'", "''") + "'"
    return [
        (f"{lhs} {op} {rhs}", Comparison(identifier, op, value))
        for op in ("=", "!=", "LIKE", "ILIKE")
        if op != clause.comparator
    ]


@pytest.fixture(scope="module")
def property_db() -> Iterator[duckdb.DuckDBPyConnection]:
    con = new_db()
    yield con
    con.close()


@settings(max_examples=150, deadline=None)
@given(
    runs=random_runs(),
    order_by=random_order_by(),
    experiment_ids=st.sampled_from([["1"], ["1", "2"], []]),
    data=st.data(),
)
def test_compiled_sql_matches_reference_evaluator(
    property_db: duckdb.DuckDBPyConnection,
    runs: list[Run],
    order_by: tuple[list[str], list[OrderBy]],
    experiment_ids: list[str],
    data: st.DataObject,
) -> None:
    """Each clause alone, then all of them AND-ed, must select and order exactly like the reference."""
    clauses = data.draw(st.lists(random_clause(runs), min_size=1, max_size=3))
    load(property_db, runs)
    order_texts, orders = order_by
    assert parse_order_by(order_texts) == tuple(orders)
    singles = [variant for clause in clauses for variant in [clause, *sibling_clauses(clause[1])]]
    candidates = [[clause] for clause in singles] + ([clauses] if len(clauses) > 1 else [])
    for candidate in candidates:
        filter_string = " AND ".join(text for text, _ in candidate)  # AND's case: see test_grammar
        expected_ast = tuple(ast for _, ast in candidate)
        assert parse_search_filter(filter_string) == expected_ast
        actual = search(property_db, filter_string, order_texts, experiment_ids=experiment_ids)
        assert actual == reference_search(runs, expected_ast, orders, experiment_ids), filter_string
