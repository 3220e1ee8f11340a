"""Parse .hum text into an AST, turning every Lark error into a coded diagnostic."""
from __future__ import annotations

import re
import sys
import threading
from functools import lru_cache

# Lark imports the third-party 'regex' module when it is installed (transformers brings it) but
# only uses it when asked to; hiding it while Lark loads saves ~40 ms on every `humc check`.
_hidden = "regex" not in sys.modules
if _hidden:
    sys.modules["regex"] = None  # type: ignore[assignment]  # makes `import regex` fail inside lark
try:
    from lark import Lark, Token, Transformer
finally:
    if _hidden:
        del sys.modules["regex"]
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from .. import codes
from ..diagnostics import Diagnostic
from ..resources import cache_dir, grammar_path
from ..source import SourceFile, Span
from . import ast
from .strings import StringError, decode_long, decode_short

class _ParseState(threading.local):
    """What one parse collects, per thread: the parser object is shared (building it costs), its
    lexer callback and AST builder are not re-entered by a thread, so parses in several threads
    (an editor server's) do not mix their comments, sources or errors."""

    def __init__(self) -> None:
        self.src = SourceFile("<none>", "")
        self.errors: list[Diagnostic] = []
        self.comments: list[Token] = []  # filled by the lexer callback


_STATE = _ParseState()


def _comment(token: Token) -> None:
    _STATE.comments.append(token)


@lru_cache(maxsize=1)
def _lark() -> Lark:
    """The parser, building the AST as it reduces (no intermediate parse tree: about twice as fast)."""
    text = grammar_path().read_text(encoding="utf-8")
    kwargs = dict(parser="lalr", keep_all_tokens=True, maybe_placeholders=False,
                  lexer_callbacks={"COMMENT": _comment}, transformer=_BUILDER)
    try:
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        return Lark(text, cache=str(folder / "grammar.lark-cache"), **kwargs)
    except OSError:  # a read-only home: build the tables in memory instead
        return Lark(text, **kwargs)


# ---- friendly names for terminals in "expected ..." messages ---------------------------------

_TERMINAL_WORDS = {
    "NAME": "a name", "QUOTED_NAME": "a `quoted name`", "STRING": "a string",
    "LONG_STRING": "a string", "NUMBER": "a number", "$END": "end of file",
}


@lru_cache(maxsize=1)
def _terminal_display() -> dict[str, str]:
    out = dict(_TERMINAL_WORDS)
    for term in _lark().terminals:
        if term.name not in out and term.pattern.type == "str":
            out[term.name] = f"'{term.pattern.value}'"
    return out


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type in ("STRING", "LONG_STRING"):
        return "a string"
    if tok.type == "NUMBER":
        return f"number {tok.value}"
    if tok.type in ("NAME", "QUOTED_NAME"):
        return f"name '{tok.value}'"
    return f"'{tok.value}'"


def _expected(names) -> str:
    shown = sorted({_terminal_display().get(n, n) for n in names})
    if len(shown) > 10:
        return ", ".join(shown[:10]) + f", or one of {len(shown) - 10} more"
    if len(shown) > 1:
        return ", ".join(shown[:-1]) + " or " + shown[-1]
    return shown[0] if shown else "something else"


_TOP_LEVEL = re.compile(r"^(task|format|rule|labels|import|from)\b", re.M)


def _unclosed_brace(text: str) -> int | None:
    """Offset of the last '{' left open, skipping strings and comments."""
    stack: list[int] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith('"""', i):
            j = text.find('"""', i + 3)
            i = n if j < 0 else j + 3
            continue
        if ch == '"':
            j = i + 1
            while j < n and text[j] not in '"\n':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if ch == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            stack.pop()
        i += 1
    return stack[-1] if stack else None


