"""The canonical layout of a .hum file (humc fmt). Comments are kept; formatting is idempotent.

The printer walks the AST in source order. Comments are consumed from one sorted list: each is
printed before the first statement that starts after it (at that statement's indentation), or at
the end of the line of the statement it trails.
"""
from __future__ import annotations

import re

from .source import SourceFile
from .syntax import ast
from .syntax.strings import encode_long, encode_short

INDENT = "  "
WIDTH = 100
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*$")


def format_module(module: ast.Module, source: SourceFile) -> str:
    return _Printer(module, source).run()


class _Printer:
    def __init__(self, module: ast.Module, source: SourceFile):
        self.module = module
        self.text = source.text
        self.comments = sorted(module.comments, key=lambda c: c.span.start)
        self.ci = 0
        self.out: list[str] = []

    # ---- comments and blank lines ------------------------------------------------------------
    def _leading(self, before: int, indent: str, prev_end: int | None) -> None:
        """Print the comments that start before `before`; keep one blank line wherever the source
        had at least one (but never first in a block, where prev_end is None)."""
        last = prev_end
        while self.ci < len(self.comments) and self.comments[self.ci].span.start < before:
            c = self.comments[self.ci]
            if last is not None and self._gap_has_blank(last, c.span.start):
                self._blank()
            self.out.append(indent + c.text.rstrip())
            last = c.span.end
            self.ci += 1
        if last is not None and self._gap_has_blank(last, before):
            self._blank()

    def _blank(self) -> None:
        if self.out and self.out[-1] != "":
            self.out.append("")

    def _trailing(self, node_end: int, end_line: int) -> None:
        if self.ci < len(self.comments):
            c = self.comments[self.ci]
            directly_after = self.text[node_end:c.span.start].strip() == ""
            if c.span.line == end_line and c.span.start >= node_end and directly_after and self.out:
                self.out[-1] += "  " + c.text.rstrip()
                self.ci += 1

    def _gap_has_blank(self, start: int, end: int) -> bool:
        return re.search(r"\n[ \t]*\n", self.text[start:end]) is not None

    def _statements(self, nodes, indent: str, render, block_end: int, always_blank=None) -> None:
        prev = None
        for node in nodes:
            if prev is not None and always_blank and always_blank(prev, node):
                self._blank()
            self._leading(node.span.start, indent, prev.span.end if prev is not None else None)
            render(node, indent)
            self._trailing(node.span.end, node.span.end_line)
            prev = node
        if block_end >= 0:
            self._leading(block_end, indent, prev.span.end if prev is not None else None)
            if self.out and self.out[-1] == "":
                self.out.pop()

    def run(self) -> str:
        def blank_between(a, b) -> bool:
            imports = (ast.Import, ast.FromImport)
            return not (isinstance(a, imports) and isinstance(b, imports))

        self._statements(self.module.decls, "", self._decl, len(self.text) + 1, blank_between)
        while self.out and self.out[-1] == "":
            self.out.pop()
        return "\n".join(self.out) + "\n" if self.out else ""

    # ---- declarations ------------------------------------------------------------------------------
    def _decl(self, node, indent: str) -> None:
        if isinstance(node, ast.Import):
            alias = f" as {name(node.alias)}" if node.alias else ""
            self.out.append(f"{indent}import {string(node.path, indent)}{alias}")
        elif isinstance(node, ast.FromImport):
            names = ", ".join(name(n) for n in node.names)
            self.out.append(f"{indent}from {string(node.path, indent)} import {names}")
        elif isinstance(node, ast.Task):
            self._block(f"task {name(node.name)} : {name(node.kind)}", node, node.members, indent,
                        self._member)
        elif isinstance(node, ast.FormatDecl):
            kinds = ", ".join(name(k) for k in node.kinds)
            self._block(f"format {name(node.name)} for {kinds}", node, node.stmts, indent,
                        self._format_stmt)
        elif isinstance(node, ast.RuleDecl):
            head = f"rule {name(node.name)}"
            if node.params:
                head += "(" + ", ".join(name(p) for p in node.params) + ")"
            if node.effect is not None:
                head += f" enforces {name(node.effect.name)}"
                if node.effect.args:
                    head += "(" + ", ".join(value(a, indent) for a in node.effect.args) + ")"
            self._alts(indent, head, node.texts, colon=True)
        elif isinstance(node, ast.LabelSetDecl):
            self._label_block(f"labels {name(node.name)}", node.block, indent)
        elif isinstance(node, ast.Corpus):
            self._block(f"corpus {name(node.name)}", node, node.members, indent, self._member)
        else:  # pragma: no cover - the parser makes no other declarations
            raise AssertionError(type(node))

    def _block(self, head: str, node, children, indent: str, render) -> None:
        if not children and not self._has_comments_within(node):
            self.out.append(f"{indent}{head} {{}}")
            return
        self.out.append(f"{indent}{head} {{")
        self._statements(children, indent + INDENT, render, node.span.end - 1)
        self.out.append(f"{indent}}}")

    def _has_comments_within(self, node) -> bool:
        return (self.ci < len(self.comments) and self.comments[self.ci].span.start < node.span.end)

    # ---- alternatives ("a" | "b") --------------------------------------------------------------
    def _alts(self, indent: str, head: str, texts, colon: bool, hang: bool = False) -> None:
        rendered = [string(t, indent + INDENT * 2) for t in texts]
        sep = " : " if colon else " "
        one_line = f"{indent}{head}{sep}{rendered[0]}"
        fits = len(one_line) <= WIDTH and not hang
        if len(rendered) == 1 and "\n" not in rendered[0] and (fits or not colon):
            self.out.append(one_line)
            return
        if not colon:
            # instruction "a" | "b": the bars line up under the first string
            self.out.append(f"{indent}{head} {rendered[0]}")
            pad = indent + " " * (len(head) - 1)
            for r in rendered[1:]:
                self.out.append(f"{pad}| {r}")
            return
        self.out.append(f"{indent}{head}")
        for i, r in enumerate(rendered):
            self.out.append(f"{indent}{INDENT}{':' if i == 0 else '|'} {r}")

    # ---- task members ---------------------------------------------------------------------------
    def _member(self, node, indent: str) -> None:
        if isinstance(node, ast.Version):
            self.out.append(f"{indent}version {string(node.value, indent)}")
        elif isinstance(node, ast.Approve):
            self.out.append(f"{indent}approve {string(node.version, indent)} {string(node.reason, indent)}")
        elif isinstance(node, ast.About):
            self.out.append(f"{indent}about {string(node.text, indent)}")
        elif isinstance(node, ast.AnswerName):
            self.out.append(f"{indent}answer {string(node.text, indent)}")
        elif isinstance(node, ast.Labels):
            head = node.keyword + (f" {qname(node.ref)}" if node.ref else "")
            if node.block is None:
                self.out.append(f"{indent}{head}")
            else:
                self._label_block(head, node.block, indent)
        elif isinstance(node, ast.Guideline):
            head = f"guideline {name(node.name)}"
            if node.scope:
                head += " for " + ", ".join(name(n) for n in node.scope)
            self._alts(indent, head, node.texts, colon=True)
        elif isinstance(node, ast.Prefer):
            head = f"prefer {qname(node.ref)}"
            if node.args:
                head += "(" + ", ".join(value(a, indent) for a in node.args) + ")"
            if node.texts:
                self._alts(indent, head, node.texts, colon=True)
            else:
                self.out.append(indent + head)
        elif isinstance(node, ast.Instruction):
            self._alts(indent, "instruction", node.texts, colon=False)
        elif isinstance(node, ast.Formats):
            self.out.append(f"{indent}formats " + ", ".join(qname(r) for r in node.refs))
        elif isinstance(node, ast.Similar):
            self.out.append(f"{indent}similar " + ", ".join(name(n) for n in node.labels))
        elif isinstance(node, ast.InputField):
            head = f"input {name(node.name)}" + (f" {string(node.shown, indent)}" if node.shown else "")
            if node.texts:
                self._alts(indent, head, node.texts, colon=True)
            else:
                self.out.append(indent + head)
        elif isinstance(node, ast.Fields):
            self._fields_block("fields", node, node.items, indent)
        elif isinstance(node, ast.Example):
            head = node.keyword + (f" {name(node.name)}" if node.name else "")
            self._block(head, node, node.items, indent, self._io)
        elif isinstance(node, ast.Synth):
            self._block("synth", node, node.settings, indent, self._setting)
        elif isinstance(node, ast.RunProfile):
            self._block("run", node, node.settings, indent, self._setting)
        elif isinstance(node, ast.CorpusPart):
            self._block(f"task {qname(node.task)}", node, node.settings, indent, self._setting)
        elif isinstance(node, ast.Setting):
            self._setting(node, indent)
        else:  # pragma: no cover
            raise AssertionError(type(node))

    def _setting(self, node: ast.Setting, indent: str) -> None:
        tail = f" {value(node.value, indent)}" if node.value is not None else ""
        self.out.append(f"{indent}{name(node.name)}{tail}")

    def _io(self, node: ast.IO, indent: str) -> None:
        self.out.append(f"{indent}{node.keyword} " + value(node.value, indent, len(node.keyword) + 1))

    # ---- label blocks: columns aligned ------------------------------------------------------------
    def _label_block(self, head: str, block: ast.LabelBlock, indent: str) -> None:
        if not block.items and not self._has_comments_within(block):
            self.out.append(f"{indent}{head} {{}}")
            return
        self.out.append(f"{indent}{head} {{")
        inner = indent + INDENT
        rows = {id(item): self._label_cells(item, inner) for item in block.items}
        while True:
            aligned = _align([r for r in rows.values() if r is not None])
            too_long = [k for k, r in rows.items() if r is not None and len(inner + aligned[id(r)]) > WIDTH]
            if not too_long:
                break
            # the longest row hangs its description on the next line; the others align again
            longest = max(too_long, key=lambda k: len(aligned[id(rows[k])]))
            rows[longest] = None

        def render(item: ast.LabelItem, ind: str) -> None:
            cells = rows[id(item)]
            if cells is None:  # several descriptions, or too long for a line: hanging layout
                head = _join_cells(self._label_head(item, ind))
                if item.descriptions:
                    self._alts(ind, head, item.descriptions, colon=True, hang=True)
                else:
                    self.out.append(ind + head)
            else:
                self.out.append(ind + aligned[id(cells)])

        self._statements(block.items, inner, render, block.span.end - 1)
        self.out.append(f"{indent}}}")

    def _label_head(self, item: ast.LabelItem, indent: str) -> list[str]:
        cells = [name(item.code), string(item.name, indent) if item.name else ""]
        sig = item.signature
        if isinstance(sig, ast.RelSignature):
            cells.append(f"({name(sig.head)} -> {name(sig.tail)})")
        elif isinstance(sig, ast.RoleSignature):
            cells.append("roles(" + ", ".join(name(r) for r in sig.roles) + ")")
        else:
            cells.append("")
        cells.append("renamed_from " + ", ".join(name(r) for r in item.renamed_from) if item.renamed_from else "")
        return cells

    def _label_cells(self, item: ast.LabelItem, indent: str):
        if len(item.descriptions) > 1:
            return None
        cells = self._label_head(item, indent)
        cells.append(": " + string(item.descriptions[0], indent + INDENT) if item.descriptions else "")
        if any("\n" in c for c in cells):
            return None
        return cells

    # ---- fields ------------------------------------------------------------------------------------
    def _fields_block(self, head: str, node, items, indent: str) -> None:
        if not items and not self._has_comments_within(node):
            self.out.append(f"{indent}{head} {{}}")
            return
        self.out.append(f"{indent}{head} {{")
        inner = indent + INDENT

        def render(f: ast.Field, ind: str) -> None:
            t = type_expr(f.type, ind)
            if isinstance(f.type, ast.RecordType) and len(ind) + len(name(f.name)) + len(t) > WIDTH - 20:
                self._fields_block(f"{name(f.name)}", f.type, f.type.fields, ind)
                if f.texts:
                    self.out[-1] += " : " + string(f.texts[0], ind)
                    for extra in f.texts[1:]:
                        self.out.append(f"{ind}{INDENT}| {string(extra, ind)}")
                return
            head = f"{name(f.name)} {t}"
            if "\n" in head:  # a nested record on its own lines: descriptions follow its brace
                self.out.extend((ind + head).split("\n"))
                if f.texts:
                    self.out[-1] += " : " + string(f.texts[0], ind)
                    for extra in f.texts[1:]:
                        self.out.append(f"{ind}{INDENT}| {string(extra, ind)}")
            elif f.texts:
                self._alts(ind, head, f.texts, colon=True)
            else:
                self.out.append(ind + head)

        self._statements(items, inner, render, node.span.end - 1)
        self.out.append(f"{indent}}}")

    # ---- formats -------------------------------------------------------------------------------------
    def _format_stmt(self, node, indent: str) -> None:
        if isinstance(node, ast.FormatNested):
            self._block(f"for {name(node.hole)}", node, node.stmts, indent, self._format_stmt)
            return
        head = name(node.key)
        vals = [value(v, indent) for v in node.values]
        if len(vals) == 1:
            self.out.append(f"{indent}{head} {vals[0]}")
            return
        self.out.append(f"{indent}{head} {vals[0]}")
        pad = indent + " " * (len(head) - 1)  # bars under the first value
        for v in vals[1:]:
            self.out.append(f"{pad}| {v}")


