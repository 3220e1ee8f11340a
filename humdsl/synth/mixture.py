"""humc synth --corpus: one shuffled instruction corpus from a spec's `corpus` declaration.

Each part is made as `humc synth` makes a task's corpus, from a seeded sample of its data: the
examples are taken in an order drawn from the seed and the part's task and data (not the
corpus's name, so two corpora declaring the same parts, a Hum-style one and its baseline, use
the same examples), until the part has its instances. The parts are then shuffled together.
Output does not depend on --jobs. The corpus is written beside OUT and renamed over it at the
end; a corpus that would be empty is not written at all.
"""
from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import not_found
from ..outputs import new_partial
from ..api import load_checked
from .corpus import ProblemLog, SynthError, SynthOptions, _guarded, _results
from .policy import Policy
from .stats import Stats
from ..ir_types import CorpusIR, CorpusPartIR

if TYPE_CHECKING:
    from ..adapters.readers import Report


@dataclass
class CorpusOptions:
    corpus: str
    out: Path
    seed: int = 0
    jobs: int = 1
    diversity: str | None = None  # overrides the declaration's
    strict: bool = False
    exact: bool = False
    engine: str = "local"  # or "ray" (ray_engine.py)
    address: str | None = None
    with_proposed: bool = False  # the spec's proposed alternatives sampled too


@dataclass
class PartSummary:
    task: str
    data: str  # as the spec wrote it
    adapter: str
    target: int | None  # the instances asked for; None: every example's
    stats: Stats
    policy: Policy
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    seconds: float = 0.0
    formats: dict = field(default_factory=dict)  # format -> instances kept


@dataclass
class CorpusSummary:
    name: str
    parts: list[PartSummary]
    instances: int
    seconds: float

    @property
    def problem_count(self) -> int:
        return sum(p.problem_count for p in self.parts)

    @property
    def ok(self) -> bool:
        return not self.problem_count


def load_corpus(spec_path: str, name: str, with_proposed: bool = False) -> CorpusIR:
    spec = load_checked(spec_path, with_proposed)
    if name not in spec.corpora:
        raise SynthError(not_found("corpus", name, spec.corpora, spec_path))
    return spec.corpora[name]


def targets(corpus: CorpusIR) -> list[int] | list[None]:
    """Instances per part. With `instances` set, each part's share of it, the parts without a
    share splitting what is left evenly, rounded so that the parts add up to it exactly (largest
    remainders first, ties to the earlier part). Without it, None: every example the part reads."""
    total = corpus["settings"].get("instances")
    parts = corpus["parts"]
    if total is None:
        return [None] * len(parts)
    free = [p for p in parts if "share" not in p]
    rest = max(0.0, 1.0 - sum(p["share"] for p in parts if "share" in p))
    exact = [total * (p["share"] if "share" in p else rest / len(free)) for p in parts]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(parts)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[:total - sum(counts)]:
        counts[i] += 1
    return counts


def _policy(part: CorpusPartIR, corpus: CorpusIR, opts: CorpusOptions) -> Policy:
    overrides = dict(part["policy"])
    overrides["style"] = corpus["settings"].get("style")
    overrides["diversity"] = opts.diversity or corpus["settings"].get("diversity")
    overrides["baseline_format"] = part.get("baseline_format")
    policy = Policy.of(part["task"], **overrides)
    bad = policy.problems([f["name"] for f in part["task"]["formats"]])
    if bad:
        raise SynthError(f"corpus '{corpus['name']}', part '{part['task']['name']}': {'; '.join(bad)}")
    return policy


def _examples(part: CorpusPartIR, corpus: CorpusIR) -> tuple[list[dict], Report, Path, str]:
    from ..adapters.readers import detect, iter_examples

    data = Path(corpus["spec_dir"]) / part["data"]
    where = f"corpus '{corpus['name']}', part '{part['task']['name']}'"
    if not data.is_file():
        raise SynthError(f"{where}: no data file at {data}")
    try:
        adapter = part.get("adapter") or detect(data)
        read, report = iter_examples(data, adapter)
        assert adapter is not None  # iter_examples raises ValueError when no adapter is given or detected
        examples = list(_guarded(read, data, adapter))  # a reader's failure: one clear line
    except SynthError as e:
        raise SynthError(f"{where}: {str(e).replace('--adapter', 'adapter')}") from None
    except ValueError as e:
        raise SynthError(f"{where}: {e}") from None
    except OSError as e:
        raise SynthError(f"{where}: cannot read {data}: {e.strerror}") from None
    return examples, report, data, adapter


