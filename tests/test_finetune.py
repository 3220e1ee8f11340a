"""humc finetune: the corpus read as `humc run` prompts, the token budget, training a tiny random
model through TRL, the folder it writes (loadable by `humc run`), resuming, and refusing folders
that are not its own. The real fine-tunes are benchmarks (bench/bench_hum_effect.py)."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("trl", reason="humc finetune needs the train extra (trl, peft, datasets)")

from humdsl.cli import main  # noqa: E402
from humdsl.finetune import FinetuneError, FinetuneOptions, budgeted, finetune, read_pairs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TICKETS = ROOT / "examples" / "support_tickets.hum"
TRIAGE = ROOT / "examples" / "data" / "tickets_triage.gold.jsonl"


def corpus(tmp_path: Path, style: str, name: str = "c.jsonl", copies: int = 1) -> Path:
    out = tmp_path / name
    result = CliRunner().invoke(main, ["synth", str(TICKETS), "--task", "ticket_triage", "--data", str(TRIAGE),
                                       "--out", str(out), "--style", style, "--per-example", "1"])
    assert result.exit_code == 0, result.output
    if copies > 1:
        out.write_text(out.read_text(encoding="utf-8").splitlines(keepends=True)[0] * copies, encoding="utf-8")
    return out


def test_both_corpus_styles_give_the_prompt_humc_run_gives(tmp_path):
    from humdsl import load
    from humdsl.formats import build
    from humdsl.prompts import PromptChoice, prompt_text

    alpaca, chat = read_pairs(corpus(tmp_path, "alpaca", "a.jsonl")), read_pairs(corpus(tmp_path, "chat", "b.jsonl"))
    assert alpaca == chat
    # the prompt of a default run, built as `humc run` builds it, has the same layout
    task = load(TICKETS).tasks["ticket_triage"].ir
    example = json.loads(TRIAGE.read_text(encoding="utf-8").splitlines()[0])
    run_prompt = prompt_text(task, build(task, task["formats"][0]), {"text": example["text"]}, PromptChoice())
    assert run_prompt.endswith("\n\nText: " + example["text"] + "\n")
    assert all(p.count("\n\nText: ") == 1 and p.endswith("\n") for p, _ in alpaca)


def test_a_bad_corpus_line_is_an_error_naming_it(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "x", "input": "y", "output": "z"}\n{"text": "no"}\n', encoding="utf-8")
    with pytest.raises(FinetuneError, match=r"bad.jsonl:2: not a corpus line"):
        read_pairs(bad)
    bad.write_text('{"instruction": \n', encoding="utf-8")
    with pytest.raises(FinetuneError, match=r"bad.jsonl:1:\d+: not a JSON line"):
        read_pairs(bad)
    bad.write_text("\n", encoding="utf-8")
    with pytest.raises(FinetuneError, match="no instances"):
        read_pairs(bad)


def test_the_token_budget_goes_round_the_corpus():
    assert budgeted([10, 20, 30], max_tokens=75, epochs=1) == [0, 1, 2, 0, 1]  # 10+20+30+10+20 >= 75
    assert budgeted([10, 20, 30], max_tokens=None, epochs=1.5) == [0, 1, 2, 0, 1]  # round(1.5) of the second pass
    assert budgeted([10, 20, 30], max_tokens=1, epochs=1) == [0]


def opts(corpus_path: Path, out: Path, model_dir: Path, **kw) -> FinetuneOptions:
    base = dict(model=str(model_dir), max_tokens=2000, batch_size=2, learning_rate=3e-3, bf16=False, max_length=512)
    base.update(kw)
    return FinetuneOptions(corpus_path, out, **base)


def test_loss_goes_down_on_a_repeated_instance_and_the_folder_runs(tmp_path, model_dir):
    data = corpus(tmp_path, "chat", copies=12)
    out = tmp_path / "tuned"
    result = finetune(opts(data, out, model_dir), log=lambda line: None)
    assert result.steps >= 3 and result.last_loss < result.first_loss
    assert (out / "config.json").exists() and not (out / "checkpoints").exists()
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"id": "1", "text": "I was charged twice."}\n', encoding="utf-8")
    run = CliRunner().invoke(main, ["run", str(TICKETS), "--task", "ticket_triage", "--input", str(inputs),
                                    "--output", str(tmp_path / "o.jsonl"), "--model", str(out)])
    assert run.exit_code == 0, run.output
    assert json.loads((tmp_path / "o.jsonl").read_text(encoding="utf-8"))["model"] == str(out.resolve())


def test_the_same_corpus_and_seed_train_the_same_weights(tmp_path, model_dir):
    from safetensors.torch import load_file

    data = corpus(tmp_path, "chat", copies=6)
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        finetune(opts(data, out, model_dir, max_tokens=800), log=lambda line: None)
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)


def test_an_interrupted_fine_tune_resumes_from_its_last_checkpoint(tmp_path, model_dir):
    data = corpus(tmp_path, "chat", copies=12)
    out = tmp_path / "tuned"

    def stop_at_step_3(line: str) -> None:
        if line.startswith("step 3/"):
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        finetune(opts(data, out, model_dir, save_steps=1), log=stop_at_step_3)
    assert list((out / "checkpoints").glob("checkpoint-*"))
    said = []
    result = finetune(opts(data, out, model_dir, save_steps=1), log=said.append)
    assert said[0].startswith("resuming from checkpoint-") and result.resumed_from
    assert not any(line.startswith(("step 1/", "step 2/")) for line in said)  # not trained again
    assert (out / "model.safetensors").exists()


def test_checkpoints_of_another_fine_tune_are_not_resumed(tmp_path, model_dir):
    data = corpus(tmp_path, "chat", copies=12)
    out = tmp_path / "tuned"
    with pytest.raises(KeyboardInterrupt):
        finetune(opts(data, out, model_dir, save_steps=1),
                 log=lambda line: (_ for _ in ()).throw(KeyboardInterrupt) if line.startswith("step 2/") else None)
    with pytest.raises(FinetuneError, match="another corpus, model or settings"):
        finetune(opts(data, out, model_dir, save_steps=1, learning_rate=1e-3), log=lambda line: None)
    said = []
    finetune(opts(data, out, model_dir, save_steps=1, learning_rate=1e-3, restart=True), log=said.append)
    assert not any(line.startswith("resuming") for line in said)


def test_a_folder_that_is_not_ours_is_refused_and_left_alone(tmp_path, model_dir):
    data = corpus(tmp_path, "chat")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["finetune", str(data), "--model", str(model_dir), "--out", str(theirs)])
    assert result.exit_code == 1 and "did not make" in result.output and "Traceback" not in result.output
    assert [p.name for p in theirs.iterdir()] == ["notes.txt"]


def test_wrong_options_are_usage_errors(tmp_path):
    for args in (["--epochs", "0"], ["--max-tokens", "-5"], ["--method", "qlora"], ["--batch-size", "0"]):
        result = CliRunner().invoke(main, ["finetune", str(TRIAGE), "--out", str(tmp_path / "o"), *args])
        assert result.exit_code == 2, (args, result.output)


def test_lora_adapters_are_merged_into_a_plain_model_folder(tmp_path, model_dir):
    from safetensors.torch import load_file

    data = corpus(tmp_path, "chat", copies=8)
    out = tmp_path / "lora"
    result = finetune(opts(data, out, model_dir, method="lora", lora_r=4, max_tokens=1200), log=lambda line: None)
    assert result.last_loss < result.first_loss
    weights = load_file(out / "model.safetensors")
    assert not any("lora" in k for k in weights)  # merged: no adapter left to load
    base = load_file(model_dir / "model.safetensors")
    changed = [k for k in base if k in weights and not (base[k] == weights[k]).all()]
    assert changed  # and the merge changed the weights it adapted
    run = CliRunner().invoke(main, ["run", str(TICKETS), "--task", "ticket_triage", "--input", str(TRIAGE),
                                    "--output", str(tmp_path / "o.jsonl"), "--model", str(out), "--limit", "1"])
    assert run.exit_code in (0, 1), run.output  # 1: a random model's answer may not parse
    assert len((tmp_path / "o.jsonl.partial").read_text(encoding="utf-8").splitlines()) == 1  # --limit 1 of 8


def test_the_cpu_trainer_computes_trls_loss_on_the_answer_tokens(tmp_path, model_dir):
    # Without a GPU the loss is the model's own, not TRL's fused head: the two must agree on a
    # batch whose prompts are masked out of the loss (else the CPU path trains on prompts).
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig

    from humdsl.finetune import sft_trainer_class

    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.pad_token = tok.pad_token or tok.eos_token
    rows = [{"prompt": "Label this ticket: I was charged twice this month.\n", "completion": "billing"},
            {"prompt": "Label this ticket: the app crashes.\n", "completion": "bug, outage"}]
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    losses = []
    for gpu in (True, False):
        config = SFTConfig(output_dir=str(tmp_path / f"gpu-{gpu}"), per_device_train_batch_size=2,
                           completion_only_loss=True, use_cpu=True, bf16=False, report_to="none",
                           eos_token=tok.eos_token)
        trainer = sft_trainer_class(gpu)(model=model, args=config, train_dataset=Dataset.from_list(rows),
                                         processing_class=tok)
        batch = next(iter(trainer.get_train_dataloader()))
        assert (batch["labels"] == -100).sum() > (batch["labels"] != -100).sum()  # prompts are masked
        with torch.no_grad():
            losses.append(trainer.compute_loss(trainer.model, dict(batch)).item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
