"""The language reference documents every diagnostic code."""
from pathlib import Path

from humdsl.codes import CODES

DOC = Path(__file__).resolve().parent.parent / "docs" / "language.md"


def test_every_code_is_documented():
    text = DOC.read_text(encoding="utf-8")
    missing = [c for c in CODES if f"| {c} | {CODES[c].severity} |" not in text]
    assert not missing, f"add these codes to docs/language.md: {missing}"
