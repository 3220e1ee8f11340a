"""The answers of a format whose only hole is one grounded span (the qa formats: "unanswerable"
or a span; {"answer": null} or {"answer": "<span>"}), as a LiteralDag (formats/dag.py), so that
the runtime decodes them without compiling the input's substring terminal (about 25 ms at 1,000
words; bench/README.md).

Nodes: 0 starts; 1 is "inside the span, nothing read yet" (where a fixed text comes before the
span); node(b, w) is "inside the span, the input read up to chunk b, w words so far", from which
the text after the span leads to the last node, or where nothing follows the span, at which an
answer may end. Edges copy one chunk of the input (JSON-escaped in JSON, as the grammar's terminal
is), so a span is always whole chunks; the rules of `spans.span_problem` are decided per chunk:
the first chunk's first character, the last chunk's last character, no line break outside JSON,
and the word bound. Only live nodes are offered (ones from which the span can still end), so no
token leads into a span that cannot be finished, as llguidance's lexer never allows either.
"""
from __future__ import annotations

import json
from functools import lru_cache

from .dag import LiteralDag
from .spans import _BAD_FIRST, _BAD_LAST, _JSON_ESCAPED, WHITESPACE, _json_escaped, chunks


def one_span_answers(source: str, *, whole: list[str], before: str, after: str, max_words: int,
                     json_mode: bool) -> LiteralDag:
    """Answers that are one of `whole`, or `before` + a grounded span of `source` + `after`."""
    parts = chunks(source)
    n, stride = len(parts), max_words + 1
    pieces = [(json.dumps(c, ensure_ascii=False)[1:-1] if json_mode and _JSON_ESCAPED.search(c) else c).encode()
              for c in parts]
    end = 2 + (n + 1) * stride
    tail = after.encode()

    def node(b: int, w: int) -> int:
        return 2 + b * stride + w

    def can_hold(c: str) -> bool:
        return json_mode or "\n" not in c

    def can_end(c: str) -> bool:
        last = c[-1]
        return not (last in WHITESPACE or last in _BAD_LAST or (json_mode and _json_escaped(last)))

    def words_in(c: str, after_space: bool) -> int:
        """Words that start in chunk c (words are runs of anything but a space, as in the word
        bound's regex). A chunk of word characters or a punctuation mark holds no space."""
        if not c[0].isspace():
            return 1 if after_space else 0
        return sum(1 for k, ch in enumerate(c) if ch != " " and (c[k - 1] == " " if k else after_space))

    def read(b: int, w: int, first: bool = False) -> int | None:
        """The span's words after it reads chunk b (having w), or None where it cannot."""
        if not can_hold(parts[b]):
            return None
        w2 = w + words_in(parts[b], first or parts[b - 1][-1] == " ")
        return w2 if w2 <= max_words else None

    @lru_cache(maxsize=None)
    def live(b: int, w: int) -> bool:
        """Can a span that has read chunks up to b (w words) still end?"""
        w2 = read(b, w) if b < n else None
        return w2 is not None and (can_end(parts[b]) or live(b + 1, w2))

    def may_end(x: int) -> bool:
        """Node x ends a span: the chunk just read may be its last."""
        return x >= 2 and x != end and can_end(parts[(x - 2) // stride - 1])

    def on(b: int, w2: int | None):
        """Having read chunk b (the span now has w2 words): the node reached, where it is live."""
        if w2 is not None and (can_end(parts[b]) or live(b + 1, w2)):
            yield pieces[b], node(b + 1, w2)

    def starts():
        for i, c in enumerate(parts):
            first = c[0]
            if not (first in WHITESPACE or first in _BAD_FIRST or (json_mode and _json_escaped(first))):
                yield from on(i, read(i, 0, first=True))

    def edges_of(x: int):
        if x == 0:
            for text in whole:
                yield text.encode(), end
            if before:
                if any(True for _ in starts()):
                    yield before.encode(), 1
            else:
                yield from starts()
        elif x == 1:
            yield from starts()
        else:
            b, w = divmod(x - 2, stride)
            if tail and can_end(parts[b - 1]):
                yield tail, end
            if b < n:
                yield from on(b, read(b, w))

    return LiteralDag(end, edges_of, None if tail else may_end)
