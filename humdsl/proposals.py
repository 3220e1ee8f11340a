"""Proposed alternatives in spec source: list them, insert new ones, accept or reject them.

Edits are made by the AST's spans on the source text, so everything else in the file stays byte
for byte as it was. A slot is a place that holds a text and its alternatives, named as the IR's
"proposed" list names it: "instruction", "guideline NAME", "label CODE" (a label, type or role
description), "input NAME", "field NAME" (nested fields "field outer.inner"), "rule NAME" (an
inline `prefer NAME : ...` rule). Only the task's own slots that already have a text count: a
proposal is always an alternative, never the first text.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import not_found
from .fmt import INDENT, format_text
from .syntax import ast
from .syntax.parser import parse_text
from .syntax.strings import encode_short

KEYWORD = "proposed"


@dataclass
class _Slot:
    name: str
    colon: bool  # laid out `head : "a" | "b"`; False for `instruction "a" | "b"`
    parts: list[tuple[Any, tuple[ast.Str, ...]]] = field(default_factory=list)  # (node, its texts)

    @property
    def texts(self) -> list[ast.Str]:
        return [t for _, ts in self.parts for t in ts]


# ---- the public functions -------------------------------------------------------------------------

def slots(source_text: str, path: str, task: str) -> dict[str, list[tuple[str, bool]]]:
    """Every slot of the task, in source order: its texts in order, each as (text, proposed)."""
    found = _slots(_task(_parse(source_text, path), task, path))
    return {name: [(t.value, t.proposed) for t in s.texts] for name, s in found.items()}


def insert(source_text: str, path: str, task: str, slot: str, texts: list[str]) -> str:
    """The source with each text appended to the slot as `| proposed "..."`, one per line, laid
    out as `humc fmt` lays it out. A slot written on one line (`guideline x : "text"`) is laid out
    again, that member only. ValueError: an unknown task or slot, a blank text, or one the slot
    already has."""
    module = _parse(source_text, path)
    found = _slot(_task(module, task, path), slot, task)
    have = {t.value for t in found.texts}
    for text in texts:
        if not text.strip():
            raise ValueError(f"a proposal for {slot} of task '{task}' is blank")
        if text in have:
            raise ValueError(f"{slot} of task '{task}' already has the text {encode_short(text)}")
        have.add(text)
    if not texts:
        return source_text
    last = found.texts[-1]
    ends = {c.span.start: c.span.end for c in module.comments}
    pad = _bar_pad(source_text, found, ends)
    added = "".join(f"\n{pad}| {KEYWORD} {encode_short(t)}" for t in texts)
    end_of_line = _line_end(source_text, last.span.end)
    rest = source_text[last.span.end:end_of_line]
    at = end_of_line if _blank_or_comment(rest) else last.span.end  # after a trailing comment
    out = source_text[:at] + added + source_text[at:]
    if _crowded(source_text, found, ends):
        out = _tidy(out, path, task, slot)
    _expect(out, path, task, slot, [(t.value, t.proposed) for t in found.texts] + [(t, True) for t in texts])
    return out


def settle(source_text: str, path: str, accept: bool, task: str | None = None,
           slots: set[str] | None = None, texts: set[str] | None = None) -> tuple[str, int]:
    """Accept (the `proposed` keyword deleted, the alternative kept) or reject (the alternative
    deleted, with its line where it stands alone) every proposal of the task (None: of every task)
    in the named slots (None: all) whose text is one of `texts` (None: any). The new source and
    how many were settled. ValueError: an unknown task or slot, or a rejection that would leave
    a slot without a text."""
    module = _parse(source_text, path)
    tasks = [_task(module, task, path)] if task is not None else \
        [d for d in module.decls if isinstance(d, ast.Task)]
    per_task = {t.name.text: _slots(t) for t in tasks}
    for name in sorted(slots or ()):
        if not any(name in found for found in per_task.values()):
            where = f"task '{task}'" if task is not None else path
            raise ValueError(f"{where} has no slot '{name}' with texts")
    ends = {c.span.start: c.span.end for c in module.comments}
    edits: list[tuple[int, int, str]] = []
    settled = 0
    relaid: list[tuple[str, str]] = []  # (task, slot) left with one text: laid out again
    for task_name, found in per_task.items():
        for name, s in found.items():
            if slots is not None and name not in slots:
                continue
            chosen = [t for t in s.texts if t.proposed and (texts is None or t.value in texts)]
            if not chosen:
                continue
            settled += len(chosen)
            if not accept and len(chosen) == len(s.texts):
                raise ValueError(f"rejecting every text of {name} of task '{task_name}' would leave it empty")
            for t in chosen:
                edits += [_accept(source_text, t, ends)] if accept else _reject(source_text, t, ends)
            if not accept and s.colon and len(s.texts) - len(chosen) == 1:
                relaid.append((task_name, name))
    out = source_text
    for start, end, new in sorted(edits, reverse=True):  # from the end: earlier offsets stay valid
        out = out[:start] + new + out[end:]
    for task_name, name in relaid:
        out = _tidy(out, path, task_name, name)
    return out, settled


# ---- finding slots ---------------------------------------------------------------------------------

def _parse(text: str, path: str) -> ast.Module:
    module, diags = parse_text(text, path)
    if diags:
        raise ValueError(f"{path} cannot be read: {diags[0].message} (line {diags[0].span.line})"
                         if diags[0].span else f"{path} cannot be read: {diags[0].message}")
    return module


def _task(module: ast.Module, name: str, path: str) -> ast.Task:
    tasks = [d for d in module.decls if isinstance(d, ast.Task)]
    for t in tasks:
        if t.name.text == name:
            return t
    raise ValueError(not_found("task", name, [t.name.text for t in tasks], path))


def _slot(task: ast.Task, name: str, task_name: str) -> _Slot:
    found = _slots(task)
    if name not in found:
        raise ValueError(f"task '{task_name}' has no slot '{name}' with texts; its slots are: "
                         f"{', '.join(found) or 'none'}")
    return found[name]


def _slots(task: ast.Task) -> dict[str, _Slot]:
    found: dict[str, _Slot] = {}

    def add(name: str, node, texts: tuple[ast.Str, ...], colon: bool = True) -> None:
        if texts:  # a slot without a text takes no proposal: it would be the first text
            found.setdefault(name, _Slot(name, colon)).parts.append((node, texts))

    def fields(items, prefix: str) -> None:
        for f in items:
            add(f"field {prefix}{f.name.text}", f, f.texts)
            nested(f.type, f"{prefix}{f.name.text}.")

    def nested(t, prefix: str) -> None:
        if isinstance(t, ast.RecordType):
            fields(t.fields, prefix)
        elif isinstance(t, ast.NamedType):
            for a in t.args:
                nested(a, prefix)

    for m in task.members:
        if isinstance(m, ast.Instruction):
            add("instruction", m, m.texts, colon=False)
        elif isinstance(m, ast.Guideline):
            add(f"guideline {m.name.text}", m, m.texts)
        elif isinstance(m, ast.Prefer):
            add(f"rule {m.ref.dotted}", m, m.texts)
        elif isinstance(m, ast.InputField):
            add(f"input {m.name.text}", m, m.texts)
        elif isinstance(m, ast.Labels) and m.block is not None:
            for item in m.block.items:
                add(f"label {item.code.text}", item, item.descriptions)
        elif isinstance(m, ast.Fields):
            fields(m.items, "")
    return found


# ---- positions in the source ---------------------------------------------------------------------------

def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _blank_or_comment(rest: str) -> bool:
    """Is this the rest of a line after a token: blanks, maybe a comment (strings have ended)?"""
    return rest.strip() == "" or rest.lstrip().startswith("#")


def _back(text: str, pos: int, ends: dict[int, int]) -> int:
    """The offset just after the token before `pos`, skipping blanks and comments."""
    starts = {end: start for start, end in ends.items()}
    while True:
        while pos > 0 and text[pos - 1].isspace():
            pos -= 1
        if pos in starts:
            pos = starts[pos]
            continue
        return pos


def _forward(text: str, pos: int, ends: dict[int, int]) -> int:
    """The offset of the token at or after `pos`, skipping blanks and comments."""
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos in ends:
            pos = ends[pos]
            continue
        return pos


def _keyword_start(text: str, s: ast.Str, ends: dict[int, int]) -> int:
    at = _back(text, s.span.start, ends) - len(KEYWORD)
    if text[at:at + len(KEYWORD)] != KEYWORD:  # pragma: no cover - the parser put it there
        raise AssertionError(f"no '{KEYWORD}' before the string at offset {s.span.start}")
    return at


def _alt_start(text: str, s: ast.Str, ends: dict[int, int]) -> int:
    return _keyword_start(text, s, ends) if s.proposed else s.span.start


def _indent(text: str, node) -> str:
    """The indentation of a member or item: its own where it starts a line, else one more level
    than the line it sits in (`labels { PER : "a" }`)."""
    start = _line_start(text, node.span.start)
    lead = text[start:node.span.start]
    if not lead.strip():
        return lead
    return lead[:len(lead) - len(lead.lstrip())] + INDENT


def _bar_pad(text: str, slot: _Slot, ends: dict[int, int]) -> str:
    """Where a new `| ...` line starts: as the slot's last alternative line does, else as fmt."""
    node, own = slot.parts[-1]
    if len(own) > 1:
        start = _alt_start(text, own[-1], ends)
        bar = _back(text, start, ends) - 1
        lead = text[_line_start(text, bar):bar]
        if text[bar] == "|" and not lead.strip():
            return lead
    if slot.colon:
        return _indent(text, node) + INDENT
    return _indent(text, node) + " " * (len("instruction") - 1)  # bars under the first string


