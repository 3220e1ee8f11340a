"""A format's grammar tree written in GBNF, the grammar language of llama.cpp's server (its
`grammar` request field), as a plain function over the tree (formats/grammar_tree.py).

GBNF has rules, literals, character classes, alternatives and bounded repetition, but no
intersection of terminals and no lazy lexemes, so:

- a rule with a `suffix` is its body followed by the suffix (the builders already keep the
  suffix out of the body's terminal, which is what makes the lazy lexeme end there);
- a terminal of one regex is that regex written as GBNF (Python's own regex parser reads it);
- a grounded terminal (an intersection with the input's chunks) is written out: every
  whole-chunk substring of the input it accepts (read from the span's automaton,
  formats/span_chains.py, or for a record's field tested against its regexes), as one chain of
  rules per start chunk (about chunks x span length rules: under a hundred for a sentence, about
  12,000 for a 200-word passage);
- a free text (open IE's relation phrase, in the model's own words: the span shape, a length
  bound, and outside JSON no stop and no forbidden end) is a machine over classes of characters,
  with the count of characters in its rule names (about 1,400 rules);
- anything else `gbnf` cannot write raises GbnfUnsupported naming it.

Every answer the GBNF grammar accepts is one the Lark grammar accepts, and the other way round;
tests/test_gbnf.py checks it against llguidance on each bundled format.
"""
from __future__ import annotations

import re
from typing import Iterator
from re import _constants as sre
from re import _parser as sre_parse

from ..errors import HumError
from .grammar_tree import Alt, Expr, GrammarTree, Grounding, Group, Length, Lit, Ref, Rule, Seq, Terminal
from .span_chains import InputChunks, SpanChains, _stops_of
from .spans import _BAD_FIRST, _BAD_LAST, JSON_CHAR, WHITESPACE, FreeRule, SpanRule, chunks, json_written


NOTHING = "[^\\x00-\\U0010FFFF]"  # a class no character is in


class GbnfUnsupported(HumError):
    """The grammar holds a terminal GBNF cannot express."""


def gbnf(tree: GrammarTree) -> str:
    """The tree as a GBNF grammar whose `root` is the tree's start rule."""
    defs = {d.name: d for d in tree.defs}
    names = _Names()
    lines: list[str] = [f"root ::= {names.of(tree.defs[0].name)}"]
    for d in tree.defs:
        if isinstance(d, Rule):
            body = _expr(d.body, names)
            if d.suffix is not None:
                body = f"({body}) {_literal(d.suffix)}"
            lines.append(f"{names.of(d.name)} ::= {body}")
        elif isinstance(d, Length):
            char = _regex(d.char)
            hi = "" if d.hi is None else str(d.hi)
            lines.append(f"{names.of(d.name)} ::= ({char}){{{d.lo},{hi}}}")
        elif isinstance(d, Terminal):
            lines += _terminal(d, defs, names, tree.spans)
        # a Grounding is written into the terminals that intersect it
    return "\n".join(lines) + "\n"


class _Names:
    """GBNF rule names are letters, digits and dashes: each tree name mapped to one of them."""

    def __init__(self) -> None:
        self._known: dict[str, str] = {}

    def of(self, name: str) -> str:
        found = self._known.get(name)
        if found is None:
            base = re.sub(r"[^A-Za-z0-9]", "-", name).strip("-") or "r"
            found = base if base != "root" and base not in self._known.values() else f"{base}-{len(self._known)}"
            self._known[name] = found
        return found


def _expr(e: Expr, names: _Names) -> str:
    if isinstance(e, Lit):
        return _literal(e.text)
    if isinstance(e, Ref):
        return names.of(e.name)
    if isinstance(e, Seq):
        return " ".join(_atom(p, names) for p in e.parts) if e.parts else '""'
    if isinstance(e, Alt):
        return " | ".join(_expr(o, names) for o in e.options)
    if isinstance(e, Group):
        return f"({_expr(e.inner, names)})"
    return f"({_expr(e.inner, names)}){{{e.lo},{e.hi}}}"


def _atom(e: Expr, names: _Names) -> str:
    """An expression inside a sequence: alternatives need their parentheses there."""
    return f"({_expr(e, names)})" if isinstance(e, Alt) else _expr(e, names)


