"""Every command's output files in one place: written through a temporary file swapped in at
the end (never half-written, never replaced with nothing), with the umask's modes, links
followed, partial files of killed runs cleaned up, and a lock where two runs could meet. What
counts as `humc run`'s own output (so that --output never takes someone else's file) is here too.
"""
from __future__ import annotations

from .errors import HumError
import glob
import json
import os
import stat
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file renamed over it. A symbolic link is
    followed (its target is rewritten, the link kept); an existing file keeps its mode, a new one
    gets the umask's, as any editor would leave them."""
    path = path.resolve() if path.is_symlink() else path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode) if path.exists() else 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def new_partial(out: Path) -> tuple[int, str]:
    """A temporary file beside OUT for the corpus being written, named with this process's id;
    the ones a run killed outright (SIGKILL cannot be caught) left behind are removed first."""
    for stale in out.parent.glob(f".{glob.escape(out.name)}.*.partial"):
        pid = stale.name[len(out.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".partial", dir=out.parent)
    os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes it private; a corpus is an ordinary file
    return fd, tmp


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


RUN_KEYS = ("id", "task", "format", "spec")  # every line humc run writes has them


class OutputRefused(HumError):
    """The output path cannot be used: one line for the user."""


def check_path(output: Path, input_path: Path) -> None:
    """Refuse an output path that is not a file of ours to write, before any work is done."""
    if output.is_dir():
        raise OutputRefused(f"--output {output} is a folder: give a file name")
    if output.exists() and input_path.exists() and output.resolve() == input_path.resolve():
        raise OutputRefused(f"--output {output} is the input file: it would be overwritten")
    if output.parent.exists() and not os.access(output.parent, os.W_OK | os.X_OK):
        raise OutputRefused(f"cannot write into {output.parent}: permission denied")
    for path in (output, output.with_name(output.name + ".partial")):
        if path.exists():
            problem = foreign(path)
            if problem:
                raise OutputRefused(f"{path} is not the output of a humc run ({problem}); "
                                    "it is left as it is: give another --output")


def foreign(path: Path) -> str | None:
    """Why `path` is not a file humc run wrote, or None. Its last line may be cut short (a run
    interrupted mid-write); every other line must be one of ours."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return "it is not UTF-8 text"
    except OSError as e:
        return f"it cannot be read: {e.strerror}"
    lines = text.splitlines(keepends=True)
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines) and not line.endswith("\n"):
                continue  # cut short by an interruption
            return f"line {n} is not JSON"
        missing = [k for k in RUN_KEYS if not isinstance(obj, dict) or k not in obj]
        if missing:
            return f"line {n} has no \"{missing[0]}\""
    return None


class OutputLock:
    """An exclusive lock on a hidden file beside the output, held while a run writes it and
    removed when the run ends. A second run into the same output is refused at once."""

    def __init__(self, output: Path):
        self.path = output.with_name(f".{output.name}.lock")
        self.fd: int | None = None

    def __enter__(self) -> "OutputLock":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # the holder before us may have removed the file between our open and our lock
            if os.fstat(fd).st_ino != os.stat(self.path).st_ino:
                raise BlockingIOError
        except (BlockingIOError, FileNotFoundError):
            os.close(fd)
            raise OutputRefused(f"another humc run is writing {self.path.name[1:-5]} "
                                f"(it holds {self.path}); wait for it, or write to another --output") from None
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            try:
                self.path.unlink()
            except OSError:
                pass
            os.close(self.fd)  # closing releases the lock
            self.fd = None
