"""The synthesis settings, declared once: the spec's `synth { }` block and a corpus part check
them (semantic/), `synth.policy.Policy` takes their defaults and checks overrides with them, and
`humc synth`'s options take their help from them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

STYLES = ("alpaca", "chat")
DIVERSITY = ("hum", "baseline", "formats")


@dataclass(frozen=True)
class Setting:
    type: type
    check: Callable[[Any], bool]
    default: Any
    meaning: str  # what it does (help text, diagnostics' notes)
    must: str  # what a value must be, for a message: "--per-example must be at least 1"


SETTINGS = {
    "per_example": Setting(int, lambda v: v >= 1, 4, "instances made from each source example", "at least 1"),
    "label_batch": Setting(int, lambda v: v >= 1, 8, "largest number of labels named in one instruction",
                           "at least 1"),
    "negative_ratio": Setting(float, lambda v: 0 <= v <= 1, 0.3,
                              "share of a label batch given to labels absent from the example", "between 0 and 1"),
    "hard_negative_ratio": Setting(float, lambda v: 0 <= v <= 1, 0.5,
                                   "share of the negatives drawn from 'similar' labels when there are some",
                                   "between 0 and 1"),
    "few_shot": Setting(int, lambda v: v >= 0, 0, "spec examples shown in each instruction", "0 or more"),
    "max_guidelines": Setting(int, lambda v: v >= 0, 3, "largest number of guidelines in one instruction",
                              "0 or more"),
    "max_rules": Setting(int, lambda v: v >= 0, 3, "largest number of preference rules in one instruction",
                         "0 or more"),
    "style": Setting(str, lambda v: v in STYLES, "alpaca", "'alpaca' (instruction/input/output) or 'chat' "
                     "(chat messages)", "'alpaca' or 'chat'"),
    "format_weights": Setting(dict, lambda v: all(w >= 0 for w in v.values()), {},
                              "{ format: weight, ... }: how often each format is drawn (a format left out "
                              "weighs 1, a weight of 0 never draws it)", "weights of 0 or more"),
}


def defaults() -> dict:
    return {k: s.default for k, s in SETTINGS.items()}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")
