"""Validity, score and speed of running a task with SmolLM2-135M-Instruct, side by side in one run
(issue 4), on one dataset per invocation:

  ner       CoNLL-2003 dev (eng.testa), spec ner.hum conll03, strict entity micro-F1;
  conll04   CoNLL04 dev, spec relations.hum conll04, strict relation micro-F1;
  sst2      SST-2 dev, spec classify.hum sst2, accuracy and macro-F1.

For each:

  (a) unconstrained greedy generation with the same prompt (the task's JSON format), parsed
      afterwards with that format's parser; at most --free-tokens new tokens;
  (b) Outlines with a hand-written Pydantic model on its default backend (outlines_core), the
      same prompt, at most --free-tokens new tokens, validated with the model;
  (c) humc run's path: the decoder `make_decoder(model, "auto")` picks (jump-forward, one row at
      a time on a CPU, shared prompt-prefix KV cache), each format of the task, grounded as the
      spec says, budget from the grammar; with --ungrounded also the same IR with the `grounded`
      rule removed (prompt and grammar both built from that copy).

    python bench/bench_run.py --dataset ner [--n 100] [--n-other 20] [--formats ...]

Reported per row: share of valid (parseable, schema-valid) answers, the dataset's scorer
(`humdsl.evaluate.metrics`), tokens generated (each output text re-tokenised, the same count for
every path), tokens/s (those tokens over the wall time of the row), wall seconds per input, and
constraint set-up. `--n` inputs for the main rows ((a), (b), and the formats in --main),
`--n-other` for the other formats and the ungrounded variants. Results are written after every
row to bench/results/run_<dataset>.json (a rerun replaces the rows it runs).
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"

from _common import conll04_answer_model, read_run, write_run  # noqa: E402

DATASETS = {
    "ner": {"path": DATA / "conll2003" / "eng.testa", "spec": "ner.hum", "task": "conll03",
            "json": "json_by_label", "min_words": 6},
    "conll04": {"path": DATA / "conll04" / "conll04_dev.json", "spec": "relations.hum", "task": "conll04",
                "json": "json_relations", "min_words": 0},
    "sst2": {"path": DATA / "sst2" / "stsa.binary.dev", "spec": "classify.hum", "task": "sst2",
             "json": "json_label", "min_words": 0},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", choices=list(DATASETS), default="ner")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--n-other", type=int, default=20)
    ap.add_argument("--main", default="json_by_label,tuples", help="formats run on --n inputs")
    ap.add_argument("--formats", default="", help="formats to run (default: all of the task's)")
    ap.add_argument("--ungrounded", default="", help="formats also run without the grounded rule")
    ap.add_argument("--paths", default="c,a,b", help="which of (a), (b), (c) to run")
    ap.add_argument("--free-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--run", default="", help="the run's name in bench/results/run.json (default: the dataset)")
    args = ap.parse_args()
    ds = DATASETS[args.dataset]
    if not ds["path"].exists():
        raise SystemExit(f"{ds['path']} is not here: this benchmark needs ../shared/data")

    import outlines
    import torch
    from pydantic import BaseModel, Field

    import humdsl
    from humdsl.adapters.readers import read_examples
    from humdsl.kinds import KINDS
    from humdsl.formats import FormatParseError, build
    from humdsl.prompts import PromptChoice, prompt_text
    from humdsl.runtime.decoders import make_decoder
    from humdsl.runtime.protocol import Sampling
    from humdsl.runtime.models import load

    if args.threads:
        torch.set_num_threads(args.threads)
    run_name = args.run or args.dataset
    examples, _ = read_examples(ds["path"])
    examples = [e for e in examples if len(e["text"].split()) >= ds["min_words"]][: max(args.n, args.n_other) + 1]
    for e in examples:
        for ent in e["record"].get("entities", []):
            ent.pop("start", None)  # answers carry no offsets: score by text
    task = humdsl.load(ROOT / "specs" / ds["spec"]).task(ds["task"])
    kind = task.ir["kind"]
    model = load("smollm2")
    tok = model.tokenizer
    decoder = make_decoder(model, "auto")
    results = read_run("run", run_name)
    results.update({"dataset": args.dataset, "data": str(ds["path"].relative_to(ROOT.parent)),
                    "task": f"specs/{ds['spec']} {ds['task']}",
                    "model": "SmolLM2-135M-Instruct (Q4_1 GGUF, float32)", "device": model.device,
                    "threads": torch.get_num_threads(), "decoder_c": decoder.name
                    + (" (one row at a time, shared prefix cache)" if not getattr(decoder, "ragged", True) else ""),
                    "free_tokens": args.free_tokens})
    results.setdefault("runs", {})

    def scorer(gold, preds) -> dict:
        if kind == "entities":
            return {"strict_micro_f1": round(KINDS[kind].score(gold, preds)["strict"]["micro"]["f1"], 4)}
        if kind == "relations":  # head, relation and tail (the arguments' types aside)
            return {"strict_micro_f1": round(KINDS[kind].score(gold, preds)["boundaries"]["micro"]["f1"], 4)}
        s = KINDS[kind].score(gold, preds, [x["code"] for x in task.ir["labels"]])
        return {"accuracy": round(s["accuracy"], 4), "macro_f1": round(s["macro_f1"], 4)}

    def record(key, rows, texts, preds, seconds, setup, **extra):
        gold = [e["record"] for e in rows]
        tokens = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)
        row = {"inputs": len(rows), "when": time.strftime("%Y-%m-%d %H:%M"),
               "valid": round(sum(p is not None for p in preds) / len(rows), 4), **scorer(gold, preds),
               "tokens": tokens, "tokens_per_input": round(tokens / len(rows), 1),
               "tokens_per_s": round(tokens / seconds, 2), "seconds_per_input": round(seconds / len(rows), 2),
               "setup_ms_per_input": round(setup * 1000 / len(rows), 2), **extra}
        results["runs"][key] = row
        write_run("run", run_name, results)
        print(key, row, flush=True)

    def shots_for(ir, fmt):
        shots = []
        for ex in ir["examples"][:2]:
            try:
                shots.append({"input": ex["input"], "answer": fmt.render(ex["output"], source=ex["input"]["text"])})
            except Exception:
                pass
        return PromptChoice(examples=shots)

    def without_grounded(ir):
        ir = copy.deepcopy(ir)
        ir["rules"] = [r for r in ir.get("rules", []) if (r.get("effect") or {}).get("name") != "grounded"]
        return ir

    def humdsl_row(key, ir, fmt_name, n):
        fmt = build(ir, next(f for f in ir["formats"] if f["name"] == fmt_name))
        choice = shots_for(ir, fmt)
        rows = examples[:n]
        dec = make_decoder(model, "auto")  # a fresh prefix cache per format (the prompts differ)
        warm = examples[-1]  # one untimed call outside the measured inputs: warm-up and the prefix
        dec.generate([prompt_text(ir, fmt, warm, choice)], [fmt.grammar(source=warm["text"])],
                     fmt.budget(source=warm["text"]), Sampling())
        texts, preds, setup = [], [], 0.0
        start = time.perf_counter()
        for e in rows:
            t = time.perf_counter()
            grammar = fmt.grammar(source=e["text"])
            budget = fmt.budget(source=e["text"])
            setup += time.perf_counter() - t
            text = dec.generate([prompt_text(ir, fmt, e, choice)], [grammar], budget, Sampling())[0]
            texts.append(text)
            try:
                preds.append(fmt.parse(text, source=e["text"]))
            except FormatParseError:
                preds.append(None)
        record(key, rows, texts, preds, time.perf_counter() - start, setup, path="c", format=fmt_name,
               grounded=any((r.get("effect") or {}).get("name") == "grounded" for r in ir.get("rules", [])))

    all_formats = [f["name"] for f in task.ir["formats"]]
    formats = args.formats.split(",") if args.formats else all_formats
    main_formats = [f for f in args.main.split(",") if f in all_formats] or [ds["json"]]
    paths = args.paths.split(",")

    # (c) humdsl: the main formats first, then (a) and (b), then the other formats and the
    # ungrounded variants (so that the main comparison is complete first)
    if "c" in paths:
        for name in main_formats:
            humdsl_row(f"c_{name}", task.ir, name, args.n)

    fmt = task.format(ds["json"])
    choice = shots_for(task.ir, fmt)
    om = outlines.from_transformers(model.model, tok)
    rows = examples[: args.n]
    with warnings.catch_warnings():  # one untimed call: (a) and (b) start warm too
        warnings.simplefilter("ignore")
        outlines.Generator(om)(prompt_text(task.ir, fmt, examples[-1], choice), max_new_tokens=4, do_sample=False)

    # (a) unconstrained, same prompt, parsed afterwards
    if "a" in paths:
        gen = outlines.Generator(om)
        texts, preds = [], []
        start = time.perf_counter()
        for e in rows:
            text = gen(prompt_text(task.ir, fmt, e, choice), max_new_tokens=args.free_tokens, do_sample=False)
            texts.append(text)
            try:
                preds.append(fmt.parse(text.strip(), source=e["text"]))
            except FormatParseError:
                preds.append(None)
        record(f"a_unconstrained_{ds['json']}", rows, texts, preds, time.perf_counter() - start, 0.0, path="a")

    # (b) Outlines + hand-written Pydantic model, default backend
    if "b" in paths:
        if kind == "entities":
            class Answer(BaseModel):
                PER: list[str] = Field(max_length=10)
                ORG: list[str] = Field(max_length=10)
                LOC: list[str] = Field(max_length=10)
                MISC: list[str] = Field(max_length=10)

            def convert(obj):
                return {"entities": [{"type": k, "text": v} for k in ("PER", "ORG", "LOC", "MISC")
                                     for v in getattr(obj, k)]}
        elif kind == "relations":
            Answer, convert = conll04_answer_model()
        else:
            from typing import Literal

            class Answer(BaseModel):
                label: Literal["positive", "negative"]

            def convert(obj):
                return {"label": obj.label}

        t = time.perf_counter()
        g = outlines.Generator(om, Answer)  # built once: the hand-written schema does not vary by input
        setup = time.perf_counter() - t
        texts, preds = [], []
        start = time.perf_counter()
        for e in rows:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                text = g(prompt_text(task.ir, fmt, e, choice), max_new_tokens=args.free_tokens, do_sample=False)
            texts.append(text)
            try:
                preds.append(convert(Answer.model_validate_json(text)))
            except Exception:
                preds.append(None)
        record("b_outlines_pydantic", rows, texts, preds, time.perf_counter() - start, setup, path="b",
               generator_setup_s=round(setup, 2))

    if "c" in paths:
        for name in [f for f in formats if f not in main_formats]:
            humdsl_row(f"c_{name}", task.ir, name, args.n_other)
        for name in [f for f in args.ungrounded.split(",") if f]:
            humdsl_row(f"c_{name}_ungrounded", without_grounded(task.ir), name, args.n_other)


if __name__ == "__main__":
    sys.exit(main())
