"""A free reasoning line before the answer (`humc run --reason N`): the format's grammar behind a
line of at most N characters and an 'Answer: ' mark, as Lark for llguidance, and as a free-text
rule for the format's language (formats/free_text.py), so that it too decodes without a grammar."""
from __future__ import annotations

import json

from .spans import LENGTH_PREFIX, FreeRule

REASON_MARK = "\nAnswer: "
REASONING = LENGTH_PREFIX + "REASONING"  # a length terminal: see formats.spans.without_length_bounds


def with_reasoning(grammar: str, chars: int) -> str:
    """The answer grammar behind a bounded one-line reasoning segment and an 'Answer: ' mark.
    The reasoning cannot hold a line break, so the mark always ends it."""
    lines = grammar.split("\n")
    if not lines[0].startswith("start: "):
        raise ValueError("a humdsl grammar starts with its start rule")
    answer = lines[0][len("start: "):]
    lines[0] = f"start: {REASONING} {json.dumps(REASON_MARK)} answer_start"
    lines.insert(1, f"answer_start: {answer}")
    lines.insert(2, f"{REASONING}: /[^\\n]{{0,{chars}}}/")
    return "\n".join(lines)


def reasoning_rule(chars: int) -> FreeRule:
    """What the reasoning terminal accepts: any characters but a line break, at most `chars`."""
    return FreeRule(False, chars, shaped=False)
