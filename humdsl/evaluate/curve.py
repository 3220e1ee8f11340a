"""The precision-recall curve of extracted items ranked by their probability (the `item_p` that
`humc run` writes on each line; confidence.py), scored with the task kind's own metric.

Keeping only the items of probability at least t gives one (precision, recall) point per
threshold t; the area under the curve is the average precision, the sum over thresholds of the
gain in recall times the precision there (as scikit-learn computes it; CaRB reports the same
kind of area for open IE). The curve ends at the recall of all the items; a random order's
curve is flat at their precision, so its area, shown beside, is that precision times that recall."""
from __future__ import annotations

import math

from ..kinds import KINDS
from . import metrics
from .io import merge

MAX_POINTS = 101  # points of the curve kept in the result (the area uses every threshold)


def _scored_items(key: str, line: dict, record: dict) -> list[tuple[dict, float]] | None:
    """The record's items with their probabilities, or None where the line has none for them."""
    items = record.get(key) or []
    ps = line.get("item_p")
    if not items:
        return []
    if not isinstance(ps, list) or len(ps) != len(items) or not all(
            isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p) for p in ps):
        return None
    return list(zip(items, map(float, ps)))


def pr_curve(kind: str, gold: dict[str, dict], ids: list[str], rows: list[tuple[str, dict, dict | None]]) -> dict | None:
    """The curve and its area for a kind whose answers are lists of items, or None where no
    prediction line carries item probabilities. Where some lines with items have none (made by a
    decoder that gives none, or edited), {"problem": why} instead: a curve over part of the
    items would mislead."""
    key = KINDS[kind].list_key
    if key is None or not any("item_p" in line for _, line, _ in rows):
        return None
    lines: dict[str, list[tuple[dict, list[tuple[dict, float]]]]] = {}
    unscored = 0
    for i, line, record in rows:
        if record is None or i not in gold:
            continue
        scored = _scored_items(key, line, record)
        if scored is None:
            unscored += 1
            continue
        lines.setdefault(i, []).append((record, scored))
    if unscored:
        return {"problem": f"{unscored} prediction line{'s' if unscored > 1 else ''} with items "
                           f"ha{'ve' if unscored > 1 else 's'} no item probabilities (item_p, written by "
                           f"the jump-forward decoder): no precision-recall curve"}
    by_p: dict[float, set[str]] = {}
    for i, parts in lines.items():
        for _, scored in parts:
            for _, p in scored:
                by_p.setdefault(p, set()).add(i)
    if not by_p:
        return None
    g = [gold[i] for i in ids]
    index = {i: n for n, i in enumerate(ids)}

    def kept(i: str, t: float) -> dict | None:
        out = None
        for record, scored in lines[i]:
            out = merge(out, {**record, key: [item for item, p in scored if p >= t]})
        return out

    stats = metrics.per_input(kind, g, [None] * len(ids))  # nothing kept above the highest threshold
    points: list[tuple[float, float, float]] = []
    for t in sorted(by_p, reverse=True):  # each input scored again only where its kept items change
        for i in by_p[t]:
            stats[index[i]] = metrics.per_input(kind, [gold[i]], [kept(i, t)])[0]
        p, r = metrics.precision_recall(kind, stats)
        points.append((t, p, r))
    area, before = 0.0, 0.0
    for _, p, r in points:
        area += (r - before) * p
        before = r
    best = max(points, key=lambda x: (_f1(x[1], x[2]), x[0]))
    step = max(1, math.ceil(len(points) / MAX_POINTS))
    shown = points[::step] + ([points[-1]] if (len(points) - 1) % step else [])
    return {
        "items": sum(len(s) for parts in lines.values() for _, s in parts),
        "average_precision": area,
        "random_ranking": points[-1][1] * points[-1][2],  # a random order's expected area
        "best_f1": {"f1": _f1(best[1], best[2]), "threshold": best[0], "precision": best[1], "recall": best[2]},
        "curve": [{"threshold": t, "precision": p, "recall": r} for t, p, r in shown],
    }


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0
