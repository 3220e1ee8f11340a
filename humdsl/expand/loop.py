"""One round of the loop: propose paraphrases for each selected text of a task, filter them, check
their meaning, and say which survive (written into the spec as proposed alternatives by the
command, for a person to accept or reject in review)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

from ..runtime.protocol import Grammar, RowFailure, Sampling, row_seed
from . import filters
from .meaning import MeaningCheck
from .propose import DEMONSTRATED, Target, bounds, budget, grammar, grammar_tree, prompt, split
from ..ir_types import TaskIR

# The stages a proposal passes, in order; the report counts what each one drops.
STAGES = ("duplicate", "unrelated", "length", "negation", "labels", "check", "meaning")
TEMPERATURE, TOP_P = 0.7, 0.95  # sampled, so that N proposals differ; seeded, so a round repeats


@dataclass
class Proposal:
    slot: str
    text: str
    survived: bool = True
    dropped_by: str | None = None  # one of STAGES
    why: str = ""
    evidence: dict = field(default_factory=dict)  # the meaning check's flips and scores

    def drop(self, stage: str, why: str) -> None:
        self.survived, self.dropped_by, self.why = False, stage, why


@dataclass
class Report:
    task: str
    model: str
    seed: int
    n: int
    proposals: list[Proposal] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)  # {"slot", "why"}: where the model gave no answer
    options: dict = field(default_factory=dict)  # what the round was asked: texts, checks, tolerances

    def counts(self) -> dict[str, int]:
        out = {"proposed": len(self.proposals)}
        for stage in STAGES:
            out[f"dropped: {stage}"] = sum(p.dropped_by == stage for p in self.proposals)
        out["kept"] = sum(p.survived for p in self.proposals)
        return out

    def kept(self) -> list[Proposal]:
        return [p for p in self.proposals if p.survived]

    def as_json(self) -> dict:
        return {"task": self.task, "model": self.model, "seed": self.seed, "n": self.n, "options": self.options,
                "counts": self.counts(), "failures": self.failures, "proposals": [asdict(p) for p in self.proposals]}


def generate(decoder, task: TaskIR, target: Target, n: int, seed: int) -> tuple[list[str], list[str]]:
    """The model's proposals for one slot, and why any of the n asked for is missing: n samples of one line each, in
    one batch (one answer of n lines tends to repeat its first line), seeded by the slot's name, so
    a slot's proposals do not depend on which others were asked for."""
    seeds = tuple(row_seed(seed, f"{target.slot}#{i}") for i in range(n))
    sampling = Sampling(TEMPERATURE, TOP_P, row_seed(seed, target.slot), seeds)
    answers = decoder.generate([prompt(task, target)] * n, [Grammar(grammar(target, 1), grammar_tree(target, 1))] * n, budget(target, 1),
                               sampling)
    out, problems = [], []
    for answer in answers:
        if isinstance(answer, RowFailure):
            problems.append(answer.message)
            continue
        texts = split(answer)
        # an answer its grammar accepts is one whole line: anything else was cut off (the token
        # budget reached) or came from a server that did not keep to the grammar
        if len(texts) != 1 or answer.count("\n") != 1 or not answer.endswith("\n"):
            problems.append(f"the answer is not one whole line (cut off, or not under its grammar): {answer[:80]!r}")
            continue
        out.append(texts[0])
    return out, problems


def _filters(target: Target, kept: list[str], names: filters.LabelNames,
             still_checks: Callable[[str, str], str | None]) -> list[tuple[str, Callable[[str], str | None]]]:
    """The stages before the meaning check, in order, each a function of the proposal's text."""
    original = target.original
    return [("duplicate", lambda t: filters.duplicate(t, [*target.texts, *target.pending, *kept, *DEMONSTRATED])),
            ("unrelated", lambda t: filters.unrelated(t, original)),
            ("length", lambda t: filters.length(t, original, bounds(original)[1])),
            ("negation", lambda t: filters.negation(t, original)),
            ("labels", lambda t: filters.labels(t, original, list(target.scope), names)),
            ("check", lambda t: still_checks(target.slot, t))]


def review(proposed: dict[str, list[str]], chosen: list[Target], names: filters.LabelNames,
           still_checks: Callable[[str, str], str | None], meaning: MeaningCheck | None) -> list[Proposal]:
    """Each proposal through the stages in order; the first that objects drops it."""
    out: list[Proposal] = []
    for target in chosen:
        kept_here: list[str] = []
        stages = _filters(target, kept_here, names, still_checks)
        for text in proposed.get(target.slot, []):
            p = Proposal(target.slot, text)
            out.append(p)
            failed = next(((stage, why) for stage, check in stages if (why := check(text))), None)
            if failed:
                p.drop(*failed)
                continue
            if meaning is not None:
                verdict = meaning.judge(target.slot, text)
                p.evidence = {"flips": verdict.flips, "f1_before": verdict.f1_before, "f1_after": verdict.f1_after,
                              "checked_on": verdict.checked_on}
                if not verdict.ok:
                    p.drop("meaning", verdict.why)
                    continue
                p.why = verdict.why  # kept; where it was not checked, the report says why
            kept_here.append(text)
    return out
