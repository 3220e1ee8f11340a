"""`humc synth` in process and with --jobs 2, against --engine ray with 1 and 2 actors on a local
Ray cluster: the same CoNLL-2003 training sentences, K = 3, seconds and instances per second, and
whether every corpus is byte for byte the local one.

    python bench/bench_ray.py [--n 4000]

Writes bench/results/ray.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TRAIN = ROOT.parent / "shared" / "data" / "conll2003" / "eng.train"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "ray.json"))
    args = ap.parse_args()
    from humdsl.adapters.readers import read_examples
    from humdsl.synth import SynthOptions, synthesise

    examples, _ = read_examples(TRAIN, "conll-iob1")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "train.jsonl"
        data.write_text("".join(json.dumps({"id": e["id"], "text": e["text"], "record": e["record"]}) + "\n"
                                for e in examples[:args.n]), encoding="utf-8")
        for name, engine, jobs in [("local, --jobs 1", "local", 1), ("local, --jobs 2", "local", 2),
                                   ("ray, 1 actor", "ray", 1), ("ray, 2 actors", "ray", 2)]:
            out = Path(tmp) / f"{len(rows)}.jsonl"
            opts = SynthOptions("conll03", data, out, None, 0, jobs, None, False, False, {"per_example": 3},
                                engine)
            start = time.monotonic()
            summary = synthesise(str(ROOT / "specs" / "ner.hum"), opts)
            seconds = time.monotonic() - start
            rows.append({"run": name, "examples": summary.stats.examples, "instances": summary.stats.instances,
                         "seconds": round(seconds, 2), "instances_per_s": round(summary.stats.instances / seconds),
                         "sha256": hashlib.sha256(out.read_bytes()).hexdigest()})
            print(rows[-1], flush=True)
    same = all(r["sha256"] == rows[0]["sha256"] for r in rows)
    result = {"what": f"humc synth specs/ner.hum --task conll03, the first {args.n} CoNLL-2003 training sentences, "
                      "K = 3, seed 0; Ray 2.60, a local cluster started by the run (its start-up included)",
              "byte_identical": same, "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
