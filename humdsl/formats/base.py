"""What every format implementation provides, with the same signatures everywhere.

A format is written one of four ways (jsonic.py, textual.py, inline.py, records.py); each subclasses
FormatImpl, overrides what it does (rendering, parsing, and its grammar as a tree, grammar_tree.py)
and states its capabilities as attributes. Format (the facade in __init__.py) adds the checks every
format shares (render, then parse back) on top."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .dag import LiteralDag
    from .grammar_tree import GrammarTree
    from .items import Schema


class FormatImpl:
    shape: str = "text"  # how the answer is written: "json", "text" or "inline"
    grouped: bool = False  # items keyed by label: max_items bounds each label's list, not the total
    own_language: bool = False  # builds its answers' LiteralDag itself (`language`), not from a skeleton
    # The answer is the input with marks written in: its spans keep the input's order, never
    # overlap and are not counted, and its grammar exists only for an input.
    marks_input: bool = False

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

    def grammar_tree(self, batch: list[str] | None = None, source: str | None = None) -> GrammarTree:
        """The grammar of every answer (grammar_tree.py), grounded for `source`; with no source,
        the grammar for no input in particular, whose span terminals formats/answer_dag.py fills
        in for each input."""
        raise NotImplementedError

    def max_bytes(self, batch: list[str] | None = None, source: str | None = None) -> int:
        """No answer the grammar accepts is longer than this, in UTF-8 bytes."""
        from .grammar_tree import max_bytes

        return max_bytes(self.grammar_tree(batch, source))

    def language(self, batch: list[str] | None = None, source: str | None = None) -> LiteralDag | None:
        """With `own_language`: the answers for this input as a LiteralDag."""
        return None

    def json_schema(self, batch: list[str] | None = None) -> dict | None:
        """The JSON Schema of a JSON-shaped format's answers, or None."""
        return None

    def empty_answer(self) -> str | None:
        """The text the format writes for an empty answer, where it declares one (prompts show it)."""
        return None
