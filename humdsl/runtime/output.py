"""The output file of `humc run`: whose it is, and who is writing it.

`--output` may name a file from an earlier run (to resume), but never something else: the input
itself, a gold file, a folder, a file of text. A lock taken beside it keeps two runs from
appending to the same file at once. All of it is decided before the model is loaded.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

RUN_KEYS = ("id", "task", "format", "spec")  # every line humc run writes has them


class OutputRefused(Exception):
    """The output path cannot be used: one line for the user."""


def check_path(output: Path, input_path: Path) -> None:
    """Refuse an output path that is not a file of ours to write, before any work is done."""
    if output.is_dir():
        raise OutputRefused(f"--output {output} is a folder: give a file name")
    if output.exists() and input_path.exists() and output.resolve() == input_path.resolve():
        raise OutputRefused(f"--output {output} is the input file: it would be overwritten")
    parent = output.parent if str(output.parent) else Path(".")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise OutputRefused(f"cannot write into {parent}: permission denied")
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
