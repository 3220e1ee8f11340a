"""Scoring canonical records with each field's standard metrics (humc eval)."""
from __future__ import annotations

from ..errors import HumError
from pathlib import Path

from ..kinds import KINDS
from ..kinds.scoring import prf
from . import metrics
from .curve import pr_curve
from .io import field_of, merge, read

class EvalError(HumError):
    """Bad input to scoring (unknown kind, unreadable files, no overlap): a one-line message."""


class EvalUsageError(EvalError):
    """Options that do not go together (a scorer for another kind, a --by field no line has)."""

    exit_status = 2


def _readable(path: str | Path, what: str) -> None:
    p = Path(path)
    if p.is_dir():
        raise EvalError(f"cannot read {what} {path}: it is a folder")
    if not p.exists():
        raise EvalError(f"cannot read {what} {path}: no such file")


def read_gold(gold_path: str | Path, adapter: str | None = None, kind: str | None = None):
    """Gold records from canonical JSONL, or from a public dataset file through its adapter."""
    from ..adapters.readers import detect, read_examples
    from .io import Loaded

    _readable(gold_path, "--gold")
    name = adapter or detect(Path(gold_path))
    if name in (None, "canonical"):
        return read(gold_path, predictions=False, kind=kind)
    try:
        examples, report = read_examples(gold_path, name)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, UnicodeDecodeError) as e:
        raise EvalError(f"{gold_path}: cannot read with the {name} adapter: {e}") from None
    out = Loaded()
    for ex in examples:
        problem = KINDS[kind].shape_problem(ex["record"]) if kind else None
        if problem:  # the adapter reads another kind of dataset than the one scored
            raise EvalError(f"{gold_path}: the {name} adapter gives records that are not {kind} records ({problem})")
        out.records[ex["id"]] = ex["record"]
        out.order.append(ex["id"])
    out.problems = []  # the adapter's skipped spans are the dataset's, not the user's: noted below
    out.skipped = report.skipped
    return out


def evaluate(kind: str, gold_path: str | Path, pred_path: str | Path, *, labels: list[str] | None = None,
             scorer: str | None = None, by: str | None = None, adapter: str | None = None) -> dict:
    if kind not in KINDS:
        raise EvalError(f"unknown task kind '{kind}': use one of {', '.join(KINDS)} "
                        "(or --spec SPEC with a task name)")
    task_kind = KINDS[kind]
    if scorer and scorer not in task_kind.extra_scorers:
        owners = [name for name, k in KINDS.items() if scorer in k.extra_scorers]
        raise EvalUsageError(f"--scorer {scorer} scores {' and '.join(owners) or 'nothing'}, not {kind}")
    gold = read_gold(gold_path, adapter, kind)
    _readable(pred_path, "--pred")
    pred = read(pred_path, predictions=True, kind=kind)
    if by and pred.rows and all(field_of(line, by) == "(none)" for _, line, _ in pred.rows):
        fields = sorted({k for _, line, _ in pred.rows for k in line if k not in ("id", "record", "raw")})
        raise EvalUsageError(f"--by {by}: no prediction line has that field; they have: {', '.join(fields) or 'none'}")
    problems = gold.problems + pred.problems
    ids = [i for i in gold.order]
    if not ids:
        raise EvalError(f"{gold_path}: no gold lines could be read" +
                        (f" ({problems[0]})" if problems else ""))
    missing = [i for i in ids if i not in pred.records]
    extra = [i for i in pred.order if i not in gold.records]
    g = [gold.records[i] for i in ids]
    p = [pred.records.get(i) for i in ids]
    scores = task_kind.score(g, p, labels)
    if scorer:
        scores[scorer] = task_kind.extra_score(scorer, g, p)
    if labels:
        _every_label(scores, labels)
    failures = sum(1 for i in ids if i in pred.records and pred.records[i] is None)
    by_format: dict[str, int] = {}
    for i in ids:
        if i in pred.records and pred.records[i] is None:
            fmt = pred.formats.get(i, "?")
            by_format[fmt] = by_format.get(fmt, 0) + 1
    multilabel = bool(g) and "labels" in g[0]
    curve = pr_curve(kind, gold.records, ids, pred.rows, f"{pred_path}: ")
    if curve:
        problems = problems + curve.pop("problems")
        curve = curve if "curve" in curve else None
    result_by = {}
    if by:
        groups: dict[str, dict[str, dict | None]] = {}
        for key, line, record in pred.rows:
            if key in gold.records:
                bucket = groups.setdefault(field_of(line, by), {})
                bucket[key] = merge(bucket[key], record) if key in bucket else record
        for value, recs in sorted(groups.items()):
            keys = [i for i in ids if i in recs]
            stats = metrics.per_input(task_kind, [gold.records[i] for i in keys], [recs[i] for i in keys])
            result_by[value] = {"inputs": len(keys), "score": task_kind.main_score(stats, multilabel),
                                "parse_failures": sum(recs[i] is None for i in keys)}
    return {
        "kind": kind,
        "main_score": {"name": task_kind.main_score_name(g),
                       "value": task_kind.main_score(metrics.per_input(task_kind, g, p), multilabel)},
        "by": {"field": by, "groups": result_by} if by else None,
        "scores": scores,
        "item_confidence": curve,
        "counts": {"scored": len(ids), "parse_failures": failures,
                   "parse_failure_rate": failures / len(ids), "parse_failures_by_format": by_format,
                   "missing_predictions": len(missing), "extra_predictions": len(extra)},
        "problems": problems,
        "gold_items_skipped_by_adapter": getattr(gold, "skipped", [])[:50],
        "specs": {"gold": list(gold.specs.values()), "predictions": list(pred.specs.values())},
        "missing_ids": missing[:20],
        "extra_ids": extra[:20],
    }