def _syntax_diagnostic(err: UnexpectedInput, src: SourceFile) -> tuple[Diagnostic, int]:
    """The diagnostic for one Lark error, and the offset where it happened."""
    if isinstance(err, UnexpectedCharacters):
        pos = _at(err.pos_in_stream)
        ch = src.text[pos] if pos < len(src.text) else ""
        if ch == '"':
            return Diagnostic(codes.BAD_STRING, "unterminated string literal", src.span(pos, pos + 1),
                              notes=("a \"string\" must end on the line where it starts; use "
                                     "\"\"\"triple quotes\"\"\" for text over several lines",)), pos
        if ch == "`":
            return Diagnostic(codes.SYNTAX, "unterminated `quoted name`", src.span(pos, pos + 1)), pos
        shown = repr(ch)[1:-1]
        return Diagnostic(codes.SYNTAX, f"unexpected character '{shown}'", src.span(pos, pos + 1),
                          notes=(f"expected {_expected(err.allowed)}",) if err.allowed else ()), pos
    if isinstance(err, UnexpectedToken) and err.token.type != "$END":
        tok = err.token
        pos = tok.start_pos
        end = tok.end_pos if tok.end_pos is not None else pos + 1
        notes = []
        if tok.type == "NAME" and "NAME" not in err.expected and tok.value in _keywords():
            notes.append(f"'{tok.value}' cannot be used here")
        return Diagnostic(codes.SYNTAX, f"unexpected {_describe_token(tok)}; expected "
                          f"{_expected(err.expected)}", src.span(pos, end), notes=tuple(notes)), pos
    # end of file: point just after the last character, not at an empty last line
    pos = len(src.text.rstrip())
    opened = _unclosed_brace(src.text)
    if opened is not None:
        line, col = src.position(opened)
        return Diagnostic(codes.SYNTAX, "unexpected end of file; expected '}'", src.span(pos, pos),
                          notes=(f"the block opened at line {line}, column {col} is not closed",)), pos
    expected = getattr(err, "expected", None) or ()
    return Diagnostic(codes.SYNTAX, f"unexpected end of file; expected {_expected(expected)}",
                      src.span(pos, pos)), pos


@lru_cache(maxsize=1)
def _keywords() -> frozenset[str]:
    return frozenset(t.pattern.value for t in _lark().terminals
                     if t.pattern.type == "str" and t.pattern.value.isalpha())


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


# ---- tree -> AST ---------------------------------------------------------------------------------

_VALUE_TOKENS = frozenset({"NAME", "QUOTED_NAME", "STRING", "LONG_STRING", "NUMBER"})


def _first(x):
    """(offset, line, column) where a child starts: a token, a node, or a tuple of them."""
    if isinstance(x, Token):
        return x.start_pos, x.line, x.column
    if isinstance(x, tuple):
        for item in x:
            if not isinstance(item, str) or isinstance(item, Token):
                return _first(item)
        return None
    sp = x.span
    return sp.start, sp.line, sp.column


def _last(x):
    if isinstance(x, Token):
        return x.end_pos, x.end_line, x.end_column
    if isinstance(x, tuple):
        for item in reversed(x):
            if not isinstance(item, str) or isinstance(item, Token):
                return _last(item)
        return None
    sp = x.span
    return sp.end, sp.end_line, sp.end_column


def _at(position: int | None) -> int:
    """Lark's positions are typed optional; the LALR lexer always sets them."""
    return position if position is not None else 0


def _spanned(fn):
    """Give a rule method the span of everything it reduced, and only its meaningful children
    (the parser keeps every token so that spans cover keywords and braces)."""
    def rule(self, children):
        start = end = None
        for c in children:
            start = _first(c)
            if start is not None:
                break
        for c in reversed(children):
            end = _last(c)
            if end is not None:
                break
        if start is None or end is None:
            span = self.src.span(0, 0)
        else:
            span = Span(self.src.path, start[0], end[0], start[1], start[2], end[1], end[2])
        kept = [c for c in children if c.__class__ is not Token or c.type in _VALUE_TOKENS]
        return fn(self, span, kept)
    rule.__name__ = fn.__name__
    return rule


def _filtered(fn):
    def rule(self, children):
        return fn(self, [c for c in children if not isinstance(c, Token) or c.type in _VALUE_TOKENS])
    rule.__name__ = fn.__name__
    return rule


class _Renamed:
    """A label's `renamed_from` codes, told apart from its descriptions (also a tuple)."""

    def __init__(self, span: Span, codes: tuple) -> None:
        self.span = span
        self.codes = codes


