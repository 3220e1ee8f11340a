"""Checked masks (runtime/checked.py) against exact masks, in the jump-forward decoder with a real
model: open IE on CaRB dev sentences (specs/openie.hum carb, whose relation phrase is free text of
at most 200 characters) with SmolLM2-135M-Instruct, greedy, the same prompts (two few-shot
examples, the chat template) and budgets in both modes:

  exact    masks from the exact grammar (JumpForwardDecoder(checked_masks=False));
  checked  masks from the grammar without length bounds, each pick checked with the exact one
           (humc run's default).

    python bench/bench_checked.py [--n 12] [--formats triple_tuples,json_triples]

Reported per format and mode: per pick, the time in llguidance (the masks and the checks) and
the decoder's whole time choosing the token (those, plus reading the mask and the masked argmax,
which cost the same in both modes); output tokens per second, seconds per input, picks the
check refused, and how many outputs are identical to the exact mode's. Results: bench/results/checked_masks.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from _common import count_valid  # noqa: E402
DEV = ROOT.parent / "shared" / "data" / "carb" / "dev.txt"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--formats", default="triple_tuples,json_triples")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "checked_masks.json"))
    args = ap.parse_args()
    if not DEV.exists():
        raise SystemExit(f"{DEV} is not here: this benchmark needs ../shared/data")

    import llguidance.torch
    import torch

    import humdsl
    from humdsl.prompts import PromptChoice, prompt_text
    from humdsl.runtime.checked import CheckedMatcher
    from humdsl.runtime.protocol import Sampling
    from humdsl.runtime.jumpforward import JumpForwardDecoder
    from humdsl.runtime.models import load

    sentences = [s.strip() for s in DEV.read_text(encoding="utf-8").splitlines() if len(s.split()) >= 8]
    rows = [{"id": str(i), "text": s} for i, s in enumerate(sentences[: args.n + 1])]
    warm, rows = rows[-1], rows[:-1]  # one untimed call per mode warms it up
    task = humdsl.load(ROOT / "specs" / "openie.hum").task("carb")
    loaded = load("smollm2")
    tok = loaded.tokenizer
    results: dict = {"model": "SmolLM2-135M-Instruct (Q4_1 GGUF, float32)", "device": loaded.device,
                     "threads": torch.get_num_threads(), "inputs": len(rows), "formats": {}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    in_llguidance: list[float] = []  # ms per call of the mask fill and of the pick's check

    def timing(fn):
        def timed(*a, **k):
            t = time.perf_counter()
            result = fn(*a, **k)
            in_llguidance.append((time.perf_counter() - t) * 1000)
            return result
        return timed
    llguidance.torch.fill_next_token_bitmask = timing(llguidance.torch.fill_next_token_bitmask)
    CheckedMatcher.allows = timing(CheckedMatcher.allows)
    for name in args.formats.split(","):
        fmt = task.format(name)
        shots = []
        for ex in task.ir["examples"][:2]:
            try:
                shots.append({"input": ex["input"], "answer": fmt.render(ex["output"], source=ex["input"]["text"])})
            except Exception:  # an example this format cannot show (say, extra arguments)
                continue
        choice = PromptChoice(examples=shots)
        prompts = [prompt_text(task.ir, fmt, r, choice) for r in rows]
        grammars = [fmt.grammar(source=r["text"]) for r in rows]
        budgets = [fmt.budget(source=r["text"]) for r in rows]
        res = results["formats"][name] = {}
        reference = None
        for mode in ("exact", "checked"):
            dec = JumpForwardDecoder(loaded, checked_masks=mode == "checked")
            choose, spent = dec._choose, []

            def timed_choose(*a, choose=choose, spent=spent, **k):
                t = time.perf_counter()
                picked = choose(*a, **k)
                spent.append((time.perf_counter() - t) * 1000)
                return picked
            dec._choose = timed_choose
            dec.generate([prompt_text(task.ir, fmt, warm, choice)], [fmt.grammar(source=warm["text"])], 8, Sampling())
            spent.clear()
            in_llguidance.clear()
            texts = []
            start = time.perf_counter()
            for p, g, b in zip(prompts, grammars, budgets):
                texts += dec.generate([p], [g], b, Sampling())
            seconds = time.perf_counter() - start
            tokens = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)
            valid = count_valid(fmt, texts, [x["text"] for x in rows])
            if mode == "exact":
                reference = texts
            res[mode] = {"picks": len(spent),
                         "llguidance_ms_per_pick_mean": round(sum(in_llguidance) / len(spent), 3),
                         "choose_ms_per_pick_median": round(statistics.median(spent), 3),
                         "choose_ms_per_pick_mean": round(statistics.fmean(spent), 3),
                         "refused": dec.stats["refused"], "output_tokens": tokens,
                         "tokens_per_s": round(tokens / seconds, 2), "seconds_per_input": round(seconds / len(rows), 3),
                         "valid": valid, "identical_to_exact": sum(a == b for a, b in zip(reference, texts))}
            print(name, mode, res[mode], flush=True)
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
