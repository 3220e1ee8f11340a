"""The built-in task kinds: which members each takes and the holes its formats may use."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    required: frozenset[str]  # members that must be present
    allowed: frozenset[str]  # members beyond the common ones
    list_key: str | None  # key of the item list in the canonical record
    span_fields: tuple[str, ...]  # item fields that hold spans of the input
    holes: frozenset[str]  # holes a format's item template may use
    nested: dict  # list hole -> holes inside it
    settings: frozenset[str] = frozenset()


COMMON_MEMBERS = frozenset({"version", "approve", "about", "guideline", "prefer", "instruction", "formats",
                            "input", "example", "test", "synth", "run"})
LABELLED = frozenset({"labels", "similar"})

KINDS: dict[str, Kind] = {
    k.name: k for k in [
        Kind("entities", frozenset({"labels"}), LABELLED, "entities", ("text",),
             frozenset({"type", "type.name", "text"}), {}),
        Kind("relations", frozenset({"labels"}), LABELLED | {"types"}, "relations", ("head", "tail"),
             frozenset({"head", "type", "type.name", "tail", "head_type", "head_type.name",
                        "tail_type", "tail_type.name"}), {}),
        Kind("events", frozenset({"labels", "roles"}), LABELLED | {"roles"}, "events", ("trigger",),
             frozenset({"type", "type.name", "trigger", "arguments"}),
             {"arguments": frozenset({"role", "role.name", "text"})}),
        # Open IE predicates often add words ("is", "has"), so only the arguments are spans.
        Kind("triples", frozenset(), frozenset(), "triples", ("subject", "object"),
             frozenset({"subject", "predicate", "object", "args"}), {"args": frozenset({"text"})}),
        Kind("qa", frozenset(), frozenset(), None, ("answer",), frozenset({"answer"}), {}),
        # In a JSON template a list of labels, [label], is how a multilabel answer is written.
        Kind("classify", frozenset({"labels"}), LABELLED, None, (), frozenset({"label", "label.name"}),
             {"labels": frozenset({"label", "label.name"})}, frozenset({"multilabel"})),
        Kind("record", frozenset({"fields"}), frozenset({"fields"}), None, (),
             frozenset({"field", "field.name", "value"}), {}),
    ]
}

MEMBER_KEYWORDS = sorted(COMMON_MEMBERS | {"labels", "types", "roles", "similar", "fields"})

# The closed set of rule effects the compiler knows, how each is enforced, and where it applies.
LIST_KINDS = frozenset({"entities", "relations", "events", "triples"})
SPAN_KINDS = frozenset({"entities", "relations", "events", "triples", "qa"})


@dataclass(frozen=True)
class EffectSpec:
    name: str
    params: tuple[str, ...]  # each param is a positive integer
    kinds: frozenset[str]
    enforced_by: str  # "grammar" | "parser" | "synthesis" (checked on gold, advised at run time)
    summary: str


EFFECTS: dict[str, EffectSpec] = {
    e.name: e for e in [
        EffectSpec("grounded", (), SPAN_KINDS, "grammar",
                   "every span is a verbatim substring of the input"),
        EffectSpec("max_items", ("n",), LIST_KINDS | {"classify"}, "grammar",
                   "at most n items in an answer"),
        EffectSpec("max_words", ("n",), SPAN_KINDS, "grammar", "every span has at most n words"),
        EffectSpec("dedupe", (), LIST_KINDS | {"classify"}, "parser",
                   "an item is never listed twice"),
        EffectSpec("ordered", (), LIST_KINDS, "synthesis",
                   "items are listed in order of first appearance in the input"),
        EffectSpec("no_overlap", (), LIST_KINDS, "synthesis",
                   "no two spans of an answer share a word of the input (entity tasks; advice elsewhere)"),
    ]
}
