"""Jump-forward decoding against the Outlines path and unconstrained decoding (issue 7): NER on
CoNLL-2003 dev sentences with SmolLM2-135M-Instruct, the same prompts (specs/ner.hum conll03, two
few-shot examples, the chat template) and token budgets (the format's budget()) in every mode:

  free          unconstrained greedy decoding (transformers generate), same prompt, at most
                --free-tokens tokens (the format budgets run to thousands of tokens);
  free-rowmajor the same with the linear weights as transformers lays them out (row-major):
                humdsl's loader stores them column-major on a CPU (models.column_major_weights),
                which every other mode, free included, runs with;
  outlines      the Outlines path, masked greedy, one forward pass per token (the reference);
  jf            jump-forward, no prefix cache;
  jf+prefix     jump-forward with the shared-prompt-prefix KV cache (humc run's default);
  outlines@B    the Outlines path in batches of B (batching alone);
  jf+prefix@B   jump-forward in ragged batches of B (batching plus jump-forward).

    python bench/bench_jumpforward.py [--n 40] [--formats tuples,json_by_label] [--batch 4]

Reported per format and mode: forward passes per output token (prefills included), output
tokens per second, seconds per input, and how many outputs are identical to the reference.
Output tokens are counted the same way in every mode: the output text re-tokenised.
Results go to bench/results/jumpforward.json, updated after every mode (a rerun replaces the
modes it runs and keeps the others). The identity count needs the outlines mode in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from _common import count_valid, read_run, write_run  # noqa: E402
DEV = ROOT.parent / "shared" / "data" / "conll2003" / "eng.testa"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--formats", default="tuples,json_by_label")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--modes", default="outlines,jf,jf+prefix,free,outlines@B,jf+prefix@B")
    ap.add_argument("--free-tokens", type=int, default=256)
    ap.add_argument("--run", default="main", help="the run's name in bench/results/jumpforward.json")
    args = ap.parse_args()
    if not DEV.exists():
        raise SystemExit(f"{DEV} is not here: this benchmark needs ../shared/data")

    import torch

    import humdsl
    from humdsl.adapters.readers import read_examples
    from humdsl.prompts import PromptChoice, prompt_text
    from humdsl.runtime.outlines_decoder import OutlinesDecoder
    from humdsl.runtime.protocol import Sampling
    from humdsl.runtime.jumpforward import JumpForwardDecoder
    from humdsl.runtime.models import load

    examples, _ = read_examples(DEV)
    examples = [e for e in examples if len(e["text"].split()) >= 6][: args.n + 1]
    warm, examples = examples[-1], examples[:-1]  # one untimed call per mode warms it up
    task = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03")
    loaded = load("smollm2")
    tok = loaded.tokenizer
    passes = [0]
    loaded.model.register_forward_pre_hook(lambda *a: passes.__setitem__(0, passes[0] + 1))
    results = read_run("jumpforward", args.run) or {"formats": {}}
    results.update({"model": "SmolLM2-135M-Instruct (Q4_1 GGUF, float32)", "device": loaded.device,
                    "threads": torch.get_num_threads(), "batch": args.batch})
    outlines_dec = OutlinesDecoder(loaded)
    ids_of = JumpForwardDecoder(loaded, prefix_cache=False).prompt_ids

    def free(prompts, grammars, budget, sampling):
        texts = []
        for p in prompts:
            ids = torch.tensor([ids_of(p)])
            with torch.inference_mode():
                o = loaded.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                          max_new_tokens=min(budget, args.free_tokens), do_sample=False)
            texts.append(tok.decode(o[0, ids.shape[1]:], skip_special_tokens=True))
        return texts

    for name in args.formats.split(","):
        fmt = task.format(name)
        shots = [{"input": ex["input"], "answer": fmt.render(ex["output"], source=ex["input"]["text"])}
                 for ex in task.ir["examples"][:2]]
        choice = PromptChoice(examples=shots)
        prompts = [prompt_text(task.ir, fmt, e, choice) for e in examples]
        grammars = [fmt.grammar(source=e["text"]) for e in examples]
        budgets = [fmt.budget(source=e["text"]) for e in examples]
        res = results["formats"].setdefault(name, {})  # a rerun replaces only the modes it runs
        reference = None
        for mode in args.modes.split(","):
            size = args.batch if mode.endswith("@B") else 1
            if mode.startswith("outlines"):
                gen = outlines_dec.generate
            elif mode.startswith("free"):
                gen = free
            else:
                gen = JumpForwardDecoder(loaded, prefix_cache="prefix" in mode).generate
            saved = _row_major(loaded.model) if mode == "free-rowmajor" else None
            gen([prompt_text(task.ir, fmt, warm, choice)], [fmt.grammar(source=warm["text"])], 8, Sampling())
            texts = []
            passes[0] = 0
            start = time.perf_counter()
            for i in range(0, len(examples), size):
                sl = slice(i, i + size)
                texts += gen(prompts[sl], grammars[sl], max(budgets[sl]), Sampling())
            seconds = time.perf_counter() - start
            tokens = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)
            valid = count_valid(fmt, texts, [x["text"] for x in examples])
            if mode == "outlines":
                reference = texts
            row = {"inputs": len(texts), "when": time.strftime("%Y-%m-%d %H:%M"), "batch": size, "output_tokens": tokens, "forward_passes": passes[0],
                   "passes_per_output_token": round(passes[0] / max(1, tokens), 3),
                   "tokens_per_s": round(tokens / seconds, 2), "seconds_per_input": round(seconds / len(texts), 3),
                   "seconds": round(seconds, 1), "valid": valid,
                   "identical_to_outlines": (sum(a == b for a, b in zip(reference, texts))
                                             if reference is not None else None)}
            if saved is not None:
                _restore(saved)
            res[mode.replace("@B", f"@{args.batch}")] = row
            print(name, mode, row, flush=True)
            for base in ("free", "free-rowmajor"):
                if base in res:
                    for m, r in res.items():
                        r[f"x_{base.replace('-', '_')}_tokens_per_s"] = round(
                            r["tokens_per_s"] / res[base]["tokens_per_s"], 2)
            write_run("jumpforward", args.run, results)
    print(json.dumps(results, indent=2))


def _row_major(model):
    """Lay the linear weights out row-major again; returns what _restore needs to undo it."""
    import torch

    saved = []
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and not module.weight.is_contiguous():
            saved.append((module, module.weight))
            module.weight = torch.nn.Parameter(module.weight.detach().contiguous(), requires_grad=False)
    return saved


def _restore(saved) -> None:
    for module, weight in saved:
        module.weight = weight


if __name__ == "__main__":
    sys.exit(main())
