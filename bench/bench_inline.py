"""The inline format decoded on its LiteralDag (runtime/dag_matcher.py) against the same format
under its llguidance grammar, both in the jump-forward decoder with a real model: NER (specs/ner.hum
conll03, format `tagged`) with SmolLM2-135M-Instruct, greedy, the same prompts (two few-shot
examples, the chat template) and budgets in both modes:

  grammar   the per-input Lark grammar, compiled by llguidance (the Outlines path's constraint);
  language  the input's LiteralDag, nothing compiled (humc run's default).

    python bench/bench_inline.py [--n 12] [--long 2] [--words 1000]

Inputs: `--n` CoNLL-2003 dev sentences of at least 6 words, and `--long` documents of `--words`
words of the same file; for each input the two modes take turns going first. Reported per input
group and mode: time to the first token (from having
the input: constraint build, the prompt's pass, the first mask and pick), seconds and output
tokens per input, how many outputs are valid and identical to the grammar mode's.
Results: bench/results/inline.json.
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
DEV = ROOT.parent / "shared" / "data" / "conll2003" / "eng.testa"


def sentences_and_documents(n: int, long: int, words: int) -> tuple[list[str], list[str]]:
    sentences, current, tokens = [], [], []
    for line in DEV.read_text(encoding="utf-8").splitlines():
        if line.startswith("-DOCSTART-"):
            continue
        if line.strip():
            current.append(line.split()[0])
            tokens.append(line.split()[0])
        elif current:
            if len(current) >= 6 and len(sentences) < n:
                sentences.append(" ".join(current))
            current = []
    documents = [" ".join(tokens[i * words:(i + 1) * words]) for i in range(long)]
    return sentences, documents


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--long", type=int, default=2)
    ap.add_argument("--words", type=int, default=1000)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "inline.json"))
    args = ap.parse_args()
    if not DEV.exists():
        raise SystemExit(f"{DEV} is not here: this benchmark needs ../shared/data")

    import torch

    import humdsl
    from humdsl.prompts import PromptChoice, prompt_text
    from humdsl.runtime.decode import Sampling
    from humdsl.runtime.jumpforward import JumpForwardDecoder
    from humdsl.runtime.models import load

    sentences, documents = sentences_and_documents(args.n + 1, args.long, args.words)
    warm, sentences = sentences[-1], sentences[:-1]
    task = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03")
    fmt = task.format("tagged")
    loaded = load("smollm2")
    tok = loaded.tokenizer
    shots = [{"input": ex["input"], "answer": fmt.render(ex["output"], source=ex["input"]["text"])}
             for ex in task.ir["examples"][:2]]
    choice = PromptChoice(examples=shots)
    constraint = {"grammar": lambda text: fmt.grammar(source=text), "language": lambda text: fmt.language(source=text)}
    results: dict = {"model": "SmolLM2-135M-Instruct (Q4_1 GGUF, float32)", "device": loaded.device,
                     "threads": torch.get_num_threads(), "groups": {}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for group, texts in (("sentences", sentences), (f"{args.words}_words", documents)):
        if not texts:
            continue
        prompts = [prompt_text(task.ir, fmt, {"text": t}, choice) for t in texts]
        res = results["groups"][group] = {"inputs": len(texts),
                                          "words_per_input": round(statistics.fmean(len(t.split()) for t in texts), 1)}
        decoders = {mode: JumpForwardDecoder(loaded) for mode in constraint}
        for mode, dec in decoders.items():
            dec.generate([prompt_text(task.ir, fmt, {"text": warm}, choice)], [constraint[mode](warm)], 8, Sampling())
        first = {mode: [] for mode in constraint}
        seconds = {mode: 0.0 for mode in constraint}
        answers = {mode: [] for mode in constraint}
        for i, (p, t) in enumerate(zip(prompts, texts)):
            # the modes take turns going first, so that a drift in the machine's speed falls on both
            for mode in (list(constraint) if i % 2 == 0 else list(reversed(constraint))):
                dec, make = decoders[mode], constraint[mode]
                start = time.perf_counter()
                dec.generate([p], [make(t)], 1, Sampling())
                first[mode].append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                answers[mode] += dec.generate([p], [make(t)], fmt.budget(source=t), Sampling())
                seconds[mode] += time.perf_counter() - start
        for mode in constraint:
            tokens = sum(len(tok(a, add_special_tokens=False)["input_ids"]) for a in answers[mode])
            res[mode] = {"first_token_ms_median": round(statistics.median(first[mode]), 1),
                         "seconds_per_input": round(seconds[mode] / len(texts), 2),
                         "output_tokens_per_input": round(tokens / len(texts), 1),
                         "tokens_per_s": round(tokens / seconds[mode], 2),
                         "valid": count_valid(fmt, answers[mode], texts),
                         "identical_to_grammar": sum(a == b for a, b in zip(answers["grammar"], answers[mode]))}
            print(group, mode, res[mode], flush=True)
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
