"""Every task of every spec in the repository, compiled once per test session."""
from functools import lru_cache
from pathlib import Path

import humdsl

ROOT = Path(__file__).resolve().parents[2]
SPEC_FILES = sorted(list((ROOT / "specs").glob("*.hum")) + list((ROOT / "examples").glob("*.hum")))


@lru_cache(maxsize=None)
def all_tasks() -> list[tuple[str, dict]]:
    out = []
    for path in SPEC_FILES:
        spec = humdsl.load(path)
        for name in sorted(spec.tasks):
            out.append((f"{path.stem}.{name}", spec.tasks[name].ir))
    return out


def task_format_pairs() -> list[tuple[str, dict, dict]]:
    return [(f"{tid}:{f['name']}", ir, f) for tid, ir in all_tasks() for f in ir["formats"]]


def sample_source(ir: dict) -> str:
    """A real input for the task: its first example, else a fixed sentence."""
    for ex in ir.get("examples", []) + ir.get("tests", []):
        return ex["input"]["text"]
    return "The Quiet Harbour Company said on Monday that it will open a second office in Lisbon."
