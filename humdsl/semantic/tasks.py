"""Task structure: kind, which members appear and how often, version, settings; advice."""
from __future__ import annotations

import re

from .. import codes
from ..diagnostics import did_you_mean
from ..ir_types import InputIR
from ..kinds import COMMON_MEMBERS, KINDS, MEMBER_KEYWORDS
from ..syntax import ast
from .context import Context, TaskModel

MEMBER_OF = {
    ast.Version: "version", ast.About: "about", ast.Guideline: "guideline", ast.Prefer: "prefer",
    ast.Instruction: "instruction", ast.Formats: "formats", ast.Similar: "similar",
    ast.InputField: "input", ast.Fields: "fields", ast.Synth: "synth",
    ast.RunProfile: "run", ast.Approve: "approve", ast.AnswerName: "answer",
}
SINGLE = {"version", "about", "answer", "labels", "types", "roles", "fields", "synth", "run", "formats"}

# Semantic versioning 2.0.0, as the spec's own regular expression.
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")


def member_keyword(node) -> str:
    if isinstance(node, ast.Labels):
        return node.keyword
    if isinstance(node, ast.Example):
        return node.keyword
    if isinstance(node, ast.Setting):
        return "setting"
    return MEMBER_OF[type(node)]


def build_tasks(ctx: Context) -> None:
    for module in ctx.modules():
        for sym in ctx.namespaces.get(module.key, {}).values():
            if isinstance(sym.decl, ast.Task):
                ctx.tasks.append(_build_task(ctx, sym))
    ctx.tasks.sort(key=lambda t: (t.symbol.module.key, t.decl.span.start))


def _build_task(ctx: Context, sym) -> TaskModel:
    decl: ast.Task = sym.decl
    kind_name = decl.kind.text
    task = TaskModel(sym, kind_name if kind_name in KINDS else None)
    if task.kind is None:
        ctx.error(codes.UNKNOWN_KIND, f"unknown task kind '{kind_name}'", decl.kind.span,
                  notes=["the kinds are: " + ", ".join(KINDS)],
                  suggestions=did_you_mean(kind_name, KINDS), task=task)
    kind = KINDS.get(task.kind) if task.kind else None
    for node in decl.members:
        key = member_keyword(node)
        if key == "setting":
            assert isinstance(node, ast.Setting)  # member_keyword says "setting" only for these
            _setting(ctx, task, node)
            continue
        task.members.setdefault(key, []).append(node)
        if kind is not None and key not in COMMON_MEMBERS and key not in kind.allowed:
            where = [k.name for k in KINDS.values() if key in k.allowed]
            ctx.error(codes.MEMBER_NOT_ALLOWED, f"a {kind.name} task has no '{key}'", node.span,
                      notes=[f"'{key}' belongs to {' and '.join(where)} tasks"] if where else [],
                      task=task)
    for key, nodes in task.members.items():
        if key in SINGLE and len(nodes) > 1:
            for extra in nodes[1:]:
                ctx.error(codes.MEMBER_REPEATED, f"'{key}' is given more than once", extra.span,
                          notes=[f"first given at line {nodes[0].span.line}"], task=task)
    if kind is not None:
        for key in sorted(kind.required):
            if key not in task.members:
                ctx.error(codes.MISSING_MEMBER, f"a {kind.name} task needs '{key}'", decl.name.span,
                          notes=[_REQUIRED_HINT.get(key, "")], task=task)
    if "version" in task.members:
        node = task.members["version"][0]
        task.version = node.value.value
        if not SEMVER.match(task.version):
            ctx.error(codes.BAD_VERSION, f"'{task.version}' is not a semantic version", node.value.span,
                      notes=["write MAJOR.MINOR.PATCH, e.g. \"1.0.0\" or \"2.1.0-beta.1\""], task=task)
    if "about" in task.members:
        task.about = task.members["about"][0].text.value
    for node in task.members.get("approve", []):
        version, reason = node.version.value, node.reason.value
        if not SEMVER.match(version):
            ctx.error(codes.BAD_APPROVAL, f"'{version}' is not a semantic version", node.version.span,
                      notes=["approve \"VERSION\" \"REASON\": the version whose changes are intended"], task=task)
        elif not reason.strip():
            ctx.error(codes.BAD_APPROVAL, "an approval needs its reason", node.reason.span, task=task)
        else:
            task.approvals.append({"version": version, "reason": reason})
    for node in task.members.get("instruction", []):
        task.instructions += _texts(ctx, task, node.texts, "instruction", "instruction")
    task.inputs = _inputs(ctx, task)
    if "answer" in task.members:
        task.answer_name = _shown_name(ctx, task, task.members["answer"][0].text, "the answer")
    return task


_REQUIRED_HINT = {
    "labels": "declare them with labels { CODE \"name\" : \"description\" ... }",
    "roles": "declare the argument roles with roles { Role \"name\" : \"description\" ... }",
    "fields": "declare them with fields { name type : \"description\" ... }",
}


