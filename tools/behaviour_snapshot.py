"""Record what humc produces, to show that a refactoring changed nothing a user sees.

    python tools/behaviour_snapshot.py OUT_DIR
    diff -r BEFORE_DIR AFTER_DIR

Writes into OUT_DIR: `humc compile` of every bundled spec, synthesized corpora of the bundled
ticket data (one task, both diversity styles), and `humc run` outputs of every task and format
on two inputs each (the task's own example texts) with the tests' tiny random model, plus a few
runs with other decoders, backends, decisions and a reasoning line. Run it before and after a
change; `diff -r` of the two folders is the evidence (or names what to explain).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
ROOT = Path(__file__).resolve().parent.parent
SPECS = [*sorted((ROOT / "specs").glob("*.hum")), *sorted((ROOT / "examples").glob("*.hum")),
         ROOT / "bench" / "hum_effect.hum"]


def tiny_model_folder(where: Path) -> Path:
    """The tests' tiny model (tests/conftest.py), saved as a folder humc run takes."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from humdsl import constraints

    texts = [p.read_text(encoding="utf-8") for folder in ("specs", "stdlib", "examples")
             for p in (ROOT / folder).rglob("*") if p.suffix in (".md", ".hum", ".jsonl")]
    hf = constraints.train_tokenizer(texts, vocab_size=2000)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(hf), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, bos_token_id=0, eos_token_id=0,
                      pad_token_id=1, tie_word_embeddings=True)
    LlamaForCausalLM(cfg).eval().save_pretrained(where)
    hf.save_pretrained(where)
    return where


def humc(*args: str) -> str:
    from click.testing import CliRunner

    from humdsl.cli import main

    result = CliRunner().invoke(main, list(args))
    return f"$ humc {' '.join(args)}\nexit {result.exit_code}\n{result.output}"


def relative(text: str, out: Path) -> str:
    """Without what differs from one machine or moment to the next: paths, rates, progress bars."""
    import re

    text = text.replace(str(out), "OUT").replace(str(ROOT), "ROOT")
    text = re.sub(r"\(\d+/s\)", "(N/s)", text)
    return "\n".join(line for line in text.split("\n") if "it/s]" not in line)


def main(out: Path) -> None:
    import humdsl

    out.mkdir(parents=True, exist_ok=True)
    log = []
    for spec in SPECS:
        log.append(humc("compile", str(spec), "-o", str(out / "compile" / spec.stem)))
    for diversity in ("hum", "baseline"):
        log.append(humc("synth", str(ROOT / "examples/support_tickets.hum"), "--task", "ticket_entities",
                        "--data", str(ROOT / "examples/data/tickets_entities.gold.jsonl"), "--diversity", diversity,
                        "--out", str(out / "synth" / f"tickets_{diversity}.jsonl")))
    model = tiny_model_folder(out / "model")
    runs = out / "run"
    runs.mkdir(exist_ok=True)
    for spec in SPECS[:-1]:
        for name, task in humdsl.load(spec).tasks.items():
            inputs = runs / f"{name}.in.jsonl"
            rows = [{"id": f"e{i}", **ex["input"]} for i, ex in enumerate(task.ir["examples"][:2])]
            inputs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            for f in task.ir["formats"]:
                target = runs / f"{name}.{f['name']}.jsonl"
                log.append(humc("run", str(spec), "--task", name, "--format", f["name"], "--model", str(model),
                                "--input", str(inputs), "--output", str(target), "--temperature", "1", "--seed", "1"))
    extra = [("conll03", "specs/ner.hum", "tuples", ["--decoder", "outlines"]),
             ("conll03", "specs/ner.hum", "json_by_label", ["--backend", "xgrammar"]),
             ("conll03", "specs/ner.hum", "tuples", ["--reason", "40"]),
             ("conll03", "specs/ner.hum", "tuples", ["--temperature", "0.8", "--seed", "3"]),
             ("sst2", "specs/classify.hum", "bare_label", ["--decision", "exact"]),
             ("sst2", "specs/classify.hum", "bare_label", ["--decision", "calibrated", "--prompt-style", "plain"]),
             ("trec_coarse", "specs/classify.hum", "json_label", ["--labels", "HUM,LOC", "--prompt", "bare"])]
    for k, (name, spec, fmt, args) in enumerate(extra):
        log.append(humc("run", str(ROOT / spec), "--task", name, "--format", fmt, "--model", str(model),
                        "--input", str(runs / f"{name}.in.jsonl"), "--output", str(runs / f"extra{k}.jsonl"),
                        *args))
    (out / "log.txt").write_text(relative("\n".join(log), out), encoding="utf-8")
    for path in out.rglob("*.jsonl"):  # model paths differ between snapshots
        path.write_text(relative(path.read_text(encoding="utf-8"), out), encoding="utf-8")
    import shutil

    shutil.rmtree(model)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
