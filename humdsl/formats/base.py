"""What every format implementation provides, with the same signatures everywhere.

A format is written one of four ways (json.py, textual.py, inline.py, records.py); each subclasses
FormatImpl, overrides what it does and states its capabilities as attributes. Format (the facade
in __init__.py) adds the checks every format shares (render, then parse back) on top."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .dag import LiteralDag
    from .items import Schema
    from .spans import FreeRule, SpanRule


class FormatImpl:
    shape: str = "text"  # how the answer is written: "json", "text" or "inline"
    grouped: bool = False  # items keyed by label: max_items bounds each label's list, not the total
    own_language: bool = False  # builds its answers' LiteralDag itself (`language`), not from a skeleton

    def __init__(self, schema: Schema, decl: dict):
        self.schema = schema

    def check_fit(self, batch: list[str] | None = None) -> None:
        """Raise FormatUnfit where the format cannot serve the task (ambiguous labels or literals)."""

    def normalise(self, record: dict, batch: list[str] | None = None, source: str | None = None) -> dict:
        """The record as this format gives it back from `parse`."""
        return self.schema.normalise(record, batch)

    def render(self, record: dict, batch: list[str] | None = None, source: str | None = None) -> str:
        raise NotImplementedError

    def parse(self, text: str, batch: list[str] | None = None, source: str | None = None) -> dict:
        raise NotImplementedError

    def grammar(self, batch: list[str] | None = None, source: str | None = None) -> str:
        """The Lark grammar (llguidance's dialect) of every answer; grounded for `source`."""
        raise NotImplementedError

    def max_bytes(self, batch: list[str] | None = None, source: str | None = None) -> int:
        """No answer the grammar accepts is longer than this, in UTF-8 bytes."""
        raise NotImplementedError

    def skeleton(self, batch: list[str] | None = None) -> tuple[str, dict[str, SpanRule | FreeRule]] | None:
        """The grammar with its spans and free texts as named rules (lark_nfa.py reads it), or None."""
        return None

    def language(self, batch: list[str] | None = None, source: str | None = None) -> LiteralDag | None:
        """With `own_language`: the answers for this input as a LiteralDag."""
        return None

    def json_schema(self, batch: list[str] | None = None) -> dict | None:
        """The JSON Schema of a JSON-shaped format's answers, or None."""
        return None

    def empty_answer(self) -> str | None:
        """The text the format writes for an empty answer, where it declares one (prompts show it)."""
        return None
