"""Named entities: {"entities": [{"type", "text", "start"?}]}, scored strictly (type and span)
and partially (same type, a shared token)."""
from __future__ import annotations

from collections import Counter

from .base import ListKind, prf_line
from .scoring import micro_stats, multiset_scores, norm, prf_table


class Entities(ListKind):
    span_rules = True
    decisions = ("greedy", "knn")  # knn: each word tagged as its nearest labelled words are (runtime/word_neighbours.py)
    def score(self, gold, pred, labels=None) -> dict:
        # With character offsets on both sides, a mention is also matched by position (as
        # conlleval and seqeval do on tags); without them, by text, as a multiset.
        with_offsets = all("start" in e for rec in gold + pred for e in (rec or {}).get("entities", []))

        def bag(rec):
            return Counter((e["type"], norm(e["text"])) + ((e["start"],) if with_offsets else ())
                           for e in (rec or {}).get("entities", []))
        out = {"strict": multiset_scores([bag(g) for g in gold], [bag(p) for p in pred], lambda k: k[0])}
        out["partial"] = _partial(gold, pred)
        return out

    def input_stats(self, gold, pred) -> tuple:
        return micro_stats(self.score([gold], [pred])["strict"]["micro"])

    def report(self, scores: dict) -> list[str]:
        return [*prf_table("entities (strict: type and span)", scores["strict"]),
                "  " + prf_line("partial (same type, overlapping tokens)", scores["partial"])]


def _partial(gold, pred) -> dict:
    """Secondary figure: a prediction matches a gold entity of the same type sharing a token."""
    tp_p = tp_g = npred = ngold = 0
    for g, p in zip(gold, pred):
        gs = [(e["type"], set(e["text"].split())) for e in (g or {}).get("entities", [])]
        ps = [(e["type"], set(e["text"].split())) for e in (p or {}).get("entities", [])]
        npred += len(ps)
        ngold += len(gs)
        tp_p += sum(any(t == gt and w & gw for gt, gw in gs) for t, w in ps)
        tp_g += sum(any(t == pt and w & pw for pt, pw in ps) for t, w in gs)
    p_ = tp_p / npred if npred else 0.0
    r_ = tp_g / ngold if ngold else 0.0
    return {"precision": p_, "recall": r_, "f1": 2 * p_ * r_ / (p_ + r_) if p_ + r_ else 0.0}


KIND = Entities(
    "entities", required=frozenset({"labels"}), allowed=frozenset({"labels", "similar"}),
    list_key="entities", span_fields=("text",), holes=frozenset({"type", "type.name", "text"}),
    label_holes={"type": "labels"}, item_strings=("type", "text"), anchor="text",
    effects=frozenset({"grounded", "max_items", "max_words", "dedupe", "ordered", "no_overlap"}),
    instruction="Extract the named entities of the listed types from the text.",
    label_heading="Entity types")
