"""Open IE: {"triples": [{"subject", "predicate", "object", "args"?}]}, scored token-wise part by
part in the spirit of CaRB. Predicates often add words ("is", "has"), so only the arguments are
spans of the input."""
from __future__ import annotations

from collections import Counter

from .base import ListKind
from .scoring import pct


class Triples(ListKind):
    def tidy_item(self, item: dict) -> dict:
        item = dict(item)
        if not item.get("args"):
            item.pop("args", None)
        return item

    def item_spans(self, item: dict) -> list[str]:
        return super().item_spans(item) + [a for a in item.get("args", []) if isinstance(a, str)]

    def item_problem(self, item: dict) -> str | None:
        args = item.get("args", [])
        if isinstance(args, list) and all(isinstance(a, str) for a in args):
            return None
        return "\"args\" must be a list of strings"

    def score(self, gold, pred, labels=None) -> dict:
        """Precision: for each predicted tuple, its best token precision against a gold tuple of
        the sentence; recall: for each gold tuple, its best token recall against a predicted
        tuple. Averaged over tuples, micro over the corpus."""
        def parts(t):
            return [_tokens(t["subject"]), _tokens(t["predicate"]),
                    _tokens(" ".join([t["object"]] + t.get("args", [])))]

        def overlap(a, b):
            return sum(sum((Counter(x) & Counter(y)).values()) for x, y in zip(a, b))

        p_sum = r_sum = 0.0
        n_pred = n_gold = 0
        for g, p in zip(gold, pred):
            gs = [parts(t) for t in (g or {}).get("triples", [])]
            ps = [parts(t) for t in (p or {}).get("triples", [])]
            n_pred += len(ps)
            n_gold += len(gs)
            for pt in ps:
                size = sum(len(x) for x in pt) or 1
                p_sum += max((overlap(pt, gt) / size for gt in gs), default=0.0)
            for gt in gs:
                size = sum(len(x) for x in gt) or 1
                r_sum += max((overlap(gt, pt) / size for pt in ps), default=0.0)
        precision = p_sum / n_pred if n_pred else 0.0
        recall = r_sum / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "pred": n_pred, "gold": n_gold}

    def input_stats(self, gold, pred) -> tuple:
        m = self.score([gold], [pred])
        return m["precision"] * m["pred"], m["recall"] * m["gold"], m["pred"], m["gold"]

    def precision_recall(self, stats: list[tuple]) -> tuple[float, float]:
        got, found, n_pred, n_gold = [sum(x) for x in zip(*stats)] if stats else [0, 0, 0, 0]
        return (got / n_pred if n_pred else 0.0), (found / n_gold if n_gold else 0.0)

    def report(self, scores: dict) -> list[str]:
        return [f"open IE (token-level, CaRB style): P {pct(scores['precision'])} R {pct(scores['recall'])} "
                f"F1 {pct(scores['f1'])}  ({scores['gold']} gold, {scores['pred']} predicted tuples)"]


def _tokens(s: str) -> list[str]:
    return s.lower().split()


KIND = Triples(
    "triples", list_key="triples", span_fields=("subject", "object"),
    holes=frozenset({"subject", "predicate", "object", "args"}), nested={"args": frozenset({"text"})},
    nested_field="args", free_holes=frozenset({"predicate"}), item_strings=("subject", "predicate", "object"),
    anchor="subject", effects=frozenset({"grounded", "max_items", "max_words", "dedupe", "ordered", "no_overlap"}),
    instruction="Extract the facts the text states as (subject, predicate, object) triples.",
    score_name="CaRB-style F1")
