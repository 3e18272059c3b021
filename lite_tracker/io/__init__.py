"""Moving data in and out of a store: import an MLflow store, export portable bundles.

Example:
    >>> from lite_tracker.io import import_mlflow, export  # doctest: +SKIP
    >>> import_mlflow("sqlite:///mlflow.db", store="lite_tracker.duckdb")  # doctest: +SKIP
    >>> export("bundle", format="parquet", store="lite_tracker.duckdb")  # doctest: +SKIP
"""

from __future__ import annotations

from ._export import FORMATS, ExportResult, export
from ._import import ImportProgress, ImportResult, import_mlflow
from ._mlflow_source import SkippedImportWarning

__all__ = ["FORMATS", "ExportResult", "ImportProgress", "ImportResult", "SkippedImportWarning", "export",
           "import_mlflow"]
