"""Is a rendered gold answer in the language of its format's grammar? Checked with llguidance's
own matcher over raw bytes, so the verdict holds for every tokenizer.

Building a matcher costs about a millisecond, copying a built one about a microsecond. Grammars
of grounded and inline formats differ from input to input, so the check runs in two steps: the
format's loose grammar (`Format.loose_grammar`: the same grammar without its per-input parts,
one matcher per format and label batch, copied for each answer), then what the per-input parts
add, checked on the answer's parse: every span is a whole-chunk substring of the input
(`spans.is_grounded`, llguidance's substring_chunks rule, cross-checked against it by the
format-law tests). An answer that the loose grammar rejects is judged by the exact per-input
grammar, so the shortcut alone never rejects anything. An inline answer is read on the input's
LiteralDag instead (`Format.language`: the grammar's language, built in well under a millisecond
where the grammar takes 0.5 s at 1,000 words). With `exact=True` every answer is judged by its
per-input grammar.
"""
from __future__ import annotations

from collections import OrderedDict

from ..constraints import GrammarInvalid, new_matcher
from ..formats import FormatParseError
from ..formats.spans import is_grounded


class _Bytes:
    """A tokenizer with one token per byte (and an EOS): llguidance then checks the text itself."""
    eos_token_id = 256
    bos_token_id = None
    tokens = [bytes([i]) for i in range(256)] + [b"<eos>"]
    special_token_ids = [256]

    def __call__(self, s):
        return list(s) if isinstance(s, (bytes, bytearray)) else list(s.encode("utf-8"))


class Verifier:
    """Checks answers of one task's formats (its cache keys on format ids, which tasks share)."""

    def __init__(self, exact: bool = False, cache_size: int = 512):
        from llguidance import LLTokenizer, TokenizerWrapper

        self.exact = exact
        self._tok = LLTokenizer(TokenizerWrapper(_Bytes()), slices=[])
        self._cache: OrderedDict[tuple, object] = OrderedDict()
        self._by_grammar: OrderedDict[str, object] = OrderedDict()
        self._size = cache_size

    def _matcher(self, key: tuple, make_grammar):
        """The built matcher for a grammar, shared: only `validate_tokens`, which leaves it as it
        is, may be called on it (copy it for anything else). Keys that give the same grammar text
        (most formats list a batch's labels sorted, so its orders do) share one matcher: a build
        costs about two milliseconds, the text a few microseconds."""
        from llguidance import LLMatcher

        m = _lru_get(self._cache, key)
        if m is None:
            grammar = make_grammar()
            m = _lru_get(self._by_grammar, grammar)
            if m is None:
                m = new_matcher(self._tok, LLMatcher.grammar_from_lark(grammar))
                if m.is_error():  # the compiler made a grammar llguidance cannot use: never the data's fault
                    raise GrammarInvalid(m.get_error())
                _lru_put(self._by_grammar, grammar, m, self._size)
            _lru_put(self._cache, key, m, self._size)
        return m

    def _accepts(self, matcher, text: str) -> str | None:
        # validate_tokens tells how many tokens the grammar takes, without moving the matcher,
        # five times faster than consuming them; EOS is taken only where the grammar may end.
        # So the answer is accepted exactly when all its bytes and then EOS are.
        ids = list(text.encode("utf-8"))
        if matcher.validate_tokens(ids + [_Bytes.eos_token_id]) == len(ids) + 1:
            return None
        m = matcher.deep_copy()  # rejected: consume on a copy to learn why
        if not m.consume_tokens(ids):
            # llguidance's message goes on with the parser state and the whole grammar
            return (m.get_error() or "the grammar rejects the answer").splitlines()[0]
        return "the answer stops before the grammar is complete"

    def problem(self, fmt, text: str, batch, source: str, parsed: dict | None = None) -> str | None:
        """None if `text` is accepted by `fmt`'s grammar for this batch and input; else why not.
        `parsed`, when given, must be `fmt.parse(text, batch, source)` (it saves parsing again)."""
        # Span fields of records are always grounded: their grammars are per input, but the
        # loose check knows the spans of list kinds only, so records take the exact path.
        if fmt.own_language and not self.exact:
            return _inline_problem(fmt, text, batch, source)
        fields = not fmt.schema.task_kind.itemised
        per_input = fmt.marks_input or fmt.schema.grounded or fields
        if per_input and not self.exact and not fields:
            shown = tuple(batch) if batch is not None else None
            loose = self._matcher((fmt.id, shown), lambda: fmt.loose_grammar(batch))
            if self._accepts(loose, text) is None:
                verdict = self._per_input_parts(fmt, text, batch, source, parsed)
                if verdict is not False:
                    return verdict
        key = (fmt.id, tuple(batch) if batch is not None else None, source if per_input else None)
        return self._accepts(self._matcher(key, lambda: fmt.grammar(batch=batch, source=source)), text)

    def _per_input_parts(self, fmt, text: str, batch, source: str, record: dict | None):
        """None: they hold; a string: why not; False: undecided here (the exact grammar decides)."""
        if record is None:
            try:
                record = fmt.parse(text, batch=batch, source=source)
            except FormatParseError:
                return False
        loose = [s for s in fmt.schema.task_kind.spans(record) if not is_grounded(s, source)]
        return f"the span {loose[0]!r} is not a whole-word substring of the input" if loose else None


def _inline_problem(fmt, text: str, batch, source: str) -> str | None:
    """An inline answer checked on the input's LiteralDag (the same language as its grammar,
    tested step by step against llguidance): exact, with no grammar to build and no input too
    long for it."""
    data = text.encode("utf-8")
    at = fmt.language(batch=batch, source=source).departure(data)
    if at is None:
        return None
    if at == len(data):
        return "the answer stops before the input with its marks is complete"
    column = len(data[:at].decode("utf-8", errors="ignore"))
    return f"the answer departs from the input with its marks at character {column}"


def _lru_get(cache: OrderedDict, key):
    value = cache.get(key)
    if value is not None:
        cache.move_to_end(key)
    return value


def _lru_put(cache: OrderedDict, key, value, size: int) -> None:
    cache[key] = value
    if len(cache) > size:
        cache.popitem(last=False)
