"""Early start (jumpforward.py): the grounded grammar of each input is built in a background
thread while the model reads the prompt, against building it first (`early_start=False`).
SmolLM2-135M-Instruct, NER (specs/ner.hum conll03) on 1,000-word inputs cut from the CoNLL-2003
dev set, greedy, the spec's prompt (no few-shot examples), decoded up to the first token the
model chooses (the tokens the grammar forces at the start, then one pick):

    python bench/bench_early.py [--n 6] [--words 1000] [--formats tuples,json_by_label]

Reported per format: the per-input build on its own (llguidance matcher and first mask, as in
bench_formats.py), and per mode the time to the first token (prompt pass included) and the
time the decoder waited for a build. Results: bench/results/early_start.json.
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
DEV = ROOT.parent / "shared" / "data" / "conll2003" / "eng.testa"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--words", type=int, default=1000)
    ap.add_argument("--formats", default="tuples,json_by_label")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "early_start.json"))
    args = ap.parse_args()
    if not DEV.exists():
        raise SystemExit(f"{DEV} is not here: this benchmark needs ../shared/data")

    import torch
    from llguidance import LLMatcher

    import humdsl
    from humdsl import constraints
    from humdsl.prompts import PromptChoice, prompt_text
    from humdsl.runtime.protocol import Sampling
    from humdsl.runtime.jumpforward import JumpForwardDecoder
    from humdsl.runtime.models import load

    words = [line.split()[0] for line in DEV.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("-DOCSTART-")]
    rows = [{"id": str(i), "text": " ".join(words[i * args.words:(i + 1) * args.words])}
            for i in range(args.n + 1)]
    warm, rows = rows[-1], rows[:-1]
    task = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03")
    loaded = load("smollm2")
    results: dict = {"model": "SmolLM2-135M-Instruct (Q4_1 GGUF, float32)", "device": loaded.device,
                     "threads": torch.get_num_threads(), "inputs": len(rows), "words": args.words, "formats": {}}
    for name in args.formats.split(","):
        fmt = task.format(name)
        prompts = [prompt_text(task.ir, fmt, r, PromptChoice(examples=[])) for r in rows]
        grammars = [fmt.grammar(source=r["text"]) for r in rows]
        decoders = {"early": JumpForwardDecoder(loaded, early_start=True),
                    "plain": JumpForwardDecoder(loaded, early_start=False)}
        lltok = decoders["plain"].lltok

        def build(g):
            constraints.new_matcher(lltok, LLMatcher.grammar_from_lark(g)).compute_bitmask()
        res = results["formats"][name] = {"build_ms_median": round(statistics.median(
            _ms(lambda g=g: build(g)) for g in grammars), 1)}
        for dec in decoders.values():  # warm: the prefix cache, the grammar without grounding
            dec.generate([prompt_text(task.ir, fmt, warm, PromptChoice(examples=[]))],
                         [fmt.grammar(source=warm["text"])], 1, Sampling())
            dec.stats["build_wait_s"] = 0.0
        first = {mode: [] for mode in decoders}
        for i, (p, g) in enumerate(zip(prompts, grammars)):
            upto = len(constraints.new_matcher(lltok, LLMatcher.grammar_from_lark(g)).compute_ff_tokens()) + 1
            order = list(decoders.items()) if i % 2 == 0 else list(decoders.items())[::-1]
            for mode, dec in order:  # the two modes take turns going first
                first[mode].append(_ms(lambda: dec.generate([p], [g], upto, Sampling())))
        for mode, dec in decoders.items():
            res[mode] = {"first_token_ms_median": round(statistics.median(first[mode]), 1),
                         "first_token_ms": [round(x) for x in first[mode]],
                         "build_wait_ms_per_input": round(1000 * dec.stats["build_wait_s"] / len(rows), 2)}
        res["first_token_saved_ms"] = round(res["plain"]["first_token_ms_median"]
                                            - res["early"]["first_token_ms_median"], 1)
        print(name, res, flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


def _ms(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


if __name__ == "__main__":
    sys.exit(main())
