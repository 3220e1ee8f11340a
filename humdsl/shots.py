"""The worked examples a prompt shows: the spec's own, or the most similar labelled examples from
a dataset file, chosen per input (retrieval.py), each written in the format being run."""
from __future__ import annotations

from .errors import HumError
from pathlib import Path

from .formats import Unrenderable
from .kinds import KINDS
from .ir_types import TaskIR

SPEC_SHOTS = 2  # the spec's examples shown by default
RETRIEVED_SHOTS = 4  # retrieved examples shown by default


class ShotsError(HumError):
    """The shots cannot be had: a one-line message for the user."""


class Shots:
    """`for_row(row)` gives the examples to show for one input, as PromptChoice takes them."""

    def __init__(self, fixed: list[dict] | None, demonstrations=None, fmt=None, batch=None, k: int = 0,
                 task_ir: TaskIR | None = None, labelled: list[dict] | None = None):
        self.fixed = fixed
        self.demonstrations = demonstrations
        self.fmt, self.batch, self.k, self.task_ir = fmt, batch, k, task_ir
        # the answer of every labelled example the shots come from (channel decisions weigh by their sizes)
        if labelled is None:
            labelled = [e["record"] for e in demonstrations.examples] if demonstrations is not None else []
        self.labelled = labelled

    @classmethod
    def of(cls, task_ir: TaskIR, fmt, batch: list[str] | None, k: int | None, source: Path | None = None,
           adapter: str | None = None, passed_over: list[str] | None = None) -> "Shots":
        if k is not None and k < 0:
            raise ShotsError(f"--shots must be 0 or more, not {k}")
        if source is None:
            return cls(_rendered(fmt, batch, ((ex["input"], ex["output"]) for ex in task_ir["examples"]),
                                 SPEC_SHOTS if k is None else k), labelled=[ex["output"] for ex in task_ir["examples"]])
        from .retrieval import Demonstrations

        usable = read_labelled(task_ir, source, adapter, passed_over)
        return cls(None, Demonstrations(usable, _input_fields(task_ir), task_ir["kind"]), fmt, batch,
                   RETRIEVED_SHOTS if k is None else k, task_ir)

    def for_row(self, row: dict) -> list[dict]:
        if self.fixed is not None:
            return self.fixed
        if self.k == 0:
            return []

        assert self.task_ir is not None  # Shots.of gives retrieved shots the task's IR
        ordered = self.fmt.schema.ordered  # as synthesis writes gold answers: no offsets, in order
        pairs = ((e, KINDS[self.task_ir["kind"]].prepare(self.task_ir, e["record"], e["text"], ordered))
                 for e in self.demonstrations.candidates(row, self.k))
        return list(reversed(_rendered(self.fmt, self.batch, pairs, self.k)))  # the most similar last


def _input_fields(task_ir: TaskIR) -> list[str]:
    return [f["name"] for f in task_ir.get("inputs", [])] or ["text"]


def read_labelled(task_ir: TaskIR, source: Path, adapter: str | None = None,
                  passed_over: list[str] | None = None) -> list[dict]:
    """The labelled examples of a dataset file that have the task's inputs (ShotsError where it
    cannot be read or holds none). What was passed over is added to `passed_over`: each line the
    reader could not take, with its place, and how many examples lack a label or an input."""
    from .adapters.readers import labelled, read_examples

    try:
        examples, report = read_examples(source, adapter)
    except ValueError as e:
        raise ShotsError(f"--shots-from: {e}") from None
    except OSError as e:
        raise ShotsError(f"cannot read {source}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ShotsError(f"cannot read {source}: it is not UTF-8 text (byte {e.start})") from None
    fields = _input_fields(task_ir)
    usable = labelled(examples, fields)
    if not usable:
        why = f" ({report.skipped[0]})" if report.skipped else ""
        raise ShotsError(f"{source} holds no labelled example with the task's inputs "
                         f"({', '.join(fields)}){why}")
    if passed_over is not None:
        passed_over += report.skipped
        if len(usable) < len(examples):
            passed_over.append(f"{source}: {len(examples) - len(usable)} of {len(examples)} examples have no "
                               f"label or lack an input the task reads ({', '.join(fields)})")
    return usable


def _rendered(fmt, batch, pairs, k: int) -> list[dict]:
    """The first k (input, record) pairs the format can write, as {"input", "answer"}."""
    out: list[dict] = []
    for inp, record in pairs:
        if len(out) >= k:
            break
        try:
            out.append({"input": inp, "answer": fmt.render(record, batch=batch, source=inp["text"]), "record": record})
        except (Unrenderable, KeyError, TypeError, ValueError):
            continue  # an example this format cannot write (or a record of another shape) is passed over
    return out
