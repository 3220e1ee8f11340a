"""The synthesis policy block: per-example count, label batches, negatives, few-shot, styles."""
from __future__ import annotations

from .. import codes
from ..diagnostics import did_you_mean
from ..synth_settings import SETTINGS, defaults
from ..syntax import ast
from .context import Context

def check_synth(ctx: Context) -> None:
    for task in ctx.tasks:
        policy = defaults()
        for node in task.members.get("synth", [])[:1]:
            table = {k: (v.type, v.check, v.meaning) for k, v in SETTINGS.items()}
            for s, name, value in valid_settings(ctx, task, node, table, "synthesis setting",
                                                 codes.UNKNOWN_SYNTH_SETTING, codes.BAD_SYNTH_VALUE):
                if name == "format_weights":
                    known = _format_names(task)
                    unknown = [k for k in value if known is not None and k not in known]
                    if unknown:
                        assert known is not None  # `unknown` is empty when the formats are not known
                        ctx.error(codes.BAD_SYNTH_VALUE, f"'format_weights' names a format the task does not "
                                  f"have: {unknown[0]}", s.value.span,
                                  notes=["the task's formats: " + ", ".join(known)],
                                  suggestions=did_you_mean(unknown[0], known), task=task)
                        continue
                    if known is not None and not any(value.get(f, 1.0) for f in known):
                        ctx.error(codes.BAD_SYNTH_VALUE, "'format_weights' leaves no format to draw",
                                  s.value.span, notes=["give at least one format a weight above 0"], task=task)
                        continue
                policy[name] = value
        task.synth = policy


def valid_settings(ctx: Context, task, node, table: dict, what: str, unknown_code, bad_code):
    """The settings of a block (`synth`, `run`) whose name is known, given once, and whose value
    has its type and passes its check, as (setting, name, value); the others are reported.
    `table`: name -> (type, check, what it means)."""
    seen = set()
    for s in node.settings:
        name = s.name.text
        if name not in table:
            ctx.error(unknown_code, f"unknown {what} '{name}'", s.name.span,
                      notes=["the settings are: " + ", ".join(table)],
                      suggestions=did_you_mean(name, table), task=task)
            continue
        if name in seen:
            ctx.error(bad_code, f"'{name}' is set twice", s.span, task=task)
            continue
        seen.add(name)
        typ, check, meaning = table[name]
        value = _value(s.value, typ) if s.value is not None else None
        if value is None or not check(value):
            ctx.error(bad_code, f"invalid value for '{name}'", (s.value or s).span,
                      notes=[f"'{name}': {meaning}"], task=task)
            continue
        yield s, name, value


def _format_names(task) -> list[str] | None:
    """The names of the task's formats, or None when they are not known (an earlier error)."""
    return [f["name"] for f in task.formats] or None


def _value(node, typ):
    if typ is dict:
        if not isinstance(node, ast.ObjectValue):
            return None
        out = {}
        for pair in node.pairs:
            key = pair.key.text if isinstance(pair.key, ast.Name) else pair.key.value
            if not isinstance(pair.value, ast.Num) or key in out:
                return None
            out[key] = float(pair.value.value)
        return out
    if typ is str:
        return node.value if isinstance(node, ast.Str) else None
    if not isinstance(node, ast.Num):
        return None
    v = node.value
    if typ is int:
        return v if isinstance(v, int) else None
    return float(v)
