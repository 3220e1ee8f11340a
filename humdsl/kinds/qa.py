"""Extractive question answering: {"answer": a span of the passage, or null when unanswerable},
scored as SQuAD v1.1 is (the official script's normalisation, max over the gold answers)."""
from __future__ import annotations

import re
import string
from collections import Counter

from .base import Kind
from .scoring import pct
from ..ir_types import TaskIR


class QA(Kind):
    decisions = ("greedy", "exact")  # exact: the spans of the sentences in focus (runtime/span_answers.py)
    focused = True

    def to_items(self, record: dict, multilabel: bool = False) -> list[dict]:
        return [] if record.get("answer") is None else [{"answer": record["answer"]}]

    def from_items(self, items: list[dict], multilabel: bool = False) -> dict:
        return {"answer": items[0]["answer"] if items else None}

    def max_items(self, batch: list[str], multilabel: bool, rule: int | None) -> int:
        return 1

    def gold_problem(self, task_ir: TaskIR, record: dict) -> str | None:
        if "answer" not in record or not (record["answer"] is None or isinstance(record["answer"], str)):
            return "the record needs an 'answer': a string, or null when unanswerable"
        return None

    def prepare(self, task_ir: TaskIR, record: dict, text: str, ordered: bool) -> dict:
        return {"answer": record.get("answer")}  # datasets may list every annotator's answer: the first

    def spans(self, record: dict) -> list[str]:
        return [record["answer"]] if isinstance(record.get("answer"), str) else []

    def shape_problem(self, record: dict) -> str | None:
        if "answers" in record:
            answers = record["answers"]
            ok = isinstance(answers, list) and all(isinstance(x, str) for x in answers)
            return None if ok else "\"answers\" must be a list of strings"
        if "answer" in record:
            return None if record["answer"] is None or isinstance(record["answer"], str) else "\"answer\" must be a string"
        return "the record has no \"answer\": is it a qa record?"

    def score(self, gold, pred, labels=None) -> dict:
        """Exact match and token F1, max over the gold answers of a question (gold records may
        hold "answers": [...] besides "answer"). An unanswerable gold scores 1 only against no
        answer."""
        em = f1 = 0.0
        for g, p in zip(gold, pred):
            answers = g.get("answers") or [g.get("answer")]
            guess = (p or {}).get("answer")
            if all(a is None for a in answers):
                em += guess is None
                f1 += guess is None
                continue
            if guess is None:
                continue
            em += max(float(squad_normalise(guess) == squad_normalise(a)) for a in answers if a is not None)
            f1 += max(squad_f1(guess, a) for a in answers if a is not None)
        n = len(gold) or 1
        return {"exact_match": em / n, "f1": f1 / n, "count": len(gold)}

    def input_stats(self, gold, pred) -> tuple:
        return self.score([gold], [pred])["f1"], 1

    def report(self, scores: dict) -> list[str]:
        return [f"SQuAD: exact match {pct(scores['exact_match'])}  F1 {pct(scores['f1'])}  "
                f"({scores['count']} questions)"]


def squad_normalise(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def squad_f1(pred: str, gold: str) -> float:
    p, g = squad_normalise(pred).split(), squad_normalise(gold).split()
    common = Counter(p) & Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


KIND = QA("qa", inputs=("text", "question"), span_fields=("answer",), holes=frozenset({"answer"}),
          effects=frozenset({"grounded", "max_words"}),
          instruction="Answer the question with a span copied from the passage.", score_name="SQuAD F1")
