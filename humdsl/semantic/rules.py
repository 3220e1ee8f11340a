"""Preference rules: declarations (effect, parameters, phrasings) and each task's 'prefer' list."""
from __future__ import annotations

import re

from .. import codes
from ..diagnostics import did_you_mean
from ..ir_types import EffectIR, Enforcement, RuleIR
from ..kinds import EFFECTS
from ..syntax import ast
from .context import Context, TaskModel
from .tasks import check_first_accepted, texts_of

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _positive_int(value) -> int | None:
    if isinstance(value, ast.Num):
        try:
            n = int(value.raw)
        except ValueError:
            return None
        return n if n > 0 else None
    return None


def check_rule_decls(ctx: Context) -> None:
    for module in ctx.modules():
        for sym in ctx.namespaces.get(module.key, {}).values():
            if isinstance(sym.decl, ast.RuleDecl):
                _check_rule(ctx, sym.decl)


def _check_rule(ctx: Context, decl: ast.RuleDecl) -> None:
    params = [p.text for p in decl.params]
    for i, p in enumerate(decl.params):
        if p.text in params[:i]:
            ctx.error(codes.RULE_ARGS, f"parameter '{p.text}' is declared twice", p.span)
    if decl.effect is not None:
        eff = EFFECTS.get(decl.effect.name.text)
        if eff is None:
            ctx.error(codes.UNKNOWN_EFFECT, f"unknown rule effect '{decl.effect.name.text}'",
                      decl.effect.name.span, notes=["the effects are: " + ", ".join(EFFECTS)],
                      suggestions=did_you_mean(decl.effect.name.text, EFFECTS))
        elif len(decl.effect.args) != len(eff.params):
            ctx.error(codes.RULE_ARGS, f"effect '{eff.name}' takes {len(eff.params)} argument(s), "
                      f"got {len(decl.effect.args)}", decl.effect.span)
        else:
            for arg in decl.effect.args:
                if isinstance(arg, ast.QName) and len(arg.parts) == 1 and arg.dotted in params:
                    continue
                if _positive_int(arg) is None:
                    ctx.error(codes.RULE_ARGS, "an effect argument must be a positive whole number or "
                              "one of the rule's parameters", arg.span)
    check_first_accepted(ctx, None, decl.texts, "rule")
    for text in decl.texts:
        for m in _PLACEHOLDER.finditer(text.value):
            if m.group(1) not in params:
                ctx.error(codes.RULE_ARGS, f"'{{{m.group(1)}}}' is not a parameter of rule "
                          f"'{decl.name.text}'", text.span,
                          suggestions=did_you_mean(m.group(1), params))


def resolve_prefers(ctx: Context) -> None:
    for task in ctx.tasks:
        seen_rules: dict[str, ast.Prefer] = {}
        seen_effects: dict[str, ast.Prefer] = {}
        for node in task.members.get("prefer", []):
            rule = _inline_rule(ctx, task, node) if node.texts else _referenced_rule(ctx, task, node)
            if rule is None:
                continue
            if rule["id"] in seen_rules:
                ctx.error(codes.RULE_REPEATED, f"rule '{node.ref.dotted}' is preferred twice", node.span,
                          notes=[f"first at line {seen_rules[rule['id']].span.line}"], task=task)
                continue
            seen_rules[rule["id"]] = node
            effect = rule["effect"]
            if effect is not None:
                spec = EFFECTS[effect["name"]]
                if task.kind is not None and task.kind not in spec.kinds:
                    ctx.error(codes.RULE_NOT_APPLICABLE, f"rule '{node.ref.dotted}' ({spec.summary}) "
                              f"does not apply to a {task.kind} task", node.span, task=task)
                    continue
                if effect["name"] in seen_effects:
                    other = seen_effects[effect["name"]]
                    ctx.error(codes.RULE_REPEATED, f"rule '{node.ref.dotted}' and rule "
                              f"'{other.ref.dotted}' both set '{effect['name']}'", node.span,
                              notes=[f"the other is at line {other.span.line}"], task=task)
                    continue
                seen_effects[effect["name"]] = node
            task.rules.append(rule)


def _inline_rule(ctx: Context, task: TaskModel, node: ast.Prefer) -> RuleIR | None:
    if len(node.ref.parts) != 1 or node.args:
        ctx.error(codes.BAD_INLINE_RULE, "an inline rule needs a plain name and no arguments: "
                  "prefer name : \"text\" | \"text\"", node.ref.span, task=task)
        return None
    texts = texts_of(ctx, task, node.texts, "rule", f"rule {node.ref.dotted}")
    return {"id": f"{task.name}.{node.ref.dotted}", "name": node.ref.dotted, "effect": None,
            "enforced_by": "advisory", "texts": texts}


def _referenced_rule(ctx: Context, task: TaskModel, node: ast.Prefer) -> RuleIR | None:
    sym = ctx.resolve(task.symbol.module, node.ref, ast.RuleDecl, "rule", task=task)
    if sym is None:
        return None
    decl: ast.RuleDecl = sym.decl
    params = [p.text for p in decl.params]
    if len(node.args) != len(params):
        sig = f"{decl.name.text}({', '.join(params)})" if params else decl.name.text
        ctx.error(codes.RULE_ARGS, f"rule '{node.ref.dotted}' takes {len(params)} argument(s), "
                  f"got {len(node.args)}", node.span, notes=[f"write: prefer {sig}"], task=task)
        return None
    bound: dict[str, int] = {}
    for name, arg in zip(params, node.args):
        n = _positive_int(arg)
        if n is None:
            ctx.error(codes.RULE_ARGS, f"argument '{name}' must be a positive whole number", arg.span,
                      task=task)
            return None
        bound[name] = n
    effect: EffectIR | None = None
    enforced_by: Enforcement = "advisory"
    if decl.effect is not None and decl.effect.name.text in EFFECTS:
        spec = EFFECTS[decl.effect.name.text]
        args: dict[str, int] = {}
        for pname, arg in zip(spec.params, decl.effect.args):
            if isinstance(arg, ast.QName):
                if arg.dotted not in bound:
                    return None  # reported at the declaration
                args[pname] = bound[arg.dotted]
            else:
                value = _positive_int(arg)
                if value is None:
                    return None  # reported at the declaration
                args[pname] = value
        effect = {"name": spec.name, "args": args}
        enforced_by = spec.enforced_by
    elif decl.effect is not None:
        return None  # unknown effect: reported at the declaration
    texts = []
    for t in decl.texts:
        if not t.value.strip():
            continue
        text = _PLACEHOLDER.sub(lambda m: str(bound.get(m.group(1), m.group(0))), t.value)
        if t.proposed:  # as _texts does: noted for the IR, used only when asked for
            task.proposed.append((t.span, f"rule {decl.name.text}", text))
            if not ctx.with_proposed:
                continue
        texts.append(text)
    return {"id": sym.qualified, "name": decl.name.text, "effect": effect, "enforced_by": enforced_by,
            "texts": texts}