def _part(part: CorpusPartIR, corpus: CorpusIR, target: int | None, opts: CorpusOptions) -> tuple[list[str], PartSummary]:
    start = time.monotonic()
    task_ir = part["task"]
    policy = _policy(part, corpus, opts)
    examples, report, data, adapter = _examples(part, corpus)
    order = list(range(len(examples)))
    random.Random(f"{opts.seed}:{task_ir['name']}:{part['data']}").shuffle(order)
    order = order[:part.get("examples", len(order))]
    summary = PartSummary(task_ir["name"], part["data"], adapter, target, Stats(), policy)
    log = ProblemLog(opts.strict)
    note = log.note
    note(report.skipped)
    synth_opts = SynthOptions(task_ir["name"], data, opts.out, adapter, opts.seed, opts.jobs, None,
                              opts.strict, opts.exact, engine=opts.engine, address=opts.address,
                              with_proposed=opts.with_proposed)
    lines: list[str] = []
    full = False

    def feed():
        # Stops handing out examples once the part is full; the chunks already in flight are
        # finished and the pool ends as usual (leaving it mid-flight can hang its shutdown).
        for i in order:
            if full:
                return
            yield i, examples[i]
    for text, chunk_stats, chunk_problems in _results(task_ir, policy, synth_opts, feed()):
        if full:
            continue
        note(chunk_problems)
        summary.stats.add(chunk_stats)
        lines.extend(text.splitlines())
        full = target is not None and len(lines) >= target
    if target is not None:
        if len(lines) < target:
            note([f"{data.name}: only {len(lines)} of the {target} instances asked of "
                  f"'{task_ir['name']}' could be made from its {len(order)} examples"])
        del lines[target:]
    summary.problems, summary.problem_count = log.kept, log.count
    summary.formats = dict(sorted(Counter(json.loads(line)["meta"]["format"] for line in lines).items()))
    summary.seconds = time.monotonic() - start
    return lines, summary


def synthesise_corpus(spec_path: str, opts: CorpusOptions, progress=None) -> CorpusSummary:
    corpus = load_corpus(spec_path, opts.corpus, opts.with_proposed)
    if opts.jobs < 1:
        raise SynthError("--jobs must be at least 1")
    if opts.engine != "ray":  # a Ray cluster's cores are its own
        opts.jobs = min(opts.jobs, os.cpu_count() or 1)
    start = time.monotonic()
    lines, parts = [], []
    for part, target in zip(corpus["parts"], targets(corpus)):
        made, summary = _part(part, corpus, target, opts)
        lines.extend(made)
        parts.append(summary)
        if progress:
            progress(summary)
    if not lines:
        raise SynthError(f"corpus '{opts.corpus}' would be empty: no part made an instance "
                         f"({opts.out} is left as it was)")
    random.Random(f"{opts.seed}:{opts.corpus}").shuffle(lines)
    _write(opts.out, lines)
    return CorpusSummary(opts.corpus, parts, len(lines), time.monotonic() - start)


def _write(out: Path, lines: list[str]) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = new_partial(out)
    except OSError as e:
        raise SynthError(f"cannot write {out}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.writelines(line + "\n" for line in lines)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def report(summary: CorpusSummary) -> dict:
    """What the corpus holds, per part: the counts `humc synth --report` gives one task."""
    parts: list[dict] = []
    out = {"corpus": summary.name, "instances": summary.instances, "parts": parts}
    for p in summary.parts:
        s = p.stats
        parts.append({
            "task": p.task, "data": p.data, "adapter": p.adapter, "asked": p.target,
            "instances": sum(p.formats.values()),
            "examples_read": s.examples, "duplicates_removed": s.duplicates, "failed_instances": s.failed,
            "problems": p.problem_count, "problem_lines": p.problems[:100],
            "diversity": p.policy.diversity,
            "formats": p.formats,
        })
    return out


def write_report(summary: CorpusSummary, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "report.json"
    path.write_text(json.dumps(report(summary), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
