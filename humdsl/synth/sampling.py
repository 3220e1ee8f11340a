"""What varies from instance to instance: phrasing, label batch and order, guidelines and rules
with their paraphrases, label descriptions, format, few-shot examples (the Hum recipe)."""
from __future__ import annotations

from dataclasses import dataclass

from .draw import Draw
from .policy import Policy

LABELLED = ("entities", "relations", "events", "classify")


@dataclass
class Choice:
    instruction: int
    batch: list[str] | None  # label codes in the order shown; None: the kind has no label batch
    guidelines: list[tuple[str, int]]  # (id, paraphrase index), in the order shown
    rules: list[tuple[str, int]]  # (id, phrasing index), in the order shown
    descriptions: dict[str, int]  # label code -> description paraphrase index
    formats: list[str]  # the sampled format first, then the others to fall back on
    shots: list[int]  # indices of the spec's examples shown


def present_labels(task_ir: dict, record: dict) -> list[str]:
    """The labels a gold record uses, in order of first use."""
    kind = task_ir["kind"]
    if kind == "classify":
        found = record.get("labels") if "labels" in record else [record.get("label")]
    elif kind in LABELLED:
        found = [item.get("type") for item in record.get(kind, [])]
    else:
        return []
    return list(dict.fromkeys(x for x in found if x is not None))


def label_batch(task_ir: dict, present: list[str], policy: Policy, draw: Draw) -> list[str] | None:
    """A bounded batch of labels: some of those the example holds, negatives (absent labels, hard
    ones from `similar` groups first), in a random order. A single-label classifier's batch
    always holds the gold label: without it the question would have no right answer."""
    kind = task_ir["kind"]
    if kind not in LABELLED:
        return None
    codes = [lab["code"] for lab in task_ir.get("labels", [])]
    size = draw.between(1, min(policy.label_batch, len(codes)))
    absent = [c for c in codes if c not in present]
    single = kind == "classify" and not task_ir.get("multilabel")
    if single:
        size = max(size, min(2, len(codes)))  # a choice between at least two labels
        positives = present[:1]
    else:
        n_neg = min(len(absent), round(size * policy.negative_ratio))
        positives = draw.sample(present, size - n_neg)
    n_neg = min(len(absent), size - len(positives))
    similar = {c for group in task_ir.get("similar", []) if set(group) & set(positives) for c in group}
    hard = [c for c in absent if c in similar]
    n_hard = min(len(hard), round(n_neg * policy.hard_negative_ratio))
    negatives = draw.sample(hard, n_hard)
    negatives += draw.sample([c for c in absent if c not in negatives], n_neg - len(negatives))
    return draw.shuffled(positives + negatives)


def _eligible_guidelines(task_ir: dict, batch: list[str] | None) -> list[dict]:
    codes = {lab["code"] for lab in task_ir.get("labels", [])}
    out = []
    for g in task_ir.get("guidelines", []):
        label_scope = [s for s in g.get("scope") or [] if s in codes]
        if batch is not None and label_scope and not set(label_scope) & set(batch):
            continue  # about labels this instruction does not ask for
        if g.get("texts"):
            out.append(g)
    return out


def choose(task_ir: dict, record: dict, policy: Policy, draw: Draw, n_examples: int) -> Choice:
    phrasings = task_ir.get("instructions") or [""]
    instruction = draw.below(len(phrasings))
    batch = label_batch(task_ir, present_labels(task_ir, record), policy, draw)

    guides = _eligible_guidelines(task_ir, batch)
    guides = draw.sample(guides, draw.between(0, min(policy.max_guidelines, len(guides))))
    guidelines = [(g["id"], draw.below(len(g["texts"]))) for g in guides]

    rules = [r for r in task_ir.get("rules", []) if r.get("texts")]
    rules = draw.sample(rules, draw.between(0, min(policy.max_rules, len(rules))))
    rule_choice = [(r["id"], draw.below(len(r["texts"]))) for r in rules]

    shown = set(batch) if batch is not None else None  # only the labels shown need a paraphrase
    descriptions = {lab["code"]: draw.below(len(lab["descriptions"]))
                    for lab in task_ir.get("labels", [])
                    if len(lab.get("descriptions") or []) > 1 and (shown is None or lab["code"] in shown)}
    names = [f["name"] for f in task_ir["formats"]]
    weights = policy.weights(names)
    first = draw.weighted(names, weights)
    formats = [first] + draw.shuffled([n for n, w in zip(names, weights) if n != first and w > 0])
    shots = draw.sample(range(n_examples), policy.few_shot) if policy.few_shot else []
    return Choice(instruction, batch, guidelines, rule_choice, descriptions, formats, shots)
