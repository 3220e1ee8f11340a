"""humc tune: the task's settings measured on a dev file, the best written as its run profile."""
from __future__ import annotations

from pathlib import Path

import click

@click.command()
@click.argument("spec", type=click.Path())
@click.option("--task", required=True, help="The task to tune.")
@click.option("--dev", required=True, type=click.Path(dir_okay=False),
              help="Labelled dev examples (canonical JSONL or a dataset file, as humc eval reads them).")
@click.option("--adapter", help="How to read --dev (detected when left out).")
@click.option("--model", default="smollm2", show_default=True, help="As for humc run.")
@click.option("--n", "size", default=50, show_default=True, type=click.IntRange(min=1),
              help="Dev examples measured (the first N).")
@click.option("--budget", default=16, show_default=True, type=click.IntRange(min=1),
              help="Settings measured at most.")
@click.option("--shots-from", "shots_from", type=click.Path(dir_okay=False),
              help="Labelled examples to retrieve worked examples from: a value of the shots dimension.")
@click.option("--engine", default="local", show_default=True, type=click.Choice(["local", "openai"]),
              help="openai: an OpenAI-compatible server (vLLM) at --base-url runs every trial, as humc run does; "
                   "decisions are then greedy (exact and calibrated need humdsl's own loop).")
@click.option("--base-url", "base_url", help="With --engine openai: the server.")
@click.option("--api-key-env", "api_key_env", help="With --engine openai: the environment variable holding its API key.")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(min=1),
              help="With --engine openai: requests in flight.")
@click.option("--dry-run", is_flag=True, help="Measure and print; leave the spec as it is.")
@click.option("--json", "as_json", is_flag=True, help="Print every trial as JSON.")
def tune(spec, task, dev, adapter, model, size, budget, shots_from, engine, base_url, api_key_env, concurrency,
         dry_run, as_json) -> None:
    """Measure the task's settings on a dev file and write the best as its run { } profile."""
    import json as _json

    from ..errors import UsageError

    if engine == "openai" and not base_url:
        raise UsageError("--engine openai needs --base-url, e.g. http://localhost:8000")
    if engine != "openai" and (base_url or api_key_env):
        raise UsageError("--base-url and --api-key-env are for --engine openai")
    on_server = {"engine": "openai", "base_url": base_url, "api_key_env": api_key_env,
                 "concurrency": concurrency} if engine == "openai" else None
    if on_server and model == "smollm2":
        model = None  # the server's first model, as humc run --engine openai takes it
    from ..profile import block
    from ..tune import profile_to_write, table, write_profile
    from ..tune import tune as run_tune

    def progress(trial, count):
        click.echo(f"  [{count}/{budget}] {100 * trial.score:6.2f}  {trial.seconds:.2f} s/input", err=True)

    result = run_tune(spec, task, Path(dev), adapter, model, size, budget,
                      Path(shots_from) if shots_from else None, progress, on_server)
    best = profile_to_write(result.best.profile)
    if not dry_run:
        write_profile(spec, task, best)
    if as_json:
        click.echo(_json.dumps({"metric": result.metric, "best": best,
                                "trials": [t.__dict__ for t in result.trials]}, indent=2))
    else:
        click.echo(table(result))
        where = "kept as it is (--dry-run)" if dry_run else f"written into {spec}"
        click.echo(f"best {result.metric} {100 * result.best.score:.2f} of {len(result.trials)} settings; "
                   f"task '{task}' run profile {where}:\n{block(best)}")
