"""The lite-tracker commands through click's test runner on real stores: empty, one and many results, --json
equal to the library's answer, errors as one line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from lite_tracker import MlflowClient
from lite_tracker.cli.main import cli
from lite_tracker.entities import ViewType
from lite_tracker.errors import LiteTrackerException


def invoke(*args: str) -> Result:
    """Run ``lite-tracker ARGS`` in this process (stdout and stderr apart, not a terminal: no colour codes)."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert "\x1b[" not in result.output
    return result


def data(result: Result) -> Any:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def plain(value: Any) -> Any:
    """What a value looks like after a JSON round trip."""
    return json.loads(json.dumps(value))


def failed(result: Result, *expected: str) -> str:
    """The one error line of a failed command, checked to hold ``expected``."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("lite-tracker: error: "), result.stderr
    for text in expected:
        assert text in result.stderr
    return result.stderr


def library_error(call: Any) -> str:
    """The message of the error ``call`` raises, as the command line prints it (on one line)."""
    with pytest.raises(LiteTrackerException) as e:
        call()
    return " ".join(str(e.value).split())


# ------------------------------------------------------------------ experiments


def test_experiments_search_empty_one_many_views_and_limits(client: MlflowClient, store_path: Path) -> None:
    s = str(store_path)
    client.flush()
    assert data(invoke("experiments", "search", "--store", s, "--filter", "name = 'nope'", "--json")) == []
    ids = [client.create_experiment(f"exp-{i}") for i in range(3)]
    one = data(invoke("experiments", "search", "--store", s, "--filter", "name = 'exp-1'", "--json"))
    assert one == [plain(dataclasses.asdict(client.get_experiment(ids[1])))]
    many = data(invoke("experiments", "search", "--store", s, "--json"))
    assert many == plain([dataclasses.asdict(e) for e in client.search_experiments()])
    assert len(many) == 4  # and the default experiment
    assert len(data(invoke("experiments", "search", "--store", s, "--max-results", "2", "--json"))) == 2
    by_name = data(invoke("experiments", "search", "--store", s, "--order-by", "name ASC", "--json"))
    assert [e["name"] for e in by_name] == sorted(e["name"] for e in many)

    client.delete_experiment(ids[0])
    for view, expected in (("deleted", ViewType.DELETED_ONLY), ("all", ViewType.ALL),
                           ("active_only", ViewType.ACTIVE_ONLY)):
        shown = data(invoke("experiments", "search", "--store", s, "--view", view, "--json"))
        assert [e["experiment_id"] for e in shown] == [e.experiment_id for e in client.search_experiments(expected)]
    table = invoke("experiments", "search", "--store", s)
    assert table.exit_code == 0 and "exp-2" in table.stdout and "exp-0" not in table.stdout


def test_experiments_search_bad_filter_keeps_the_parsers_message(client: MlflowClient, store_path: Path) -> None:
    client.flush()
    bad = "name = 'a' OR name = 'b'"
    expected = library_error(lambda: client.search_experiments(filter_string=bad))
    failed(invoke("experiments", "search", "--store", str(store_path), "--filter", bad), expected)


def test_experiments_create_rename_delete_restore(client: MlflowClient, store_path: Path) -> None:
    s = str(store_path)
    client.flush()
    location = str(store_path.parent / "a")
    created = invoke("experiments", "create", "sweep", "--store", s, "--artifact-location", location)
    assert created.exit_code == 0, created.stderr
    exp = client.get_experiment_by_name("sweep")
    assert exp is not None and exp.artifact_location.endswith("a")
    assert f"id {exp.experiment_id}" in created.stdout
    failed(invoke("experiments", "create", "sweep", "--store", s), "RESOURCE_ALREADY_EXISTS", "sweep")

    assert invoke("experiments", "rename", exp.experiment_id, "sweep-2", "--store", s).exit_code == 0
    assert client.get_experiment(exp.experiment_id).name == "sweep-2"
    assert invoke("experiments", "delete", exp.experiment_id, "--store", s).exit_code == 0
    assert client.get_experiment(exp.experiment_id).lifecycle_stage == "deleted"
    assert invoke("experiments", "restore", exp.experiment_id, "--store", s).exit_code == 0
    assert client.get_experiment(exp.experiment_id).lifecycle_stage == "active"
    for command in (("rename", "424242", "x"), ("delete", "424242"), ("restore", "424242")):
        failed(invoke("experiments", *command, "--store", s), "RESOURCE_DOES_NOT_EXIST", "424242")


def test_experiments_csv_empty_one_many_and_to_a_file(client: MlflowClient, store_path: Path,
                                                     tmp_path: Path) -> None:
    import pandas as pd

    s = str(store_path)
    exp = client.create_experiment("csv")
    empty = invoke("experiments", "csv", "--experiment-id", exp, "--store", s)
    assert empty.exit_code == 0 and empty.stdout.splitlines()[0].startswith("run_id,experiment_id,status,")
    assert len(empty.stdout.splitlines()) == 1
    run_ids = []
    for i in range(3):
        run = client.create_run(exp)
        client.log_param(run.info.run_id, "lr", str(0.1 * (i + 1)))
        client.log_metric(run.info.run_id, "loss", 1.0 / (i + 1))
        client.set_terminated(run.info.run_id)
        run_ids.append(run.info.run_id)
        out = invoke("experiments", "csv", "-x", exp, "--store", s)
        assert out.exit_code == 0, out.stderr
        assert len(out.stdout.splitlines()) == i + 2
    written = invoke("experiments", "csv", "-x", exp, "-o", str(tmp_path / "runs.csv"), "--store", s)
    assert written.exit_code == 0 and "Wrote 3 runs" in written.stdout
    frame = pd.read_csv(tmp_path / "runs.csv", dtype={"params.lr": str})
    assert sorted(frame["run_id"]) == sorted(run_ids)
    by_run = {r.info.run_id: r for r in client.search_runs([exp])}
    for row in frame.to_dict("records"):
        run = by_run[row["run_id"]]
        assert (row["status"], row["params.lr"], row["metrics.loss"]) == (
            run.info.status, run.data.params["lr"], run.data.metrics["loss"])
    failed(invoke("experiments", "csv", "-x", "424242", "--store", s), "RESOURCE_DOES_NOT_EXIST")
    failed(invoke("experiments", "csv", "-x", exp, "-o", str(tmp_path / "no" / "such" / "dir.csv"), "--store", s),
           "Cannot write")


# ------------------------------------------------------------------ runs


def _sweep(client: MlflowClient, experiment: str, n: int) -> list[str]:
    """``n`` finished runs with a param, a metric history, a tag and two artifact files each."""
    exp = client.create_experiment(experiment)
    ids = []
    for i in range(n):
        run = client.create_run(exp, run_name=f"r{i}")
        rid = run.info.run_id
        client.log_param(rid, "lr", str(0.1 * (i + 1)))
        for step in range(3):
            client.log_metric(rid, "loss", 1.0 / (i + 1) + 1.0 / (step + 1), step=step)
        client.set_tag(rid, "team", "vision" if i % 2 else "nlp")
        client.log_text(rid, f"run {i}", "notes/readme.txt")
        client.log_dict(rid, {"i": i}, "summary.json")
        client.set_terminated(rid)
        ids.append(rid)
    return ids


def test_runs_list_empty_one_many_order_filter_columns_and_views(client: MlflowClient, store_path: Path) -> None:
    s = str(store_path)
    exp = client.create_experiment("empty")
    assert data(invoke("runs", "list", "--experiment-id", exp, "--store", s, "--json")) == []
    ids = _sweep(client, "sweep", 5)
    sweep = client.get_experiment_by_name("sweep")
    assert sweep is not None
    one = data(invoke("runs", "list", "--experiment", "sweep", "--filter", "params.lr = '0.2'", "--store", s, "--json"))
    assert one == plain([client.get_run(ids[1]).to_dictionary()])
    many = data(invoke("runs", "list", "--experiment", "sweep", "--order-by", "metrics.loss DESC", "--store", s,
                       "--json"))
    expected = client.search_runs([sweep.experiment_id], order_by=["metrics.loss DESC"])
    assert many == plain([r.to_dictionary() for r in expected]) and len(many) == 5
    top = data(invoke("runs", "list", "-x", sweep.experiment_id, "--order-by", "tags.team", "--order-by",
                      "metrics.loss", "--max-results", "2", "--store", s, "--json"))
    assert [r["info"]["run_id"] for r in top] == [
        r.info.run_id for r in client.search_runs([sweep.experiment_id], order_by=["tags.team", "metrics.loss"])][:2]

    table = invoke("runs", "list", "--experiment", "sweep", "--columns", "params.lr,metrics.loss", "--columns",
                   "tags.team,status", "--filter", "tags.team = 'nlp'", "--store", s)
    assert table.exit_code == 0, table.stderr
    header, *rows = [line for line in table.stdout.splitlines() if "params.lr" in line or ids[0] in line
                     or ids[2] in line or ids[4] in line]
    assert [h.strip() for h in header.strip("┃│ ").split("┃")] == ["run_id", "params.lr", "metrics.loss", "tags.team",
                                                                   "status"]
    assert len(rows) == 3 and all("nlp" in r and "FINISHED" in r for r in rows)
    assert ids[1] not in table.stdout

    client.delete_run(ids[0])
    deleted = data(invoke("runs", "list", "--experiment", "sweep", "--view", "deleted", "--store", s, "--json"))
    assert [r["info"]["run_id"] for r in deleted] == [ids[0]]
    assert len(data(invoke("runs", "list", "--experiment", "sweep", "--view", "all", "--store", s, "--json"))) == 5


def test_runs_list_bad_input_is_one_line(client: MlflowClient, store_path: Path) -> None:
    s = str(store_path)
    exp = client.create_experiment("sweep")
    bad = "metrics.loss < 'x'"
    failed(invoke("runs", "list", "-x", exp, "--filter", bad, "--store", s),
           library_error(lambda: client.search_runs([exp], bad)))
    failed(invoke("runs", "list", "-x", exp, "--order-by", "metrics.", "--store", s),
           library_error(lambda: client.search_runs([exp], order_by=["metrics."])))
    failed(invoke("runs", "list", "--experiment", "nope", "--store", s), "No experiment named 'nope'")
    failed(invoke("runs", "list", "-x", "424242", "--store", s), "RESOURCE_DOES_NOT_EXIST")
    failed(invoke("runs", "list", "-x", exp, "--columns", "params.,lr", "--store", s), "Unknown column 'params.'")
    for args in ((), ("-x", exp, "--experiment", "sweep")):
        usage = invoke("runs", "list", *args, "--store", s)
        assert usage.exit_code == 2 and "Give exactly one of --experiment-id or --experiment" in usage.stderr


def test_runs_describe_delete_restore(client: MlflowClient, store_path: Path) -> None:
    s = str(store_path)
    rid = _sweep(client, "sweep", 2)[1]
    described = data(invoke("runs", "describe", rid, "--store", s, "--json"))
    assert described == {**plain(client.get_run(rid).to_dictionary()),
                         "artifacts": [{"path": "notes/readme.txt", "file_size": 5},
                                       {"path": "summary.json", "file_size": len(json.dumps({"i": 1}, indent=2))}]}
    table = invoke("runs", "describe", rid, "--store", s)
    assert table.exit_code == 0, table.stderr
    for text in (f"Run {rid}", "Params (1)", "Metrics (1)", "Tags (", "Artifacts (2)", "notes/readme.txt", "r1",
                 "team", "vision", "FINISHED"):
        assert text in table.stdout, text

    assert invoke("runs", "delete", rid, "--store", s).exit_code == 0
    assert client.get_run(rid).info.lifecycle_stage == "deleted"
    assert invoke("runs", "restore", rid, "--store", s).exit_code == 0
    assert client.get_run(rid).info.lifecycle_stage == "active"
    missing = "f" * 32
    for command in ("describe", "delete", "restore"):
        failed(invoke("runs", command, missing, "--store", s), "RESOURCE_DOES_NOT_EXIST", missing)
    failed(invoke("runs", "describe", "../etc", "--store", s), "INVALID_PARAMETER_VALUE")


# ------------------------------------------------------------------ sql


def test_sql_table_json_and_csv_on_empty_one_and_many_rows(client: MlflowClient, store_path: Path) -> None:
    s = str(store_path)
    ids = _sweep(client, "sweep", 3)
    empty = "SELECT run_id, value FROM latest_metrics WHERE key = 'nope'"
    assert data(invoke("sql", empty, "--store", s, "--json")) == []
    assert invoke("sql", empty, "--store", s, "--csv").stdout == "run_id,value\n"
    one = f"SELECT run_id, value FROM latest_metrics WHERE run_id = '{ids[0]}'"
    assert data(invoke("sql", one, "--store", s, "--json")) == plain(client.sql(one).to_pylist())
    many = "SELECT p.value AS lr, m.value AS loss FROM params p JOIN latest_metrics m USING (run_id) ORDER BY lr"
    assert data(invoke("sql", many, "--store", s, "--json")) == plain(client.sql(many).to_pylist())
    csv = invoke("sql", many, "--store", s, "--csv")
    assert csv.exit_code == 0 and csv.stdout.splitlines()[0] == "lr,loss" and len(csv.stdout.splitlines()) == 4
    table = invoke("sql", "SELECT '[red]x' AS label, 1 AS label", "--store", s)
    assert table.exit_code == 0 and "[red]x" in table.stdout and table.stdout.count("label") == 2


def test_sql_refusals_and_usage_errors(client: MlflowClient, store_path: Path) -> None:
    s = str(store_path)
    client.flush()
    for query in ("DROP TABLE runs", "SELECT * FROM read_csv('/etc/passwd')", "SELEC 1"):
        failed(invoke("sql", query, "--store", s), library_error(lambda q=query: client.sql(q)))
    both = invoke("sql", "SELECT 1", "--json", "--csv", "--store", s)
    assert both.exit_code == 2 and "Give --json or --csv, not both" in both.stderr
    assert invoke("sql", "SELECT 1", "--timeout", "0", "--store", s).exit_code == 2
    slow = "SELECT count(*) FROM range(100000000000) a"
    failed(invoke("sql", slow, "--timeout", "0.5", "--store", s), "INVALID_PARAMETER_VALUE")


# ------------------------------------------------------------------ artifacts


def test_artifacts_list_by_run_id_runs_uri_and_models_uri(client: MlflowClient, store_path: Path) -> None:
    s = str(store_path)
    rid = _sweep(client, "sweep", 1)[0]
    bare = client.create_run(client.create_experiment("bare")).info.run_id
    assert data(invoke("artifacts", "list", "--run-id", bare, "--store", s, "--json")) == []
    root = data(invoke("artifacts", "list", "--run-id", rid, "--store", s, "--json"))
    assert root == [dataclasses.asdict(f) for f in client.list_artifacts(rid)] and len(root) == 2
    notes = [{"path": "notes/readme.txt", "is_dir": False, "file_size": 5}]
    assert data(invoke("artifacts", "list", "-r", rid, "-a", "notes", "--store", s, "--json")) == notes
    assert data(invoke("artifacts", "list", "-u", f"runs:/{rid}/notes", "--store", s, "--json")) == notes
    client.create_registered_model("notes")
    client.create_model_version("notes", f"runs:/{rid}/notes", rid)
    model = data(invoke("artifacts", "list", "--artifact-uri", "models:/notes/1", "--store", s, "--json"))
    assert model == [{"path": "readme.txt", "is_dir": False, "file_size": 5}]
    table = invoke("artifacts", "list", "-r", rid, "--store", s)
    assert table.exit_code == 0 and "summary.json" in table.stdout and "notes" in table.stdout

    for args in ((), ("-r", rid, "-u", f"runs:/{rid}"), ("-u", f"runs:/{rid}", "-a", "notes")):
        usage = invoke("artifacts", "list", *args, "--store", s)
        assert usage.exit_code == 2 and "--artifact-uri" in usage.stderr.splitlines()[-1], usage.stderr
    failed(invoke("artifacts", "list", "-r", "f" * 32, "--store", s), "RESOURCE_DOES_NOT_EXIST")
    failed(invoke("artifacts", "list", "-u", "models:/nope/1", "--store", s), "RESOURCE_DOES_NOT_EXIST", "nope")


def test_artifacts_download_prints_the_local_path(client: MlflowClient, store_path: Path, tmp_path: Path) -> None:
    s = str(store_path)
    rid = _sweep(client, "sweep", 1)[0]
    one = invoke("artifacts", "download", "-r", rid, "-a", "notes/readme.txt", "-d", str(tmp_path / "a"), "--store", s)
    assert one.exit_code == 0, one.stderr
    assert Path(one.stdout.strip()).read_text() == "run 0" and one.stdout.strip().startswith(str(tmp_path / "a"))
    everything = invoke("artifacts", "download", "--run-id", rid, "-d", str(tmp_path / "b"), "--store", s)
    assert sorted(p.name for p in Path(everything.stdout.strip()).rglob("*")) == ["notes", "readme.txt",
                                                                                   "summary.json"]
    client.create_registered_model("cfg")
    client.create_model_version("cfg", f"runs:/{rid}/summary.json", rid)
    client.set_registered_model_alias("cfg", "champion", 1)
    by_alias = invoke("artifacts", "download", "-u", "models:/cfg@champion", "-d", str(tmp_path / "c"), "--store", s)
    assert json.loads(Path(by_alias.stdout.strip()).read_text()) == {"i": 0}
    failed(invoke("artifacts", "download", "-r", rid, "-a", "missing.txt", "--store", s), "RESOURCE_DOES_NOT_EXIST")
    usage = invoke("artifacts", "download", "-r", rid, "-u", f"runs:/{rid}", "--store", s)
    assert usage.exit_code == 2 and "Give exactly one of --run-id or --artifact-uri" in usage.stderr


# ------------------------------------------------------------------ models


def _register(client: MlflowClient, name: str, versions: int) -> None:
    rid = _sweep(client, f"for-{name}", 1)[0]
    client.create_registered_model(name)
    for _ in range(versions):
        client.create_model_version(name, f"runs:/{rid}/notes", rid)


def test_models_list_empty_one_many_and_filter(client: MlflowClient, store_path: Path) -> None:
    s = str(store_path)
    client.flush()
    assert data(invoke("models", "list", "--store", s, "--json")) == []
    _register(client, "iris", 2)
    client.transition_model_version_stage("iris", 2, "Production")
    client.set_registered_model_alias("iris", "champion", 2)
    one = data(invoke("models", "list", "--store", s, "--json"))
    assert one == plain([dataclasses.asdict(m) for m in client.search_registered_models()]) and len(one) == 1
    for name in ("wine", "digits"):
        _register(client, name, 1)
    many = data(invoke("models", "list", "--store", s, "--json"))
    assert [m["name"] for m in many] == ["digits", "iris", "wine"]
    assert [m["name"] for m in data(invoke("models", "list", "--filter", "name LIKE 'i%'", "--store", s,
                                           "--json"))] == ["iris"]
    table = invoke("models", "list", "--store", s)
    assert table.exit_code == 0 and "2 (Production)" in table.stdout and "champion=2" in table.stdout
    bad = "name = 'a' OR name = 'b'"
    failed(invoke("models", "list", "--filter", bad, "--store", s),
           library_error(lambda: client.search_registered_models(bad)))


def test_models_transition_and_aliases(client: MlflowClient, store_path: Path) -> None:
    s = str(store_path)
    _register(client, "iris", 2)
    moved = invoke("models", "transition", "iris", "1", "production", "--store", s)
    assert moved.exit_code == 0 and "version 1 is now in stage Production" in moved.stdout
    assert invoke("models", "transition", "iris", "2", "Production", "--archive-existing-versions",
                  "--store", s).exit_code == 0
    assert [client.get_model_version("iris", v).current_stage for v in (1, 2)] == ["Archived", "Production"]
    failed(invoke("models", "transition", "iris", "2", "Live", "--store", s),
           library_error(lambda: client.transition_model_version_stage("iris", 2, "Live")))
    failed(invoke("models", "transition", "iris", "9", "Staging", "--store", s), "RESOURCE_DOES_NOT_EXIST")

    assert invoke("models", "alias", "set", "iris", "champion", "1", "--store", s).exit_code == 0
    assert client.get_model_version_by_alias("iris", "champion").version == 1
    assert invoke("models", "alias", "set", "iris", "champion", "2", "--store", s).exit_code == 0
    assert client.get_model_version_by_alias("iris", "champion").version == 2
    described = data(invoke("models", "describe", "iris", "--store", s, "--json"))
    assert described == plain(dataclasses.asdict(client.get_model_version("iris", 2)))
    assert described["aliases"] == ["champion"]
    assert invoke("models", "alias", "delete", "iris", "champion", "--store", s).exit_code == 0
    assert client.get_model_version("iris", 2).aliases == []
    failed(invoke("models", "alias", "set", "iris", "latest", "1", "--store", s),
           library_error(lambda: client.set_registered_model_alias("iris", "latest", 1)))
    failed(invoke("models", "alias", "set", "nope", "a", "1", "--store", s), "RESOURCE_DOES_NOT_EXIST")


# ------------------------------------------------------------------ every command


CREATES_A_STORE = {("demo",), ("experiments", "create"), ("import", "mlflow"), ("sync", "pull"), ("ui",),
                   ("server",)}
NEEDS_A_STORE = {  # the arguments each command needs besides --store
    ("compact",): [], ("export",): ["-o", "out"], ("sql",): ["SELECT 1"],
    ("sync", "push"): ["s3://no-such-bucket-xyz/p", "-q"],
    ("experiments", "search"): [], ("experiments", "rename"): ["1", "x"], ("experiments", "delete"): ["1"],
    ("experiments", "restore"): ["1"], ("experiments", "csv"): ["-x", "1"],
    ("runs", "list"): ["-x", "0"], ("runs", "describe"): ["f" * 32], ("runs", "delete"): ["f" * 32],
    ("runs", "restore"): ["f" * 32],
    ("artifacts", "list"): ["-r", "f" * 32], ("artifacts", "download"): ["-u", "models:/iris/1"],
    ("models", "list"): [], ("models", "describe"): ["iris"], ("models", "transition"): ["iris", "1", "Staging"],
    ("models", "alias", "set"): ["iris", "a", "1"], ("models", "alias", "delete"): ["iris", "a"],
    ("models", "serve"): ["-m", "models:/iris/1"],
    ("gc",): ["--yes"], ("report",): ["--experiment", "x", "-o", "r.html"],
}
DIAGNOSES_A_STORE = {("doctor",)}  # reports a missing store as a failed check (exit 1), creating nothing
BUCKET_ONLY = {("sync", "optimize"), ("sync", "vacuum"), ("sync", "migrate")}  # no --store: they work on a bucket


def test_a_store_typo_never_creates_a_store_for_a_command_that_needs_one(tmp_path: Path) -> None:
    from test_cli import _command_tree

    leaves = {path for path, command in _command_tree(cli) if not isinstance(command, click.Group)}
    assert leaves == set(NEEDS_A_STORE) | CREATES_A_STORE | DIAGNOSES_A_STORE | BUCKET_ONLY  # each says its kind
    for path, args in NEEDS_A_STORE.items():
        failed(invoke(*path, *args, "--store", str(tmp_path / "typo.duckdb")), "store at", "typo.duckdb")
        assert not list(tmp_path.glob("typo*")), path
    diagnosis = invoke("doctor", "--store", str(tmp_path / "typo.duckdb"))
    assert diagnosis.exit_code == 1 and "FAIL  store file: No lite_tracker store at" in diagnosis.stdout
    assert not list(tmp_path.glob("typo*"))


def test_main_returns_the_exit_code_for_help_version_usage_and_errors(capsys: pytest.CaptureFixture[str],
                                                                      tmp_path: Path) -> None:
    from lite_tracker import __version__
    from lite_tracker.cli import main

    assert main(["--version"]) == 0 and capsys.readouterr().out == f"lite-tracker {__version__}\n"
    assert main(["runs", "--help"]) == 0 and "Example:" in capsys.readouterr().out
    assert main(["nope"]) == 2 and "No such command 'nope'" in capsys.readouterr().err
    assert main(["runs", "list", "--max-results", "0", "-x", "0"]) == 2
    assert "0 is not in the range x>=1" in capsys.readouterr().err
    assert main(["runs", "describe", "f" * 32, "--store", str(tmp_path / "none.duckdb")]) == 1
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith("lite-tracker: error: RESOURCE_DOES_NOT_EXIST: No lite_tracker store")
