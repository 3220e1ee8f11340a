"""The on-disk constraint cache (issue 4): compiling a JSON format's schema on the schema backends
(outlines_core, xgrammar) against loading it back from the cache, for SmolLM2's 49k vocabulary.

    python bench/bench_cache.py [--repeat 3]

Each measurement is a fresh decoder on a fresh cache folder (build) or on the folder the build
filled (load), so nothing is memoised in the process. Writes bench/results/constraint_cache.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASES = [("specs/ner.hum", "conll03", "json_by_label"), ("specs/relations.hum", "conll04", "json_relations"),
         ("examples/support_tickets.hum", "ticket_entities", "json_by_label"),
         ("examples/support_tickets.hum", "ticket_triage", "json_labels"), ("specs/classify.hum", "sst2", "json_label"),
         ("two-spans", "", "")]
TWO_SPANS = {"type": "object", "properties": {"spans": {"type": "array", "items": {"type": "string", "maxLength": 200},
                                                        "maxItems": 2}}, "required": ["spans"], "additionalProperties": False}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backends", default="outlines_core,xgrammar")
    args = ap.parse_args()

    import humdsl
    from humdsl.runtime.constraint_cache import ConstraintCache
    from humdsl.runtime.models import load
    from humdsl.runtime.protocol import DecodeError
    from humdsl.runtime.schema_backends import schema_decoder, schema_positions

    loaded = load("smollm2")
    rows = []
    for backend in args.backends.split(","):
        for spec, task_name, fmt_name in CASES:
            if spec == "two-spans":  # an invented schema just under outlines_core's limit
                fmt = SimpleNamespace(name="two-spans", json_schema=lambda batch=None: TWO_SPANS)
            else:
                fmt = humdsl.load(ROOT / spec).task(task_name).format(fmt_name)
            name = f"{spec} {task_name} {fmt_name}".strip()
            try:
                positions = schema_positions(schema_decoder(loaded, backend, fmt).schema)
            except DecodeError as e:  # outlines_core refuses schemas it would take minutes and GBs on
                rows.append({"backend": backend, "format": name, "refused": str(e)})
                print(rows[-1], flush=True)
                continue
            build, hit = [], []
            for _ in range(args.repeat):
                with tempfile.TemporaryDirectory() as d:
                    cache = ConstraintCache(Path(d))
                    dec = schema_decoder(loaded, backend, fmt)
                    dec.cache = cache
                    dec._outlines_backend()  # the vocabulary / tokenizer info: not part of either figure
                    t = time.perf_counter()
                    dec.compiled(dec.schema)
                    build.append(time.perf_counter() - t)
                    assert cache.stats.misses == 1
                    dec2 = schema_decoder(loaded, backend, fmt)
                    dec2.cache = ConstraintCache(Path(d))
                    dec2._outlines_backend()
                    t = time.perf_counter()
                    dec2.compiled(dec2.schema)
                    hit.append(time.perf_counter() - t)
                    assert dec2.cache.stats.hits == 1
                    size = sum(p.stat().st_size for p in Path(d).rglob("*.bin"))
            row = {"backend": backend, "format": name, "positions": positions,
                   "build_s": round(statistics.median(build), 3), "from_cache_s": round(statistics.median(hit), 4),
                   "speedup": round(statistics.median(build) / statistics.median(hit), 1), "entry_bytes": size}
            rows.append(row)
            print(row, flush=True)
    out = ROOT / "bench" / "results" / "constraint_cache.json"
    out.write_text(json.dumps({"model": "SmolLM2-135M-Instruct tokenizer (49,152 tokens)",
                               "repeat": args.repeat, "when": time.strftime("%Y-%m-%d %H:%M"), "rows": rows},
                              indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
