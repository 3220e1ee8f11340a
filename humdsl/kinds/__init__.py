"""The built-in task kinds, one module each, and the rule effects a task may declare.

`KINDS` maps a kind's name to its `Kind` (base.py): what a task of the kind declares, the shape
of its canonical record, and what reading, checking, rendering and scoring such a record means.
To add a kind, write its module here and list it below; docs/contributing.md walks through the
rest (its formats, its dataset reader)."""
from __future__ import annotations

from dataclasses import dataclass

from . import classify, entities, events, qa, record, relations, triples
from ..ir_types import Enforcement
from .base import Kind, ListKind

KINDS: dict[str, Kind] = {k.name: k for k in [entities.KIND, relations.KIND, events.KIND, triples.KIND,
                                               qa.KIND, classify.KIND, record.KIND]}

COMMON_MEMBERS = frozenset({"version", "approve", "about", "guideline", "prefer", "instruction", "formats",
                            "input", "answer", "example", "test", "synth", "run"})
MEMBER_KEYWORDS = sorted(COMMON_MEMBERS.union(*(k.allowed for k in KINDS.values())))


@dataclass(frozen=True)
class EffectSpec:
    name: str
    params: tuple[str, ...]  # each param is a positive integer
    enforced_by: Enforcement  # never "advisory": a rule with an effect is kept somehow
    summary: str

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds whose tasks may declare the effect (each kind lists its effects)."""
        return frozenset(name for name, k in KINDS.items() if self.name in k.effects)


# The closed set of rule effects the compiler knows and how each is enforced.
EFFECTS: dict[str, EffectSpec] = {
    e.name: e for e in [
        EffectSpec("grounded", (), "grammar", "every span is a verbatim substring of the input"),
        EffectSpec("max_items", ("n",), "grammar", "at most n items in an answer"),
        EffectSpec("max_words", ("n",), "grammar", "every span has at most n words"),
        EffectSpec("dedupe", (), "parser", "an item is never listed twice"),
        EffectSpec("ordered", (), "synthesis", "items are listed in order of first appearance in the input"),
        EffectSpec("no_overlap", (), "synthesis",
                   "no two spans of an answer share a word of the input (entity tasks; advice elsewhere)"),
    ]
}

__all__ = ["COMMON_MEMBERS", "EFFECTS", "KINDS", "MEMBER_KEYWORDS", "EffectSpec", "Kind", "ListKind"]
