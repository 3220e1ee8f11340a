"""Format variants: one declaration, from which render, parse and grammar are derived.

    fmt = build(task_ir, format_ir)
    text = fmt.render(record, batch=["PER", "LOC"], source=input_text)
    record = fmt.parse(text, batch=["PER", "LOC"], source=input_text)
    lark = fmt.grammar(batch=["PER", "LOC"], source=input_text)   # for llguidance
    tree = fmt.grammar_tree(batch=["PER", "LOC"], source=input_text)   # what `lark` is printed from
    tokens = fmt.budget(batch, source)   # a token budget no accepted output can exceed
"""
from __future__ import annotations

from .base import FormatImpl
from .errors import FormatParseError, FormatUnfit, InputTooLarge, Unrenderable
from .items import Schema
from ..ir_types import FormatIR, TaskIR

__all__ = ["Format", "build", "FormatParseError", "FormatUnfit", "InputTooLarge", "Unrenderable"]


def implementation(schema: Schema, decl: dict) -> FormatImpl:
    """The implementation a format's declaration asks for."""
    if schema.kind == "record":
        from .records import RecordFormat
        return RecordFormat(schema, decl)
    if "json" in decl:
        from .jsonic import JsonFormat
        return JsonFormat(schema, decl)
    if "inline" in decl:
        from .inline import InlineFormat
        return InlineFormat(schema, decl)
    from .textual import TextFormat
    return TextFormat(schema, decl)


