"""The metrics, per task kind, on canonical records. Each function takes aligned lists of gold
and predicted records (a prediction that failed to parse is None: it counts as empty)."""
from __future__ import annotations

import re
import string
from collections import Counter
from typing import Callable


def f1_of(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def prf(tp: float, n_pred: float, n_gold: float) -> dict:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return {"precision": p, "recall": r, "f1": f1_of(p, r), "tp": tp, "pred": n_pred, "gold": n_gold}


def _multiset_scores(gold_sets: list[Counter], pred_sets: list[Counter], label_of) -> dict:
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


def _norm(s: str) -> str:
    return " ".join(s.split())


def entities(gold: list[dict], pred: list[dict | None]) -> dict:
    # With character offsets on both sides, a mention is also matched by position (as
    # conlleval and seqeval do on tags); without them, by text, as a multiset.
    with_offsets = all("start" in e for rec in gold + pred for e in (rec or {}).get("entities", []))

    def bag(rec):
        return Counter((e["type"], _norm(e["text"])) + ((e["start"],) if with_offsets else ())
                       for e in (rec or {}).get("entities", []))
    out = {"strict": _multiset_scores([bag(g) for g in gold], [bag(p) for p in pred], lambda k: k[0])}
    out["partial"] = _partial_entities(gold, pred)
    return out


def _partial_entities(gold, pred) -> dict:
    """Secondary figure: a prediction matches a gold entity of the same type sharing a token."""
    tp_p = tp_g = npred = ngold = 0
    for g, p in zip(gold, pred):
        gs = [(e["type"], set(e["text"].split())) for e in (g or {}).get("entities", [])]
        ps = [(e["type"], set(e["text"].split())) for e in (p or {}).get("entities", [])]
        npred += len(ps)
        ngold += len(gs)
        tp_p += sum(any(t == gt and w & gw for gt, gw in gs) for t, w in ps)
        tp_g += sum(any(t == pt and w & pw for pt, pw in ps) for t, w in gs)
    p_ = tp_p / npred if npred else 0.0
    r_ = tp_g / ngold if ngold else 0.0
    return {"precision": p_, "recall": r_, "f1": 2 * p_ * r_ / (p_ + r_) if p_ + r_ else 0.0}


def relations(gold: list[dict], pred: list[dict | None], typed: bool = False) -> dict:
    def bag(rec, with_type_args: bool, boundaries_only: bool = False):
        out: Counter[tuple] = Counter()
        for r in (rec or {}).get("relations", []):
            key: tuple = (r["type"], _norm(r["head"]), _norm(r["tail"]))
            if with_type_args:
                key += (r.get("head_type"), r.get("tail_type"))
            out[key] += 1
        return out
    strict = _multiset_scores([bag(g, typed) for g in gold], [bag(p, typed) for p in pred], lambda k: k[0])
    boundaries = _multiset_scores([bag(g, False) for g in gold], [bag(p, False) for p in pred],
                                  lambda k: k[0])
    return {"strict": strict, "boundaries": boundaries}


def semeval(gold: list[dict], pred: list[dict | None]) -> dict:
    """SemEval-2010 Task 8 official score: macro-F1 over the nine relations, direction-aware
    (a relation with its arguments swapped is wrong), 'Other' (no relation) excluded."""
    def label(rec):
        rels = (rec or {}).get("relations", [])
        if not rels:
            return "Other"
        r = rels[0]
        return f"{r['type']}|{_norm(r['head'])}|{_norm(r['tail'])}"
    tp: Counter[str] = Counter()
    npred: Counter[str] = Counter()
    ngold: Counter[str] = Counter()
    for g, p in zip(gold, pred):
        gl, pl = label(g), label(p)
        gt, pt = gl.split("|")[0], pl.split("|")[0]
        if pt != "Other":
            npred[pt] += 1
        if gt != "Other":
            ngold[gt] += 1
        if gl == pl and gt != "Other":
            tp[gt] += 1
    types = sorted(set(ngold) | set(npred))
    per = {t: prf(tp[t], npred[t], ngold[t]) for t in types}
    return {"macro_f1": sum(x["f1"] for x in per.values()) / len(per) if per else 0.0, "per_label": per}


def events(gold: list[dict], pred: list[dict | None]) -> dict:
    def triggers(rec, typed):
        return Counter(((e["type"] if typed else None), _norm(e["trigger"]))
                       for e in (rec or {}).get("events", []))

    def args(rec, typed):
        out: Counter[tuple] = Counter()
        for e in (rec or {}).get("events", []):
            for a in e.get("arguments", []):
                out[(e["type"], (a["role"] if typed else None), _norm(a["text"]))] += 1
        return out
    label = (lambda k: k[0] or "all")
    return {
        "trigger_identification": _multiset_scores([triggers(g, False) for g in gold],
                                                   [triggers(p, False) for p in pred], lambda k: "all")["micro"],
        "trigger_classification": _multiset_scores([triggers(g, True) for g in gold],
                                                   [triggers(p, True) for p in pred], label),
        "argument_identification": _multiset_scores([args(g, False) for g in gold],
                                                    [args(p, False) for p in pred], lambda k: "all")["micro"],
        "argument_classification": _multiset_scores([args(g, True) for g in gold],
                                                    [args(p, True) for p in pred], lambda k: k[1])}


def _tokens(s: str) -> list[str]:
    return s.lower().split()


def triples(gold: list[dict], pred: list[dict | None]) -> dict:
    """Open IE, in the spirit of CaRB: tuples are compared token-wise, part by part (subject,
    predicate, object + further arguments). Precision: for each predicted tuple, its best token
    precision against a gold tuple of the sentence; recall: for each gold tuple, its best token
    recall against a predicted tuple. Averaged over tuples, micro over the corpus."""
    def parts(t):
        return [_tokens(t["subject"]), _tokens(t["predicate"]),
                _tokens(" ".join([t["object"]] + t.get("args", [])))]

    def overlap(a, b):
        return sum(sum((Counter(x) & Counter(y)).values()) for x, y in zip(a, b))

    p_sum = r_sum = 0.0
    n_pred = n_gold = 0
    for g, p in zip(gold, pred):
        gs = [parts(t) for t in (g or {}).get("triples", [])]
        ps = [parts(t) for t in (p or {}).get("triples", [])]
        n_pred += len(ps)
        n_gold += len(gs)
        for pt in ps:
            size = sum(len(x) for x in pt) or 1
            p_sum += max((overlap(pt, gt) / size for gt in gs), default=0.0)
        for gt in gs:
            size = sum(len(x) for x in gt) or 1
            r_sum += max((overlap(gt, pt) / size for pt in ps), default=0.0)
    precision = p_sum / n_pred if n_pred else 0.0
    recall = r_sum / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "pred": n_pred, "gold": n_gold}


