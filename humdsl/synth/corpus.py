"""humc synth: a dataset streamed through the Synthesiser into an instruction corpus.

Examples are read one at a time and handed out in small chunks (to worker processes with
--jobs), and the results are written back in source order, so memory stays flat and the output
does not depend on --jobs. Each example's random choices are seeded from the run's seed and the
example's own position, so a shard holds exactly the lines the whole run gives its examples.
The corpus is written to a temporary file beside OUT and renamed over it at the end: OUT is
never left half-written.
"""
from __future__ import annotations

from ..errors import HumError
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Iterator

from ..outputs import new_partial
from .instances import Synthesiser, chunk_result
from .policy import Policy
from .stats import Stats
from ..ir_types import TaskIR

CHUNK = 64  # examples per unit of work handed to a process


class SynthError(HumError):
    """A problem that stops synthesis before or while it runs: one line (or a few) for the user."""


@dataclass
class SynthOptions:
    task: str
    data: Path
    out: Path
    adapter: str | None = None
    seed: int = 0
    jobs: int = 1
    shard: tuple[int, int] | None = None  # (i, n), 1 <= i <= n: every n-th example from the i-th
    strict: bool = False
    exact: bool = False  # verify every answer with its own per-input grammar
    policy: dict = field(default_factory=dict)  # command-line overrides of the spec's synth block
    engine: str = "local"  # or "ray": the chunks made by Ray actors (ray_engine.py)
    address: str | None = None  # an existing Ray cluster; None: a local one
    with_proposed: bool = False  # the spec's proposed alternatives sampled too


KEPT_PROBLEMS = 1000  # problem lines kept in memory; the rest are only counted


@dataclass
class ProblemLog:
    """Problem lines as they are found: all counted, the first KEPT_PROBLEMS kept; with strict,
    the first one stops the run."""
    strict: bool = False
    kept: list[str] = field(default_factory=list)
    count: int = 0

    def note(self, found: list[str]) -> None:
        self.count += len(found)
        self.kept.extend(found[:max(0, KEPT_PROBLEMS - len(self.kept))])
        if self.strict and self.count:
            raise SynthError(f"stopped at the first problem (--strict): {self.kept[0]}")


@dataclass
class SynthSummary:
    stats: Stats
    problems: list[str]  # the first KEPT_PROBLEMS
    problem_count: int
    adapter: str
    policy: Policy
    seconds: float
    spec: dict

    @property
    def ok(self) -> bool:
        return not self.problem_count


def parse_shard(text: str) -> tuple[int, int]:
    i, sep, n = text.partition("/")
    try:
        pair = int(i), int(n)
    except ValueError:
        pair = None
    if not sep or pair is None or not 1 <= pair[0] <= pair[1]:
        raise SynthError(f"--shard takes I/N with 1 <= I <= N, e.g. 1/4; got {text!r}")
    return pair


def _task_ir(spec_path: str, task: str, with_proposed: bool = False) -> TaskIR:
    from ..api import load_task

    return load_task(spec_path, task, with_proposed)


# ---- workers ------------------------------------------------------------------------------------
_worker: Synthesiser | None = None


def _init_worker(task_ir: TaskIR, policy: Policy, seed: int, exact: bool, data_path: str) -> None:
    global _worker
    # A forked worker inherits `humc synth`'s SIGTERM handler (exit cleanly, removing the partial
    # file), which is the parent's job. The pool ends its workers with SIGTERM, and a Python
    # handler can miss it: a signal that lands just before an idle worker blocks on the task
    # queue's lock is only handled when the wait ends, which it never does (a CI run hung there,
    # the parent joining forever). The default action ends the process at once.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # A parent killed outright closes the pipes: a worker writing a result then ends quietly
    # instead of printing a BrokenPipeError traceback for each chunk in flight.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    _worker = Synthesiser(task_ir, policy, seed, exact, data_path)


def _work(chunk: list[tuple[int, dict]]) -> tuple[str, Stats, list[str]]:
    assert _worker is not None  # the pool runs _init_worker in each worker first
    return chunk_result(_worker, chunk)


def _guarded(examples: Iterator[dict], data: Path, adapter: str) -> Iterator[dict]:
    """The adapter's examples; a file it cannot make sense of at all (not the format it reads)
    becomes one clear error instead of a traceback from deep inside the reader."""
    try:
        yield from examples
    except UnicodeDecodeError as e:
        raise SynthError(f"{data}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})") from None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        what = f"{type(e).__name__}: {e}" if not isinstance(e, ValueError) else str(e)
        raise SynthError(f"{data}: cannot be read with the '{adapter}' adapter ({what}); "
                         "is it the right file, or the right --adapter?") from None


