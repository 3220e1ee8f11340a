"""humc fmt over files and folders: rewrite, --check and --diff; never touches a file it cannot parse."""
from __future__ import annotations

import difflib
import sys

import click

from ..outputs import write_atomic
from ..diagnostics import Diagnostics, render_text
from ..fmt import format_text
from ..loader import collect_paths
from ..source import SourceFile


def run_fmt(paths: list[str], check_only: bool, show_diff: bool) -> int:
    diags = Diagnostics()
    files = collect_paths(paths, diags)
    for d in diags.items:
        click.echo(render_text(d, {}), err=True)
    changed, failed = [], bool(diags.items)
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            click.echo(f"{path}: error[H003]: cannot read: {e}", err=True)
            failed = True
            continue
        formatted, errors = format_text(text, str(path))
        if formatted is None:
            src = SourceFile(str(path), text)
            for d in errors:
                click.echo(render_text(d, {str(path): src}), err=True)
            click.echo(f"{path}: not formatted: it has syntax errors", err=True)
            failed = True
            continue
        if formatted == text:
            continue
        changed.append(path)
        if show_diff:
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(keepends=True), formatted.splitlines(keepends=True),
                fromfile=f"{path} (original)", tofile=f"{path} (formatted)"))
        if not (check_only or show_diff):  # --diff shows and changes nothing, as black does
            write_atomic(path, formatted)
    dry = check_only or show_diff
    verb = "would reformat" if dry else "reformatted"
    for path in changed:
        click.echo(f"{verb} {path}", err=True)
    unchanged = len(files) - len(changed)
    click.echo(f"{len(changed)} file{'s' * (len(changed) != 1)} {verb}, {unchanged} unchanged", err=True)
    if failed:
        return 1
    return 1 if (check_only and changed) else 0


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@click.option("--diff", is_flag=True, help="Show what would change as a unified diff; change nothing.")
def fmt(paths: tuple[str, ...], check_only: bool, diff: bool) -> None:
    """Rewrite specs in the canonical layout (comments kept; idempotent)."""
    sys.exit(run_fmt(list(paths), check_only=check_only, show_diff=diff))