def _io_rule(keyword: str):
    """The rule method of one of the five IO keywords (input, output, expect, ...)."""
    @_spanned
    def rule(self, span, children):
        return ast.IO(span, keyword, children[0])
    return rule


class _ToAst(Transformer):
    """Called by the parser on every reduction; `src` and `errors` are this thread's parse's."""

    def __init__(self) -> None:
        super().__init__(visit_tokens=False)

    @property
    def src(self) -> SourceFile:
        return _STATE.src

    @property
    def errors(self) -> list[Diagnostic]:
        return _STATE.errors

    def _tok_span(self, tok: Token) -> Span:
        return Span(self.src.path, _at(tok.start_pos), _at(tok.end_pos), _at(tok.line), _at(tok.column),
                    _at(tok.end_line), _at(tok.end_column))

    def _name(self, tok) -> ast.Name:
        if isinstance(tok, ast.Name):
            return tok
        if tok.type == "QUOTED_NAME":
            return ast.Name(self._tok_span(tok), tok.value[1:-1], quoted=True)
        return ast.Name(self._tok_span(tok), str(tok))

    # values
    @_spanned
    def string(self, span, children):
        tok = children[0]
        long = tok.type == "LONG_STRING"
        try:
            value = decode_long(tok.value) if long else decode_short(tok.value)
        except StringError as e:
            start = tok.start_pos + e.offset
            self.errors.append(Diagnostic(codes.BAD_STRING, e.message,
                                          self.src.span(start, start + e.length)))
            value = ""
        return ast.Str(self._tok_span(tok), value, long)

    @_spanned
    def number(self, span, children):
        return ast.Num(self._tok_span(children[0]), str(children[0]))

    @_spanned
    def true(self, span, children):
        return ast.Bool(span, True)

    @_spanned
    def false(self, span, children):
        return ast.Bool(span, False)

    @_spanned
    def null(self, span, children):
        return ast.Null(span)

    @_spanned
    def qname(self, span, children):
        return ast.QName(span, tuple(self._name(c) for c in children))

    @_spanned
    def list(self, span, children):
        return ast.ListValue(span, tuple(c for c in children if c is not None))

    @_spanned
    def tuple(self, span, children):
        return ast.TupleValue(span, tuple(c for c in children if c is not None))

    @_spanned
    def object(self, span, children):
        return ast.ObjectValue(span, tuple(c for c in children if c is not None))

    @_spanned
    def pair(self, span, children):
        key, value = children
        if isinstance(key, Token):
            key = self._name(key)
        return ast.Pair(span, key, value)

    @_spanned
    def proposed_string(self, span, children):
        # The Str keeps the string's own span: diagnostics point at the text, not the keyword.
        s = children[0]
        return ast.Str(s.span, s.value, s.long, proposed=True)

    @_filtered
    def alts(self, children):
        return tuple(children)

    # labels
    def _label_body(self, span, keyword, children):
        ref = next((c for c in children if isinstance(c, ast.QName)), None)
        block = next((c for c in children if isinstance(c, ast.LabelBlock)), None)
        return ast.Labels(span, keyword, ref, block)

    @_spanned
    def labels(self, span, children):
        return self._label_body(span, "labels", children)

    @_spanned
    def types(self, span, children):
        return self._label_body(span, "types", children)

    @_spanned
    def roles(self, span, children):
        return self._label_body(span, "roles", children)

    @_spanned
    def label_block(self, span, children):
        return ast.LabelBlock(span, tuple(children))

    @_spanned
    def label_item(self, span, children):
        code = self._name(children[0])
        name = sig = None
        descriptions: tuple = ()
        renamed: tuple = ()
        for c in children[1:]:
            if isinstance(c, ast.Str):
                name = c
            elif isinstance(c, (ast.RelSignature, ast.RoleSignature)):
                sig = c
            elif isinstance(c, _Renamed):
                renamed = c.codes
            elif isinstance(c, tuple):
                descriptions = c
        return ast.LabelItem(span, code, name, sig, descriptions, renamed)

    @_spanned
    def renamed(self, span, children):
        return _Renamed(span, tuple(self._name(c) for c in children))

    @_spanned
    def rel_signature(self, span, children):
        return ast.RelSignature(span, self._name(children[0]), self._name(children[1]))

    @_spanned
    def role_signature(self, span, children):
        return ast.RoleSignature(span, tuple(self._name(c) for c in children))

    # task members
    @_spanned
    def version(self, span, children):
        return ast.Version(span, children[0])

    @_spanned
    def approve(self, span, children):
        return ast.Approve(span, children[0], children[1])

    @_spanned
    def about(self, span, children):
        return ast.About(span, children[0])

    @_spanned
    def scope(self, span, children):
        return tuple(self._name(c) for c in children)

    @_spanned
    def guideline(self, span, children):
        name = self._name(children[0])
        scope = children[1] if len(children) == 3 else ()
        return ast.Guideline(span, name, scope, children[-1])

    @_spanned
    def call_args(self, span, children):
        return ("args", tuple(children))

    @_spanned
    def prefer(self, span, children):
        ref = children[0]
        args: tuple = ()
        texts: tuple = ()
        for c in children[1:]:
            if isinstance(c, tuple) and c and c[0] == "args":
                args = c[1]
            elif isinstance(c, tuple):
                texts = c
        return ast.Prefer(span, ref, args, texts)

    @_spanned
    def instruction(self, span, children):
        return ast.Instruction(span, children[0])

    @_spanned
    def formats(self, span, children):
        return ast.Formats(span, tuple(children))

    @_spanned
    def similar(self, span, children):
        return ast.Similar(span, tuple(self._name(c) for c in children))

    @_spanned
    def input_field(self, span, children):
        shown = next((c for c in children[1:] if isinstance(c, ast.Str)), None)
        texts = next((c for c in children[1:] if isinstance(c, tuple)), ())
        return ast.InputField(span, self._name(children[0]), texts, shown)

    @_spanned
    def answer_name(self, span, children):
        return ast.AnswerName(span, children[0])

    @_spanned
    def fields(self, span, children):
        return ast.Fields(span, tuple(children))

    @_spanned
    def field(self, span, children):
        texts = children[2] if len(children) > 2 else ()
        return ast.Field(span, self._name(children[0]), children[1], texts)

    @_spanned
    def named_type(self, span, children):
        args = children[1] if len(children) > 1 else ()
        return ast.NamedType(span, self._name(children[0]), args, len(children) > 1)

    @_spanned
    def record_type(self, span, children):
        return ast.RecordType(span, tuple(children))

    @_filtered
    def type_args(self, children):
        return tuple(children)

    @_spanned
    def range(self, span, children):
        lo, hi = children
        return ast.Range(span, ast.Num(self._tok_span(lo), str(lo)),
                         ast.Num(self._tok_span(hi), str(hi)))

    @_spanned
    def max_bound(self, span, children):
        return ast.Bound(span, "max", ast.Num(self._tok_span(children[0]), str(children[0])))

    @_spanned
    def min_bound(self, span, children):
        return ast.Bound(span, "min", ast.Num(self._tok_span(children[0]), str(children[0])))

    def _example(self, span, keyword, children):
        name = None
        items = []
        for c in children:
            if isinstance(c, Token):
                name = self._name(c)
            else:
                items.append(c)
        return ast.Example(span, keyword, name, tuple(items))

    @_spanned
    def example(self, span, children):
        return self._example(span, "example", children)

    @_spanned
    def test(self, span, children):
        return self._example(span, "test", children)

    io_input = _io_rule("input")
    io_output = _io_rule("output")
    io_expect = _io_rule("expect")
    io_includes = _io_rule("includes")
    io_excludes = _io_rule("excludes")
    io_min_f1 = _io_rule("min_f1")
    io_one_of = _io_rule("one_of")

    @_spanned
    def synth(self, span, children):
        return ast.Synth(span, tuple(children))

    @_spanned
    def run_profile(self, span, children):
        return ast.RunProfile(span, tuple(children))

    @_spanned
    def setting(self, span, children):
        value = children[1] if len(children) > 1 else None
        return ast.Setting(span, self._name(children[0]), value)

    # declarations
    @_spanned
    def import_decl(self, span, children):
        alias = self._name(children[1]) if len(children) > 1 else None
        return ast.Import(span, children[0], alias)

    @_spanned
    def from_import(self, span, children):
        return ast.FromImport(span, children[0], tuple(self._name(c) for c in children[1:]))

    @_spanned
    def task_decl(self, span, children):
        return ast.Task(span, self._name(children[0]), self._name(children[1]),
                        tuple(children[2:]))

    @_spanned
    def corpus_decl(self, span, children):
        return ast.Corpus(span, self._name(children[0]), tuple(children[1:]))

    @_spanned
    def corpus_part(self, span, children):
        return ast.CorpusPart(span, children[0], tuple(children[1:]))

    @_spanned
    def format_decl(self, span, children):
        name = self._name(children[0])
        kinds = tuple(self._name(c) for c in children[1:-1])
        return ast.FormatDecl(span, name, kinds, children[-1])

    @_filtered
    def format_block(self, children):
        return tuple(children)

    @_spanned
    def format_setting(self, span, children):
        return ast.FormatSetting(span, self._name(children[0]), tuple(children[1:]))

    @_spanned
    def format_nested(self, span, children):
        return ast.FormatNested(span, self._name(children[0]), children[1])

    @_spanned
    def params(self, span, children):
        return ("params", tuple(self._name(c) for c in children))

    @_spanned
    def effect(self, span, children):
        args = children[1][1] if len(children) > 1 else ()
        return ast.Effect(span, self._name(children[0]), args)

    @_spanned
    def rule_decl(self, span, children):
        name = self._name(children[0])
        params: tuple = ()
        effect = None
        for c in children[1:-1]:
            if isinstance(c, tuple) and c and c[0] == "params":
                params = c[1]
            elif isinstance(c, ast.Effect):
                effect = c
        return ast.RuleDecl(span, name, params, effect, children[-1])

    @_spanned
    def labelset_decl(self, span, children):
        return ast.LabelSetDecl(span, self._name(children[0]), children[1])

    @_spanned
    def start(self, span, children):
        return tuple(children)


