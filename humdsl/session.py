"""A task made ready to answer inputs: its format, labels, worked examples and settings, and once
a model is attached, its decoder. `humc run` (runtime/run.py, which adds files, resuming and
progress) and the Python API (`Task.run`) both answer through a Session, so they cannot drift.

    session = Session(task_ir, Settings(format="tuples"), spec_dir)   # checks, no model yet
    session.start(load("smollm2"))
    outcomes = session.decode([{"id": "1", "text": "..."}])            # one Outcome per row
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .constraints import GrammarInvalid
from .errors import HumError, not_found
from .formats import FormatParseError, InputTooLarge, build
from .formats.grammar_tree import lark
from .formats.reasoning import REASON_MARK, reason_mark, with_reasoning
from .kinds import KINDS
from .profile import DECISIONS, DEFAULTS, PROMPT_PARTS, PROMPT_STYLES, SHOT_SPAN_MODES
from .prompts import PromptChoice, answer_name, prompt_text
from .runtime.protocol import (AnswerDag, Constraint, DecodeError, Grammar, JsonSchema, RowFailure, Sampling,
                               row_seed)
from .shots import Shots, read_labelled
from .ir_types import TaskIR

if TYPE_CHECKING:
    from .runtime.decisions import AnswerScorer
    from .runtime.protocol import Decoder


class SessionError(HumError):
    """Settings the task cannot run with (an unknown format or label, a decision the format cannot
    take, a decoder that cannot run the model): one line for the user."""


class InputRefused(HumError):
    """An input that cannot be answered: too long for the model, or too large for its grammar."""


@dataclass(frozen=True)
class Settings:
    """What makes a run's answers what they are. None: the task's run profile says (profile.py),
    else the default there."""
    format: str | None = None
    labels: list[str] | None = None  # a label batch (default: every label)
    shots: int | None = None  # None: 2 of the spec's examples, or 4 retrieved from `shots_from`
    shots_from: Path | None = None  # labelled examples; each input shows its most similar ones
    shots_adapter: str | None = None  # how to read `shots_from` (detected when None)
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    reason: int = 0  # > 0: a free reasoning line of at most this many characters before the answer
    decoder: str = "auto"  # auto (jump-forward where it applies), jump-forward, outlines
    backend: str = "llguidance"  # or outlines_core / xgrammar, for JSON formats (schema_backends.py)
    decision: str | None = None  # greedy, or exact / calibrated: every allowed answer scored (decisions.py)
    prompt_style: str | None = None  # chat, or plain: the prompt as a document (decisions only)
    phrasing: int | None = None  # which instruction phrasing, from 1
    prompt: str | None = None  # what of the task the prompt shows: full, lean, bare (prompts.py)
    span_rules: str | None = None  # entity tasks' dedupe, appearance, no_overlap: "decoder" (kept while decoding) or "parser"
    shot_spans: str | None = None  # entity tasks: "on" keeps the words the shown examples label (shot_spans.py)
    focus: int | None = None  # qa tasks' exact decisions: the sentences whose spans are scored (runtime/span_answers.py)


@dataclass
class Outcome:
    """A row's answer: its record, or why there is none (`error`, and for the API `failure`)."""
    record: dict | None
    raw: str
    reasoning: str | None = None  # with Settings.reason
    p: float | None = None  # with an exact or calibrated decision: its probability
    ranking: list[dict] | None = None  # ... and the runners-up
    item_p: list[float] | None = None  # each item's probability, where the decoder scored its picks (confidence.py)
    from_shots: list[int] | None = None  # with shot spans: the items the shown examples decided
    model_raw: str | None = None  # ... and the model's own answer, where they changed it
    error: str | None = None
    failure: Exception | None = None


def outcome_fields(outcome: Outcome) -> dict:
    """What an output line says of an answer: its record and text, then what the run adds
    (a reasoning line, a decision's probability and ranking, its items' probabilities, an error)."""
    fields: dict = {"record": outcome.record, "raw": outcome.raw}
    for key in ("reasoning", "p", "ranking", "item_p", "from_shots", "model_raw", "error"):
        value = getattr(outcome, key)
        if value is not None:
            fields[key] = value
    return fields


