"""Run context: git commit, branch, dirty flag and remote, the entry point, Python and library versions,
read from a real git checkout (made with the git binary) without running git at run creation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lite_tracker.tracking._context import git_info

pytestmark = pytest.mark.skipif(subprocess.run(["git", "--version"], capture_output=True).returncode != 0,
                                reason="needs the git binary to build a checkout")


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "feature/x")
    (repo / "train.py").write_text("print('hi')\n")
    (repo / "sub").mkdir()
    (repo / "sub" / "data.txt").write_text("1\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    _git(repo, "remote", "add", "origin", "https://alice:s3cret@example.com/team/proj.git")
    return repo


def test_commit_branch_clean_and_remote_without_credentials(repo: Path) -> None:
    info = git_info(repo / "sub")
    assert info is not None
    assert info.commit == _git(repo, "rev-parse", "HEAD")
    assert info.branch == "feature/x"
    assert info.dirty is False
    assert info.repo_url == "https://example.com/team/proj.git"


def test_an_edited_or_deleted_tracked_file_makes_it_dirty_an_untracked_one_does_not(repo: Path) -> None:
    (repo / "new.txt").write_text("untracked\n")
    assert git_info(repo).dirty is False  # type: ignore[union-attr]
    (repo / "train.py").write_text("print('changed')\n")
    assert git_info(repo).dirty is True  # type: ignore[union-attr]
    _git(repo, "checkout", "--", "train.py")
    assert git_info(repo).dirty is False  # type: ignore[union-attr]
    (repo / "sub" / "data.txt").unlink()
    assert git_info(repo).dirty is True  # type: ignore[union-attr]


def test_packed_refs_detached_head_and_linked_worktree(repo: Path, tmp_path: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    _git(repo, "pack-refs", "--all")
    assert git_info(repo).commit == head  # type: ignore[union-attr]
    _git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "other")
    info = git_info(tmp_path / "wt")
    assert info is not None and info.commit == head and info.branch == "other" and info.dirty is False
    _git(repo, "checkout", "-q", "--detach")
    info = git_info(repo)
    assert info is not None and info.commit == head and info.branch is None


def test_no_checkout_or_a_broken_one_means_no_git_info_never_an_error(tmp_path: Path, repo: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_info(plain) is None
    head = _git(repo, "rev-parse", "HEAD")
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/gone\n")
    assert git_info(repo) is None
    (repo / ".git" / "HEAD").write_bytes(b"\xff\xfe garbage")
    assert git_info(repo) is None
    (repo / ".git" / "HEAD").write_text(head + "\n")
    (repo / ".git" / "index").write_bytes(b"DIRC\x00\x00\x00\x02\x00\x00\x00\x09truncated")
    info = git_info(repo)
    assert info is None


SCRIPT = """
import json, sys
import numpy
import lite_tracker as mlflow
mlflow.set_tracking_uri(sys.argv[1])
with mlflow.start_run() as run:
    pass
print(json.dumps(mlflow.get_run(run.info.run_id).data.tags))
"""


def _run_script(folder: Path, store: Path) -> dict[str, str]:
    script = folder / "train_script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    out = subprocess.run([sys.executable, str(script), str(store)], capture_output=True, text=True, timeout=120,
                         cwd=folder)
    assert out.returncode == 0, out.stderr
    tags: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    return tags


def test_a_script_in_a_checkout_gets_mlflows_system_tags(repo: Path, tmp_path: Path) -> None:
    import numpy

    import lite_tracker

    tags = _run_script(repo, tmp_path / "s.duckdb")
    assert tags["mlflow.source.name"] == str(repo / "train_script.py")
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.source.git.commit"] == _git(repo, "rev-parse", "HEAD")
    assert tags["mlflow.source.git.branch"] == "feature/x"
    assert tags["mlflow.source.git.dirty"] == "false"  # the new script is untracked
    assert tags["mlflow.source.git.repoURL"] == "https://example.com/team/proj.git"
    assert tags["lite_tracker.python.version"] == ".".join(map(str, sys.version_info[:3]))
    libraries = tags["lite_tracker.libraries"].split(", ")
    assert f"numpy=={numpy.__version__}" in libraries and f"lite-tracker=={lite_tracker.__version__}" in libraries
    assert not any(lib.startswith("torch==") for lib in libraries)  # never imported on our behalf


def test_a_script_outside_any_checkout_gets_no_git_tags(tmp_path: Path) -> None:
    folder = tmp_path / "nogit"
    folder.mkdir()
    tags = _run_script(folder, tmp_path / "s.duckdb")
    assert tags["mlflow.source.name"] == str(folder / "train_script.py")
    assert not [k for k in tags if k.startswith("mlflow.source.git")]