_BUILDER = _ToAst()
MAX_SYNTAX_ERRORS = 20


def parse_source(src: SourceFile) -> tuple[ast.Module, list[Diagnostic]]:
    """Parse one file. On a syntax error, the declaration holding it is blanked out and the rest
    parsed again, so one run reports the syntax errors of several declarations."""
    diags: list[Diagnostic] = []
    text = src.text
    errors: list[Diagnostic] = []
    for _ in range(MAX_SYNTAX_ERRORS):
        errors.clear()
        _STATE.src, _STATE.errors, _STATE.comments = src, errors, []
        try:
            decls = _lark().parse(text)
            break
        except UnexpectedInput as err:
            diag, pos = _syntax_diagnostic(err, src)
            diags.append(diag)
            text, progressed = _skip_declaration(text, pos)
            if not progressed:
                return ast.Module(src.span(0, len(src.text)), (), ()), diags
    else:
        return ast.Module(src.span(0, len(src.text)), (), ()), diags
    comments = tuple(ast.Comment(_BUILDER._tok_span(t), str(t)) for t in _STATE.comments)
    _STATE.comments = []
    module = ast.Module(src.span(0, len(src.text)), decls, comments)
    return module, diags + list(errors)


def _skip_declaration(text: str, pos: int) -> tuple[str, bool]:
    """Blank out the top-level declaration that holds offset `pos`."""
    starts = [m.start() for m in _TOP_LEVEL.finditer(text)]
    before = [s for s in starts if s <= pos]
    begin = before[-1] if before else 0
    after = [s for s in starts if s > pos and s > begin]
    end = after[0] if after else len(text)
    if text[begin:end].strip() == "":
        return text, False
    return _blank(text, begin, end), True


def parse_text(text: str, path: str = "<string>") -> tuple[ast.Module, list[Diagnostic]]:
    return parse_source(SourceFile(path, text))
