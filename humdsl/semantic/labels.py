"""Label sets (labels, entity types, event roles), guideline scopes and 'similar' groups."""
from __future__ import annotations

import re

from .. import codes
from ..diagnostics import did_you_mean
from ..syntax import ast
from .context import Context, Label, TaskModel
from .tasks import texts_of

# Label codes appear in outputs and grammars: printable, no surrounding blanks, no braces or quotes.
_BAD_CODE = re.compile(r'^\s|\s$|[\x00-\x1f"{}\[\]]')


def _label_items(ctx: Context, task: TaskModel, node: ast.Labels) -> tuple[list[ast.LabelItem], bool]:
    """The items of a label member, and whether its label-set reference (if any) resolved."""
    items: list[ast.LabelItem] = []
    resolved = True
    if node.ref is not None:
        sym = ctx.resolve(task.symbol.module, node.ref, ast.LabelSetDecl, "label set", task=task)
        if sym is not None:
            items.extend(sym.decl.block.items)
        resolved = sym is not None
    if node.block is not None:
        items.extend(node.block.items)
    return items, resolved


def _build_labels(ctx: Context, task: TaskModel, node: ast.Labels, noun: str) -> list[Label]:
    items, resolved = _label_items(ctx, task, node)
    out = _labels_from_items(ctx, task, items, node.keyword, noun)
    if not out and not items and resolved:
        ctx.error(codes.EMPTY_LABELS, f"the {node.keyword} set of '{task.name}' is empty", node.span,
                  task=task)
    return out


def check_label_sets(ctx: Context) -> None:
    """Label sets are checked where they are declared, whether or not a task uses them yet."""
    for module in ctx.modules():
        for sym in ctx.namespaces.get(module.key, {}).values():
            if isinstance(sym.decl, ast.LabelSetDecl):
                _labels_from_items(ctx, None, sym.decl.block.items, None, "label")


def _labels_from_items(ctx: Context, task: TaskModel | None, items, keyword: str | None,
                       noun: str) -> list[Label]:
    """Labels from declared items. `task` is None for a label set on its own: then the checks
    that depend on the task kind (which signature a label may carry) are left to its users."""
    out: list[Label] = []
    seen: dict[str, ast.LabelItem] = {}
    names: dict[str, ast.LabelItem] = {}
    for item in items:
        code = item.code.text
        if not code or _BAD_CODE.search(code):
            ctx.error(codes.BAD_LABEL_CODE, f"'{code}' cannot be a {noun} code", item.code.span,
                      notes=["codes may not be empty, start or end with a blank, or hold quotes, "
                             "braces, brackets or control characters"], task=task)
            continue
        if code in seen:
            first = seen[code]
            ctx.error(codes.DUPLICATE_LABEL, f"{noun} '{code}' is declared twice", item.code.span,
                      notes=[f"first declared at {first.code.span.path}:{first.code.span.line}"], task=task)
            continue
        seen[code] = item
        natural = item.name.value if item.name is not None else None
        if item.name is not None and not item.name.value.strip():
            ctx.error(codes.EMPTY_TEXT, f"empty name for {noun} '{code}'", item.name.span, task=task)
            natural = None
        key = (natural or code).casefold()
        if key in names:
            other = names[key]
            ctx.error(codes.DUPLICATE_LABEL_NAME,
                      f"{noun} '{code}' has the same natural name as '{other.code.text}'",
                      (item.name or item.code).span,
                      notes=["formats that write names (such as 'Obama is a person.') could not "
                             "tell them apart; give each a distinct name"], task=task)
        names[key] = item
        descriptions = texts_of(ctx, task, item.descriptions, "description", f"label {code}")
        label = Label(code, natural, descriptions, item.span)
        label.renamed_from = [r.text for r in item.renamed_from]
        sig = item.signature
        if task is None:
            if isinstance(sig, ast.RelSignature):
                label.head, label.tail = sig.head.text, sig.tail.text
            elif isinstance(sig, ast.RoleSignature):
                label.roles = [r.text for r in sig.roles]
        elif isinstance(sig, ast.RelSignature):
            if keyword != "labels" or task.kind != "relations":
                ctx.error(codes.BAD_REL_SIGNATURE, "only relation labels take a (head -> tail) signature",
                          sig.span, task=task)
            else:
                label.head, label.tail = sig.head.text, sig.tail.text
        elif isinstance(sig, ast.RoleSignature):
            if keyword != "labels" or task.kind != "events":
                ctx.error(codes.BAD_ROLE_SIGNATURE, "only event labels take roles(...)", sig.span, task=task)
            else:
                label.roles = [r.text for r in sig.roles]
        out.append(label)
    _check_renames(ctx, task, items, seen, noun)
    return out


