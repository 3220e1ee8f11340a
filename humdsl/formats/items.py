"""Canonical records <-> lists of items, and what each hole of an item means for a task kind.

A format writes a list of items: entities, relations, events, triples; one answer for qa; the
chosen labels for classify. Holes name item fields ('text'), labels ('type'), label names
('type.name') or nested lists ('arguments').
"""
from __future__ import annotations

from dataclasses import dataclass

from ..kinds import KINDS
from ..ir_types import TaskIR


@dataclass(frozen=True)
class LabelInfo:
    code: str
    name: str


class Schema:
    """What a task's IR says about its items: labels, names, bounds, grounding."""

    def __init__(self, ir: TaskIR):
        self.ir = ir
        self.kind: str = ir["kind"]
        self.task_kind = KINDS[self.kind]  # what the kind's items are and which holes hold labels
        self.labels = [LabelInfo(x["code"], x["name"]) for x in ir.get("labels", [])]
        self.types = ([LabelInfo(x["code"], x["name"]) for x in ir.get("types", [])]
                      if "types" in self.task_kind.label_members else [])  # argument types: relations
        self.roles = [LabelInfo(x["code"], x["name"]) for x in ir.get("roles", [])]
        self.event_roles = {x["code"]: (x.get("roles") or [r.code for r in self.roles])
                            for x in ir.get("labels", [])} if self.kind == "events" else {}
        self.signatures = {x["code"]: (x.get("head"), x.get("tail")) for x in ir.get("labels", [])}
        self.multilabel = bool(ir.get("multilabel"))
        effects = {e["name"]: e["args"] for e in (r["effect"] for r in ir["rules"]) if e}
        self.grounded = "grounded" in effects
        self.dedupe = "dedupe" in effects
        self.ordered = "ordered" in effects
        self.effects = frozenset(effects)
        self.max_items_rule = effects.get("max_items", {}).get("n")
        self.max_words_rule = effects.get("max_words", {}).get("n")

    # ---- bounds that make every grammar finite --------------------------------------------------
    def max_items(self, batch: list[str]) -> int:
        return self.task_kind.max_items(batch, self.multilabel, self.max_items_rule)

    def min_items(self) -> int:
        return self.task_kind.min_items(self.multilabel)

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
        kind = self.task_kind
        pool = (kind.nested_label_holes if nested else kind.label_holes).get(base)
        if pool:
            return "label", pool
        if not nested and base == kind.nested_field:
            return "nested", None
        if base in kind.free_holes:
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
        return self.task_kind.to_items(record, self.multilabel)

    def from_items(self, items: list[dict]) -> dict:
        if self.types:
            items = [self._typed(it) for it in items]
        return self.task_kind.from_items(items, self.multilabel)

    def _typed(self, item: dict) -> dict:
        """Relation argument types: as written, else from the relation's signature."""
        head, tail = self.signatures.get(item.get("type") or "", (None, None))
        item = dict(item)
        if item.get("head_type") is None:
            item["head_type"] = head
        if item.get("tail_type") is None:
            item["tail_type"] = tail
        return item

    def normalise(self, record: dict, batch: list[str] | None = None) -> dict:
        """The record a format round-trips to: restricted to the label batch, deduplicated when
        the task prefers dedupe, and with relation types filled in from signatures."""
        kind = self.task_kind
        if not kind.itemised:
            return record  # a record of fields: its formats check the values themselves
        allowed = set(self.batch_or_all(batch))
        items = []
        for item in self.to_items(record):
            if kind.label_key and item.get(kind.label_key) not in allowed:
                continue
            item = kind.tidy_item(item)
            if self.types:
                item = self._typed(item)
            if (self.dedupe or kind.items_are_a_set) and item in items:
                continue
            items.append(item)
        return self.from_items(items)
