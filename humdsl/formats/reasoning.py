"""A free reasoning line before the answer (`humc run --reason N`): the format's grammar behind a
line of at most N characters and a mark that names the answer ('Answer: ', or the task's own
name for it), for llguidance, and as a free-text rule for the format's language
(formats/free_text.py), so that it too decodes without a grammar."""
from __future__ import annotations

from dataclasses import replace

from .grammar_tree import GrammarTree, Length, Lit, Ref, Rule, Seq
from .spans import LENGTH_PREFIX, FreeRule

REASONING = LENGTH_PREFIX + "REASONING"  # a length terminal, so lifted with the others


def reason_mark(answer_name: str = "Answer") -> str:
    """The line that ends the reasoning and starts the answer, by the name the prompt's worked
    examples show the answer by (`answer "Sentiment"`: "Sentiment: ")."""
    return f"\n{answer_name}: "


REASON_MARK = reason_mark()  # a task that names no answer


def with_reasoning(tree: GrammarTree, chars: int, mark: str = REASON_MARK) -> GrammarTree:
    """The answer grammar behind a bounded one-line reasoning segment and `mark`. The reasoning
    cannot hold a line break, so the mark, which starts with one, always ends it."""
    start, *rest = tree.defs
    if not (isinstance(start, Rule) and start.name == "start"):
        raise ValueError("a humdsl grammar starts with its start rule")
    return replace(tree, defs=(Rule("start", Seq((Ref(REASONING), Lit(mark), Ref("answer_start")))),
                               Rule("answer_start", start.body), Length(REASONING, r"[^\n]", 0, chars, 4), *rest),
                   spans={**tree.spans, REASONING: reasoning_rule(chars)})


def reasoning_rule(chars: int) -> FreeRule:
    """What the reasoning terminal accepts: any characters but a line break, at most `chars`."""
    return FreeRule(False, chars, shaped=False)
