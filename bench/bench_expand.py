"""`humc expand` measured: for specs/ner.hum (conll03) and specs/classify.hum (sst2), the
proposals a model makes for every instruction, guideline, description and rule, how many each
check drops, how many survive; then every survivor accepted, and the corpus `humc synth` makes
from the same 200 training examples before and after, compared for diversity: distinct
instruction texts, distinct word 3-grams across them, mean pairwise ROUGE-L of 300 seeded pairs.

    python bench/bench_expand.py [--model smollm2] [--n 3] [--examples 200]

Writes bench/results/expand.json. Runs the model on the CPU: about 5-15 minutes per task.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
TASKS = [("ner.hum", "conll03", DATA / "conll2003" / "eng.train", "conll-iob1"),
         ("classify.hum", "sst2", DATA / "sst2" / "stsa.binary.train", None)]


def humc(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "humc"), *map(str, args)], capture_output=True,
                          text=True)


def diversity(corpus: Path, pairs: int = 300) -> dict:
    from humdsl.expand.filters import rouge_l, words

    texts = [json.loads(line)["instruction"] for line in corpus.read_text(encoding="utf-8").splitlines()]
    grams = set()
    for t in set(texts):
        w = words(t)
        grams.update(zip(w, w[1:], w[2:]))
    rng = random.Random(0)
    chosen = [rng.sample(range(len(texts)), 2) for _ in range(pairs)]
    return {"instances": len(texts), "distinct_instructions": len(set(texts)), "distinct_3grams": len(grams),
            "mean_pairwise_rouge_l": round(sum(rouge_l(texts[a], texts[b]) for a, b in chosen) / pairs, 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--examples", type=int, default=200)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "expand.json"))
    args = ap.parse_args()
    from humdsl.adapters.readers import read_examples

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-expand-") as tmp:
        for spec_name, task, data, adapter in TASKS:
            work = Path(tmp) / task
            work.mkdir()
            spec = work / spec_name
            shutil.copy(ROOT / "specs" / spec_name, spec)
            examples, _ = read_examples(data, adapter)
            train = work / "train.jsonl"
            train.write_text("".join(json.dumps({"id": e["id"], "text": e["text"], "record": e["record"]},
                                                ensure_ascii=False) + "\n" for e in examples[:args.examples]),
                             encoding="utf-8")
            start = time.monotonic()
            r = humc("expand", spec, "--task", task, "--model", args.model, "--n", args.n, "--seed", 0,
                     "--report", work / "report.json")
            seconds = time.monotonic() - start
            if r.returncode != 0:
                raise SystemExit(f"humc expand failed on {spec_name}:\n{r.stderr}")
            report = json.loads((work / "report.json").read_text(encoding="utf-8"))
            before = work / "before.jsonl"
            after = work / "after.jsonl"
            original = ROOT / "specs" / spec_name
            for which, path in (("before", original), ("after", spec)):
                if which == "after":
                    accepted = humc("expand", spec, "--accept", "--task", task)
                    if accepted.returncode != 0:
                        raise SystemExit(accepted.stderr)
                out = before if which == "before" else after
                s = humc("synth", path, "--task", task, "--data", train, "--out", out, "--seed", 0)
                if s.returncode != 0:
                    raise SystemExit(f"humc synth failed:\n{s.stderr}")
            row = {"spec": f"specs/{spec_name}", "task": task, "seconds": round(seconds), "counts": report["counts"],
                   "kept": [{"slot": p["slot"], "text": p["text"]} for p in report["proposals"] if p["survived"]],
                   "corpus_before": diversity(before), "corpus_after": diversity(after)}
            rows.append(row)
            print(json.dumps(row, indent=1), flush=True)
    result = {"what": f"humc expand --n {args.n} --seed 0 on {args.model}, every text of the task, the meaning "
                      f"check on the task's examples and tests; then every survivor accepted and humc synth run "
                      f"on the first {args.examples} training examples (seed 0) with the spec before and after",
              "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
