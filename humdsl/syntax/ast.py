"""AST nodes: frozen dataclasses, each with the span of source it came from.

The AST keeps everything the formatter needs to print a file back (string style, number
spelling, member order); comments are kept beside it on the Module.
"""
from __future__ import annotations

from typing import Union

from ..source import Span

_MISSING = object()


def node(cls):
    """A light stand-in for @dataclass(frozen=True): the same field syntax, but classes are built
    without exec, which keeps `humc check` start-up fast (about 1 ms saved per class)."""
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for name in klass.__dict__.get("__annotations__", {}):
            if name not in names and not name.startswith("_"):
                names.append(name)
    defaults = {n: cls.__dict__[n] for n in names if n in cls.__dict__}
    cls._fields = tuple(names)
    cls._defaults = defaults
    if names:
        # A specialised __init__ (one small exec per class): the parser builds many nodes.
        params = ", ".join(f"{n}=_default_{n}" if n in defaults else n for n in names)
        body = "".join(f"\n    _set(self, {n!r}, {n})" for n in names)
        scope = {"_set": object.__setattr__, **{f"_default_{n}": v for n, v in defaults.items()}}
        exec(f"def __init__(self, {params}):{body}", scope)
        cls.__init__ = scope["__init__"]
    return cls


class Node:
    """Immutable AST node with a span; fields are declared as annotations on subclasses."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _defaults: dict = {}
    span: Span

    def __init__(self, *args, **kwargs):
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__} takes {len(fields)} fields")
        values = dict(zip(fields, args))
        values.update(kwargs)
        for name in fields:
            value = values.get(name, _MISSING)
            if value is _MISSING:
                value = self._defaults.get(name, _MISSING)
                if value is _MISSING:
                    raise TypeError(f"{type(self).__name__} needs '{name}'")
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({inner})"


# The decorated class replaces the bare one under the same name: a dynamic rebinding mypy cannot follow.
Node = node(type("Node", (Node,), {"__annotations__": {"span": "Span"}, "__slots__": ()}))  # type: ignore[misc]


# ---- leaves and values ---------------------------------------------------------------------

@node
class Name(Node):
    text: str
    quoted: bool = False  # written as `...`


@node
class QName(Node):
    parts: tuple[Name, ...]

    @property
    def dotted(self) -> str:
        return ".".join(p.text for p in self.parts)


@node
class Str(Node):
    value: str
    long: bool = False  # written as a """triple-quoted""" string
    proposed: bool = False  # an alternative written `| proposed "..."`: not reviewed yet


@node
class Num(Node):
    raw: str

    @property
    def value(self) -> int | float:
        try:
            return int(self.raw)
        except ValueError:
            return float(self.raw)


@node
class Bool(Node):
    value: bool


@node
class Null(Node):
    pass


@node
class ListValue(Node):
    items: tuple["Value", ...]


@node
class Pair(Node):
    key: Union[Name, Str]
    value: "Value"


@node
class ObjectValue(Node):
    pairs: tuple[Pair, ...]


@node
class TupleValue(Node):
    items: tuple["Value", ...]


Value = Union[Str, Num, Bool, Null, QName, ListValue, ObjectValue, TupleValue]
Scalar = Union[Str, Num, Bool, Null]


# ---- labels ---------------------------------------------------------------------------------

@node
class RelSignature(Node):
    head: Name
    tail: Name


@node
class RoleSignature(Node):
    roles: tuple[Name, ...]


@node
class LabelItem(Node):
    code: Name
    name: Str | None
    signature: RelSignature | RoleSignature | None
    descriptions: tuple[Str, ...]
    renamed_from: tuple[Name, ...] = ()  # the codes this label had in earlier versions


@node
class LabelBlock(Node):
    items: tuple[LabelItem, ...]


# ---- task members -----------------------------------------------------------------------------

@node
class Version(Node):
    value: Str


@node
class Approve(Node):
    """`approve "VERSION" "REASON"`: the changes made in that version are intended, whatever
    bump `humc diff --check-version` would ask for."""
    version: Str
    reason: Str


@node
class About(Node):
    text: Str


@node
class Labels(Node):
    keyword: str  # "labels" | "types" | "roles"
    ref: QName | None
    block: LabelBlock | None


@node
class Guideline(Node):
    name: Name
    scope: tuple[Name, ...]
    texts: tuple[Str, ...]


@node
class Prefer(Node):
    ref: QName
    args: tuple[Value, ...]
    texts: tuple[Str, ...]  # non-empty: an inline advisory rule


@node
class Instruction(Node):
    texts: tuple[Str, ...]


@node
class Formats(Node):
    refs: tuple[QName, ...]


@node
class Similar(Node):
    labels: tuple[Name, ...]


@node
class InputField(Node):
    name: Name
    texts: tuple[Str, ...]
    shown: Str | None = None  # the name the prompt shows it by (`input text "Sentence"`)


@node
class AnswerName(Node):
    """`answer "Sentiment"`: the name the prompt shows the answer by."""
    text: Str


@node
class NamedType(Node):
    name: Name
    args: tuple["TypeArg", ...]
    has_parens: bool = False


@node
class RecordType(Node):
    fields: tuple["Field", ...]


@node
class Range(Node):
    low: Num
    high: Num


@node
class Bound(Node):
    which: str  # "max" | "min"
    value: Num


TypeExpr = Union[NamedType, RecordType]
TypeArg = Union[NamedType, RecordType, Range, Bound, Str]


@node
class Field(Node):
    name: Name
    type: TypeExpr
    texts: tuple[Str, ...]


@node
class Fields(Node):
    items: tuple[Field, ...]


@node
class IO(Node):
    keyword: str  # input | output | expect | includes | excludes | min_f1 | one_of
    value: Value


@node
class Example(Node):
    keyword: str  # "example" | "test"
    name: Name | None
    items: tuple[IO, ...]


@node
class Setting(Node):
    name: Name
    value: Scalar | None


@node
class Synth(Node):
    settings: tuple[Setting, ...]


@node
class RunProfile(Node):
    settings: tuple[Setting, ...]


Member = Union[Version, About, Labels, Guideline, Prefer, Instruction, Formats, Similar,
               InputField, AnswerName, Fields, Example, Synth, RunProfile, Setting]


# ---- declarations ---------------------------------------------------------------------------

@node
class Import(Node):
    path: Str
    alias: Name | None


@node
class FromImport(Node):
    path: Str
    names: tuple[Name, ...]


@node
class Task(Node):
    name: Name
    kind: Name
    members: tuple[Member, ...]


@node
class CorpusPart(Node):
    task: QName
    settings: tuple[Setting, ...]


@node
class Corpus(Node):
    name: Name
    members: tuple[Union[About, CorpusPart, Setting], ...]


@node
class FormatSetting(Node):
    key: Name
    values: tuple[Value, ...]


@node
class FormatNested(Node):
    hole: Name
    stmts: tuple[Union[FormatSetting, "FormatNested"], ...]


@node
class FormatDecl(Node):
    name: Name
    kinds: tuple[Name, ...]
    stmts: tuple[Union[FormatSetting, FormatNested], ...]


@node
class Effect(Node):
    name: Name
    args: tuple[Value, ...]


@node
class RuleDecl(Node):
    name: Name
    params: tuple[Name, ...]
    effect: Effect | None
    texts: tuple[Str, ...]


@node
class LabelSetDecl(Node):
    name: Name
    block: LabelBlock


Decl = Union[Import, FromImport, Task, FormatDecl, RuleDecl, LabelSetDecl, Corpus]


@node
class Comment(Node):
    text: str  # including the leading '#'


@node
class Module(Node):
    decls: tuple[Decl, ...]
    comments: tuple[Comment, ...]


def strip_spans(node):
    """A span-free structural fingerprint: equal for sources that mean the same thing."""
    if isinstance(node, Node):
        return (type(node).__name__,) + tuple(
            (name, strip_spans(getattr(node, name))) for name in node._fields
            if name not in ("span", "comments"))
    if isinstance(node, tuple):
        return tuple(strip_spans(n) for n in node)
    return node
