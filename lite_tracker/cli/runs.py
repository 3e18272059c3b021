"""``lite-tracker runs list|describe|delete|restore``, as MLflow's ``mlflow runs``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ..entities import FileInfo, Run
from ..errors import InvalidParameterValue, ResourceNotFound
from ..tracking.fluent import _all_pages
from ._common import VIEWS, json_option, print_json, print_table, read_client, store_option, timestamp, view_option

if TYPE_CHECKING:
    from ..tracking.client import MlflowClient

_ATTRIBUTES = ("run_id", "run_name", "experiment_id", "status", "user_id", "start_time", "end_time",
               "lifecycle_stage", "artifact_uri")
_DEFAULT_COLUMNS = ("run_name", "status", "start_time")


@click.group()
def runs() -> None:
    """List, describe, delete and restore runs.

    \b
    Example:
      lite-tracker runs list --experiment demo-sweep --filter "params.layers = '2'" --order-by metrics.val_loss
    """


def _columns(text: tuple[str, ...]) -> list[str]:
    """The table columns a ``--columns`` list names (run_id always first)."""
    names = [c.strip() for part in text for c in part.split(",") if c.strip()] or list(_DEFAULT_COLUMNS)
    for name in names:
        prefix, _, key = name.partition(".")
        if not ((prefix in ("params", "metrics", "tags") and key) or name in _ATTRIBUTES):
            raise InvalidParameterValue(
                f"Unknown column {name!r}: use params.KEY, metrics.KEY, tags.KEY or one of {', '.join(_ATTRIBUTES)}.")
    return ["run_id", *(n for n in names if n != "run_id")]


def _cell(run: Run, column: str) -> Any:
    """The value of one column for one run, as shown in the table."""
    prefix, _, key = column.partition(".")
    if prefix in ("params", "metrics", "tags") and key:
        return getattr(run.data, prefix).get(key)
    value = getattr(run.info, column)
    return timestamp(value) if column in ("start_time", "end_time") else value


def _experiment_id(client: MlflowClient, experiment_id: str | None, name: str | None) -> str:
    if (experiment_id is None) == (name is None):
        raise click.UsageError("Give exactly one of --experiment-id or --experiment.")
    if name is None:
        return client.get_experiment(experiment_id).experiment_id  # type: ignore[arg-type]
    exp = client.get_experiment_by_name(name)
    if exp is None:
        raise ResourceNotFound(f"No experiment named {name!r}: see lite-tracker experiments search.")
    return exp.experiment_id


@runs.command(name="list")
@click.option("--experiment-id", "-x", metavar="ID", help="The experiment whose runs to list.")
@click.option("--experiment", metavar="NAME", help="The experiment, by name.")
@click.option("--filter", "filter_string", default="", metavar="FILTER",
              help="MLflow's run filter, e.g. \"params.lr = '0.1' AND metrics.loss < 0.5\".")
@click.option("--order-by", multiple=True, metavar="CLAUSE",
              help="e.g. \"metrics.loss ASC\" (repeat for more keys; default: start_time DESC).")
@click.option("--max-results", type=click.IntRange(min=1), metavar="N", help="At most N runs (default: all).")
@click.option("--columns", multiple=True, metavar="COLS",
              help="Table columns after run_id, comma-separated: params.KEY, metrics.KEY, tags.KEY or an attribute "
                   f"({', '.join(_ATTRIBUTES)}); default: {','.join(_DEFAULT_COLUMNS)}. --json prints whole runs.")
@view_option
@store_option
@json_option
def list_runs(experiment_id: str | None, experiment: str | None, filter_string: str, order_by: tuple[str, ...],
              max_results: int | None, columns: tuple[str, ...], view: str, store: str | None, as_json: bool) -> None:
    """List the runs of an experiment that match a filter, in order.

    \b
    Example:
      lite-tracker runs list --experiment demo-sweep --order-by "metrics.val_loss" --max-results 5 \\
        --columns params.lr,params.layers,metrics.val_loss
    """
    shown = _columns(columns)
    client = read_client(store)
    exp_id = _experiment_id(client, experiment_id, experiment)
    found = _all_pages(lambda n, token: client.search_runs([exp_id], filter_string, VIEWS[view], n,
                                                           list(order_by) or None, token), max_results, 10_000)
    if as_json:
        print_json([r.to_dictionary() for r in found])
        return
    print_table(shown, [[_cell(r, c) for c in shown] for r in found])


def _artifact_files(client: MlflowClient, run_id: str, path: str | None = None) -> list[FileInfo]:
    """Every artifact file of a run, folders walked."""
    files: list[FileInfo] = []
    for info in client.list_artifacts(run_id, path):
        files.extend(_artifact_files(client, run_id, info.path) if info.is_dir else [info])
    return files


@runs.command()
@click.argument("run_id")
@store_option
@json_option
def describe(run_id: str, store: str | None, as_json: bool) -> None:
    """Show a run: its info, params, latest metrics, tags and artifact files.

    \b
    Example:
      lite-tracker runs describe 0190f1a2b3c4d5e6f708192a3b4c5d6e --json
    """
    client = read_client(store)
    run = client.get_run(run_id)
    files = _artifact_files(client, run_id)
    if as_json:
        print_json({**run.to_dictionary(), "artifacts": [{"path": f.path, "file_size": f.file_size} for f in files]})
        return
    info = run.info
    print_table(["field", "value"], [(name, _cell(run, name)) for name in _ATTRIBUTES], title=f"Run {info.run_id}")
    for kind in ("params", "metrics", "tags"):
        values = getattr(run.data, kind)
        print_table(["key", "value"], sorted(values.items()), title=f"{kind.capitalize()} ({len(values)})")
    print_table(["path", "size"], [(f.path, f.file_size) for f in files], title=f"Artifacts ({len(files)})")


@runs.command()
@click.argument("run_id")
@store_option
def delete(run_id: str, store: str | None) -> None:
    """Soft-delete a run: hidden from searches until restored.

    \b
    Example:
      lite-tracker runs delete 0190f1a2b3c4d5e6f708192a3b4c5d6e
    """
    read_client(store).delete_run(run_id)
    click.echo(f"Deleted run {run_id} (undo: lite-tracker runs restore {run_id}).")


@runs.command()
@click.argument("run_id")
@store_option
def restore(run_id: str, store: str | None) -> None:
    """Restore a deleted run.

    \b
    Example:
      lite-tracker runs restore 0190f1a2b3c4d5e6f708192a3b4c5d6e
    """
    read_client(store).restore_run(run_id)
    click.echo(f"Restored run {run_id}.")
