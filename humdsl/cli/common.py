"""What several commands print the same way."""
from __future__ import annotations

import sys

import click

SHOWN_PROBLEMS = 20  # problem lines printed before "... and N more"


def emit_diagnostics(result, as_json: bool, files: int) -> None:
    """A check's diagnostics: JSON on stdout, or as humc check prints them on stderr."""
    from ..diagnostics import render_json, render_text, summary_line, use_color

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


def usage_error(message: str) -> None:
    """Options that do not go together: exit 2, as click's own usage errors."""
    from ..errors import UsageError

    raise UsageError(message)
