"""Events: {"events": [{"type", "trigger", "arguments": [{"role", "text"}]}]}, scored as ACE-style
trigger and argument identification and classification."""
from __future__ import annotations

from collections import Counter

from .base import ListKind, prf_line
from .scoring import micro_stats, multiset_scores, norm, prf_table
from ..ir_types import TaskIR


class Events(ListKind):
    def tidy_item(self, item: dict) -> dict:
        return {**item, "arguments": [dict(a) for a in item.get("arguments", [])]}

    def unknown_labels(self, task_ir: TaskIR, record: dict) -> list[str]:
        codes = {lab["code"] for lab in task_ir.get("labels", [])}
        roles = {r["code"] for r in task_ir.get("roles", [])}
        bad = [u for u in self.used_labels(record) if u not in codes]
        bad += [a.get("role") for e in record.get("events", []) for a in e.get("arguments", [])
                if a.get("role") not in roles]
        return list(dict.fromkeys(map(str, bad)))

    def gold_problem(self, task_ir: TaskIR, record: dict) -> str | None:
        problem = super().gold_problem(task_ir, record)
        if problem is None and not all(isinstance(e.get("arguments", []), list) for e in record["events"]):
            return "an event's 'arguments' must be a list"
        return problem

    def item_spans(self, item: dict) -> list[str]:
        return super().item_spans(item) + [a["text"] for a in item.get("arguments", [])
                                           if isinstance(a.get("text"), str)]

    def item_problem(self, item: dict) -> str | None:
        args = item.get("arguments", [])
        if isinstance(args, list) and all(isinstance(a, dict) and isinstance(a.get("role"), str)
                                          and isinstance(a.get("text"), str) for a in args):
            return None
        return "\"arguments\" must be a list of objects with string role and text"

    def score(self, gold, pred, labels=None) -> dict:
        def triggers(rec, typed):
            return Counter(((e["type"] if typed else None), norm(e["trigger"]))
                           for e in (rec or {}).get("events", []))

        def args(rec, typed):
            out: Counter[tuple] = Counter()
            for e in (rec or {}).get("events", []):
                for a in e.get("arguments", []):
                    out[(e["type"], (a["role"] if typed else None), norm(a["text"]))] += 1
            return out
        label = (lambda k: k[0] or "all")
        return {
            "trigger_identification": multiset_scores([triggers(g, False) for g in gold],
                                                      [triggers(p, False) for p in pred], lambda k: "all")["micro"],
            "trigger_classification": multiset_scores([triggers(g, True) for g in gold],
                                                      [triggers(p, True) for p in pred], label),
            "argument_identification": multiset_scores([args(g, False) for g in gold],
                                                       [args(p, False) for p in pred], lambda k: "all")["micro"],
            "argument_classification": multiset_scores([args(g, True) for g in gold],
                                                       [args(p, True) for p in pred], lambda k: k[1])}

    def input_stats(self, gold, pred) -> tuple:
        return micro_stats(self.score([gold], [pred])["argument_classification"]["micro"])

    def report(self, scores: dict) -> list[str]:
        return [prf_line("trigger identification", scores["trigger_identification"]),
                prf_line("argument identification", scores["argument_identification"]),
                *prf_table("trigger classification", scores["trigger_classification"]),
                *prf_table("argument classification", scores["argument_classification"])]


KIND = Events(
    "events", required=frozenset({"labels", "roles"}), allowed=frozenset({"labels", "similar", "roles"}),
    label_members=("roles",), list_key="events", span_fields=("trigger",),
    holes=frozenset({"type", "type.name", "trigger", "arguments"}),
    nested={"arguments": frozenset({"role", "role.name", "text"})}, nested_field="arguments",
    label_holes={"type": "labels"}, nested_label_holes={"role": "roles"},
    item_strings=("type", "trigger"), anchor="trigger",
    effects=frozenset({"grounded", "max_items", "max_words", "dedupe", "ordered", "no_overlap"}),
    instruction="Extract the events of the listed types from the text, with their triggers and arguments.",
    label_heading="Event types", score_name="argument classification micro-F1")
