"""The run profile block: what `humc run` uses when its command line does not say (profile.py)."""
from __future__ import annotations

from .. import codes
from ..diagnostics import did_you_mean
from ..kinds import KINDS
from ..profile import SETTINGS
from .context import Context
from .synth import valid_settings


def check_run_profile(ctx: Context) -> None:
    for task in ctx.tasks:
        profile: dict = {}
        for node in task.members.get("run", [])[:1]:
            for s, name, value in valid_settings(ctx, task, node, SETTINGS, "run profile setting",
                                                 codes.UNKNOWN_RUN_SETTING, codes.BAD_RUN_VALUE):
                problem = _fits(name, value, task)
                if problem:
                    ctx.error(codes.BAD_RUN_VALUE, f"invalid value for '{name}'", s.value.span,
                              notes=[problem], task=task,
                              suggestions=did_you_mean(value, _format_names(task)) if name == "answer_format" else [])
                    continue
                profile[name] = value
            if profile.get("prompt_style", "chat") != "chat" and profile.get("decision", "greedy") == "greedy":
                ctx.error(codes.BAD_RUN_VALUE, "prompt_style 'plain' needs decision 'exact' or 'calibrated'",
                          node.span, task=task)
            if profile.get("decision") == "knn" and not profile.get("shots_from") and not task.examples:
                ctx.error(codes.BAD_RUN_VALUE, "decision 'knn' needs shots_from or examples of the task: the "
                          "labelled examples it compares each input with", node.span, task=task)
        task.run_profile = profile


def _fits(name: str, value, task) -> str | None:
    """Why a well-typed value does not fit this task, or None."""
    if name == "answer_format" and task.formats and value not in _format_names(task):
        return "the task's formats are: " + ", ".join(_format_names(task))
    if name == "phrasing":
        count = len(task.instructions)  # as the IR lists them: proposals only when included
        if value > max(1, count):
            return f"the task has {max(1, count)} instruction phrasing(s)"
    kind = KINDS.get(task.kind or "")
    if name == "decision" and value not in (kind.decisions if kind else ("greedy",)):
        return (f"'{value}' scores every answer, which only a classify task's answers (and with exact, a qa "
                f"task's spans in focus) are few enough for")
    if name == "prompt_style" and value != "chat" and not (kind and len(kind.decisions) > 1):
        return f"'{value}' prompts are for decisions that score whole answers, which this task's kind has none of"
    if name == "span_rules" and not (kind and kind.span_rules):
        return "rules across spans are kept while decoding in entity tasks only"
    if name == "shot_spans" and value == "on" and not (kind and kind.span_rules):
        return "shot spans are for entity tasks only"
    if name == "focus" and not (kind and kind.focused):
        return "focus is for a qa task's exact decisions"
    return None


def _format_names(task) -> list[str]:
    return [f["name"] for f in task.formats]
