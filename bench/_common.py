"""What more than one benchmark script needs (the scripts run from a checkout: `bench/` is on
sys.path as the running script's folder)."""
from __future__ import annotations


def count_valid(fmt, texts: list[str], sources: list[str]) -> int:
    """How many outputs parse and validate against their own input."""
    from humdsl.formats import FormatParseError

    valid = 0
    for text, source in zip(texts, sources):
        try:
            fmt.parse(text, source=source)
            valid += 1
        except FormatParseError:
            pass
    return valid