def _crowded(text: str, slot: _Slot, ends: dict[int, int]) -> bool:
    """Not one alternative a line (or, with a colon, the first on the head's line): fmt lays such
    a slot out again once it has several texts."""
    node, own = slot.parts[-1]
    lines = [text.count("\n", 0, _alt_start(text, t, ends)) for t in own]
    head = text.count("\n", 0, node.span.start)
    return len(set(lines)) < len(lines) or (slot.colon and lines[0] == head)


# ---- edits ------------------------------------------------------------------------------------------

def _accept(text: str, s: ast.Str, ends) -> tuple[int, int, str]:
    start = _keyword_start(text, s, ends)
    end = start + len(KEYWORD)
    while end < len(text) and text[end] in " \t":
        end += 1
    return start, end, ""


def _reject(text: str, s: ast.Str, ends) -> list[tuple[int, int, str]]:
    start = _keyword_start(text, s, ends)
    before = _back(text, start, ends)
    if before > 0 and text[before - 1] == "|":
        bar = before - 1
        line_start, line_end = _line_start(text, bar), _line_end(text, s.span.end)
        if not text[line_start:bar].strip() and _blank_or_comment(text[s.span.end:line_end]) \
                and not any(bar < c < s.span.start for c in ends):
            return [(line_start, min(line_end + 1, len(text)), "")]  # the alternative's own line
        previous = _back(text, bar, ends)  # the end of the text before: what insert put it after
        if any(previous <= c < s.span.start for c in ends):  # a comment inside: only the tokens go
            return [(bar, bar + 1, ""), (start, start + len(KEYWORD), ""), (s.span.start, s.span.end, "")]
        return [(previous, s.span.end, "")]
    # the first text (an error the checker reports): the next alternative takes its place
    after = _forward(text, s.span.end, ends)
    if text[after:after + 1] != "|":
        raise ValueError(f"cannot reject {encode_short(s.value)} (line {s.span.line}): it is the only text "
                         "of its member")
    return [(start, _forward(text, after + 1, ends), "")]


