"""The public surface is small, explicit and importable the way MLflow users import it."""

from __future__ import annotations

import subprocess
import sys

import lite_tracker


def test_all_names_exist_and_are_documented() -> None:
    for name in lite_tracker.__all__:
        obj = getattr(lite_tracker, name)
        if callable(obj):
            assert obj.__doc__, f"{name} has no docstring"


def test_mlflow_import_paths() -> None:
    from lite_tracker.tracking import MlflowClient as B
    from lite_tracker.tracking.client import MlflowClient as A

    assert A is B is lite_tracker.MlflowClient
    from lite_tracker.entities import FileInfo, LifecycleStage, RunData, RunInfo, RunStatus  # noqa: F401


def test_import_is_light() -> None:
    heavy = ("('duckdb', 'pyarrow', 'pandas', 'fsspec', 'PIL', 'yaml', 'numpy', 'deltalake', 's3fs', 'botocore', "
             "'sklearn', 'starlette', 'uvicorn', 'click', 'rich', 'plotly', 'psutil')")
    code = f"import sys, lite_tracker; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
