"""AST nodes: frozen dataclasses, each with the span of source it came from.

The AST keeps everything the formatter needs to print a file back (string style, number
spelling, member order); comments are kept beside it on the Module.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Union

from ..source import Span


@dataclass(frozen=True)
class Node:
    span: Span


# ---- leaves and values ---------------------------------------------------------------------

@dataclass(frozen=True)
class Name(Node):
    text: str
    quoted: bool = False  # written as `...`


@dataclass(frozen=True)
class QName(Node):
    parts: tuple[Name, ...]

    @property
    def dotted(self) -> str:
        return ".".join(p.text for p in self.parts)


@dataclass(frozen=True)
class Str(Node):
    value: str
    long: bool = False  # written as a """triple-quoted""" string


@dataclass(frozen=True)
class Num(Node):
    raw: str

    @property
    def value(self) -> int | float:
        try:
            return int(self.raw)
        except ValueError:
            return float(self.raw)


@dataclass(frozen=True)
class Bool(Node):
    value: bool


@dataclass(frozen=True)
class Null(Node):
    pass


@dataclass(frozen=True)
class ListValue(Node):
    items: tuple["Value", ...]


@dataclass(frozen=True)
class Pair(Node):
    key: Union[Name, Str]
    value: "Value"


@dataclass(frozen=True)
class ObjectValue(Node):
    pairs: tuple[Pair, ...]


@dataclass(frozen=True)
class TupleValue(Node):
    items: tuple["Value", ...]


Value = Union[Str, Num, Bool, Null, QName, ListValue, ObjectValue, TupleValue]
Scalar = Union[Str, Num, Bool, Null]


# ---- labels ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RelSignature(Node):
    head: Name
    tail: Name


@dataclass(frozen=True)
class RoleSignature(Node):
    roles: tuple[Name, ...]


@dataclass(frozen=True)
class LabelItem(Node):
    code: Name
    name: Str | None
    signature: RelSignature | RoleSignature | None
    descriptions: tuple[Str, ...]


@dataclass(frozen=True)
class LabelBlock(Node):
    items: tuple[LabelItem, ...]


# ---- task members -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Version(Node):
    value: Str


@dataclass(frozen=True)
class About(Node):
    text: Str


@dataclass(frozen=True)
class Labels(Node):
    keyword: str  # "labels" | "types" | "roles"
    ref: QName | None
    block: LabelBlock | None


@dataclass(frozen=True)
class Guideline(Node):
    name: Name
    scope: tuple[Name, ...]
    texts: tuple[Str, ...]


@dataclass(frozen=True)
class Prefer(Node):
    ref: QName
    args: tuple[Value, ...]
    texts: tuple[Str, ...]  # non-empty: an inline advisory rule


@dataclass(frozen=True)
class Instruction(Node):
    texts: tuple[Str, ...]


@dataclass(frozen=True)
class Formats(Node):
    refs: tuple[QName, ...]


@dataclass(frozen=True)
class Similar(Node):
    labels: tuple[Name, ...]


@dataclass(frozen=True)
class InputField(Node):
    name: Name
    texts: tuple[Str, ...]


@dataclass(frozen=True)
class NamedType(Node):
    name: Name
    args: tuple["TypeArg", ...]
    has_parens: bool = False


@dataclass(frozen=True)
class RecordType(Node):
    fields: tuple["Field", ...]


@dataclass(frozen=True)
class Range(Node):
    low: Num
    high: Num


@dataclass(frozen=True)
class Bound(Node):
    which: str  # "max" | "min"
    value: Num


TypeExpr = Union[NamedType, RecordType]
TypeArg = Union[NamedType, RecordType, Range, Bound, Str]


@dataclass(frozen=True)
class Field(Node):
    name: Name
    type: TypeExpr
    texts: tuple[Str, ...]


@dataclass(frozen=True)
class Fields(Node):
    items: tuple[Field, ...]


@dataclass(frozen=True)
class IO(Node):
    keyword: str  # input | output | expect | includes | excludes
    value: Value


@dataclass(frozen=True)
class Example(Node):
    keyword: str  # "example" | "test"
    name: Name | None
    items: tuple[IO, ...]


@dataclass(frozen=True)
class Setting(Node):
    name: Name
    value: Scalar | None


@dataclass(frozen=True)
class Synth(Node):
    settings: tuple[Setting, ...]


Member = Union[Version, About, Labels, Guideline, Prefer, Instruction, Formats, Similar,
               InputField, Fields, Example, Synth, Setting]


# ---- declarations ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Import(Node):
    path: Str
    alias: Name | None


@dataclass(frozen=True)
class FromImport(Node):
    path: Str
    names: tuple[Name, ...]


@dataclass(frozen=True)
class Task(Node):
    name: Name
    kind: Name
    members: tuple[Member, ...]


@dataclass(frozen=True)
class FormatSetting(Node):
    key: Name
    values: tuple[Value, ...]


@dataclass(frozen=True)
class FormatNested(Node):
    hole: Name
    stmts: tuple[Union[FormatSetting, "FormatNested"], ...]


@dataclass(frozen=True)
class FormatDecl(Node):
    name: Name
    kinds: tuple[Name, ...]
    stmts: tuple[Union[FormatSetting, FormatNested], ...]


@dataclass(frozen=True)
class Effect(Node):
    name: Name
    args: tuple[Value, ...]


@dataclass(frozen=True)
class RuleDecl(Node):
    name: Name
    params: tuple[Name, ...]
    effect: Effect | None
    texts: tuple[Str, ...]


@dataclass(frozen=True)
class LabelSetDecl(Node):
    name: Name
    block: LabelBlock


Decl = Union[Import, FromImport, Task, FormatDecl, RuleDecl, LabelSetDecl]


@dataclass(frozen=True)
class Comment:
    span: Span
    text: str  # including the leading '#'


@dataclass(frozen=True)
class Module(Node):
    decls: tuple[Decl, ...]
    comments: tuple[Comment, ...]


def strip_spans(node):
    """A span-free structural fingerprint: equal for sources that mean the same thing."""
    if isinstance(node, Node):
        return (type(node).__name__,) + tuple(
            (f.name, strip_spans(getattr(node, f.name))) for f in fields(node)
            if f.name not in ("span", "comments"))
    if isinstance(node, tuple):
        return tuple(strip_spans(n) for n in node)
    return node
