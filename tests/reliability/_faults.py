"""Real faults for the reliability tests: a small file system that fills up, a read-only view of a
folder, a program holding a store file open read-write. Nothing is simulated in Python."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True, timeout=30).returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30, check=True)


@contextmanager
def small_disk(folder: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``folder`` (needs root; the test is skipped otherwise)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not IS_ROOT or not _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)):
        pytest.skip("a small tmpfs needs root and mount permission")
    try:
        yield folder
    finally:
        _umount(folder)


def fill_disk(folder: Path, leave: int) -> Path:
    """Write a filler file so that about ``leave`` bytes stay free on ``folder``'s file system."""
    st = os.statvfs(folder)
    filler = folder / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return filler


@contextmanager
def read_only_view(folder: Path) -> Iterator[Path]:
    """``folder`` seen read-only: a read-only bind mount as root (root ignores permissions), else the
    folder itself with its write permissions removed."""
    if IS_ROOT:
        view = folder.with_name(folder.name + "-ro")
        view.mkdir()
        if not _mount("--bind", str(folder), str(view)):
            pytest.skip("a read-only bind mount needs mount permission")
        try:
            if not _mount("-o", "remount,ro,bind", str(view)):
                pytest.skip("a read-only bind mount needs mount permission")
            yield view
        finally:
            _umount(view)
        return
    modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
    for p, mode in modes.items():
        p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield folder
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative name -> sha256), to show a store was left unchanged."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@contextmanager
def held_read_write(db: Path) -> Iterator[int]:
    """Another program (a plain ``duckdb.connect(path)``) holding the store file read-write; yields its
    PID."""
    code = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.read()"
    proc = subprocess.Popen([sys.executable, "-c", code, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc.pid
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()


def assert_verified(db: Path) -> None:
    """``lite-tracker doctor --verify`` finds nothing failing in the store: every invariant of its rows
    holds, the file reads whole, every pending segment is readable."""
    from lite_tracker.settings import resolve_settings
    from lite_tracker.store.doctor import FAIL, diagnose

    failed = [f"{c.name}: {c.message}" for c in diagnose(resolve_settings(str(db)), verify=True) if c.status == FAIL]
    assert failed == [], failed
