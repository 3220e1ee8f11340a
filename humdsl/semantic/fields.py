"""Record fields and their types: string, span, int, float, bool, date, enum, list, optional, nested."""
from __future__ import annotations

from .. import codes
from ..diagnostics import did_you_mean
from ..ir_types import FieldIR
from ..syntax import ast
from .context import Context, TaskModel
from .tasks import texts_of

BASE_TYPES = ("string", "span", "int", "float", "bool", "date", "enum", "list", "optional")
USAGE = {
    "string": "string or string(max 80)",
    "span": "span or span(max 80): a verbatim piece of the input",
    "int": "int or int(0..100)",
    "float": "float or float(0..1)",
    "bool": "bool",
    "date": "date (YYYY-MM-DD)",
    "enum": "enum(A, B, C)",
    "list": "list(T) or list(T, max 10)",
    "optional": "optional(T)",
}


def check_fields(ctx: Context) -> None:
    for task in ctx.tasks:
        nodes = task.members.get("fields")
        if not nodes:
            continue
        task.fields = _fields(ctx, task, nodes[0].items, nodes[0].span)


def _fields(ctx: Context, task: TaskModel, items, span, path: str = "") -> list[FieldIR]:
    """`path`: the names of the records around these fields ("address."), for proposals' slots."""
    if not items:
        ctx.error(codes.EMPTY_TYPE, "a record needs at least one field", span, task=task)
    out: list[FieldIR] = []
    seen: dict[str, ast.Field] = {}
    for f in items:
        if f.name.text in seen:
            ctx.error(codes.DUPLICATE_FIELD, f"field '{f.name.text}' is declared twice", f.name.span,
                      notes=[f"first at line {seen[f.name.text].span.line}"], task=task)
            continue
        seen[f.name.text] = f
        model = type_model(ctx, task, f.type, f"{path}{f.name.text}.")
        if model is None:
            continue
        out.append({"name": f.name.text, "type": model,
                    "descriptions": texts_of(ctx, task, f.texts, "field description",
                                             f"field {path}{f.name.text}")})
    return out


def type_model(ctx: Context, task: TaskModel, t, path: str = "") -> dict | None:
    if isinstance(t, ast.RecordType):
        return {"type": "record", "fields": _fields(ctx, task, t.fields, t.span, path)}
    name = t.name.text
    if name not in BASE_TYPES:
        ctx.error(codes.UNKNOWN_TYPE, f"unknown type '{name}'", t.name.span,
                  notes=["the types are: " + ", ".join(BASE_TYPES) + ", and { field type ... } records"],
                  suggestions=did_you_mean(name, BASE_TYPES), task=task)
        return None
    args = list(t.args)

    def bad(msg: str, span=None) -> None:
        ctx.error(codes.BAD_TYPE_ARGS, msg, span or t.span, notes=[f"write {USAGE[name]}"], task=task)

    if name in ("bool", "date"):
        if t.has_parens:
            bad(f"'{name}' takes no arguments")
            return None
        return {"type": name}
    if name in ("string", "span"):
        model = {"type": name, "min_length": None, "max_length": None}
        for a in args:
            if isinstance(a, ast.Bound) and _nonneg_int(a.value) is not None:
                model[f"{a.which}_length"] = _nonneg_int(a.value)
            else:
                bad(f"'{name}' takes 'max N' and 'min N' with whole numbers", a.span)
                return None
        return _check_order(model, "min_length", "max_length", bad)
    if name in ("int", "float"):
        model = {"type": name, "min": None, "max": None}
        for a in args:
            if not isinstance(a, ast.Range):
                bad(f"'{name}' takes a range such as {name}(0..100)", a.span)
                return None
            lo, hi = a.low.value, a.high.value
            if name == "int" and not (isinstance(lo, int) and isinstance(hi, int)):
                bad("an int range needs whole numbers", a.span)
                return None
            if lo > hi:
                bad(f"empty range {a.low.raw}..{a.high.raw}", a.span)
                return None
            model["min"], model["max"] = lo, hi
        return model
    if name == "enum":
        values: list[str] = []
        for a in args:
            if isinstance(a, ast.NamedType) and not a.has_parens:
                v = a.name.text
            elif isinstance(a, ast.Str):
                v = a.value
            else:
                bad("enum values are names or strings", a.span)
                return None
            if v in values:
                ctx.error(codes.EMPTY_TYPE, f"enum value '{v}' is listed twice", a.span, task=task)
                continue
            values.append(v)
        if not values:
            ctx.error(codes.EMPTY_TYPE, "an enum needs at least one value", t.span, task=task)
            return None
        return {"type": "enum", "values": values}
    # list and optional take a type first
    types = [a for a in args if isinstance(a, (ast.NamedType, ast.RecordType))]
    if len(types) != 1 or not isinstance(args[0], (ast.NamedType, ast.RecordType)):
        bad(f"'{name}' takes one type, first")
        return None
    inner = type_model(ctx, task, args[0], path)
    if inner is None:
        return None
    if name == "optional":
        if len(args) > 1:
            bad("'optional' takes only a type", args[1].span)
            return None
        if inner["type"] == "optional":
            bad("optional(optional(T)) is just optional(T)")
            return None
        return {"type": "optional", "inner": inner}
    model = {"type": "list", "items": inner, "min_items": None, "max_items": None}
    for a in args[1:]:
        if isinstance(a, ast.Bound) and _nonneg_int(a.value) is not None:
            model[f"{a.which}_items"] = _nonneg_int(a.value)
        else:
            bad("after the item type, 'list' takes 'max N' and 'min N'", a.span)
            return None
    return _check_order(model, "min_items", "max_items", bad)


def _check_order(model: dict, lo: str, hi: str, bad) -> dict | None:
    if model[lo] is not None and model[hi] is not None and model[lo] > model[hi]:
        bad(f"min {model[lo]} is above max {model[hi]}")
        return None
    return model


def _nonneg_int(num: ast.Num) -> int | None:
    v = num.value
    return v if isinstance(v, int) and v >= 0 else None
