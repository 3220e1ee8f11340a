"""The front end as one call: load a spec, analyse it, lower its tasks to IR."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import Diagnostic
from .ir import content_hash, lower_corpus, lower_task, task_hash
from .ir_types import CorpusIR, TaskIR
from .loader import Program, load_program
from .semantic import analyse
from .semantic.context import Context


@dataclass
class CheckResult:
    program: Program
    context: Context
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    def errors_text(self) -> str:
        """The errors as humc check prints them, one after another."""
        from .diagnostics import render_text

        return "\n".join(render_text(d, self.program.sources) for d in self.errors())

    def entry_tasks(self) -> list:
        entries = set(self.program.entries)
        return [t for t in self.context.tasks if t.symbol.module.key in entries]


def check_paths(paths: list[str | Path], with_proposed: bool = False) -> CheckResult:
    """with_proposed: alternatives written `proposed` go into the IR's texts like accepted ones."""
    program = load_program(paths)
    ctx = analyse(program, with_proposed)
    return CheckResult(program, ctx, program.diagnostics.sorted())


def lower(result: CheckResult) -> dict[str, TaskIR]:
    """IR of every task declared in the entry files, by task name (only when there are no errors)."""
    if not result.ok:
        raise ValueError("cannot lower a spec with errors")
    return {t.name: lower_task(t) for t in result.entry_tasks()}


def lower_corpora(result: CheckResult) -> dict[str, CorpusIR]:
    """IR of every corpus declared in the entry files, by name."""
    entries = set(result.program.entries)
    return {c.name: lower_corpus(c) for c in result.context.corpora if c.symbol.module.key in entries}


def spec_hash(irs: dict[str, TaskIR]) -> str:
    return content_hash({name: task_hash(ir) for name, ir in sorted(irs.items())})
