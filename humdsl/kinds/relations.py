"""Relations between mentions: {"relations": [{"type", "head", "tail", "head_type"?, "tail_type"?}]},
scored strictly (with the argument types where gold has them) and by boundaries; SemEval-2010
Task 8's official score on request."""
from __future__ import annotations

from collections import Counter

from .base import ListKind
from .scoring import micro_stats, multiset_scores, norm, pct, prf, prf_table


class Relations(ListKind):
    extra_scorers = {"semeval2010": "SemEval-2010 Task 8's official macro-F1"}

    def score(self, gold, pred, labels=None) -> dict:
        # Strict matching compares the arguments' types where the gold record gives them, so a
        # dataset with types and one without are each scored as they can be.
        typed = [any("head_type" in r for r in g.get("relations", [])) for g in gold]

        def bag(rec, with_type_args: bool):
            out: Counter[tuple] = Counter()
            for r in (rec or {}).get("relations", []):
                key: tuple = (r["type"], norm(r["head"]), norm(r["tail"]))
                if with_type_args:
                    key += (r.get("head_type"), r.get("tail_type"))
                out[key] += 1
            return out
        strict = multiset_scores([bag(g, t) for g, t in zip(gold, typed)], [bag(p, t) for p, t in zip(pred, typed)],
                                 lambda k: k[0])
        boundaries = multiset_scores([bag(g, False) for g in gold], [bag(p, False) for p in pred],
                                     lambda k: k[0])
        return {"strict": strict, "boundaries": boundaries}

    def extra_score(self, name, gold, pred) -> dict:
        if name != "semeval2010":
            raise ValueError(name)
        return semeval(gold, pred)

    def input_stats(self, gold, pred) -> tuple:
        # The strict table's figure, input by input.
        return micro_stats(self.score([gold], [pred])["strict"]["micro"])

    def report(self, scores: dict) -> list[str]:
        lines = [*prf_table("relations (strict)", scores["strict"]),
                 *prf_table("relations (boundaries: head, relation, tail text)", scores["boundaries"])]
        if "semeval2010" in scores:
            lines.append(f"  SemEval-2010 Task 8 official macro-F1 (9 relations, direction-aware, Other "
                         f"excluded): {pct(scores['semeval2010']['macro_f1'])}")
        return lines


def semeval(gold: list[dict], pred: list[dict | None]) -> dict:
    """SemEval-2010 Task 8 official score: macro-F1 over the nine relations, direction-aware
    (a relation with its arguments swapped is wrong), 'Other' (no relation) excluded."""
    def label(rec):
        rels = (rec or {}).get("relations", [])
        if not rels:
            return "Other"
        r = rels[0]
        return f"{r['type']}|{norm(r['head'])}|{norm(r['tail'])}"
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


KIND = Relations(
    "relations", required=frozenset({"labels"}), allowed=frozenset({"labels", "similar", "types"}),
    label_members=("types",), list_key="relations", span_fields=("head", "tail"),
    holes=frozenset({"head", "type", "type.name", "tail", "head_type", "head_type.name",
                     "tail_type", "tail_type.name"}),
    label_holes={"type": "labels", "head_type": "types", "tail_type": "types"},
    item_strings=("head", "type", "tail"), anchor="head",
    effects=frozenset({"grounded", "max_items", "max_words", "dedupe", "ordered", "no_overlap"}),
    instruction="Extract the relations of the listed types that the text states between its mentions.",
    label_heading="Relation types")
