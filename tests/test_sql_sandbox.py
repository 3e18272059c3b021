"""``sql()`` runs user SQL in a sandbox: the documented views only, no files, no settings, a time limit."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lite_tracker as mlflow
from lite_tracker import MlflowClient
from lite_tracker.errors import InvalidParameterValue
from lite_tracker.store import sandbox

SECRET = "TOPSECRET-4242"

# Every attempt must be refused: {txt} {csv} {json} {parquet} {duckdb} {sqlite} are secret files,
# {dir} their folder, {target} a path that must never be created.
ESCAPES: list[tuple[str, str]] = [
    ("read_text", "SELECT * FROM read_text('{txt}')"),
    ("read_blob", "SELECT * FROM read_blob('{txt}')"),
    ("read_csv", "SELECT * FROM read_csv('{csv}')"),
    ("read_csv_auto", "SELECT * FROM read_csv_auto('{csv}')"),
    ("read_json", "SELECT * FROM read_json('{json}')"),
    ("read_json_auto", "SELECT * FROM read_json_auto('{json}')"),
    ("read_json_objects", "SELECT * FROM read_json_objects('{json}')"),
    ("read_parquet", "SELECT * FROM read_parquet('{parquet}')"),
    ("parquet_scan", "SELECT * FROM parquet_scan('{parquet}')"),
    ("parquet_metadata", "SELECT * FROM parquet_metadata('{parquet}')"),
    ("read_system_file", "SELECT * FROM read_text('/etc/hostname')"),
    ("glob", "SELECT * FROM glob('{dir}/*')"),
    ("replacement_scan_csv", "SELECT * FROM '{csv}'"),
    ("replacement_scan_parquet", "SELECT * FROM '{parquet}'"),
    ("from_first", "FROM read_text('{txt}')"),
    ("upper_case_function", "SELECT * FROM READ_TEXT('{txt}')"),
    ("upper_case_setting", "SELECT CURRENT_SETTING('home_directory')"),
    ("upper_case_table", "SELECT * FROM S.RUN_EVENTS"),
    ("quoted_function", "SELECT * FROM \"read_text\"('{txt}')"),
    ("qualified_function", "SELECT * FROM main.read_text('{txt}')"),
    ("read_duckdb", "SELECT * FROM read_duckdb('{duckdb}')"),
    ("sqlite_scan", "SELECT * FROM sqlite_scan('{sqlite}', 'secrets')"),
    ("enable_profiling", "SELECT * FROM enable_profiling(format='query_tree', save_location='{target}')"),
    ("enable_logging", "SELECT * FROM enable_logging(storage='file', storage_path='{target}')"),
    ("set", "SET enable_external_access = true"),
    ("set_profiling_output", "SET profiling_output = '{target}'"),
    ("pragma", "PRAGMA enable_profiling"),
    ("pragma_function", "SELECT * FROM pragma_database_list()"),
    ("attach", "ATTACH '{target}' AS x"),
    ("copy_to", "COPY (SELECT * FROM runs) TO '{target}'"),
    ("export_database", "EXPORT DATABASE '{target}'"),
    ("install", "INSTALL httpfs"),
    ("load", "LOAD httpfs"),
    ("create_table", "CREATE TABLE x AS SELECT 1"),
    ("insert", "INSERT INTO runs SELECT * FROM runs"),
    ("getenv", "SELECT getenv('HOME')"),
    ("current_setting", "SELECT current_setting('home_directory')"),
    ("duckdb_settings", "SELECT * FROM duckdb_settings()"),
    ("duckdb_function_scalar", "SELECT * FROM duckdb_extensions()"),
    ("multiple_statements", "SELECT 1; SELECT * FROM read_text('{txt}')"),
    ("cte_outer", "WITH x AS (SELECT 1) SELECT * FROM read_text('{txt}')"),
    ("cte_inner", "WITH x AS (SELECT * FROM read_text('{txt}')) SELECT * FROM x"),
    ("cte_named_like_a_view", "WITH runs AS (SELECT * FROM read_text('{txt}')) SELECT * FROM runs"),
    ("subquery_in_where", "SELECT * FROM runs WHERE run_id IN (SELECT content FROM read_text('{txt}'))"),
    ("scalar_subquery", "SELECT (SELECT content FROM read_text('{txt}')) AS c"),
    ("union", "SELECT run_id FROM runs UNION ALL SELECT content FROM read_text('{txt}')"),
    ("lateral_join", "SELECT * FROM runs, LATERAL (SELECT content FROM read_text('{txt}'))"),
    ("query_table", "SELECT * FROM query_table('runs')"),
    ("query", "SELECT * FROM query('SELECT * FROM read_text(''{txt}'')')"),
    ("summarize", "SUMMARIZE SELECT * FROM read_text('{txt}')"),
    ("summarize_view", "SUMMARIZE runs"),
    ("describe", "DESCRIBE runs"),
    ("call", "CALL pragma_database_list()"),
    ("checkpoint", "CHECKPOINT"),
    ("detach", "DETACH s"),
    ("use", "USE s"),
    ("internal_table", "SELECT * FROM s.run_events"),
    ("internal_ledger", "SELECT * FROM s.compacted"),
    ("internal_pending_table", "SELECT * FROM p_run_events"),
    ("arrow_scan", "SELECT * FROM arrow_scan(1, 2, 3)"),
]


@pytest.fixture
def secrets(tmp_path: Path) -> dict[str, str]:
    """Secret files of every format DuckDB reads, and a target path nothing may create."""
    d = tmp_path / "secrets"
    d.mkdir()
    (d / "secret.txt").write_text(SECRET)
    (d / "secret.csv").write_text(f"name,value\nkey,{SECRET}\n")
    (d / "secret.json").write_text(json.dumps({"value": SECRET}))
    pq.write_table(pa.table({"value": [SECRET]}), d / "secret.parquet")
    con = duckdb.connect(str(d / "secret.duckdb"))
    con.execute("CREATE TABLE secrets AS SELECT ? AS value", [SECRET])
    con.close()
    lite = sqlite3.connect(d / "secret.sqlite")
    lite.execute("CREATE TABLE secrets (value TEXT)")
    lite.execute("INSERT INTO secrets VALUES (?)", (SECRET,))
    lite.commit()
    lite.close()
    return {"txt": str(d / "secret.txt"), "csv": str(d / "secret.csv"), "json": str(d / "secret.json"),
            "parquet": str(d / "secret.parquet"), "duckdb": str(d / "secret.duckdb"),
            "sqlite": str(d / "secret.sqlite"), "dir": str(d), "target": str(tmp_path / "out" / "target")}


@pytest.fixture
def quiet_client(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    """A client whose background compactor never runs during a test, so pending data stays pending."""
    monkeypatch.setenv("LITE_TRACKER_COMPACT_INTERVAL", "3600")
    return MlflowClient(str(store_path))


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (but lock files) with its size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
            if p.is_file() and not p.name.endswith(".lock")}


def _log_runs(client: MlflowClient, n: int = 3) -> list[str]:
    ids = []
    for i in range(n):
        rid = client.create_run("0", run_name=f"r{i}").info.run_id
        client.log_batch(rid, metrics=[mlflow.Metric("loss", 1.0 / (i + 1), 0, s) for s in range(3)],
                         params=[mlflow.Param("lr", str(i))], tags=[mlflow.RunTag("group", "a")])
        ids.append(rid)
    client.flush()
    return ids


@pytest.mark.parametrize("name, template", ESCAPES, ids=[name for name, _ in ESCAPES])
def test_escape_is_refused_and_leaves_no_trace(quiet_client: MlflowClient, secrets: dict[str, str],
                                               tmp_path: Path, name: str, template: str) -> None:
    _log_runs(quiet_client)
    query = template.format(**secrets)
    before = _files(tmp_path)
    with pytest.raises(InvalidParameterValue) as err:
        quiet_client.sql(query)
    message = str(err.value)
    assert SECRET not in message and message.startswith("INVALID_PARAMETER_VALUE: sql() "), message
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert _files(tmp_path) == before
    assert not Path(secrets["target"]).exists() and not Path(secrets["target"]).parent.exists()
    assert quiet_client.sql("SELECT count(*) AS n FROM runs").column("n").to_pylist() == [3]
    assert _files(tmp_path) == before


def test_refusals_say_what_was_refused(quiet_client: MlflowClient, secrets: dict[str, str]) -> None:
    for query, words in [
        (f"SELECT * FROM read_text('{secrets['txt']}')", "read_text"),
        (f"SELECT * FROM '{secrets['csv']}'", "secret.csv"),
        ("SELECT current_setting('threads')", "current_setting"),
        ("SELECT * FROM s.run_events", "s.run_events"),
        ("SET threads = 1", "SET"),
        ("SELECT 1; SELECT 2", "SELECT, SELECT"),
        ("SELEC 1", "syntax error"),
        ("SELECT * FROM no_such_view", "no_such_view"),
    ]:
        with pytest.raises(InvalidParameterValue, match="sql") as err:
            quiet_client.sql(query)
        assert words in str(err.value), (query, str(err.value))
        assert "latest_metrics" in str(err.value)  # and points to what is allowed


def test_every_documented_view_answers_on_pending_and_compacted_data(quiet_client: MlflowClient) -> None:
    client = quiet_client
    ids = _log_runs(client)
    client.set_experiment_tag("0", "team", "ml")
    client.create_registered_model("iris", tags={"k": "v"}, description="d")
    client.create_model_version("iris", "file:///m/1", run_id=ids[0], tags={"vk": "vv"})
    client.set_registered_model_alias("iris", "champion", 1)
    client.transition_model_version_stage("iris", 1, "Staging")
    client.flush()
    views = ("experiments", "experiment_tags", "runs", "params", "tags", "metrics", "latest_metrics",
             "registered_models", "registered_model_tags", "model_versions", "model_version_tags",
             "model_aliases", "stage_transitions")
    assert client._store.pending_count() > 0

    def counts() -> dict[str, int]:
        found = {}
        for view in views:
            found[view] = client.sql(f"SELECT count(*) AS n FROM {view}").column("n").to_pylist()[0]
        return found

    pending = counts()
    latest = client.sql("SELECT run_id, value, step FROM latest_metrics ORDER BY run_id").to_pylist()
    assert client._store.compact() is not None and client._store.pending_count() == 0
    assert pending == counts() and all(pending.values())
    assert (pending["runs"], pending["params"], pending["metrics"], pending["latest_metrics"]) == (3, 3, 9, 3)
    assert client.sql("SELECT run_id, value, step FROM latest_metrics ORDER BY run_id").to_pylist() == latest
    assert all(row["step"] == 2 for row in latest)


def test_params_joins_ctes_and_output_formats(quiet_client: MlflowClient, store_path: Path) -> None:
    ids = _log_runs(quiet_client)
    t = quiet_client.sql(
        "WITH best AS (SELECT run_id, min(value) AS v FROM metrics WHERE key = ? GROUP BY run_id) "
        "SELECT r.run_name, p.value AS lr, b.v FROM runs r JOIN params p USING (run_id) JOIN best b USING (run_id) "
        "WHERE p.key = $2 AND r.run_id IN (SELECT run_id FROM tags WHERE value = ?) ORDER BY b.v LIMIT ?",
        ["loss", "lr", "a", 2],
    )
    assert t.column("run_name").to_pylist() == ["r2", "r1"] and t.column("lr").to_pylist() == ["2", "1"]
    assert quiet_client.sql("SELECT count(*) AS n FROM RUNS r JOIN \"Params\" p USING (run_id)").column("n"
                            ).to_pylist() == [3]  # view names ignore case, as in DuckDB
    assert quiet_client.sql("SELECT count(*) AS n FROM range(5) t, runs WHERE run_id = ?", [ids[0]]
                            ).column("n").to_pylist() == [5]
    mlflow.set_tracking_uri(str(store_path))
    df = mlflow.sql("SELECT run_name FROM runs ORDER BY run_name")
    assert df["run_name"].tolist() == ["r0", "r1", "r2"]
    arrow = mlflow.sql("SELECT run_name FROM runs ORDER BY run_name", output_format="arrow")
    assert isinstance(arrow, pa.Table) and arrow.num_rows == 3
    with pytest.raises(InvalidParameterValue, match="parameter"):
        quiet_client.sql("SELECT * FROM runs WHERE run_id = ?", [])


def test_a_long_query_is_interrupted_within_the_time_limit(quiet_client: MlflowClient,
                                                           store_path: Path) -> None:
    _log_runs(quiet_client)
    slow = "SELECT count(*) FROM range(1000000) a, range(1000000) b WHERE a.range + b.range = -1"
    started = time.monotonic()
    with pytest.raises(InvalidParameterValue, match="time limit of 0.5 s"):
        quiet_client.sql(slow, timeout=0.5)
    assert time.monotonic() - started < 10
    assert quiet_client.sql("SELECT count(*) AS n FROM runs").column("n").to_pylist() == [3]
    mlflow.set_tracking_uri(str(store_path))
    with pytest.raises(InvalidParameterValue, match="time limit"):
        mlflow.sql(slow, timeout=0.5)
    for bad in (0, -1, "5", float("nan")):
        with pytest.raises(InvalidParameterValue, match="timeout"):
            quiet_client.sql("SELECT 1", timeout=bad)  # type: ignore[arg-type]


# Scalar functions that build one value of a size an argument chooses: DuckDB allocates it outside its
# memory limit and cannot interrupt it (a single list_resize took 12 GB here), so the filter refuses them.
SIZED: list[tuple[str, str]] = [
    ("repeat", "SELECT length(repeat('x', 4000000000))"),
    ("list_resize", "SELECT len(list_resize([1], 2000000000))"),
    ("array_resize", "SELECT len(array_resize([1], 2000000000))"),
    ("lpad", "SELECT length(lpad('x', 2000000000, 'y'))"),
    ("rpad", "SELECT length(rpad('x', 2000000000, 'y'))"),
    ("format_width", "SELECT length(format('{:>2000000000}', 'x'))"),
    ("printf_width", "SELECT length(printf('%2000000000d', 1))"),
    ("scalar_range", "SELECT len(range(2000000000))"),
    ("scalar_generate_series", "SELECT len(generate_series(1, 2000000000))"),
    ("sized_in_a_cte", "WITH x AS (SELECT repeat('x', 4000000000) AS s) SELECT length(s) FROM x"),
]


@pytest.mark.parametrize("name, query", SIZED, ids=[name for name, _ in SIZED])
def test_functions_sized_by_an_argument_are_refused(quiet_client: MlflowClient, name: str, query: str) -> None:
    with pytest.raises(InvalidParameterValue, match=r"refused function \w+\(\): a value whose size"):
        quiet_client.sql(query)


def test_memory_and_result_size_are_bounded(quiet_client: MlflowClient) -> None:
    """A query that would fill the process's memory stops with an error well before, in seconds."""
    _log_runs(quiet_client)
    started = time.monotonic()
    with pytest.raises(InvalidParameterValue, match="result passed 1024 MiB"):
        quiet_client.sql("SELECT * FROM range(10000000000)")
    with pytest.raises(InvalidParameterValue, match="Out of Memory"):
        quiet_client.sql("SELECT list(range) FROM range(1000000000)")
    with pytest.raises(InvalidParameterValue, match="Out of Memory"):
        quiet_client.sql("WITH RECURSIVE t(s, n) AS (SELECT 'x', 0 UNION ALL SELECT s || s, n + 1 FROM t "
                         "WHERE n < 40) SELECT max(length(s)) FROM t")
    assert time.monotonic() - started < 30
    assert quiet_client.sql("SELECT count(*) AS n FROM range(3) r, runs").column("n").to_pylist() == [9]


