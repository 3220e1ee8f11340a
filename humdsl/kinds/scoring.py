"""What the kinds' metrics share: precision, recall and F1 from counts, multiset matching, text
normalisation, and the tables a score report is printed with."""
from __future__ import annotations

from collections import Counter


def f1_of(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def prf(tp: float, n_pred: float, n_gold: float) -> dict:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return {"precision": p, "recall": r, "f1": f1_of(p, r), "tp": tp, "pred": n_pred, "gold": n_gold}


def multiset_scores(gold_sets: list[Counter], pred_sets: list[Counter], label_of) -> dict:
    """Micro, macro and per-label P/R/F1 from per-example multisets of hashable tuples; a
    repeated mention counts twice (matched at most as often as it occurs in gold)."""
    tp: Counter[str] = Counter()
    npred: Counter[str] = Counter()
    ngold: Counter[str] = Counter()
    for g, p in zip(gold_sets, pred_sets):
        for key, count in p.items():
            npred[label_of(key)] += count
            tp[label_of(key)] += min(count, g.get(key, 0))
        for key, count in g.items():
            ngold[label_of(key)] += count
    labels = sorted(set(npred) | set(ngold))
    per = {lab: prf(tp[lab], npred[lab], ngold[lab]) for lab in labels}
    micro = prf(sum(tp.values()), sum(npred.values()), sum(ngold.values()))
    macro_f = sum(x["f1"] for x in per.values()) / len(per) if per else 0.0
    macro = {"precision": sum(x["precision"] for x in per.values()) / len(per) if per else 0.0,
             "recall": sum(x["recall"] for x in per.values()) / len(per) if per else 0.0,
             "f1": macro_f}
    return {"micro": micro, "macro": macro, "per_label": per}


def norm(s: str) -> str:
    """Whitespace collapsed: how spans are compared."""
    return " ".join(s.split())


def micro_stats(scores: dict) -> tuple:
    """(tp, predicted, gold) of a micro average: the per-input statistics of the list kinds."""
    return scores["tp"], scores["pred"], scores["gold"]


# ---- report tables -------------------------------------------------------------------------------

def pct(x) -> str:
    return f"{100 * x:6.2f}" if isinstance(x, (int, float)) else str(x)


def prf_table(title: str, scores: dict) -> list[str]:
    lines = [title, f"  {'label':<28}{'P':>8}{'R':>8}{'F1':>8}{'gold':>7}{'pred':>7}"]
    for label, s in scores.get("per_label", {}).items():
        lines.append(f"  {label:<28}{pct(s['precision']):>8}{pct(s['recall']):>8}{pct(s['f1']):>8}"
                     f"{int(s['gold']):>7}{int(s['pred']):>7}")
    if "micro" in scores:
        m = scores["micro"]
        lines.append(f"  {'micro':<28}{pct(m['precision']):>8}{pct(m['recall']):>8}{pct(m['f1']):>8}"
                     f"{int(m['gold']):>7}{int(m['pred']):>7}")
    if "macro" in scores:
        m = scores["macro"]
        lines.append(f"  {'macro':<28}{pct(m['precision']):>8}{pct(m['recall']):>8}{pct(m['f1']):>8}")
    return lines
