"""What every ``lite-tracker`` command shares: the ``--store`` and ``--json`` options, the check that a
command which only reads names an existing store, and output (rich tables on a terminal, JSON on demand).

Commands print data to stdout and everything else (progress, warnings) to stderr; colours appear only
on a terminal (rich decides from the stream).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from ..errors import ResourceNotFound

F = TypeVar("F", bound=Callable[..., Any])

STORE_HELP = ("Store: a .duckdb path, or s3://bucket/prefix where the command allows it "
              "(default: LITE_TRACKER_URI, a local MLFLOW_TRACKING_URI, or ./lite_tracker.duckdb).")


def store_option(func: F) -> F:
    """The ``--store`` option every command takes."""
    return click.option("--store", metavar="PATH", default=None, help=STORE_HELP)(func)


def json_option(func: F) -> F:
    """The ``--json`` option of every command whose output is data."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(func)


def existing_store(store: str | None) -> str | None:
    """``store`` for a command that only reads: a store that does not exist is an error naming the path (a
    typo in --store must not create a new, empty store). ``s3://`` stores are checked by the bucket client."""
    from .._remote import is_remote
    from ..settings import resolve_settings

    if store is not None and is_remote(store):
        return store
    path = resolve_settings(store).store_path
    if not path.exists():
        raise ResourceNotFound(f"No lite_tracker store at {path}: check --store (or LITE_TRACKER_URI); "
                               "a command that only reads never creates one.")
    return store


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON to stdout (values JSON cannot hold, e.g. NaN, as strings)."""
    click.echo(json.dumps(_strings_for_nonfinite(data), indent=2, default=str, allow_nan=False))


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    """Write a table to stdout: boxed and coloured on a terminal, plain text when piped."""
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, title=title, show_lines=False)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console(soft_wrap=False).print(table)


def _strings_for_nonfinite(data: Any) -> Any:
    if isinstance(data, float) and (data != data or data in (float("inf"), float("-inf"))):
        return str(data)
    if isinstance(data, dict):
        return {k: _strings_for_nonfinite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_strings_for_nonfinite(v) for v in data]
    return data
