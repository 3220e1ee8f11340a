"""Reading JSONL the same way everywhere: every bad line becomes a 'file:line: why' problem."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator


def objects(path: Path, problems: list[str]) -> Iterator[tuple[str, dict]]:
    """(location, object) for each line holding a JSON object; blank lines are skipped and other
    lines reported in `problems`. Raises OSError when the file cannot be opened."""
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{where}: not JSON ({e.msg} at column {e.colno})")
                continue
            if not isinstance(obj, dict):
                problems.append(f"{where}: a line must be a JSON object")
                continue
            yield where, obj
