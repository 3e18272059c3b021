"""The lite-tracker commands through click's test runner on real stores: empty, one and many results, --json
equal to the library's answer, errors as one line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lite_tracker import MlflowClient
from lite_tracker.cli.main import cli
from lite_tracker.entities import ViewType
from lite_tracker.errors import LiteTrackerException


def invoke(*args: str) -> Result:
    """Run ``lite-tracker ARGS`` in this process (stdout and stderr apart, not a terminal)."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def data(result: Result) -> Any:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def plain(value: Any) -> Any:
    """What a value looks like after a JSON round trip."""
    return json.loads(json.dumps(value))


def failed(result: Result, *expected: str) -> str:
    """The one error line of a failed command, checked to hold ``expected``."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("lite-tracker: error: "), result.stderr
    for text in expected:
        assert text in result.stderr
    return result.stderr


def library_error(call: Any) -> str:
    with pytest.raises(LiteTrackerException) as e:
        call()
    return str(e.value)


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
    assert empty.exit_code == 0 and empty.stdout.splitlines()[0].startswith('"run_id","experiment_id"')
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
