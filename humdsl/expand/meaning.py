"""The meaning check: a paraphrase of a task's text must not change what the task asks. The task
is run (its run profile, the engine given) on its examples, its tests and a dev file, once with
the original text shown and once with the proposal in its place; a proposal that flips more
answers than the tolerance allows, or lowers the task's micro-F1 by more than it, is rejected,
with the answers that changed as evidence."""
from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from ..ir import slot_place
from ..ir_types import TaskIR

FLIP_TOLERANCE = 0.25  # share of the checked inputs whose answer may change
F1_TOLERANCE = 0.05  # how far the micro-F1 against the gold answers may fall

Runner = Callable[[TaskIR, list[dict]], list]  # (task IR, rows) -> one record (or None) per row
Prompter = Callable[[TaskIR, list[dict]], list[str]]  # (task IR, rows) -> the prompts the model is shown


@dataclass(frozen=True)
class Row:
    id: str
    input: dict
    gold: dict | None  # the example's output or the test's expectation; None where it has none


@dataclass
class Verdict:
    ok: bool
    why: str = ""
    flips: list[dict] = field(default_factory=list)  # {"id", "before", "after"}
    f1_before: float | None = None
    f1_after: float | None = None
    checked_on: int = 0  # the rows the task was run on


def rows_of(task: TaskIR, dev: list[dict] | None = None) -> list[Row]:
    """The inputs the check runs on: the task's examples and tests (with `expect`), then dev rows."""
    # ids the rows cannot share (a session answers rows by id): an example and a test may have one name
    out = [Row(f"example:{i}:{e['id']}", e["input"], e.get("output")) for i, e in enumerate(task.get("examples") or [])]
    out += [Row(f"test:{i}:{t['id']}", t["input"], t.get("expect")) for i, t in enumerate(task.get("tests") or [])]
    for i, d in enumerate(dev or []):
        out.append(Row(f"dev:{i}:{d.get('id', '')}", {k: v for k, v in d.items() if k not in ("id", "record")},
                       d.get("record")))
    return out


def with_text(task: TaskIR, slot: str, text: str) -> TaskIR:
    """The task's IR with `text` first in `slot` (what prompts show), the original moved after it."""
    out = copy.deepcopy(task)
    place = slot_place(out, slot)
    if place is None:
        raise KeyError(f"task '{task['name']}' has no {slot}")
    entry, member = place
    entry[member] = [text] + [t for t in entry.get(member) or [] if t != text]
    return out


def items(record: dict | None) -> Counter:
    """A record as a multiset of comparable items (a label, an entity, a field's value)."""
    if not record:
        return Counter()
    out: Counter = Counter()
    for key, value in sorted(record.items()):
        for v in value if isinstance(value, list) else [value]:
            out[f"{key}={_canon(v)}"] += 1
    return out


def _canon(v) -> str:
    return json.dumps(v, sort_keys=True, ensure_ascii=False)


def micro_f1(pairs: list[tuple[dict | None, dict | None]]) -> float | None:
    """Micro-F1 of predicted against gold items over the rows that have gold; None if none has."""
    tp = fp = fn = 0
    seen = False
    for gold, got in pairs:
        if gold is None:
            continue
        seen = True
        g, p = items(gold), items(got)
        hit = sum((g & p).values())
        tp, fp, fn = tp + hit, fp + sum(p.values()) - hit, fn + sum(g.values()) - hit
    if not seen:
        return None
    return 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)


class MeaningCheck:
    """Runs the task once as it is (kept) and once per proposal, on the same rows."""

    def __init__(self, task: TaskIR, rows: list[Row], run: Runner, flip_tolerance: float = FLIP_TOLERANCE,
                 f1_tolerance: float = F1_TOLERANCE, prompter: Prompter | None = None):
        """`prompter`: where given, a proposal whose prompts are those of the original (a text the
        run profile's prompts do not show) is kept without running the task, and said so."""
        self.task, self.rows, self.run, self.prompter = task, rows, run, prompter
        self.flip_tolerance, self.f1_tolerance = flip_tolerance, f1_tolerance
        self._before: list | None = None
        self._before_prompts: list[str] | None = None

    def before(self) -> list:
        if self._before is None:
            self._before = self.run(self.task, [self._row(r) for r in self.rows])
        return self._before

    @staticmethod
    def _row(r: Row) -> dict:
        return {**r.input, "id": r.id}

    def judge(self, slot: str, text: str) -> Verdict:
        if not self.rows:
            return Verdict(True, "not checked: the task has no examples or tests, and no --dev was given")
        variant = with_text(self.task, slot, text)
        if self.prompter is not None:
            rows = [self._row(r) for r in self.rows]
            if self._before_prompts is None:
                self._before_prompts = self.prompter(self.task, rows)
            if self.prompter(variant, rows) == self._before_prompts:
                return Verdict(True, "not checked: the task's prompts (its run profile) do not show this text")
        before = self.before()
        after = self.run(variant, [self._row(r) for r in self.rows])
        flips = [{"id": r.id, "before": b, "after": a} for r, b, a in zip(self.rows, before, after)
                 if items(b) != items(a)]
        f1_before = micro_f1([(r.gold, b) for r, b in zip(self.rows, before)])
        f1_after = micro_f1([(r.gold, a) for r, a in zip(self.rows, after)])
        verdict = Verdict(True, flips=flips, f1_before=f1_before, f1_after=f1_after, checked_on=len(self.rows))
        share = len(flips) / len(self.rows)
        if share > self.flip_tolerance:
            verdict.ok = False
            verdict.why = (f"changes {len(flips)} of {len(self.rows)} answers (tolerance "
                           f"{self.flip_tolerance:.0%})")
        elif f1_before is not None and f1_after is not None and f1_after < f1_before - self.f1_tolerance:
            verdict.ok = False
            verdict.why = f"micro-F1 {f1_before:.2f} -> {f1_after:.2f} (tolerance {self.f1_tolerance})"
        return verdict
