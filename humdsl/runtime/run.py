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

from ..formats import FormatParseError, InputTooLarge, build
from ..formats.reasoning import REASON_MARK, with_reasoning
from ..ir import content_hash
from ..jsonl import id_problem, objects
from ..outputs import OutputLock, OutputRefused, check_path
from ..prompts import PromptChoice, prompt_text
from ..shots import Shots, ShotsError
from .decisions import AnswerScorer
from .models import ModelError, model_name


class RunError(Exception):
    """A problem that stops the run before any model work: one line for the user."""


@dataclass
class RunOptions:
    task: str
    format: str | None
    model: str | None
    input: Path
    output: Path
    batch_size: int = 4
    shots: int | None = None  # None: 2 of the spec's examples, or 4 retrieved from `shots_from`
    shots_from: Path | None = None  # labelled examples; each input shows its most similar ones
    shots_adapter: str | None = None  # how to read `shots_from` (detected when None)
    labels: list[str] | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    limit: int | None = None
    reason: int = 0  # > 0: a free reasoning line of at most this many characters before the answer
    decoder: str = "auto"  # auto (jump-forward where it applies), jump-forward, outlines
    backend: str = "llguidance"  # or outlines_core / xgrammar, for JSON formats (schema_backends.py)
    # None below: the task's run profile says (profile.py), else the default there
    decision: str | None = None  # greedy, or exact / calibrated: every allowed answer scored (decisions.py)
    prompt_style: str | None = None  # chat, or plain: the prompt as a document (decisions only)
    phrasing: int | None = None  # which instruction phrasing, from 1
    prompt: str | None = None  # what of the task the prompt shows: full, lean, bare (prompts.py)


@dataclass
class RunSummary:
    written: int = 0
    already_done: int = 0
    failed: int = 0
    bad_input: list[str] = field(default_factory=list)
    output: Path | None = None
    decoder: str = ""
    cache: str = ""  # the constraint cache's hits and builds, on the backends that use it


def read_inputs(path: Path, required: list[str]) -> tuple[list[dict], list[str]]:
    rows, problems = [], []
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
            missing = [k for k in required if not isinstance(obj.get(k), str) or not obj.get(k).strip()]
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
            if model and model not in resolved:
                resolved[model] = str(Path(model).resolve())
            theirs = {"task": obj["task"], "format": obj["format"], "spec hash": obj["spec"]["hash"],
                      "model": resolved[model] if model else None, "decision": obj.get("decision", "greedy"),
                      "prompt style": obj.get("prompt_style", "chat"), "phrasing": obj.get("phrasing", 1),
                      "prompt": obj.get("prompt", "full"),
                      **{k: obj.get(k.replace(" ", "_"), default) for k, default in SETTING_DEFAULTS.items()}}
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short: dropped when resuming
        diff = [f"{k} {theirs[k]!r}, not {identity[k]!r}" for k in identity if theirs[k] != identity[k]]
        if diff:
            return "; ".join(diff)
    return None


# What else makes a run's answers what they are, recorded on each line where not the default:
# resuming with another value would mix the answers of two runs in one file.
SETTING_DEFAULTS = {"label batch": None, "shots": None, "shots from": None, "temperature": 0.0,
                    "top p": 1.0, "seed": None, "reason": 0}


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


REASON_PROMPT = ("First reason briefly on a single line, then write a new line starting with 'Answer: ' "
                 "followed by the answer in the format above.")


def split_reasoning(text: str) -> tuple[str, str]:
    head, sep, answer = text.partition(REASON_MARK)
    if not sep:
        raise FormatParseError("the output has no 'Answer:' line after its reasoning", len(text))
    return head, answer


