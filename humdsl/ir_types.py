"""The IR's contract: the shape of a task's `ir.json` (and of a corpus declaration's), as types.

The IR is a published JSON document whose canonical text is what its hashes are taken of, what
`humc compile` writes, and what travels to synthesis workers; these TypedDicts type that very
document, so there is no second representation to keep in step with it. mypy checks every read
(`task_ir["labels"]`, `label["code"]`) against them, and `tests/test_architecture.py` checks that
they and the published JSON Schema (`schemas/ir.schema.json`) name the same members. Optional
members (NotRequired) appear only where the spec declares them, so other specs keep their hashes.
"""
# No `from __future__ import annotations` here: TypedDict reads NotRequired from the evaluated
# annotations (the test against the JSON Schema relies on __required_keys__).
import sys
from typing import Any, Literal

if sys.version_info >= (3, 11):
    from typing import NotRequired, TypedDict
else:  # Python 3.10's TypedDict knows no NotRequired
    from typing_extensions import NotRequired, TypedDict

IR_VERSION = 1

Record = dict[str, Any]  # a canonical record: the JSON answer of a task kind (humdsl/kinds/)


class InputIR(TypedDict):
    name: str
    descriptions: list[str]
    shown: NotRequired[str]  # the name the prompt shows it by; the field's name capitalised where absent


class LabelIR(TypedDict):
    """A label, and the same shape for relations' types and events' roles."""
    code: str
    name: str
    descriptions: list[str]
    head: NotRequired[str | None]  # a relation's signature
    tail: NotRequired[str | None]
    roles: NotRequired[list[str]]  # an event's roles
    renamed_from: NotRequired[list[str]]


class GuidelineIR(TypedDict):
    id: str
    scope: list[str]  # label codes it is about; empty: the whole task
    texts: list[str]  # paraphrases, the first as written


class EffectIR(TypedDict):
    name: str  # one of kinds.EFFECTS
    args: dict[str, int]


# How a rule is kept: by the decoding grammar, by the parser (and the decoder's state), by
# synthesis (checked on gold), or advice in the prompt only.
Enforcement = Literal["grammar", "parser", "synthesis", "advisory"]


class RuleIR(TypedDict):
    id: str
    name: str
    effect: EffectIR | None  # None: a rule in words only
    enforced_by: Enforcement
    texts: list[str]


class FormatIR(TypedDict):
    id: str  # the qualified name: std.entities.tuples
    name: str
    kinds: list[str]
    decl: dict[str, Any]  # the format declaration's own tree (formats/ reads it)


class ExampleIR(TypedDict):
    id: str
    input: dict[str, str]
    output: Record


class TestIR(TypedDict):
    id: str
    input: dict[str, str]
    expect: NotRequired[Record]
    includes: NotRequired[Record]
    excludes: NotRequired[Record]
    one_of: NotRequired[list[Record]]
    min_f1: NotRequired[float]


class FieldIR(TypedDict):
    name: str
    type: dict[str, Any]  # {"type": "string" | "span" | "list" | "record" | ..., ...}
    descriptions: list[str]


class ApprovalIR(TypedDict):
    version: str
    reason: str


class ProposalIR(TypedDict):
    slot: str  # "instruction", "guideline NAME", "label CODE", ...
    text: str


class TaskIR(TypedDict):
    ir_version: int
    name: str
    kind: str  # a key of kinds.KINDS
    version: str
    about: str
    inputs: list[InputIR]
    labels: list[LabelIR]
    guidelines: list[GuidelineIR]
    rules: list[RuleIR]
    instructions: list[str]
    formats: list[FormatIR]
    examples: list[ExampleIR]
    tests: list[TestIR]
    synth: dict[str, Any]  # the synth { } block's settings
    types: NotRequired[list[LabelIR]]  # relations
    roles: NotRequired[list[LabelIR]]  # events
    multilabel: NotRequired[bool]  # classify
    fields: NotRequired[list[FieldIR]]  # record
    similar: NotRequired[list[list[str]]]
    run: NotRequired[dict[str, Any]]  # the run { } profile
    answer: NotRequired[str]  # the name the prompt shows the answer by; "Answer" where absent
    approvals: NotRequired[list[ApprovalIR]]
    proposed: NotRequired[list[ProposalIR]]


class CorpusPartIR(TypedDict):
    task: TaskIR
    data: str  # the dataset, a path relative to the spec as written
    policy: dict[str, Any]  # synthesis overrides of the task's synth block
    adapter: NotRequired[str]
    share: NotRequired[float]
    examples: NotRequired[int]
    baseline_format: NotRequired[str]


class CorpusIR(TypedDict):
    name: str
    about: str
    spec_dir: str
    settings: dict[str, Any]  # instances, diversity, style
    parts: list[CorpusPartIR]


def label_entries(task: TaskIR) -> list[LabelIR]:
    """Every entry with a code: the task's labels, then relations' types and events' roles."""
    return [*task["labels"], *task.get("types", []), *task.get("roles", [])]


def effect_of(rule: RuleIR) -> str | None:
    """The name of the effect a rule has (max_items, grounded, ...), or None for words only."""
    return rule["effect"]["name"] if rule["effect"] else None
