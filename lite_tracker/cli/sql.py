"""``lite-tracker sql "SELECT ..."``: the store's sandboxed read-only SQL (``MlflowClient.sql``) from a shell."""

from __future__ import annotations

import click

from ..store.sandbox import DEFAULT_TIMEOUT
from ._common import csv_bytes, json_option, print_json, print_table, read_client, store_option, write_output


@click.command()
@click.argument("query")
@store_option
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (with a header line) instead of a table.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT, show_default=True,
              metavar="S", help="Seconds the query may run before it is stopped.")
def sql(query: str, store: str | None, as_json: bool, as_csv: bool, timeout: float) -> None:
    """Run read-only SQL over the store's views.

    One SELECT over experiments, experiment_tags, runs, params, tags, metrics, latest_metrics and the
    registry's views, in a sandbox that sees nothing else.

    \b
    Example:
      lite-tracker sql "SELECT key, min(value) AS best FROM latest_metrics GROUP BY key" --csv
    """
    if as_json and as_csv:
        raise click.UsageError("Give --json or --csv, not both.")
    table = read_client(store).sql(query, timeout=timeout)
    if as_csv:
        write_output(csv_bytes(table), "-")
    elif as_json:
        print_json(table.to_pylist())
    else:
        print_table(table.column_names, list(zip(*(column.to_pylist() for column in table.columns))))
