"""Classification: {"label": one of the task's labels} or, for a multilabel task, {"labels": [...]},
scored by accuracy and macro-F1 with a confusion table, or micro-F1 over labels."""
from __future__ import annotations

from .base import Kind
from .scoring import pct, prf, prf_table
from ..ir_types import TaskIR


class Classify(Kind):
    items_are_a_set = True  # a classifier's labels are a set
    decidable = True
    decisions = ("greedy", "exact", "calibrated", "channel", "knn")

    @property
    def label_key(self) -> str | None:
        return "label"

    def to_items(self, record: dict, multilabel: bool = False) -> list[dict]:
        if multilabel:
            return [{"label": x} for x in record.get("labels", [])]
        return [{"label": record["label"]}] if record.get("label") is not None else []

    def from_items(self, items: list[dict], multilabel: bool = False) -> dict:
        if multilabel:
            return {"labels": [i["label"] for i in items]}
        return {"label": items[0]["label"] if items else None}

    def max_items(self, batch: list[str], multilabel: bool, rule: int | None) -> int:
        if not multilabel:
            return 1
        return min(len(batch), rule) if rule else len(batch)  # a multilabel answer names each label once

    def min_items(self, multilabel: bool) -> int:
        return 0 if multilabel else 1

    def used_labels(self, record: dict) -> list:
        raw = record["labels"] if "labels" in record else record.get("label")
        return [u for u in (raw if isinstance(raw, list) else [raw]) if u is not None]

    def gold_problem(self, task_ir: TaskIR, record: dict) -> str | None:
        labels = record.get("labels") if "labels" in record else record.get("label", ...)
        if labels is ...:
            return "the record needs a 'label' (or 'labels')"
        if task_ir.get("multilabel"):
            if not isinstance(labels, (list, str)):
                return "'labels' must be a list of labels"
        elif isinstance(labels, list) and len(labels) != 1:
            return f"a single-label task's record holds {len(labels)} labels"
        return None

    def prepare(self, task_ir: TaskIR, record: dict, text: str, ordered: bool) -> dict:
        labels = record["labels"] if "labels" in record else record.get("label")
        labels = labels if isinstance(labels, list) else [labels]
        if task_ir.get("multilabel"):
            return {"labels": [x for x in labels if x is not None]}
        return {"label": labels[0] if labels else None}

    def shape_problem(self, record: dict) -> str | None:
        if "labels" in record:
            labels = record["labels"]
            if isinstance(labels, list) and all(isinstance(x, str) for x in labels):
                return None
            return "\"labels\" must be a list of label strings" + (" (got one string)" if isinstance(labels, str) else "")
        if "label" in record:
            return None if record["label"] is None or isinstance(record["label"], str) else "\"label\" must be a string"
        return "the record has no \"label\" or \"labels\": is it a classify record?"

    def score(self, gold, pred, labels=None) -> dict:
        if gold and "labels" in gold[0]:
            return _multilabel(gold, pred, labels)
        ys = [g.get("label") for g in gold]
        ps = [(p or {}).get("label") for p in pred]
        labels = labels or sorted({y for y in ys if y is not None} | {p for p in ps if p is not None})
        per = {}
        for lab in labels:
            tp = sum(1 for y, p in zip(ys, ps) if y == lab and p == lab)
            per[lab] = prf(tp, sum(p == lab for p in ps), sum(y == lab for y in ys))
        confusion = {y: {p: 0 for p in labels + ["(none)"]} for y in labels}
        for y, p in zip(ys, ps):
            if y in confusion:
                confusion[y][p if p in labels else "(none)"] += 1
        return {"accuracy": sum(y == p for y, p in zip(ys, ps)) / len(ys) if ys else 0.0,
                "macro_f1": sum(x["f1"] for x in per.values()) / len(per) if per else 0.0,
                "per_label": per, "confusion": confusion, "labels": labels}

    def main_score_name(self, gold: list[dict]) -> str:
        return "micro-F1" if gold and "labels" in gold[0] else "accuracy"

    def input_stats(self, gold, pred) -> tuple:
        if "labels" in gold:
            gs, ps = set(gold["labels"]), set((pred or {}).get("labels", []))
            return len(gs & ps), len(ps), len(gs)
        return float(gold.get("label") == (pred or {}).get("label")), 1

    def main_score(self, stats: list[tuple], multilabel: bool = False) -> float:
        if stats and multilabel:
            totals = [sum(x) for x in zip(*stats)]
            return prf(totals[0], totals[1], totals[2])["f1"]
        return super().main_score(stats, multilabel)

    def report(self, scores: dict) -> list[str]:
        if "accuracy" not in scores:
            return [f"multilabel: micro-F1 {pct(scores['micro']['f1'])}  macro-F1 {pct(scores['macro_f1'])}  "
                    f"exact-set accuracy {pct(scores['exact_set_accuracy'])}",
                    *prf_table("per label", {"per_label": scores["per_label"]})]
        labels = scores["labels"] + ["(none)"]
        lines = [f"accuracy {pct(scores['accuracy'])}  macro-F1 {pct(scores['macro_f1'])}",
                 *prf_table("per class", {"per_label": scores["per_label"]}),
                 "confusion (rows: gold, columns: predicted)",
                 "  " + " " * 16 + "".join(f"{c[:10]:>11}" for c in labels)]
        for y in scores["labels"]:
            lines.append(f"  {y[:16]:<16}" + "".join(f"{scores['confusion'][y][c]:>11}" for c in labels))
        return lines


def _multilabel(gold, pred, labels) -> dict:
    gs = [set(g.get("labels", [])) for g in gold]
    ps = [set((p or {}).get("labels", [])) for p in pred]
    labels = labels or sorted(set().union(*gs, *ps))
    per = {}
    for lab in labels:
        tp = sum(lab in g and lab in p for g, p in zip(gs, ps))
        per[lab] = prf(tp, sum(lab in p for p in ps), sum(lab in g for g in gs))
    micro = prf(sum(x["tp"] for x in per.values()), sum(x["pred"] for x in per.values()),
                sum(x["gold"] for x in per.values()))
    return {"micro": micro, "macro_f1": sum(x["f1"] for x in per.values()) / len(per) if per else 0.0,
            "exact_set_accuracy": sum(g == p for g, p in zip(gs, ps)) / len(gs) if gs else 0.0,
            "per_label": per, "labels": labels}


KIND = Classify(
    "classify", required=frozenset({"labels"}), allowed=frozenset({"labels", "similar"}),
    settings=frozenset({"multilabel"}), holes=frozenset({"label", "label.name"}),
    # In a JSON template a list of labels, [label], is how a multilabel answer is written.
    nested={"labels": frozenset({"label", "label.name"})},
    label_holes={"label": "labels"}, nested_label_holes={"label": "labels"},
    effects=frozenset({"max_items", "dedupe"}), instruction="Classify the text.")
