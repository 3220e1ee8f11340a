"""Validity, F1 and speed of NER on CoNLL-2003 dev sentences with SmolLM2-135M-Instruct, side
by side in one run (issue 4):

  (a) unconstrained greedy generation with the same prompt, parsed afterwards;
  (b) Outlines with a hand-written Pydantic model on its default backend (outlines_core);
  (c) humc run's path (specs/ner.hum conll03) with each format, grounded, budget from the grammar.

    python bench/bench_run.py [--n 100] [--out bench/results/run.json]

Reported: share of valid (parseable, schema-valid) answers, strict entity micro-F1 against the
gold, constraint set-up time per input, seconds per input.
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
DEV = ROOT.parent / "shared" / "data" / "conll2003" / "eng.testa"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "run.json"))
    ap.add_argument("--formats", default="json_by_label,tuples,sentences,table,tagged")
    args = ap.parse_args()
    if not DEV.exists():
        raise SystemExit(f"{DEV} is not here: this benchmark needs ../shared/data")

    import warnings

    import outlines
    import torch
    from pydantic import BaseModel, Field

    import humdsl
    from humdsl.adapters.readers import read_examples
    from humdsl.evaluate import metrics
    from humdsl.formats import FormatParseError
    from humdsl.prompts import PromptChoice, prompt_text
    from humdsl.runtime.decode import OutlinesDecoder, Sampling
    from humdsl.runtime.models import load

    examples, _ = read_examples(DEV)
    examples = [e for e in examples if len(e["text"].split()) >= 6][: args.n]
    gold = [e["record"] for e in examples]
    for g in gold:
        for ent in g["entities"]:
            ent.pop("start", None)
    task = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03")
    model = load("smollm2")
    decoder = OutlinesDecoder(model)
    results: dict = {"sentences": len(examples), "model": "SmolLM2-135M-Instruct (Q4_1 GGUF, float32)",
                     "device": model.device, "runs": {}}

    def score(preds, valid, setup, seconds, tokens=None):
        f1 = metrics.entities(gold, preds)["strict"]["micro"]["f1"]
        return {"valid": valid / len(examples), "strict_micro_f1": round(f1, 4),
                "setup_ms_per_input": round(setup * 1000 / len(examples), 2),
                "seconds_per_input": round(seconds / len(examples), 2)}

    # (c) humdsl, each format
    for name in args.formats.split(","):
        fmt = task.format(name)
        shots = [{"input": ex["input"], "answer": fmt.render(ex["output"], source=ex["input"]["text"])}
                 for ex in task.ir["examples"][:2]]
        choice = PromptChoice(examples=shots)
        preds, valid, setup = [], 0, 0.0
        start = time.perf_counter()
        for e in examples:
            t = time.perf_counter()
            grammar = fmt.grammar(source=e["text"])
            budget = fmt.budget(source=e["text"])
            setup += time.perf_counter() - t
            text = decoder.generate([prompt_text(task.ir, fmt, e, choice)], [grammar], budget, Sampling())[0]
            try:
                preds.append(fmt.parse(text, source=e["text"]))
                valid += 1
            except FormatParseError:
                preds.append(None)
        results["runs"][f"humdsl_{name}"] = score(preds, valid, setup, time.perf_counter() - start)
        print(name, results["runs"][f"humdsl_{name}"], flush=True)

    fmt = task.format("json_by_label")
    shots = [{"input": ex["input"], "answer": fmt.render(ex["output"], source=ex["input"]["text"])}
             for ex in task.ir["examples"][:2]]
    choice = PromptChoice(examples=shots)
    om = decoder.model

    # (a) unconstrained, same prompt, parsed afterwards
    preds, valid = [], 0
    start = time.perf_counter()
    gen = outlines.Generator(om)
    for e in examples:
        text = gen(prompt_text(task.ir, fmt, e, choice), max_new_tokens=200, do_sample=False)
        try:
            preds.append(fmt.parse(text.strip(), source=e["text"]))
            valid += 1
        except FormatParseError:
            preds.append(None)
    results["runs"]["unconstrained_json_by_label"] = score(preds, valid, 0.0, time.perf_counter() - start)
    print("unconstrained", results["runs"]["unconstrained_json_by_label"], flush=True)

    # (b) Outlines + hand-written Pydantic model, default backend
    class NER(BaseModel):
        PER: list[str] = Field(max_length=10)
        ORG: list[str] = Field(max_length=10)
        LOC: list[str] = Field(max_length=10)
        MISC: list[str] = Field(max_length=10)

    preds, valid, setup = [], 0, 0.0
    start = time.perf_counter()
    for e in examples:
        t = time.perf_counter()
        g = outlines.Generator(om, NER)
        setup += time.perf_counter() - t
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = g(prompt_text(task.ir, fmt, e, choice), max_new_tokens=200, do_sample=False)
        try:
            obj = NER.model_validate_json(text)
            preds.append({"entities": [{"type": k, "text": v} for k in ("PER", "ORG", "LOC", "MISC")
                                       for v in getattr(obj, k)]})
            valid += 1
        except Exception:
            preds.append(None)
    results["runs"]["outlines_pydantic_default_backend"] = score(preds, valid, setup, time.perf_counter() - start)
    print("pydantic", results["runs"]["outlines_pydantic_default_backend"], flush=True)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