# ---- leaves -------------------------------------------------------------------------------------------

def name(n: ast.Name) -> str:
    return f"`{n.text}`" if n.quoted else n.text


def qname(q: ast.QName) -> str:
    return ".".join(name(p) for p in q.parts)


def string(s: ast.Str, indent: str) -> str:
    keyword = "proposed " if s.proposed else ""  # an alternative not reviewed yet
    if s.long:
        raw = encode_long(s.value, indent + INDENT)
        if raw is not None:
            return keyword + raw
    return keyword + encode_short(s.value)


def type_expr(t, indent: str) -> str:
    """A type on one line when it fits; otherwise nested records open onto their own lines."""
    flat = _type_flat(t, indent)
    if len(indent) + len(flat) <= WIDTH - 20 or not _has_record(t):
        return flat
    return _type_broken(t, indent)


def _has_record(t) -> bool:
    if isinstance(t, ast.RecordType):
        return True
    return isinstance(t, ast.NamedType) and any(_has_record(a) for a in t.args)


def _field_flat(f: ast.Field, indent: str) -> str:
    text = f"{name(f.name)} {_type_flat(f.type, indent)}"
    if f.texts:
        text += " : " + " | ".join(string(x, indent) for x in f.texts)
    return text


def _type_flat(t, indent: str) -> str:
    if isinstance(t, ast.RecordType):
        return "{ " + " ".join(_field_flat(f, indent) for f in t.fields) + " }" if t.fields else "{}"
    if isinstance(t, ast.NamedType):
        if not t.has_parens:
            return name(t.name)
        return name(t.name) + "(" + ", ".join(type_arg(a, indent) for a in t.args) + ")"
    return type_arg(t, indent)


