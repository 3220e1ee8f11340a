"""User-defined records: the task's `fields`, typed (string, span, number, date, enum, lists and
nested records), scored by field accuracy."""
from __future__ import annotations

from .base import Kind
from .scoring import norm, pct


class Record(Kind):
    itemised = False
    def score(self, gold, pred, labels=None) -> dict:
        """Field-level accuracy: a field is right when its value equals gold exactly (strings
        compared after collapsing whitespace)."""
        fields = sorted({k for g in gold for k in g})
        per = {}
        for f in fields:
            right = sum(_same((p or {}).get(f, None) if p is not None else object(), g.get(f))
                        for g, p in zip(gold, pred))
            per[f] = right / len(gold) if gold else 0.0
        return {"field_accuracy": sum(per.values()) / len(per) if per else 0.0, "per_field": per,
                "exact_record_accuracy": sum(p is not None and all(_same(p.get(f), g.get(f)) for f in fields)
                                             for g, p in zip(gold, pred)) / len(gold) if gold else 0.0}

    def input_stats(self, gold, pred) -> tuple:
        return self.score([gold], [pred])["field_accuracy"], 1

    def report(self, scores: dict) -> list[str]:
        return [f"field accuracy {pct(scores['field_accuracy'])}  exact records {pct(scores['exact_record_accuracy'])}",
                *(f"  {f:<28}{pct(acc):>8}" for f, acc in scores["per_field"].items())]


def _same(a, b) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return norm(a) == norm(b)
    if isinstance(a, float) or isinstance(b, float):
        try:
            return abs(float(a) - float(b)) < 1e-6
        except (TypeError, ValueError):
            return False
    return a == b


KIND = Record("record", required=frozenset({"fields"}), allowed=frozenset({"fields"}),
              holes=frozenset({"field", "field.name", "value"}),
              instruction="Extract the fields below from the text.", score_name="field accuracy")
