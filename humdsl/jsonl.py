"""Reading JSONL the same way everywhere: every bad line becomes a 'file:line: why' problem."""
from __future__ import annotations

import json
import re
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
                # some messages end in "at" ("Unterminated string starting at"): the column follows
                at = " " if e.msg.endswith(" at") else " at "
                problems.append(f"{where}: not JSON ({e.msg}{at}column {e.colno})")
                continue
            if not isinstance(obj, dict):
                problems.append(f"{where}: a line must be a JSON object")
                continue
            lone = lone_surrogate(obj) if _SURROGATE_ESCAPE.search(line) else None
            if lone is not None:
                problems.append(f"{where}: holds \\u{ord(lone):04x}, half of a surrogate pair alone, "
                                "which is not Unicode text")
                continue
            yield where, obj


def id_problem(value) -> str | None:
    """Why a line's "id" cannot name it, or None: ids are strings or whole numbers (null, an
    object or a list would become the text "None" or "{'x': 1}")."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return f"\"id\" must be a string or a whole number, not {json.dumps(value)[:40]}"
    return None


# JSON may escape half a surrogate pair with nothing to pair it with; Python then holds a string
# that cannot be written as UTF-8, and would fail wherever the text is encoded.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def lone_surrogate(obj) -> str | None:
    """The first half of a surrogate pair that stands alone in `obj`'s strings, or None."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        return e.object[e.start]
    return None
