"""The Python API: humdsl.load(path).task(name)."""
from __future__ import annotations

from .errors import HumError, not_found
from dataclasses import dataclass, field
from pathlib import Path

from .compiler import check_paths, lower, lower_corpora, spec_hash
from .diagnostics import Diagnostic
from .ir import task_hash
from .jsonl import lone_surrogate
from .ir_types import CorpusIR, TaskIR


class SpecError(HumError):
    """A spec has errors; .diagnostics holds them and str() renders them as humc check does."""

    def __init__(self, diagnostics: list[Diagnostic], rendered: str):
        super().__init__(rendered)
        self.diagnostics = diagnostics


class SpecUnusable(HumError):
    """A command's spec cannot be read or has errors (the message says which, and where)."""


class UnknownTask(HumError, KeyError):
    """The spec has no task of that name; the message lists those it has."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Task:
    ir: TaskIR
    spec_dir: Path | None = None  # where paths in the task's run profile are relative to

    @property
    def name(self) -> str:
        return self.ir["name"]

    @property
    def kind(self) -> str:
        return self.ir["kind"]

    @property
    def hash(self) -> str:
        return task_hash(self.ir)

    def format(self, name: str | None = None):
        """A format of this task (render, parse, grammar); the first one by default."""
        from .formats import build

        formats = {f["name"]: f for f in self.ir["formats"]}
        if name is not None and name not in formats:
            raise KeyError(not_found("format", name, formats, f"task '{self.name}'"))
        return build(self.ir, formats[name] if name else self.ir["formats"][0])

    def run(self, inputs, *, model=None, batch_size: int = 4, details: bool = False, **settings) -> list[dict]:
        """Decode each input under the task's grammar and return canonical records, exactly as
        `humc run` does (the same Session). With `details`, each answer is what `humc run` writes
        of it: {"record", "raw"} and, where the run gives them, "reasoning", "p" and "ranking" (a
        decision's probability and runners-up), "item_p" (each item's probability), "from_shots" and
        "model_raw" (with shot_spans "on": the items the shown examples decided, and the model's own
        answer). `inputs` are strings or {"text": ..., "question": ...}
        dicts; `model` is a folder, a .gguf file, 'smollm2', or a model already loaded with
        humdsl.runtime.models.load (reuse it), or a server's decoder
        (humdsl.runtime.openai_engine.OpenAIDecoder(base_url)). `settings` are those of humdsl.session.Settings,
        as `humc run`'s options: format, labels, shots, shots_from (a labelled dataset file whose
        examples most similar to each input are shown), temperature, top_p, seed, reason,
        decoder ("auto", "jump-forward", "outlines"), backend ("llguidance", "outlines_core",
        "xgrammar"), decision ("greedy", "exact", "calibrated", "channel", "knn"), prompt_style, phrasing, prompt,
        span_rules ("decoder", "unordered", "parser"), shot_spans ("off", "on"), focus (a qa task's
        exact decisions: the passage sentences, those most like the question, whose spans are scored;
        0: all);
        what is left out comes from the task's run profile. Bad settings raise SessionError (or
        ShotsError); an answer that does not parse raises FormatParseError, a row whose matcher
        failed mid-answer DecodeError, an input too long for the model InputRefused."""
        from .formats import FormatParseError
        from .runtime.models import LoadedModel, load
        from .runtime.protocol import DecodeError
        from .session import Session, Settings, outcome_fields

        if settings.get("shots_from") is not None:
            settings["shots_from"] = Path(settings["shots_from"])
        session = Session(self.ir, Settings(**settings), self.spec_dir)  # an unknown setting is a TypeError
        rows = [{"text": x} if isinstance(x, str) else dict(x) for x in inputs]
        required = [f["name"] for f in self.ir["inputs"]]
        for i, r in enumerate(rows):
            if lone_surrogate(r) is not None:  # it would fail wherever the text is encoded
                raise ValueError(f"input {i} holds half of a surrogate pair alone, which is not Unicode text")
            missing = [k for k in required if not isinstance(r.get(k), str) or not r[k].strip()]
            if missing:
                raise ValueError(f"input {i} lacks {', '.join(repr(m) for m in missing)}")
            r["id"] = str(i)
        if hasattr(model, "generate") and hasattr(model, "accepts"):  # a decoder made elsewhere: a server's
            session.use(model)
        else:
            session.start(model if isinstance(model, LoadedModel) else load(model))
        out = []
        for i in range(0, len(rows), batch_size):
            for k, outcome in enumerate(session.decode(rows[i:i + batch_size])):
                if isinstance(outcome.failure, FormatParseError):
                    raise outcome.failure
                if outcome.failure is not None:
                    raise type(outcome.failure)(f"input {i + k}: {outcome.failure}")
                if outcome.record is None:
                    raise DecodeError(f"input {i + k}: no answer")
                out.append(outcome_fields(outcome) if details else outcome.record)
        return out

    def synth(self, examples, *, seed: int = 0, **policy):
        """Verified instruction instances (dicts, as `humc synth` writes them) from labelled
        examples: {"id", "text", ..., "record"} dicts with the gold record in canonical form.
        `policy` overrides the spec's synth settings (per_example=3, style="chat", ...).
        Raises ValueError for an example that is not usable, naming it."""
        import json

        from .synth.instances import Synthesiser
        from .synth.policy import Policy

        settings = Policy.of(self.ir, **policy)  # an unknown setting is a TypeError
        bad = settings.problems([f["name"] for f in self.ir["formats"]])
        if bad:
            raise ValueError("; ".join(b.replace("--", "").replace("-", "_") for b in bad))
        synth = Synthesiser(self.ir, settings, seed)
        for ordinal, ex in enumerate(examples):
            lines, _, problems = synth.example(dict(ex), ordinal)
            if problems:
                raise ValueError(problems[0])
            for line in lines:
                yield json.loads(line)


@dataclass(frozen=True)
class Spec:
    path: str
    tasks: dict[str, Task]
    corpora: dict[str, CorpusIR] = field(default_factory=dict)  # corpus name -> its IR (ir.lower_corpus)

    @property
    def hash(self) -> str:
        return spec_hash({n: t.ir for n, t in self.tasks.items()})

    def task(self, name: str) -> Task:
        if name not in self.tasks:
            raise UnknownTask(not_found("task", name, self.tasks, self.path))
        return self.tasks[name]


def load(path: str | Path, with_proposed: bool = False) -> Spec:
    """with_proposed: the alternatives written `proposed` are used like accepted ones."""
    result = check_paths([path], with_proposed=with_proposed)
    if not result.ok:
        raise SpecError(result.errors(), result.errors_text())
    irs = lower(result)
    spec_dir = Path(path).parent
    return Spec(str(path), {name: Task(ir, spec_dir) for name, ir in irs.items()}, lower_corpora(result))


def load_checked(path: str | Path, with_proposed: bool = False) -> Spec:
    """The spec for a command: SpecUnusable (one line, then the errors) where it cannot be read or
    has errors."""
    try:
        return load(path, with_proposed)
    except SpecError as e:
        raise SpecUnusable(f"{path} has errors:\n{e}") from None
    except OSError as e:
        raise SpecUnusable(f"cannot read {path}: {e.strerror}") from None


def load_task(path: str | Path, name: str, with_proposed: bool = False) -> TaskIR:
    """A task's IR for a command: a one-line HumError where the spec cannot be read, has errors,
    or has no task of that name."""
    return load_checked(path, with_proposed).task(name).ir
