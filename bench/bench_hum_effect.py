"""Does the corpus help? The Hum effect in miniature (issue 21).

SmolLM2-135M-Instruct as it ships, against the same model fine-tuned with `humc finetune` on two
corpora made by `humc synth --corpus` from bench/hum_effect.hum: Hum style (phrasings, label
batches, guidelines, rules and formats vary) and baseline style (one phrasing, one JSON format,
every label: a one-template converter's output). Both are made from the same source examples
and trained on the same number of tokens. One format per task is held out of both corpora.
`--pair mix` compares `hum_mix` and `baseline_mix` (CoNLL-2003, CoNLL04, SST-2); `--pair wide`
compares `hum_wide` and `baseline_wide`, which add TREC and XQuAD (the paper's mixture spans IE,
reading comprehension and classification); `--pair formats` compares `hum_mix` and `formats_mix`,
the baseline style written in the formats `hum_mix` writes each example in (the column named
"baseline" is then that corpus).

Every model is scored with `humc run` + the `humc eval` scorer on the first N usable items of each
task's dev split (TREC and XQuAD, which have one labelled file here: the last N that no corpus
read), in several formats of the spec; the shipped model also with the spec's two worked
examples (the run default) and with four demonstrations retrieved from the same training data
(`--shots-from`), the obvious way to improve it without training.

    python bench/bench_hum_effect.py [--pair mix|wide|formats] [--tokens 100000] [--n 30] [--n-for squad=10]
                                     [--work /tmp/hum-effect] [--reuse] [--columns baseline,hum]

Results: bench/results/hum_effect.json (hum_effect_wide.json for --pair wide, hum_effect_formats.json
for --pair formats; written after every row), a table on stdout, and the difference Hum - baseline
(the control) with a 95 % interval from the paired bootstrap (each task's dev items resampled, the same draw for every format of the task), per row
and for the average.
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
    # One labelled file each: scored on items no corpus read, and no retrieved-shots column (the
    # file it would retrieve from holds the dev items).
    "trec_coarse": ("specs/classify.hum", "classify", DATA / "trec" / "TREC.train", "trec-coarse", None,
                    ["json_label", "bare_label", "label_line"], "label_line"),
    "squad": ("specs/qa.hum", "qa", DATA / "xquad_en" / "xquad.en.even_articles.json", "squad", None,
              ["json_answer", "answer_span"], None),
}

# How each task's answers are decided in every column: what the specs' run profiles said when the
# tables in bench/README.md were made, pinned so that a profile changed since does not change
# what a column measures. squad: every span of the passage's likeliest sentences scored.
DECISIONS = {"squad": "exact"}  # the others: "greedy"

# --pair: the two corpora of bench/hum_effect.hum compared (the control, Hum style), their tasks
# and the results file. The control is the baseline style, or for `formats` the baseline style in
# the Hum corpus's formats (what is left of the Hum effect when both train the same formats).
PAIRS = {
    "mix": ("baseline_mix", "hum_mix", ["conll03", "conll04", "sst2"], RESULTS),
    "formats": ("formats_mix", "hum_mix", ["conll03", "conll04", "sst2"],
                RESULTS.with_name("hum_effect_formats.json")),
    "wide": ("baseline_wide", "hum_wide", ["conll03", "conll04", "sst2", "trec_coarse", "squad"],
             RESULTS.with_name("hum_effect_wide.json")),
}


COLUMNS = {"shipped": "shipped (spec's 2 examples)", "retrieved": "shipped (4 retrieved)"}


def gold_path(task: str, work: Path) -> Path:
    return work / f"{task}.gold.jsonl"


def dev_gold(task: str, n: int, work: Path, read: set[str]) -> Path:
    """The first n dev items of at least six words (not CoNLL's -DOCSTART- and score lines). A task
    whose dev file is its training file (no retrieval file named) takes the last n items that no
    corpus read (`read`: their example ids), and none whose text (an XQuAD paragraph) one read."""
    from humdsl.adapters.readers import read_examples

    _, _, dev, adapter, train_file, *_ = TASKS[task]
    examples, _ = read_examples(dev, adapter)
    usable = [e for e in examples if len(e["text"].split()) >= 6]
    if train_file is None:
        seen = {e["text"] for e in examples if e["id"] in read}
        chosen = [e for e in usable if e["id"] not in read and e["text"] not in seen][-n:]
    else:
        chosen = usable[:n]
    path = gold_path(task, work)
    with path.open("w", encoding="utf-8") as fh:
        for e in chosen:
            fh.write(json.dumps({k: v for k, v in e.items() if k != "source"}) + "\n")
    return path


def examples_read(corpus: Path) -> set[str]:
    """The ids of the source examples a corpus was made from."""
    with corpus.open(encoding="utf-8") as fh:
        return {json.loads(line)["meta"]["example"] for line in fh}


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
    run(str(ROOT / spec), RunOptions(task=task, format=fmt, model=model, input=gold, output=out,
                                     decision=DECISIONS.get(task, "greedy"), **opts))
    seconds = time.monotonic() - start
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    scores = evaluate(kind, str(gold), str(out))
    return {"metric": scores["main_score"]["name"], "score": round(scores["main_score"]["value"], 4),
            "valid": round(sum(x.get("record") is not None for x in lines) / max(1, len(lines)), 4),
            "s_per_input": round(seconds / max(1, len(lines)), 3), "n": len(lines), "predictions": out.name}


def hum_vs_baseline(results: dict, work: Path, samples: int = 1000, seed: int = 0) -> dict:
    """Hum style - baseline style (the pair's two fine-tunes) per row and on the average of the
    rows, with 95 % intervals from resampling each task's dev items (one draw per task, shared by its formats and both models:
    the rows of a task are scored on the same sentences, so their errors are not independent)."""
    import random

    from humdsl.evaluate import read_gold
    from humdsl.evaluate.io import read
    from humdsl.evaluate.metrics import per_input
    from humdsl.kinds import KINDS

    baseline, hum = results["models"][2:]
    rows = [r for r in results["rows"] if {baseline, hum} <= set(r["scores"])]
    if not rows:
        return {}
    stats = []  # per row: (task, kind, per-input stats of the baseline model, of the Hum one)
    for row in rows:
        kind = TASKS[row["task"]][1]
        gold = read_gold(gold_path(row["task"], work), kind=kind)
        g = [gold.records[i] for i in gold.order]
        pair = []
        for model in (baseline, hum):
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


def record(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


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
    ap.add_argument("--n-for", default="", help="another number for some tasks, as TASK=N,... (squad=50: "
                                                 "its exact decisions score every span of a passage's "
                                                 "sentences: several times as slow)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/hum-effect"))
    ap.add_argument("--reuse", action="store_true", help="keep models already trained into --work")
    ap.add_argument("--pair", choices=PAIRS, default="mix",
                    help="which corpora to compare: mix (3 tasks, hum_effect.json), wide (5, hum_effect_wide.json) "
                         "or formats (hum_mix against formats_mix, hum_effect_formats.json)")
    ap.add_argument("--only", help="only these tasks (comma-separated); default: the pair's")
    ap.add_argument("--formats", help="only these formats (comma-separated); default: every one listed")
    ap.add_argument("--columns", help="score only these models (comma-separated: shipped, retrieved, "
                                      "baseline, hum); default: every one")
    ap.add_argument("--retrieved-first-format-only", action="store_true",
                    help="score the shipped model with retrieved shots on each task's first format only (its "
                         "prompts are four times as long: the slowest column on a CPU)")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    args.work.mkdir(parents=True, exist_ok=True)
    baseline, hum, tasks, results_path = PAIRS[args.pair]
    shipped, retrieved = COLUMNS["shipped"], COLUMNS["retrieved"]
    models = [shipped, retrieved, baseline, hum]
    columns = {**COLUMNS, "baseline": baseline, "hum": hum}
    results = {"hardware": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
                           f"{'GPU ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}",
               "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                        text=True).stdout.strip(),
               "tokens_per_finetune": args.tokens, "n_per_task": args.n, "n_for": args.n_for, "models": models,
               "corpora": {}, "training": {}, "rows": []}
    if args.reuse and results_path.exists():  # keep the rows an earlier run into the same --work scored
        earlier = json.loads(results_path.read_text(encoding="utf-8"))
        if (earlier.get("n_per_task"), earlier.get("n_for", "")) == (args.n, args.n_for):  # others would not compare
            results["rows"] = earlier.get("rows", [])
    rows = {(r["task"], r["format"]): r for r in results["rows"]}
    trained, read = {}, set()
    for name in (baseline, hum):
        corpus, summary = make_corpus(name, args.work)
        read |= examples_read(corpus)
        results["corpora"][name] = summary
        print(f"{name}: {summary['instances']} instances", flush=True)
        trained[name], results["training"][name] = train(name, corpus, args.tokens, args.work, args.reuse)
        print(f"{name}: trained {results['training'][name]}", flush=True)
        record(results, results_path)
    n_for = dict(item.split("=") for item in args.n_for.split(",") if item)
    for task in args.only.split(",") if args.only else tasks:
        gold = dev_gold(task, int(n_for.get(task, args.n)), args.work, read)
        _, _, _, _, train_file, formats, held = TASKS[task]
        for fmt in formats:
            if args.formats and fmt not in args.formats.split(","):
                continue
            row = rows.get((task, fmt))
            if row is None:
                row = {"task": task, "format": fmt, "held_out": fmt == held, "scores": {}}
                results["rows"].append(row)
            runs = [(shipped, None, {}), (retrieved, None, {"shots_from": train_file}),
                    (baseline, str(trained[baseline]), {"shots": 0}),
                    (hum, str(trained[hum]), {"shots": 0})]
            if train_file is None or args.retrieved_first_format_only and fmt != formats[0]:
                runs = [r for r in runs if r[0] != retrieved]
            if args.columns:
                wanted = {columns.get(c, c) for c in args.columns.split(",")}
                runs = [r for r in runs if r[0] in wanted]
            for label, model, opts in runs:
                if label in row["scores"]:
                    continue
                row["scores"][label] = score(task, fmt, model, gold, args.work, label.split()[0] + str(len(opts)),
                                             **opts)
                print(f"{task:8} {fmt:16} {label:28} {100 * row['scores'][label]['score']:6.2f}  "
                      f"{row['scores'][label]['s_per_input']:.2f} s/input", flush=True)
                record(results, results_path)
    results["hum_vs_baseline"] = hum_vs_baseline(results, args.work)
    record(results, results_path)
    print(table(results))
    if results["hum_vs_baseline"]:
        for name, key in (("the average", "average"), ("the held-out formats' average", "held_out_average")):
            avg = results["hum_vs_baseline"][key]
            if avg:
                low, high = avg["ci95"]
                print(f"{hum} - {baseline} on {name}: {100 * avg['difference']:+.1f} "
                      f"(95 % interval {100 * low:+.1f} to {100 * high:+.1f})")


if __name__ == "__main__":
    main()
