"""Nearest-neighbour entities (`--decision knn` on entity tasks): each word of the input takes the
tag its nearest labelled words have.

The sentence-level rule of neighbours.py, applied word by word (after kNN-NER, Wang et al. 2022,
with a frozen model): the model reads each labelled example of `--shots-from` in the task's
prompt, and its state after each unit of the example's text (a word or a mark, as the format's
grammar cuts the input; the state at the unit's last token) is kept with that unit's tag: B-TYPE
where an entity starts, I-TYPE inside one, O elsewhere. Each unit of an input then takes the tag
its K nearest labelled units (cosine) vote for, each vote weighed by exp(SHARPNESS x cosine) so
that the nearest count most; runs of B/I of one type are its entities. They go into the answer as
the examples' own labels do under `--shot-spans on` (shot_spans.py: whole units of the input, the
format's grammar and the task's rules across spans kept), each with its units' mean share of the
vote as its probability.

Measured on CoNLL-2003 and WNUT-17 beside the model's own decoded labels and the lookup of the
retrieved examples' labels: bench/README.md, "`--decision knn` on entity tasks".
"""
from __future__ import annotations

import math
from collections import defaultdict

from ..shot_spans import ShotSpan
from .neighbours import BATCH, output_layer_inputs

K = 8  # labelled units that vote (4 to 32 measured alike in an exploration; 8 among the best)
SHARPNESS = 20.0  # a vote weighs exp(SHARPNESS x cosine): the nearest count most


def word_tags(offsets: list[tuple[int, int]], entities: list[dict], text: str) -> list[str]:
    """Each unit's tag (`offsets`: its characters in `text`): B-TYPE where it starts an entity,
    I-TYPE inside one, O elsewhere. An entity without a `start` is taken where its text first stands."""
    spans = []
    for e in entities:
        start = e.get("start")
        if not isinstance(start, int) or text[start:start + len(e["text"])] != e["text"]:
            start = text.find(e["text"])
        if start >= 0 and e["text"]:
            spans.append((start, start + len(e["text"]), e["type"]))
    tags = []
    for a, b in offsets:
        a += len(text[a:b]) - len(text[a:b].lstrip())  # a leading space is not part of a unit
        tag = "O"
        for start, end, label in spans:
            if start <= a < end:
                tag = ("B-" if a == start else "I-") + label
                break
        tags.append(tag)
    return tags


def text_units(tokenizer, document: str, start: int, end: int) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """The document's token ids and, for each unit of the text at [start, end) (a word or a mark,
    as the format's grammar cuts the input: a span is whole units), the position of the last token
    that holds part of it and the unit's characters, relative to `start`."""
    from ..formats.span_chains import chunks

    enc = tokenizer(document, return_offsets_mapping=True)
    spans = [(a, b) for a, b in enc["offset_mapping"]]
    positions, offsets = [], []
    at, i = 0, 0
    for chunk in chunks(document[start:end]):
        a, b = at, at + len(chunk)
        at = b
        if not chunk.strip():
            continue
        while i < len(spans) and spans[i][1] <= start + a:  # tokens wholly before the unit
            i += 1
        j = i
        while j + 1 < len(spans) and spans[j + 1][0] < start + b and spans[j + 1][1] > spans[j + 1][0]:
            j += 1  # the unit's last token (a zero-width one, an end-of-text mark, is none)
        if i < len(spans):
            positions.append(j)
            offsets.append((a, b))
    return list(enc["input_ids"]), positions, offsets


def position_states(decoder, documents: list[list[int]], positions: list[list[int]]):
    """The model's state after each listed token of each document (the input of its output layer),
    unit length, one tensor (tokens, width) per document. BATCH documents a forward pass, over the
    cache of the prompt they share (computed once a run, as for `neighbours.states`): a task's
    prompt is hundreds of tokens, the text a few dozen."""
    import torch

    out = []
    with output_layer_inputs(decoder) as seen:
        for at in range(0, len(documents), BATCH):
            ids = documents[at:at + BATCH]
            wanted = positions[at:at + BATCH]
            seen.clear()
            with torch.no_grad():
                # the shared prefix ends before any row's first listed token: those must be read here
                state = decoder._start([x[:max(1, w[0] if w else len(x))] for x, w in zip(ids, wanted)])
                chunks = [x[state.skip:] for x in ids]
                state.step(chunks, [len(c) for c in chunks])  # every position's state (the hook's input)
            hidden = seen[-1]  # (rows, positions 0 .. the longest chunk's, width)
            for i, where in enumerate(wanted):
                rows = hidden[i, [p - state.skip for p in where]].float()
                out.append(torch.nn.functional.normalize(rows, dim=-1))
    return out


class WordAnchors:
    """The labelled examples' units' states (rows, unit length) and each one's tag."""

    def __init__(self, states, tags: list[str]):
        self.states = states
        self.tags = tags

    def tags_of(self, states) -> list[tuple[str, float]]:
        """Each unit's tag by the weighted vote of its K nearest labelled units, and its share of
        the vote (ties: the tag of the nearer unit)."""
        import torch

        if states.shape[0] == 0:
            return []
        k = min(K, len(self.tags))
        near = torch.topk(states @ self.states.T, k, dim=-1)
        out = []
        for sims, idx in zip(near.values.tolist(), near.indices.tolist()):
            votes: dict[str, float] = defaultdict(float)
            for s, j in zip(sims, idx):
                votes[self.tags[j]] += math.exp(SHARPNESS * (s - sims[0]))  # relative to the nearest: no overflow
            best = max(votes, key=lambda t: votes[t])  # insertion order: the nearer's tag wins ties
            out.append((best, votes[best] / sum(votes.values())))
        return out

    def spans(self, states, offsets: list[tuple[int, int]], source: str) -> list[ShotSpan]:
        """The entities the units' tags make (a run of B/I of one type; I after O or another type
        starts one), in the order they stand, each with its units' mean share of the vote."""
        found: list[tuple[int, int, str, list[float]]] = []
        for (tag, share), (a, b) in zip(self.tags_of(states), offsets):
            label = tag[2:]
            a += len(source[a:b]) - len(source[a:b].lstrip())
            if tag == "O":
                continue
            if tag.startswith("I-") and found and found[-1][2] == label and not source[found[-1][1]:a].strip():
                found[-1] = (found[-1][0], b, label, found[-1][3] + [share])
            else:
                found.append((a, b, label, [share]))
        spans: list[ShotSpan] = []
        seen: set[tuple[str, str]] = set()  # an entity found twice is kept once (its first place)
        for a, b, label, shares in found:
            text = source[a:b].strip()
            if text and (text, label) not in seen:
                seen.add((text, label))
                spans.append(ShotSpan(text, label, round(sum(shares) / len(shares), 4)))
        return spans
