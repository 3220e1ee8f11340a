"""Canonical records <-> lists of items, and what each hole of an item means for a task kind.

A format writes a list of items: entities, relations, events, triples; one answer for qa; the
chosen labels for classify. Holes name item fields ('text'), labels ('type'), label names
('type.name') or nested lists ('arguments').
"""
from __future__ import annotations

from dataclasses import dataclass

# Which holes hold labels, and which label set they draw from.
LABEL_HOLES = {
    "entities": {"type": "labels"},
    "relations": {"type": "labels", "head_type": "types", "tail_type": "types"},
    "events": {"type": "labels"},
    "classify": {"label": "labels"},
}
NESTED_LABEL_HOLES = {"events": {"role": "roles"}}
NESTED_FIELD = {"events": "arguments", "triples": "args"}


@dataclass(frozen=True)
class LabelInfo:
    code: str
    name: str


class Schema:
    """What a task's IR says about its items: labels, names, bounds, grounding."""

    def __init__(self, ir: dict):
        self.ir = ir
        self.kind: str = ir["kind"]
        self.labels = [LabelInfo(x["code"], x["name"]) for x in ir.get("labels", [])]
        self.types = [LabelInfo(x["code"], x["name"]) for x in ir.get("types", [])]
        self.roles = [LabelInfo(x["code"], x["name"]) for x in ir.get("roles", [])]
        self.event_roles = {x["code"]: (x.get("roles") or [r.code for r in self.roles])
                            for x in ir.get("labels", [])} if self.kind == "events" else {}
        self.signatures = {x["code"]: (x.get("head"), x.get("tail")) for x in ir.get("labels", [])}
        self.multilabel = bool(ir.get("multilabel"))
        effects = {r["effect"]["name"]: r["effect"].get("args", {}) for r in ir.get("rules", [])
                   if r.get("effect")}
        self.grounded = "grounded" in effects
        self.dedupe = "dedupe" in effects
        self.ordered = "ordered" in effects
        self.effects = frozenset(effects)
        self.max_items_rule = effects.get("max_items", {}).get("n")
        self.max_words_rule = effects.get("max_words", {}).get("n")

    # ---- bounds that make every grammar finite --------------------------------------------------
    def max_items(self, batch: list[str]) -> int:
        if self.kind == "qa":
            return 1
        if self.kind == "classify":  # a multilabel answer names each label at most once
            if not self.multilabel:
                return 1
            return min(len(batch), self.max_items_rule) if self.max_items_rule else len(batch)
        return self.max_items_rule or 20

    def min_items(self) -> int:
        return 1 if self.kind == "classify" and not self.multilabel else 0

    def max_nested(self) -> int:
        return 16

    @property
    def max_words(self) -> int:
        return self.max_words_rule or 12

    # ---- labels --------------------------------------------------------------------------------
    def label_pool(self, pool: str) -> list[LabelInfo]:
        return {"labels": self.labels, "types": self.types, "roles": self.roles}[pool]

    def name_of(self, pool: str, code: str) -> str:
        for lab in self.label_pool(pool):
            if lab.code == code:
                return lab.name
        return code

    # ---- what a hole means: shared by every kind of format ------------------------------------
    def hole_kind(self, hole: str, nested: bool) -> tuple[str, str | None]:
        """('label', pool) | ('span', None) | ('free', None) | ('nested', None)."""
        base = hole.partition(".")[0]
        if self.kind == "classify" and base == "label":
            return "label", "labels"
        table = NESTED_LABEL_HOLES if nested else LABEL_HOLES
        pool = table.get(self.kind, {}).get(base)
        if pool:
            return "label", pool
        if not nested and base == NESTED_FIELD.get(self.kind):
            return "nested", None
        if self.kind == "triples" and base == "predicate":
            return "free", None  # open IE predicates may add words: never grounded
        return "span", None

    def labels_for(self, pool: str, batch: list[str], event_type: str | None) -> list[str]:
        """The label codes a hole may take: the batch, or an event type's roles, or a pool."""
        if pool == "labels":
            return batch
        if pool == "roles" and event_type is not None:
            return self.event_roles.get(event_type, [r.code for r in self.roles])
        return [lab.code for lab in self.label_pool(pool)]

    def display(self, pool: str, code: str, hole: str) -> str:
        return self.name_of(pool, code) if hole.endswith(".name") else code

    def grounds(self, hole_kind: str) -> bool:
        return hole_kind == "span" and self.grounded

    def batch_or_all(self, batch: list[str] | None) -> list[str]:
        return list(batch) if batch else [lab.code for lab in self.labels]

    # ---- records <-> items ----------------------------------------------------------------------
    def to_items(self, record: dict) -> list[dict]:
        k = self.kind
        if k in ("entities", "relations", "events", "triples"):
            return list(record.get(k, []))
        if k == "qa":
            return [] if record.get("answer") is None else [{"answer": record["answer"]}]
        if k == "classify":
            if self.multilabel:
                return [{"label": x} for x in record.get("labels", [])]
            return [{"label": record["label"]}] if record.get("label") is not None else []
        raise ValueError(f"records of kind {k} have no item list")

    def from_items(self, items: list[dict]) -> dict:
        k = self.kind
        if k == "relations" and self.types:
            items = [self._typed(it) for it in items]
        if k in ("entities", "relations", "events", "triples"):
            return {k: items}
        if k == "qa":
            return {"answer": items[0]["answer"] if items else None}
        if k == "classify":
            if self.multilabel:
                return {"labels": [i["label"] for i in items]}
            return {"label": items[0]["label"] if items else None}
        raise ValueError(k)

    def _typed(self, item: dict) -> dict:
        """Relation argument types: as written, else from the relation's signature."""
        head, tail = self.signatures.get(item.get("type"), (None, None))
        item = dict(item)
        if item.get("head_type") is None:
            item["head_type"] = head
        if item.get("tail_type") is None:
            item["tail_type"] = tail
        return item

    def normalise(self, record: dict, batch: list[str] | None = None) -> dict:
        """The record a format round-trips to: restricted to the label batch, deduplicated when
        the task prefers dedupe, and with relation types filled in from signatures."""
        if self.kind == "record":
            return record
        allowed = set(self.batch_or_all(batch))
        items = []
        for item in self.to_items(record):
            if self.kind in ("entities", "relations", "events") and item.get("type") not in allowed:
                continue
            if self.kind == "classify" and item["label"] not in allowed:
                continue
            item = dict(item)
            if self.kind == "relations" and self.types:
                item = self._typed(item)
            if self.kind == "events":
                item["arguments"] = [dict(a) for a in item.get("arguments", [])]
            if self.kind == "triples" and not item.get("args"):
                item.pop("args", None)
            if (self.dedupe or self.kind == "classify") and item in items:
                continue  # a classifier's labels are a set
            items.append(item)
        return self.from_items(items)
