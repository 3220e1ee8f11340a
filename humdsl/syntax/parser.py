"""Parse .hum text into an AST, turning every Lark error into a coded diagnostic."""
from __future__ import annotations

import re
from functools import lru_cache

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .. import codes
from ..diagnostics import Diagnostic
from ..resources import cache_dir, grammar_path
from ..source import SourceFile, Span
from . import ast
from .strings import StringError, decode_long, decode_short

_comments: list[Token] = []  # filled by the lexer callback during one parse


@lru_cache(maxsize=1)
def _lark() -> Lark:
    text = grammar_path().read_text(encoding="utf-8")
    kwargs = dict(parser="lalr", propagate_positions=True, maybe_placeholders=False,
                  lexer_callbacks={"COMMENT": _comments.append})
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
        pos = err.pos_in_stream
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

class _ToAst(Transformer):
    def __init__(self, src: SourceFile, errors: list[Diagnostic]):
        super().__init__(visit_tokens=False)
        self.src = src
        self.errors = errors

    def _span(self, meta) -> Span:
        if getattr(meta, "empty", False):
            return self.src.span(0, 0)
        return self.src.span(meta.start_pos, meta.end_pos)

    def _tok_span(self, tok: Token) -> Span:
        return self.src.span(tok.start_pos, tok.end_pos)

    def _name(self, tok) -> ast.Name:
        if isinstance(tok, ast.Name):
            return tok
        if tok.type == "QUOTED_NAME":
            return ast.Name(self._tok_span(tok), tok.value[1:-1], quoted=True)
        return ast.Name(self._tok_span(tok), str(tok))

    def __default__(self, data, children, meta):
        raise AssertionError(f"no AST rule for {data}")

    # values
    @v_args(meta=True)
    def string(self, meta, children):
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

    @v_args(meta=True)
    def number(self, meta, children):
        return ast.Num(self._tok_span(children[0]), str(children[0]))

    @v_args(meta=True)
    def true(self, meta, children):
        return ast.Bool(self._span(meta), True)

    @v_args(meta=True)
    def false(self, meta, children):
        return ast.Bool(self._span(meta), False)

    @v_args(meta=True)
    def null(self, meta, children):
        return ast.Null(self._span(meta))

    @v_args(meta=True)
    def qname(self, meta, children):
        return ast.QName(self._span(meta), tuple(self._name(c) for c in children))

    @v_args(meta=True)
    def list(self, meta, children):
        return ast.ListValue(self._span(meta), tuple(c for c in children if c is not None))

    @v_args(meta=True)
    def tuple(self, meta, children):
        return ast.TupleValue(self._span(meta), tuple(c for c in children if c is not None))

    @v_args(meta=True)
    def object(self, meta, children):
        return ast.ObjectValue(self._span(meta), tuple(c for c in children if c is not None))

    @v_args(meta=True)
    def pair(self, meta, children):
        key, value = children
        if isinstance(key, Token):
            key = self._name(key)
        return ast.Pair(self._span(meta), key, value)

    def alts(self, children):
        return tuple(children)

    # labels
    def _label_body(self, meta, keyword, children):
        ref = next((c for c in children if isinstance(c, ast.QName)), None)
        block = next((c for c in children if isinstance(c, ast.LabelBlock)), None)
        return ast.Labels(self._span(meta), keyword, ref, block)

    @v_args(meta=True)
    def labels(self, meta, children):
        return self._label_body(meta, "labels", children)

    @v_args(meta=True)
    def types(self, meta, children):
        return self._label_body(meta, "types", children)

    @v_args(meta=True)
    def roles(self, meta, children):
        return self._label_body(meta, "roles", children)

    @v_args(meta=True)
    def label_block(self, meta, children):
        return ast.LabelBlock(self._span(meta), tuple(children))

    @v_args(meta=True)
    def label_item(self, meta, children):
        code = self._name(children[0])
        name = sig = None
        descriptions: tuple = ()
        for c in children[1:]:
            if isinstance(c, ast.Str):
                name = c
            elif isinstance(c, (ast.RelSignature, ast.RoleSignature)):
                sig = c
            elif isinstance(c, tuple):
                descriptions = c
        return ast.LabelItem(self._span(meta), code, name, sig, descriptions)

    @v_args(meta=True)
    def rel_signature(self, meta, children):
        return ast.RelSignature(self._span(meta), self._name(children[0]), self._name(children[1]))

    @v_args(meta=True)
    def role_signature(self, meta, children):
        return ast.RoleSignature(self._span(meta), tuple(self._name(c) for c in children))

    # task members
    @v_args(meta=True)
    def version(self, meta, children):
        return ast.Version(self._span(meta), children[0])

    @v_args(meta=True)
    def about(self, meta, children):
        return ast.About(self._span(meta), children[0])

    @v_args(meta=True)
    def scope(self, meta, children):
        return tuple(self._name(c) for c in children)

    @v_args(meta=True)
    def guideline(self, meta, children):
        name = self._name(children[0])
        scope = children[1] if len(children) == 3 else ()
        return ast.Guideline(self._span(meta), name, scope, children[-1])

    @v_args(meta=True)
    def call_args(self, meta, children):
        return ("args", tuple(children))

    @v_args(meta=True)
    def prefer(self, meta, children):
        ref = children[0]
        args: tuple = ()
        texts: tuple = ()
        for c in children[1:]:
            if isinstance(c, tuple) and c and c[0] == "args":
                args = c[1]
            elif isinstance(c, tuple):
                texts = c
        return ast.Prefer(self._span(meta), ref, args, texts)

    @v_args(meta=True)
    def instruction(self, meta, children):
        return ast.Instruction(self._span(meta), children[0])

    @v_args(meta=True)
    def formats(self, meta, children):
        return ast.Formats(self._span(meta), tuple(children))

    @v_args(meta=True)
    def similar(self, meta, children):
        return ast.Similar(self._span(meta), tuple(self._name(c) for c in children))

    @v_args(meta=True)
    def input_field(self, meta, children):
        texts = children[1] if len(children) > 1 else ()
        return ast.InputField(self._span(meta), self._name(children[0]), texts)

    @v_args(meta=True)
    def fields(self, meta, children):
        return ast.Fields(self._span(meta), tuple(children))

    @v_args(meta=True)
    def field(self, meta, children):
        texts = children[2] if len(children) > 2 else ()
        return ast.Field(self._span(meta), self._name(children[0]), children[1], texts)

    @v_args(meta=True)
    def named_type(self, meta, children):
        args = children[1] if len(children) > 1 else ()
        return ast.NamedType(self._span(meta), self._name(children[0]), args, len(children) > 1)

    @v_args(meta=True)
    def record_type(self, meta, children):
        return ast.RecordType(self._span(meta), tuple(children))

    def type_args(self, children):
        return tuple(children)

    @v_args(meta=True)
    def range(self, meta, children):
        lo, hi = children
        return ast.Range(self._span(meta), ast.Num(self._tok_span(lo), str(lo)),
                         ast.Num(self._tok_span(hi), str(hi)))

    @v_args(meta=True)
    def max_bound(self, meta, children):
        return ast.Bound(self._span(meta), "max", ast.Num(self._tok_span(children[0]), str(children[0])))

    @v_args(meta=True)
    def min_bound(self, meta, children):
        return ast.Bound(self._span(meta), "min", ast.Num(self._tok_span(children[0]), str(children[0])))

    def _example(self, meta, keyword, children):
        name = None
        items = []
        for c in children:
            if isinstance(c, Token):
                name = self._name(c)
            else:
                items.append(c)
        return ast.Example(self._span(meta), keyword, name, tuple(items))

    @v_args(meta=True)
    def example(self, meta, children):
        return self._example(meta, "example", children)

    @v_args(meta=True)
    def test(self, meta, children):
        return self._example(meta, "test", children)

    def _io(keyword):  # noqa: N805 - a small factory for the five IO rules
        @v_args(meta=True)
        def rule(self, meta, children):
            return ast.IO(self._span(meta), keyword, children[0])
        return rule

    io_input = _io("input")
    io_output = _io("output")
    io_expect = _io("expect")
    io_includes = _io("includes")
    io_excludes = _io("excludes")

    @v_args(meta=True)
    def synth(self, meta, children):
        return ast.Synth(self._span(meta), tuple(children))

    @v_args(meta=True)
    def setting(self, meta, children):
        value = children[1] if len(children) > 1 else None
        return ast.Setting(self._span(meta), self._name(children[0]), value)

    # declarations
    @v_args(meta=True)
    def import_decl(self, meta, children):
        alias = self._name(children[1]) if len(children) > 1 else None
        return ast.Import(self._span(meta), children[0], alias)

    @v_args(meta=True)
    def from_import(self, meta, children):
        return ast.FromImport(self._span(meta), children[0], tuple(self._name(c) for c in children[1:]))

    @v_args(meta=True)
    def task_decl(self, meta, children):
        return ast.Task(self._span(meta), self._name(children[0]), self._name(children[1]),
                        tuple(children[2:]))

    @v_args(meta=True)
    def format_decl(self, meta, children):
        name = self._name(children[0])
        kinds = tuple(self._name(c) for c in children[1:-1])
        return ast.FormatDecl(self._span(meta), name, kinds, children[-1])

    def format_block(self, children):
        return tuple(children)

    @v_args(meta=True)
    def format_setting(self, meta, children):
        return ast.FormatSetting(self._span(meta), self._name(children[0]), tuple(children[1:]))

    @v_args(meta=True)
    def format_nested(self, meta, children):
        return ast.FormatNested(self._span(meta), self._name(children[0]), children[1])

    @v_args(meta=True)
    def params(self, meta, children):
        return ("params", tuple(self._name(c) for c in children))

    @v_args(meta=True)
    def effect(self, meta, children):
        args = children[1][1] if len(children) > 1 else ()
        return ast.Effect(self._span(meta), self._name(children[0]), args)

    @v_args(meta=True)
    def rule_decl(self, meta, children):
        name = self._name(children[0])
        params: tuple = ()
        effect = None
        for c in children[1:-1]:
            if isinstance(c, tuple) and c and c[0] == "params":
                params = c[1]
            elif isinstance(c, ast.Effect):
                effect = c
        return ast.RuleDecl(self._span(meta), name, params, effect, children[-1])

    @v_args(meta=True)
    def labelset_decl(self, meta, children):
        return ast.LabelSetDecl(self._span(meta), self._name(children[0]), children[1])

    @v_args(meta=True)
    def start(self, meta, children):
        return tuple(children)


MAX_SYNTAX_ERRORS = 20


def parse_source(src: SourceFile) -> tuple[ast.Module, list[Diagnostic]]:
    """Parse one file. On a syntax error, the declaration holding it is blanked out and the rest
    parsed again, so one run reports the syntax errors of several declarations."""
    diags: list[Diagnostic] = []
    text = src.text
    for _ in range(MAX_SYNTAX_ERRORS):
        _comments.clear()
        try:
            tree = _lark().parse(text)
            break
        except UnexpectedInput as err:
            diag, pos = _syntax_diagnostic(err, src)
            diags.append(diag)
            text, progressed = _skip_declaration(text, pos)
            if not progressed:
                return ast.Module(src.span(0, len(src.text)), (), ()), diags
    else:
        return ast.Module(src.span(0, len(src.text)), (), ()), diags
    comments = tuple(ast.Comment(src.span(t.start_pos, t.end_pos), str(t)) for t in _comments)
    _comments.clear()
    errors: list[Diagnostic] = []
    decls = _ToAst(src, errors).transform(tree)
    module = ast.Module(src.span(0, len(src.text)), decls, comments)
    return module, diags + errors


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
