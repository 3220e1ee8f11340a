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
    while not folder.exists() and folder != folder.parent:  # a path deleted in the working tree
        folder = folder.parent
    try:
        out = _git(["rev-parse", "--show-toplevel"], folder.resolve())
    except GitError:
        raise GitError(f"{path} is not in a git repository: give two files or folders to compare instead") from None
    return Path(out.decode("utf-8").strip())


def export(root: Path, rev: str, dest: Path) -> None:
    """The .hum files of the repository's tree at `rev`, written into `dest` (specs import only
    .hum files; nothing else is needed, and nothing else is written)."""
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], root)
    except GitError:
        raise GitError(f"unknown revision {rev!r} in {root}") from None
    listed = _git(["ls-tree", "-r", "--name-only", "-z", rev], root).decode("utf-8").split("\0")
    specs = [p for p in listed if p.endswith(".hum")]
    dest.mkdir(parents=True, exist_ok=True)
    if not specs:
        return
    data = _git(["archive", "--format=tar", rev, "--", *specs], root)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter=_regular_files)


def _regular_files(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    """Plain files and folders inside `dest` only: a link (or a name escaping it) is left out."""
    if not (member.isfile() or member.isdir()):
        return None
    try:
        return tarfile.data_filter(member, path)
    except tarfile.FilterError:
        return None


def tracked_specs(root: Path, folder: Path) -> list[Path]:
    """The .hum files under `folder` that git knows or would add (tracked, or untracked and not
    ignored): a virtual environment's copy of the standard library is not a spec of the project."""
    out = _git(["ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", str(folder)], root)
    return sorted({root / p for p in out.decode("utf-8").split("\0") if p.endswith(".hum")})
