"""humc tune: measure the ways a spec already declares of asking for a task (decision rule,
worked examples, how much of the task the prompt shows, output format, instruction phrasing) on
a labelled dev file with the task's own metric, and keep the best as the task's run profile.

The search is coordinate ascent, deterministic: from the spec's current profile, each dimension
in a fixed order is tried at every value with the others held, and the best value is kept (a tie
keeps the current one); passes repeat until one changes nothing or `budget` settings have been
measured. Every setting is measured once (results are kept by setting). The winner is the best
of what was measured, and is written into the spec as its `run { }` block, so the change is
reviewed in git like any other.
"""
from __future__ import annotations

from .errors import HumError
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .kinds import KINDS
from .profile import DEFAULTS, PROMPT_PARTS, SHOT_SPAN_MODES, SPAN_RULE_MODES, block
from .ir_types import TaskIR, effect_of

DIMENSIONS = ("decision", "shots", "prompt", "answer_format", "phrasing", "span_rules", "shot_spans")
DEV_SIZE = 50  # dev examples measured by default
BUDGET = 16  # settings measured at most by default


class TuneError(HumError):
    """Tuning cannot start or its result cannot be written: a one-line message for the user."""


@dataclass
class Trial:
    profile: dict
    score: float
    valid: float
    seconds: float  # per input


@dataclass
class TuneResult:
    metric: str
    trials: list[Trial] = field(default_factory=list)

    @property
    def best(self) -> Trial:
        return max(self.trials, key=lambda t: t.score)  # the first measured wins a tie


def space(task_ir: TaskIR, shots_from: str | None, server: bool = False) -> dict[str, list]:
    """Each dimension's values for this task. A profile is a dict of the profile settings. On a
    server (`humc tune --engine openai`) decisions are greedy: scoring every answer needs the
    model's logits, which only humdsl's own loop has."""
    allowed = KINDS[task_ir["kind"]].decisions if not server else ("greedy",)
    # knn compares with the pool, else the task's own examples; it labels an entity task's own
    # words: only where its spans are grounded in the input
    knn = bool(shots_from or task_ir["examples"]) and (KINDS[task_ir["kind"]].decidable
                                or "grounded" in {effect_of(r) for r in task_ir["rules"]})
    tried = [("greedy", "chat"), ("exact", "chat"), ("calibrated", "chat"), ("exact", "plain"),
             ("calibrated", "plain"), ("channel", "plain")] + ([("knn", "plain")] if knn else [])
    # channel and knn: a plain document whatever the style; knn compares with the labelled examples
    decisions = [(d, style) for d, style in tried if d in allowed]
    # how many retrieved shots helps differs by task and format (bench/README.md: 8 lifts CoNLL-2003's
    # json_by_label, 4 is better for the tickets and sentences)
    shots = [(2, None), (0, None)] + ([(4, shots_from), (8, shots_from)] if shots_from else [])
    return {"decision": decisions, "shots": shots, "prompt": list(PROMPT_PARTS),
            "answer_format": [f["name"] for f in task_ir["formats"]],
            "phrasing": list(range(1, max(1, len(task_ir.get("instructions") or [])) + 1)),
            "span_rules": _span_rule_modes(task_ir) if not server else ["decoder"],
            # the examples' own labels kept: worth trying where examples are retrieved (shot_spans.py)
            "shot_spans": list(SHOT_SPAN_MODES) if KINDS[task_ir["kind"]].span_rules and shots_from else ["off"]}


def _span_rule_modes(task_ir: TaskIR) -> list[str]:
    """How the task's rules across spans may be kept (formats/span_rules.py): "unordered" only
    where it declares appearance, and nothing to choose where it has none of them."""
    from .formats.span_rules import SPAN_RULES

    effects = {effect_of(r) for r in task_ir["rules"]}
    if not KINDS[task_ir["kind"]].span_rules or not effects & set(SPAN_RULES):
        return ["decoder"]
    return [m for m in SPAN_RULE_MODES if m != "unordered" or "ordered" in effects]


def _get(profile: dict, dim: str):
    if dim == "decision":
        return (profile["decision"], profile["prompt_style"])
    if dim == "shots":
        return (profile["shots"], profile["shots_from"])
    return profile[dim]


def _set(profile: dict, dim: str, value) -> dict:
    out = dict(profile)
    if dim == "decision":
        out["decision"], out["prompt_style"] = value
    elif dim == "shots":
        out["shots"], out["shots_from"] = value
    else:
        out[dim] = value
    return out


