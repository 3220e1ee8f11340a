"""The precision-recall curve of extracted items ranked by their probability (the `item_p` that
`humc run` writes on each line; confidence.py), scored with the task kind's own metric.

Keeping only the items of probability at least t gives one (precision, recall) point per
threshold t; the area under the curve is the average precision, the sum over thresholds of the
gain in recall times the precision there (as scikit-learn computes it; CaRB reports the same
kind of area for open IE). The curve ends at the recall of all the items; a random order's
curve is flat at their precision, so its area, shown beside, is that precision times that recall."""
from __future__ import annotations

import json
import math

from ..kinds import KINDS
from ..kinds.scoring import f1_of
from .io import merge

MAX_POINTS = 101  # points of the curve kept in the result (the area uses every threshold)


def _scored_items(key: str, line: dict, record: dict) -> list[tuple[dict, float]] | str | None:
    """The record's items with their probabilities; None where the line has none for them (a
    decoder that gives none), or what is wrong with its item_p."""
    items = record.get(key) or []
    if not items:
        return []
    if "item_p" not in line:
        return None
    ps = line["item_p"]
    if not isinstance(ps, list) or len(ps) != len(items):
        return f"item_p must be a list of {len(items)} probabilities, one per item"
    for p in ps:
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:  # NaN fails too
            return f"item_p holds {json.dumps(p)[:40]}, not a probability between 0 and 1"
    return list(zip(items, map(float, ps)))


def pr_curve(kind: str, gold: dict[str, dict], ids: list[str], rows: list[tuple[str, dict, dict | None]],
             where: str = "") -> dict | None:
    """The curve and its area for a kind whose answers are lists of items, or None where no
    prediction line carries item probabilities. Inputs with a line whose items have none (a
    server's answers, a resumed run's older lines) are left out of the curve and counted;
    `problems` lists the lines whose item_p is malformed (also left out)."""
    task_kind = KINDS[kind]
    key = task_kind.list_key
    if key is None or not any("item_p" in line for _, line, _ in rows):
        return None
    lines: dict[str, list[tuple[dict, list[tuple[dict, float]]]]] = {}
    left_out: set[str] = set()
    problems: list[str] = []
    for i, line, record in rows:
        if record is None or i not in gold:
            continue
        scored = _scored_items(key, line, record)
        if isinstance(scored, str):
            problems.append(f"{where}id {i!r}: {scored}")
        if scored is None or isinstance(scored, str):
            left_out.add(i)
            continue
        lines.setdefault(i, []).append((record, scored))
    ids = [i for i in ids if i not in left_out]
    by_p: dict[float, set[str]] = {}
    for i in ids:
        for _, scored in lines.get(i, []):
            for _, p in scored:
                by_p.setdefault(p, set()).add(i)
    if not by_p:
        return {"problems": problems, "left_out": len(left_out)} if problems else None

    def kept(i: str, t: float) -> dict | None:
        out = None
        for record, scored in lines[i]:
            out = merge(out, {**record, key: [item for item, p in scored if p >= t]})
        return out

    # Running totals of the per-input statistics: an input is scored again only at the
    # thresholds where its kept items change, and the totals by what it changed.
    stats = [task_kind.input_stats(gold[i], None) for i in ids]
    index = {i: n for n, i in enumerate(ids)}
    totals = [sum(x) for x in zip(*stats)]
    points: list[tuple[float, float, float]] = []
    for t in sorted(by_p, reverse=True):
        for i in by_p[t]:
            new = task_kind.input_stats(gold[i], kept(i, t))
            totals = [a - b + c for a, b, c in zip(totals, stats[index[i]], new)]
            stats[index[i]] = new
        p, r = task_kind.precision_recall([tuple(totals)])
        points.append((t, p, r))
    area, before = 0.0, 0.0
    for _, p, r in points:
        area += (r - before) * p
        before = r
    best = max(points, key=lambda x: (f1_of(x[1], x[2]), x[0]))
    step = max(1, math.ceil(len(points) / MAX_POINTS))
    shown = points[::step] + ([points[-1]] if (len(points) - 1) % step else [])
    final = {i: kept(i, 0.0) for i in ids if i in lines}  # what is scored: batches merged
    return {
        "items": sum(len((r or {}).get(key, [])) for r in final.values()),
        "inputs": len(ids),
        "left_out": len(left_out),
        "problems": problems,
        "average_precision": area,
        "random_ranking": points[-1][1] * points[-1][2],  # a random order's expected area
        "best_f1": {"f1": f1_of(best[1], best[2]), "threshold": best[0], "precision": best[1], "recall": best[2]},
        "curve": [{"threshold": t, "precision": p, "recall": r} for t, p, r in shown],
    }
