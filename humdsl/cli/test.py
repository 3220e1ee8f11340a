"""humc test: a spec's examples and tests checked in every format, and its tests run on a model."""
from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command(name="test")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--task", help="Only this task's examples and tests.")
@click.option("--model", help="Also run each test on this model (a folder, a .gguf file, or smollm2) under "
              "the task's run profile, and check its expectation.")
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(min=1),
              help="Runs of each test (with --temperature above 0, each samples anew).")
@click.option("--pass-rate", default=1.0, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="Share of a test's runs that must pass.")
@click.option("--temperature", default=0.0, show_default=True, type=click.FloatRange(min=0.0), help="0 is greedy.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--engine", default="local", show_default=True, type=click.Choice(["local", "openai"]),
              help="openai: run the tests on an OpenAI-compatible server (vLLM) at --base-url, as humc run does.")
@click.option("--base-url", "base_url", help="With --engine openai: the server.")
@click.option("--api-key-env", "api_key_env", help="With --engine openai: the environment variable holding its API key.")
@click.option("--no-cache", is_flag=True, help="Run every test on the model again, even where the same task, "
              "test, model and settings have a cached result.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="Also write the results as JUnit XML.")
def test_cmd(paths, task, model, repeat, pass_rate, temperature, seed, engine, base_url, api_key_env, no_cache,
             junit_path) -> None:
    """Check a spec's examples and tests: each is written in every format of its task, read back
    and accepted by the format's grammar; with --model each test is also run and its `expect`,
    `includes` or `excludes` checked. Exit 0 when all pass, 1 when one fails, 5 when there is
    nothing to check."""
    from ..errors import UsageError
    from ..outputs import write_atomic
    from ..session import Settings
    from ..synth.verify import Verifier
    from ..testing import NoTests, Report, ResultCache, check_formats, collect, junit, run_tests

    if junit_path:
        _check_report_path(Path(junit_path))  # before any work: never someone else's file
    cases = collect(list(paths), task)
    if not cases:
        raise NoTests(f"no example or test in {', '.join(paths)}" + (f" for task '{task}'" if task else ""))
    report = Report()
    verifiers: dict[int, Verifier] = {}  # one per task: a Verifier's cache keys on format ids, which tasks share
    for case in cases:
        verifier = verifiers.setdefault(id(case.task), Verifier())  # exact verdicts; inline on the input's DAG
        report.results.append(check_formats(case, verifier))
    tests = [c for c in cases if c.keyword == "test"]
    if engine == "openai":
        if not base_url:
            raise UsageError("--engine openai needs --base-url, e.g. http://localhost:8000")
        from ..runtime.openai_engine import OpenAIDecoder, api_key_from

        model = OpenAIDecoder(base_url, model, api_key_from(api_key_env)) if tests else model
    if model and tests:
        def progress(done: int, total: int) -> None:
            if sys.stderr.isatty():
                sys.stderr.write(f"\r{done}/{total} runs ")
                sys.stderr.flush()

        report.results += run_tests(tests, model, Settings(temperature=temperature, seed=seed), repeat, pass_rate,
                                    progress=progress, cache=None if no_cache else ResultCache())
    for r in report.results:
        runs = f" ({r.passes}/{r.runs} runs{', cached' if r.cached else ''})" if r.runs else ""
        verdict = "ok" if r.passed else "FAILED"
        what = "formats" if r.check == "formats" else "model"
        click.echo(f"{r.case.where}: {r.case.keyword} {r.case.name} [{what}] {verdict}{runs}"
                   + (f": {r.detail}" if not r.passed else "")
                   + "".join(f"; warning: {w}" for w in r.warnings))
    failed, total = len(report.failed), len(report.results)
    ran = f"; {len(tests)} test(s) run on the model" if model and tests else \
        ("; give --model to run the tests" if tests else "")
    warned = sum(bool(r.warnings) for r in report.results)
    click.echo(f"{total - failed} passed{f' ({warned} with a warning)' if warned else ''}, {failed} failed "
               f"({len(cases)} examples and tests{ran})", err=True)
    if junit_path:
        write_atomic(Path(junit_path), junit(report))
    sys.exit(1 if failed else 0)


def _check_report_path(path: Path) -> None:
    """The --junit file may be new, or a report an earlier humc test wrote; nothing else."""
    from ..outputs import OutputRefused

    if path.is_dir():
        raise OutputRefused(f"--junit {path} is a folder: give a file name")
    if path.exists():
        try:
            ours = '<testsuites name="humc test"' in path.read_text(encoding="utf-8")[:500]
        except (OSError, UnicodeDecodeError):
            ours = False
        if not ours:
            raise OutputRefused(f"--junit {path} is not a report of humc test; it is left as it is: "
                                f"give another file")
