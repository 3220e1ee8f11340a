"""humc synth: options in, a corpus and a summary out (synth/)."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import click

from ..adapters.readers import ADAPTERS
from ..synth_settings import DIVERSITY, SETTINGS, STYLES
from .common import SHOWN_PROBLEMS, usage_error


def _help(name: str) -> str:
    """A setting's option help: what it does, and its name in a spec's synth { } block."""
    return f"{SETTINGS[name].meaning[0].upper()}{SETTINGS[name].meaning[1:]} (spec: {name}, default {SETTINGS[name].default})."


@click.command()
@click.argument("spec", type=click.Path())
@click.option("--task", help="The task whose instructions are made.")
@click.option("--data", type=click.Path(), help="A labelled dataset file.")
@click.option("--corpus", "corpus_name", help="Instead of --task and --data: make the spec's corpus of this "
              "name (a mixture of tasks, each read from its declared data), shuffled into one file.")
@click.option("--diversity", type=click.Choice(DIVERSITY),
              help="'baseline': the first phrasing, one JSON format, every label, no guidelines, rules, "
              "negatives sampled or shots (the control of the Hum ablation); 'formats': the same, but in the "
              "format a Hum-style corpus draws (the second control). Default: the spec's, else 'hum'.")
@click.option("--adapter", help="How to read --data (default: detected from the file): "
              f"{', '.join(ADAPTERS)}, or one a plugin registers.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="The corpus (JSONL).")
@click.option("--seed", default=0, show_default=True, help="Same spec, data and seed: the same corpus, byte for byte.")
@click.option("--per-example", type=click.IntRange(min=1), help=_help("per_example"))
@click.option("--style", type=click.Choice(STYLES), help=_help("style"))
@click.option("--label-batch", type=click.IntRange(min=1), help=_help("label_batch"))
@click.option("--negative-ratio", type=click.FloatRange(0, 1), help=_help("negative_ratio"))
@click.option("--hard-negative-ratio", type=click.FloatRange(0, 1), help=_help("hard_negative_ratio"))
@click.option("--few-shot", type=click.IntRange(min=0), help=_help("few_shot"))
@click.option("--max-guidelines", type=click.IntRange(min=0), help=_help("max_guidelines"))
@click.option("--max-rules", type=click.IntRange(min=0), help=_help("max_rules"))
@click.option("--format-weights", help="How often each format is drawn, e.g. json_by_label=2,tagged=0 "
              "(a format left out weighs 1).")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(min=1),
              help="Worker processes, at most one per core (the output does not change).")
@click.option("--engine", default="local", show_default=True, type=click.Choice(["local", "ray"]),
              help="ray: the examples synthesised by --jobs Ray actors, on a local Ray cluster or --address "
                   "(the corpus is the same, byte for byte).")
@click.option("--address", help="With --engine ray: an existing Ray cluster, e.g. ray://head:10001 or auto.")
@click.option("--shard", help="I/N: make only every N-th example, starting with the I-th (1-based).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False),
              help="Write report.json and PNG charts into this folder.")
@click.option("--strict", is_flag=True, help="Stop at the first bad line or failed instance.")
@click.option("--exact", is_flag=True, help="Verify each answer with its own per-input grammar (slower).")
@click.option("--with-proposed", is_flag=True, help="Sample the spec's proposed alternatives (`| proposed \"...\"`, "
              "not reviewed yet) like accepted ones; by default they are left out.")
def synth(spec, task, data, corpus_name, diversity, adapter, out_path, seed, per_example, style, label_batch, negative_ratio,
          hard_negative_ratio, few_shot, max_guidelines, max_rules, format_weights, jobs, engine, address, shard, report_dir,
          strict, exact, with_proposed) -> None:
    """Make a verified instruction corpus from a labelled dataset: every example becomes several
    instances with varied phrasings, label batches, guidelines, rules and formats."""
    from ..synth import SynthOptions, synthesise
    from ..synth import report as reporting
    from ..synth.corpus import parse_shard, tty_progress

    if corpus_name:
        _corpus(spec, corpus_name, diversity, out_path, seed, jobs, engine, address, report_dir, strict, exact,
                with_proposed, given=[flag for flag, v in (("--task", task), ("--data", data), ("--adapter", adapter),
                                            ("--per-example", per_example), ("--style", style),
                                            ("--label-batch", label_batch), ("--negative-ratio", negative_ratio),
                                            ("--hard-negative-ratio", hard_negative_ratio),
                                            ("--few-shot", few_shot), ("--max-guidelines", max_guidelines),
                                            ("--max-rules", max_rules), ("--format-weights", format_weights),
                                            ("--shard", shard)) if v is not None])
    for flag, value in (("--task", task), ("--data", data)):
        if value is None:
            usage_error(f"synth needs {flag} (or --corpus NAME)")
    policy = {"diversity": diversity, "per_example": per_example, "style": style, "label_batch": label_batch,
              "negative_ratio": negative_ratio, "hard_negative_ratio": hard_negative_ratio,
              "few_shot": few_shot, "max_guidelines": max_guidelines, "max_rules": max_rules}
    if report_dir and Path(report_dir).exists() and not Path(report_dir).is_dir():
        click.echo(f"humc: --report {report_dir} is a file, not a folder", err=True)
        sys.exit(1)
    _exit_cleanly_on_sigterm()
    if format_weights:
        policy["format_weights"] = _weights(format_weights)
    if address and engine != "ray":
        usage_error("--address goes with --engine ray")
    opts = SynthOptions(task, Path(data), Path(out_path), adapter, seed, jobs,
                        parse_shard(shard) if shard else None, strict, exact, policy, engine, address,
                        with_proposed)
    summary = synthesise(spec, opts, progress=tty_progress)  # GrammarInvalid: a compiler bug (exit 3)
    if sys.stderr.isatty():
        click.echo("", err=True)
    for problem in summary.problems[:SHOWN_PROBLEMS]:
        click.echo(problem, err=True)
    if summary.problem_count > SHOWN_PROBLEMS:
        click.echo(f"... and {summary.problem_count - SHOWN_PROBLEMS} more problems"
                   + (" (all in the report)" if report_dir else " (--report lists the first 100)"), err=True)
    s = summary.stats
    rate = s.instances / summary.seconds if summary.seconds else 0.0
    click.echo(f"{s.instances} instances from {s.examples} examples written to {out_path} "
               f"({rate:.0f}/s); {s.duplicates} duplicates removed, {s.failed} failed, "
               f"{summary.problem_count} problems", err=True)
    if report_dir:
        try:
            written = reporting.write(reporting.build(summary, opts.data), Path(report_dir))
        except RuntimeError as e:
            click.echo(f"humc: {e}", err=True)
            sys.exit(1)
        except OSError as e:
            click.echo(f"humc: cannot write the report into {report_dir}: {e.strerror or e} "
                       f"(the corpus is written: {out_path})", err=True)
            sys.exit(1)
        click.echo(f"report: {', '.join(str(p) for p in written)}", err=True)
    sys.exit(0 if summary.ok else 1)


def _corpus(spec, name, diversity, out_path, seed, jobs, engine, address, report_dir, strict, exact, with_proposed,
            given) -> None:
    """humc synth --corpus NAME: each part as its declaration says, shuffled into OUT."""
    from ..synth.mixture import CorpusOptions, synthesise_corpus, write_report

    if given:
        usage_error(f"{given[0]} does not go with --corpus: a corpus declares each part's task, "
                    "data and settings in the spec")
    if report_dir and Path(report_dir).exists() and not Path(report_dir).is_dir():
        click.echo(f"humc: --report {report_dir} is a file, not a folder", err=True)
        sys.exit(1)
    _exit_cleanly_on_sigterm()

    def progress(part) -> None:
        made = sum(part.formats.values())
        asked = f" of {part.target}" if part.target is not None else ""
        click.echo(f"{part.task}: {made}{asked} instances from {part.stats.examples} examples of "
                   f"{part.data} ({part.seconds:.0f} s, {part.problem_count} problems)", err=True)
        for problem in part.problems[:SHOWN_PROBLEMS]:
            click.echo(f"  {problem}", err=True)
        if part.problem_count > SHOWN_PROBLEMS:
            click.echo(f"  ... and {part.problem_count - SHOWN_PROBLEMS} more problems", err=True)
    opts = CorpusOptions(name, Path(out_path), seed, jobs, diversity, strict, exact, engine, address, with_proposed)
    summary = synthesise_corpus(spec, opts, progress=progress)
    click.echo(f"{summary.instances} instances of corpus '{name}' from {len(summary.parts)} parts written "
               f"to {out_path}; {summary.problem_count} problems", err=True)
    if report_dir:
        try:
            click.echo(f"report: {write_report(summary, Path(report_dir))}", err=True)
        except OSError as e:
            click.echo(f"humc: cannot write the report into {report_dir}: {e.strerror or e} "
                       f"(the corpus is written: {out_path})", err=True)
            sys.exit(1)
    sys.exit(0 if summary.ok else 1)


def _exit_cleanly_on_sigterm() -> None:
    """A kill (as from `timeout`) ends the run like Ctrl-C does: the temporary file is removed."""
    import signal

    try:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    except ValueError:  # not the main thread (e.g. under a test runner): leave it
        pass


def _weights(text: str) -> dict[str, float]:
    from ..synth import SynthError

    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, weight = part.partition("=")
        try:
            out[name.strip()] = float(weight)
        except ValueError:
            sep = ""
        if sep and not math.isfinite(out[name.strip()]):
            sep = ""
        if not sep:
            raise SynthError(f"--format-weights takes NAME=WEIGHT pairs separated by commas; got {part!r}")
    return out
