"""Readable tables of scores for the terminal: the kind's own lines (its module in humdsl.kinds),
then the breakdown, the item-confidence curve and the counts."""
from __future__ import annotations

from ..kinds import KINDS
from ..kinds.scoring import pct


def render(kind: str, result: dict) -> str:
    s = result["scores"]
    lines: list[str] = [f"main score ({result['main_score']['name']}): {pct(result['main_score']['value'])}"]
    lines += KINDS[kind].report(s)
    if result.get("by"):
        lines.append(f"{result['main_score']['name']} by {result['by']['field']}:")
        for value, g in result["by"]["groups"].items():
            lines.append(f"  {value:<28}{pct(g['score']):>8}   {g['inputs']} inputs, "
                         f"{g['parse_failures']} parse failures")
    curve = result.get("item_confidence")
    if curve:
        b = curve["best_f1"]
        if curve["left_out"]:
            lines.append(f"items ranked by their probability: {curve['left_out']} inputs left out, whose "
                         f"lines have no item probabilities (item_p); the curve is over the other {curve['inputs']}")
        lines.append(f"items ranked by their probability ({curve['items']} items): average precision "
                     f"{pct(curve['average_precision'])} (in a random order: {pct(curve['random_ranking'])}); "
                     f"best F1 {pct(b['f1'])} keeping p >= {b['threshold']:.4g} "
                     f"(P {pct(b['precision'])}, R {pct(b['recall'])})")
    c = result["counts"]
    lines.append(f"inputs scored {c['scored']}; parse failures {c['parse_failures']} "
                 f"({pct(c['parse_failure_rate'])} %, counted as empty); missing predictions "
                 f"{c['missing_predictions']}; predictions without gold {c['extra_predictions']}")
    for fmt, n in sorted(c.get("parse_failures_by_format", {}).items()):
        lines.append(f"  parse failures in format {fmt}: {n}")
    return "\n".join(lines)
