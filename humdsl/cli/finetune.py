"""The `humc finetune` command: a corpus in, a model folder out (humdsl.finetune)."""
from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.argument("corpus", type=click.Path(dir_okay=False))
@click.option("--model", help="The model to start from: a Hugging Face folder, a .gguf file, or "
              "'smollm2' (the default).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="The folder for the fine-tuned model (and its checkpoints while it trains).")
@click.option("--method", type=click.Choice(["full", "lora"]), default="full", show_default=True,
              help="Train every weight, or LoRA adapters on every linear layer (merged in at the end).")
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Passes over the corpus (ignored with --max-tokens).")
@click.option("--max-tokens", type=click.IntRange(min=1),
              help="Train on this many tokens (prompts and answers), going round the corpus as often as "
              "it takes: the same budget for two corpora makes them comparable.")
@click.option("--lr", "learning_rate", type=click.FloatRange(min=0, min_open=True),
              help="Peak learning rate (default 5e-5 full, 2e-4 LoRA), cosine decay.")
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--grad-accum", type=click.IntRange(min=1), default=1, show_default=True,
              help="Batches per optimizer step.")
@click.option("--max-length", type=click.IntRange(min=16), default=1024, show_default=True,
              help="Longest training sequence in tokens; longer instances are cut.")
@click.option("--lora-r", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--bf16/--no-bf16", default=None, help="bfloat16 autocast (default: where the hardware has it).")
@click.option("--save-steps", type=click.IntRange(min=1), default=50, show_default=True,
              help="Steps between checkpoints; a run stopped and started again resumes from the last.")
@click.option("--restart", is_flag=True, help="Discard the checkpoints of an earlier fine-tune into --out.")
def finetune(corpus, model, out_dir, method, epochs, max_tokens, learning_rate, batch_size, grad_accum,
             max_length, lora_r, seed, bf16, save_steps, restart) -> None:
    """Fine-tune a model on a corpus made by `humc synth`, with the loss on the answers only and
    the prompts exactly as `humc run` gives them. The folder written is a model `humc run
    --model` takes. Needs the train extra: pip install 'humdsl[train]'."""
    from ..finetune import FinetuneOptions, log_to_stderr
    from ..finetune import finetune as run_finetune

    opts = FinetuneOptions(Path(corpus), Path(out_dir), model, method, epochs, max_tokens, learning_rate,
                           batch_size, grad_accum, max_length, lora_r, seed, bf16, save_steps, restart)
    try:
        result = run_finetune(opts, log=log_to_stderr)
    except KeyboardInterrupt:
        click.echo(f"humc: interrupted; run the same command again to resume from the last checkpoint "
                   f"in {Path(out_dir) / 'checkpoints'}", err=True)
        sys.exit(130)
    loss = (f"; loss {result.first_loss:.3f} -> {result.last_loss:.3f}"
            if result.first_loss is not None else "")
    click.echo(f"fine-tuned on {result.tokens} tokens from {result.instances} instances in {result.steps} steps "
               f"({result.seconds:.0f} s{loss}); the model is in {result.out}: humc run --model {result.out}",
               err=True)
