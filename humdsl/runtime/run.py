"""humc run: a compiled task over an input JSONL, one output line per input, resumable.

Output lines are appended to OUT.partial and flushed as each batch finishes; when every input
is done the file is renamed to OUT in one step. A rerun skips the ids already written (in OUT or
OUT.partial), so an interrupted run loses at most the batch in flight.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HumError
from ..ir import task_hash
from ..jsonl import id_problem, objects
from ..kinds import KINDS
from ..outputs import OutputLock, OutputRefused, check_path
from ..session import Outcome, Session, Settings, outcome_fields
from ..api import load_task
from .models import ModelError, model_name


class RunError(HumError):
    """A problem that stops the run before any model work: one line for the user."""


@dataclass(frozen=True, kw_only=True)
class RunOptions(Settings):
    """A run: the task's settings (session.Settings), and the files, model and pace."""
    task: str
    model: str | None
    input: Path
    output: Path
    batch_size: int = 4
    limit: int | None = None  # process at most this many more inputs
    engine: str = "local"  # or "openai": a server (base_url) runs the model (runtime/openai_engine.py),
    # or "ray": Ray actors, each with the model or a client of one of the servers (runtime/ray_run.py)
    base_url: str | None = None  # with ray, a comma-separated list: the actors take turns
    api_key_env: str | None = None  # the environment variable holding the server's API key
    concurrency: int = 4  # requests in flight, with the openai engine; actors, with ray
    address: str | None = None  # an existing Ray cluster, with the ray engine


@dataclass
class RunSummary:
    written: int = 0
    already_done: int = 0
    failed: int = 0
    bad_input: list[str] = field(default_factory=list)
    output: Path | None = None
    decoder: str = ""
    cache: str = ""  # the constraint cache's hits and builds, on the backends that use it
    passed_over: list[str] = field(default_factory=list)  # what of the --shots-from file was not used, and why
    leaning: str = ""  # a note where every answer of a classify run is the same label (leaning_note)


# Fewer answers than this, all alike, say too little about the model to be worth a note.
LEANING_MIN_ANSWERS = 20


def leaning_note(answers: list[dict], decision: str, labels: int) -> str:
    """A note for a classify run whose answers all name the same label(s): a small model often
    leans to one label whatever it reads (SmolLM2 answers TREC's first label, ABBR, to almost
    every question under greedy decoding), and a user should hear of the decisions made for
    that before trusting the file. Empty where the answers differ, are few, or cannot differ."""
    if labels < 2 or len(answers) < LEANING_MIN_ANSWERS:
        return ""
    shown = {json.dumps(a, sort_keys=True) for a in answers}
    if len(shown) > 1:
        return ""
    first = answers[0]
    said = ", ".join(first["labels"]) if "labels" in first else str(first.get("label"))
    if decision == "knn":
        remedy = "the labelled examples it compares with may carry little else (check --shots-from)"
    elif decision == "channel":
        remedy = "--decision knn with --shots-from a labelled file is made for that (docs/run.md)"
    else:
        remedy = ("--decision channel, or --decision knn with --shots-from a labelled file, are made for "
                  "that (docs/run.md)")
    return (f"note: all {len(answers)} answers are {said}: the model may lean to one answer whatever it "
            f"reads; {remedy}")


def read_inputs(path: Path, required: list[str]) -> tuple[list[dict], list[str]]:
    rows: list[dict] = []
    problems: list[str] = []
    seen: set[str] = set()
    try:
        for where, obj in objects(path, problems):
            if "id" not in obj:
                problems.append(f"{where}: an input line needs an \"id\"")
                continue
            bad_id = id_problem(obj["id"])
            if bad_id:
                problems.append(f"{where}: {bad_id}")
                continue
            missing = [k for k in required if not isinstance(obj.get(k), str) or not str(obj[k]).strip()]
            if missing:
                problems.append(f"{where}: the input lacks {', '.join(repr(m) for m in missing)}")
                continue
            key = str(obj["id"])
            if key in seen:
                problems.append(f"{where}: id {key!r} was already used")
                continue
            seen.add(key)
            rows.append({**obj, "id": key})
    except OSError as e:
        raise RunError(f"cannot read {path}: {e.strerror}") from None
    if not rows and not problems:
        raise RunError(f"{path} holds no input lines")
    return rows, problems


