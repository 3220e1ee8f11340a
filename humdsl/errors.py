"""The one base of the errors humc reports: a message for the user, and the exit status it means.

Every error a command can meet in normal use (bad input, a refused output, a model that cannot be
loaded) is a HumError; the command line prints its message on one line (`humc: ...`) and exits
with its `exit_status`. Anything else reaching the command line is a bug (exit 3, internal error).
"""
from __future__ import annotations


class HumError(Exception):
    """A problem the user can act on; exit status 1."""

    exit_status = 1


class UsageError(HumError):
    """The command was given options that do not go together, or a value out of range; exit 2."""

    exit_status = 2


class InternalError(HumError):
    """humdsl itself went wrong (a grammar it produced was rejected, a matcher failed); exit 3."""

    exit_status = 3


def not_found(what: str, name: str, known, where: str | None = None) -> str:
    """The one message for a name that is not there, with the names that are:
    "no task 'nope' in spec.hum; it has: ner, classify"."""
    place = f" in {where}" if where else ""
    return f"no {what} '{name}'{place}; it has: {', '.join(known) or 'none'}"


# Exit statuses, as the README documents them.
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
