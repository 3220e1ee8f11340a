"""What a task kind is. A `Kind` holds what a task of the kind declares (members, settings,
inputs), the shape of its canonical record (an item list, spans, labels), and what the rest of
humdsl asks of such records: their items, the labels they use, whether a record has the shape,
the gold record made ready to render, and the kind's metrics and score report. Each built-in
kind is one module of this package; `ListKind` is what the kinds whose answer is a list of items
share."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Mapping

from .scoring import f1_of, pct
from ..ir_types import TaskIR


@dataclass(frozen=True)
class Kind:
    name: str
    required: frozenset[str] = frozenset()  # members that must be present
    allowed: frozenset[str] = frozenset()  # members beyond the common ones
    settings: frozenset[str] = frozenset()  # boolean settings (classify: multilabel)
    inputs: tuple[str, ...] = ("text",)  # the standard input fields
    label_members: tuple[str, ...] = ()  # label-like members besides `labels` (types, roles)
    list_key: str | None = None  # key of the item list in the canonical record
    span_fields: tuple[str, ...] = ()  # item fields that hold spans of the input
    holes: frozenset[str] = frozenset()  # holes a format's item template may use
    nested: Mapping[str, frozenset[str]] = field(default_factory=dict)  # list hole -> holes inside it
    nested_field: str | None = None  # the item field holding a nested list (arguments, args)
    label_holes: Mapping[str, str] = field(default_factory=dict)  # item hole -> the label set it draws from
    nested_label_holes: Mapping[str, str] = field(default_factory=dict)  # the same, inside a nested list
    free_holes: frozenset[str] = frozenset()  # item holes that are free text, never grounded
    effects: frozenset[str] = frozenset()  # the rule effects a task of the kind may declare
    instruction: str = ""  # the instruction of a task that declares none
    label_heading: str = "Labels"  # the prompt's heading over the labels
    score_name: str = "strict micro-F1"  # the main score's name in reports

    @property
    def labelled(self) -> bool:
        """Whether answers name labels of the task (and prompts show a batch of them)."""
        return "labels" in self.required

    # ---- the canonical record as items (what formats write) --------------------------------------
    def to_items(self, record: dict, multilabel: bool = False) -> list[dict]:
        raise ValueError(f"records of kind {self.name} have no item list")

    def from_items(self, items: list[dict], multilabel: bool = False) -> dict:
        raise ValueError(self.name)

    def tidy_item(self, item: dict) -> dict:
        """An item as a format round-trips it (a copy)."""
        return dict(item)

    @property
    def label_key(self) -> str | None:
        """The item field naming an item's label, where items have one."""
        return None

    itemised: ClassVar[bool] = True  # whether answers are lists of items (to_items); records are not
    # Whether answers are the same few for every input, scored one by one (exact, calibrated and
    # channel decisions), and shots are spread over them (retrieval).
    decidable: ClassVar[bool] = False
    # The decision rules `humc run --decision` takes (runtime/decisions.py): scoring whole answers
    # needs them few (classify) or narrowed to a few sentences' spans (qa: runtime/span_answers.py).
    decisions: ClassVar[tuple[str, ...]] = ("greedy",)
    focused: ClassVar[bool] = False  # exact decisions score the spans of the sentences in focus (--focus)
    # Whether rules across spans (no_overlap, ordered) are kept while decoding (formats/span_rules.py).
    span_rules: ClassVar[bool] = False
    items_are_a_set: ClassVar[bool] = False  # an answer never names an item twice, whatever the rules say

    def max_items(self, batch: list[str], multilabel: bool, rule: int | None) -> int:
        """The most items an answer holds: every grammar is finite."""
        return rule or 20

    def min_items(self, multilabel: bool) -> int:
        return 0

    # ---- labels a record uses -----------------------------------------------------------------
    def used_labels(self, record: dict) -> list:
        """The labels a record uses, in order, as written (None where an item names none)."""
        return []

    def unknown_labels(self, task_ir: TaskIR, record: dict) -> list[str]:
        """Labels (and event roles) the record uses that the task does not declare."""
        codes = {lab["code"] for lab in task_ir.get("labels", [])}
        return list(dict.fromkeys(str(u) for u in self.used_labels(record) if u not in codes))

    # ---- gold records of a dataset, made ready to render (humc synth, shots) ------------------
    def gold_problem(self, task_ir: TaskIR, record: dict) -> str | None:
        """Why a gold record does not have the canonical shape of the kind, or None."""
        return None

    def prepare(self, task_ir: TaskIR, record: dict, text: str, ordered: bool) -> dict:
        """The record as a canonical answer: no character offsets, and with `ordered`, list items
        sorted by where they first appear (their offset when the dataset gives one)."""
        return without_offsets(record)

    def spans(self, record: dict) -> list[str]:
        """Every span value of a canonical record (what `grounded` constrains)."""
        return []

    # ---- scoring (humc eval) ------------------------------------------------------------------
    def shape_problem(self, record: dict) -> str | None:
        """Why `record` cannot be scored as a record of this kind, or None."""
        return None

    def score(self, gold: list[dict], pred: list[dict | None], labels: list[str] | None = None) -> dict:
        """Every figure of the kind's metrics; a prediction that failed to parse is None."""
        raise NotImplementedError

    extra_scorers: ClassVar[Mapping[str, str]] = {}  # --scorer NAME -> what it scores

    def extra_score(self, name: str, gold: list[dict], pred: list[dict | None]) -> dict:
        raise ValueError(name)

    def main_score_name(self, gold: list[dict]) -> str:
        return self.score_name

    def input_stats(self, gold: dict, pred: dict | None) -> tuple:
        """One input's additive statistics; main_score turns a sum of them into the score."""
        raise NotImplementedError

    def main_score(self, stats: list[tuple], multilabel: bool = False) -> float:
        totals = [sum(x) for x in zip(*stats)] if stats else []
        if not totals:
            return 0.0
        return totals[0] / totals[1] if totals[1] else 0.0

    def precision_recall(self, stats: list[tuple]) -> tuple[float, float]:
        """Precision and recall from input_stats, for the kinds whose answers are lists."""
        raise ValueError(f"{self.name} answers are not lists of items")

    def report(self, scores: dict) -> list[str]:
        """The text report's lines for the kind's scores."""
        raise NotImplementedError


