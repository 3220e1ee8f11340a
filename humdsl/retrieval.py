"""Demonstrations chosen per input: the labelled examples most similar to it, by BM25.

A small model learns more from a few examples that look like its input than from a spec's fixed
ones (on CoNLL-2003 with SmolLM2-135M they raise strict F1 several-fold: bench/README.md, "Answer quality").
BM25 over lower-cased word tokens of every input field; ties go to the earlier example, so the
choice is deterministic. For classification the shots are spread over the labels, at most
ceil(k / labels) per answer, so a run of look-alike examples of one label does not decide the
answer by itself.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterator

from .kinds import KINDS

_WORD = re.compile(r"\w+")
POOL = 8  # candidates read per shot asked for, before the label spread is applied


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class BM25:
    """Okapi BM25 over a fixed list of documents (k1 = 1.2, b = 0.75, idf floored at 0)."""

    def __init__(self, docs: list[str], k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        tokens = [words(d) for d in docs]
        self.lengths = [len(t) for t in tokens]
        self.average = (sum(self.lengths) / len(tokens)) if tokens else 0.0
        df = Counter(w for t in tokens for w in set(t))
        n = len(tokens)
        self.idf = {w: math.log(1 + (n - c + 0.5) / (c + 0.5)) for w, c in df.items()}
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, t in enumerate(tokens):
            for w, c in sorted(Counter(t).items()):
                self.postings[w].append((i, c))

    def ranked(self, query: str) -> list[int]:
        """Every document sharing a word with the query, best first (ties: earlier first)."""
        scores: dict[int, float] = defaultdict(float)
        avg = self.average or 1.0
        for w in sorted(set(words(query))):
            idf = self.idf.get(w)
            if idf is None:
                continue
            for i, c in self.postings[w]:
                norm = self.k1 * (1 - self.b + self.b * self.lengths[i] / avg)
                scores[i] += idf * c * (self.k1 + 1) / (c + norm)
        return sorted(scores, key=lambda i: (-scores[i], i))


class Demonstrations:
    """Labelled examples ({"text", ..., "record"}) to show as shots, picked per input."""

    def __init__(self, examples: list[dict], input_fields: list[str], kind: str):
        self.examples = examples
        self.fields = input_fields or ["text"]
        self.kind = kind
        self.queries = [self._query(e) for e in examples]  # each example's inputs, as one text
        self.index = BM25(self.queries)
        self.answer_count = len({self._answer(e) for e in examples})  # distinct answers, for the spread

    def _query(self, row: dict) -> str:
        return "\n".join(str(row.get(f, "")) for f in self.fields)

    def candidates(self, row: dict, k: int) -> Iterator[dict]:
        """Examples for this input, most similar first; the caller takes the first k it can use
        (an example its format cannot write is passed over). An example whose inputs are the
        input's own is never offered: running on the file the shots come from must not copy."""
        own = self._query(row)
        queries = self.queries
        ranked = [i for i in self.index.ranked(own) if queries[i] != own]
        if len(ranked) < k * POOL:  # too few share a word: fill up in file order
            seen = set(ranked)
            ranked += [i for i in range(len(self.examples))
                       if i not in seen and queries[i] != own][:k * POOL - len(ranked)]
        if not KINDS[self.kind].decidable:  # spread over answers only where they are few
            yield from (self.examples[i] for i in ranked)
            return
        cap = max(1, math.ceil(k / max(1, self.answer_count)))
        taken: Counter = Counter()
        later = []
        for i in ranked[:k * POOL]:
            key = self._answer(self.examples[i])
            if taken[key] < cap:
                taken[key] += 1
                yield self.examples[i]
            else:
                later.append(i)
        yield from (self.examples[i] for i in later + ranked[k * POOL:])

    @staticmethod
    def _answer(example: dict) -> str:
        """The example's answer as a key: any JSON value a dataset line holds ({"label": [...]} too)."""
        record = example.get("record") or {}
        labels = record.get("labels")
        return json.dumps(labels if isinstance(labels, list) else record.get("label"), sort_keys=True, default=str)
