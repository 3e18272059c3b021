"""``lite-tracker import mlflow`` and ``lite-tracker export``: parse, call :mod:`lite_tracker.io`, render
(a progress line and one line per warning on stderr, a one-line summary on stdout)."""

from __future__ import annotations

import sys
import warnings
from typing import Any

import click

from ..io import FORMATS
from ._common import store_option
from ._progress import ProgressLine


def _import_progress(p: Any) -> str:
    count = f" {p.done}/{p.total}" if p.stage == "artifacts" else ""
    return f"import: {p.stage}{count}        "


@click.group(name="import")
def import_group() -> None:
    """Import runs from another tracker into the store.

    \b
    Example:
      lite-tracker import mlflow --from ./mlruns --store lite_tracker.duckdb
    """


@import_group.command(name="mlflow")
@click.option("--from", "source", required=True, metavar="SOURCE",
              help="sqlite:///path/to/mlflow.db, or an MLflow file store folder such as ./mlruns.")
@store_option
@click.option("--no-copy-artifacts", is_flag=True,
              help="Keep artifacts where MLflow wrote them and reference them (default: copy).")
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
def import_mlflow(source: str, store: str | None, no_copy_artifacts: bool, quiet: bool) -> None:
    """Import an MLflow store (sqlite:///mlflow.db or an mlruns folder): experiments, runs with their ids,
    params, tags, metric histories, dataset inputs, artifacts, registered models. Running it again adds only
    what is new. A broken dataset input is skipped with a warning naming it.

    \b
    Example:
      lite-tracker import mlflow --from sqlite:///mlflow.db --store lite_tracker.duckdb
    """
    from ..io import import_mlflow as run_import

    line = ProgressLine(not quiet and sys.stderr.isatty(), _import_progress)
    try:
        with warnings.catch_warnings(record=True) as caught:
            result = run_import(source, store=store, copy_artifacts=not no_copy_artifacts, progress=line)
    finally:
        line.end()
    for warning in caught:
        click.echo(f"lite-tracker: warning: {warning.message}", err=True)
    click.echo(result.summary())


@click.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="parquet", show_default=True,
              help="Output format.")
@click.option("-o", "--output", required=True, metavar="PATH", help="A new (or empty) folder to write.")
@click.option("--experiment", metavar="NAME", help="Only the runs of this experiment.")
@click.option("--filter", "filter_string", metavar="FILTER",
              help="Only runs matching this filter, e.g. \"params.lr = '0.1'\".")
@store_option
def export(fmt: str, output: str, experiment: str | None, filter_string: str | None, store: str | None) -> None:
    """Export runs as Parquet, CSV, DuckDB or an MLflow file store.

    All runs, one experiment's, or a filter's, as files that stock DuckDB, pandas or polars open, with a
    README that says what each file is; or as an MLflow mlruns folder.

    \b
    Example:
      lite-tracker export --format parquet -o bundle --experiment demo-sweep
    """
    from ..io import export as run_export

    result = run_export(output, format=fmt, experiment=experiment, filter_string=filter_string, store=store)
    click.echo(result.summary())