def reason_prompt(mark: str = REASON_MARK) -> str:
    """What the prompt asks for with --reason: one line of reasoning, then the answer after `mark`."""
    return (f"First reason briefly on a single line, then write a new line starting with '{mark.lstrip()}' "
            "followed by the answer in the format above.")


def split_reasoning(text: str, mark: str = REASON_MARK) -> tuple[str, str]:
    head, sep, answer = text.partition(mark)
    if not sep:
        raise FormatParseError(f"the output has no '{mark.strip()}' line after its reasoning", len(text))
    return head, answer


def with_profile(settings: Settings, profile: dict, spec_dir: Path | None) -> Settings:
    """The settings with what was left open taken from the task's run profile (a `shots_from`
    there is relative to the spec), then from the defaults."""
    def pick(given, name):
        return given if given is not None else profile.get(name, DEFAULTS[name])

    shots_from = settings.shots_from
    if shots_from is None and profile.get("shots_from"):
        shots_from = (spec_dir or Path(".")) / profile["shots_from"]
    return replace(settings, format=pick(settings.format, "answer_format"), shots=pick(settings.shots, "shots"),
                   shots_from=shots_from, decision=pick(settings.decision, "decision"),
                   prompt_style=pick(settings.prompt_style, "prompt_style"),
                   phrasing=pick(settings.phrasing, "phrasing"), prompt=pick(settings.prompt, "prompt"),
                   span_rules=pick(settings.span_rules, "span_rules"), shot_spans=pick(settings.shot_spans, "shot_spans"),
                   focus=pick(settings.focus, "focus"))


def row_constraint(fmt, labels, source: str, accepts: frozenset[type], reason: int = 0,
                   keep_rules: bool | str = True, mark: str = REASON_MARK) -> Constraint:
    """A row's constraint for a decoder that takes `accepts`: the format's answer DAG where it has
    one (grounded formats: nothing to compile; no inline input too long), with `keep_rules` (a
    `--span-rules` mode, or True for "decoder") less the answers that break the task's span rules
    (formats/span_rules.py), else its grammar; with
    `reason`, behind a reasoning line of at most that many characters and `mark`. InputTooLarge where the
    input makes the grammar too large for llguidance."""
    if AnswerDag in accepts:
        dag = fmt.language(batch=labels, source=source, reason=reason, keep_rules=keep_rules, mark=mark)
        if dag is not None:
            return AnswerDag(dag)
    tree = fmt.grammar_tree(batch=labels, source=source)
    if reason:
        tree = with_reasoning(tree, reason, mark)
    return Grammar(lark(tree), tree)


def context_limit(loaded) -> int | None:
    """The most tokens the model reads at once (its position table), or None when unknown."""
    config = getattr(loaded.model, "config", None)
    n = getattr(config, "max_position_embeddings", None)
    return n if isinstance(n, int) and n > 0 else None


