"""Load a spec and everything it imports: files, import resolution, cycles, the prelude."""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import codes
from .diagnostics import Diagnostics
from .resources import stdlib_root
from .source import SourceFile, Span
from .syntax import ast
from .syntax.parser import parse_source

# Declarations of these stdlib modules are visible in every spec without an import.
PRELUDE = ("std/formats", "std/rules")


@dataclass
class Module:
    key: str  # absolute path of the file
    shown: str  # path as shown in diagnostics
    source: SourceFile
    tree: ast.Module
    is_stdlib: bool
    syntax_ok: bool
    # import declaration -> key of the imported module (None when it could not be loaded)
    imports: list[tuple[ast.Import | ast.FromImport, str | None]] = field(default_factory=list)


@dataclass
class Program:
    modules: dict[str, Module] = field(default_factory=dict)
    entries: list[str] = field(default_factory=list)  # keys of the files asked for
    prelude: list[str] = field(default_factory=list)
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    cycle_imports: set[int] = field(default_factory=set)  # id() of imports that close a cycle

    @property
    def sources(self) -> dict[str, SourceFile]:
        return {m.shown: m.source for m in self.modules.values()}


def shown_path(path: Path) -> str:
    root = stdlib_root().resolve()
    try:
        return "<std>/" + path.resolve().relative_to(root / "std").as_posix()
    except ValueError:
        pass
    try:
        rel = os.path.relpath(path)
        return rel if not rel.startswith("..") else str(path)
    except ValueError:  # another drive on Windows
        return str(path)


def resolve_import(spec: str, importer: Path | None) -> Path:
    name = spec if spec.endswith(".hum") else spec + ".hum"
    if spec.startswith("std/"):
        return stdlib_root() / name
    base = importer.parent if importer is not None else Path.cwd()
    return (base / name) if not os.path.isabs(name) else Path(name)


def _not_utf8(raw: bytes, e: UnicodeDecodeError) -> str:
    line = raw.count(b"\n", 0, e.start) + 1
    column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
    return f"it is not UTF-8 text (byte 0x{raw[e.start]:02x} at line {line}, column {column})"


class Loader:
    def __init__(self, overrides: dict[str, str] | None = None) -> None:
        self.program = Program()
        # resolved path -> text read in place of the file's (humc expand checks a spec with a
        # proposal in before it writes anything)
        self.overrides = overrides or {}

    def load_file(self, path: Path, *, entry: bool = False, from_span: Span | None = None) -> str | None:
        path = Path(path)
        try:
            key = str(path.resolve())
        except OSError:
            key = str(path.absolute())
        if key in self.program.modules:
            if entry and key not in self.program.entries:
                self.program.entries.append(key)
            return key
        shown = shown_path(path)
        try:
            if key in self.overrides:
                raw = self.overrides[key].encode("utf-8")
            else:
                raw = path.read_bytes()
            text = raw.decode("utf-8").removeprefix("\ufeff")  # a byte-order mark is not content
        except FileNotFoundError:
            if from_span is None:
                self.program.diagnostics.error(codes.UNREADABLE, f"no such file: {shown}", None)
            return None
        except (OSError, UnicodeDecodeError) as e:
            reason = _not_utf8(raw, e) if isinstance(e, UnicodeDecodeError) else e.strerror
            self.program.diagnostics.error(codes.UNREADABLE, f"cannot read {shown}: {reason}", from_span)
            return None
        source = SourceFile(shown, text)
        tree, diags = parse_source(source)
        self.program.diagnostics.extend(diags)
        is_std = shown.startswith("<std>/")
        module = Module(key, shown, source, tree, is_std, syntax_ok=not diags)
        self.program.modules[key] = module
        if entry:
            self.program.entries.append(key)
        for decl in tree.decls:
            if isinstance(decl, (ast.Import, ast.FromImport)):
                target = self._load_import(decl, path)
                module.imports.append((decl, target))
        return key

    def _load_import(self, decl: ast.Import | ast.FromImport, importer: Path) -> str | None:
        spec = decl.path.value
        if not spec.strip():
            self.program.diagnostics.error(codes.IMPORT_NOT_FOUND, "empty import path", decl.path.span)
            return None
        target = resolve_import(spec, importer)
        if not target.is_file():
            notes = []
            if spec.startswith("std/"):
                names = sorted("std/" + p.relative_to(stdlib_root() / "std").with_suffix("").as_posix()
                               for p in (stdlib_root() / "std").rglob("*.hum"))
                notes.append("the standard library has: " + ", ".join(names))
            else:
                notes.append(f"looked for {shown_path(target)}")
            self.program.diagnostics.error(codes.IMPORT_NOT_FOUND, f"cannot find '{spec}'",
                                           decl.path.span, notes=notes)
            return None
        return self.load_file(target, from_span=decl.path.span)

    def load_prelude(self) -> None:
        for spec in PRELUDE:
            key = self.load_file(resolve_import(spec, None))
            if key:
                self.program.prelude.append(key)


def find_cycles(program: Program) -> None:
    """Report each import that closes a cycle, with the whole cycle spelled out."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(key: str) -> None:
        state[key] = 1
        stack.append(key)
        for decl, target in program.modules[key].imports:
            if target is None:
                continue
            if state.get(target) == 1:
                cycle = stack[stack.index(target):] + [target]
                shown = " -> ".join(program.modules[k].shown for k in cycle)
                # Report at the import where the cycle starts: in the file the user asked about.
                first = next(d for d, t in program.modules[target].imports if t == cycle[1])
                program.diagnostics.error(codes.IMPORT_CYCLE, f"import cycle: {shown}", first.span)
                for k in cycle[:-1]:
                    program.cycle_imports.update(id(d) for d, t in program.modules[k].imports if t in cycle)
            elif target not in state:
                visit(target)
        stack.pop()
        state[key] = 2

    for key in list(program.modules):
        if key not in state:
            visit(key)


def collect_paths(paths: Sequence[str | Path], diags: Diagnostics) -> list[Path]:
    """Expand folders to the .hum files inside them, sorted for a stable order."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.rglob("*.hum") if q.is_file())
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            diags.error(codes.UNREADABLE, f"no such file or folder: {p}", None)
    return files


def load_program(paths: list[str | Path], overrides: dict[str, str] | None = None) -> Program:
    """The program of the entry files and all they import; `overrides` maps a file's resolved
    path to text read in its place."""
    loader = Loader(overrides)
    files = collect_paths(paths, loader.program.diagnostics)
    loader.load_prelude()
    for f in files:
        loader.load_file(f, entry=True)
    find_cycles(loader.program)
    return loader.program
