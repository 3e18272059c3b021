"""What every ``lite-tracker`` command shares: the ``--store`` and ``--json`` options, the check that a
command which only reads names an existing store, and output (rich tables on a terminal, JSON on demand).

Commands print data to stdout and everything else (progress, warnings) to stderr; colours appear only
on a terminal (rich decides from the stream).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..entities import ViewType
from ..errors import InvalidParameterValue, ResourceNotFound

if TYPE_CHECKING:
    import pyarrow as pa

    from ..tracking.client import MlflowClient

F = TypeVar("F", bound=Callable[..., Any])

STORE_HELP = ("Store: a .duckdb path, or s3://bucket/prefix where the command allows it "
              "(default: LITE_TRACKER_URI, a local MLFLOW_TRACKING_URI, or ./lite_tracker.duckdb).")


def store_option(func: F) -> F:
    """The ``--store`` option every command takes."""
    return click.option("--store", metavar="PATH", default=None, help=STORE_HELP)(func)


def json_option(func: F) -> F:
    """The ``--json`` option of every command whose output is data."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(func)


VIEWS = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL,
         "active_only": ViewType.ACTIVE_ONLY, "deleted_only": ViewType.DELETED_ONLY}


def view_option(func: F) -> F:
    """The ``--view`` option of commands that list experiments or runs (MLflow's ``*_only`` names work too)."""
    return click.option("--view", type=click.Choice(list(VIEWS)), default="active", show_default=True,
                        help="Which lifecycle stage to show: active, deleted or all.")(func)


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


def read_client(store: str | None) -> MlflowClient:
    """A client of ``store``, which must exist (see :func:`existing_store`)."""
    from ..tracking.client import MlflowClient

    return MlflowClient(existing_store(store))


def store_uri(store: str | None) -> str:
    """``store`` as given, or the store the library resolves by default; it must exist."""
    from ..settings import resolve_settings

    return existing_store(store) or resolve_settings().tracking_uri


def timestamp(ms: int | None) -> str:
    """Epoch milliseconds as ``YYYY-MM-DD HH:MM:SS`` UTC for tables ("" for None)."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def csv_bytes(table: pa.Table) -> bytes:
    """An Arrow table as CSV with a header line, quoted only where needed (as pandas, and MLflow, write it)."""
    return bytes(table.to_pandas().to_csv(index=False), "utf-8")


def write_output(data: bytes, output: str) -> None:
    """Write ``data`` to the file ``output`` ("-": stdout)."""
    try:
        with click.open_file(output, "wb") as f:
            f.write(data)
    except OSError as e:
        raise InvalidParameterValue(f"Cannot write {output}: {e.strerror or e}.") from e


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON to stdout (values JSON cannot hold, e.g. NaN, as strings)."""
    click.echo(json.dumps(_strings_for_nonfinite(data), indent=2, default=str, allow_nan=False))


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    """Write a table to stdout: boxed and coloured on a terminal, plain text when piped."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False)
    for column in columns:  # Text, not markup: a name or value such as "[red]" is shown as written
        table.add_column(Text(column))
    for row in rows:
        table.add_row(*(Text("" if v is None else str(v)) for v in row))
    console = Console(soft_wrap=False)
    if not console.is_terminal:  # piped: as wide as the data, never cut to 80 columns
        console = Console(soft_wrap=False, width=100_000)
    console.print(table)


def _strings_for_nonfinite(data: Any) -> Any:
    if isinstance(data, float) and (data != data or data in (float("inf"), float("-inf"))):
        return str(data)
    if isinstance(data, dict):
        return {k: _strings_for_nonfinite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_strings_for_nonfinite(v) for v in data]
    return data
