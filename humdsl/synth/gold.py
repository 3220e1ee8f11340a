"""The gold record of a source example, made ready to render: checked against the task's labels,
offsets dropped, and items put in order of appearance where the task prefers it."""
from __future__ import annotations

from ..kinds import KINDS

_ANCHOR = {"entities": "text", "relations": "head", "events": "trigger", "triples": "subject"}


def shape_problem(task_ir: dict, record: dict) -> str | None:
    """Why a gold record does not have the canonical shape of the task's kind, or None."""
    kind = task_ir["kind"]
    if kind in _ANCHOR:
        items = record.get(kind)
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return f"the record needs an {kind!r} list of objects" if kind == "entities" else \
                f"the record needs a {kind!r} list of objects"
        if kind == "events" and not all(isinstance(e.get("arguments", []), list) for e in items):
            return "an event's 'arguments' must be a list"
    elif kind == "qa":
        if "answer" not in record or not (record["answer"] is None or isinstance(record["answer"], str)):
            return "the record needs an 'answer': a string, or null when unanswerable"
    elif kind == "classify":
        labels = record.get("labels") if "labels" in record else record.get("label", ...)
        if labels is ...:
            return "the record needs a 'label' (or 'labels')"
        if task_ir.get("multilabel"):
            if not isinstance(labels, (list, str)):
                return "'labels' must be a list of labels"
        elif isinstance(labels, list) and len(labels) != 1:
            return f"a single-label task's record holds {len(labels)} labels"
    return None


def unknown_labels(task_ir: dict, record: dict) -> list[str]:
    """Labels (and event roles) the record uses that the task does not declare."""
    kind = task_ir["kind"]
    codes = {lab["code"] for lab in task_ir.get("labels", [])}
    used: list[str] = []
    if kind == "classify":
        raw = record["labels"] if "labels" in record else record.get("label")
        used = [u for u in (raw if isinstance(raw, list) else [raw]) if u is not None]
    elif kind in ("entities", "relations", "events"):
        used = [item.get("type") for item in record.get(kind, [])]
    bad = [u for u in used if u not in codes]
    if kind == "events":
        roles = {r["code"] for r in task_ir.get("roles", [])}
        bad += [a.get("role") for e in record.get("events", []) for a in e.get("arguments", [])
                if a.get("role") not in roles]
    return list(dict.fromkeys(map(str, bad)))


def _without_offsets(item):
    if isinstance(item, dict):
        return {k: _without_offsets(v) for k, v in item.items() if k != "start"}
    if isinstance(item, list):
        return [_without_offsets(v) for v in item]
    return item


def prepare(task_ir: dict, record: dict, text: str, ordered: bool) -> dict:
    """The record as a canonical answer: no character offsets, and with `ordered`, list items
    sorted by where they first appear (their offset when the dataset gives one)."""
    kind = task_ir["kind"]
    items = record.get(kind) if kind in _ANCHOR else None
    if ordered and isinstance(items, list):
        anchor = _ANCHOR[kind]

        def position(item: dict) -> int:
            if isinstance(item.get("start"), int):
                return item["start"]
            at = text.find(str(item.get(anchor, "")))
            return at if at >= 0 else len(text)

        record = {**record, kind: sorted(items, key=position)}  # stable: ties keep source order
    if kind in _ANCHOR:
        return {kind: _without_offsets(record.get(kind, []))}
    if kind == "qa":  # datasets may list every annotator's answer; the gold answer is the first
        return {"answer": record.get("answer")}
    if kind == "classify":
        labels = record["labels"] if "labels" in record else record.get("label")
        labels = labels if isinstance(labels, list) else [labels]
        if task_ir.get("multilabel"):
            return {"labels": [x for x in labels if x is not None]}
        return {"label": labels[0] if labels else None}
    return _without_offsets(record)


def spans(kind: str, record: dict) -> list[str]:
    """Every span value of a canonical record (what `grounded` constrains)."""
    if kind == "qa":
        return [record["answer"]] if isinstance(record.get("answer"), str) else []
    out: list[str] = []
    fields = KINDS[kind].span_fields
    for item in record.get(KINDS[kind].list_key or "", []) if KINDS[kind].list_key else []:
        out += [item[f] for f in fields if isinstance(item.get(f), str)]
        out += [a["text"] for a in item.get("arguments", []) if isinstance(a.get("text"), str)]
        out += [a for a in item.get("args", []) if isinstance(a, str)]
    return out