def _tidy(text: str, path: str, task: str, slot: str) -> str:
    """The slot's member laid out as `humc fmt` lays it out, the rest of the file untouched; the
    text unchanged where the member shares its lines or fmt would move a comment out of it."""
    formatted, _ = format_text(text, path)
    if formatted is None:
        return text
    mine, theirs = _lines_of(text, path, task, slot), _lines_of(formatted, path, task, slot)
    if mine is None or theirs is None or mine[2] != theirs[2]:
        return text
    old_indent = _indent_of_line(text, mine[0])
    new_indent = _indent_of_line(formatted, theirs[0])
    lines = formatted[theirs[0]:theirs[1]].split("\n")
    # in the file's own indentation, should it differ from fmt's
    lines = [old_indent + ln[len(new_indent):] if ln.startswith(new_indent) else ln for ln in lines]
    return text[:mine[0]] + "\n".join(lines) + text[mine[1]:]


def _lines_of(text: str, path: str, task: str, slot: str) -> tuple[int, int, list[str]] | None:
    """The whole lines the slot's (last) member fills, and the comments in them; None where the
    member shares a line with something else."""
    module = _parse(text, path)
    node = _slot(_task(module, task, path), slot, task).parts[-1][0]
    start, end = _line_start(text, node.span.start), _line_end(text, node.span.end)
    if text[start:node.span.start].strip() or not _blank_or_comment(text[node.span.end:end]):
        return None
    return start, end, [c.text.rstrip() for c in module.comments if start <= c.span.start < end]


def _indent_of_line(text: str, start: int) -> str:
    line = text[start:_line_end(text, start)]
    return line[:len(line) - len(line.lstrip())]


def _expect(text: str, path: str, task: str, slot: str, want: list[tuple[str, bool]]) -> None:
    got = slots(text, path, task).get(slot)
    if got != want:  # pragma: no cover - a bug here must not write a broken spec
        raise AssertionError(f"inserting into {slot} of task '{task}' went wrong: {got} != {want}")
