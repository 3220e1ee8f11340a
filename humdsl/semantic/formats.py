"""Format declarations (keys, holes, shape) and the formats each task uses."""
from __future__ import annotations

from .. import codes
from ..diagnostics import did_you_mean
from ..formats.template import TemplateError, parse_template
from ..ir_types import FormatIR
from ..kinds import KINDS
from ..syntax import ast
from .context import Context, Symbol

TEXT_KEYS = {"item", "inline"}  # values are templates with holes
PLAIN_KEYS = {"join", "empty", "before", "after"}
SHAPE_KEYS = {"item", "json", "inline"}
ALL_KEYS = sorted(TEXT_KEYS | PLAIN_KEYS | SHAPE_KEYS | {"describe"})


def check_format_decls(ctx: Context) -> None:
    for module in ctx.modules():
        for sym in ctx.namespaces.get(module.key, {}).values():
            if isinstance(sym.decl, ast.FormatDecl):
                ctx.format_checked[id(sym.decl)] = _check_format(ctx, sym.decl)


# The holes a format may group items by (formats.items.Schema.hole_kind: 'label' holes).
_LABEL_HOLES = frozenset(hole for k in KINDS.values() for table in (k.label_holes, k.nested_label_holes)
                         for hole in table)


def _check_format(ctx: Context, decl: ast.FormatDecl) -> bool:
    before = len(ctx.diags.items)
    kinds = []
    for k in decl.kinds:
        if k.text not in KINDS:
            ctx.error(codes.UNKNOWN_KIND, f"unknown task kind '{k.text}'", k.span,
                      suggestions=did_you_mean(k.text, KINDS))
        else:
            kinds.append(KINDS[k.text])
    if len(kinds) != len(decl.kinds) or not kinds:
        return False  # the holes depend on the kinds: check the body once they are right
    holes = frozenset.intersection(*(k.holes for k in kinds))
    nested = {}
    for kind in kinds:
        for hole, inner in kind.nested.items():
            nested[hole] = inner
    mode = "list" if kinds and all(k.list_key for k in kinds) else "item"
    _check_block(ctx, decl.stmts, holes, nested, decl.name.text, decl.span, top=True, mode=mode)
    return not any(d.is_error for d in ctx.diags.items[before:])


def _check_block(ctx, stmts, holes, nested, fname, span, top: bool, mode: str = "item") -> None:
    seen: dict[str, ast.FormatSetting] = {}
    shapes = []
    for stmt in stmts:
        if isinstance(stmt, ast.FormatNested):
            hole = stmt.hole.text
            if hole not in nested:
                ctx.error(codes.BAD_FORMAT, f"'{hole}' is not a list inside an item of this kind",
                          stmt.hole.span, suggestions=did_you_mean(hole, nested))
                continue
            _check_block(ctx, stmt.stmts, nested[hole], {}, fname, stmt.span, top=False)
            continue
        key = stmt.key.text
        if key not in ALL_KEYS:
            ctx.error(codes.BAD_FORMAT, f"unknown format key '{key}'", stmt.key.span,
                      notes=["the keys are: " + ", ".join(ALL_KEYS)], suggestions=did_you_mean(key, ALL_KEYS))
            continue
        if key in seen:
            ctx.error(codes.BAD_FORMAT, f"'{key}' is given twice in format '{fname}'", stmt.key.span)
            continue
        seen[key] = stmt
        if key in SHAPE_KEYS:
            shapes.append(stmt)
        if key == "describe":
            for v in stmt.values:
                if not isinstance(v, ast.Str):
                    ctx.error(codes.BAD_FORMAT, "'describe' takes strings", v.span)
            continue
        if len(stmt.values) != 1:
            ctx.error(codes.BAD_FORMAT, f"'{key}' takes one value", stmt.span)
            continue
        value = stmt.values[0]
        if key == "json":
            _check_json_template(ctx, value, holes, nested, mode)
        elif not isinstance(value, ast.Str):
            ctx.error(codes.BAD_FORMAT, f"'{key}' takes a string", value.span)
        elif key in TEXT_KEYS:
            _check_text_template(ctx, value, holes)
    if top and len(shapes) != 1:
        where = shapes[1].span if len(shapes) > 1 else span
        ctx.error(codes.BAD_FORMAT, f"format '{fname}' needs exactly one of 'item', 'json' or 'inline'",
                  where, notes=["'item' is a line template, 'json' a JSON template, 'inline' marks "
                                "spans inside the input text"])
    if not top and "item" not in seen:
        ctx.error(codes.BAD_FORMAT, "a nested 'for' block needs an 'item' template", span)


