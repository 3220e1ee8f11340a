"""Is a rendered gold answer in the language of its format's grammar? Checked with llguidance's
own matcher over raw bytes, so the verdict holds for every tokenizer.

Building a matcher costs about a millisecond, copying a built one about a microsecond. For
grounded formats the grammar differs for every input only in its substring terminal, so the
check runs in two steps: the grammar without the substring terminal (one matcher per format and
label batch, copied), and for every span `spans.is_grounded`, which implements llguidance's
substring_chunks rule and is cross-checked against it by the format-law tests. An answer that
step one rejects is judged by the exact per-input grammar, so no answer is rejected by the
shortcut alone; `exact=True` always uses the per-input grammar.
"""
from __future__ import annotations

from collections import OrderedDict

from ..constraints import GrammarInvalid


class _Bytes:
    """A tokenizer with one token per byte (and an EOS): llguidance then checks the text itself."""
    eos_token_id = 256
    bos_token_id = None
    tokens = [bytes([i]) for i in range(256)] + [b"<eos>"]
    special_token_ids = [256]

    def __call__(self, s):
        return list(s) if isinstance(s, (bytes, bytearray)) else list(s.encode("utf-8"))


class Verifier:
    def __init__(self, exact: bool = False, cache_size: int = 512):
        from llguidance import LLTokenizer, TokenizerWrapper

        self.exact = exact
        self._tok = LLTokenizer(TokenizerWrapper(_Bytes()), slices=[])
        self._cache: OrderedDict[str, object] = OrderedDict()
        self._size = cache_size

    def _matcher(self, lark: str):
        from llguidance import LLMatcher

        m = self._cache.get(lark)
        if m is None:
            m = LLMatcher(self._tok, LLMatcher.grammar_from_lark(lark), log_level=0)
            if m.is_error():  # the compiler made a grammar llguidance cannot use: never the data's fault
                raise GrammarInvalid(m.get_error())
            self._cache[lark] = m
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(lark)
        return m.deep_copy()

    def _accepts(self, lark: str, text: str) -> str | None:
        m = self._matcher(lark)
        if not m.consume_tokens(list(text.encode("utf-8"))):
            return m.get_error() or "the grammar rejects the answer"
        if not m.is_accepting():
            return "the answer stops before the grammar is complete"
        return None

    def problem(self, fmt, text: str, batch, source: str) -> str | None:
        """None if `text` is accepted by `fmt`'s grammar for this batch and input; else why not."""
        if not self.exact and fmt.schema.grounded and fmt.shape != "inline":
            from ..formats import FormatParseError
            from ..formats.spans import is_grounded
            from .gold import spans

            if self._accepts(fmt.grammar(batch=batch, source=None), text) is None:
                try:  # the spans as the grammar's own parse sees them
                    record = fmt.parse(text, batch=batch, source=None)
                except FormatParseError:
                    record = None
                if record is not None:
                    loose = [s for s in spans(fmt.schema.kind, record) if not is_grounded(s, source)]
                    return f"the span {loose[0]!r} is not a whole-word substring of the input" if loose else None
        return self._accepts(fmt.grammar(batch=batch, source=source), text)
