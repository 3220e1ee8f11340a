"""humc compile: a spec's artifacts (manifest, IR, prompts, grammars, schemas) into a folder."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import emit_diagnostics


@click.command(name="compile")
@click.argument("spec", type=click.Path())
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for manifest.json and the per-task artifacts.")
def compile_cmd(spec: str, out_dir: str) -> None:
    """Compile a spec: manifest, hashed IR, and per format the prompts, grammar and schema."""
    from ..artifacts import write_artifacts
    from ..compiler import check_paths

    result = check_paths([spec])
    if not result.ok or result.diagnostics:
        emit_diagnostics(result, False, len(result.program.entries))
    if not result.ok:
        click.echo("humc: nothing written: fix the errors above first", err=True)
        sys.exit(1)
    manifest = write_artifacts(result, spec, Path(out_dir))  # GrammarInvalid: a compiler bug (exit 3)
    n = len(manifest["tasks"])
    click.echo(f"compiled {n} task{'s' * (n != 1)} from {spec} into {out_dir} "
               f"(spec hash {manifest['spec_hash'][:12]})")
    for task in manifest["tasks"]:
        names = ", ".join(f["name"] for f in task["formats"])
        click.echo(f"  {task['name']} ({task['kind']} {task['version']}): formats {names}")
        if task["formats"]:
            for rule in task["formats"][0]["rules"]:
                click.echo(f"    {rule['kind']}: {rule['id']} ({_HOW[rule['enforced_by']]})")


_HOW = {"grammar": "by the decoding grammar", "parser": "by the parser", "decoder": "while decoding",
        "synthesis": "on synthesised gold answers; advice at run time", "advisory": "prompt text"}
