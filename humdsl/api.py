"""The Python API: humdsl.load(path).task(name)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .compiler import check_paths, lower, spec_hash
from .diagnostics import Diagnostic, render_text
from .ir import content_hash


class SpecError(Exception):
    """A spec has errors; .diagnostics holds them and str() renders them as humc check does."""

    def __init__(self, diagnostics: list[Diagnostic], rendered: str):
        super().__init__(rendered)
        self.diagnostics = diagnostics


@dataclass(frozen=True)
class Task:
    ir: dict

    @property
    def name(self) -> str:
        return self.ir["name"]

    @property
    def kind(self) -> str:
        return self.ir["kind"]

    @property
    def hash(self) -> str:
        return content_hash(self.ir)


@dataclass(frozen=True)
class Spec:
    path: str
    tasks: dict[str, Task]

    @property
    def hash(self) -> str:
        return spec_hash({n: t.ir for n, t in self.tasks.items()})

    def task(self, name: str) -> Task:
        if name not in self.tasks:
            raise KeyError(f"no task '{name}' in {self.path}; it has: {', '.join(self.tasks)}")
        return self.tasks[name]


def load(path: str | Path) -> Spec:
    result = check_paths([path])
    if not result.ok:
        sources = result.program.sources
        errors = [d for d in result.diagnostics if d.is_error]
        raise SpecError(errors, "\n".join(render_text(d, sources) for d in errors))
    irs = lower(result)
    return Spec(str(path), {name: Task(ir) for name, ir in irs.items()})
