"""Nearest-neighbour decisions (`--decision knn`, classify tasks): an input takes the answer that
most of the labelled examples it reads most like have.

After kNN prompting (Xu et al., 2023): the model reads each input in the task's prompt, written as
a plain document that ends where the answer would start, and its state there (the vector it turns
into the next token's distribution) says what it made of the input. The same is read once per run
for the labelled examples of `--shots-from` (the anchors); an input takes the answer most of its
k nearest anchors have (cosine of the two states), its probability the share of them that have it;
a multilabel answer holds each label most of them carry (`label_votes`).

The model never has to say the label itself. A small model that leans to one label whatever it
reads (SmolLM2 answers "negative" to most SST-2 sentences) still reads different sentences
differently, and that difference is what is compared; and it learns from as many labelled
examples as the pool holds, not as many as its context takes. Anchors and inputs are read in the
same prompt (the spec's own worked examples, never retrieved ones), so their states compare.
The model's state measured better than its next-token distribution compared by KL divergence,
the paper's choice (SST-2 and the support tickets: bench/README.md, "Answer quality").
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections import Counter
from contextlib import contextmanager
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

    rows = []
    with output_layer_inputs(decoder) as seen:
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
    return torch.nn.functional.normalize(torch.stack(rows), dim=-1)


@contextmanager
def output_layer_inputs(decoder):
    """The inputs of the model's output layer (its last hidden states, where the next token is
    read from) in the passes run inside: a list, one tensor a pass."""
    head = decoder.model.get_output_embeddings()
    seen: list = []
    hook = head.register_forward_hook(lambda module, args, out: seen.append(args[0].detach()))
    try:
        yield seen
    finally:
        hook.remove()


def anchor_states(decoder, documents: list[list[int]], model_key: str, positions: list[list[int]] | None = None,
                  read_positions=None):
    """`states(decoder, documents)`, kept on disk between runs (the anchors of a 1,024-example pool
    take about 80 s to read on 2 cores; a run on new inputs against the same pool reads them once).
    With `positions`, the states at those tokens of each document instead, as `read_positions`
    reads them (a tensor per document; word_neighbours.position_states: entity knn's labelled
    words). Keyed by the model's fingerprint, the device, torch's version and every document's
    tokens (and positions), in the constraint cache's checked, atomically written entries; a
    broken entry is read again."""
    import torch

    from ..resources import cache_dir
    from .constraint_cache import ConstraintCache, entry_key

    key = entry_key(what="knn anchor states", model=model_key, device=str(decoder.device),
                    torch=torch.__version__, batch=str(BATCH),
                    documents=hashlib.sha256(json.dumps([documents, positions]).encode("utf-8")).hexdigest())

    def dump(read) -> bytes:
        buffer = io.BytesIO()
        torch.save(read.cpu() if positions is None else [t.cpu() for t in read], buffer)
        return buffer.getvalue()

    def load(payload: bytes):
        read = torch.load(io.BytesIO(payload), weights_only=True)
        if positions is None:
            if tuple(read.shape[:1]) != (len(documents),):
                raise ValueError("an entry of another shape")
            return read.to(decoder.device)
        if len(read) != len(positions) or any(t.shape[0] != len(p) for t, p in zip(read, positions)):
            raise ValueError("an entry of another shape")
        return [t.to(decoder.device) for t in read]

    def build():
        if positions is None:
            return states(decoder, documents)
        return read_positions(decoder, documents, positions)

    return ConstraintCache(cache_dir() / "knn").get_or_build(key, build, dump, load)


@dataclass
class Anchors:
    """The labelled examples' states (rows) and each one's answer (an index into the options)."""
    states: object  # torch.Tensor (anchors, width), unit rows
    answers: list[int]
    multilabel: bool = False  # answers are label sets: the k nearest vote label by label

    @property
    def k(self) -> int:
        return neighbours_k(len(self.answers))

    def decide(self, state, options: Answers, fmt, batch, source: str) -> Decision:
        """The answer the k nearest anchors vote for, its probability its share of the vote; the
        other answers they vote for as runners-up. Ties go to the answer whose anchors are nearest."""
        import torch

        similarity = self.states @ state
        nearest = torch.argsort(-similarity, stable=True)[: self.k].tolist()  # ties: the earlier anchor
        votes = label_votes if self.multilabel else answer_votes
        scores, first = votes([self.answers[i] for i in nearest], options)
        total = sum(scores.values())
        ranked = sorted((a for a in scores if scores[a] > 0), key=lambda a: (-scores[a], first[a]))
        texts = [t[0] for t in options.texts]
        ranking = [{"answer": texts[a], "p": round(scores[a] / total, 4)} for a in ranked[:RANKED]]
        best = ranked[0]
        return Decision(fmt.parse(texts[best], batch=batch, source=source), texts[best],
                        round(scores[best] / total, 4), ranking)


def answer_votes(nearest: list[int], options: Answers) -> tuple[dict[int, int], dict[int, tuple]]:
    """Each answer's votes: how many of the nearest anchors (their answers, nearest first) have it;
    and the rank of its nearest anchor, which breaks ties."""
    votes = Counter(nearest)
    first: dict[int, tuple] = {}
    for rank, a in enumerate(nearest):
        first.setdefault(a, (rank,))
    return dict(votes), first


def label_votes(nearest: list[int], options: Answers) -> tuple[dict[int, int], dict[int, tuple]]:
    """For label sets, a vote label by label (as ML-kNN): a label is in the answer when most of the
    nearest anchors carry it. Each allowed answer scores the product, over the labels, of the anchors
    that agree with it on that label (carry it if it has it, lack it if not): the best answer holds
    the labels most anchors carry (at least one, at most the task's max_items), and its score over
    all answers' is its probability, as if the labels were voted on independently. A whole-set vote
    let one anchor's lone "outage" outvote two "billing" and two "bug" anchors (the dev tickets:
    bench/README.md). Ties: the answer with fewer labels (a label exactly half carry stays out), then
    the one whose labels' nearest anchors are nearest."""
    k = len(nearest)
    carried: Counter = Counter()
    first_of: dict[str, int] = {}
    for rank, a in enumerate(nearest):
        for label in answer_labels(options.records[a]):
            carried[label] += 1
            first_of.setdefault(label, rank)
    every = sorted({label for r in options.records for label in answer_labels(r)})
    scores: dict[int, int] = {}
    first: dict[int, tuple] = {}
    for a, record in enumerate(options.records):
        has = set(answer_labels(record))
        scores[a] = math.prod(carried[label] if label in has else k - carried[label] for label in every)
        first[a] = (len(has), *sorted(first_of.get(label, k) for label in has))
    return scores, first