# ---- terminals ---------------------------------------------------------------------------------------

def _terminal(t: Terminal, defs: dict, names: _Names, spans: dict) -> list[str]:
    grounding = [p for p in t.parts if isinstance(p, Ref) and isinstance(defs.get(p.name), Grounding)]
    if grounding:
        g = defs[grounding[0].name]
        rule = spans.get(t.name)
        if isinstance(rule, SpanRule):  # the span's own automaton: what the answer DAG reads too
            found = _span_chains(g.source, rule)
        else:
            checks = [_matcher(p, defs, t.name) for p in t.parts if p is not grounding[0]]
            found = _checked_chains(g.source, g.json_escaped, checks, t.max_bytes)
        return _grounded(names.of(t.name), found)
    if isinstance(spans.get(t.name), FreeRule):
        return _free_text(names.of(t.name), spans[t.name])
    if len(t.parts) == 1:
        part = t.parts[0]
        if isinstance(part, Ref):
            return [f"{names.of(t.name)} ::= {names.of(part.name)}"]
        if not part.startswith("/"):
            raise GbnfUnsupported(f"terminal {t.name}: {part[:40]!r} cannot be written in GBNF")
        return [f"{names.of(t.name)} ::= {_regex(part[1:-1])}"]
    raise GbnfUnsupported(f"terminal {t.name} intersects {len(t.parts)} languages over free text, "
                          f"which GBNF cannot express")


def _free_text(name: str, rule: FreeRule) -> list[str]:
    """A free text (open IE's relation phrase, in the model's own words) under its rule: the span
    shape, 1 to max_chars units (a character, or in JSON an escape), and outside JSON no stop,
    no forbidden end and no line break: a machine over classes of characters, with the count of
    units in the rule names (`name-k-s-e`: k units read, stop state s, e: the last may end it)."""
    if rule.json_mode:  # no stops in JSON (the closing quote ends the text): the shape and the count
        escaped = frozenset('"\\') | frozenset(map(chr, range(0x20)))
        one = _set_class(WHITESPACE | _BAD_FIRST | _BAD_LAST | escaped, negate=True)
        first = _set_class(WHITESPACE | _BAD_FIRST | escaped, negate=True)
        last = _set_class(WHITESPACE | _BAD_LAST | escaped, negate=True)
        return [f"{name} ::= {one} | {first} ({_regex(JSON_CHAR)}){{0,{rule.max_chars - 2}}} {last}"]
    if not rule.shaped:
        raise GbnfUnsupported(f"terminal {name}: an unshaped free text is written as a length terminal")
    stops = _stops_of(rule.stops, rule.ends)
    marks = frozenset(ch for p in rule.stops + rule.ends for ch in p) - {"\n"}
    starts_bad, ends_bad = WHITESPACE | _BAD_FIRST, WHITESPACE | _BAD_LAST
    # (GBNF, may start, may end, the mark it is or None): each mark alone, then every other
    # character but a line break by whether it may start and end the text
    classes: list[tuple[str, bool, bool, str | None]] = [
        (_literal(m), m not in starts_bad, m not in ends_bad, m) for m in sorted(marks)]
    kept = marks | {"\n"}
    named = starts_bad | ends_bad
    for may_start in (True, False):
        for may_end in (True, False):
            if may_start and may_end:
                classes.append((_set_class(named | kept, negate=True), True, True, None))
                continue
            chars = {ch for ch in named - kept
                     if (ch not in starts_bad) == may_start and (ch not in ends_bad) == may_end}
            if chars:
                classes.append((_set_class(frozenset(chars)), may_start, may_end, None))

    def moves(k: int, s: int) -> list[tuple[str, int, bool]]:
        out = []
        for c, (_, may_start, may_end, mark) in enumerate(classes):
            if k == 0 and not may_start:
                continue
            after = stops.feed(s, mark) if mark is not None else 0
            if after is not None:
                out.append((f"{name}-c{c}", after, may_end))  # each class a rule: written once
        return out

    top = rule.max_chars
    live: dict[tuple[int, int, bool], bool] = {}
    for k in range(top, 0, -1):  # from the last unit back: which states can still end
        for s in range(stops.size):
            for e in (False, True):
                live[(k, s, e)] = (e and not stops.bad_end[s]) or (
                    k < top and any(live[(k + 1, s2, e2)] for _, s2, e2 in moves(k, s)))
    lines = [f"{name}-c{c} ::= {text}" for c, (text, *_) in enumerate(classes)]
    for k in range(top + 1):
        for s in range(stops.size):
            for e in ((False,) if k == 0 else (False, True)):
                if k and not live[(k, s, e)] or k == 0 and s:
                    continue
                options = ['""'] if k and e and not stops.bad_end[s] else []
                if k < top:
                    options += [f"{text} {name}-{k + 1}-{s2}-{int(e2)}" for text, s2, e2 in moves(k, s)
                                if live[(k + 1, s2, e2)]]
                head = name if k == 0 else f"{name}-{k}-{s}-{int(e)}"
                lines.append(f"{head} ::= {' | '.join(options) if options else NOTHING}")
    return lines


