"""What scoring does the same way for every kind: per-input statistics (for breakdowns and the
precision-recall curve) and the paired bootstrap. Each kind's own metrics are in its module of
`humdsl.kinds`."""
from __future__ import annotations

import random

from ..kinds import Kind


def per_input(kind: Kind, gold: list[dict], pred: list[dict | None]) -> list[tuple]:
    """One tuple of additive statistics per input; kind.main_score turns a sum of them into the score."""
    return [kind.input_stats(g, p) for g, p in zip(gold, pred)]


def paired_bootstrap(kind: Kind, gold, pred_a, pred_b, samples: int = 1000, seed: int = 0,
                     multilabel: bool = False) -> dict:
    """Difference B - A of the main score with a 95 % interval from resampling the inputs, and
    the share of resamples where B is not better (a one-sided p-value)."""
    a, b = per_input(kind, gold, pred_a), per_input(kind, gold, pred_b)
    rng = random.Random(seed)
    n = len(gold)
    diffs = []
    for _ in range(samples):
        idx = [rng.randrange(n) for _ in range(n)]
        diffs.append(kind.main_score([b[i] for i in idx], multilabel) -
                     kind.main_score([a[i] for i in idx], multilabel))
    diffs.sort()
    return {"a": kind.main_score(a, multilabel), "b": kind.main_score(b, multilabel),
            "difference": kind.main_score(b, multilabel) - kind.main_score(a, multilabel),
            "ci95": [diffs[int(0.025 * samples)], diffs[int(0.975 * samples) - 1]],
            "p_b_not_better": sum(d <= 0 for d in diffs) / samples, "samples": samples, "seed": seed}
