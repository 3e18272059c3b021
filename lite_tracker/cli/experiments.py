"""``lite-tracker experiments search|create|rename|delete|restore|csv``, as MLflow's ``mlflow experiments``."""

from __future__ import annotations

import dataclasses

import click

from ..tracking.fluent import _all_pages
from ._common import (
    VIEWS,
    csv_bytes,
    json_option,
    print_json,
    print_table,
    read_client,
    store_option,
    timestamp,
    view_option,
    write_output,
)


@click.group()
def experiments() -> None:
    """Search, create, rename, delete and restore experiments.

    `experiments csv` writes the runs of an experiment as CSV, as MLflow's command does.

    \b
    Example:
      lite-tracker experiments search --filter "name LIKE 'demo%'"
    """


@experiments.command()
@store_option
@view_option
@click.option("--filter", "filter_string", metavar="FILTER",
              help="MLflow's experiment filter, e.g. \"name LIKE 'demo%' AND tags.team = 'vision'\".")
@click.option("--order-by", multiple=True, metavar="CLAUSE",
              help="e.g. \"creation_time DESC\" (repeat for more keys).")
@click.option("--max-results", type=click.IntRange(min=1), metavar="N", help="At most N experiments (default: all).")
@json_option
def search(store: str | None, view: str, filter_string: str | None, order_by: tuple[str, ...],
           max_results: int | None, as_json: bool) -> None:
    """List the experiments of the store that match a filter.

    \b
    Example:
      lite-tracker experiments search --view all --filter "name LIKE 'demo%'" --json
    """
    client = read_client(store)
    found = _all_pages(lambda n, token: client.search_experiments(VIEWS[view], n, filter_string, list(order_by) or None,
                                                                  token), max_results, 1000)
    if as_json:
        print_json([dataclasses.asdict(e) for e in found])
        return
    print_table(["experiment_id", "name", "lifecycle_stage", "created", "artifact_location"],
                [(e.experiment_id, e.name, e.lifecycle_stage, timestamp(e.creation_time), e.artifact_location)
                 for e in found])


@experiments.command()
@click.argument("name")
@click.option("--artifact-location", "-l", metavar="URI",
              help="Where the runs' artifacts go (a folder or s3:// URL; default: under the store's artifact root).")
@store_option
def create(name: str, artifact_location: str | None, store: str | None) -> None:
    """Create an experiment (the store is created if needed) and print its id.

    \b
    Example:
      lite-tracker experiments create my-sweep --store runs.duckdb
    """
    from ..tracking.client import MlflowClient

    experiment_id = MlflowClient(store).create_experiment(name, artifact_location)
    click.echo(f"Created experiment {name!r} with id {experiment_id}.")


@experiments.command()
@click.argument("experiment_id", metavar="ID")
@click.argument("new_name", metavar="NEW")
@store_option
def rename(experiment_id: str, new_name: str, store: str | None) -> None:
    """Give an experiment a new, unused name.

    \b
    Example:
      lite-tracker experiments rename 1 baseline-sweep
    """
    read_client(store).rename_experiment(experiment_id, new_name)
    click.echo(f"Renamed experiment {experiment_id} to {new_name!r}.")


@experiments.command()
@click.argument("experiment_id", metavar="ID")
@store_option
def delete(experiment_id: str, store: str | None) -> None:
    """Soft-delete an experiment: it and its runs are hidden until restored.

    \b
    Example:
      lite-tracker experiments delete 1
    """
    read_client(store).delete_experiment(experiment_id)
    click.echo(f"Deleted experiment {experiment_id} (undo: lite-tracker experiments restore {experiment_id}).")


@experiments.command()
@click.argument("experiment_id", metavar="ID")
@store_option
def restore(experiment_id: str, store: str | None) -> None:
    """Restore a deleted experiment.

    \b
    Example:
      lite-tracker experiments restore 1
    """
    read_client(store).restore_experiment(experiment_id)
    click.echo(f"Restored experiment {experiment_id}.")


@experiments.command(name="csv")
@click.option("--experiment-id", "-x", required=True, metavar="ID", help="The experiment whose runs to write.")
@click.option("--filename", "-o", "output", default="-", show_default=True, metavar="FILE",
              help="CSV file to write ('-': stdout).")
@store_option
def csv_command(experiment_id: str, output: str, store: str | None) -> None:
    """Write the active runs of an experiment as CSV, one row per run with MLflow's columns (run_id,
    experiment_id, status, artifact_uri, start_time, end_time, metrics.*, params.*, tags.*).

    \b
    Example:
      lite-tracker experiments csv --experiment-id 1 -o runs.csv
    """
    client = read_client(store)
    client.get_experiment(experiment_id)  # an unknown id is an error, not an empty file
    table = client.search_runs_arrow([experiment_id])
    write_output(csv_bytes(table), output)
    if output != "-":
        click.echo(f"Wrote {table.num_rows} runs of experiment {experiment_id} to {output}.")
