"""Synthesis speed and memory: `humc synth` on the CoNLL-2003 train set (14,041 sentences) with
K = 3, every instance verified, beside the alternatives in the same run.

    python bench/bench_synth.py [--out bench/results/synth.json] [--quick]

Target (issue 5): at least 3,000 verified instances per second per core, memory flat in the
input size. Measured:

- `humc synth` as a user runs it (a new process: start-up, reading, writing included), with
  --jobs 1 and --jobs 2; instances/s, CPU seconds and peak memory (max RSS of the process
  tree);
- memory flatness: the same on a quarter of the train set;
- in process, per format, the rate of three ways to verify: none (render and its round-trip
  check only), humdsl's default (loose grammar + per-input checks), and --exact (every answer
  against its own per-input grammar, what one would write first).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT.parent / "shared" / "data" / "conll2003" / "eng.train"
SPEC = ROOT / "specs" / "ner.hum"
HUMC = [sys.executable, "-m", "humdsl.cli"]


def synth_process(data: Path, out: Path, jobs: int, extra: list[str] = ()) -> dict:
    """One `humc synth` run in a fresh process tree; wall, CPU and peak RSS of the tree."""
    cmd = HUMC + ["synth", str(SPEC), "--task", "conll03", "--data", str(data), "--out", str(out),
                  "--per-example", "3", "--jobs", str(jobs), "--adapter", "conll-iob1", *extra]
    # RUSAGE_CHILDREN's max RSS is that of the largest process waited for, so each run goes
    # through a fresh helper process whose own children are the synth process and its workers.
    probe = ("import resource, subprocess, sys, json, time; t = time.perf_counter(); "
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); w = time.perf_counter() - t; "
             "r = resource.getrusage(resource.RUSAGE_CHILDREN); "
             "print(json.dumps({'rc': p.returncode, 'wall': w, 'cpu': r.ru_utime + r.ru_stime, "
             "'max_rss_mb': r.ru_maxrss / 1024, 'stderr': p.stderr[-400:]}))")
    proc = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout)
    if result["rc"] not in (0, 1):  # 1: some examples reported as problems (listed on stderr)
        raise SystemExit(f"humc synth failed: {result['stderr']}")
    lines = sum(1 for _ in out.open(encoding="utf-8"))
    import re

    found = re.search(r"(\d+) problems", result["stderr"])  # from the summary line
    result["problems_reported"] = int(found.group(1)) if found else None
    result.update(instances=lines, instances_per_s=round(lines / result["wall"]),
                  instances_per_cpu_s=round(lines / result["cpu"]))
    return result


def first_sentences(src: Path, dst: Path, n: int) -> None:
    """The first n sentences of a CoNLL file, cut at a sentence boundary."""
    seen, out = 0, []
    for line in src.open(encoding="utf-8"):
        if not line.strip() and out and out[-1].strip() and not out[-1].startswith("-DOCSTART-"):
            seen += 1
            if seen >= n:
                break
        out.append(line)
    dst.write_text("".join(out), encoding="utf-8")


class _NoGrammarCheck:
    def problem(self, *args):
        return None


def per_format(examples: list[dict], seconds: float = 4.0) -> dict:
    """Instances per second in process, one format at a time, for each way of verifying."""
    import humdsl
    from humdsl.synth.instances import Synthesiser
    from humdsl.synth.policy import Policy

    ir = humdsl.load(SPEC).tasks["conll03"].ir
    table = {}
    for f in ir["formats"]:
        one = dict(ir, formats=[f])
        row = {}
        for mode in ("none", "default", "exact"):
            synth = Synthesiser(one, Policy.of(one, per_example=3), seed=0, exact=mode == "exact")
            if mode == "none":
                synth.verifier = _NoGrammarCheck()
            made, start, i = 0, time.perf_counter(), 0
            while time.perf_counter() - start < seconds and i < len(examples):
                made += len(synth.example(examples[i], i)[0])
                i += 1
            row[mode] = round(made / (time.perf_counter() - start))
        row["default_vs_exact"] = round(row["default"] / row["exact"], 1)
        table[f["name"]] = row
        print(f"  {f['name']}: {row}", file=sys.stderr)
    return table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "synth.json"))
    ap.add_argument("--quick", action="store_true", help="a quarter of the train set only")
    args = ap.parse_args()
    if not TRAIN.exists():
        raise SystemExit(f"{TRAIN} is not here: the shared datasets are needed")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    results = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "platform": platform.platform()},
               "data": "CoNLL-2003 eng.train", "per_example": 3}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        quarter = tmp / "eng.train.quarter"
        first_sentences(TRAIN, quarter, 3510)
        full = quarter if args.quick else TRAIN
        runs = {}
        for name, data, jobs in [("quarter, jobs 1", quarter, 1), ("full, jobs 1", full, 1),
                                 ("full, jobs 2", full, 2)]:
            print(f"humc synth: {name}", file=sys.stderr)
            runs[name] = synth_process(data, tmp / "out.jsonl", jobs)
            runs[name].pop("stderr")
            print(f"  {runs[name]}", file=sys.stderr)
        same = tmp / "again.jsonl"
        synth_process(full, same, 2)
        synth_process(full, tmp / "one.jsonl", 1)
        results["jobs_1_and_2_byte_identical"] = (tmp / "one.jsonl").read_bytes() == same.read_bytes()
        results["runs"] = runs
        results["memory_flat"] = {
            "quarter_mb": round(runs["quarter, jobs 1"]["max_rss_mb"]),
            "full_mb": round(runs["full, jobs 1"]["max_rss_mb"]),
        }
        from humdsl.adapters.readers import iter_examples

        examples, _ = iter_examples(quarter)
        print("per format, in process (instances/s):", file=sys.stderr)
        results["per_format_in_process"] = per_format(list(examples))
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