def _check_renames(ctx: Context, task: TaskModel | None, items, declared: dict, noun: str) -> None:
    """A label renamed from a code the task still declares, or two labels renamed from one."""
    claimed: dict[str, str] = {}
    for item in items:
        for old in item.renamed_from:
            if old.text in declared:
                ctx.error(codes.BAD_RENAME, f"{noun} '{item.code.text}' is renamed from '{old.text}', "
                          f"which is still a {noun} here", old.span,
                          notes=["renamed_from names the codes this label had in earlier versions"], task=task)
            elif old.text in claimed:
                ctx.error(codes.BAD_RENAME, f"'{old.text}' is renamed to both '{claimed[old.text]}' and "
                          f"'{item.code.text}'", old.span, task=task)
            else:
                claimed[old.text] = item.code.text


def resolve_labels(ctx: Context) -> None:
    for task in ctx.tasks:
        for keyword, attr, noun in (("labels", "labels", "label"), ("types", "types", "entity type"),
                                    ("roles", "roles", "role")):
            nodes = task.members.get(keyword)
            if not nodes:
                continue
            node = nodes[0]
            setattr(task, attr, _build_labels(ctx, task, node, noun))
        _check_signatures(ctx, task)


def _check_signatures(ctx: Context, task: TaskModel) -> None:
    if task.kind == "relations":
        types = {t.code for t in task.types}
        for label in task.labels:
            for end, value in (("head", label.head), ("tail", label.tail)):
                if value is None:
                    continue
                if not task.types:
                    ctx.error(codes.BAD_REL_SIGNATURE,
                              f"relation '{label.code}' names a {end} type but the task declares no types",
                              label.span, notes=["add types { ... } listing the entity types"], task=task)
                    break
                if value not in types:
                    ctx.error(codes.BAD_REL_SIGNATURE, f"unknown entity type '{value}' in the signature "
                              f"of '{label.code}'", label.span, suggestions=did_you_mean(value, types),
                              task=task)
    if task.kind == "events":
        roles = {r.code for r in task.roles}
        for label in task.labels:
            for role in label.roles or []:
                if role not in roles:
                    ctx.error(codes.BAD_ROLE_SIGNATURE, f"event '{label.code}' lists unknown role '{role}'",
                              label.span, suggestions=did_you_mean(role, roles), task=task)
            if label.roles is not None and len(set(label.roles)) != len(label.roles):
                ctx.error(codes.BAD_ROLE_SIGNATURE, f"event '{label.code}' lists a role twice",
                          label.span, task=task)


def check_guidelines(ctx: Context) -> None:
    for task in ctx.tasks:
        seen: dict[str, ast.Guideline] = {}
        scope_pool = {lab.code for lab in task.labels} | {r.code for r in task.roles} | \
                     {t.code for t in task.types}
        if task.kind == "record":
            scope_pool |= {f["name"] for f in _field_names(task)}
        for node in task.members.get("guideline", []):
            gid = node.name.text
            if gid in seen:
                ctx.error(codes.DUPLICATE_GUIDELINE, f"guideline '{gid}' is declared twice", node.name.span,
                          notes=[f"first declared at line {seen[gid].span.line}; add paraphrases to it "
                                 "with '|' instead"], task=task)
                continue
            seen[gid] = node
            scope = []
            for name in node.scope:
                if name.text not in scope_pool:
                    ctx.error(codes.UNKNOWN_SCOPE, f"guideline '{gid}' is scoped to unknown "
                              f"label or role '{name.text}'", name.span,
                              suggestions=did_you_mean(name.text, scope_pool), task=task)
                elif name.text not in scope:
                    scope.append(name.text)
            texts = texts_of(ctx, task, node.texts, "guideline", f"guideline {gid}")
            task.guidelines.append({"id": gid, "scope": scope, "texts": texts})


def _field_names(task: TaskModel) -> list[dict]:
    fields = task.members.get("fields")
    if not fields:
        return []
    return [{"name": f.name.text} for f in fields[0].items]


def check_similar(ctx: Context) -> None:
    for task in ctx.tasks:
        codes_ = set(task.label_codes())
        for node in task.members.get("similar", []):
            group: list[str] = []
            for name in node.labels:
                if name.text not in codes_:
                    ctx.error(codes.BAD_SIMILAR, f"unknown label '{name.text}' in 'similar'", name.span,
                              suggestions=did_you_mean(name.text, codes_), task=task)
                elif name.text in group:
                    ctx.error(codes.BAD_SIMILAR, f"'{name.text}' is listed twice", name.span, task=task)
                else:
                    group.append(name.text)
            if len(node.labels) < 2:
                ctx.error(codes.BAD_SIMILAR, "a 'similar' group needs at least two labels", node.span,
                          task=task)
            elif len(group) >= 2:
                task.similar.append(group)
