"""Corpus declarations: a mixture of tasks, each read from its own data, for `humc synth --corpus`.

    corpus hum_mix {
      instances 4000            # the corpus size; each part's `share` is a fraction of it
      diversity "hum"           # or "baseline": one phrasing, one JSON format, every label, no extras;
                                # or "formats": the baseline, in the formats "hum" draws
      task conll03 { data "data/eng.train" share 0.5 per_example 2 }
      task sst2 { data "data/sst2.train" share 0.5 }
    }
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .. import codes
from ..diagnostics import did_you_mean
from ..syntax import ast
from .context import Context, CorpusModel, CorpusPartModel
from ..synth_settings import DIVERSITY
from ..synth_settings import SETTINGS as SYNTH_SETTINGS
from .synth import valid_settings

# name -> (type, check, what it means)
CORPUS_SETTINGS = {
    "instances": (int, lambda v: v >= 1, "the number of instances in the corpus (shares are fractions of it)"),
    "diversity": (str, lambda v: v in DIVERSITY,
                  "'hum' (phrasings, label batches, guidelines, rules and formats vary) or 'baseline' "
                  "(one phrasing, one JSON format, every label, no guidelines, rules or negatives sampled) "
                  "or 'formats' (the baseline in the formats a 'hum' corpus draws)"),
    "style": (str, lambda v: v in ("alpaca", "chat"), "'alpaca' or 'chat'"),
}

PART_SETTINGS = {
    "data": (str, lambda v: bool(v.strip()), "the labelled dataset, a path relative to the spec"),
    "adapter": (str, lambda v: bool(v), "how to read the data (default: detected from the file)"),
    "share": (float, lambda v: 0 < v <= 1, "the fraction of the corpus's instances made from this part"),
    "examples": (int, lambda v: v >= 1, "the most source examples used (a seeded sample of the file)"),
    "baseline_format": (str, lambda v: bool(v), "the one format a baseline-diversity corpus writes"),
    **{k: (v.type, v.check, v.meaning) for k, v in SYNTH_SETTINGS.items() if k != "style"},
}


def check_corpora(ctx: Context) -> None:
    tasks = {id(t.decl): t for t in ctx.tasks}
    for module in ctx.modules():
        for decl in module.tree.decls:
            if isinstance(decl, ast.Corpus):
                ctx.corpora.append(_corpus(ctx, module, decl, tasks))


def _corpus(ctx: Context, module, decl: ast.Corpus, tasks: dict) -> CorpusModel:
    from .context import Symbol

    model = CorpusModel(Symbol(decl.name.text, decl, module))
    abouts = [m for m in decl.members if isinstance(m, ast.About)]
    model.about = abouts[0].text.value if abouts else None
    for extra in abouts[1:]:
        ctx.error(codes.BAD_CORPUS_VALUE, "'about' is given twice", extra.span, task=model)
    block = ast.Synth(decl.span, tuple(m for m in decl.members if isinstance(m, ast.Setting)))
    for _, name, value in valid_settings(ctx, model, block, CORPUS_SETTINGS, "corpus setting",
                                         codes.UNKNOWN_CORPUS_SETTING, codes.BAD_CORPUS_VALUE):
        model.settings[name] = value
    parts = [m for m in decl.members if isinstance(m, ast.CorpusPart)]
    if not parts:
        ctx.error(codes.CORPUS_INCOMPLETE, f"corpus '{decl.name.text}' names no task",
                  decl.name.span, notes=['add a part: task NAME { data "train.jsonl" }'], task=model)
    base = Path(module.key).parent
    for node in parts:
        part = _part(ctx, module, node, tasks, base, model)
        if part is not None:
            model.parts.append(part)
    if len(model.parts) == len(parts):
        _check_shares(ctx, decl, parts, model)
    return model


def _part(ctx: Context, module, node: ast.CorpusPart, tasks: dict, base: Path,
          model: CorpusModel) -> CorpusPartModel | None:
    sym = ctx.resolve(module, node.task, ast.Task, "task", task=model)
    settings: dict = {}
    for s, name, value in valid_settings(ctx, model, node, PART_SETTINGS, "corpus part setting",
                                         codes.UNKNOWN_CORPUS_SETTING, codes.BAD_CORPUS_VALUE):
        problem = _fits(name, value, tasks.get(id(sym.decl)) if sym else None)
        if problem:
            ctx.error(codes.BAD_CORPUS_VALUE, f"invalid value for '{name}'", s.value.span,
                      notes=[problem[0]], suggestions=problem[1], task=model)
            continue
        settings[name] = value
        if name == "data" and not (base / value).is_file():
            ctx.error(codes.CORPUS_DATA_MISSING, f"no file at {value}", s.value.span,
                      notes=[f"looked for {base / value} (a path relative to the spec); "
                             "`humc synth --corpus` will stop here"], task=model)
    if "data" not in settings and not any(s.name.text == "data" for s in node.settings):
        ctx.error(codes.CORPUS_INCOMPLETE, f"the part for '{node.task.dotted}' has no data",
                  node.span, notes=['add: data "path/to/train.file" (relative to the spec)'], task=model)
    if sym is None:
        return None
    task = tasks.get(id(sym.decl))
    if task is None or not task.ok:
        model.ok = False  # the task's own errors are reported where it is declared
        return None
    policy = {k: settings.pop(k) for k in list(settings) if k in SYNTH_SETTINGS}
    return CorpusPartModel(task, settings, policy)


def _fits(name: str, value, task) -> tuple[str, Sequence[str]] | None:
    """(why, suggestions) when a well-typed value does not fit, or None."""
    if name == "adapter":
        from ..adapters.readers import available

        known = sorted(available())
        if value not in known:
            return "the adapters are: " + ", ".join(known), did_you_mean(value, known)
    if task is None or not task.formats:
        return None
    formats = [f["name"] for f in task.formats]
    if name == "baseline_format" and value not in formats:
        return f"the task's formats are: {', '.join(formats)}", did_you_mean(value, formats)
    if name == "format_weights":
        unknown = [k for k in value if k not in formats]
        if unknown:
            return f"'{unknown[0]}' is not a format of the task (it has: {', '.join(formats)})", \
                did_you_mean(unknown[0], formats)
        if not any(value.get(f, 1.0) for f in formats):
            return "it leaves no format to draw: give at least one a weight above 0", []
    return None


def _check_shares(ctx: Context, decl: ast.Corpus, parts: list[ast.CorpusPart], model: CorpusModel) -> None:
    if not parts:
        return
    shares = [p.settings["share"] for p in model.parts if "share" in p.settings]
    total = sum(shares)
    if shares and "instances" not in model.settings:
        ctx.error(codes.CORPUS_SHARES, "a part has a 'share' but the corpus sets no 'instances'",
                  decl.name.span, notes=["a share is a fraction of 'instances'; set it, or give "
                                         "parts an 'examples' count instead"], task=model)
    elif total > 1 + 1e-9:
        ctx.error(codes.CORPUS_SHARES, f"the shares add up to {total:g}, more than 1", decl.name.span,
                  task=model)
    elif len(shares) < len(parts) and total > 1 - 1e-9:
        ctx.error(codes.CORPUS_SHARES, f"the shares add up to {total:g}, leaving nothing for the parts "
                  "without one", decl.name.span, task=model)
    elif len(shares) == len(parts) and abs(total - 1) > 1e-9:
        ctx.error(codes.CORPUS_SHARES, f"the shares add up to {total:g}, not 1", decl.name.span,
                  notes=["leave one part without a share to give it the rest"], task=model)