class Session:
    def __init__(self, task: TaskIR, settings: Settings, spec_dir: Path | None = None):
        """Checks the settings against the task (SessionError) and reads the worked examples
        (shots.ShotsError); loads no model."""
        self.task = task
        self.settings = s = with_profile(settings, task.get("run") or {}, spec_dir)
        formats = {f["name"]: f for f in task["formats"]}
        self.format_name = s.format or task["formats"][0]["name"]
        if self.format_name not in formats:
            raise SessionError(not_found("format", self.format_name, formats, f"task '{task['name']}'"))
        self.fmt = build(task, formats[self.format_name])
        codes = [lab["code"] for lab in task.get("labels", [])]
        self.labels = s.labels or None
        if self.labels:
            unknown = [x for x in self.labels if x not in codes]
            if unknown:
                raise SessionError(f"unknown labels {unknown}; the task has: {', '.join(codes)}")
        if not (KINDS[task["kind"]].focused and s.decision == "exact"):
            if settings.focus is not None:
                raise SessionError("--focus is for exact decisions on a qa task (--decision exact)")
            self.settings = s = replace(s, focus=None)  # so that a copy of these settings is taken as given
        self.decides = s.decision != "greedy"  # whole answers scored, not decoded
        self.options = self._decision_options()  # the answers scored where they are the same for every input
        knn = s.decision == "knn"
        if s.decision in ("channel", "knn"):  # both read a plain document whatever the style: lines say so
            self.settings = s = replace(s, prompt_style="plain")
        # what of the --shots-from file was passed over ("file:line: why"), for the run's summary
        self.passed_over: list[str] = []
        # a knn prompt shows the spec's examples (anchors and inputs are read alike); the file, or the
        # spec's examples where there is none, are the anchors
        self.shots = Shots.of(task, self.fmt, self.labels, s.shots, None if knn else s.shots_from, s.shots_adapter,
                              self.passed_over)
        if knn and self.options is None and not self.fmt.schema.grounded:
            raise SessionError(f"--decision knn labels the input's own words: task '{task['name']}' needs "
                               f"`prefer grounded`")
        self.anchor_examples = self._anchor_examples(s) if knn else []
        if s.shot_spans not in SHOT_SPAN_MODES:
            raise SessionError(f"unknown shot spans {s.shot_spans!r}; choose one of: {', '.join(SHOT_SPAN_MODES)}")
        if s.shot_spans == "on" and not KINDS[task["kind"]].span_rules:
            raise SessionError(f"--shot-spans on is for entity tasks; '{task['name']}' is a {task['kind']} task")
        if s.shot_spans == "on" and s.shots_from is None:
            raise SessionError("--shot-spans on needs --shots-from: the spec's own examples would give their "
                               "words the same labels in every input")
        if s.backend != "llguidance" and s.reason > 0:
            raise SessionError(f"--reason needs the llguidance backend (a reasoning line before a JSON answer "
                               f"is a grammar, which {s.backend} cannot take here)")
        self.decoder: Decoder | None = None  # set by start()
        self.loaded: Any = None
        self.scorer: AnswerScorer | None = None
        self.limit: int | None = None
        self._schema: JsonSchema | None = None
        self._checker: Any = None  # a synth.verify.Verifier, for answers from a server
        self._sizes: dict[int, int] | None = None  # channel decisions: labels per labelled answer
        self._anchors: Any = None  # knn decisions: the anchors' states (runtime/neighbours.py), read once

    def _decision_options(self):
        """The answers to score for an exact or calibrated decision (None for greedy), or why not."""
        from .runtime.decisions import NotEnumerable, answers

        s = self.settings
        phrasing = s.phrasing if s.phrasing is not None else 1
        if s.decision not in DECISIONS:
            raise SessionError(f"unknown decision {s.decision!r}; choose one of: {', '.join(DECISIONS)}")
        if s.prompt not in PROMPT_PARTS:
            raise SessionError(f"unknown prompt {s.prompt!r}; choose one of: {', '.join(PROMPT_PARTS)}")
        count = max(1, len(self.task.get("instructions") or []))
        if not 1 <= phrasing <= count:
            raise SessionError(f"--phrasing {s.phrasing}: the task has {count} instruction phrasing(s)")
        if s.prompt_style not in PROMPT_STYLES:
            raise SessionError(f"unknown prompt style {s.prompt_style!r}; choose one of: {', '.join(PROMPT_STYLES)}")
        if s.decision == "greedy":
            if s.prompt_style != "chat":
                raise SessionError(f"--prompt-style {s.prompt_style} is for --decision exact or calibrated: "
                                   f"decoding writes the answer as the chat template's reply")
            return None
        if s.reason > 0:
            raise SessionError(f"--decision {s.decision} scores whole answers: it takes no --reason line")
        if s.backend != "llguidance" or s.decoder == "outlines":
            raise SessionError(f"--decision {s.decision} scores answers on humdsl's own model loop: leave "
                               f"--decoder and --backend at their defaults")
        kind = KINDS[self.task["kind"]]
        if s.decision not in kind.decisions:
            if kind.decidable or kind.focused:  # classify, qa: whole answers scored, but not this way
                raise SessionError(f"--decision {s.decision}: a {kind.name} task takes {' or '.join(kind.decisions)}")
            # knn on entity tasks tags words; it scores no whole answer
            where = " and ".join(f"{k} ({', '.join(d for d in v.decisions if d != 'greedy')})"
                                 for k, v in sorted(KINDS.items()) if v.decidable or v.focused)
            other = [d for d in kind.decisions if d != "greedy"]
            raise SessionError(f"--decision {s.decision}: the answers of {kind.name} tasks are too many to score "
                               f"one by one; decisions that score whole answers are for {where} tasks"
                               + (f" ({kind.name} tasks take {' or '.join(other)})" if other else ""))
        if not kind.decidable:
            return None  # a qa task's spans: scored per input (runtime/span_answers.py)
        try:
            return answers(self.fmt, self.labels, orderings=s.decision not in ("channel", "knn"))
        except NotEnumerable as e:
            raise SessionError(f"--decision {s.decision}: {e}") from None

    # -- with a model ----------------------------------------------------------------------------
    def use(self, decoder: Decoder) -> None:
        """Decode with a decoder made elsewhere (a server's, runtime/openai_engine.py)."""
        if self.decides:
            raise SessionError(f"--decision {self.settings.decision} scores answers on humdsl's own model loop, "
                               f"not on {decoder.name}: pass --decision greedy (a task's run profile may choose it)")
        if self.settings.decoder != "auto":
            raise SessionError(f"decoder {self.settings.decoder!r} chooses humdsl's own decoding loop; "
                               f"{decoder.name} decodes itself")
        self.decoder = decoder

    def start(self, loaded) -> None:
        """Attach a loaded model (runtime.models.load): builds the decoder (SessionError where it
        cannot run the model)."""
        from .runtime.decisions import AnswerScorer
        from .runtime.decoders import make_decoder

        s = self.settings
        try:
            self.decoder = make_decoder(loaded, "jump-forward" if self.decides else s.decoder, backend=s.backend,
                                        fmt=self.fmt, batch=self.labels)
        except DecodeError as e:
            raise SessionError(f"--decision {s.decision}: {e}" if self.decides else str(e)) from None
        self.loaded = loaded
        self.scorer = AnswerScorer(self.decoder, s.prompt_style or "chat", self._plain_cue) if self.decides else None
        self.limit = context_limit(loaded)

    def prompt(self, row: dict, choice: PromptChoice | None = None) -> str:
        prompt = prompt_text(self.task, self.fmt, row, choice or self._choice(row))
        return prompt + reason_prompt(self._reason_mark) + "\n" if self.settings.reason > 0 else prompt

    def _choice(self, row: dict) -> PromptChoice:
        s = self.settings
        return PromptChoice(instruction=(s.phrasing or 1) - 1, batch=self.labels, examples=self.shots.for_row(row),
                            parts=s.prompt or "full")

    def decode(self, rows: list[dict]) -> list[Outcome]:
        """One Outcome per row, in order. Rows too long for the model or too large for their
        grammar are refused before any token is decoded; the others are decoded as one batch."""
        decoder = self._decoder()
        choices = {row["id"]: self._choice(row) for row in rows}  # shots retrieved once per row
        prompts = {row["id"]: self.prompt(row, choices[row["id"]]) for row in rows}
        refused = {row["id"]: why for row in rows
                   if (why := self._too_long(row, prompts[row["id"]], choices[row["id"]]))}
        if self.settings.decision == "knn":
            return self._knn_decided(rows, prompts, refused)
        if self.decides:
            return [_refused(refused[r["id"]]) if r["id"] in refused else
                    self._decided(r, prompts[r["id"]], choices[r["id"]]) for r in rows]
        constraints = {}
        for row in rows:
            if row["id"] in refused:
                continue
            try:
                constraints[row["id"]] = self.constraint(row)
            except InputTooLarge as e:
                refused[row["id"]] = f"the input was refused: {e}"
        live = [r for r in rows if r["id"] not in refused]
        seed = self.settings.seed
        sampling = Sampling(self.settings.temperature, self.settings.top_p, seed,
                            None if seed is None else tuple(row_seed(seed, str(r["id"])) for r in live))
        texts = decoder.generate([prompts[r["id"]] for r in live], [constraints[r["id"]] for r in live],
                                 self.budget(live), sampling) if live else []
        decoded = dict(zip([r["id"] for r in live], texts))
        return [_refused(refused[r["id"]]) if r["id"] in refused else
                self._with_shot_spans(r, self._parsed(r, decoded[r["id"]]), choices[r["id"]]) for r in rows]

    def _with_shot_spans(self, row: dict, out: Outcome, choice: PromptChoice) -> Outcome:
        """With `--shot-spans on`, the answer with the words the shown examples label kept
        (shot_spans.py); else, or where that changes nothing, the outcome as it is."""
        if self.settings.shot_spans != "on" or out.record is None or not choice.examples:
            return out
        from .shot_spans import keep_shot_spans, shot_spans

        source = row["text"]
        spans = shot_spans(self.fmt, choice.examples, source, self.labels)
        kept = keep_shot_spans(self.fmt, out.record, out.item_p, spans, source, self.labels,
                               self.settings.span_rules or "decoder",
                               lambda text: self._grammar_problem(text, source) is None)
        if kept is None:
            return out
        return replace(out, record=kept.record, raw=kept.text, item_p=kept.item_p, from_shots=kept.from_shots,
                       model_raw=out.raw)

    def _decoder(self) -> Decoder:
        if self.decoder is None:
            raise RuntimeError("Session.start(model) first")
        return self.decoder

    def _uses_schema(self) -> bool:
        """A JSON Schema for every row (a schema backend, or a server asked for one), not a grammar."""
        accepts = self._decoder().accepts
        return JsonSchema in accepts and (self.settings.backend != "llguidance" or Grammar not in accepts)

    def _json_schema(self) -> JsonSchema:
        if self._schema is None:
            from .runtime.schema_backends import bounded_schema

            schema = self.fmt.json_schema(self.labels)
            if schema is None:
                raise SessionError(f"format '{self.fmt.name}' is not JSON-shaped, and the {self.settings.backend} "
                                   f"backend takes JSON Schema: choose a JSON format or the llguidance backend")
            self._schema = JsonSchema(bounded_schema(schema))
        return self._schema

    def constraint(self, row: dict) -> Constraint:
        if self._uses_schema():  # one schema for every row
            return self._json_schema()
        return row_constraint(self.fmt, self.labels, row["text"], self._decoder().accepts, self.settings.reason,
                              self.settings.span_rules or "decoder", self._reason_mark)

    def budget(self, rows: list[dict]) -> int:
        """The answer budget in tokens for a batch of rows: the format's for the longest, or the
        decoder's own (a schema's), with room for a reasoning line."""
        fixed = self._decoder().budget
        if fixed is None and self._uses_schema():
            from .runtime.schema_backends import schema_budget

            fixed = schema_budget(self._json_schema().schema)
        if fixed is not None:
            budget = fixed  # grounding is checked when each answer is parsed
        else:
            budget = max((self.fmt.budget(batch=self.labels, source=r["text"]) for r in rows), default=0)
        reason = self.settings.reason
        return budget + 4 * reason + len(self._reason_mark) if reason > 0 else budget

    def _parsed(self, row: dict, text) -> Outcome:
        if isinstance(text, RowFailure):
            return Outcome(None, text.text, error=f"decoding stopped: {text.message}",
                           failure=DecodeError(f"decoding stopped: {text.message}"))
        out, whole = Outcome(None, text), text
        try:
            if self.settings.reason > 0:
                out.reasoning, text = split_reasoning(text, self._reason_mark)
                out.raw = text
            if self._decoder().remote and not self._uses_schema():  # a server's answer: held to its grammar here
                problem = self._grammar_problem(text, row["text"])
                if problem:
                    raise FormatParseError(f"the server's answer is not in the format's grammar: {problem}", 0)
            out.record = self.fmt.parse(text, batch=self.labels, source=row["text"])
            out.item_p = self._item_p(out.record, text, row["text"], getattr(whole, "picks", None),
                                      len(whole) - len(text))
        except FormatParseError as e:
            backend = self.settings.backend
            out.error = f"the output did not parse: {e.message}" + (
                f" (on {backend} the schema cannot ground spans or hold every rule: "
                f"they are checked here, after decoding)" if backend != "llguidance" else "")
            out.failure = e
        return out

    def _item_p(self, record: dict, text: str, source: str, picks, offset: int) -> list[float] | None:
        """Each item's probability from the decoder's picks (confidence.py); None without them."""
        if not picks:
            return None
        from .confidence import item_probabilities

        return item_probabilities(self.fmt, record, text, picks, self.labels, source, offset)

    def _grammar_problem(self, text: str, source: str) -> str | None:
        """Why `text` is not in the format's grammar for this input, or None."""
        try:
            return self._verifier().problem(self.fmt, text, self.labels, source)
        except GrammarInvalid as e:
            return f"its grammar for this input could not be built ({str(e).splitlines()[0]})"

    def _verifier(self):
        if self._checker is None:
            from .synth.verify import Verifier

            self._checker = Verifier()  # inline answers on their input's DAG: no grammar too large to build
        return self._checker

    def _channel_parts(self, row: dict, choice: PromptChoice) -> tuple[dict, list[dict], str]:
        """What a channel document is made of: the labels, the worked examples (each as the
        format gives it back: within the batch, known labels) and the input as shown."""
        from .prompts import input_text

        labels = {lab["code"]: lab for lab in self.task["labels"]}
        shots = []
        for ex in choice.examples:
            record = self._answer_of(ex["record"])
            if record is not None:
                shots.append({"shown": input_text(self.task, ex["input"]), "record": record})
        return labels, shots, input_text(self.task, row)

    def _decided(self, row: dict, prompt: str, choice: PromptChoice) -> Outcome:
        """`prompt`: the chat prompt of `choice` (decisions take no reasoning line)."""
        from .runtime.decisions import NotEnumerable, content_free_row, decide, decide_channel

        if self.settings.decision == "channel":
            labels, shots, shown = self._channel_parts(row, choice)
            d = decide_channel(self.decoder, labels, shots, self.options, shown, self.fmt, self.labels, row["text"],
                               self._answer_sizes(), self._channel_cue)
            return Outcome(d.record, d.text, p=d.p, ranking=d.ranking)
        blank = None
        if self.settings.decision == "calibrated":
            empty = content_free_row(row, [f["name"] for f in self.task["inputs"]])
            blank = prompt_text(self.task, self.fmt, empty, choice)
        assert self.scorer is not None  # start() makes one wherever answers are scored
        options = self.options
        if options is None:  # a qa task: the spans of its passage's sentences in focus
            try:
                options = self._span_options(row)
            except NotEnumerable as e:
                return _refused(str(e))
        d = decide(self.scorer, prompt, options, self.fmt, self.labels, row["text"], blank)
        return Outcome(d.record, d.text, p=d.p, ranking=d.ranking)

    def _anchor_examples(self, s: Settings) -> list[tuple[dict, int]]:
        """The labelled examples of --shots-from (else the spec's own) whose answer is one of the
        options, each with its option's index; at most MAX_ANCHORS, spread evenly over the file."""
        from .runtime.neighbours import answer_key, spread

        if s.shots_from is not None:
            examples = read_labelled(self.task, s.shots_from, s.shots_adapter, self.passed_over)
            pool = str(s.shots_from)
        else:
            examples = [{"id": ex["id"], **ex["input"], "record": ex["output"]} for ex in self.task["examples"]]
            pool = f"task '{self.task['name']}' (its examples, without --shots-from)"
            if not examples:
                raise SessionError(f"--decision knn compares each input with labelled examples: {pool} has none; "
                                   f"give --shots-from FILE")
        if self.options is None:  # an entity task: every word of every labelled example is an anchor
            labelled = [ex for ex in examples if isinstance(ex["record"].get("entities"), list)]
            if not labelled:
                raise SessionError(f"--decision knn: {pool} holds no example labelled with entities")
            if len(labelled) < len(examples):
                self.passed_over.append(f"{pool}: {len(examples) - len(labelled)} of {len(examples)} "
                                        f"labelled examples have no entity list, and are not compared")
            return [(ex, 0) for ex in (labelled[i] for i in spread(len(labelled)))]
        index = {answer_key(r): i for i, r in enumerate(self.options.records)}
        usable = []
        for ex in examples:
            answer = self._answer_of(KINDS[self.task["kind"]].prepare(self.task, ex["record"], "", False))
            at = index.get(answer_key(answer)) if answer is not None else None
            if at is not None:
                usable.append((ex, at))
        if usable and len(usable) < len(examples):
            self.passed_over.append(f"{pool}: {len(examples) - len(usable)} of {len(examples)} labelled "
                                    f"examples have an answer this run does not allow (a label it lacks, or more "
                                    f"than max_items), and are not compared")
        if not usable:
            raise SessionError(f"--decision knn: {pool} holds no labelled example whose answer this "
                               f"run allows (its labels, at most the task's max_items)")
        return [usable[i] for i in spread(len(usable))]

    @property
    def _reason_mark(self) -> str:
        """What ends a --reason line and starts the answer: the name the worked examples show the
        answer by ("Sentiment: " where the task says `answer "Sentiment"`)."""
        return reason_mark(answer_name(self.task))

    @property
    def _plain_cue(self) -> str:
        """How a plain document hands over to the answer, as its worked examples do ("Answer:")."""
        return answer_name(self.task) + ":"

    @property
    def _channel_cue(self) -> str:
        """How a channel document names each answer: the task's name for it where it gives one."""
        from .runtime.decisions import CHANNEL_CUE

        return f"{self.task['answer']}:" if self.task.get("answer") else CHANNEL_CUE

    def _knn_document(self, prompt: str) -> str:
        """The plain document a knn state is read after: the prompt, the cue, what every answer begins with."""
        return prompt + self._plain_cue + (" " + self._knn_lead if self._knn_lead else "")

    @cached_property
    def _knn_lead(self) -> str:
        from .runtime.neighbours import answer_lead

        assert self.options is not None
        return answer_lead(self.options)

    def _fitting_anchors(self, read) -> list[tuple[dict, int, tuple]]:
        """The labelled examples knn compares with, each with its answer's index and what `read`
        makes of it (its document's token ids first), less those too long for the model."""
        fitting = [(ex, at, got) for ex, at in self.anchor_examples
                   for got in [read(ex)] if self.limit is None or len(got[0]) <= self.limit]
        if not fitting:
            raise SessionError("--decision knn: every labelled example is too long for the model")
        return fitting

    def _knn_entities(self, rows: list[dict], prompts: dict, refused: dict) -> list[Outcome]:
        """Every row's entities by the tags of its words' nearest labelled words
        (runtime/word_neighbours.py), kept as the format and the task's rules allow (shot_spans.py)."""
        import torch

        from .runtime.models import model_fingerprint
        from .runtime.neighbours import anchor_states
        from .runtime.word_neighbours import WordAnchors, position_states, text_units, word_tags
        from .shot_spans import keep_shot_spans

        tokenizer = self.loaded.tokenizer

        def read(row: dict, prompt: str):
            start = prompt.rindex(row["text"])
            return text_units(tokenizer, prompt, start, start + len(row["text"]))

        if self._anchors is None:
            fitting = self._fitting_anchors(lambda ex: read(ex, self.prompt(ex, self._choice(ex))))
            tags = [tag for ex, _, (_, _, offsets) in fitting
                    for tag in word_tags(offsets, ex["record"].get("entities", []), ex["text"])]
            states = anchor_states(self.decoder, [got[0] for _, _, got in fitting], model_fingerprint(self.loaded.name),
                                   positions=[got[1] for _, _, got in fitting], read_positions=position_states)
            self._anchors = WordAnchors(torch.cat(states), tags)
        live = [r for r in rows if r["id"] not in refused]
        reads = [read(r, prompts[r["id"]]) for r in live]
        states = position_states(self.decoder, [t for t, _, _ in reads], [w for _, w, _ in reads]) if live else []
        outcomes = {}
        for r, (_, _, offsets), st in zip(live, reads, states):
            source = r["text"]
            spans = self._anchors.spans(st, offsets, source)
            kept = keep_shot_spans(self.fmt, {"entities": []}, [], spans, source, self.labels,
                                   self.settings.span_rules or "decoder",
                                   lambda text, source=source: self._grammar_problem(text, source) is None)
            if kept is None:  # no entity the words' tags make could be written
                text, back = self.fmt.render_checked({"entities": []}, batch=self.labels, source=source)
                outcomes[r["id"]] = Outcome(back, text, item_p=[])
            else:
                outcomes[r["id"]] = Outcome(kept.record, kept.text, item_p=kept.item_p)
        return [_refused(refused[r["id"]]) if r["id"] in refused else outcomes[r["id"]] for r in rows]

    def _knn_decided(self, rows: list[dict], prompts: dict, refused: dict) -> list[Outcome]:
        """Every row's knn decision, the rows' states read together (the anchors' first, once a run)."""
        if self.options is None:
            return self._knn_entities(rows, prompts, refused)
        from .runtime.models import model_fingerprint
        from .runtime.neighbours import Anchors, anchor_states, states

        assert self.options is not None and self.decoder is not None
        tokenizer = self.loaded.tokenizer
        if self._anchors is None:
            fitting = self._fitting_anchors(
                lambda ex: (list(tokenizer(self._knn_document(self.prompt(ex, self._choice(ex))))["input_ids"]),))
            ids = [got[0] for _, _, got in fitting]
            self._anchors = Anchors(anchor_states(self.decoder, ids, model_fingerprint(self.loaded.name)),
                                    [at for _, at, _ in fitting], bool(self.task.get("multilabel")))
        live = [r for r in rows if r["id"] not in refused]
        read = states(self.decoder, [list(tokenizer(self._knn_document(prompts[r["id"]]))["input_ids"])
                                     for r in live]) if live else []
        decided = {r["id"]: self._anchors.decide(read[i], self.options, self.fmt, self.labels, r["text"])
                   for i, r in enumerate(live)}
        return [_refused(refused[r["id"]]) if r["id"] in refused else
                Outcome(decided[r["id"]].record, decided[r["id"]].text, p=decided[r["id"]].p,
                        ranking=decided[r["id"]].ranking) for r in rows]

    def _span_options(self, row: dict):
        """The spans of the passage an exact decision scores, for one input (NotEnumerable where
        there are none, or too many)."""
        from .runtime.decisions import Answers, NotEnumerable
        from .runtime.span_answers import span_records

        query = " ".join(str(row[f["name"]]) for f in self.task["inputs"] if f["name"] != "text")
        records, texts = span_records(self.fmt, row["text"], query, self.settings.focus or 0)
        if not records:
            raise NotEnumerable("the passage has no span the format can write")
        return Answers(records, [[t] for t in texts])

    def _answer_of(self, record: dict) -> dict | None:
        """A labelled answer as the format gives it back for this run's labels, or None where it
        holds none of them (or is not a classification answer)."""
        from .runtime.decisions import answer_labels

        try:
            answer = self.fmt.normalise(record, batch=self.labels)
        except (TypeError, KeyError, AttributeError):
            return None
        codes = answer_labels(answer)
        return answer if codes and all(isinstance(c, str) for c in codes) else None

    def _answer_sizes(self) -> dict[int, int]:
        """How many of the labelled examples' answers have 1, 2, ... of this run's labels (the
        spec's examples, or the whole --shots-from file), counted once per run."""
        if self._sizes is None:
            from collections import Counter

            from .runtime.decisions import answer_labels

            sizes: Counter = Counter()
            for record in self.shots.labelled:
                answer = self._answer_of(KINDS[self.task["kind"]].prepare(self.task, record, "", False))
                if answer is not None:
                    sizes[len(answer_labels(answer))] += 1
            self._sizes = dict(sizes)
        return self._sizes

    def _too_long(self, row: dict, prompt: str, choice: PromptChoice) -> str | None:
        """Why this input cannot be answered within the model's context, or None. Checked before its
        grammar is built or a token decoded: a huge input is refused in a moment, as its own line."""
        if self.limit is None:
            return None
        from .runtime.models import model_prompt

        tokenizer = self.loaded.tokenizer
        if self.settings.decision == "channel" and self.options is not None:
            # a plain document, the examples then each answer's branch: the longest one must fit
            from .runtime.decisions import channel_document

            labels, shots, shown = self._channel_parts(row, choice)
            prefix, branches = channel_document(labels, shots, self.options, shown, self._channel_cue)
            longest = max(branches, key=lambda b: len(b[0]) + len(b[1]))
            tokens = len(tokenizer(prefix + "".join(longest))["input_ids"])
            if tokens > self.limit:
                return (f"the input is too long for the model: its channel document is {tokens} tokens and the "
                        f"model reads at most {self.limit}; split the text or use a model with a longer context")
            return None
        tokens = len(tokenizer(model_prompt(tokenizer, prompt))["input_ids"])
        reason = self.settings.reason
        answer = self.fmt.budget(batch=self.labels, source=row["text"]) + (4 * reason if reason > 0 else 0)
        if tokens + min(answer, 256) > self.limit:  # room for at least a short answer
            return (f"the input is too long for the model: its prompt is {tokens} tokens and the model reads "
                    f"at most {self.limit}; split the text or use a model with a longer context")
        return None


def _refused(why: str) -> Outcome:
    return Outcome(None, "", error=why, failure=InputRefused(why))
