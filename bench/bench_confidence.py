"""How well each extracted item's probability (`item_p` on `humc run`'s lines) ranks the items:
the average precision of the items sorted by it, against the same items in a random order, and
against what a user would do without them (sample the answer a few more times and trust the items
that keep coming back: `--samples`, on json_by_label), and against the other ways to score an
item from the same picks: the mean or the lowest token
probability in its stretch of the answer (as the issue suggested) instead of their product, and
that stretch placed where cutting the item out is ambiguous at its latest or earliest place
instead of both.

    python bench/bench_confidence.py [--conll N] [--conll04 N] [--samples K] [--formats F,G]

SmolLM2-135M-Instruct on the CPU, demonstrations retrieved from the training split, the rules
across spans kept while decoding (the defaults). Results: bench/results/confidence.json, read in
bench/README.md."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "confidence.json"


def _capture():
    """Every answer the jump-forward decoder returns, in order (the rows' order: for the other
    scorings, from the same picks)."""
    from humdsl.runtime.jumpforward import JumpForwardDecoder

    seen: list = []
    original = JumpForwardDecoder.generate

    def generate(self, *a, **k):
        out = original(self, *a, **k)
        seen.extend(out)
        return out

    JumpForwardDecoder.generate = generate  # type: ignore[method-assign]
    return seen


def _stretches(fmt, record: dict, text: str, source: str) -> dict[str, list[tuple[int, int]]]:
    """Each item's stretch of the answer three ways, where cutting it out is ambiguous: the
    latest place (the common prefix first), the earliest (the suffix first), and both together
    (what confidence.py takes)."""
    from humdsl.formats import Unrenderable
    from humdsl.kinds import KINDS

    key = KINDS[fmt.schema.kind].list_key
    items = record.get(key) or []
    out: dict[str, list[tuple[int, int]]] = {"latest": [], "earliest": [], "both": []}
    for j in range(len(items)):
        try:
            other = fmt.render({**record, key: items[:j] + items[j + 1:]}, None, source)
        except Unrenderable:
            return {}
        n, L = min(len(text), len(other)), len(text)
        prefix = next((k for k in range(n) if text[k] != other[k]), n)
        suffix = next((k for k in range(n) if text[L - 1 - k] != other[len(other) - 1 - k]), n)
        latest = (prefix, L - min(suffix, len(other) - prefix))
        earliest = (min(prefix, len(other) - suffix), L - suffix)
        out["latest"].append(latest)
        out["earliest"].append(earliest)
        out["both"].append((earliest[0], latest[1]))
    return out


def _scorings(fmt, line: dict, source: str, picks) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for where, regions in _stretches(fmt, line["record"], line["raw"], source).items():
        for how in ("product", "mean", "lowest"):
            out[f"{how}, {where}"] = []
            for a, b in regions:
                lps = [p for s, e, p in picks if s < b and e > a] or [0.0]
                value = sum(lps) if how == "product" else sum(lps) / len(lps) if how == "mean" else min(lps)
                out[f"{how}, {where}"].append(float(f"{math.exp(value):.4g}"))  # as item_p is written
    return out


def _agreement(spec: str, task: str, kind: str, fmt_name: str, gold: Path, train: Path, work: Path,
               lines: list[dict], samples: int) -> tuple[float, float]:
    """The obvious alternative without probabilities: sample the answer `samples` more times
    (temperature 0.7) and score each greedy item by the share of samples that also have it. Its
    average precision, and the seconds per input those samples cost."""
    from humdsl.evaluate import evaluate
    from humdsl.runtime.run import RunOptions, run

    key = {"entities": "entities", "relations": "relations"}[kind]
    found: dict[str, list[list[str]]] = {}
    start = time.monotonic()
    for seed in range(samples):
        out = work / f"{task}-{fmt_name}-sample{seed}.jsonl"
        for old in (out, out.with_name(out.name + ".partial")):
            old.unlink(missing_ok=True)
        run(str(ROOT / spec), RunOptions(task=task, model=None, input=gold, output=out, format=fmt_name,
                                         shots_from=train, temperature=0.7, seed=seed))
        for line in map(json.loads, out.read_text(encoding="utf-8").splitlines()):
            items = (line["record"] or {}).get(key, [])
            found.setdefault(line["id"], []).append([json.dumps(x, sort_keys=True) for x in items])
    seconds = (time.monotonic() - start) / len(lines)
    alt = work / f"{task}-{fmt_name}-agreement.jsonl"
    with alt.open("w", encoding="utf-8") as fh:
        for line in lines:
            if line.get("record"):
                runs = found.get(line["id"], [])
                share = [sum(json.dumps(x, sort_keys=True) in r for r in runs) / samples for x in line["record"][key]]
                line = {**line, "item_p": share}
            fh.write(json.dumps(line) + "\n")
    return (evaluate(kind, str(gold), str(alt))["item_confidence"] or {}).get("average_precision", 0.0), seconds


def bench_task(spec: str, task: str, kind: str, fmt_name: str, dev: list[dict], train: Path, work: Path,
               seen: list, samples: int = 0) -> dict:
    import humdsl
    from humdsl.evaluate import evaluate
    from humdsl.runtime.run import RunOptions, run

    gold = work / f"{task}.gold.jsonl"
    with gold.open("w", encoding="utf-8") as fh:
        for e in dev:
            fh.write(json.dumps({"id": e["id"], "text": e["text"], "record": e["record"]}) + "\n")
    out = work / f"{task}-{fmt_name}.jsonl"
    for old in (out, out.with_name(out.name + ".partial")):  # never resumed from an earlier run
        old.unlink(missing_ok=True)
    del seen[:]
    start = time.monotonic()
    run(str(ROOT / spec), RunOptions(task=task, model=None, input=gold, output=out, format=fmt_name,
                                     shots_from=train))
    seconds = time.monotonic() - start
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    result = evaluate(kind, str(gold), str(out))
    row = {"task": task, "format": fmt_name, "n": len(lines), "score": round(result["main_score"]["value"], 4),
           "s_per_input": round(seconds / len(lines), 3)}
    curve = result["item_confidence"] or {}
    row["items"] = curve.get("items", 0)
    row["random_order"] = round(curve.get("random_ranking", 0.0), 4)
    row["AP item_p"] = round(curve.get("average_precision", 0.0), 4)
    row["best_f1"] = {k: round(v, 4) for k, v in curve.get("best_f1", {}).items()}
    # The other scorings, from the same picks, scored by the same code (evaluate's curve).
    fmt = humdsl.load(str(ROOT / spec)).task(task).format(fmt_name)
    sources = {e["id"]: e["text"] for e in dev}
    assert len(seen) == len(lines) and all(str(x) == y["raw"] for x, y in zip(seen, lines) if isinstance(x, str))
    started = time.perf_counter()
    variants = {line["id"]: _scorings(fmt, line, sources[line["id"]], getattr(answer, "picks", ()))
                for line, answer in zip(lines, seen) if line.get("record")}
    row["ms_scoring_per_input"] = round(1000 * (time.perf_counter() - started) / len(lines), 2)
    for name in sorted({k for v in variants.values() for k in v}):
        alt = work / f"{task}-{fmt_name}-{name.replace(', ', '-')}.jsonl"
        with alt.open("w", encoding="utf-8") as fh:
            for line in lines:
                if line.get("record"):
                    line = {**line, "item_p": variants[line["id"]].get(name)}
                fh.write(json.dumps(line) + "\n")
        row[f"AP {name}"] = round((evaluate(kind, str(gold), str(alt))["item_confidence"] or {}).get("average_precision", 0), 4)
    if samples:
        ap, cost = _agreement(spec, task, kind, fmt_name, gold, train, work, lines, samples)
        row[f"AP agreement of {samples} samples"] = round(ap, 4)
        row["s_per_input_of_the_samples"] = round(cost, 3)
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conll", type=int, default=100)
    ap.add_argument("--conll04", type=int, default=40)
    ap.add_argument("--samples", type=int, default=4, help="samples for the agreement baseline (json_by_label)")
    ap.add_argument("--formats", default="json_by_label,tuples,sentences",
                    help="CoNLL-2003 formats to measure; the other rows are kept from the last results")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_confidence"))
    args = ap.parse_args()
    from humdsl.adapters.readers import read_examples

    args.work.mkdir(parents=True, exist_ok=True)
    seen = _capture()
    rows = []
    dev, _ = read_examples(DATA / "conll2003" / "eng.testa")
    dev = [e for e in dev if len(e["text"].split()) >= 6][:args.conll]  # as bench_quality.py
    for fmt in args.formats.split(","):
        rows.append(bench_task("specs/ner.hum", "conll03", "entities", fmt, dev, DATA / "conll2003" / "eng.train",
                               args.work, seen, args.samples if fmt == "json_by_label" else 0))
    if args.conll04:
        dev, _ = read_examples(DATA / "conll04" / "conll04_dev.json", "conll04")
        rows.append(bench_task("specs/relations.hum", "conll04", "relations", "relation_tuples", dev[:args.conll04],
                               DATA / "conll04" / "conll04_train.json", args.work, seen))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    measured = {(r["task"], r["format"]) for r in rows}
    kept = [r for r in json.loads(RESULTS.read_text(encoding="utf-8"))["rows"]
            if (r["task"], r["format"]) not in measured] if RESULTS.exists() else []
    rows = sorted(rows + kept, key=lambda r: (r["task"] != "conll03", r["task"]))
    RESULTS.write_text(json.dumps({"model": "SmolLM2-135M-Instruct (CPU)", "rows": rows}, indent=1) + "\n",
                       encoding="utf-8")


if __name__ == "__main__":
    main()