class Format:
    def __init__(self, task_ir: TaskIR, format_ir: FormatIR):
        self.task_ir = task_ir
        self.ir = format_ir
        self.name: str = format_ir["name"]
        self.id: str = format_ir["id"]
        self.schema = Schema(task_ir)
        self.impl = implementation(self.schema, format_ir["decl"])
        self.describe: list[str] = format_ir["decl"].get("describe", [])
        self._skeletons: dict[tuple, object] = {}

    @property
    def shape(self) -> str:
        """How the answer is written: "json", "text" or "inline"."""
        return self.impl.shape

    @property
    def grouped(self) -> bool:
        """Items keyed by label: max_items bounds each label's list."""
        return self.impl.grouped

    @property
    def own_language(self) -> bool:
        """Its answers for an input come as a LiteralDag of its own (`language`), not from its grammar."""
        return self.impl.own_language

    @property
    def marks_input(self) -> bool:
        """The answer is the input with marks written in: spans in the input's order, never
        overlapping, not counted; its grammar exists only for an input."""
        return self.impl.marks_input

    def check_fit(self, batch: list[str] | None = None) -> None:
        """Raise FormatUnfit if this format cannot serve the task (ambiguous labels or literals)."""
        self.impl.check_fit(batch)

    def empty_answer(self) -> str | None:
        """The text of an empty answer, where the format declares one."""
        return self.impl.empty_answer()

    def render(self, record: dict, batch: list[str] | None = None, source: str | None = None) -> str:
        """The answer text for a record; raises Unrenderable for a record the format cannot write
        so that it parses back to the same record (checked, not assumed)."""
        return self.render_checked(record, batch, source)[0]

    def render_checked(self, record: dict, batch: list[str] | None = None,
                       source: str | None = None) -> tuple[str, dict]:
        """The answer text and what `parse` reads back from it (equal to the normalised record)."""
        text = self.impl.render(record, batch, source)
        try:
            back = self.impl.parse(text, batch, source)
        except FormatParseError as e:
            raise Unrenderable(f"the rendered text would not parse back: {e.message}") from None
        if back != self.normalise(record, batch, source):
            raise Unrenderable("the rendered text would parse back to another record")
        return text, back

    def normalise(self, record: dict, batch: list[str] | None = None, source: str | None = None) -> dict:
        """The record as this format gives it back: in the batch, deduplicated where the task
        says so, and for formats keyed by label, grouped by label."""
        return self.impl.normalise(record, batch, source)

    def parse(self, text: str, batch: list[str] | None = None, source: str | None = None) -> dict:
        return self.impl.parse(text, batch, source)

    def grammar(self, batch: list[str] | None = None, source: str | None = None) -> str:
        """The Lark text (llguidance's dialect) of every answer; grounded for `source`."""
        from .grammar_tree import lark

        return lark(self.grammar_tree(batch, source))

    def grammar_tree(self, batch: list[str] | None = None, source: str | None = None):
        """The grammar as a tree (formats/grammar_tree.py), from which its text, its byte bound,
        its skeleton and the grammars the decoder derives from it are read."""
        return self.impl.grammar_tree(batch, source)

    def language(self, batch: list[str] | None = None, source: str | None = None, reason: int = 0,
                 keep_rules: bool | str = False, mark: str | None = None):
        """The answers for this input as a LiteralDag (formats/dag.py) that the jump-forward
        decoder runs without llguidance, or None where the format has none. The inline format
        builds its own; a format that grounds spans has its grammar's skeleton with the input's
        spans written in (formats/answer_dag.py), where the skeleton is readable. `reason`: behind
        a reasoning line of at most that many characters and `mark` (formats/reasoning.py; not
        inline).
        `keep_rules`: only the answers that also keep the task's span rules (`span_rules`; True
        or "decoder": all of them, "unordered": all but appearance)."""
        if self.impl.own_language:
            return self.impl.language(batch, source) if not reason else None
        if source is None or not self.schema.grounded:
            return None
        skeleton = self.skeleton(batch, reason, mark)
        if skeleton is None:
            return None
        from .answer_dag import answers

        mode = "decoder" if keep_rules is True else keep_rules or "parser"
        return answers(skeleton, source, self.span_rules(mode) if not reason else None)

    def span_rules(self, mode: str = "decoder"):
        """The rules across spans (dedupe, appearance, no_overlap) the decoder keeps for this
        format (formats/span_rules.py), or None: an entity task's formats whose every span is
        an item of a list (not the inline format, whose marks keep order and never overlap by
        construction). `mode` (profile.SPAN_RULE_MODES): "decoder" every one the task declares,
        "unordered" all but appearance, "parser" none."""
        from dataclasses import replace

        from .span_rules import SPAN_RULES, SpanRules

        rules = SpanRules.of(self.schema.effects & set(SPAN_RULES))
        if mode == "unordered":
            rules = replace(rules, ordered=False)
        if mode == "parser" or not rules or not self.schema.task_kind.span_rules or self.impl.own_language:
            return None
        skeleton = self.skeleton()
        if skeleton is None or any(v not in skeleton.groups or skeleton.groups[v] < 0
                                   for edges in skeleton.spans for _, v in edges):
            return None
        return rules

    def span_rule_problem(self, record: dict, source: str, mode: str = "decoder") -> str | None:
        """Why an entity record breaks the rules across spans that `span_rules(mode)` keeps
        (formats/span_rules.py), or None (also where the format keeps none): each label's list
        on its own in a format keyed by label, else the one list, in the record's order."""
        from .span_rules import problem

        rules = self.span_rules(mode)
        if rules is None:
            return None
        items = record.get("entities", [])
        if self.grouped:
            lists = [[it["text"] for it in items if it["type"] == label]
                     for label in dict.fromkeys(it["type"] for it in items)]
        else:
            lists = [[it["text"] for it in items]]
        return problem(lists, source, rules)

    def skeleton(self, batch: list[str] | None = None, reason: int = 0, mark: str | None = None):
        """The grammar's skeleton for this label batch (formats/lark_nfa.py), read once, or None
        where the format has no grounded span or its grammar holds what a skeleton cannot."""
        from .reasoning import REASON_MARK, with_reasoning

        mark = mark or REASON_MARK  # one entry whether the default mark is named or left out
        key = (tuple(self.schema.batch_or_all(batch)), reason, mark)
        if key not in self._skeletons:
            from .lark_nfa import Unreadable, read_skeleton

            found = None
            if not self.impl.own_language:
                tree = self.impl.grammar_tree(batch, None)
                if reason:
                    tree = with_reasoning(tree, reason, mark)
                try:
                    found = read_skeleton(tree) if tree.spans else None
                except Unreadable:
                    found = None
            self._skeletons[key] = found
        return self._skeletons[key]

    def loose_grammar(self, batch: list[str] | None = None) -> str:
        """A grammar that holds for every input: the grammar without its per-input parts (the
        substring terminal of grounded spans). What the per-input grammar adds is what `parse`
        with the input checks. Inline formats have none (FormatUnfit): their answers are checked
        on the input's `language`."""
        return self.grammar(batch, None)

    def json_schema(self, batch: list[str] | None = None) -> dict | None:
        """The JSON Schema of a JSON-shaped format's answers; None for the others."""
        return self.impl.json_schema(batch)

    def max_bytes(self, batch: list[str] | None = None, source: str | None = None) -> int:
        return self.impl.max_bytes(batch, source)

    def budget(self, batch: list[str] | None = None, source: str | None = None) -> int:
        """Every token holds at least one byte: the byte bound plus one (EOS) is a token budget
        under which generation always finishes inside the grammar."""
        return self.max_bytes(batch, source) + 1


def build(task_ir: TaskIR, format_ir: FormatIR) -> Format:
    return Format(task_ir, format_ir)
