"""What the passes share: the program, diagnostics, name tables and the model of each task."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from .. import codes
from ..ir_types import ApprovalIR, ExampleIR, FieldIR, FormatIR, GuidelineIR, InputIR, RuleIR, TestIR
from ..diagnostics import Diagnostics, did_you_mean
from ..loader import Module, Program
from ..source import Span
from ..syntax import ast


@dataclass
class Symbol:
    name: str
    decl: Any  # ast.Task | ast.FormatDecl | ast.RuleDecl | ast.LabelSetDecl
    module: Module

    @property
    def what(self) -> str:
        return DECL_NOUNS[type(self.decl)]

    @property
    def qualified(self) -> str:
        """A stable id that does not depend on where the spec sits on disk: 'std/formats.tuples'
        for the standard library, 'file_stem.name' for a user's file."""
        shown = self.module.shown
        if self.module.is_stdlib:
            base = "std/" + shown[len("<std>/"):-len(".hum")]
        else:
            base = PurePath(shown).stem
        return f"{base}.{self.name}"

DECL_NOUNS = {ast.Task: "task", ast.FormatDecl: "format", ast.RuleDecl: "rule",
              ast.LabelSetDecl: "label set", ast.Corpus: "corpus"}


@dataclass
class Label:
    code: str
    name: str | None
    descriptions: list[str]
    span: Span
    head: str | None = None
    tail: str | None = None
    roles: list[str] | None = None
    renamed_from: list[str] = field(default_factory=list)  # codes it had before (humc diff reads them)


@dataclass
class TaskModel:
    symbol: Symbol
    kind: str | None
    members: dict[str, list] = field(default_factory=dict)  # member keyword -> nodes
    version: str | None = None
    about: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    labels: list[Label] = field(default_factory=list)
    types: list[Label] = field(default_factory=list)
    roles: list[Label] = field(default_factory=list)
    guidelines: list[GuidelineIR] = field(default_factory=list)
    similar: list[list[str]] = field(default_factory=list)
    rules: list[RuleIR] = field(default_factory=list)
    formats: list[FormatIR] = field(default_factory=list)
    fields: list[FieldIR] = field(default_factory=list)
    inputs: list[InputIR] = field(default_factory=list)
    answer_name: str | None = None  # `answer "Sentiment"`: the prompt's name for the answer
    examples: list[ExampleIR] = field(default_factory=list)
    tests: list[TestIR] = field(default_factory=list)
    approvals: list[ApprovalIR] = field(default_factory=list)  # intended changes
    instructions: list[str] = field(default_factory=list)  # the phrasings prompts use
    # (span, slot, text) of each alternative written `proposed`: the IR lists them
    proposed: list[tuple[Span, str, str]] = field(default_factory=list)
    synth: dict[str, Any] = field(default_factory=dict)
    run_profile: dict[str, Any] = field(default_factory=dict)  # only the settings declared
    ok: bool = True  # no error was reported inside this task

    @property
    def name(self) -> str:
        return self.symbol.name

    @property
    def decl(self) -> ast.Task:
        return self.symbol.decl

    def label_codes(self) -> list[str]:
        return [lab.code for lab in self.labels]


@dataclass
class CorpusPartModel:
    task: TaskModel
    settings: dict[str, Any]  # data, adapter, share, examples, baseline_format
    policy: dict[str, Any]  # synthesis overrides of the task's synth block


@dataclass
class CorpusModel:
    symbol: Symbol
    about: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # instances, diversity, style
    parts: list[CorpusPartModel] = field(default_factory=list)
    ok: bool = True

    @property
    def name(self) -> str:
        return self.symbol.name


class Context:
    def __init__(self, program: Program, with_proposed: bool = False):
        self.program = program
        # Alternatives written `proposed` are left out of the texts unless this is set.
        self.with_proposed = with_proposed
        self.diags: Diagnostics = program.diagnostics
        self.namespaces: dict[str, dict[str, Symbol]] = {}
        self.aliases: dict[str, dict[str, str]] = {}  # module -> alias -> module key
        self.from_names: dict[str, dict[str, Symbol]] = {}
        self.used_imports: set[int] = set()  # id() of import decls that resolved a name
        self.dead_imports: set[int] = set()  # imports already reported as broken
        self.alias_decl: dict[tuple[str, str], ast.Import] = {}
        self.from_decl: dict[tuple[str, str], ast.FromImport] = {}
        self.tasks: list[TaskModel] = []
        self.corpora: list[CorpusModel] = []
        self.format_checked: dict[int, bool] = {}  # id(FormatDecl) -> valid

    # ---- modules to analyse ------------------------------------------------------------------
    def modules(self) -> list[Module]:
        """Modules whose syntax is sound; the others already have their syntax errors."""
        return [m for m in self.program.modules.values() if m.syntax_ok]

    # ---- diagnostics ---------------------------------------------------------------------------
    def error(self, code: str, message: str, span: Span | None, *, notes=(), suggestions=(),
              task: TaskModel | CorpusModel | None = None) -> None:
        self.diags.error(code, message, span, notes=notes, suggestions=suggestions)
        if task is not None and codes.CODES[code].severity == "error":
            task.ok = False

    # ---- name resolution -------------------------------------------------------------------------
    def visible(self, module: Module) -> dict[str, Symbol]:
        """Unqualified names visible in a module: its own, then from-imports, then the prelude."""
        names: dict[str, Symbol] = {}
        if module.key not in self.program.prelude:
            for key in self.program.prelude:
                names.update(self.namespaces.get(key, {}))
        names.update(self.from_names.get(module.key, {}))
        names.update(self.namespaces.get(module.key, {}))
        return names

    def resolve(self, module: Module, qname: ast.QName, want: type | tuple, noun: str,
                task: TaskModel | CorpusModel | None = None) -> Symbol | None:
        """Resolve a (possibly alias-qualified) name to a declaration of the wanted type."""
        parts = [p.text for p in qname.parts]
        if len(parts) == 1:
            pool = self.visible(module)
            sym = pool.get(parts[0])
            if sym is not None:
                decl = self.from_decl.get((module.key, parts[0]))
                if decl is not None and sym is self.from_names[module.key].get(parts[0]):
                    self.used_imports.add(id(decl))
        elif len(parts) == 2:
            target = self.aliases.get(module.key, {}).get(parts[0])
            if target is None:
                aliases = self.aliases.get(module.key, {})
                self.error(codes.UNKNOWN_NAME, f"unknown import alias '{parts[0]}'", qname.parts[0].span,
                           suggestions=did_you_mean(parts[0], aliases), task=task)
                return None
            self.used_imports.add(id(self.alias_decl[(module.key, parts[0])]))
            pool = self.namespaces.get(target, {})
            sym = pool.get(parts[1])
        else:
            self.error(codes.UNKNOWN_NAME, f"'{qname.dotted}' is not a name: use 'name' or 'alias.name'",
                       qname.span, task=task)
            return None
        if sym is None:
            candidates = [n for n, s in pool.items() if isinstance(s.decl, want)]
            self.error(codes.UNKNOWN_NAME, f"unknown {noun} '{qname.dotted}'", qname.span,
                       suggestions=did_you_mean(parts[-1], candidates), task=task)
            return None
        if not isinstance(sym.decl, want):
            self.error(codes.WRONG_KIND_OF_NAME, f"'{qname.dotted}' is a {sym.what}, not a {noun}",
                       qname.span, notes=[f"declared at {sym.decl.name.span.path}:{sym.decl.name.span.line}"],
                       task=task)
            return None
        return sym
