"""Diagnostics are values: code, severity, span, message, notes and suggestions."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .codes import CODES
from .source import SourceFile, Span


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None
    severity: str = ""  # defaults to the code's severity
    notes: tuple[str, ...] = ()
    suggestions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.severity:
            object.__setattr__(self, "severity", CODES[self.code].severity)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple:
        if self.span is None:
            return ("", 0, 0, self.code)
        return (self.span.path, self.span.start, self.span.end, self.code, self.message)

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "span": self.span.to_json() if self.span else None,
            "notes": list(self.notes),
            "suggestions": list(self.suggestions),
        }


@dataclass
class Diagnostics:
    """An ordered, de-duplicated collection that passes append to."""

    items: list[Diagnostic] = field(default_factory=list)
    _seen: set = field(default_factory=set, repr=False)

    def add(self, diag: Diagnostic) -> None:
        key = (diag.code, diag.message, diag.span)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(diag)

    def error(self, code: str, message: str, span: Span | None, *, notes: Sequence[str] = (),
              suggestions: Sequence[str] = ()) -> None:
        self.add(Diagnostic(code, message, span, "", tuple(notes), tuple(suggestions)))

    def extend(self, diags: Iterable[Diagnostic]) -> None:
        for d in diags:
            self.add(d)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=Diagnostic.sort_key)


def did_you_mean(name: str, candidates: Iterable[str]) -> tuple[str, ...]:
    """Close matches for an unknown name, best first (case-insensitive)."""
    import difflib  # only needed when something is wrong

    pool = sorted(set(candidates))
    lowered = {c.lower(): c for c in pool}
    exact_case = lowered.get(name.lower())
    if exact_case and exact_case != name:
        return (exact_case,)
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
    return tuple(lowered[h] for h in hits)


# ---- rendering ------------------------------------------------------------------------------

_COLORS = {"error": "\033[1;31m", "warning": "\033[1;33m", "note": "\033[1;36m"}
_RESET = "\033[0m"
_BOLD = "\033[1m"


def use_color(stream) -> bool:
    return hasattr(stream, "isatty") and stream.isatty() and "NO_COLOR" not in os.environ


def render_text(diag: Diagnostic, sources: dict[str, SourceFile], color: bool = False) -> str:
    sev = diag.severity
    head_sev = f"{_COLORS[sev]}{sev}[{diag.code}]{_RESET}" if color else f"{sev}[{diag.code}]"
    message = f"{_BOLD}{diag.message}{_RESET}" if color else diag.message
    if diag.span is None:
        lines = [f"humc: {head_sev}: {message}"]
    else:
        sp = diag.span
        lines = [f"{sp.path}:{sp.line}:{sp.column}: {head_sev}: {message}"]
        src = sources.get(sp.path)
        if src is not None:
            text = src.line_text(sp.line)
            gutter = f"{sp.line:>5} | "
            lines.append(gutter + text.replace("\t", " "))
            width = (sp.end_column - sp.column) if sp.end_line == sp.line else len(text) - sp.column + 1
            caret = "^" * max(1, width)
            pad = " " * (len(gutter) - 2) + "| " + " " * (sp.column - 1)
            lines.append(pad + (f"{_COLORS[sev]}{caret}{_RESET}" if color else caret))
    for note in diag.notes:
        lines.append(f"      = note: {note}")
    if diag.suggestions:
        lines.append("      = help: did you mean " + " or ".join(f"'{s}'" for s in diag.suggestions) + "?")
    return "\n".join(lines)


def summary_line(diags: Sequence[Diagnostic], files: int) -> str:
    errors = sum(d.is_error for d in diags)
    warnings = len(diags) - errors
    noun = "file" if files == 1 else "files"
    if not diags:
        return f"ok: {files} {noun} checked, no problems"
    return (f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)} "
            f"in {files} {noun} checked")


def render_json(diags: Sequence[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in diags], indent=2, ensure_ascii=False)
