"""humc eval: predictions scored against gold with the field's standard metrics."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..adapters.readers import ADAPTERS
from ..kinds import KINDS
from .common import SHOWN_PROBLEMS

@click.command(name="eval")
@click.option("--task", "task", required=True,
              help=f"A task kind ({', '.join(KINDS)}), or a task name with --spec.")
@click.option("--spec", type=click.Path(), help="The spec declaring the task (gives the kind and labels).")
@click.option("--gold", required=True, type=click.Path(),
              help="Gold: canonical JSONL (id, text, record), or a public dataset file (see --adapter).")
@click.option("--adapter", help=f"How to read --gold: {', '.join(ADAPTERS)}, or one a plugin registers; "
                                "detected from the file when left out.")
@click.option("--pred", "preds", required=True, multiple=True, type=click.Path(),
              help="Predictions: humc run output or canonical JSONL. Give two to compare them.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.option("--by", help="Break the main score down by a field of the prediction lines, e.g. format.")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), help="Write PNG charts into this folder.")
@click.option("--scorer", type=click.Choice(sorted({n for k in KINDS.values() for n in k.extra_scorers})),
              help="Also the official score of a benchmark: " +
              "; ".join(f"{n}, {what}" for k in KINDS.values() for n, what in k.extra_scorers.items()) + ".")
@click.option("--bootstrap", default=1000, show_default=True, type=click.IntRange(min=1), help="Resamples when comparing two files.")
def eval_cmd(task: str, spec: str | None, gold: str, adapter: str | None, preds: tuple[str, ...],
             as_json: bool, by: str | None, plot_dir: str | None, scorer: str | None, bootstrap: int) -> None:
    """Score predictions against gold with the field's standard metrics."""
    import json as _json

    from ..evaluate import compare, evaluate, provenance_warnings
    from ..evaluate.report import render
    from .common import usage_error

    kind, labels, task_hash = task, None, None
    if spec:
        from ..api import load_task
        from ..ir import task_hash as hash_of

        ir = load_task(spec, task)
        kind, task_hash = ir["kind"], hash_of(ir)
        labels = [lab["code"] for lab in ir.get("labels", [])] or None
    if len(preds) > 2:
        usage_error("give one --pred to score, or two to compare")
    results = [evaluate(kind, gold, p, labels=labels, scorer=scorer, by=by, adapter=adapter) for p in preds]
    comparison = compare(kind, gold, preds[0], preds[1], samples=bootstrap,
                         adapter=adapter) if len(preds) == 2 else None
    problems = list(dict.fromkeys(p for r in results for p in r["problems"]))  # in file order
    for problem in problems[:SHOWN_PROBLEMS]:
        click.echo(problem, err=True)
    if len(problems) > SHOWN_PROBLEMS:
        click.echo(f"... and {len(problems) - SHOWN_PROBLEMS} more problems (--json lists them all)", err=True)
    for warning in provenance_warnings(results, list(preds), task_hash):
        click.echo(f"humc: warning: {warning}", err=True)
    if as_json:
        payload = results[0] if len(results) == 1 else {"files": dict(zip(preds, results)),
                                                        "comparison": comparison}
        click.echo(_json.dumps(payload, indent=2, sort_keys=True))
    else:
        for path, result in zip(preds, results):
            if len(results) > 1:
                click.echo(f"== {path}")
            click.echo(render(kind, result))
        if comparison:
            lo, hi = comparison["ci95"]
            click.echo(f"== {preds[1]} vs {preds[0]} ({comparison['main_score']}): "
                       f"{100 * comparison['b']:.2f} vs {100 * comparison['a']:.2f}, difference "
                       f"{100 * comparison['difference']:+.2f} (95% CI {100 * lo:+.2f} to {100 * hi:+.2f}; "
                       f"p = {comparison['p_b_not_better']:.3f} that it is not better; paired bootstrap, "
                       f"{comparison['samples']} resamples)")
    if plot_dir:
        from ..evaluate.plots import write

        groups = None
        if comparison:
            groups = {Path(p).stem: r["main_score"]["value"] for p, r in zip(preds, results)}
        elif by and results[0]["by"]:
            groups = {k: v["score"] for k, v in results[0]["by"]["groups"].items()}
        for written in write(results[0], Path(plot_dir), groups):  # PlotUnavailable without matplotlib
            click.echo(f"wrote {written}", err=True)
    sys.exit(1 if problems else 0)

