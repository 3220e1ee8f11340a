"""What more than one benchmark script needs (the scripts run from a checkout: `bench/` is on
sys.path as the running script's folder)."""
from __future__ import annotations

import statistics
import time


def median_ms(fn, repeat: int) -> float:
    """The median wall time of `repeat` calls of fn, in milliseconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 3)


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


def conll_dev(data, n: int, spread: bool = False) -> list[dict]:
    """CoNLL-2003 dev sentences of 6 words or more (not the -DOCSTART- and headline stubs): the
    first n, or n spread evenly over the split (the first ones are mostly cricket scores, where
    county teams are organisations: not typical of the split)."""
    from humdsl.adapters.readers import read_examples

    dev, _ = read_examples(data / "conll2003" / "eng.testa")
    dev = [e for e in dev if len(e["text"].split()) >= 6]
    if not n or n >= len(dev):
        return dev
    return dev[::len(dev) // n][:n] if spread else dev[:n]
