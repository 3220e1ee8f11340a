"""Mutated and truncated specs never crash the compiler: they only produce diagnostics."""
import random
from pathlib import Path

import pytest

from humdsl.compiler import check_paths
from humdsl.fmt import format_text

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for folder in ("specs", "stdlib", "examples", "tests/cases")
                 for p in (ROOT / folder).rglob("*.hum") if not p.name.startswith("_"))
SNIPPETS = ["{", "}", "(", ")", "[", "]", ":", ",", "|", '"', '"""', "`", "->", "..", ".", "#",
            "task", "labels", "prefer", "for", "example", "output", "input", "null", "1e9", "-3",
            "\\", "\\u{110000}", "\n", "é", "\x00", "format", "rule", "enforces"]


def mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(["delete", "insert", "swap", "truncate", "duplicate"])
        if not text:
            break
        i = rng.randrange(len(text))
        if op == "delete":
            text = text[:i] + text[i + rng.randint(1, 12):]
        elif op == "insert":
            text = text[:i] + rng.choice(SNIPPETS) + text[i:]
        elif op == "swap":
            j = rng.randrange(len(text))
            a, b = sorted((i, j))
            n = min(rng.randint(1, 8), len(text) - b)
            text = text[:a] + text[b:b + n] + text[a + n:b] + text[a:a + n] + text[b + n:]
        elif op == "truncate":
            text = text[:i]
        else:
            j = min(len(text), i + rng.randint(1, 40))
            text = text[:j] + text[i:j] + text[j:]
    return text


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_mutations_only_produce_diagnostics(path: Path, tmp_path: Path):
    text = path.read_text(encoding="utf-8")
    rng = random.Random(path.name)
    target = tmp_path / path.name
    for _ in range(25):
        mutated = mutate(text, rng)
        target.write_text(mutated, encoding="utf-8")
        result = check_paths([target])  # must not raise
        for d in result.diagnostics:
            assert d.code.startswith("H") and d.message
        formatted, diags = format_text(mutated)
        if formatted is not None:
            assert format_text(formatted)[0] == formatted