def _type_broken(t, indent: str) -> str:
    if isinstance(t, ast.RecordType):
        inner = indent + INDENT
        lines = []
        for f in t.fields:
            head = f"{inner}{name(f.name)} {type_expr(f.type, inner)}"
            if f.texts:
                head += " : " + string(f.texts[0], inner)
                head += "".join(f"\n{inner}{INDENT}| {string(x, inner)}" for x in f.texts[1:])
            lines.append(head)
        return "{\n" + "\n".join(lines) + "\n" + indent + "}"
    if isinstance(t, ast.NamedType):
        return name(t.name) + "(" + ", ".join(
            _type_broken(a, indent) if _has_record(a) else type_arg(a, indent) for a in t.args) + ")"
    return type_arg(t, indent)


def type_arg(a, indent: str) -> str:
    if isinstance(a, ast.Range):
        return f"{a.low.raw}..{a.high.raw}"
    if isinstance(a, ast.Bound):
        return f"{a.which} {a.value.raw}"
    if isinstance(a, ast.Str):
        return string(a, indent)
    return _type_flat(a, indent)


def value(v, indent: str, prefix: int = 0) -> str:
    """A literal on one line if it fits after `prefix` columns, else one element per line."""
    flat = _flat(v, indent)
    if len(indent) + prefix + len(flat) <= WIDTH and "\n" not in flat:
        return flat
    return _broken(v, indent)


