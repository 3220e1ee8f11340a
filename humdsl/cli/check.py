"""humc check: every problem in a set of specs."""
from __future__ import annotations

import sys

import click

from .common import emit_diagnostics, usage_error

@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print diagnostics as JSON on stdout.")
def check(paths: tuple[str, ...], as_json: bool) -> None:
    """Check specs (files or folders) and report every problem found. Exit 1 on errors."""
    from ..compiler import check_paths

    result = check_paths(list(paths))
    if not result.program.entries and not result.diagnostics:
        usage_error(f"no .hum file in {', '.join(paths)}: nothing to check")
    emit_diagnostics(result, as_json, len(result.program.entries))
    sys.exit(0 if result.ok else 1)

