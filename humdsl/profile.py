"""A task's run profile: how `humc run` asks the model when the command line does not say,
declared in the spec's `run { }` block (which `humc tune` writes) and checked with the spec.

    run {
      answer_format "tuples"
      shots_from "data/train.jsonl"
      decision "calibrated"
    }
"""
from __future__ import annotations

DECISIONS = ("greedy", "exact", "calibrated", "channel", "knn")  # runtime/decisions.py, runtime/neighbours.py
PROMPT_STYLES = ("chat", "plain")  # the chat template's user turn, or a plain document
PROMPT_PARTS = ("full", "lean", "bare")  # prompts.py: what of the task the prompt shows
# entity tasks' rules across spans: kept while decoding, all but appearance kept so, or left to the parser
SPAN_RULE_MODES = ("decoder", "unordered", "parser")
SHOT_SPAN_MODES = ("off", "on")  # entity tasks: keep the words the shown examples label (shot_spans.py)

# name -> (type, check, what it means); declared once, for the checker, `humc run` and `humc tune`
SETTINGS = {
    "answer_format": (str, lambda v: bool(v), "the output format, one of the task's"),
    "phrasing": (int, lambda v: v >= 1, "which instruction phrasing, counted from 1"),
    "prompt": (str, lambda v: v in PROMPT_PARTS,
               "what of the task the prompt shows: full; lean (no about, guidelines or rules); "
               "bare (lean, and labels without descriptions)"),
    "shots": (int, lambda v: v >= 0, "how many worked examples the prompt shows"),
    "shots_from": (str, lambda v: bool(v.strip()),
                   "a labelled dataset file, relative to the spec, whose examples most similar to each "
                   "input are shown"),
    "decision": (str, lambda v: v in DECISIONS, "greedy, exact, calibrated, channel or knn (knn compares with shots_from, else the task's examples)"),
    "prompt_style": (str, lambda v: v in PROMPT_STYLES,
                     "chat or plain (plain needs decision exact or calibrated)"),
    "span_rules": (str, lambda v: v in SPAN_RULE_MODES,
                   "entity tasks: decoder (dedupe, appearance and no_overlap kept while decoding), unordered "
                   "(all but appearance) or parser"),
    "shot_spans": (str, lambda v: v in SHOT_SPAN_MODES,
                   "entity tasks: on (the words the shown examples label keep their label) or off"),
    "focus": (int, lambda v: v >= 0,
              "qa tasks' exact decisions: how many passage sentences, those most like the question, have "
              "their spans scored (0: every sentence)"),
}
DEFAULTS = {"answer_format": None, "phrasing": 1, "prompt": "full", "shots": None, "shots_from": None,
            "decision": "greedy", "prompt_style": "chat", "span_rules": "decoder",
            "shot_spans": "off", "focus": 1}


def block(profile: dict, indent: str = "  ") -> str:
    """The `run { }` block of a profile, in the layout `humc fmt` gives it."""
    import json

    lines = [f"{indent}run {{"]
    for name in SETTINGS:
        if profile.get(name) is not None:
            lines.append(f"{indent}  {name} {json.dumps(profile[name], ensure_ascii=False)}")
    return "\n".join(lines + [f"{indent}}}"])