def run(spec_path: str, opts: RunOptions, progress=None) -> RunSummary:
    from ..api import SpecError, load

    try:
        spec = load(spec_path)
    except SpecError as e:
        raise RunError(f"{spec_path} has errors:\n{e}") from None
    if opts.task not in spec.tasks:
        raise RunError(f"no task '{opts.task}' in {spec_path}; it has: {', '.join(spec.tasks)}")
    task = spec.tasks[opts.task].ir
    try:
        check_path(opts.output, opts.input)  # before the inputs are read or the model loaded
    except OutputRefused as e:
        raise RunError(str(e)) from None
    opts = with_profile(opts, task.get("run") or {}, Path(spec_path).parent)
    formats = {f["name"]: f for f in task["formats"]}
    name = opts.format or task["formats"][0]["name"]
    if name not in formats:
        raise RunError(f"task '{opts.task}' has no format '{name}'; it has: {', '.join(formats)}")
    fmt = build(task, formats[name])
    codes = [lab["code"] for lab in task.get("labels", [])]
    batch_labels = opts.labels or None
    if batch_labels:
        unknown = [x for x in batch_labels if x not in codes]
        if unknown:
            raise RunError(f"unknown labels {unknown}; the task has: {', '.join(codes)}")
    required = [f["name"] for f in task["inputs"]]
    rows, problems = read_inputs(opts.input, required)
    try:
        shots = Shots.of(task, fmt, batch_labels, opts.shots, opts.shots_from, opts.shots_adapter)
    except ShotsError as e:
        raise RunError(str(e)) from None
    summary = RunSummary(bad_input=problems, output=opts.output)

    lock = _locked(opts.output)
    try:
        partial = opts.output.with_name(opts.output.name + ".partial")
        identity = {"task": task["name"], "format": name, "spec hash": content_hash(task),
                    "decision": opts.decision, "prompt style": opts.prompt_style, "phrasing": opts.phrasing,
                    "prompt": opts.prompt, **{k: v for k, (v, _) in _settings(opts).items()}}
        try:
            identity["model"] = model_name(opts.model)
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

        meta = {"task": task["name"], "format": name,
                "spec": {"name": task["name"], "version": task["version"], "hash": identity["spec hash"],
                         "file": Path(spec_path).name}}
        options = _decision_options(opts, fmt, batch_labels, task)
        if options is not None:
            meta["decision"] = opts.decision
            meta["prompt_style"] = opts.prompt_style
        if opts.phrasing != 1:  # recorded where not the default, so that a resumed run can tell
            meta["phrasing"] = opts.phrasing
        if opts.prompt != "full":
            meta["prompt"] = opts.prompt
        for key, (value, default) in _settings(opts).items():
            if value != default:  # recorded where not the default, as above
                meta[key.replace(" ", "_")] = value

        if todo:
            from .decode import DecodeError, RowFailure, Sampling, make_decoder
            from .models import load as load_model

            if opts.backend != "llguidance" and opts.reason > 0:
                raise RunError(f"--reason needs the llguidance backend (a reasoning line before a JSON answer "
                               f"is a grammar, which {opts.backend} cannot take here)")
            loaded = load_model(opts.model)
            try:
                decoder = make_decoder(loaded, "jump-forward" if options else opts.decoder, backend=opts.backend,
                                       fmt=fmt, batch=batch_labels)
            except DecodeError as e:
                raise RunError(f"--decision {opts.decision}: {e}" if options else str(e)) from None
            scorer = AnswerScorer(decoder, opts.prompt_style) if options else None
            summary.decoder = decoder.name
            meta["model"] = loaded.name
            sampling = Sampling(opts.temperature, opts.top_p, opts.seed)
            opts.output.parent.mkdir(parents=True, exist_ok=True)
            start = time.monotonic()
            with partial.open("a", encoding="utf-8") as out:
                limit = context_limit(loaded)
                for i in range(0, len(todo), max(1, opts.batch_size)):
                    chunk = todo[i:i + opts.batch_size]
                    prompts_of, too_long = {}, {}
                    for row in chunk:
                        prompt = prompt_text(task, fmt, row, _choice(opts, shots, row))
                        if opts.reason > 0:
                            prompt += REASON_PROMPT + "\n"
                        why = _too_long(row, prompt, limit, loaded, fmt, opts, batch_labels)
                        if why:
                            too_long[row["id"]] = why
                        prompts_of[row["id"]] = prompt
                    if scorer is not None:
                        for row in chunk:
                            if row["id"] in too_long:
                                out.write(_failed_line(row, "", meta, too_long[row["id"]]))
                                summary.failed += 1
                            else:
                                out.write(_decided_line(row, scorer, options, opts, task, fmt, shots, meta))
                            summary.written += 1
                        _flushed(out, summary, len(todo), start, progress)
                        continue
                    fits = [r for r in chunk if r["id"] not in too_long]
                    grammars, refused = _grammars(fmt, fits, batch_labels, opts.backend,
                                                  languages=takes_languages(decoder), reason=opts.reason)
                    live = [r for r in fits if r["id"] not in refused]
                    prompts = [prompts_of[r["id"]] for r in live]
                    if opts.backend == "llguidance":
                        budget = max((fmt.budget(batch=batch_labels, source=r["text"]) for r in live), default=0)
                    else:  # one schema for every row; grounding is checked when each answer is parsed
                        budget = decoder.budget
                    if opts.reason > 0:
                        budget += 4 * opts.reason + len(REASON_MARK)
                    decoded = dict(zip([r["id"] for r in live],
                                       decoder.generate(prompts, grammars, budget, sampling) if live else []))
                    for row in chunk:
                        if row["id"] in too_long:
                            out.write(_failed_line(row, "", meta, too_long[row["id"]]))
                            summary.failed += 1
                            summary.written += 1
                            continue
                        if row["id"] in refused:
                            out.write(_failed_line(row, "", meta, f"the input was refused: {refused[row['id']]}"))
                            summary.failed += 1
                            summary.written += 1
                            continue
                        text = decoded[row["id"]]
                        if isinstance(text, RowFailure):
                            out.write(_failed_line(row, text.text, meta, f"decoding stopped: {text.message}"))
                            summary.failed += 1
                            summary.written += 1
                            continue
                        line = {"id": row["id"], "record": None, "raw": text, **meta}
                        try:
                            if opts.reason > 0:
                                line["reasoning"], text = split_reasoning(text)
                                line["raw"] = text
                            line["record"] = fmt.parse(text, batch=batch_labels, source=row["text"])
                        except FormatParseError as e:
                            line["error"] = f"the output did not parse: {e.message}" + (
                                f" (on {opts.backend} the schema cannot ground spans or hold every rule: "
                                f"they are checked here, after decoding)" if opts.backend != "llguidance" else "")
                            summary.failed += 1
                        out.write(json.dumps(line, ensure_ascii=False) + "\n")
                        summary.written += 1
                    _flushed(out, summary, len(todo), start, progress)
            if getattr(decoder, "cache", None) is not None:
                summary.cache = decoder.cache.stats.summary()
        if partial.exists() and (opts.limit is None or len(_done_ids(partial)) >= len(rows)):
            os.replace(partial, opts.output)  # every input is done: the file appears whole, at once
    finally:
        lock.__exit__()
    return summary


