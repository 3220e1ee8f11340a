"""A round of `humc expand` on a spec file: the task's IR and label names from the file, a
proposal checked by compiling the file with it in (nothing is written until the round is over),
the task run through a Session for the meaning check, and the survivors written into the file
as `proposed` alternatives."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..errors import HumError, not_found
from ..syntax import ast
from . import filters
from .loop import Report, generate, review
from .meaning import MeaningCheck
from .propose import WHAT, Target, targets
from ..ir_types import TaskIR


class ExpandError(HumError):
    """A round cannot start or cannot write its result (one line, with the file)."""


@lru_cache(maxsize=1)
def library_codes() -> frozenset[str]:
    """The label codes of the standard library's label sets (CoNLL, OntoNotes, ...), imported or not:
    a paraphrase that brings one in has leaked a label from another scheme."""
    from ..compiler import check_paths
    from ..resources import stdlib_root

    return frozenset(_declared_codes(check_paths([stdlib_root() / "std" / "labels.hum"])))


def _declared_codes(result) -> set[str]:
    known: set[str] = set()
    for table in result.context.namespaces.values():
        for symbol in table.values():
            if isinstance(symbol.decl, ast.LabelSetDecl):
                known.update(item.code.text for item in symbol.decl.block.items)
    return known


def label_names(result, task_name: str) -> filters.LabelNames:
    """The task's labels (code and name) and every label code known: the checked program's and
    the standard library's."""
    known = _declared_codes(result) | library_codes()
    task_names: dict[str, set[str]] = {}
    for model in result.context.tasks:
        for lab in model.labels + model.types + model.roles:
            known.add(lab.code)
            if model.name == task_name:
                task_names[lab.code] = {lab.code, lab.name or lab.code}
    return filters.LabelNames(task_names, known)


class SpecFile:
    """The spec as read when the round began; every check and the final write start from it."""

    def __init__(self, path: Path, task: str | None):
        from ..api import SpecUnusable, UnknownTask
        from ..compiler import check_paths, lower

        self.path = path
        try:
            self.source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise SpecUnusable(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
        result = check_paths([path])
        if not result.ok:
            raise SpecUnusable(f"{path} has errors:\n{result.errors_text()}")
        irs = lower(result)
        if task is None:
            if len(irs) != 1:
                raise ExpandError(f"{path} declares {len(irs)} tasks ({', '.join(irs) or 'none'}): give --task")
            task = next(iter(irs))
        if task not in irs:
            raise UnknownTask(not_found("task", task, irs, str(path)))
        self.task = task
        self.ir = irs[task]
        self.names = label_names(result, task)

    def slots(self) -> dict[str, list[tuple[str, bool]]]:
        from ..proposals import slots

        return slots(self.source, str(self.path), self.task)

    def with_proposal(self, slot: str, texts: list[str]) -> str:
        from ..proposals import insert

        return insert(self.source, str(self.path), self.task, slot, texts)

    def problem_with(self, slot: str, text: str) -> str | None:
        """The first error of the spec with `text` in `slot` as an accepted alternative, or None."""
        from ..compiler import CheckResult
        from ..loader import load_program
        from ..semantic import analyse

        try:
            candidate = self.with_proposal(slot, [text])
        except ValueError as e:
            return str(e)
        program = load_program([self.path], overrides={str(self.path.resolve()): candidate})
        result = CheckResult(program, analyse(program, with_proposed=True), program.diagnostics.sorted())
        if not result.ok:
            return f"the spec does not check with it: {result.errors_text().splitlines()[0]}"
        return None

    def write(self, report: Report) -> int:
        """The kept proposals written into the file, grouped by slot; refuses if the file changed
        since the round read it (nothing of anyone's is lost)."""
        from ..outputs import write_atomic
        from ..proposals import insert

        kept = report.kept()
        if not kept:
            return 0
        try:
            now = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ExpandError(f"cannot read {self.path} again to write the proposals: {e}") from None
        if now != self.source:
            raise ExpandError(f"{self.path} changed while humc expand ran; it is left as it is: run it again")
        source = self.source
        for slot in dict.fromkeys(p.slot for p in kept):
            source = insert(source, str(self.path), self.task, slot, [p.text for p in kept if p.slot == slot])
        write_atomic(self.path, source)
        return len(kept)


def session_prompter(settings, spec_dir: Path):
    """The prompts humc run shows for rows of a task (its run profile applied); loads no model."""
    from ..session import Session

    def prompts(task_ir: TaskIR, rows: list[dict]) -> list[str]:
        session = Session(task_ir, settings, spec_dir)  # once per task: it reads the worked examples
        return [session.prompt(row) for row in rows]

    return prompts


def session_runner(model, settings, spec_dir: Path, batch_size: int = 4):
    """The task run as humc run runs it (its run profile, the model or a server's decoder): one
    record, or None, per row. `model`: a name, or a function giving a server's decoder (called
    when first needed)."""
    from ..session import Session

    made: list = []  # the loaded model or the server's decoder, once made

    def run(task_ir: TaskIR, rows: list[dict]) -> list:
        session = Session(task_ir, settings, spec_dir)
        if not made:
            from ..runtime.models import load

            made.append(model() if callable(model) else load(model))
        if callable(model):
            session.use(made[0])
        else:
            session.start(made[0])
        out = []
        for i in range(0, len(rows), batch_size):
            out += [o.record for o in session.decode(rows[i:i + batch_size])]
        return out

    return run


def dev_rows(path: Path, adapter: str | None, task_ir: TaskIR, n: int) -> list[dict]:
    from ..adapters.readers import labelled, read_examples

    try:
        examples, _ = read_examples(path, adapter)
    except (ValueError, OSError) as e:
        raise ExpandError(f"--dev {path}: {e}") from None
    fields = [f["name"] for f in task_ir["inputs"]]
    return labelled(examples, fields)[:n]


def chosen_targets(spec: SpecFile, what: tuple[str, ...] = WHAT, slots: set[str] | None = None) -> list[Target]:
    """The texts a round grows: those `what` selects that this file holds (a label set imported
    from elsewhere is not this file's to edit), narrowed to `slots`; ExpandError for a slot it
    does not have, or when nothing is left."""
    editable = set(spec.slots())
    chosen = [t for t in targets(spec.ir, what) if t.slot in editable]
    if slots:
        unknown = slots - {t.slot for t in chosen}
        if unknown:
            raise ExpandError(f"task '{spec.task}' has no text {', '.join(sorted(unknown))} that this file holds "
                              f"among --what {','.join(what)}; it has: {', '.join(t.slot for t in chosen) or 'none'}")
        chosen = [t for t in chosen if t.slot in slots]
    if not chosen:
        raise ExpandError(f"task '{spec.task}' in {spec.path} holds no text to grow among --what {','.join(what)}")
    return chosen


def expand_round(spec: SpecFile, make_decoder, model_name: str, chosen: list[Target], *, n: int = 3,
                 seed: int = 0, meaning: MeaningCheck | None = None, progress=None) -> Report:
    """Proposals for each chosen text, then the review. `make_decoder()` is called once, here:
    the model loads only after every option has been checked."""
    report = Report(spec.task, model_name, seed, n)
    decoder = make_decoder()
    proposed: dict[str, list[str]] = {}
    for i, target in enumerate(chosen):
        got, problems = generate(decoder, spec.ir, target, n, seed)
        proposed[target.slot] = got
        report.failures += [{"slot": target.slot, "why": why} for why in problems]
        if progress:
            progress(i + 1, len(chosen))
    report.proposals = review(proposed, chosen, spec.names, spec.problem_with, meaning)
    return report