def _setting(ctx: Context, task: TaskModel, node: ast.Setting) -> None:
    kind = KINDS.get(task.kind) if task.kind else None
    name = node.name.text
    allowed = kind.settings if kind else frozenset()
    all_settings = set().union(*(k.settings for k in KINDS.values()))
    if name not in allowed:
        if name in all_settings and kind is not None:
            ctx.error(codes.MEMBER_NOT_ALLOWED, f"'{name}' does not apply to a {kind.name} task",
                      node.span, task=task)
        else:
            ctx.error(codes.UNKNOWN_SETTING, f"unknown task member '{name}'", node.name.span,
                      suggestions=did_you_mean(name, MEMBER_KEYWORDS + sorted(all_settings)), task=task)
        return
    if name in task.settings:
        ctx.error(codes.MEMBER_REPEATED, f"'{name}' is given more than once", node.span, task=task)
    value = node.value
    if value is None:
        task.settings[name] = True
    elif isinstance(value, ast.Bool):
        task.settings[name] = value.value
    else:
        ctx.error(codes.BAD_SETTING_VALUE, f"'{name}' is a flag: write '{name}' or '{name} false'",
                  value.span, task=task)


def _texts(ctx: Context, task: TaskModel | None, texts, what: str, slot: str | None = None) -> list[str]:
    """A text and its alternatives as prompts use them: blank ones and repeats reported and left
    out, and so are proposed ones unless the analysis includes them. A proposal is checked like
    the others and, where `task` and `slot` are given, noted on the task for its IR."""
    check_first_accepted(ctx, task, texts, what)
    seen: dict[str, int] = {}
    out = []
    for t in texts:
        if not t.value.strip():
            ctx.error(codes.EMPTY_TEXT, f"empty {what} text", t.span, task=task)
            continue
        if t.value in seen:
            ctx.error(codes.DUPLICATE_TEXT, f"this {what} text is given twice", t.span,
                      notes=[f"first at line {seen[t.value]}"], task=task)
            continue
        seen[t.value] = t.span.line
        if t.proposed:
            if task is not None and slot is not None:
                task.proposed.append((t.span, slot, t.value))
            if not ctx.with_proposed:
                continue
        out.append(t.value)
    return out


def texts_of(ctx: Context, task: TaskModel | None, texts, what: str, slot: str | None = None) -> list[str]:
    return _texts(ctx, task, texts, what, slot)


def check_first_accepted(ctx: Context, task: TaskModel | None, texts, what: str) -> None:
    """The first text is the canonical one, shown by default: it cannot wait for review."""
    if texts and texts[0].proposed:
        ctx.error(codes.PROPOSED_FIRST, f"the first {what} text cannot be proposed", texts[0].span,
                  notes=["only an alternative after '|' may be marked proposed; accept it by "
                         "deleting 'proposed', or put an accepted text first"], task=task)


STANDARD_INPUTS = {"text": "The input text.", "question": "The question to answer."}


def _inputs(ctx: Context, task: TaskModel) -> list[InputIR]:
    kind = KINDS.get(task.kind or "")
    fields: list[InputIR] = [{"name": name, "descriptions": []} for name in (kind.inputs if kind else ("text",))]
    seen = {f["name"]: f for f in fields}
    for node in task.members.get("input", []):
        name = node.name.text
        texts = _texts(ctx, task, node.texts, "input description", f"input {name}")
        if name in seen and (seen[name]["descriptions"] or "shown" in seen[name]):
            ctx.error(codes.MEMBER_REPEATED, f"input '{name}' is declared twice", node.name.span, task=task)
            continue
        if name not in seen:
            seen[name] = {"name": name, "descriptions": []}
            fields.append(seen[name])
        seen[name]["descriptions"] = texts
        shown = _shown_name(ctx, task, node.shown, f"input '{name}'") if node.shown is not None else None
        if shown:  # only where declared: other specs keep their hashes
            seen[name]["shown"] = shown
    return fields


def _shown_name(ctx: Context, task: TaskModel, text: ast.Str, what: str) -> str | None:
    """A name the prompt shows before a colon ("Sentence: ...", "Sentiment: ..."): one line, not blank."""
    value = text.value.strip()
    if not value or "\n" in value or value.endswith(":"):
        ctx.error(codes.BAD_SHOWN_NAME, f"{what} is shown as {text.value!r}: write one short line, "
                  f"without the colon the prompt adds", text.span, task=task)
        return None
    return value


def advise(ctx: Context) -> None:
    for task in ctx.tasks:
        if task.symbol.module.key not in ctx.program.entries or not task.ok:
            continue
        if "instruction" not in task.members:
            ctx.error(codes.NO_INSTRUCTION, f"task '{task.name}' has no instruction phrasing",
                      task.decl.name.span,
                      notes=["a generic instruction for its kind will be used; write "
                             "instruction \"...\" | \"...\" for better prompts and more diverse data"])