def context_limit(loaded) -> int | None:
    """The most tokens the model reads at once (its position table), or None when unknown."""
    config = getattr(loaded.model, "config", None)
    n = getattr(config, "max_position_embeddings", None)
    return n if isinstance(n, int) and n > 0 else None


def _too_long(row: dict, prompt: str, limit: int | None, loaded, fmt, opts: RunOptions, labels) -> str | None:
    """Why this input cannot be answered within the model's context, or None. Checked before its
    grammar is built or a token decoded: a huge input is refused in a moment, as its own line."""
    if limit is None:
        return None
    from .models import model_prompt

    tokens = len(loaded.tokenizer(model_prompt(loaded.tokenizer, prompt))["input_ids"])
    answer = fmt.budget(batch=labels, source=row["text"]) + (4 * opts.reason if opts.reason > 0 else 0)
    if tokens + min(answer, 256) > limit:  # room for at least a short answer
        return (f"the input is too long for the model: its prompt is {tokens} tokens and the model reads "
                f"at most {limit}; split the text or use a model with a longer context")
    return None


def _locked(output: Path) -> OutputLock:
    try:
        return OutputLock(output).__enter__()
    except OutputRefused as e:
        raise RunError(str(e)) from None
    except OSError as e:
        raise RunError(f"cannot write {output}: {e.strerror}") from None


def _decision_options(opts: RunOptions, fmt, labels, task_ir: dict):
    """The answers to score for --decision exact or calibrated (None for greedy), or why not."""
    from ..profile import DECISIONS, PROMPT_PARTS, PROMPT_STYLES
    from .decisions import NotEnumerable, answers

    if opts.decision not in DECISIONS:
        raise RunError(f"unknown decision {opts.decision!r}; choose one of: {', '.join(DECISIONS)}")
    if opts.prompt not in PROMPT_PARTS:
        raise RunError(f"unknown prompt {opts.prompt!r}; choose one of: {', '.join(PROMPT_PARTS)}")
    count = max(1, len(task_ir.get("instructions") or []))
    if not 1 <= opts.phrasing <= count:
        raise RunError(f"--phrasing {opts.phrasing}: the task has {count} instruction phrasing(s)")
    if opts.prompt_style not in PROMPT_STYLES:
        raise RunError(f"unknown prompt style {opts.prompt_style!r}; choose one of: {', '.join(PROMPT_STYLES)}")
    if opts.decision == "greedy":
        if opts.prompt_style != "chat":
            raise RunError(f"--prompt-style {opts.prompt_style} is for --decision exact or calibrated: "
                           f"decoding writes the answer as the chat template's reply")
        return None
    if opts.reason > 0:
        raise RunError(f"--decision {opts.decision} scores whole answers: it takes no --reason line")
    if opts.backend != "llguidance" or opts.decoder == "outlines":
        raise RunError(f"--decision {opts.decision} scores answers on humdsl's own model loop: leave "
                       f"--decoder and --backend at their defaults")
    try:
        return answers(fmt, labels)
    except NotEnumerable as e:
        raise RunError(f"--decision {opts.decision}: {e}") from None