# ---- SQuAD v1.1 (the official evaluation script's normalisation) ------------------------------

def squad_normalise(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def squad_f1(pred: str, gold: str) -> float:
    p, g = squad_normalise(pred).split(), squad_normalise(gold).split()
    common = Counter(p) & Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def qa(gold: list[dict], pred: list[dict | None]) -> dict:
    """Exact match and token F1, max over the gold answers of a question (gold records may hold
    "answers": [...] besides "answer"). An unanswerable gold scores 1 only against no answer."""
    em = f1 = 0.0
    for g, p in zip(gold, pred):
        answers = g.get("answers") or [g.get("answer")]
        guess = (p or {}).get("answer")
        if all(a is None for a in answers):
            em += guess is None
            f1 += guess is None
            continue
        if guess is None:
            continue
        em += max(float(squad_normalise(guess) == squad_normalise(a)) for a in answers if a is not None)
        f1 += max(squad_f1(guess, a) for a in answers if a is not None)
    n = len(gold) or 1
    return {"exact_match": em / n, "f1": f1 / n, "count": len(gold)}


def classify(gold: list[dict], pred: list[dict | None], labels: list[str] | None = None) -> dict:
    if gold and "labels" in gold[0]:
        return _multilabel(gold, pred, labels)
    ys = [g.get("label") for g in gold]
    ps = [(p or {}).get("label") for p in pred]
    labels = labels or sorted({y for y in ys if y is not None} | {p for p in ps if p is not None})
    per = {}
    for lab in labels:
        tp = sum(1 for y, p in zip(ys, ps) if y == lab and p == lab)
        per[lab] = prf(tp, sum(p == lab for p in ps), sum(y == lab for y in ys))
    confusion = {y: {p: 0 for p in labels + ["(none)"]} for y in labels}
    for y, p in zip(ys, ps):
        if y in confusion:
            confusion[y][p if p in labels else "(none)"] += 1
    return {"accuracy": sum(y == p for y, p in zip(ys, ps)) / len(ys) if ys else 0.0,
            "macro_f1": sum(x["f1"] for x in per.values()) / len(per) if per else 0.0,
            "per_label": per, "confusion": confusion, "labels": labels}


def _multilabel(gold, pred, labels) -> dict:
    gs = [set(g.get("labels", [])) for g in gold]
    ps = [set((p or {}).get("labels", [])) for p in pred]
    labels = labels or sorted(set().union(*gs, *ps))
    per = {}
    for lab in labels:
        tp = sum(lab in g and lab in p for g, p in zip(gs, ps))
        per[lab] = prf(tp, sum(lab in p for p in ps), sum(lab in g for g in gs))
    micro = prf(sum(x["tp"] for x in per.values()), sum(x["pred"] for x in per.values()),
                sum(x["gold"] for x in per.values()))
    return {"micro": micro, "macro_f1": sum(x["f1"] for x in per.values()) / len(per) if per else 0.0,
            "exact_set_accuracy": sum(g == p for g, p in zip(gs, ps)) / len(gs) if gs else 0.0,
            "per_label": per, "labels": labels}


def records(gold: list[dict], pred: list[dict | None], fields: list[str] | None = None) -> dict:
    """Field-level accuracy: a field is right when its value equals gold exactly (strings
    compared after collapsing whitespace)."""
    fields = fields or sorted({k for g in gold for k in g})
    per = {}
    for f in fields:
        right = sum(_same((p or {}).get(f, None) if p is not None else object(), g.get(f))
                    for g, p in zip(gold, pred))
        per[f] = right / len(gold) if gold else 0.0
    return {"field_accuracy": sum(per.values()) / len(per) if per else 0.0, "per_field": per,
            "exact_record_accuracy": sum(p is not None and all(_same(p.get(f), g.get(f)) for f in fields)
                                         for g, p in zip(gold, pred)) / len(gold) if gold else 0.0}


def _same(a, b) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return _norm(a) == _norm(b)
    if isinstance(a, float) or isinstance(b, float):
        try:
            return abs(float(a) - float(b)) < 1e-6
        except (TypeError, ValueError):
            return False
    return a == b


SCORERS: dict[str, Callable[..., dict]] = {
    "entities": entities, "relations": relations, "events": events, "triples": triples,
    "qa": qa, "classify": classify, "record": records}


# ---- per-input statistics, for breakdowns and the paired bootstrap ------------------------------

def main_score_name(kind: str, gold: list[dict]) -> str:
    if kind == "qa":
        return "SQuAD F1"
    if kind == "classify":
        return "micro-F1" if gold and "labels" in gold[0] else "accuracy"
    if kind == "record":
        return "field accuracy"
    if kind == "triples":
        return "CaRB-style F1"
    if kind == "events":
        return "argument classification micro-F1"
    return "strict micro-F1"


def per_input(kind: str, gold: list[dict], pred: list[dict | None]) -> list[tuple]:
    """One tuple of additive statistics per input; main_score turns a sum of them into the score."""
    out: list[tuple] = []
    for g, p in zip(gold, pred):
        if kind in ("entities", "relations"):
            m = SCORERS[kind]([g], [p])["strict"]["micro"]
            out.append((m["tp"], m["pred"], m["gold"]))
        elif kind == "events":
            m = events([g], [p])["argument_classification"]["micro"]
            out.append((m["tp"], m["pred"], m["gold"]))
        elif kind == "triples":
            m = triples([g], [p])
            out.append((m["precision"] * m["pred"], m["recall"] * m["gold"], m["pred"], m["gold"]))
        elif kind == "qa":
            out.append((qa([g], [p])["f1"], 1))
        elif kind == "classify" and "labels" in g:
            gs, ps = set(g["labels"]), set((p or {}).get("labels", []))
            out.append((len(gs & ps), len(ps), len(gs)))
        elif kind == "classify":
            out.append((float(g.get("label") == (p or {}).get("label")), 1))
        else:
            out.append((records([g], [p])["field_accuracy"], 1))
    return out


def main_score(kind: str, stats: list[tuple], multilabel: bool = False) -> float:
    totals = [sum(x) for x in zip(*stats)] if stats else []
    if not totals:
        return 0.0
    if kind in LIST_SCORED:
        return f1_of(*precision_recall(kind, stats))
    if kind == "classify" and multilabel:
        return prf(totals[0], totals[1], totals[2])["f1"]
    return totals[0] / totals[1] if totals[1] else 0.0


LIST_SCORED = ("entities", "relations", "events", "triples")  # per_input gives their precision and recall


def precision_recall(kind: str, stats: list[tuple]) -> tuple[float, float]:
    """Precision and recall from per_input statistics, for the kinds whose answers are lists."""
    totals = [sum(x) for x in zip(*stats)] if stats else []
    if kind == "triples":
        got, found, n_pred, n_gold = totals or [0, 0, 0, 0]
    elif kind in LIST_SCORED:
        got, n_pred, n_gold = totals or [0, 0, 0]
        found = got
    else:
        raise ValueError(f"{kind} answers are not lists of items")
    return (got / n_pred if n_pred else 0.0), (found / n_gold if n_gold else 0.0)


def paired_bootstrap(kind: str, gold, pred_a, pred_b, samples: int = 1000, seed: int = 0,
                     multilabel: bool = False) -> dict:
    """Difference B - A of the main score with a 95 % interval from resampling the inputs, and
    the share of resamples where B is not better (a one-sided p-value)."""
    import random

    a, b = per_input(kind, gold, pred_a), per_input(kind, gold, pred_b)
    rng = random.Random(seed)
    n = len(gold)
    diffs = []
    for _ in range(samples):
        idx = [rng.randrange(n) for _ in range(n)]
        diffs.append(main_score(kind, [b[i] for i in idx], multilabel) -
                     main_score(kind, [a[i] for i in idx], multilabel))
    diffs.sort()
    return {"a": main_score(kind, a, multilabel), "b": main_score(kind, b, multilabel),
            "difference": main_score(kind, b, multilabel) - main_score(kind, a, multilabel),
            "ci95": [diffs[int(0.025 * samples)], diffs[int(0.975 * samples) - 1]],
            "p_b_not_better": sum(d <= 0 for d in diffs) / samples, "samples": samples, "seed": seed}
