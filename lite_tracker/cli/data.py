"""``lite-tracker import mlflow`` and ``lite-tracker export``: parse, call :mod:`lite_tracker.io`, render
(a progress line on stderr, a one-line summary on stdout)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._progress import ProgressLine


def _import_progress(p: Any) -> str:
    count = f" {p.done}/{p.total}" if p.stage == "artifacts" else ""
    return f"import: {p.stage}{count}        "


def _import_mlflow(args: argparse.Namespace) -> int:
    """Import an MLflow store (sqlite:///mlflow.db or an mlruns folder): experiments, runs with their ids,
    params, tags, metric histories, artifacts, registered models. Running it again adds only what is new.
    Example: lite-tracker import mlflow --from sqlite:///mlflow.db --store lite_tracker.duckdb"""
    from ..io import import_mlflow

    line = ProgressLine(not args.quiet and sys.stderr.isatty(), _import_progress)
    try:
        result = import_mlflow(args.source, store=args.store, copy_artifacts=not args.no_copy_artifacts,
                               progress=line)
    finally:
        line.end()
    print(result.summary())
    return 0


def _export(args: argparse.Namespace) -> int:
    """Export runs (all, one experiment's, or a filter's) as Parquet, CSV or DuckDB files with a README, or
    as an MLflow file store. Example: lite-tracker export --format parquet -o bundle --experiment demo-sweep"""
    from ..io import export

    result = export(args.output, format=args.format, experiment=args.experiment, filter_string=args.filter,
                    store=args.store)
    print(result.summary())
    return 0


def add_data_commands(sub: Any, store_help: str) -> None:
    """Add ``import mlflow`` and ``export`` to the ``lite-tracker`` parser."""
    from ..io import FORMATS

    imp = sub.add_parser("import", help="import runs from another tracker: import mlflow --from ...",
                         description="Import runs from another tracker into the store.")
    sources = imp.add_subparsers(dest="import_command", required=True)
    mlflow = sources.add_parser("mlflow", help="import an MLflow store (sqlite:///mlflow.db or ./mlruns)",
                                description=_import_mlflow.__doc__)
    mlflow.add_argument("--from", dest="source", required=True, metavar="SOURCE",
                        help="sqlite:///path/to/mlflow.db, or an MLflow file store folder such as ./mlruns")
    mlflow.add_argument("--store", help=store_help)
    mlflow.add_argument("--no-copy-artifacts", action="store_true",
                        help="keep artifacts where MLflow wrote them and reference them (default: copy)")
    mlflow.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    mlflow.set_defaults(func=_import_mlflow)

    exp = sub.add_parser("export", help="export runs as parquet, csv, duckdb or an MLflow mlruns folder",
                         description=_export.__doc__)
    exp.add_argument("--format", choices=FORMATS, default="parquet", help="output format (default: parquet)")
    exp.add_argument("-o", "--output", required=True, metavar="PATH", help="a new (or empty) folder to write")
    exp.add_argument("--experiment", metavar="NAME", help="only the runs of this experiment")
    exp.add_argument("--filter", metavar="FILTER", help="only runs matching this filter, e.g. \"params.lr = '0.1'\"")
    exp.add_argument("--store", help=store_help)
    exp.set_defaults(func=_export)
