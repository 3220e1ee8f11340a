"""The answers an exact decision scores on an extractive QA task: spans of the passage.

A passage's spans are too many to score one by one (150 words, up to 30 words a span: 4,500),
and a small model spreads its probability over the wrong sentences: on XQuAD-en SmolLM2-135M's
greedy answer lies in the gold answer's sentence half the time, while the passage sentence that
shares the most words with the question (BM25) holds the answer three times in four
(bench/README.md, "Answer quality"). So the spans scored are those of the `focus` sentences most
like the question: runs of whole words, the punctuation around them left out, each written by the
format (a span it refuses, too long say, is not scored)."""
from __future__ import annotations

import re

from ..formats import Unrenderable
from ..retrieval import BM25
from .decisions import NotEnumerable

MAX_SPAN_WORDS = 30  # words per span at most, whatever the task allows
MAX_SPANS = 4096  # spans scored per input at most; more is refused, not truncated
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"\S+")
_OPENERS = "\"'([{“‘«"
_CLOSERS = "\"'.,;:!?)]}”’»"


def sentences(text: str) -> list[tuple[int, int]]:
    """Each sentence of `text` as (start, end) offsets: ended by . ! or ? and a blank, or by a line break."""
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if text[start:m.start()].strip():
            out.append((start, m.start()))
        start = m.end()
    if text[start:].strip():
        out.append((start, len(text)))
    return out


def focus(text: str, query: str, count: int) -> list[tuple[int, int]]:
    """The `count` sentences of `text` most like `query` (BM25; ties and sentences sharing no word
    with it: earlier first), in passage order; every sentence where `count` is 0."""
    spans = sentences(text)
    if count <= 0 or count >= len(spans):
        return spans
    ranked = BM25([text[a:b] for a, b in spans]).ranked(query)
    ranked += [i for i in range(len(spans)) if i not in ranked]
    return [spans[i] for i in sorted(ranked[:count])]


def word_spans(text: str, ranges: list[tuple[int, int]], max_words: int = MAX_SPAN_WORDS) -> list[str]:
    """Every run of 1 to `max_words` whole words within one of `ranges`, without the punctuation
    that opens its first word or closes its last; each text once, in order of position."""
    seen: dict[str, None] = {}
    for a, b in ranges:
        words = []
        for m in _WORD.finditer(text, a, b):
            word = m.group()
            left = len(word) - len(word.lstrip(_OPENERS))
            right = len(word.rstrip(_CLOSERS))
            words.append((m.start() + left, m.start() + right) if left < right else None)
        for i, first in enumerate(words):
            if first is None:
                continue
            for last in words[i:i + max_words]:
                if last is not None:
                    seen.setdefault(text[first[0]:last[1]], None)
    return list(seen)


def span_records(fmt, text: str, query: str, count: int) -> tuple[list[dict], list[str]]:
    """The QA answers scored for one input, as (records, the format's text of each); NotEnumerable
    where the focus holds more than MAX_SPANS."""
    spans = word_spans(text, focus(text, query, count))
    if len(spans) > MAX_SPANS:
        raise NotEnumerable(f"the {'passage' if count <= 0 else f'{count} sentence(s) in focus'} hold "
                           f"{len(spans)} spans; an exact decision scores at most {MAX_SPANS}: give a "
                           f"smaller --focus")
    records, texts = [], []
    for span in spans:
        record = {"answer": span}
        try:
            texts.append(fmt.render(record, source=text))
        except Unrenderable:
            continue
        records.append(record)
    return records, texts