def _check_text_template(ctx, value: ast.Str, holes) -> None:
    try:
        parts = parse_template(value.value)
    except TemplateError as e:
        ctx.error(codes.BAD_FORMAT, e.message, value.span)
        return
    for p in parts:
        if p.kind == "hole" and p.value not in holes:
            ctx.error(codes.BAD_FORMAT, f"unknown hole '{{{p.value}}}'", value.span,
                      notes=["holes here: " + ", ".join("{" + h + "}" for h in sorted(holes))],
                      suggestions=did_you_mean(p.value, holes))


def _check_json_template(ctx, value, holes, nested, mode: str) -> None:
    """Check a JSON template. In "list" mode, [T] repeats T over the items (T in "item" mode) and
    {hole: ...} groups the items by a hole; in "item" mode bare names are holes, "quoted" keys are
    fixed, and a list or a grouping object iterates the kind's nested list (event arguments)."""
    if isinstance(value, ast.ListValue):
        if len(value.items) != 1:
            ctx.error(codes.BAD_FORMAT, "a list in a JSON template holds exactly one item template",
                      value.span)
            return
        if mode == "list":
            _check_json_template(ctx, value.items[0], holes, nested, "item")
        elif len(nested) == 1:
            inner = next(iter(nested.values()))
            _check_json_template(ctx, value.items[0], inner, {}, "item")
        else:
            ctx.error(codes.BAD_FORMAT, "a list here has nothing to repeat over", value.span)
        return
    if isinstance(value, ast.ObjectValue):
        grouped = [p for p in value.pairs if isinstance(p.key, ast.Name) and not p.key.quoted]
        if mode == "list" or grouped:
            scope = holes
            if mode == "item":
                if len(nested) != 1:
                    ctx.error(codes.BAD_FORMAT, "grouping by a hole needs a list to group", value.span)
                    return
                scope = next(iter(nested.values()))
            if len(value.pairs) != 1 or not grouped:
                ctx.error(codes.BAD_FORMAT, "a grouping object has one key, the hole to group by, "
                          "as in { type: [text] }", value.span)
                return
            key = grouped[0].key
            assert isinstance(key, ast.Name)  # `grouped` holds the pairs keyed by a name
            if key.text not in scope:
                ctx.error(codes.BAD_FORMAT, f"unknown hole '{key.text}' as a key; write "
                          f"\"{key.text}\" for a fixed key", key.span, suggestions=did_you_mean(key.text, scope))
                return
            if key.text not in _LABEL_HOLES:  # the formats write one key per label of the hole
                ctx.error(codes.BAD_FORMAT, f"'{key.text}' is not a label hole: a grouping object is keyed "
                          "by a label, as in { type: [text] }", key.span)
                return
            inner = grouped[0].value
            if not isinstance(inner, ast.ListValue):
                ctx.error(codes.BAD_FORMAT, "a grouping key holds a list template, as in { type: [text] }",
                          inner.span)
                return
            _check_json_template(ctx, inner, scope, {}, "list")
            return
        for pair in value.pairs:
            _check_json_template(ctx, pair.value, holes, nested, "item")
        return
    if mode == "list":
        ctx.error(codes.BAD_FORMAT, "the top of this JSON template must be a list [ ... ] or a grouping "
                  "object { type: [...] }", value.span)
        return
    if isinstance(value, ast.QName):
        if value.dotted not in holes:
            ctx.error(codes.BAD_FORMAT, f"unknown hole '{value.dotted}'", value.span,
                      notes=["holes here: " + ", ".join(sorted(holes))],
                      suggestions=did_you_mean(value.dotted, holes))
    elif not isinstance(value, (ast.Str, ast.Num, ast.Bool, ast.Null)):
        ctx.error(codes.BAD_FORMAT, "a JSON template holds objects, lists, holes and constants",
                  value.span)


def format_model(sym) -> FormatIR:
    decl: ast.FormatDecl = sym.decl
    return {"id": sym.qualified, "name": sym.name, "kinds": [k.text for k in decl.kinds],
            "decl": _block_model(decl.stmts)}