def _every_label(scores: dict, labels: list[str]) -> None:
    """A row, all zeros, for each of the spec's labels that neither gold nor prediction uses, in
    every per-label table (the macro averages stay over the labels that occur)."""
    for key, value in scores.items():
        if key == "per_label" and isinstance(value, dict):
            for label in labels:
                value.setdefault(label, prf(0, 0, 0))
        elif isinstance(value, dict):
            _every_label(value, labels)


def compare(kind: str, gold_path, pred_a, pred_b, *, samples: int = 1000, seed: int = 0,
            adapter: str | None = None) -> dict:
    """Two prediction files on the same gold: the paired bootstrap on the main score."""
    gold = read_gold(gold_path, adapter, kind)
    _readable(pred_a, "--pred")
    _readable(pred_b, "--pred")
    a, b = read(pred_a, predictions=True, kind=kind), read(pred_b, predictions=True, kind=kind)
    ids = gold.order
    if not ids:
        raise EvalError(f"{gold_path}: no gold lines could be read")
    g = [gold.records[i] for i in ids]
    task_kind = KINDS[kind]
    result = metrics.paired_bootstrap(task_kind, g, [a.records.get(i) for i in ids], [b.records.get(i) for i in ids],
                                      samples=samples, seed=seed, multilabel=bool(g) and "labels" in g[0])
    result["main_score"] = task_kind.main_score_name(g)
    result["problems"] = gold.problems + a.problems + b.problems
    return result


def provenance_warnings(results: list[dict], names: list[str], task_hash: str | None = None) -> list[str]:
    """Where the predictions were made with another version of the task than the gold, the
    spec given, or each other (by the spec hash their lines carry): scores that may mislead."""
    out = []

    def shown(specs: list[dict]) -> str:
        return ", ".join(f"{s['name']} {s['version']} ({s['hash'][:12]})" for s in specs)

    for name, result in zip(names, results):
        preds, gold = result["specs"]["predictions"], result["specs"]["gold"]
        if len(preds) > 1:
            out.append(f"{name} mixes answers of {len(preds)} versions of the spec: {shown(preds)}")
        if task_hash and preds and any(s["hash"] != task_hash for s in preds):
            out.append(f"{name} was made with another version of the task than the spec given "
                       f"({shown(preds)}, now {task_hash[:12]}): `humc diff` shows what changed")
        gold_hashes = {s["hash"] for s in gold}
        if gold_hashes and preds and {s["hash"] for s in preds} != gold_hashes:
            out.append(f"{name} and the gold come from different versions of the spec "
                       f"({shown(preds)} against {shown(gold)})")
    if len(results) == 2:
        a = {s["hash"] for s in results[0]["specs"]["predictions"]}
        b = {s["hash"] for s in results[1]["specs"]["predictions"]}
        if a and b and a != b:
            out.append(f"{names[0]} and {names[1]} were made with different versions of the spec")
    return out