def _key(k) -> str:
    return name(k) if isinstance(k, ast.Name) else encode_short(k.value)


def _flat(v, indent: str) -> str:
    if isinstance(v, ast.Str):
        return string(v, indent)
    if isinstance(v, ast.Num):
        return v.raw
    if isinstance(v, ast.Bool):
        return "true" if v.value else "false"
    if isinstance(v, ast.Null):
        return "null"
    if isinstance(v, ast.QName):
        return qname(v)
    if isinstance(v, ast.ListValue):
        return "[" + ", ".join(_flat(x, indent) for x in v.items) + "]"
    if isinstance(v, ast.TupleValue):
        inner = ", ".join(_flat(x, indent) for x in v.items)
        return f"({inner},)" if len(v.items) == 1 else f"({inner})"
    if isinstance(v, ast.ObjectValue):
        if not v.pairs:
            return "{}"
        return "{ " + ", ".join(f"{_key(p.key)}: {_flat(p.value, indent)}" for p in v.pairs) + " }"
    raise AssertionError(type(v))  # pragma: no cover


def _broken(v, indent: str) -> str:
    inner = indent + INDENT
    if isinstance(v, ast.ListValue) and v.items:
        body = ",\n".join(inner + value(x, inner) for x in v.items)
        return "[\n" + body + "\n" + indent + "]"
    if isinstance(v, ast.TupleValue) and len(v.items) > 1:
        body = ",\n".join(inner + value(x, inner) for x in v.items)
        return "(\n" + body + "\n" + indent + ")"
    if isinstance(v, ast.ObjectValue) and v.pairs:
        body = ",\n".join(f"{inner}{_key(p.key)}: {value(p.value, inner, len(_key(p.key)) + 2)}"
                           for p in v.pairs)
        return "{\n" + body + "\n" + indent + "}"
    return _flat(v, indent)


def _align(rows: list[list[str]]) -> dict[int, str]:
    """Pad each column to its widest cell, as gofmt aligns consecutive declarations."""
    widths = [0] * 4
    for cells in rows:
        for i in range(len(cells) - 1):
            widths[i] = max(widths[i], len(cells[i]))
    out = {}
    for cells in rows:
        last = max((i for i, c in enumerate(cells) if c), default=0)
        parts = []
        for i in range(last + 1):
            if i == last:
                parts.append(cells[i])
            elif widths[i]:
                parts.append(cells[i].ljust(widths[i]))
        out[id(cells)] = " ".join(parts).rstrip()
    return out


def _join_cells(cells: list[str]) -> str:
    return " ".join(c for c in cells if c)


def format_text(text: str, path: str = "<string>"):
    """(formatted text, diagnostics); the text is None when the file has syntax errors."""
    from .syntax.parser import parse_source

    src = SourceFile(path, text)
    module, diags = parse_source(src)
    if diags:
        return None, diags
    return format_module(module, src), []
