"""humc fmt: golden input/output pairs (black style), idempotency, meaning and comments kept."""
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from humdsl.fmt import format_text
from humdsl.syntax.ast import strip_spans
from humdsl.syntax.parser import _lark, parse_text

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = sorted((Path(__file__).parent / "cases" / "fmt").glob("*.in.hum"))
ALL_SPECS = sorted(p for folder in ("specs", "stdlib", "examples", "tests/cases")
                   for p in (ROOT / folder).rglob("*.hum"))


def parses(text: str) -> bool:
    return not parse_text(text)[1]


@pytest.mark.parametrize("path", GOLDEN, ids=[p.name[:-len(".in.hum")] for p in GOLDEN])
def test_golden(path: Path):
    expected = path.with_name(path.name.replace(".in.hum", ".out.hum")).read_text(encoding="utf-8")
    out, diags = format_text(path.read_text(encoding="utf-8"))
    assert diags == []
    assert out == expected


def _comments(text: str) -> list[str]:
    module, _ = parse_text(text)
    return sorted(c.text.rstrip() for c in module.comments)


@pytest.mark.parametrize("path", ALL_SPECS, ids=[str(p.relative_to(ROOT)) for p in ALL_SPECS])
def test_idempotent_and_meaning_preserving(path: Path):
    text = path.read_text(encoding="utf-8")
    if not parses(text):
        pytest.skip("a syntax-error case")
    once, _ = format_text(text)
    twice, _ = format_text(once)
    assert once == twice
    assert strip_spans(parse_text(once)[0]) == strip_spans(parse_text(text)[0])
    assert _comments(once) == _comments(text)


def test_repository_files_are_formatted():
    unformatted = []
    for path in ALL_SPECS:
        if "cases" in path.parts:
            continue  # case files keep the layout their expectations need
        text = path.read_text(encoding="utf-8")
        if format_text(text)[0] != text:
            unformatted.append(str(path.relative_to(ROOT)))
    assert not unformatted, f"run humc fmt on: {unformatted}"


def test_syntax_error_file_is_left_alone(tmp_path):
    from click.testing import CliRunner

    from humdsl.cli import main

    bad = tmp_path / "bad.hum"
    bad.write_text("task a : entities {\n  labels { PER\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["fmt", str(bad)])
    assert result.exit_code == 1
    assert "H001" in result.output and "not formatted" in result.output
    assert bad.read_text(encoding="utf-8") == "task a : entities {\n  labels { PER\n"


# ---- property: any re-layout of a spec formats to the same text ---------------------------------

def _tokens(text: str):
    """(start, end) of every token and comment, in order."""
    spans = []
    for tok in _lark().lex(text):
        spans.append((tok.start_pos, tok.end_pos))
    for comment in parse_text(text)[0].comments:  # not a regex: '#' may sit inside a string
        spans.append((comment.span.start, comment.span.end))
    return sorted(spans)


LAYOUT_SOURCES = [p for p in ALL_SPECS if "cases" not in p.parts] + \
    [p for p in GOLDEN] + [Path(__file__).parent / "cases" / "check" / "clean.hum"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_relayout_formats_identically(data):
    path = data.draw(st.sampled_from(LAYOUT_SOURCES), label="spec")
    text = path.read_text(encoding="utf-8")
    spans = _tokens(text)
    pieces, prev_end = [], 0
    for start, end in spans:
        gap = text[prev_end:start]
        if prev_end and gap.strip() == "":
            keep_newline = "\n" in gap and text[prev_end - 1:prev_end] != "" and \
                text[:prev_end].rsplit("\n", 1)[-1].lstrip().startswith("#")
            choices = ["\n"] if keep_newline else [" ", "\n", "   ", " \n\t  "]
            gap = data.draw(st.sampled_from(choices))
        pieces.append(gap)
        pieces.append(text[start:end])
        prev_end = end
    pieces.append(text[prev_end:])
    shuffled = "".join(pieces)
    if not parses(shuffled):
        return  # a comment swallowed a token: not a layout change
    assert strip_spans(parse_text(shuffled)[0]) == strip_spans(parse_text(text)[0])
    out, _ = format_text(shuffled)
    assert format_text(out)[0] == out
    assert strip_spans(parse_text(out)[0]) == strip_spans(parse_text(text)[0])
    assert _comments(out) == _comments(text)
