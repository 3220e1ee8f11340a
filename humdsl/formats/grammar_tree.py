"""A format's grammar as a small tree: what the format builders make, and what the rest reads.

From one tree come, as plain functions:

- `lark`: the text llguidance compiles (its Lark dialect);
- `gbnf` (formats/gbnf.py): the same grammar in llama.cpp's GBNF, for its server;
- `max_bytes`: a bound no accepted answer exceeds, in UTF-8 bytes (the decoder's token budget);
- `without_length_bounds`, `without_grounding`, `with_reasoning`: the grammars the decoder
  derives from a format's own (runtime/checked.py, runtime/jumpforward.py, reasoning.py);
- the skeleton of grounded answers (lark_nfa.read_skeleton walks the tree).

Rule bodies are expressions (`Lit`, `Ref`, `Seq`, `Alt`, `Group`, `Repeat`); a grammar is a list
of definitions, the start rule first: rules (lazy ones end at a literal `suffix`), terminals (an
intersection of regexes and other terminals, with the builder's byte bound), length terminals
(one character class repeated lo..hi times) and grounding terminals (the input's chunks).
`Group` is the parentheses as written, so that the text is exactly what the builders always wrote.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Union

from .spans import LENGTH_PREFIX, FreeRule, SpanRule, lark_string, substring_regex


@dataclass(frozen=True, slots=True)
class Lit:
    text: str


@dataclass(frozen=True, slots=True)
class Ref:
    name: str  # a rule's or a terminal's


@dataclass(frozen=True, slots=True)
class Seq:
    parts: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Alt:
    options: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Group:
    inner: Expr


@dataclass(frozen=True, slots=True)
class Repeat:
    inner: Expr
    lo: int
    hi: int


Expr = Union[Lit, Ref, Seq, Alt, Group, Repeat]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    body: Expr
    suffix: str | None = None  # llguidance's lazy lexeme: the body's text ends at the first `suffix`


@dataclass(frozen=True, slots=True)
class Terminal:
    name: str
    parts: tuple[str | Ref, ...]  # intersected: regex texts (`/.../`, `~/.../`) and other terminals
    max_bytes: int  # the most bytes the terminal matches (the builder knows what it holds)


@dataclass(frozen=True, slots=True)
class Length:
    """`char` (a regex for one character) repeated lo..hi times: a bound on free text, which the
    decoder can lift (`without_length_bounds`)."""
    name: str
    char: str
    lo: int
    hi: int | None  # None: lifted
    char_bytes: int  # the most bytes one `char` takes


@dataclass(frozen=True, slots=True)
class Grounding:
    """Whole-chunk substrings of the input (`spans.substring_regex`), intersected into span
    terminals; the decoder can lift them (`without_grounding`)."""
    name: str
    source: str
    json_escaped: bool


Definition = Union[Rule, Terminal, Length, Grounding]


@dataclass(frozen=True, slots=True)
class GrammarTree:
    defs: tuple[Definition, ...]  # the start rule first, then in the order they were made
    # the span and free-text terminals whose language the answer DAG writes itself, by name
    spans: dict[str, SpanRule | FreeRule] = field(default_factory=dict, hash=False)


# ---- the Lark text ---------------------------------------------------------------------------------

def lark(tree: GrammarTree) -> str:
    return "\n".join(_written(d) for d in tree.defs) + "\n"


def _written(d: Definition) -> str:
    if isinstance(d, Rule):
        head = d.name if d.suffix is None else f"{d.name}[suffix={lark_string(d.suffix)}]"
        return f"{head}: {expr_text(d.body)}"
    if isinstance(d, Terminal):
        return f"{d.name}: " + " & ".join(p if isinstance(p, str) else p.name for p in d.parts)
    if isinstance(d, Length):
        return f"{d.name}: /{d.char}{{{d.lo},{'' if d.hi is None else d.hi}}}/"
    return f"{d.name}: " + substring_regex(d.source, json_escaped=d.json_escaped)


def expr_text(e: Expr) -> str:
    if isinstance(e, Lit):
        return lark_string(e.text)
    if isinstance(e, Ref):
        return e.name
    if isinstance(e, Seq):
        return " ".join([expr_text(p) for p in e.parts]) if e.parts else '""'
    if isinstance(e, Alt):
        return " | ".join([expr_text(o) for o in e.options])
    if isinstance(e, Group):
        return f"({expr_text(e.inner)})"
    return f"({expr_text(e.inner)}){{{e.lo},{e.hi}}}"


# ---- the byte bound --------------------------------------------------------------------------------

class Unbounded(ValueError):
    """The grammar has no byte bound (a lifted length terminal, a grounding terminal used alone)."""


def max_bytes(tree: GrammarTree) -> int:
    """The most UTF-8 bytes of any answer the grammar accepts."""
    defs = {d.name: d for d in tree.defs}
    known: dict[str, int] = {}

    def of_name(name: str) -> int:
        if name not in known:
            d = defs[name]
            if isinstance(d, Rule):
                known[name] = of_expr(d.body) + (_bytes(d.suffix) if d.suffix else 0)
            elif isinstance(d, Terminal):
                known[name] = d.max_bytes
            elif isinstance(d, Length) and d.hi is not None:
                known[name] = d.hi * d.char_bytes
            else:
                raise Unbounded(f"{name} has no byte bound")
        return known[name]

    def of_expr(e: Expr) -> int:
        if isinstance(e, Lit):
            return _bytes(e.text)
        if isinstance(e, Ref):
            return of_name(e.name)
        if isinstance(e, Seq):
            return sum(of_expr(p) for p in e.parts)
        if isinstance(e, Alt):
            return max(of_expr(o) for o in e.options)
        if isinstance(e, Group):
            return of_expr(e.inner)
        return e.hi * of_expr(e.inner)

    return of_name(tree.defs[0].name)


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


# ---- derived grammars ------------------------------------------------------------------------------

def without_length_bounds(tree: GrammarTree) -> GrammarTree | None:
    """The grammar with every length terminal's upper bound lifted: a language that holds the
    grammar's own, whose free-text lexemes llguidance meets again in the same lexer state (and so
    can take their masks from its cache); see runtime/checked.py. None where nothing is bounded."""
    if not any(isinstance(d, Length) for d in tree.defs):
        return None
    return replace(tree, defs=tuple(replace(d, hi=None) if isinstance(d, Length) else d for d in tree.defs))


def without_grounding(tree: GrammarTree) -> GrammarTree | None:
    """The grammar with its grounding terminals lifted: each grounded hole takes any text of its
    shape. A language that holds the grammar's own, and the same for every input of a format and
    label batch, so compiled once (JumpForwardDecoder's early start). None where the grammar
    grounds nothing, or uses a grounding terminal other than intersected into another."""
    grounding = {d.name for d in tree.defs if isinstance(d, Grounding)}
    if not grounding:
        return None
    kept: list[Definition] = []
    for d in tree.defs:
        if isinstance(d, Grounding):
            continue
        if isinstance(d, Rule) and _mentions(d.body, grounding):
            return None
        if isinstance(d, Terminal):
            parts = tuple(p for p in d.parts if not (isinstance(p, Ref) and p.name in grounding))
            if not parts:
                return None
            d = replace(d, parts=parts)
        kept.append(d)
    return replace(tree, defs=tuple(kept))


def _mentions(e: Expr, names: set[str]) -> bool:
    if isinstance(e, Ref):
        return e.name in names
    if isinstance(e, (Seq, Alt)):
        return any(_mentions(p, names) for p in (e.parts if isinstance(e, Seq) else e.options))
    if isinstance(e, (Group, Repeat)):
        return _mentions(e.inner, names)
    return False


# ---- building ------------------------------------------------------------------------------------

class TreeBuilder:
    """What the format builders share: fresh names, definitions in the order made, and terminals
    defined once however many holes use them (llguidance compiles each definition, so sharing
    saves set-up time per input)."""

    def __init__(self) -> None:
        self.defs: list[Definition] = []
        self.count = 0
        self._interned: dict[object, str] = {}
        self.spans: dict[str, SpanRule | FreeRule] = {}

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def rule(self, prefix: str, body: Expr, suffix: str | None = None) -> Ref:
        name = self.fresh(prefix)
        self.defs.append(Rule(name, body, suffix))
        return Ref(name)

    def terminal(self, prefix: str, parts: tuple[str | Ref, ...], max_bytes: int) -> Ref:
        """A terminal for these intersected parts, shared with any earlier one alike."""
        key = ("terminal", parts)
        name = self._interned.get(key)
        if name is None:
            name = self._interned[key] = self.fresh(prefix)
            self.defs.append(Terminal(name, parts, max_bytes))
        return Ref(name)

    def fresh_terminal(self, prefix: str, parts: tuple[str | Ref, ...], max_bytes: int) -> Ref:
        """A terminal of its own (not shared)."""
        name = self.fresh(prefix)
        self.defs.append(Terminal(name, parts, max_bytes))
        return Ref(name)

    def length(self, char: str, lo: int, hi: int, char_bytes: int) -> Ref:
        """The length terminal for lo..hi repetitions of `char`, shared."""
        key = ("length", char, lo, hi)
        name = self._interned.get(key)
        if name is None:
            name = self._interned[key] = self.fresh(LENGTH_PREFIX)
            self.defs.append(Length(name, char, lo, hi, char_bytes))
        return Ref(name)

    def tree(self, start: Expr, grounding: tuple[Grounding, ...] = ()) -> GrammarTree:
        return GrammarTree((Rule("start", start), *self.defs, *grounding), dict(self.spans))
