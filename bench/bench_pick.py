"""The decoder's pick from a mask (JumpForwardDecoder._scored_pick, greedy) against the obvious way, in
one run: unpack llguidance's bitmask with torch, copy the 49k logits with the rest masked out, take
the argmax (what the decoder did until 2026-11-25). The decoder now unpacks with numpy and, where
at most 4,096 tokens are allowed, takes the argmax over those ids alone.

    python bench/bench_pick.py [--out bench/results/pick.json]

Masks of 1, 25, 2,500 and 45,000 allowed tokens (a forced or near-forced step, a label choice, a
grounded span's start, free text) over SmolLM2's 49,152 tokens, random logits; both ways must
pick the same token. Reported: microseconds per pick, median of 2,000.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from _common import median_ms  # noqa: E402
VOCAB = 49152


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "pick.json"))
    args = ap.parse_args()

    import torch

    from humdsl.runtime.protocol import Sampling
    from humdsl.runtime.jumpforward import JumpForwardDecoder
    from humdsl.runtime.llg import unpacked

    torch.manual_seed(0)
    bits = torch.arange(32, dtype=torch.int32)
    decoder = JumpForwardDecoder.__new__(JumpForwardDecoder)  # only its pick is used
    decoder.vocab = VOCAB
    decoder.bitmask = torch.zeros((1, (VOCAB + 31) // 32), dtype=torch.int32)
    logits = torch.randn(VOCAB)
    results: dict = {"vocab": VOCAB, "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "allowed": {}}

    for count in (1, 25, 2500, 45000):
        allowed = torch.zeros(((VOCAB + 31) // 32) * 32, dtype=torch.bool)
        allowed[torch.randperm(VOCAB)[:count]] = True
        words = (allowed.view(-1, 32).to(torch.int64) << bits.to(torch.int64)).sum(1)
        bitmask = words.to(torch.int64).where(words < 2**31, words - 2**32).to(torch.int32).unsqueeze(0)

        def before():
            mask = ((bitmask[0].unsqueeze(1) >> bits) & 1).flatten()[:VOCAB].bool()
            scores = torch.full_like(logits, float("-inf"))
            scores[:VOCAB] = logits[:VOCAB].masked_fill(~mask, float("-inf"))
            return int(scores.argmax())

        def now():
            decoder.bitmask.copy_(bitmask)
            return decoder._scored_pick(0, None, logits, 0, Sampling(), None)[0]

        decoder._allowed = lambda row, m, done: unpacked(decoder.bitmask[0], VOCAB)
        assert before() == now()
        results["allowed"][count] = {"before_us": round(median_ms(before, 2000) * 1000, 1),
                                     "now_us": round(median_ms(now, 2000) * 1000, 1)}
        print(count, results["allowed"][count], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