def _set_class(chars: frozenset[str], negate: bool = False) -> str:
    """A GBNF class of these characters (or of every other one)."""
    return _range_class(_ranges(chars), negate)


def _ranges(chars: frozenset[str]) -> list[tuple[int, int]]:
    """The characters as runs of consecutive code points."""
    ranges: list[tuple[int, int]] = []
    for c in sorted(map(ord, chars)):
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    return ranges


def _range_class(ranges: list[tuple[int, int]], negate: bool) -> str:
    body = "".join(_class_char(a) if a == b else f"{_class_char(a)}-{_class_char(b)}" for a, b in ranges)
    return f"[{'^' if negate else ''}{body}]"


def _matcher(part, defs: dict, where: str):
    """A test a candidate string must pass: one regex part of an intersection (negated: `~/.../`),
    or a length terminal."""
    if isinstance(part, Ref):
        d = defs.get(part.name)
        if isinstance(d, Length):
            return _matcher(f"/(?:{d.char}){{{d.lo},{'' if d.hi is None else d.hi}}}/", defs, where)
        if isinstance(d, Terminal) and len(d.parts) == 1:
            return _matcher(d.parts[0], defs, where)
        raise GbnfUnsupported(f"terminal {where}: cannot write {part.name} into a grounded span")
    negated = part.startswith("~")
    pattern = re.compile(part[1 + negated:-1])
    return (lambda s: pattern.fullmatch(s) is None) if negated else (lambda s: pattern.fullmatch(s) is not None)


Chain = tuple[int, list[str], list[int]]  # start chunk, the chunks read from it, where a span may end


def _span_chains(source: str, rule: SpanRule) -> Iterator[Chain]:
    """Each start's chain under a span rule, read from formats/span_chains.py (chunk by chunk,
    in constant time a step)."""
    chains = SpanChains(InputChunks(source), rule)
    for text, state in chains.starts():
        pieces, ends = [text.decode("utf-8")], [0] if chains.may_end(state) else []
        start = state[0] - 1
        while (step := chains.step(state)) is not None:
            text, state = step
            pieces.append(text.decode("utf-8"))
            if chains.may_end(state):
                ends.append(len(pieces) - 1)
        yield start, pieces, ends


def _checked_chains(source: str, json_escaped: bool, checks: list, max_bytes: int) -> Iterator[Chain]:
    """Each start's chain where the terminal is an intersection of regexes with the input (a
    record's grounded field): every candidate up to the terminal's byte bound tested."""
    pieces = [json_written(c) if json_escaped else c for c in chunks(source)]
    for i in range(len(pieces)):
        ends, text, size = [], "", 0
        for j in range(i, len(pieces)):
            text += pieces[j]
            size += len(pieces[j].encode("utf-8"))
            if size > max_bytes:
                break
            if all(check(text) for check in checks):
                ends.append(j - i)
        if ends:
            yield i, pieces[i:i + ends[-1] + 1], ends


