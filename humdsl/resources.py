"""Where the grammar and the standard library live, in a wheel or in a source checkout."""
from __future__ import annotations

import os
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _first_existing(*candidates: Path) -> Path:
    for c in candidates:
        if c.exists():
            return c
    return candidates[0]


def grammar_path() -> Path:
    # In a wheel the grammar is packaged as humdsl/grammar; in a checkout it sits at the root.
    return _first_existing(_PKG / "grammar" / "hum.lark", _PKG.parent / "grammar" / "hum.lark")


def stdlib_root() -> Path:
    return _first_existing(_PKG / "stdlib", _PKG.parent / "stdlib")


def cache_dir() -> Path:
    base = os.environ.get("HUMC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "humdsl")
    return Path(base)


def ir_schema() -> dict:
    """The JSON Schema of ir.json (the task IR, version ir.IR_VERSION), shipped with the package."""
    import json

    return json.loads((_PKG / "schemas" / "ir.schema.json").read_text(encoding="utf-8"))