def _numbered(examples: Iterator[dict], shard: tuple[int, int] | None) -> Iterator[tuple[int, dict]]:
    for ordinal, ex in enumerate(examples):
        if shard is None or ordinal % shard[1] == shard[0] - 1:
            yield ordinal, ex


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    while chunk := list(islice(items, size)):
        yield chunk


def _results(task_ir, policy, opts, numbered) -> Iterator[tuple[str, Stats, list[str]]]:
    """Per-chunk results in source order, with at most a few chunks in flight per process."""
    chunks = _chunks(numbered, CHUNK)
    if opts.engine == "ray":
        from .ray_engine import ray_results

        yield from ray_results(task_ir, policy, opts.seed, opts.exact, str(opts.data), chunks, opts.jobs,
                               opts.address)
        return
    if opts.jobs <= 1:
        synth = Synthesiser(task_ir, policy, opts.seed, opts.exact, str(opts.data))
        for chunk in chunks:
            yield chunk_result(synth, chunk)
        return
    import multiprocessing as mp

    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(opts.jobs, _init_worker, (task_ir, policy, opts.seed, opts.exact, str(opts.data))) as pool:
        pending = []
        for chunk in chunks:
            pending.append(pool.apply_async(_work, (chunk,)))
            if len(pending) >= 2 * opts.jobs:  # bounded: the dataset is never read ahead in full
                yield pending.pop(0).get()
        for job in pending:
            yield job.get()


def synthesise(spec_path: str, opts: SynthOptions, progress=None) -> SynthSummary:
    from ..adapters.readers import detect, iter_examples

    task_ir = _task_ir(spec_path, opts.task, opts.with_proposed)
    if not task_ir["formats"]:
        raise SynthError(f"task '{opts.task}' has no output formats")
    try:
        policy = Policy.of(task_ir, **opts.policy)
    except TypeError as e:
        raise SynthError(str(e)) from None
    bad = policy.problems([f["name"] for f in task_ir["formats"]])
    if bad:
        raise SynthError("; ".join(bad))
    if opts.jobs < 1:
        raise SynthError("--jobs must be at least 1")
    # More processes than cores only costs memory (each holds the spec and its grammars); a Ray
    # cluster's cores are its own.
    if opts.engine != "ray":
        opts.jobs = min(opts.jobs, os.cpu_count() or 1)
    if opts.data.is_dir():
        raise SynthError(f"cannot read {opts.data}: it is a folder; give a dataset file")
    if not opts.data.is_file():
        raise SynthError(f"cannot read {opts.data}: no such file")
    if opts.out.exists() and opts.out.resolve() == opts.data.resolve():
        raise SynthError(f"--out {opts.out} is the dataset itself: it would be overwritten")
    try:
        adapter = opts.adapter or detect(opts.data)
        examples, report = iter_examples(opts.data, adapter)
    except ValueError as e:
        raise SynthError(str(e)) from None
    except OSError as e:
        raise SynthError(f"cannot read {opts.data}: {e.strerror}") from None
    assert adapter is not None  # iter_examples raises ValueError when no adapter is given or detected

    stats, log = Stats(), ProblemLog(opts.strict)
    note = log.note
    start = time.monotonic()
    try:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = new_partial(opts.out)
    except OSError as e:
        raise SynthError(f"cannot write {opts.out}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            numbered = _numbered(_guarded(examples, opts.data, adapter), opts.shard)
            for text, chunk_stats, chunk_problems in _results(task_ir, policy, opts, numbered):
                note(report.skipped + chunk_problems)
                report.skipped.clear()  # the reader's list would otherwise grow with the input
                out.write(text)
                stats.add(chunk_stats)
                if progress:
                    progress(stats, time.monotonic() - start)
            note(report.skipped)  # what the reader found after the last example
            if not stats.examples and not log.count:
                note([f"{opts.data}: no examples in the file"])
        if not stats.instances:  # never replace a corpus with nothing
            first = f": {log.kept[0]}" if log.kept else ""
            raise SynthError(f"no instance could be made from {opts.data} ({log.count} problems{first}); "
                             f"{opts.out} is left as it was")
        os.replace(tmp, opts.out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    from ..ir import task_hash

    spec = {"name": task_ir["name"], "version": task_ir["version"], "hash": task_hash(task_ir)}
    return SynthSummary(stats, log.kept, log.count, adapter, policy, time.monotonic() - start, spec)


def tty_progress(stats: Stats, elapsed: float) -> None:
    if not sys.stderr.isatty():  # called once per chunk of examples
        return
    rate = stats.instances / elapsed if elapsed else 0.0
    sys.stderr.write(f"\r{stats.examples} examples  {stats.instances} instances  {rate:.0f}/s ")
    sys.stderr.flush()
