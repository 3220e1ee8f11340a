"""Nearest-neighbour decisions (`--decision knn`, classify tasks): an input takes the answer that
most of the labelled examples it reads most like have.

After kNN prompting (Xu et al., 2023): the model reads each input in the task's prompt, written as
a plain document that ends where the answer would start, and its state there (the vector it turns
into the next token's distribution) says what it made of the input. The same is read once per run
for the labelled examples of `--shots-from` (the anchors); an input takes the answer most of its
k nearest anchors have (cosine of the two states), its probability the share of them that have it.

The model never has to say the label itself. A small model that leans to one label whatever it
reads (SmolLM2 answers "negative" to most SST-2 sentences) still reads different sentences
differently, and that difference is what is compared; and it learns from as many labelled
examples as the pool holds, not as many as its context takes. Anchors and inputs are read in the
same prompt (the spec's own worked examples, never retrieved ones), so their states compare.
The model's state measured better than its next-token distribution compared by KL divergence,
the paper's choice (SST-2 and the support tickets: bench/README.md, "Answer quality").
"""
from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass

from .decisions import RANKED, Answers, Decision, answer_labels

MAX_ANCHORS = 1024  # labelled examples read per run at most: a larger pool is sampled evenly
BATCH = 16  # documents read per forward pass


def neighbours_k(anchors: int) -> int:
    """How many nearest anchors vote: the square root of their number (a usual rule of thumb;
    on SST-2, 15 to 63 of 1,024 measured alike)."""
    return max(1, math.ceil(math.sqrt(anchors)))


def spread(count: int, limit: int = MAX_ANCHORS) -> list[int]:
    """At most `limit` indices of `count`, evenly spaced from the first (all where there are fewer)."""
    if count <= limit:
        return list(range(count))
    return [i * count // limit for i in range(limit)]


def answer_lead(options: Answers) -> str:
    """What every allowed answer begins with (`{"label": "` for a JSON format; nothing for bare
    labels): read before the state is taken, so that it is taken where the answers part."""
    return os.path.commonprefix([t[0] for t in options.texts])


def answer_key(record: dict) -> frozenset:
    """An answer as its set of labels, to match labelled answers with options."""
    return frozenset(answer_labels(record))


def states(decoder, documents: list[list[int]]):
    """The model's state after each document's tokens (one row each, unit length): the input of its
    output layer at the last token, read BATCH documents a pass over their shared prefix's cache."""
    import torch

    head = decoder.model.get_output_embeddings()
    seen: list = []
    hook = head.register_forward_hook(lambda module, args, out: seen.append(args[0].detach()))
    rows = []
    try:
        for at in range(0, len(documents), BATCH):
            ids = documents[at:at + BATCH]
            seen.clear()
            with torch.no_grad():
                state = decoder._start(ids)
                chunks = [x[state.skip:] for x in ids]
                state.step(chunks, [1] * len(chunks))
            kept = seen[-1]  # (rows, positions kept, width): the last token's of each row
            last = sorted({len(c) - 1 for c in chunks})
            for i, c in enumerate(chunks):
                column = last.index(len(c) - 1) if kept.shape[1] == len(last) else len(c) - 1
                rows.append(kept[i, column].float())
    finally:
        hook.remove()
    return torch.nn.functional.normalize(torch.stack(rows), dim=-1)


@dataclass
class Anchors:
    """The labelled examples' states (rows) and each one's answer (an index into the options)."""
    states: object  # torch.Tensor (anchors, width), unit rows
    answers: list[int]

    @property
    def k(self) -> int:
        return neighbours_k(len(self.answers))

    def decide(self, state, options: Answers, fmt, batch, source: str) -> Decision:
        """The answer most of the k nearest anchors have (a tie: the one whose anchor is nearest),
        its probability the share of them that have it; the other answers they have as runners-up."""
        import torch

        similarity = self.states @ state
        order = torch.argsort(-similarity, stable=True)[: self.k].tolist()  # ties: the earlier anchor
        votes = Counter(self.answers[i] for i in order)
        first: dict[int, int] = {}
        for rank, i in enumerate(order):
            first.setdefault(self.answers[i], rank)
        ranked = sorted(votes, key=lambda a: (-votes[a], first[a]))
        texts = [t[0] for t in options.texts]
        ranking = [{"answer": texts[a], "p": round(votes[a] / self.k, 4)} for a in ranked[:RANKED]]
        best = ranked[0]
        return Decision(fmt.parse(texts[best], batch=batch, source=source), texts[best],
                        round(votes[best] / self.k, 4), ranking)
