"""Data-driven checker tests, mypy style: each tests/cases/check/*.hum file writes the diagnostics
it expects inline, as '# error[H012]' or '# warning[H015]: part of the message', on the line where
they are reported. Files whose names start with '_' are only imported by other cases."""
import re
from pathlib import Path

import pytest

from humdsl.codes import CODES
from humdsl.compiler import check_paths

CASES = Path(__file__).parent / "cases" / "check"
EXPECT = re.compile(r"#\s*(error|warning)\[(H\d{3})\](?::\s*(.*?))?(?=\s*#\s*(?:error|warning)\[|$)")


def expectations(path: Path):
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        for m in EXPECT.finditer(line):
            out.append((lineno, m.group(1), m.group(2), (m.group(3) or "").strip()))
    return out


CASE_FILES = sorted(p for p in CASES.glob("*.hum") if not p.name.startswith("_"))


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_case(path: Path):
    result = check_paths([path])
    actual = [d for d in result.diagnostics if d.span is not None and d.span.path.endswith(path.name)]
    got = sorted((d.span.line, d.severity, d.code) for d in actual)
    want = sorted((line, sev, code) for line, sev, code, _ in expectations(path))
    assert got == want, "\n".join(f"{d.span.line}: {d.severity}[{d.code}] {d.message}" for d in actual)
    for line, sev, code, fragment in expectations(path):
        if fragment:
            messages = [d.message + " " + " ".join(d.notes) for d in actual
                        if d.span.line == line and d.code == code]
            assert any(fragment in m for m in messages), (line, code, fragment, messages)


def test_every_code_has_a_case():
    triggered = {code for p in CASE_FILES for _, _, code, _ in expectations(p)}
    untested = set(CODES) - triggered - {"H003"}  # H003 (unreadable file) is in test_cli.py
    assert not untested, f"codes without a case file: {sorted(untested)}"


def test_clean_case_has_no_diagnostics():
    result = check_paths([CASES / "clean.hum"])
    assert result.diagnostics == []
    assert result.ok
