"""``lite-tracker report``: parse, call :func:`lite_tracker.ui.report.write_report`, print one line."""

from __future__ import annotations

import click

from ..errors import LiteTrackerException
from ._common import existing_store, store_option


@click.command("report")
@click.option("--experiment", "-e", required=True, metavar="NAME", help="The experiment to report on.")
@click.option("--filter", "filter_string", default="", metavar="FILTER",
              help="Only runs matching this filter, e.g. \"params.optimizer = 'adam'\".")
@click.option("--order-by", multiple=True, metavar="ORDER",
              help="Order of the runs, e.g. 'metrics.val_loss ASC' (repeatable; default: newest first).")
@click.option("--max-runs", type=int, default=100, show_default=True,
              help="At most this many runs (up to 1000); the report says when more match.")
@click.option("--metrics", metavar="A,B", default=None,
              help="Comma-separated metrics to show (default: every metric of the runs).")
@click.option("--max-points", type=int, default=500, show_default=True,
              help="Points per curve; longer histories are downsampled keeping each bucket's extremes.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="The HTML file to write.")
@store_option
def report(experiment: str, filter_string: str, order_by: tuple[str, ...], max_runs: int, metrics: str | None,
           max_points: int, output: str, store: str | None) -> None:
    """Write one self-contained HTML file (no network needed to open it) with an experiment's runs table,
    metric curves and parallel coordinates of params against a metric.

    \b
    Example:
      lite-tracker report --experiment demo-sweep --order-by 'metrics.val_loss ASC' -o report.html
    """
    try:
        from ..ui.report import write_report
    except ImportError as e:
        raise LiteTrackerException(f"`lite-tracker report` needs the ui extra: `pip install 'lite-tracker[ui]'` "
                                   f"({e}).") from e
    keys = None if metrics is None else [k.strip() for k in metrics.split(",") if k.strip()]
    written = write_report(output, experiment, store=existing_store(store), filter_string=filter_string,
                           order_by=order_by, max_runs=max_runs, metrics=keys, max_points=max_points)
    click.echo(written.summary())
