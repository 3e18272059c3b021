"""Where a run comes from, as MLflow's system tags: the git checkout (commit, branch, dirty flag, remote
URL), the entry point (script or notebook), Python and the versions of key libraries already loaded.

Everything is read from files and ``sys``: no ``git`` subprocess, no import of a library the user has not
imported. Any problem reading the checkout means "no git tags", never an error.
"""

from __future__ import annotations

import os
import re
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

# Libraries whose version is worth a tag, by import name -> name shown (only if already imported).
KEY_LIBRARIES = (("lite_tracker", "lite-tracker"), ("numpy", "numpy"), ("pandas", "pandas"),
                 ("polars", "polars"), ("sklearn", "scikit-learn"), ("torch", "torch"),
                 ("tensorflow", "tensorflow"), ("jax", "jax"), ("xgboost", "xgboost"),
                 ("lightgbm", "lightgbm"), ("transformers", "transformers"))
PYTHON_VERSION_TAG = "lite_tracker.python.version"
LIBRARIES_TAG = "lite_tracker.libraries"
MAX_INDEX_ENTRIES = 50_000  # a bigger checkout is not stat'ed file by file for the dirty flag


@dataclass(frozen=True)
class GitInfo:
    """What a checkout's files say about it."""

    commit: str
    branch: str | None
    dirty: bool | None
    repo_url: str | None


def source_tags() -> dict[str, str]:
    """Entry point and git tags of this process (computed once by the caller and cached)."""
    notebook = _notebook_name()
    main = sys.argv[0] if sys.argv and sys.argv[0] else ""
    script = Path(main).absolute() if main and main != "-c" and Path(main).exists() else None
    if notebook:
        tags = {"mlflow.source.type": "NOTEBOOK", "mlflow.source.name": notebook}
        start = Path(notebook).parent if os.path.isabs(notebook) else Path.cwd()
    else:
        source_type = "NOTEBOOK" if "ipykernel" in sys.modules else "LOCAL"
        name = str(script) if script else (main or "<console>")
        tags = {"mlflow.source.type": source_type, "mlflow.source.name": name}
        start = script.parent if script else Path.cwd()
    tags[PYTHON_VERSION_TAG] = ".".join(map(str, sys.version_info[:3]))
    git = git_info(start)
    if git is not None:
        tags["mlflow.source.git.commit"] = git.commit
        if git.branch:
            tags["mlflow.source.git.branch"] = git.branch
        if git.dirty is not None:
            tags["mlflow.source.git.dirty"] = str(git.dirty).lower()
        if git.repo_url:
            tags["mlflow.source.git.repoURL"] = git.repo_url
    return tags


def library_tags() -> dict[str, str]:
    """``lite_tracker.libraries``: "name==version" of the key libraries this process has imported."""
    found = []
    for module_name, shown in KEY_LIBRARIES:
        module = sys.modules.get(module_name)
        version = getattr(module, "__version__", None) if module is not None else None
        if isinstance(version, str):
            found.append(f"{shown}=={version}")
    return {LIBRARIES_TAG: ", ".join(found)} if found else {}


def _notebook_name() -> str | None:
    """The notebook's path or name under Jupyter (``JPY_SESSION_NAME``) or VS Code (``__vsc_ipynb_file__``)."""
    if "ipykernel" not in sys.modules:
        return None
    main = sys.modules.get("__main__")
    vscode = getattr(main, "__vsc_ipynb_file__", None)
    if isinstance(vscode, str) and vscode:
        return vscode
    return os.environ.get("JPY_SESSION_NAME") or None


def git_info(start: Path) -> GitInfo | None:
    """The checkout containing ``start``, read from its ``.git`` files; None outside a checkout or when
    anything there cannot be read."""
    try:
        return _git_info(start)
    except (OSError, ValueError, UnicodeDecodeError, struct.error):
        return None


def _git_info(start: Path) -> GitInfo | None:
    for folder in (start, *start.parents):
        git = folder / ".git"
        if git.is_file():  # worktree or submodule: "gitdir: <path>"
            text = git.read_text().strip()
            if not text.startswith("gitdir:"):
                return None
            git = (folder / text[7:].strip()).resolve()
        if not git.is_dir():
            continue
        common = git / "commondir"
        roots = [git] + ([(git / common.read_text().strip()).resolve()] if common.is_file() else [])
        head = (git / "HEAD").read_text().strip()
        branch = None
        if head.startswith("ref:"):
            ref = head[4:].strip()
            branch = ref.removeprefix("refs/heads/")
            commit = _resolve_ref(roots, ref)
        else:
            commit = head
        if not commit or not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit):
            return None
        return GitInfo(commit, branch, _dirty(folder, git), _origin_url(roots))
    return None


def _resolve_ref(roots: list[Path], ref: str) -> str | None:
    for root in roots:
        if (root / ref).is_file():
            return (root / ref).read_text().strip() or None
        packed = root / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split(" ", 1)[0]
    return None


def _origin_url(roots: list[Path]) -> str | None:
    """The ``origin`` remote's URL from the git config, without any user or password in it."""
    for root in roots:
        config = root / "config"
        if not config.is_file():
            continue
        section = None
        for line in config.read_text().splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == '[remote "origin"]' and line.startswith("url"):
                url = line.split("=", 1)[1].strip()
                return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", url)
    return None


def _dirty(worktree: Path, git: Path) -> bool | None:
    """Whether a tracked file differs from the index, judged as ``git status`` first does: by size and
    modification time against the index entries (untracked files do not count, as in MLflow). None when
    the index cannot be judged (unknown version, too many files)."""
    data = (git / "index").read_bytes()
    if data[:4] != b"DIRC":
        return None
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3) or count > MAX_INDEX_ENTRIES:
        return None
    pos = 12
    for _ in range(count):
        mtime_s, mtime_ns = struct.unpack(">II", data[pos + 8:pos + 16])
        size = struct.unpack(">I", data[pos + 36:pos + 40])[0]
        flags = struct.unpack(">H", data[pos + 60:pos + 62])[0]
        header = 62
        if version == 3 and flags & 0x4000:
            header += 2
        end = data.index(b"\0", pos + header)
        path = data[pos + header:end].decode()
        pos += (end - pos + 8) & ~7  # entries are NUL-padded to a multiple of 8 bytes
        try:
            st = os.stat(worktree / path)
        except FileNotFoundError:
            return True
        if st.st_size & 0xFFFFFFFF != size or int(st.st_mtime) != mtime_s or st.st_mtime_ns % 10**9 != mtime_ns:
            return True
    return False