def _done_ids(*paths: Path) -> set[str]:
    done: set[str] = set()
    for p in paths:
        if not p.exists():
            continue
        for line in p.read_text(encoding="utf-8").splitlines():
            try:
                done.add(str(json.loads(line)["id"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                pass  # a line cut short by an interruption: that input is simply done again
    return done


def _other_run(path: Path, identity: dict[str, str]) -> str | None:
    """What differs between this run and the one whose lines `path` holds (None: the same run,
    or no file): its ids would otherwise count as done, answers of another task, format, spec or
    model kept in place of this run's."""
    if not path.exists():
        return None
    resolved: dict[str, str] = {}  # each model path named in the file, resolved once
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            obj = json.loads(line)
            model = obj.get("model")
            if model and model not in resolved:  # a path, or a server's openai:URL/NAME as it is
                resolved[model] = model if model.startswith("openai:") else str(Path(model).resolve())
            theirs = {"task": obj["task"], "format": obj["format"], "spec hash": obj["spec"]["hash"],
                      "model": resolved[model] if model else None, "decision": obj.get("decision", "greedy"),
                      "prompt style": obj.get("prompt_style", "chat"), "phrasing": obj.get("phrasing", 1),
                      "prompt": obj.get("prompt", "full"),
                      # lines written before the rules were kept while decoding hold none: by the parser
                      "span rules": obj.get("span_rules", "parser" if identity.get("span rules") else None),
                      "shot spans": obj.get("shot_spans"),
                      "focus": obj.get("focus"),
                      **{k: obj.get(k.replace(" ", "_"), default) for k, default in SETTING_DEFAULTS.items()}}
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short: dropped when resuming
        diff = [f"{k} {theirs[k]!r}, not {identity[k]!r}" for k in identity if theirs[k] != identity[k]]
        if diff:
            return "; ".join(diff)
    return None


# What else makes a run's answers what they are, recorded on each line where not the default:
# resuming with another value would mix the answers of two runs in one file.
# Each by the name a line records it under (spaces for underscores), and its Settings field.
_RECORDED = {"label batch": "labels", "shots": "shots", "shots from": "shots_from", "temperature": "temperature",
             "top p": "top_p", "seed": "seed", "reason": "reason"}
SETTING_DEFAULTS = {name: Settings.__dataclass_fields__[f].default for name, f in _RECORDED.items()}


def _settings(opts: RunOptions) -> dict[str, tuple]:
    """Each of SETTING_DEFAULTS as (this run's value, the default)."""
    values = {"label batch": list(opts.labels) if opts.labels else None, "shots": opts.shots,
              "shots from": str(Path(opts.shots_from).resolve()) if opts.shots_from else None,
              "temperature": float(opts.temperature), "top p": float(opts.top_p), "seed": opts.seed,
              "reason": opts.reason}
    return {k: (values[k], SETTING_DEFAULTS[k]) for k in SETTING_DEFAULTS}


def _clean_partial(partial: Path) -> None:
    """Drop a last line cut short by an interruption, so appending starts on a fresh line."""
    if not partial.exists():
        return
    lines = partial.read_text(encoding="utf-8").splitlines(keepends=True)
    good = []
    for line in lines:
        try:
            json.loads(line)
            good.append(line if line.endswith("\n") else line + "\n")
        except json.JSONDecodeError:
            pass
    partial.write_text("".join(good), encoding="utf-8")


def run(spec_path: str, opts: RunOptions, progress=None) -> RunSummary:
    task = load_task(spec_path, opts.task)
    try:
        check_path(opts.output, opts.input)  # before the inputs are read or the model loaded
    except OutputRefused as e:
        raise RunError(str(e)) from None
    session = Session(task, opts, Path(spec_path).parent)
    resolved = session.settings  # with the task's run profile
    assert isinstance(resolved, RunOptions)  # with_profile keeps the settings' class
    opts = resolved
    rows, problems = read_inputs(opts.input, [f["name"] for f in task["inputs"]])
    summary = RunSummary(bad_input=problems, output=opts.output, passed_over=session.passed_over)
    servers = _servers(opts, session)  # connected and probed before anything is written
    server_name = ",".join(s.name for s in servers) or None

    lock = _locked(opts.output)
    try:
        partial = opts.output.with_name(opts.output.name + ".partial")
        identity = {"task": task["name"], "format": session.format_name, "spec hash": task_hash(task),
                    "decision": opts.decision, "prompt style": opts.prompt_style, "phrasing": opts.phrasing,
                    "prompt": opts.prompt, **{k: v for k, (v, _) in _settings(opts).items()},
                    # where the format has rules across spans, how they were kept: on every line
                    "span rules": opts.span_rules if session.fmt.span_rules() is not None else None,
                    "shot spans": opts.shot_spans if opts.shot_spans != "off" else None,
                    # the sentences whose spans a qa task's exact decision scores (None where the
                    # session found it does not apply): on every line
                    "focus": opts.focus}
        try:
            identity["model"] = server_name or model_name(opts.model)
        except ModelError:
            pass  # loading it says why, where there is anything to do
        existing = partial if partial.exists() else opts.output
        other = _other_run(existing, identity)
        if other:
            raise RunError(f"{existing} holds the results of another run ({other}); resuming would mix "
                           f"the two: write to another --output, or remove it")
        if opts.output.exists() and not partial.exists():
            partial.write_bytes(opts.output.read_bytes())  # resume on top of a finished file
        _clean_partial(partial)
        done = _done_ids(partial)
        todo = [r for r in rows if r["id"] not in done]
        summary.already_done = len(rows) - len(todo)
        if opts.limit is not None:
            todo = todo[:opts.limit]

        meta: dict[str, Any] = {"task": task["name"], "format": session.format_name,
                "spec": {"name": task["name"], "version": task["version"], "hash": identity["spec hash"],
                         "file": Path(spec_path).name}}
        if session.decides:
            meta["decision"] = opts.decision
            meta["prompt_style"] = opts.prompt_style
        if opts.phrasing != 1:  # recorded where not the default, so that a resumed run can tell
            meta["phrasing"] = opts.phrasing
        if opts.prompt != "full":
            meta["prompt"] = opts.prompt
        for key, (value, default) in _settings(opts).items():
            if value != default:  # recorded where not the default, as above
                meta[key.replace(" ", "_")] = value
        if identity["span rules"] is not None:
            meta["span_rules"] = identity["span rules"]
        if identity["shot spans"] is not None:  # recorded where not the default, as above
            meta["shot_spans"] = identity["shot spans"]
        if identity["focus"] is not None:
            meta["focus"] = identity["focus"]

        if todo:
            # a server answers `concurrency` requests at once: a batch keeps them all busy (on Ray,
            # `concurrency` counts actors, each with its batch's requests in flight)
            step = max(1, opts.batch_size, opts.concurrency if servers and opts.engine == "openai" else 1)
            batches = (todo[i:i + step] for i in range(0, len(todo), step))
            decoder = None
            if opts.engine == "ray":
                from .ray_run import ray_outcomes

                def describe(model: str, decoder_name: str) -> None:
                    meta["model"] = server_name or model
                    summary.decoder = f"ray: {opts.concurrency} x {decoder_name}"

                clients = [(s.base_url, s.model) for s in servers]
                results = ray_outcomes(task, opts, Path(spec_path).parent, opts.model, batches, opts.concurrency,
                                       opts.address, describe, clients, step)
            else:
                if servers:
                    meta["model"] = server_name
                else:
                    from .models import load as load_model

                    loaded = load_model(opts.model)
                    session.start(loaded)
                    meta["model"] = loaded.name
                decoder = session._decoder()
                summary.decoder = decoder.name
                results = ((batch, session.decode(batch)) for batch in batches)
            opts.output.parent.mkdir(parents=True, exist_ok=True)
            start = time.monotonic()
            answers = []  # this run's answers where they are a few labels (classify), for leaning_note
            decidable = KINDS[task["kind"]].decidable
            with partial.open("a", encoding="utf-8") as out:
                for chunk, outcomes in results:
                    for row, outcome in zip(chunk, outcomes):
                        out.write(_line(row, outcome, meta))
                        summary.written += 1
                        summary.failed += outcome.error is not None
                        if decidable and outcome.record is not None:
                            answers.append(outcome.record)
                    _flushed(out, summary, len(todo), start, progress)
            labels = len(opts.labels) if opts.labels else len(task.get("labels", []))
            summary.leaning = leaning_note(answers, opts.decision or "greedy", labels)
            if decoder is not None and decoder.cache is not None:
                summary.cache = decoder.cache.stats.summary()
        if partial.exists() and (opts.limit is None or len(_done_ids(partial)) >= len(rows)):
            os.replace(partial, opts.output)  # every input is done: the file appears whole, at once
    finally:
        lock.__exit__()
    return summary


def _servers(opts: RunOptions, session: Session) -> list:
    """The servers that run the model, connected and probed: one with --engine openai; with
    --engine ray, those --base-url lists (each actor a client of one; none: each loads the
    model). They must serve the model under one name."""
    urls = [u.strip() for u in (opts.base_url or "").split(",") if u.strip()]
    if opts.engine not in ("local", "openai", "ray"):
        raise RunError(f"unknown engine {opts.engine!r}; choose local, openai or ray")
    if opts.address and opts.engine != "ray":
        raise RunError("--address goes with --engine ray")
    if opts.engine == "local" and urls:
        raise RunError("--base-url goes with --engine openai (or ray, for several servers)")
    if opts.engine == "openai" and not urls:
        raise RunError("--engine openai needs --base-url, e.g. http://localhost:8000")
    if opts.engine == "openai" and len(urls) > 1:
        raise RunError("--engine openai sends to one server; for several, --engine ray --base-url URL1,URL2")
    if not urls:
        return []
    if opts.decoder != "auto":
        raise RunError("--decoder chooses humdsl's own decoding loop; on a server the server decodes")
    from .openai_engine import OpenAIDecoder, api_key_from

    key = api_key_from(opts.api_key_env)
    servers = [OpenAIDecoder(url, opts.model, key, opts.concurrency) for url in urls]
    served = sorted({s.model for s in servers})
    if len(served) > 1:
        raise RunError(f"the servers serve different models ({', '.join(served)}): give --model the name they "
                       "share")
    session.use(servers[0])  # the run's settings must suit a server (decisions, decoders)
    return servers


def _line(row: dict, outcome: Outcome, meta: dict) -> str:
    """A row's output line: its id, record and raw text, the run's meta, then what the outcome
    adds (reasoning, a decision's probability and ranking, its items' probabilities, an error)."""
    fields = outcome_fields(outcome)
    line = {"id": row["id"], "record": fields.pop("record"), "raw": fields.pop("raw"), **meta, **fields}
    return json.dumps(line, ensure_ascii=False) + "\n"


def _locked(output: Path) -> OutputLock:
    try:
        return OutputLock(output).__enter__()
    except OutputRefused as e:
        raise RunError(str(e)) from None
    except OSError as e:
        raise RunError(f"cannot write {output}: {e.strerror}") from None


def _flushed(out, summary: RunSummary, total: int, start: float, progress) -> None:
    """A batch's lines on disk before the next batch starts: an interruption loses at most one."""
    out.flush()
    os.fsync(out.fileno())
    if progress:
        progress(summary.written, total, time.monotonic() - start)


def tty_progress(done: int, total: int, elapsed: float) -> None:
    if not sys.stderr.isatty():
        return
    rate = done / elapsed if elapsed else 0.0
    eta = (total - done) / rate if rate else 0.0
    sys.stderr.write(f"\r{done}/{total} inputs  {rate:.2f}/s  ETA {eta:.0f}s ")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()
