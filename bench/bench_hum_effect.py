"""Does the corpus help? The Hum effect in miniature (issue 21).

SmolLM2-135M-Instruct as it ships, against the same model fine-tuned with `humc finetune` on two
corpora made by `humc synth --corpus` from bench/hum_effect.hum: `hum_mix` (phrasings, label
batches, guidelines, rules and formats vary) and `baseline_mix` (one phrasing, one JSON format,
every label: a one-template converter's output). Both are made from the same source examples
and trained on the same number of tokens. One format per task is held out of both corpora.

Every model is scored with `humc run` + the `humc eval` scorer on the first N usable items of each
task's dev split, in several formats of the spec; the shipped model also with the spec's two
worked examples (the run default) and with four demonstrations retrieved from the same training
data (`--shots-from`), the obvious way to improve it without training.

    python bench/bench_hum_effect.py [--tokens 100000] [--n 30] [--work /tmp/hum-effect] [--reuse]
                                     [--columns baseline_mix,hum_mix]

Results: bench/results/hum_effect.json (written after every row), a table on stdout, and the
difference hum_mix - baseline_mix with a 95 % interval from the paired bootstrap (each task's dev
items resampled, the same draw for every format of the task), per row and for the average.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
SPEC = ROOT / "bench" / "hum_effect.hum"
RESULTS = ROOT / "bench" / "results" / "hum_effect.json"

# task -> (spec, kind, dev file, adapter, training file for retrieved shots, formats, held-out format)
TASKS = {
    "conll03": ("specs/ner.hum", "entities", DATA / "conll2003" / "eng.testa", "conll-iob1",
                DATA / "conll2003" / "eng.train", ["json_by_label", "sentences", "tuples"], "tuples"),
    "conll04": ("specs/relations.hum", "relations", DATA / "conll04" / "conll04_dev.json", "conll04",
                DATA / "conll04" / "conll04_train.json", ["json_relations", "triple_lines", "relation_tuples"],
                "relation_tuples"),
    "sst2": ("specs/classify.hum", "classify", DATA / "sst2" / "stsa.binary.dev", "sst2",
             DATA / "sst2" / "stsa.binary.train", ["json_label", "bare_label", "label_line"], "label_line"),
}


COLUMNS = {"shipped": "shipped (spec's 2 examples)", "retrieved": "shipped (4 retrieved)"}


def gold_path(task: str, work: Path) -> Path:
    return work / f"{task}.gold.jsonl"


def dev_gold(task: str, n: int, work: Path) -> Path:
    """The first n dev items of at least six words (not CoNLL's -DOCSTART- and score lines)."""
    from humdsl.adapters.readers import read_examples

    _, _, dev, adapter, *_ = TASKS[task]
    examples, _ = read_examples(dev, adapter)
    chosen = [e for e in examples if len(e["text"].split()) >= 6][:n]
    path = gold_path(task, work)
    with path.open("w", encoding="utf-8") as fh:
        for e in chosen:
            fh.write(json.dumps({"id": e["id"], "text": e["text"], "record": e["record"]}) + "\n")
    return path


def make_corpus(name: str, work: Path) -> tuple[Path, dict]:
    from humdsl.synth.mixture import CorpusOptions, report, synthesise_corpus

    out = work / f"{name}.jsonl"
    summary = synthesise_corpus(str(SPEC), CorpusOptions(name, out, seed=0))
    return out, report(summary)


def train(name: str, corpus: Path, tokens: int, work: Path, reuse: bool) -> tuple[Path, dict]:
    from humdsl.finetune import FinetuneOptions, finetune

    out = work / "models" / name
    if reuse and (out / "model.safetensors").exists():
        return out, json.loads((out / "train.json").read_text(encoding="utf-8"))
    result = finetune(FinetuneOptions(corpus, out, max_tokens=tokens, batch_size=4, restart=True),
                      log=lambda line: print(f"  [{name}] {line}", flush=True))
    info = {"tokens": result.tokens, "steps": result.steps, "seconds": round(result.seconds),
            "first_loss": result.first_loss, "last_loss": result.last_loss}
    (out / "train.json").write_text(json.dumps(info) + "\n", encoding="utf-8")
    return out, info


def score(task: str, fmt: str, model: str | None, gold: Path, work: Path, tag: str, **opts) -> dict:
    from humdsl.evaluate import evaluate
    from humdsl.runtime.run import RunOptions, run

    spec, kind, *_ = TASKS[task]
    out = work / f"{tag}.{task}.{fmt}.jsonl"
    out.unlink(missing_ok=True)
    start = time.monotonic()
    run(str(ROOT / spec), RunOptions(task=task, format=fmt, model=model, input=gold, output=out, **opts))
    seconds = time.monotonic() - start
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    scores = evaluate(kind, str(gold), str(out))
    return {"metric": scores["main_score"]["name"], "score": round(scores["main_score"]["value"], 4),
            "valid": round(sum(x.get("record") is not None for x in lines) / max(1, len(lines)), 4),
            "s_per_input": round(seconds / max(1, len(lines)), 3), "n": len(lines), "predictions": out.name}


def hum_vs_baseline(results: dict, work: Path, samples: int = 1000, seed: int = 0) -> dict:
    """hum_mix - baseline_mix per row and on the average of the rows, with 95 % intervals from
    resampling each task's dev items (one draw per task, shared by its formats and both models:
    the rows of a task are scored on the same sentences, so their errors are not independent)."""
    import random

    from humdsl.evaluate import read_gold
    from humdsl.evaluate.io import read
    from humdsl.evaluate.metrics import per_input
    from humdsl.kinds import KINDS

    rows = [r for r in results["rows"] if {"baseline_mix", "hum_mix"} <= set(r["scores"])]
    if not rows:
        return {}
    stats = []  # per row: (task, kind, per-input stats of baseline_mix, of hum_mix)
    for row in rows:
        kind = TASKS[row["task"]][1]
        gold = read_gold(gold_path(row["task"], work), kind=kind)
        g = [gold.records[i] for i in gold.order]
        pair = []
        for model in ("baseline_mix", "hum_mix"):
            pred = read(work / row["scores"][model]["predictions"], predictions=True, kind=kind)
            pair.append(per_input(KINDS[kind], g, [pred.records.get(i) for i in gold.order]))
        stats.append((row["task"], KINDS[kind], *pair))

    def differences(draw: dict[str, list[int]]) -> list[float]:
        return [kind.main_score([h[i] for i in draw[task]]) - kind.main_score([b[i] for i in draw[task]])
                for task, kind, b, h in stats]

    n = {task: len(b) for task, _, b, _ in stats}
    point = differences({task: list(range(k)) for task, k in n.items()})
    rng = random.Random(seed)
    draws = [differences({task: [rng.randrange(k) for _ in range(k)] for task, k in n.items()})
             for _ in range(samples)]

    def interval(values: list[float]) -> list[float]:
        values = sorted(values)
        return [round(values[int(0.025 * samples)], 4), round(values[int(0.975 * samples) - 1], 4)]

    def average(which: list[int]) -> dict:
        means = [sum(draw[j] for j in which) / len(which) for draw in draws]
        return {"difference": round(sum(point[j] for j in which) / len(which), 4), "ci95": interval(means),
                "p_hum_not_better": round(sum(m <= 0 for m in means) / samples, 3)}

    per_row = [{"task": r["task"], "format": r["format"], "difference": round(d, 4),
                "ci95": interval([draw[j] for draw in draws])} for j, (r, d) in enumerate(zip(rows, point))]
    held_out = [j for j, r in enumerate(rows) if r["held_out"]]
    return {"rows": per_row, "average": average(list(range(len(rows)))),
            "held_out_average": average(held_out) if held_out else None, "samples": samples, "seed": seed}


def record(results: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def table(results: dict) -> str:
    models = results["models"]
    head = "| task | format | " + " | ".join(models) + " |"
    lines = [head, "|" + "---|" * (len(models) + 2)]
    averages = {m: [] for m in models}
    for row in results["rows"]:
        cells = []
        for m in models:
            r = row["scores"].get(m)
            cells.append(f"{100 * r['score']:.1f}" if r else "—")
            if r:
                averages[m].append(r["score"])
        held = " (held out)" if row["held_out"] else ""
        lines.append(f"| {row['task']} | {row['format']}{held} | " + " | ".join(cells) + " |")
    lines.append("| **average** | | " + " | ".join(
        f"**{100 * sum(v) / len(v):.1f}**" if v and len(v) == len(results["rows"]) else "—"
        for v in averages.values()) + " |")
    return "\n".join(lines)


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=100_000, help="training tokens per fine-tune")
    ap.add_argument("--n", type=int, default=30, help="dev items per task")
    ap.add_argument("--work", type=Path, default=Path("/tmp/hum-effect"))
    ap.add_argument("--reuse", action="store_true", help="keep models already trained into --work")
    ap.add_argument("--only", default=",".join(TASKS))
    ap.add_argument("--formats", help="only these formats (comma-separated); default: every one listed")
    ap.add_argument("--columns", help="score only these models (comma-separated: shipped, retrieved, "
                                      "baseline_mix, hum_mix); default: every one")
    ap.add_argument("--retrieved-first-format-only", action="store_true",
                    help="score the shipped model with retrieved shots on each task's first format only (its "
                         "prompts are four times as long: the slowest column on a CPU)")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    args.work.mkdir(parents=True, exist_ok=True)
    models = ["shipped (spec's 2 examples)", "shipped (4 retrieved)", "baseline_mix", "hum_mix"]
    results = {"hardware": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
                           f"{'GPU ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}",
               "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                        text=True).stdout.strip(),
               "tokens_per_finetune": args.tokens, "n_per_task": args.n, "models": models,
               "corpora": {}, "training": {}, "rows": []}
    if args.reuse and RESULTS.exists():  # keep the rows an earlier run into the same --work scored
        earlier = json.loads(RESULTS.read_text(encoding="utf-8"))
        if earlier.get("n_per_task") == args.n:  # rows scored on other items would not compare
            results["rows"] = earlier.get("rows", [])
    rows = {(r["task"], r["format"]): r for r in results["rows"]}
    trained = {}
    for name in ("baseline_mix", "hum_mix"):
        corpus, summary = make_corpus(name, args.work)
        results["corpora"][name] = summary
        print(f"{name}: {summary['instances']} instances", flush=True)
        trained[name], results["training"][name] = train(name, corpus, args.tokens, args.work, args.reuse)
        print(f"{name}: trained {results['training'][name]}", flush=True)
        record(results)
    for task in args.only.split(","):
        gold = dev_gold(task, args.n, args.work)
        _, _, _, _, train_file, formats, held = TASKS[task]
        for fmt in formats:
            if args.formats and fmt not in args.formats.split(","):
                continue
            row = rows.get((task, fmt))
            if row is None:
                row = {"task": task, "format": fmt, "held_out": fmt == held, "scores": {}}
                results["rows"].append(row)
            runs = [("shipped (spec's 2 examples)", None, {}),
                    ("shipped (4 retrieved)", None, {"shots_from": train_file}),
                    ("baseline_mix", str(trained["baseline_mix"]), {"shots": 0}),
                    ("hum_mix", str(trained["hum_mix"]), {"shots": 0})]
            if args.retrieved_first_format_only and fmt != formats[0]:
                runs = [r for r in runs if r[0] != "shipped (4 retrieved)"]
            if args.columns:
                wanted = {COLUMNS.get(c, c) for c in args.columns.split(",")}
                runs = [r for r in runs if r[0] in wanted]
            for label, model, opts in runs:
                if label in row["scores"]:
                    continue
                row["scores"][label] = score(task, fmt, model, gold, args.work, label.split()[0] + str(len(opts)),
                                             **opts)
                print(f"{task:8} {fmt:16} {label:28} {100 * row['scores'][label]['score']:6.2f}  "
                      f"{row['scores'][label]['s_per_input']:.2f} s/input", flush=True)
                record(results)
    results["hum_vs_baseline"] = hum_vs_baseline(results, args.work)
    record(results)
    print(table(results))
    if results["hum_vs_baseline"]:
        for name, key in (("the average", "average"), ("the held-out formats' average", "held_out_average")):
            avg = results["hum_vs_baseline"][key]
            if avg:
                low, high = avg["ci95"]
                print(f"hum_mix - baseline_mix on {name}: {100 * avg['difference']:+.1f} "
                      f"(95 % interval {100 * low:+.1f} to {100 * high:+.1f})")


if __name__ == "__main__":
    main()
