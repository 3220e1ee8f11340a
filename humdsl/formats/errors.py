"""Errors of the derived functions: a record a format cannot express, text that does not parse."""
from __future__ import annotations


class Unrenderable(Exception):
    """render() was given a record this format cannot write so that it parses back the same."""


class FormatParseError(Exception):
    """parse() was given text that is not in the format; `offset` is where it went wrong."""

    def __init__(self, message: str, offset: int = 0):
        super().__init__(f"{message} (at character {offset})")
        self.message = message
        self.offset = offset


class FormatUnfit(Exception):
    """A format cannot serve a task: a label or literal makes its output ambiguous."""


class InputTooLarge(Exception):
    """grammar() was given an input whose per-input grammar is beyond what the backend can hold
    (the inline format's chain at a few thousand words): that input is refused, not the task."""