def _effective(profile: dict) -> dict:
    """The settings that can change the answers: a channel document shows no instruction
    (runtime/decisions.py), so its prompt parts and phrasing are not tried one by one."""
    if profile.get("decision") == "channel":
        return {**profile, "prompt": None, "phrasing": None}
    return profile


def _runnable(profile: dict, pool: str | None = None) -> dict:
    """The profile as a run can take it: the examples' labels are kept only where examples are
    retrieved (shot_spans.py; `humc run` refuses it with the spec's own examples); knn compares
    each input with the labelled examples of `pool` (its prompt shows the spec's, `shots` of them),
    or with the spec's own examples where there is no pool."""
    if profile.get("shot_spans", "off") != "off" and not profile.get("shots_from"):
        profile = {**profile, "shot_spans": "off"}
    if profile.get("decision") == "knn" and not profile.get("shots_from") and pool:
        profile = {**profile, "shots_from": pool}
    return profile


def start_profile(task_ir: TaskIR) -> dict:
    """The spec's profile with every setting filled in."""
    current = {**DEFAULTS, **(task_ir.get("run") or {})}
    current["answer_format"] = current["answer_format"] or task_ir["formats"][0]["name"]
    if current["shots"] is None:
        current["shots"] = 4 if current["shots_from"] else 2
    return current


def search(task_ir: TaskIR, measure, shots_from: str | None = None, budget: int = BUDGET,
           progress=None, server: bool = False) -> list[Trial]:
    """Coordinate ascent over `space`; `measure(profile) -> Trial`. Returns every trial, in order."""
    values = space(task_ir, shots_from, server)
    current = start_profile(task_ir)
    if server and (current["decision"], current["prompt_style"]) not in values["decision"]:
        current["decision"], current["prompt_style"] = values["decision"][0]  # the spec's asks for logits
    if current["shots_from"] and (current["shots"], current["shots_from"]) not in values["shots"]:
        values["shots"].append((current["shots"], current["shots_from"]))
    seen: dict[str, Trial] = {}
    trials: list[Trial] = []

    def trial(profile: dict) -> Trial | None:
        profile = _runnable(profile, shots_from)
        key = json.dumps(_effective(profile), sort_keys=True)
        if key not in seen:
            if len(trials) >= budget:
                return None
            seen[key] = measure(profile)
            trials.append(seen[key])
            if progress:
                progress(seen[key], len(trials))
        return seen[key]

    best = trial(current)
    changed = True
    while changed and best is not None:
        changed = False
        for dim in DIMENSIONS:
            for value in values[dim]:
                if value == _get(current, dim):
                    continue
                got = trial(_set(current, dim, value))
                if got is None:
                    return trials
                if got.score > best.score:
                    best, current, changed = got, got.profile, True
    return trials


def tune(spec_path: str, task_name: str, dev: Path, adapter: str | None, model: str | None,
         n: int = DEV_SIZE, budget: int = BUDGET, shots_from: Path | None = None, progress=None,
         engine: dict | None = None) -> TuneResult:
    """Measure the task's settings on the first `n` examples of `dev` (any dataset file the
    adapters read) with `humc run`'s own path and `humc eval`'s metric."""
    from .adapters.readers import labelled, read_examples
    from .api import load_task
    from .evaluate import evaluate
    from .runtime.run import RunOptions, run

    task_ir = load_task(spec_path, task_name)
    try:
        examples, _ = read_examples(dev, adapter)
    except (ValueError, OSError) as e:
        raise TuneError(f"--dev {dev}: {e}") from None
    fields = [f["name"] for f in task_ir["inputs"]]
    examples = labelled(examples, fields)[:n]
    if not examples:
        raise TuneError(f"{dev} holds no labelled example with the task's inputs ({', '.join(fields)})")
    spec_dir = Path(spec_path).parent
    relative = os.path.relpath(shots_from, spec_dir) if shots_from else None
    labels = [lab["code"] for lab in task_ir.get("labels", [])] or None
    result = TuneResult(metric="")
    with tempfile.TemporaryDirectory(prefix="humc-tune-") as tmp:
        gold = Path(tmp) / "dev.jsonl"
        gold.write_text("".join(json.dumps({**{f: e[f] for f in fields}, "id": e["id"], "record": e["record"]},
                                           ensure_ascii=False) + "\n" for e in examples), encoding="utf-8")

        def measure(profile: dict) -> Trial:
            out = Path(tmp) / f"trial-{len(result.trials)}-{time.monotonic_ns()}.jsonl"
            opts = RunOptions(task=task_name, format=profile["answer_format"], model=model, input=gold, output=out,
                              shots=profile["shots"],
                              shots_from=spec_dir / profile["shots_from"] if profile["shots_from"] else None,
                              decision=profile["decision"], prompt_style=profile["prompt_style"],
                              phrasing=profile["phrasing"], prompt=profile["prompt"],
                              span_rules=profile["span_rules"], shot_spans=profile["shot_spans"], **(engine or {}))
            start = time.monotonic()
            try:
                run(spec_path, opts)
            except HumError as e:
                raise TuneError(f"measuring {_describe(profile)}: {e}") from None
            seconds = (time.monotonic() - start) / len(examples)
            scores = evaluate(task_ir["kind"], gold, out, labels=labels)
            result.metric = scores["main_score"]["name"]
            lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
            valid = sum(1 for x in lines if x.get("record") is not None) / len(lines)
            return Trial(profile, round(scores["main_score"]["value"], 4), round(valid, 4), round(seconds, 3))

        server = bool(engine) and (engine or {}).get("engine") == "openai"
        result.trials = search(task_ir, measure, relative, budget, progress, server)
    return result