def _grounded(name: str, found: Iterator[Chain]) -> list[str]:
    """Whole-chunk substrings of the input, as one chain of rules per start chunk: `name-i-k`
    reads the chain's k-th chunk, then may stop where a span from the chain's start ends well,
    or go on."""
    starts: list[str] = []
    lines: list[str] = []
    for i, pieces, ends in found:
        if not ends:
            continue
        chain = [f"{name}-{i}-{k}" for k in range(ends[-1] + 1)]
        starts.append(chain[0])
        may_end = set(ends)
        for k in range(ends[-1] + 1):
            here = _literal(pieces[k])
            if k == ends[-1]:
                lines.append(f"{chain[k]} ::= {here}")
            else:  # one way on, so the grammar stays deterministic: the end is the option
                lines.append(f"{chain[k]} ::= {here} {chain[k + 1]}{'?' if k in may_end else ''}")
    if not starts:  # no span of the input can fill it: as in the Lark grammar, it matches nothing
        return [f"{name} ::= {NOTHING}"]
    return [f"{name} ::= {' | '.join(starts)}"] + lines


# ---- literals and regexes ------------------------------------------------------------------------------

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}


def _literal(text: str) -> str:
    return '"' + "".join(_ESCAPES.get(ch) or _char(ch) for ch in text) + '"'


def _char(ch: str) -> str:
    """A character as GBNF reads it inside a literal or a class: control characters and the
    invisible ones (line and paragraph separators, no-break spaces) escaped, so that a grammar
    is one rule a line whatever splits its lines."""
    code = ord(ch)
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02X}"
    if ch != " " and (not ch.isprintable() or ch.isspace()):
        return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"
    return ch


def _class_char(code: int) -> str:
    ch = chr(code)
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if ch in "]-[":
        return "\\" + ch
    if ch == "^":  # llama.cpp reads no \^ escape
        return "\\x5E"
    return _char(ch)


# Regex categories as code-point ranges, as the grammar's regex engine reads them: `\s` is
# spans.WHITESPACE (Unicode White_Space, without the U+001C-U+001F that Python's \s adds).
_CATEGORIES = {
    sre.CATEGORY_DIGIT: [(0x30, 0x39)],
    sre.CATEGORY_SPACE: _ranges(WHITESPACE),
}


def _regex(pattern: str) -> str:
    """A regex (the subset the format builders write: classes, groups, alternatives, bounded
    repeats) as a GBNF expression."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as e:
        raise GbnfUnsupported(f"cannot read the regex {pattern[:40]!r}: {e}") from None
    return _seq(list(parsed), dotall=False)


def _seq(items: list, dotall: bool) -> str:
    out: list[str] = []
    literal = ""
    for op, arg in items:
        if op is sre.LITERAL:
            literal += chr(arg)
            continue
        if literal:
            out.append(_literal(literal))
            literal = ""
        out.append(_item(op, arg, dotall))
    if literal:
        out.append(_literal(literal))
    return " ".join(out) if out else '""'


def _item(op, arg, dotall: bool) -> str:
    if op is sre.NOT_LITERAL:
        return f"[^{_class_char(arg)}]"
    if op is sre.ANY:
        return "." if dotall else "[^\\n]"
    if op is sre.IN:
        return _class(arg)
    if op is sre.BRANCH:
        return "(" + " | ".join(_seq(list(b), dotall) for b in arg[1]) + ")"
    if op is sre.SUBPATTERN:
        _, add, remove, inner = arg
        inner_dotall = (dotall or bool(add & sre.SRE_FLAG_DOTALL)) and not remove & sre.SRE_FLAG_DOTALL
        return "(" + _seq(list(inner), inner_dotall) + ")"
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
        lo, hi, inner = arg
        body = "(" + _seq(list(inner), dotall) + ")"
        return f"{body}{{{lo},}}" if hi is sre.MAXREPEAT else f"{body}{{{lo},{hi}}}"
    raise GbnfUnsupported(f"the regex construct {op} has no GBNF form")


def _class(items: list) -> str:
    negate = bool(items) and items[0][0] is sre.NEGATE
    ranges: list[tuple[int, int]] = []
    for op, arg in items[negate:]:
        if op is sre.LITERAL:
            ranges.append((arg, arg))
        elif op is sre.RANGE:
            ranges.append(arg)
        elif op is sre.CATEGORY and arg in _CATEGORIES:
            ranges += _CATEGORIES[arg]
        else:
            raise GbnfUnsupported(f"the character class item {op} {arg} has no GBNF form")
    return _range_class(ranges, negate)
