"""The worked examples' own labels, kept in the answer (`--shot-spans on`, entity tasks).

Retrieved examples often label the very words the input has: on CoNLL-2003 the cricket results
shown for a county-championship line give "Somerset" as an organisation. A small model shown
them still writes "Somerset" as a person or a location, or leaves names out. With shot spans on,
where a worked example shown for the input labels words that also stand in the input as whole
words, the answer gives those words that label (the examples' most frequent one for them; ties
to the task's label order), longest first; the model's own items follow, each kept unless it
touches words an example decided or would break the task's rules.

The answer stays an answer of the format: it is written in the format and held to the format's
grammar for its input and to the rules across spans the run keeps; where it would not be (an
item bound, say), the model's own answer is kept as it was. Each item taken from the examples
is named on the output line (`from_shots`), and its probability is the share of the examples'
labels of those words that agree.

Measured, with the examples' labels alone (no model) beside it, in bench/README.md: on
CoNLL-2003, whose dev sentences share many names with its training sentences, those labels
alone beat the model; on data whose names are new (WNUT-17) they add little.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .formats.span_rules import InputChunks


@dataclass(frozen=True)
class ShotSpan:
    text: str
    type: str
    agreement: float  # the share of the examples' labels of these words that are `type`


@dataclass(frozen=True)
class Kept:
    record: dict
    text: str  # the record as the format writes it
    from_shots: list[int]  # the positions of the record's items taken from the examples
    item_p: list[float] | None


def shot_spans(fmt, examples: list[dict], source: str, batch: list[str] | None) -> list[ShotSpan]:
    """The spans the examples label (in the run's label batch) that stand in `source` as whole
    chunks, longest first (then by where they first stand, then by text)."""
    counts: dict[str, Counter] = {}
    for ex in examples:
        for item in fmt.normalise(ex["record"], batch=batch).get("entities", []):
            counts.setdefault(item["text"], Counter())[item["type"]] += 1
    order = {code: i for i, code in enumerate(fmt.schema.batch_or_all(batch))}
    chunks = InputChunks(source)
    found = []
    for text, labels in counts.items():
        places = chunks.occurrences(text)
        if places:
            label = min(labels, key=lambda t: (-labels[t], order.get(t, len(order)), t))
            found.append((-len(text), places[0][0], text, ShotSpan(text, label, labels[label] / sum(labels.values()))))
    return [span for *_, span in sorted(found, key=lambda f: f[:3])]


def keep_shot_spans(fmt, record: dict, item_p: list[float] | None, spans: list[ShotSpan], source: str,
                    batch: list[str] | None, span_rules: str, accepts) -> Kept | None:
    """The model's entity `record` with the examples' `spans` kept first, or None where nothing
    changes or the result would not be an answer of the format (`accepts(text)` -> bool: in the
    format's grammar for this input)."""
    from .formats import Unrenderable

    if not spans:
        return None
    chunks = InputChunks(source)
    limit = fmt.schema.max_items(fmt.schema.batch_or_all(batch))
    model_p = {(it["type"], it["text"]): p for it, p in zip(record.get("entities", []), item_p or [])}
    chosen: list[tuple[int, int, dict]] = []  # (where it stands, which candidate, item)
    decided: set[int] = set()  # the chunks the examples' spans hold
    texts: set[str] = set()  # ... and their texts
    candidates = [({"type": s.type, "text": s.text}, True) for s in spans] + \
                 [({"type": it["type"], "text": it["text"]}, False) for it in record.get("entities", [])]
    for index, (item, from_shots) in enumerate(candidates):
        if len(chosen) >= limit:
            break
        if item["text"] in texts:  # words the examples already answered
            continue
        place = next((p for p in chunks.occurrences(item["text"]) if not decided & set(range(*p))), None)
        if place is None:
            continue
        trial = sorted(chosen + [(place[0], index, item)], key=lambda c: c[:2])
        if fmt.span_rule_problem({"entities": [c[2] for c in trial]}, source, span_rules) is not None:
            continue
        chosen = trial
        if from_shots:
            texts.add(item["text"])
            decided.update(range(*place))
    merged = {"entities": [c[2] for c in chosen]}
    try:
        text, back = fmt.render_checked(merged, batch=batch, source=source)
    except Unrenderable:
        return None
    if back == fmt.normalise(record, batch=batch, source=source) or not accepts(text):
        return None
    agreement = {(s.type, s.text): s.agreement for s in spans}
    shot_keys = {(c[2]["type"], c[2]["text"]) for c in chosen if c[1] < len(spans)}
    items = back.get("entities", [])
    keys = [(it["type"], it["text"]) for it in items]
    probs = None
    if item_p is not None:
        probs = [agreement[k] if k in shot_keys else model_p.get(k, 0.0) for k in keys]
    return Kept(back, text, [i for i, k in enumerate(keys) if k in shot_keys], probs)
