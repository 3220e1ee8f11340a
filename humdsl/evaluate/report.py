"""Readable tables of scores for the terminal."""
from __future__ import annotations


def _pct(x) -> str:
    return f"{100 * x:6.2f}" if isinstance(x, (int, float)) else str(x)


def prf_table(title: str, scores: dict) -> list[str]:
    lines = [title, f"  {'label':<28}{'P':>8}{'R':>8}{'F1':>8}{'gold':>7}{'pred':>7}"]
    for label, s in scores.get("per_label", {}).items():
        lines.append(f"  {label:<28}{_pct(s['precision']):>8}{_pct(s['recall']):>8}{_pct(s['f1']):>8}"
                     f"{int(s['gold']):>7}{int(s['pred']):>7}")
    if "micro" in scores:
        m = scores["micro"]
        lines.append(f"  {'micro':<28}{_pct(m['precision']):>8}{_pct(m['recall']):>8}{_pct(m['f1']):>8}"
                     f"{int(m['gold']):>7}{int(m['pred']):>7}")
    if "macro" in scores:
        m = scores["macro"]
        lines.append(f"  {'macro':<28}{_pct(m['precision']):>8}{_pct(m['recall']):>8}{_pct(m['f1']):>8}")
    return lines


def render(kind: str, result: dict) -> str:
    s = result["scores"]
    lines: list[str] = [f"main score ({result['main_score']['name']}): {_pct(result['main_score']['value'])}"]
    if kind == "entities":
        lines += prf_table("entities (strict: type and span)", s["strict"])
        p = s["partial"]
        lines.append(f"  partial (same type, overlapping tokens): P {_pct(p['precision'])} "
                     f"R {_pct(p['recall'])} F1 {_pct(p['f1'])}")
    elif kind == "relations":
        lines += prf_table("relations (strict)", s["strict"])
        lines += prf_table("relations (boundaries: head, relation, tail text)", s["boundaries"])
        if "semeval2010" in s:
            lines.append(f"  SemEval-2010 Task 8 official macro-F1 (9 relations, direction-aware, Other "
                         f"excluded): {_pct(s['semeval2010']['macro_f1'])}")
    elif kind == "events":
        for key in ("trigger_identification", "argument_identification"):
            m = s[key]
            lines.append(f"{key.replace('_', ' ')}: P {_pct(m['precision'])} R {_pct(m['recall'])} "
                         f"F1 {_pct(m['f1'])}")
        lines += prf_table("trigger classification", s["trigger_classification"])
        lines += prf_table("argument classification", s["argument_classification"])
    elif kind == "triples":
        lines.append(f"open IE (token-level, CaRB style): P {_pct(s['precision'])} R {_pct(s['recall'])} "
                     f"F1 {_pct(s['f1'])}  ({s['gold']} gold, {s['pred']} predicted tuples)")
    elif kind == "qa":
        lines.append(f"SQuAD: exact match {_pct(s['exact_match'])}  F1 {_pct(s['f1'])}  ({s['count']} questions)")
    elif kind == "classify":
        if "accuracy" in s:
            lines.append(f"accuracy {_pct(s['accuracy'])}  macro-F1 {_pct(s['macro_f1'])}")
            lines += prf_table("per class", {"per_label": s["per_label"]})
            labels = s["labels"]
            lines.append("confusion (rows: gold, columns: predicted)")
            lines.append("  " + " " * 16 + "".join(f"{c[:10]:>11}" for c in labels + ["(none)"]))
            for y in labels:
                lines.append(f"  {y[:16]:<16}" + "".join(f"{s['confusion'][y][c]:>11}" for c in labels + ["(none)"]))
        else:
            lines.append(f"multilabel: micro-F1 {_pct(s['micro']['f1'])}  macro-F1 {_pct(s['macro_f1'])}  "
                         f"exact-set accuracy {_pct(s['exact_set_accuracy'])}")
            lines += prf_table("per label", {"per_label": s["per_label"]})
    else:
        lines.append(f"field accuracy {_pct(s['field_accuracy'])}  exact records {_pct(s['exact_record_accuracy'])}")
        for f, acc in s["per_field"].items():
            lines.append(f"  {f:<28}{_pct(acc):>8}")
    if result.get("by"):
        lines.append(f"{result['main_score']['name']} by {result['by']['field']}:")
        for value, g in result["by"]["groups"].items():
            lines.append(f"  {value:<28}{_pct(g['score']):>8}   {g['inputs']} inputs, "
                         f"{g['parse_failures']} parse failures")
    curve = result.get("item_confidence")
    if curve:
        b = curve["best_f1"]
        if curve["left_out"]:
            lines.append(f"items ranked by their probability: {curve['left_out']} inputs left out, whose "
                         f"lines have no item probabilities (item_p); the curve is over the other {curve['inputs']}")
        lines.append(f"items ranked by their probability ({curve['items']} items): average precision "
                     f"{_pct(curve['average_precision'])} (in a random order: {_pct(curve['random_ranking'])}); "
                     f"best F1 {_pct(b['f1'])} keeping p >= {b['threshold']:.4g} "
                     f"(P {_pct(b['precision'])}, R {_pct(b['recall'])})")
    c = result["counts"]
    lines.append(f"inputs scored {c['scored']}; parse failures {c['parse_failures']} "
                 f"({_pct(c['parse_failure_rate'])} %, counted as empty); missing predictions "
                 f"{c['missing_predictions']}; predictions without gold {c['extra_predictions']}")
    for fmt, n in sorted(c.get("parse_failures_by_format", {}).items()):
        lines.append(f"  parse failures in format {fmt}: {n}")
    return "\n".join(lines)