@dataclass(frozen=True)
class ListKind(Kind):
    """A kind whose answer is a list of items under `list_key` (entities, relations, ...)."""

    item_strings: tuple[str, ...] = ()  # item fields a scored record must hold as strings
    anchor: str = ""  # the item field whose first appearance in the input orders items

    def to_items(self, record: dict, multilabel: bool = False) -> list[dict]:
        return list(record.get(self.key, []))

    def from_items(self, items: list[dict], multilabel: bool = False) -> dict:
        return {self.key: items}

    @property
    def key(self) -> str:
        assert self.list_key is not None
        return self.list_key

    @property
    def label_key(self) -> str | None:
        return "type" if self.labelled else None

    def used_labels(self, record: dict) -> list:
        if not self.labelled:
            return []
        return [item.get("type") for item in record.get(self.key, [])]

    def gold_problem(self, task_ir: TaskIR, record: dict) -> str | None:
        items = record.get(self.key)
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            article = "an" if self.key[0] in "aeiou" else "a"
            return f"the record needs {article} {self.key!r} list of objects"
        return None

    def prepare(self, task_ir: TaskIR, record: dict, text: str, ordered: bool) -> dict:
        items = record.get(self.key, [])
        if ordered and isinstance(items, list):
            def position(item: dict) -> int:
                if isinstance(item.get("start"), int):
                    return item["start"]
                at = text.find(str(item.get(self.anchor, "")))
                return at if at >= 0 else len(text)

            items = sorted(items, key=position)  # stable: ties keep source order
        return {self.key: without_offsets(items)}

    def spans(self, record: dict) -> list[str]:
        return [span for item in record.get(self.key, []) for span in self.item_spans(item)]

    def item_spans(self, item: dict) -> list[str]:
        """An item's spans of the input, in the order a format writes them."""
        return [item[f] for f in self.span_fields if isinstance(item.get(f), str)]

    def shape_problem(self, record: dict) -> str | None:
        items = record.get(self.key)
        if not isinstance(items, list):
            return f"the record has no \"{self.key}\" list: is it a {self.name} record?"
        for n, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                return f"\"{self.key}\" item {n} is not an object"
            bad = [f for f in self.item_strings if not isinstance(item.get(f), str)]
            if bad:
                return f"\"{self.key}\" item {n} needs a string \"{bad[0]}\""
            problem = self.item_problem(item)
            if problem:
                return f"\"{self.key}\" item {n}: {problem}"
        return None

    def item_problem(self, item: dict) -> str | None:
        """What is wrong with a scored item beyond its string fields (nested lists), or None."""
        return None

    def main_score(self, stats: list[tuple], multilabel: bool = False) -> float:
        return f1_of(*self.precision_recall(stats)) if stats else 0.0

    def precision_recall(self, stats: list[tuple]) -> tuple[float, float]:
        got, n_pred, n_gold = [sum(x) for x in zip(*stats)] if stats else [0, 0, 0]
        return (got / n_pred if n_pred else 0.0), (got / n_gold if n_gold else 0.0)


def without_offsets(item):
    if isinstance(item, dict):
        return {k: without_offsets(v) for k, v in item.items() if k != "start"}
    if isinstance(item, list):
        return [without_offsets(v) for v in item]
    return item


def prf_line(title: str, m: dict) -> str:
    return f"{title}: P {pct(m['precision'])} R {pct(m['recall'])} F1 {pct(m['f1'])}"
