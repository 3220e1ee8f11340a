"""The worked examples' own labels, kept in the answer (`--shot-spans on`, entity tasks).

Retrieved examples often label the very words the input has: on CoNLL-2003 the cricket results
shown for a county-championship line give "Somerset" as an organisation. A small model shown
them still writes "Somerset" as a person or a location, or leaves names out. With shot spans on,
where a worked example shown for the input labels words that also stand in the input as whole
words, the answer gives those words that label (the examples' most frequent one for them; ties
to the task's label order), longest first; the model's own items follow, each kept unless it
touches words an example decided or would break the task's rules.

The answer stays an answer of the format: an item is taken only if the answer with it is still
written and read back the same, in the format's grammar for its input, within the item bound
(the examples' words first) and keeping the rules across spans the run keeps. It needs spans
grounded in the input (`prefer grounded`); where the examples label none of the input's words,
or the items come out the same, the model's answer stands as it was. Each item taken from the
examples is named on the output line (`from_shots`), and its probability is the share of the examples'
labels of those words that agree.

Measured, with the examples' labels alone (no model) beside it, in bench/README.md: on
CoNLL-2003, whose dev sentences share many names with its training sentences, those labels
alone score about as much as with the model; on data whose names are new (WNUT-17) they find
nothing. Known limits: an example's shorter span wins over a longer item of the model that
holds it ("Lara" over "Brian Lara"), and words an example holds but does not label do not
count against a label.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .formats.span_chains import InputChunks


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
    """The model's entity `record` with the examples' `spans` kept first, or None where that
    changes no item (or the task's spans are not grounded in the input). Each item is taken only
    if the answer with it is still one of the format: written and read back the same, in the
    format's grammar for this input (`accepts(text)` -> bool), keeping the rules across spans
    that `span_rules` (the run's mode) keeps, within the item bound."""
    from .formats import Unrenderable

    if not spans or not fmt.schema.grounded:
        return None
    chunks = InputChunks(source)
    limit = fmt.schema.max_items(fmt.schema.batch_or_all(batch))
    candidates = [({"type": s.type, "text": s.text}, True) for s in spans] + \
                 [({"type": it["type"], "text": it["text"]}, False) for it in record.get("entities", [])]

    def written(entities: dict) -> tuple[str, dict] | None:
        try:
            text, back = fmt.render_checked(entities, batch=batch, source=source)
        except Unrenderable:
            return None
        return (text, back) if accepts(text) else None

    def choose(each: bool) -> list[tuple[int, int, dict]]:
        """(where it stands, which candidate, item) of each item taken; `each`: every answer on
        the way checked against the format (slower: only where the whole answer was refused)."""
        chosen: list[tuple[int, int, dict]] = []
        decided: set[int] = set()  # the chunks the examples' spans hold
        texts: set[str] = set()  # ... and their texts
        for index, (item, from_shots) in enumerate(candidates):
            if len(chosen) >= limit:
                break
            if item["text"] in texts:  # words the examples already answered
                continue
            place = next((p for p in chunks.occurrences(item["text"]) if not decided & set(range(*p))), None)
            if place is None:
                continue
            trial = sorted(chosen + [(place[0], index, item)], key=lambda c: c[:2])
            entities = {"entities": [c[2] for c in trial]}
            if fmt.span_rule_problem(entities, source, span_rules) is not None:
                continue
            if each and written(entities) is None:  # a span over a rule the grammar keeps (max_words, say)
                continue
            chosen = trial
            if from_shots:
                texts.add(item["text"])
                decided.update(range(*place))
        return chosen

    chosen = choose(each=False)
    answer = written({"entities": [c[2] for c in chosen]})
    if answer is None:
        chosen = choose(each=True)
        answer = written({"entities": [c[2] for c in chosen]}) if chosen else None
    if answer is None:
        return None
    text, back = answer
    keys = [(it["type"], it["text"]) for it in back.get("entities", [])]
    model_items = fmt.normalise(record, batch=batch, source=source).get("entities", [])
    if Counter(keys) == Counter((it["type"], it["text"]) for it in model_items):
        return None  # the same items, perhaps in another order: the model's answer stands
    shot_keys = {(c[2]["type"], c[2]["text"]) for c in chosen if c[1] < len(spans)}
    agreement = {(s.type, s.text): s.agreement for s in spans}
    probs = None
    if item_p is not None:
        model_p = {(it["type"], it["text"]): p for it, p in zip(record.get("entities", []), item_p)}
        probs = [agreement[k] if k in shot_keys else model_p[k] for k in keys]
    return Kept(back, text, [i for i, k in enumerate(keys) if k in shot_keys], probs)