def test_settings_never_stick_and_the_reader_keeps_its_own(quiet_client: MlflowClient, secrets: dict[str, str],
                                                            tmp_path: Path) -> None:
    _log_runs(quiet_client)
    for attempt in ("SET threads = 1", "SET enable_external_access = false",
                    f"SELECT * FROM enable_profiling(format='query_tree', save_location='{secrets['target']}')"):
        with pytest.raises(InvalidParameterValue):
            quiet_client.sql(attempt)
    before = _files(tmp_path)
    for _ in range(3):
        assert quiet_client.sql("SELECT count(*) AS n FROM metrics").column("n").to_pylist() == [9]
    assert _files(tmp_path) == before and not Path(secrets["target"]).exists()
    with quiet_client._store.session() as con:  # the internal reader still reads its segments
        assert con.execute("SELECT current_setting('enable_external_access')").fetchone() == (True,)
        assert con.execute("SELECT count(*) FROM metrics").fetchone() == (9,)
    quiet_client._store.compact()
    assert quiet_client.sql("SELECT count(*) AS n FROM metrics").column("n").to_pylist() == [9]


def test_sql_prints_nothing(quiet_client: MlflowClient, capfd: pytest.CaptureFixture[str]) -> None:
    _log_runs(quiet_client)
    quiet_client.sql("SELECT sum(a.range) FROM range(3000000) a, runs")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


FILE_ESCAPES = [(name, t) for name, t in ESCAPES if name.startswith(("read_", "parquet_", "glob", "replacement_scan",
                                                                      "enable_", "sqlite_scan", "from_first"))]


@pytest.mark.parametrize("name, template", FILE_ESCAPES, ids=[name for name, _ in FILE_ESCAPES])
def test_the_sandbox_alone_reaches_no_file(secrets: dict[str, str], tmp_path: Path, name: str,
                                           template: str) -> None:
    """The second wall stands without the first: the engine itself refuses files and settings."""
    before = _files(tmp_path)
    con = sandbox.connect()
    try:
        with pytest.raises(InvalidParameterValue) as err:
            sandbox.run(con, template.format(**secrets), [], {}, 10.0, ["runs"])
    finally:
        con.close()
    assert SECRET not in str(err.value)
    assert _files(tmp_path) == before and not Path(secrets["target"]).exists()
