"""What varies from instance to instance: phrasing, label batch and order, guidelines and rules
with their paraphrases, label descriptions, format, few-shot examples (the Hum recipe)."""
from __future__ import annotations

from dataclasses import dataclass

from ..kinds import KINDS
from .draw import Draw
from .policy import Policy
from ..ir_types import TaskIR

@dataclass
class Choice:
    instruction: int
    batch: list[str] | None  # label codes in the order shown; None: the kind has no label batch
    guidelines: list[tuple[str, int]]  # (id, paraphrase index), in the order shown
    rules: list[tuple[str, int]]  # (id, phrasing index), in the order shown
    descriptions: dict[str, int]  # label code -> description paraphrase index
    formats: list[str]  # the sampled format first, then the others to fall back on
    shots: list[int]  # indices of the spec's examples shown


def present_labels(task_ir: TaskIR, record: dict) -> list[str]:
    """The labels a gold record uses, in order of first use."""
    return list(dict.fromkeys(x for x in KINDS[task_ir["kind"]].used_labels(record) if x is not None))


def label_batch(task_ir: TaskIR, present: list[str], policy: Policy, draw: Draw) -> list[str] | None:
    """A bounded batch of labels in a random order: some of those the example holds, and
    negatives (labels it does not hold, hard ones from `similar` groups first) making up about
    `negative_ratio` of the batch. An example that holds none of the labels gets negatives only
    (its answer is empty). A single-label classifier's batch always holds the gold label and at
    least one other: without the gold label the question would have no right answer."""
    kind = KINDS[task_ir["kind"]]
    if not kind.labelled:
        return None
    codes = _facts(task_ir).codes
    absent = [c for c in codes if c not in present]
    cap = min(policy.label_batch, len(codes))
    if kind.min_items(bool(task_ir.get("multilabel"))):  # one label, always: a single-label classifier
        positives = present[:1]
        n_neg = draw.between(min(1, len(absent)), min(max(cap, 2), len(codes)) - len(positives))
    elif present:
        positives = draw.sample(present, draw.between(1, min(len(present), cap)))
        ratio = policy.negative_ratio
        want = len(positives) * ratio / (1 - ratio) if ratio < 1 else float(cap)
        n_neg = int(want) + (1 if draw.chance(want - int(want)) else 0)  # right on average
        n_neg = max(0, min(n_neg, len(absent), cap - len(positives)))
    else:
        positives = []
        n_neg = draw.between(1, min(cap, len(absent)))
    similar = {c for group in task_ir.get("similar", []) if set(group) & set(positives) for c in group}
    hard = [c for c in absent if c in similar]
    n_hard = min(len(hard), round(n_neg * policy.hard_negative_ratio))
    negatives = draw.sample(hard, n_hard)
    negatives += draw.sample([c for c in absent if c not in negatives], n_neg - len(negatives))
    return draw.shuffled(positives + negatives)


class _Facts:
    """What choose() needs of a task, worked out once per task rather than once per instance."""

    def __init__(self, task_ir: TaskIR):
        self.ir = task_ir
        self.codes = [lab["code"] for lab in task_ir.get("labels", [])]
        codes = set(self.codes)
        self.guidelines = [(g, frozenset(s for s in g.get("scope") or [] if s in codes))
                           for g in task_ir.get("guidelines", []) if g.get("texts")]
        self.rules = [r for r in task_ir.get("rules", []) if r.get("texts")]
        self.paraphrased = [(lab["code"], len(lab["descriptions"])) for lab in task_ir.get("labels", [])
                            if len(lab.get("descriptions") or []) > 1]
        self.formats = [f["name"] for f in task_ir["formats"]]
        self.phrasings = len(task_ir.get("instructions") or [""])


_FACTS: dict[int, _Facts] = {}


def _facts(task_ir: TaskIR) -> _Facts:
    found = _FACTS.get(id(task_ir))
    if found is None or found.ir is not task_ir:
        found = _FACTS[id(task_ir)] = _Facts(task_ir)
    return found


def choose(task_ir: TaskIR, record: dict, policy: Policy, draw: Draw, n_examples: int,
           present: list[str] | None = None) -> Choice:
    """One instance's choices. `present`: present_labels(task_ir, record), if already known."""
    facts = _facts(task_ir)
    if policy.diversity == "baseline":
        return baseline_choice(task_ir, policy)
    hum = _hum_choice(facts, record, policy, draw, n_examples, present)
    # the second control: the format this Hum-style instance drew, the rest as the baseline
    return baseline_choice(task_ir, policy, hum.formats) if policy.diversity == "formats" else hum


def _hum_choice(facts: _Facts, record: dict, policy: Policy, draw: Draw, n_examples: int,
                present: list[str] | None) -> Choice:
    task_ir = facts.ir
    instruction = draw.below(facts.phrasings)
    if present is None:
        present = present_labels(task_ir, record)
    batch = label_batch(task_ir, present, policy, draw)

    shown = set(batch) if batch is not None else None
    # a guideline about labels this instruction does not ask for is left out
    guides = [g for g, scope in facts.guidelines if shown is None or not scope or scope & shown]
    guides = draw.sample(guides, draw.between(0, min(policy.max_guidelines, len(guides))))
    guidelines = [(g["id"], draw.below(len(g["texts"]))) for g in guides]

    rules = draw.sample(facts.rules, draw.between(0, min(policy.max_rules, len(facts.rules))))
    rule_choice = [(r["id"], draw.below(len(r["texts"]))) for r in rules]

    # only the labels shown need a paraphrase of their description
    descriptions = {code: draw.below(n) for code, n in facts.paraphrased if shown is None or code in shown}
    names = facts.formats
    weights = policy.weights(names)
    first = draw.weighted(names, weights)
    formats = [first] + draw.shuffled([n for n, w in zip(names, weights) if n != first and w > 0])
    shots = draw.sample(range(n_examples), policy.few_shot) if policy.few_shot else []
    return Choice(instruction, batch, guidelines, rule_choice, descriptions, formats, shots)


def baseline_choice(task_ir: TaskIR, policy: Policy, formats: list[str] | None = None) -> Choice:
    """The ablation's control, what one-template converters write: the first phrasing, one
    format (the first JSON one unless the policy names it), every label in declared order, no
    guidelines, rules, paraphrased descriptions or shots. Nothing is drawn. With `formats` (those
    a Hum-style instance drew), the second control: a "formats" corpus and a Hum one declaring
    the same parts write each example in the same format, separating "more formats" from "more
    variety within a format"."""
    facts = _facts(task_ir)
    batch = list(facts.codes) if KINDS[task_ir["kind"]].labelled else None
    return Choice(0, batch, [], [], {}, formats or [policy.baseline_format or baseline_format(task_ir)], [])


def baseline_format(task_ir: TaskIR) -> str:
    """The format a baseline corpus writes by default: the task's first JSON format, else its first."""
    return next((f["name"] for f in task_ir["formats"] if "json" in f["decl"]), task_ir["formats"][0]["name"])
