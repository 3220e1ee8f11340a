"""Reading JSONL the same way everywhere: every bad line becomes a 'file:line: why' problem."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator


def objects(path: Path, problems: list[str]) -> Iterator[tuple[str, dict]]:
    """(location, object) for each line holding a JSON object; blank lines are skipped and other
    lines reported in `problems`. Raises OSError when the file cannot be opened."""
    with path.open("rb") as fh:  # decoded line by line: one bad line does not stop the file
        for n, raw in enumerate(fh, start=1):
            where = f"{path}:{n}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                problems.append(f"{where}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1})")
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{where}: not JSON ({e.msg} at column {e.colno})")
                continue
            if not isinstance(obj, dict):
                problems.append(f"{where}: a line must be a JSON object")
                continue
            yield where, obj