def profile_to_write(profile: dict) -> dict:
    """The settings worth writing: what the search may change, without defaults that say nothing."""
    out = {k: profile[k] for k in ("answer_format", "phrasing", "prompt", "shots", "shots_from", "decision")
           if profile.get(k) is not None}
    if profile.get("prompt_style", "chat") != "chat":
        out["prompt_style"] = profile["prompt_style"]
    if profile.get("span_rules", "decoder") != "decoder":
        out["span_rules"] = profile["span_rules"]
    if profile.get("shot_spans", "off") != "off":
        out["shot_spans"] = profile["shot_spans"]
    return out


def write_profile(spec_path: str, task_name: str, profile: dict) -> None:
    """Put `profile` into the task's `run { }` block (replacing one that is there), keeping the
    rest of the file as it is; the file is left untouched if the result would not check."""
    from .outputs import write_atomic
    from .compiler import check_paths
    from .source import SourceFile
    from .syntax import ast
    from .syntax.parser import parse_source

    path = Path(spec_path)
    text = path.read_text(encoding="utf-8")
    module, diags = parse_source(SourceFile(str(path), text))
    task = next((d for d in module.decls if isinstance(d, ast.Task) and d.name.text == task_name), None)
    if diags or task is None:
        raise TuneError(f"cannot find task '{task_name}' in {path} to write its run profile")
    old = next((m for m in task.members if isinstance(m, ast.RunProfile)), None)
    if old is not None:
        line_start = text.rfind("\n", 0, old.span.start) + 1
        indent = text[line_start:old.span.start]
        new = text[:line_start] + block(profile, indent) + text[old.span.end:]
    else:
        close = task.span.end - 1  # the task's closing brace
        line_start = text.rfind("\n", 0, close) + 1
        indent = text[line_start:close] + "  " if not text[line_start:close].strip() else "  "
        new = text[:line_start] + "\n" + block(profile, indent) + "\n" + text[line_start:]
    mode = path.stat().st_mode & 0o7777
    write_atomic(path, new)
    os.chmod(path, mode)  # the spec keeps its permissions
    if not check_paths([str(path)]).ok:  # checked in place, so that its imports resolve as before
        write_atomic(path, text)
        os.chmod(path, mode)
        raise TuneError(f"the run profile would not check in {path}; it is left as it was")


def _describe(profile: dict) -> str:
    shots = f"{profile['shots']} shots" + (" retrieved" if profile["shots_from"] else "")
    style = f"/{profile['prompt_style']}" if profile["prompt_style"] != "chat" else ""
    rules = {"decoder": "", "unordered": ", appearance not kept while decoding",
             "parser": ", span rules by the parser"}[profile.get("span_rules", "decoder")]
    kept = ", shot spans kept" if profile.get("shot_spans", "off") == "on" else ""
    return (f"{profile['decision']}{style}, {shots}, prompt {profile['prompt']}, {profile['answer_format']}, "
            f"phrasing {profile['phrasing']}{rules}{kept}")


def table(result: TuneResult) -> str:
    best = result.best
    lines = [f"{'':2}{result.metric:>9}  {'valid':>6}  {'s/input':>7}  setting"]
    for t in result.trials:
        mark = "* " if t is best else "  "
        lines.append(f"{mark}{100 * t.score:9.2f}  {100 * t.valid:5.1f}%  {t.seconds:7.2f}  {_describe(t.profile)}")
    return "\n".join(lines)