def _decided_line(row: dict, scorer, options, opts: RunOptions, task: dict, fmt, shots, meta: dict) -> str:
    from .decisions import content_free_row, decide

    choice = _choice(opts, shots, row)
    prompt = prompt_text(task, fmt, row, choice)
    blank = None
    if opts.decision == "calibrated":
        blank = prompt_text(task, fmt, content_free_row(row, [f["name"] for f in task["inputs"]]), choice)
    d = decide(scorer, prompt, options, fmt, opts.labels or None, row["text"], blank)
    line = {"id": row["id"], "record": d.record, "raw": d.text, **meta, "p": d.p, "ranking": d.ranking}
    return json.dumps(line, ensure_ascii=False) + "\n"


def with_profile(opts: RunOptions, profile: dict, spec_dir: Path) -> RunOptions:
    """The options with what the command line left open taken from the task's run profile
    (a `shots_from` there is relative to the spec), then from the defaults."""
    from dataclasses import replace

    from ..profile import DEFAULTS

    def pick(given, name):
        return given if given is not None else profile.get(name, DEFAULTS[name])

    shots_from = opts.shots_from
    if shots_from is None and profile.get("shots_from"):
        shots_from = spec_dir / profile["shots_from"]
    return replace(opts, format=pick(opts.format, "answer_format"), shots=pick(opts.shots, "shots"),
                   shots_from=shots_from, decision=pick(opts.decision, "decision"),
                   prompt_style=pick(opts.prompt_style, "prompt_style"), phrasing=pick(opts.phrasing, "phrasing"),
                   prompt=pick(opts.prompt, "prompt"))


def _choice(opts: RunOptions, shots, row: dict) -> PromptChoice:
    return PromptChoice(instruction=opts.phrasing - 1, batch=opts.labels or None, examples=shots.for_row(row),
                        parts=opts.prompt)


def _flushed(out, summary: RunSummary, total: int, start: float, progress) -> None:
    """A batch's lines on disk before the next batch starts: an interruption loses at most one."""
    out.flush()
    os.fsync(out.fileno())
    if progress:
        progress(summary.written, total, time.monotonic() - start)


def takes_languages(decoder) -> bool:
    return getattr(decoder, "takes_languages", False)


def row_constraint(fmt, labels, source: str, languages: bool, reason: int = 0):
    """A row's constraint: the format's LiteralDag where it has one and the decoder takes it
    (grounded formats: nothing to compile; no inline input too long), else its grammar; with
    `reason`, behind a reasoning line of at most that many characters."""
    language = fmt.language(batch=labels, source=source, reason=reason) if languages else None
    if language is not None:
        return language
    grammar = fmt.grammar(batch=labels, source=source)
    return with_reasoning(grammar, reason) if reason else grammar


def _grammars(fmt, rows: list[dict], labels, backend: str, languages: bool = False,
              reason: int = 0) -> tuple[list, dict[str, str]]:
    """Each row's constraint (None on a schema backend: one schema serves all), and the rows whose
    input the format refuses (an inline grammar too large for llguidance), by id, with why."""
    if backend != "llguidance":
        return [None] * len(rows), {}
    grammars, refused = [], {}
    for r in rows:
        try:
            grammars.append(row_constraint(fmt, labels, r["text"], languages, reason))
        except InputTooLarge as e:
            refused[r["id"]] = str(e)
    return grammars, refused


def _failed_line(row: dict, raw: str, meta: dict, error: str) -> str:
    return json.dumps({"id": row["id"], "record": None, "raw": raw, **meta, "error": error},
                      ensure_ascii=False) + "\n"


def tty_progress(done: int, total: int, elapsed: float) -> None:
    if not sys.stderr.isatty():
        return
    rate = done / elapsed if elapsed else 0.0
    eta = (total - done) / rate if rate else 0.0
    sys.stderr.write(f"\r{done}/{total} inputs  {rate:.2f}/s  ETA {eta:.0f}s ")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()
