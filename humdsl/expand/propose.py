"""What `humc expand` asks a model to paraphrase, and how: the texts of a task it may grow (its
slots), the prompt that carries the task and the text, and the grammar an answer is decoded
under: a number of lines (one, as humc expand asks), each a bounded string."""
from __future__ import annotations

import json
from dataclasses import dataclass
from ..formats.grammar_tree import GrammarTree, Lit, Ref, Rule, Seq, Terminal, lark
from ..ir_types import TaskIR, label_entries

WHAT = ("instructions", "guidelines", "descriptions", "rules")


@dataclass(frozen=True)
class Target:
    slot: str  # "instruction", "guideline NAME", "label CODE", "input NAME", "field NAME", "rule NAME"
    group: str  # one of WHAT
    texts: tuple[str, ...]  # accepted texts, the first shown by prompts
    pending: tuple[str, ...]  # proposals already in the spec, not yet settled
    scope: tuple[str, ...]  # the label codes a guideline or description is about

    @property
    def original(self) -> str:
        return self.texts[0]

    @property
    def noun(self) -> str:
        return {"instruction": "instruction", "guideline": "annotation guideline", "label": "label description",
                "input": "input description", "field": "field description", "rule": "rule"}[self.slot.split(" ")[0]]


def targets(task: TaskIR, what: tuple[str, ...] = WHAT) -> list[Target]:
    """The slots of a task's IR that `what` selects, in a fixed order, each with texts to grow."""
    pending: dict[str, list[str]] = {}
    for p in task.get("proposed") or []:
        pending.setdefault(p["slot"], []).append(p["text"])

    def target(slot: str, group: str, texts, scope=()) -> Target:
        return Target(slot, group, tuple(texts), tuple(pending.get(slot, ())), tuple(scope))

    out: list[Target] = []
    if "instructions" in what and task.get("instructions"):
        out.append(target("instruction", "instructions", task["instructions"]))
    if "guidelines" in what:
        out += [target(f"guideline {g['id']}", "guidelines", g["texts"], g.get("scope") or ())
                for g in task.get("guidelines") or [] if g.get("texts")]
    if "descriptions" in what:
        out += [target(f"label {lab['code']}", "descriptions", lab["descriptions"], (lab["code"],))
                for lab in label_entries(task) if lab.get("descriptions")]
        out += [target(f"input {f['name']}", "descriptions", f["descriptions"])
                for f in task["inputs"] if f.get("descriptions")]
        out += [target(f"field {f['name']}", "descriptions", f["descriptions"])
                for f in task.get("fields", []) if f.get("descriptions")]
    if "rules" in what:  # only the task's own inline rules: a library's rules are not this spec's to edit
        out += [target(f"rule {r['name']}", "rules", r["texts"]) for r in task.get("rules") or []
                if r.get("texts") and r.get("id") == f"{task['name']}.{r['name']}"]
    return out


def label_lines(task: TaskIR) -> str:
    """The labels as one line each: code, and name where it differs (descriptions would make the
    prompt long enough for a small model to lose the text it is asked about)."""
    lines = []
    for lab in label_entries(task):
        name = lab.get("name")
        lines.append(f"{lab['code']}" + (f" ({name})" if name not in (None, lab["code"]) else ""))
    return ", ".join(lines)


# One worked rewrite, from no task of the user's: small models copy the shape of what they are
# shown far better than they follow a description of it.
DEMONSTRATION = ("Text: Mark the full name of a person, not only the first name.\n"
                 "Rewrites:\n"
                 "- Always annotate the whole name of a person rather than just the first name.\n"
                 "- Tag a person's complete name, not only the given name.\n")


DEMONSTRATED = tuple(line[2:] for line in DEMONSTRATION.splitlines() if line.startswith("- "))


def prompt(task: TaskIR, target: Target) -> str:
    """The task, its labels and the text, and what to write: a rewording, on a line of its own."""
    parts = ["Rewrite a text from an annotation guide in other words. Keep its meaning exactly: the same "
             "labels, the same conditions. Write each rewrite on one line starting with '- '.",
             DEMONSTRATION,
             f"Task: {task.get('about') or task['name']}"]
    labels = label_lines(task)
    if labels:
        parts[-1] += f"\nLabels: {labels}"
    if target.scope and target.slot.startswith("guideline"):
        parts[-1] += f"\nThis {target.noun} is about: {', '.join(target.scope)}"
    parts.append(f"Text: {' '.join(target.original.split())}\nRewrites:")  # one line, as the rewrites
    return "\n\n".join(parts) + "\n"


def bounds(original: str) -> tuple[int, int]:
    """Characters a proposal may have: half the original's to half as much again and a little (a
    model that loops is cut off early; the length filter's bounds are wider)."""
    return max(8, len(original) // 2), max(40, len(original) * 3 // 2 + 20)


def grammar(target: Target, n: int) -> str:
    """Exactly n lines, each '- ' and a text of bounded length with no line break (llguidance's
    Lark): a model cannot run on, or leave a proposal empty."""
    return lark(grammar_tree(target, n))


def grammar_tree(target: Target, n: int) -> GrammarTree:
    """That grammar as a tree (formats/grammar_tree.py), which every engine's dialect is written from."""
    low, high = bounds(target.original)
    line = (Lit("- "), Ref("TEXT"), Lit("\n"))
    text = Terminal("TEXT", (f"/[^\\x00-\\x20\\-][^\\x00-\\x1f]{{{low - 1},{high - 1}}}/",), 4 * high)
    return GrammarTree((Rule("start", Seq(line * n)), text))


def split(answer: str) -> list[str]:
    """The proposals of an answer its grammar accepted."""
    out = []
    for line in answer.split("\n"):
        if line.startswith("- "):
            text = line[2:].strip()
            if text:
                out.append(text)
    return out


def budget(target: Target, n: int) -> int:
    """Tokens enough for n lines of the longest length allowed: a character is at most 4 bytes of
    UTF-8, and a token holds at least one (the grammar ends the answer long before, as a rule)."""
    return n * (4 * bounds(target.original)[1] + 4)


def describe(target: Target) -> str:
    return json.dumps(target.original, ensure_ascii=False)
