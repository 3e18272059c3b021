"""The layers of the package only import downward (contracts in pyproject.toml, see ARCHITECTURE.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    done = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_every_package_is_in_a_layer() -> None:
    """A new top-level module or package must be placed in the layers contract, or nothing checks it."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    named = {name.strip() for layer in config["layers"] for name in layer.split("|")}
    found = {f"lite_tracker.{p.stem if p.is_file() else p.name}" for p in (ROOT / "lite_tracker").iterdir()
             if (p.suffix == ".py" and p.stem not in ("__init__", "__main__")) or (p / "__init__.py").is_file()}
    assert found - named == set(), f"place these in the layers contract of pyproject.toml: {sorted(found - named)}"
