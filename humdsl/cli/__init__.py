"""humc: the command line. One thin module per command over the library; errors become exit
statuses here alone (errors.py). Heavy libraries are imported only by commands that run a model."""
from __future__ import annotations

import os

import click

from .. import __version__
from ..errors import EXIT_INTERNAL, EXIT_INTERRUPTED, HumError, InternalError


class Humc(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HumError as e:
            prefix = "internal error: " if isinstance(e, InternalError) else ""
            tail = "; please report it" if isinstance(e, InternalError) else ""
            click.echo(f"humc: {prefix}{e}{tail}", err=True)
            ctx.exit(e.exit_status)
        except KeyboardInterrupt:
            click.echo("humc: interrupted; what was written is kept", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except OSError as e:  # a file the command could not read or write: the user's to fix
            where = f" {e.filename}" if e.filename else ""
            click.echo(f"humc: cannot use{where}: {e.strerror or e}", err=True)
            ctx.exit(1)
        except Exception as e:  # a bug: one line, and the traceback on request
            if os.environ.get("HUMC_DEBUG"):
                raise
            click.echo(f"humc: internal error: {type(e).__name__}: {e}; please report it "
                       f"(HUMC_DEBUG=1 shows where it happened)", err=True)
            ctx.exit(EXIT_INTERNAL)


@click.group(cls=Humc, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="humc", message="%(prog)s %(version)s")
def main() -> None:
    """humc: compile .hum task specs into prompts, constrained-decoding programs and corpora."""


def _register() -> None:
    from .check import check
    from .compile import compile_cmd
    from .diff import diff_cmd
    from .eval import eval_cmd
    from .expand import expand_cmd
    from .finetune import finetune
    from .fmt import fmt
    from .lock import lock_cmd
    from .run import run
    from .synth import synth
    from .test import test_cmd
    from .tune import tune

    for command in (check, fmt, compile_cmd, diff_cmd, lock_cmd, test_cmd, run, tune, expand_cmd, synth, finetune,
                    eval_cmd):
        main.add_command(command)


_register()
