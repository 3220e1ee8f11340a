"""humc expand: a model proposes paraphrases of a task's texts; those that pass the filters and
the meaning check are written into the spec as `proposed` alternatives, for review in git."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

WHAT_HELP = "Which texts to grow, comma-separated: instructions, guidelines, descriptions, rules."


def _what(value: str) -> tuple[str, ...]:
    from ..expand.propose import WHAT
    from ..errors import UsageError

    chosen = tuple(dict.fromkeys(w.strip() for w in value.split(",") if w.strip()))
    unknown = [w for w in chosen if w not in WHAT]
    if unknown or not chosen:
        raise UsageError(f"--what {value!r}: choose from {', '.join(WHAT)}")
    return chosen


@click.command(name="expand")
@click.argument("spec", type=click.Path())
@click.option("--task", help="The task whose texts to grow (needed when the spec has several).")
@click.option("--what", "what", default="instructions,guidelines,descriptions,rules", show_default=True,
              help=WHAT_HELP)
@click.option("--n", "n", default=3, show_default=True, type=click.IntRange(1, 10),
              help="Paraphrases the model proposes for each text.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--model", help="As for humc run (default: smollm2). With --engine openai: the served name.")
@click.option("--engine", default="local", show_default=True, type=click.Choice(["local", "openai"]),
              help="openai: an OpenAI-compatible server (vLLM) at --base-url proposes and runs the checks.")
@click.option("--base-url", "base_url", help="With --engine openai: the server.")
@click.option("--api-key-env", "api_key_env", help="With --engine openai: the environment variable holding its API key.")
@click.option("--dev", type=click.Path(dir_okay=False),
              help="Labelled examples the meaning check also runs on (canonical JSONL or a dataset file).")
@click.option("--dev-n", "dev_n", default=20, show_default=True, type=click.IntRange(min=1),
              help="How many of --dev's examples (the first N).")
@click.option("--adapter", help="How to read --dev (detected when left out).")
@click.option("--flip-tolerance", default=0.25, show_default=True, type=click.FloatRange(0, 1),
              help="Meaning check: the share of checked answers a proposal may change.")
@click.option("--f1-tolerance", default=0.05, show_default=True, type=click.FloatRange(0, 1),
              help="Meaning check: how far the micro-F1 against the gold answers may fall.")
@click.option("--no-meaning-check", is_flag=True, help="Keep what passes the filters without running the task.")
@click.option("--dry-run", is_flag=True, help="Report what would be proposed; leave the spec as it is.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Also write the whole report (every proposal, why it was kept or dropped) as JSON.")
@click.option("--accept", is_flag=True, help="Settle proposals: keep them as ordinary alternatives (no model runs).")
@click.option("--reject", is_flag=True, help="Settle proposals: delete them (no model runs).")
@click.option("--slot", "slots", multiple=True,
              help="Only this text, e.g. 'instruction' or 'guideline longest' (repeatable): the texts a round "
                   "grows, or the proposals --accept or --reject settles (default: all).")
def expand_cmd(spec, task, what, n, seed, model, engine, base_url, api_key_env, dev, dev_n, adapter, flip_tolerance,
               f1_tolerance, no_meaning_check, dry_run, report_path, accept, reject, slots) -> None:
    """Grow a task's instructions, guidelines, label descriptions and rules with paraphrases a
    model proposes. Each proposal must pass the filters (duplicates, length, labels named, the spec
    still checks) and the meaning check (the task run on its examples, tests and --dev with the
    proposal in place of the original must give the same answers); the survivors are written into
    the spec as `| proposed "..."`. Review them in git, then --accept or --reject (or edit)."""
    from ..errors import UsageError

    path = Path(spec)
    if accept and reject:
        raise UsageError("--accept and --reject do not go together")
    if accept or reject:
        _settle(path, task, accept, slots, dry_run)
        return
    if adapter and not dev:
        raise UsageError("--adapter is for --dev")
    if dev and no_meaning_check:
        raise UsageError("--dev is for the meaning check; leave out --no-meaning-check")
    what_chosen = _what(what)
    report_file = Path(report_path) if report_path else None
    if report_file is not None:
        _check_report_path(report_file)  # before any work: never someone else's file
    from ..expand.meaning import MeaningCheck, rows_of
    from ..expand.spec_round import (SpecFile, chosen_targets, dev_rows, expand_round, session_prompter,
                                     session_runner)
    from ..session import Settings

    spec_file = SpecFile(path, task)
    chosen = chosen_targets(spec_file, what_chosen, set(slots) or None)
    make_decoder, model_name, runner_model = _engine(engine, model, base_url, api_key_env)
    meaning = None
    if not no_meaning_check:
        dev_examples = dev_rows(Path(dev), adapter, spec_file.ir, dev_n) if dev else None
        rows = rows_of(spec_file.ir, dev_examples)
        if not rows:
            click.echo("warning: the task has no examples or tests and no --dev was given: the meaning check "
                       "cannot run; proposals are kept on the filters alone", err=True)
        meaning = MeaningCheck(spec_file.ir, rows, session_runner(runner_model, Settings(), path.parent),
                               flip_tolerance, f1_tolerance, prompter=session_prompter(Settings(), path.parent))

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\rproposing: {done}/{total} texts ")
            sys.stderr.flush()

    report = expand_round(spec_file, make_decoder, model_name, chosen, n=n, seed=seed, meaning=meaning,
                          progress=progress)
    report.options = {"texts": [t.slot for t in chosen], "meaning_check": not no_meaning_check,
                      "checked_on": len(meaning.rows) if meaning else 0, "dev": dev,
                      "flip_tolerance": flip_tolerance, "f1_tolerance": f1_tolerance}
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    for p in report.proposals:
        verdict = ("kept   " + (f"({p.why}) " if p.why else "")) if p.survived else f"dropped ({p.dropped_by}: {p.why})"
        click.echo(f"{p.slot}: {verdict} {json.dumps(p.text, ensure_ascii=False)}")
    for f in report.failures:
        click.echo(f"{f['slot']}: a proposal missing: {f['why']}")
    counts = report.counts()
    click.echo(", ".join(f"{v} {k}" for k, v in counts.items()), err=True)
    # the spec first: a report that cannot be written loses a report, never the round's proposals
    written = 0 if dry_run else spec_file.write(report)
    if report_file is not None:
        from ..outputs import write_atomic

        write_atomic(report_file, json.dumps(report.as_json(), ensure_ascii=False, indent=1) + "\n")
    if dry_run:
        click.echo("--dry-run: the spec is left as it is", err=True)
    elif written:
        click.echo(f"wrote {written} proposal(s) into {path} as `proposed` alternatives: review them with git diff, "
                   f"then humc expand {path} --accept or --reject", err=True)


def _engine(engine: str, model: str | None, base_url: str | None, api_key_env: str | None):
    """A maker of the decoder that proposes, the model's name for the report, and what the meaning
    check runs (a model name, or the same server decoder)."""
    from ..errors import UsageError

    made: list = []  # the decoder, once made: the model loads (or the server is probed) when first asked
    if engine == "openai":
        if not base_url:
            raise UsageError("--engine openai needs --base-url, e.g. http://localhost:8000")
        from ..runtime.openai_engine import OpenAIDecoder, api_key_from

        def server():
            if not made:
                made.append(OpenAIDecoder(base_url, model, api_key_from(api_key_env)))
            return made[0]

        return server, f"{base_url} ({model or 'the first model served'})", server
    if base_url or api_key_env:
        raise UsageError("--base-url and --api-key-env are for --engine openai")

    def local():
        from ..runtime.decoders import make_decoder
        from ..runtime.models import load

        if not made:
            made.append(make_decoder(load(model)))
        return made[0]

    from ..runtime.models import model_name

    return local, model_name(model), model


def _settle(path: Path, task: str | None, accept: bool, slots: tuple[str, ...], dry_run: bool) -> None:
    from ..api import SpecUnusable
    from ..outputs import write_atomic
    from ..proposals import settle

    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SpecUnusable(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        settled, count = settle(source, str(path), accept, task=task, slots=set(slots) or None)
    except ValueError as e:
        raise SpecUnusable(f"{path}: {e}") from None
    word = "accepted" if accept else "rejected"
    if not count:
        click.echo(f"no proposals to settle in {path}", err=True)
        return
    if not dry_run:
        write_atomic(path, settled)
    click.echo(f"{word} {count} proposal(s) in {path}" + (" (--dry-run: left as it is)" if dry_run else ""), err=True)


def _check_report_path(path: Path) -> None:
    """The --report file may be new, or a report an earlier humc expand wrote; nothing else."""
    from ..outputs import OutputRefused

    if path.is_dir():
        raise OutputRefused(f"--report {path} is a folder: give a file name")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputRefused(f"--report {path}: {parent} is a file, not a folder")
    if path.exists():
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
            ours = isinstance(found, dict) and {"task", "counts", "proposals"} <= set(found)
        except (OSError, UnicodeDecodeError, ValueError):
            ours = False
        if not ours:
            raise OutputRefused(f"--report {path} is not a report of humc expand; it is left as it is: "
                                f"give another file")
