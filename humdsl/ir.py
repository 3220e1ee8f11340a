"""The IR: one normalised, JSON-serialisable, content-hashed document per task.

Only meaning goes in, never layout: reformatting a spec leaves every hash unchanged.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, cast

from .ir_types import IR_VERSION, CorpusIR, CorpusPartIR, LabelIR, ProposalIR, TaskIR
from .kinds import KINDS
from .semantic.context import Label, TaskModel


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content_hash(value) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


# Where each kind of slot ("guideline NAME", "label CODE", ...: proposals.py) keeps its texts in a
# task's IR: the lists searched, the key naming an entry, and the entry's member holding the texts.
_SLOTS = {"guideline": (("guidelines",), "id", "texts"), "rule": (("rules",), "name", "texts"),
          "input": (("inputs",), "name", "descriptions"),
          "label": (("labels", "types", "roles"), "code", "descriptions")}


def slot_place(task: TaskIR | dict[str, Any], slot: str) -> tuple[dict, str] | None:
    """The IR entry holding a slot's texts and the member they are in (("instructions" of the
    task, a guideline's "texts", a nested field "field a.b"'s "descriptions", ...), or None.
    Slots name their place, so the IR is read here as the plain JSON object it is."""
    doc = cast(dict[str, Any], task)
    kind, _, name = slot.partition(" ")
    if kind == "instruction":
        return (doc, "instructions") if "instructions" in doc else None
    if kind == "field":
        return _field_place(doc.get("fields") or [], name)
    if kind not in _SLOTS:
        return None
    lists, ident, member = _SLOTS[kind]
    for key in lists:
        for entry in doc.get(key) or []:
            if entry.get(ident) == name:
                return entry, member
    return None


def _field_place(fields: list[dict], dotted: str) -> tuple[dict, str] | None:
    head, _, rest = dotted.partition(".")
    for f in fields:
        if f["name"] != head:
            continue
        if not rest:
            return f, "descriptions"
        inner = f.get("type") or {}
        while inner.get("type") in ("list", "optional"):
            inner = inner.get("items") or inner.get("inner") or {}
        return _field_place(inner.get("fields") or [], rest) if inner.get("type") == "record" else None
    return None


def task_hash(ir: TaskIR) -> str:
    """What a task's answers, prompts and corpora depend on: its IR without the proposals waiting
    for review (`proposed`), which nothing uses until they are accepted. Runs, corpora, locks and
    provenance checks name a task by this hash, so `humc expand` does not make them stale."""
    return content_hash({k: v for k, v in ir.items() if k != "proposed"})


def _label(lab: Label) -> LabelIR:
    out: LabelIR = {"code": lab.code, "name": lab.name or lab.code, "descriptions": lab.descriptions}
    if lab.head is not None or lab.tail is not None:
        out["head"], out["tail"] = lab.head, lab.tail
    if lab.roles is not None:
        out["roles"] = lab.roles
    if lab.renamed_from:  # only where declared: other specs keep their hashes
        out["renamed_from"] = lab.renamed_from
    return out


def lower_task(task: TaskModel) -> TaskIR:
    ir: TaskIR = {
        "ir_version": IR_VERSION,
        "name": task.name,
        "kind": task.kind or "",
        "version": task.version or "0.0.0",
        "about": task.about or "",
        "inputs": task.inputs,
        "labels": [_label(lab) for lab in task.labels],
        "guidelines": task.guidelines,
        "rules": task.rules,
        "instructions": task.instructions,
        "formats": task.formats,
        "examples": task.examples,
        "tests": task.tests,
        "synth": task.synth,
    }
    kind = KINDS.get(task.kind or "")
    if kind and "types" in kind.label_members:  # relations
        ir["types"] = [_label(t) for t in task.types]
    if kind and "roles" in kind.label_members:  # events
        ir["roles"] = [_label(r) for r in task.roles]
    if kind and "multilabel" in kind.settings:  # classify
        ir["multilabel"] = bool(task.settings.get("multilabel", False))
    if kind and "fields" in kind.required:  # record
        ir["fields"] = task.fields
    if task.similar:
        ir["similar"] = task.similar
    if task.answer_name:  # only where declared: a spec without one keeps its hashes
        ir["answer"] = task.answer_name
    if task.run_profile:  # only where declared: a spec without one keeps its hashes
        ir["run"] = task.run_profile
    if task.approvals:  # likewise
        ir["approvals"] = task.approvals
    if task.proposed:  # likewise; listed whether or not they were used, to show what is unreviewed
        ir["proposed"] = _proposed(task)
    return ir


def _proposed(task: TaskModel) -> list[ProposalIR]:
    """The task's proposals in source order: its own file first, then shared declarations'."""
    own = task.decl.span.path

    def where(entry):
        span = entry[0]
        return span.path != own, span.path, span.start

    return [{"slot": slot, "text": text} for _, slot, text in sorted(task.proposed, key=where)]


def lower_corpus(corpus) -> CorpusIR:
    """A corpus declaration: its settings, and per part the task's IR, where its data is (a path
    relative to the spec, as written), and the synthesis overrides."""
    from pathlib import Path

    return {
        "name": corpus.name,
        "about": corpus.about or "",
        "spec_dir": str(Path(corpus.symbol.module.key).parent),
        "settings": dict(corpus.settings),
        "parts": [cast(CorpusPartIR, {"task": lower_task(p.task), **p.settings, "policy": dict(p.policy)})
                  for p in corpus.parts],
    }
