"""humc: the command line. Heavy libraries are imported only by commands that run a model."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__


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
    """Compile a spec: manifest.json and the normalised, hashed IR of every task."""
    from .artifacts import write_artifacts
    from .compiler import check_paths

    result = check_paths([spec])
    if not result.ok or result.diagnostics:
        _emit_diagnostics(result, False, len(result.program.entries))
    if not result.ok:
        click.echo("humc: nothing written: fix the errors above first", err=True)
        sys.exit(1)
    from .constraints import GrammarInvalid

    try:
        manifest = write_artifacts(result, spec, Path(out_dir))
    except GrammarInvalid as e:  # a compiler bug: say so plainly, with what llguidance said
        click.echo(f"humc: internal error: llguidance rejected a generated grammar: {e}", err=True)
        sys.exit(2)
    n = len(manifest["tasks"])
    click.echo(f"compiled {n} task{'s' * (n != 1)} from {spec} into {out_dir} "
               f"(spec hash {manifest['spec_hash'][:12]})")
    for task in manifest["tasks"]:
        names = ", ".join(f["name"] for f in task["formats"])
        click.echo(f"  {task['name']} ({task['kind']} {task['version']}): formats {names}")
        if task["formats"]:
            for rule in task["formats"][0]["rules"]:
                click.echo(f"    {rule['kind']}: {rule['id']} ({_HOW[rule['enforced_by']]})")


@main.command(name="eval")
@click.option("--task", "task", required=True,
              help="A task kind (entities, relations, events, triples, qa, classify, record), or a task "
                   "name with --spec.")
@click.option("--spec", type=click.Path(), help="The spec declaring the task (gives the kind and labels).")
@click.option("--gold", required=True, type=click.Path(), help="Gold canonical JSONL (id, text, record).")
@click.option("--pred", required=True, type=click.Path(), help="Predictions: humc run output or canonical JSONL.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.option("--scorer", type=click.Choice(["semeval2010"]), help="Also the official score of a benchmark.")
def eval_cmd(task: str, spec: str | None, gold: str, pred: str, as_json: bool, scorer: str | None) -> None:
    """Score predictions against gold with the field's standard metrics."""
    import json as _json

    from .evaluate import EvalError, evaluate
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
    try:
        result = evaluate(kind, gold, pred, labels=labels, scorer=scorer)
    except EvalError as e:
        click.echo(f"humc: {e}", err=True)
        sys.exit(1)
    for problem in result["problems"]:
        click.echo(f"{problem}", err=True)
    if as_json:
        click.echo(_json.dumps(result, indent=2, sort_keys=True))
    else:
        click.echo(render(kind, result))
    sys.exit(1 if result["problems"] else 0)


_HOW = {"grammar": "by the decoding grammar", "parser": "by the parser",
        "synthesis": "on synthesised gold answers; advice at run time", "advisory": "prompt text"}


if __name__ == "__main__":  # pragma: no cover
    main()
