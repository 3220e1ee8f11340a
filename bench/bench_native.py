"""Formats decoded on their LiteralDag (runtime/dag_matcher.py) against the same formats under
their llguidance grammars, both in the jump-forward decoder with a real model: SmolLM2-135M-Instruct,
greedy, the same prompts (two few-shot examples, the chat template) and budgets in both modes:

  grammar   the per-input Lark grammar, compiled by llguidance (the Outlines path's constraint);
  language  the input's LiteralDag, nothing compiled (humc run's default).

    python bench/bench_native.py [--formats tagged] [--n 12] [--long 2] [--words 1000] [--run tagged]
    python bench/bench_native.py --formats answer_span,json_answer --n 24 --run qa
    python bench/bench_native.py --formats json_by_label,tuples,sentences,table --long 1 --run ner
    python bench/bench_native.py --formats json_triples,triple_tuples --n 8 --run openie

Inputs: for `tagged` and the other NER formats (specs/ner.hum conll03), `--n` CoNLL-2003 dev
sentences of at least 6 words and `--long` documents of `--words` words of the same file; for the
qa formats (specs/qa.hum squad), the first `--n` XQuAD-en questions with their paragraphs; for the
open IE formats (specs/openie.hum carb, a free relation phrase), the first `--n` CaRB dev
sentences (the grammar mode then takes its masks checked, as humc run did before: the same
greedy output as exact masks). For each input the two modes
take turns going first. Reported per input group and mode: time to the first token (from having
the input: constraint build, the prompt's pass, the first mask and pick), seconds and output
tokens per input, how many outputs are valid and identical to the grammar mode's.
Results: bench/results/inline.json (tagged), native_qa.json (qa), native_ner.json (the other NER
formats), native_openie.json (open IE).
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
from _common import count_valid, write_run  # noqa: E402
DEV = ROOT.parent / "shared" / "data" / "conll2003" / "eng.testa"
XQUAD = ROOT.parent / "shared" / "data" / "xquad_en" / "xquad.en.even_articles.json"
CARB = ROOT.parent / "shared" / "data" / "carb" / "dev.txt"
OPEN_IE = ("json_triples", "triple_tuples")


def questions(n: int) -> list[dict]:
    data = json.loads(XQUAD.read_text(encoding="utf-8"))["data"]
    rows = [{"text": p["context"], "question": q["question"]}
            for article in data for p in article["paragraphs"] for q in p["qas"]]
    return rows[:n]


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
    ap.add_argument("--formats", default="tagged")
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--long", type=int, default=2)
    ap.add_argument("--words", type=int, default=1000)
    ap.add_argument("--run", default="tagged", help="the run's name in bench/results/native.json")
    args = ap.parse_args()
    if not DEV.exists() or not XQUAD.exists() or not CARB.exists():
        raise SystemExit("the CoNLL-2003, XQuAD and CaRB files are not here: this benchmark needs ../shared/data")

    import torch

    import humdsl
    from humdsl.prompts import PromptChoice
    from humdsl.runtime.models import load

    loaded = load("smollm2")
    results: dict = {"model": "SmolLM2-135M-Instruct (Q4_1 GGUF, float32)", "device": loaded.device,
                     "threads": torch.get_num_threads(), "formats": {}}
    for name in args.formats.split(","):
        if name in OPEN_IE:
            task = humdsl.load(ROOT / "specs" / "openie.hum").task("carb")
            lines = CARB.read_text(encoding="utf-8").splitlines()[:args.n + 1]
            warm, groups = {"text": lines.pop()}, [("carb", [{"text": t} for t in lines])]
        elif name not in ("answer_span", "json_answer"):  # an NER format
            task = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03")
            sentences, documents = sentences_and_documents(args.n + 1, args.long, args.words)
            warm = {"text": sentences.pop()}
            groups = [("sentences", [{"text": t} for t in sentences]),
                      (f"{args.words}_words", [{"text": t} for t in documents])]
        else:
            task = humdsl.load(ROOT / "specs" / "qa.hum").task("squad")
            rows = questions(args.n + 1)
            warm, groups = rows.pop(), [("xquad", rows)]
        fmt = task.format(name)
        shots = [{"input": ex["input"], "answer": fmt.render(ex["output"], source=ex["input"]["text"])}
                 for ex in task.ir["examples"][:2] if _renders(fmt, ex)]
        choice = PromptChoice(examples=shots)
        constraint = {"grammar": lambda text, fmt=fmt: fmt.grammar(source=text),
                      "language": lambda text, fmt=fmt: fmt.language(source=text)}
        results["formats"][name] = _compare(task, fmt, choice, constraint, warm, groups, loaded)
        write_run("native", args.run, results)
    print(json.dumps(results, indent=2))


def _renders(fmt, example: dict) -> bool:
    """Not every example fits every format (an n-ary triple in `triple_tuples`)."""
    from humdsl.formats import Unrenderable

    try:
        fmt.render(example["output"], source=example["input"]["text"])
        return True
    except Unrenderable:
        return False


def _compare(task, fmt, choice, constraint, warm, groups, loaded) -> dict:
    """Each group's inputs decoded in both modes, taking turns going first."""
    from humdsl.prompts import prompt_text
    from humdsl.runtime.protocol import Sampling
    from humdsl.runtime.jumpforward import JumpForwardDecoder

    tok, found = loaded.tokenizer, {}
    for group, rows in groups:
        if not rows:
            continue
        texts = [r["text"] for r in rows]
        prompts = [prompt_text(task.ir, fmt, r, choice) for r in rows]
        res = found[group] = {"inputs": len(texts),
                              "words_per_input": round(statistics.fmean(len(t.split()) for t in texts), 1)}
        decoders = {mode: JumpForwardDecoder(loaded) for mode in constraint}
        for mode, dec in decoders.items():
            dec.generate([prompt_text(task.ir, fmt, warm, choice)], [constraint[mode](warm["text"])], 8, Sampling())
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
            print(fmt.name, group, mode, res[mode], flush=True)
    return found


if __name__ == "__main__":
    sys.exit(main())