def _block_model(stmts) -> dict:
    out: dict = {}
    for stmt in stmts:
        if isinstance(stmt, ast.FormatNested):
            out.setdefault("for", {})[stmt.hole.text] = _block_model(stmt.stmts)
        elif stmt.key.text == "describe":
            out["describe"] = [v.value for v in stmt.values if isinstance(v, ast.Str)]
        elif stmt.key.text in TEXT_KEYS:
            out[stmt.key.text] = [p.to_json() for p in parse_template(stmt.values[0].value)]
        elif stmt.key.text == "json":
            out["json"] = _json_model(stmt.values[0])
        else:
            out[stmt.key.text] = stmt.values[0].value
    return out


def _json_model(value):
    if isinstance(value, ast.QName):
        return {"hole": value.dotted}
    if isinstance(value, ast.ListValue):
        return {"each": _json_model(value.items[0])}
    if isinstance(value, ast.ObjectValue):
        members = []
        for pair in value.pairs:
            if isinstance(pair.key, ast.Name) and not pair.key.quoted:
                members.append({"by": pair.key.text, "value": _json_model(pair.value)})
            else:
                key = pair.key.value if isinstance(pair.key, ast.Str) else pair.key.text
                members.append({"key": key, "value": _json_model(pair.value)})
        return {"object": members}
    if isinstance(value, ast.Str):
        return {"const": value.value}
    if isinstance(value, ast.Num):
        return {"const": value.value}
    if isinstance(value, ast.Bool):
        return {"const": value.value}
    return {"const": None}


def resolve_task_formats(ctx: Context) -> None:
    prelude_formats: list[Symbol] = []
    sym: Symbol | None
    for key in ctx.program.prelude:
        for sym in ctx.namespaces.get(key, {}).values():
            if isinstance(sym.decl, ast.FormatDecl):
                prelude_formats.append(sym)
    for task in ctx.tasks:
        chosen: list[Symbol] = []
        nodes = task.members.get("formats")
        if nodes:
            for ref in nodes[0].refs:
                sym = ctx.resolve(task.symbol.module, ref, ast.FormatDecl, "format", task=task)
                if sym is None:
                    continue
                kinds = [k.text for k in sym.decl.kinds]
                if task.kind is not None and task.kind not in kinds:
                    fitting = [s.name for s in prelude_formats if task.kind in [k.text for k in s.decl.kinds]]
                    ctx.error(codes.FORMAT_KIND_MISMATCH, f"format '{ref.dotted}' is for "
                              f"{' and '.join(kinds)} tasks, not {task.kind}", ref.span,
                              notes=[f"standard {task.kind} formats: " + ", ".join(fitting)] if fitting else [],
                              task=task)
                    continue
                if any(c.qualified == sym.qualified for c in chosen):
                    ctx.error(codes.MEMBER_REPEATED, f"format '{ref.dotted}' is listed twice", ref.span,
                              task=task)
                    continue
                chosen.append(sym)
        elif task.kind is not None:
            # No 'formats' line: every standard format of the kind (the stdlib has some for each).
            chosen = [s for s in prelude_formats if task.kind in [k.text for k in s.decl.kinds]]
        task.formats = [format_model(s) for s in chosen if ctx.format_checked.get(id(s.decl), False)]


def check_format_fit(ctx: Context) -> None:
    """Each format must be able to write the task's answers so that they parse back: a label or
    literal that holds the text meant to end a hole would make the output ambiguous. Formats a
    task gets by default (no 'formats' line) are dropped quietly when they do not fit."""
    from ..formats import FormatUnfit, build
    from ..ir import lower_task

    for task in ctx.tasks:
        if not task.ok or task.kind is None or not task.formats:
            continue
        ir = lower_task(task)
        explicit = task.members.get("formats")
        refs: dict[str, ast.QName] = {}
        if explicit:
            for ref in explicit[0].refs:
                refs.setdefault(ref.parts[-1].text, ref)
        kept = []
        for fmt_ir in task.formats:
            try:
                build(ir, fmt_ir).check_fit()
                kept.append(fmt_ir)
            except FormatUnfit as e:
                if explicit:
                    ref = refs.get(fmt_ir["name"])
                    ctx.error(codes.FORMAT_UNFIT, f"format '{fmt_ir['name']}' cannot serve task "
                              f"'{task.name}': {e}", ref.span if ref else task.decl.name.span, task=task)
                    kept.append(fmt_ir)
        task.formats = kept
