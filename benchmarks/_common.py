"""What the benchmark scripts share: the libraries compared, a quiet offline child environment, the
child's result channel, the pre-flight import check and the --only/--workloads options."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

LIBS = ("lite_tracker", "mlflow", "trackio")
LIB_ALIASES = {"lite": "lite_tracker", "lite-tracker": "lite_tracker"}
DISTRIBUTIONS = {"lite_tracker": "lite-tracker", "mlflow": "mlflow", "trackio": "trackio"}

# Keep every library offline, quiet and inside the temporary store folder.
QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "PYTHONWARNINGS": "ignore",
}


def child_env(store: Path) -> dict[str, str]:
    """Environment for a child: quiet, offline, every library file inside ``store``."""
    return {**os.environ, **QUIET_ENV, "TRACKIO_DIR": str(store / "trackio"), "HF_HOME": str(store / "hf")}


def result_stream() -> IO[str]:
    """In a child: a private copy of stdout for the one JSON result line; whatever a library prints
    (even from C) goes to stderr from now on."""
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return out


def add_selection(p: argparse.ArgumentParser, workloads: tuple[str, ...]) -> None:
    """The --only and --workloads options."""
    p.add_argument("--only", default=",".join(LIBS), help=f"comma-separated libraries from {','.join(LIBS)}")
    p.add_argument("--workloads", default=",".join(workloads), help=f"comma-separated from {','.join(workloads)}")


def resolve_selection(p: argparse.ArgumentParser, args: argparse.Namespace, workloads: tuple[str, ...]) -> None:
    """Turn --only and --workloads into checked lists (aliases such as ``lite`` accepted)."""
    args.only = [LIB_ALIASES.get(x.strip(), x.strip()) for x in args.only.split(",") if x.strip()]
    args.workloads = [x.strip() for x in args.workloads.split(",") if x.strip()]
    for name, valid in (("--only", LIBS), ("--workloads", workloads)):
        bad = [x for x in getattr(args, name[2:]) if x not in valid]
        if bad:
            p.error(f"{name}: unknown {', '.join(bad)} (choose from {', '.join(valid)})")


def preflight(libs: list[str], checks: dict[str, str], extra: tuple[str, ...]) -> dict[str, str]:
    """Check each library imports in this interpreter with the API a script uses (``checks``: code per
    library); exit with an install hint if one does not. Return the versions of the libraries and of
    the ``extra`` distributions found."""
    versions = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for lib in libs:
            proc = subprocess.run([sys.executable, "-c", checks[lib]], cwd=tmp, env=child_env(Path(tmp)),
                                  capture_output=True, text=True, check=False)  # fmt: skip
            if proc.returncode != 0:
                why = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
                sys.exit(
                    f"error: {lib} cannot be used from {sys.executable}: {why}\n"
                    f'Install it (from the repository root: pip install -e ".[bench]") '
                    f"or leave it out with --only."
                )
            try:
                versions[lib] = importlib.metadata.version(DISTRIBUTIONS[lib])
            except importlib.metadata.PackageNotFoundError:
                versions[lib] = "unknown"
    for dep in extra:
        try:
            versions[dep] = importlib.metadata.version(dep)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions
