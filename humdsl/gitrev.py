"""A git revision's files, through the git command line: where the repository is, and a copy of
its tree at a revision in a folder."""
from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from .errors import HumError


class GitError(HumError):
    """Not in a repository, git missing, or a revision git does not know."""


def _git(args: list[str], cwd: Path) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed (humc diff --against reads revisions with it)") from None
    if done.returncode != 0:
        raise GitError(done.stderr.decode("utf-8", "replace").strip().splitlines()[-1] if done.stderr else
                       f"git {' '.join(args)} failed")
    return done.stdout


def repo_root(path: Path) -> Path:
    folder = path if path.is_dir() else path.parent
    try:
        out = _git(["rev-parse", "--show-toplevel"], folder.resolve())
    except GitError:
        raise GitError(f"{path} is not in a git repository: give two files or folders to compare instead") from None
    return Path(out.decode("utf-8").strip())


def export(root: Path, rev: str, dest: Path) -> None:
    """The repository's tree at `rev`, written into `dest`."""
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], root)
    except GitError:
        raise GitError(f"unknown revision {rev!r} in {root}") from None
    data = _git(["archive", "--format=tar", rev], root)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
