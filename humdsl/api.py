"""The Python API: humdsl.load(path).task(name)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .compiler import check_paths, lower, lower_corpora, spec_hash
from .diagnostics import Diagnostic, render_text
from .ir import content_hash
from .jsonl import lone_surrogate


class SpecError(Exception):
    """A spec has errors; .diagnostics holds them and str() renders them as humc check does."""

    def __init__(self, diagnostics: list[Diagnostic], rendered: str):
        super().__init__(rendered)
        self.diagnostics = diagnostics


@dataclass(frozen=True)
class Task:
    ir: dict

    @property
    def name(self) -> str:
        return self.ir["name"]

    @property
    def kind(self) -> str:
        return self.ir["kind"]

    @property
    def hash(self) -> str:
        return content_hash(self.ir)

    def format(self, name: str | None = None):
        """A format of this task (render, parse, grammar); the first one by default."""
        from .formats import build

        formats = {f["name"]: f for f in self.ir["formats"]}
        if name is not None and name not in formats:
            raise KeyError(f"task '{self.name}' has no format '{name}'; it has: {', '.join(formats)}")
        return build(self.ir, formats[name] if name else self.ir["formats"][0])

    def run(self, inputs, *, model=None, format: str | None = None, labels: list[str] | None = None,
            shots: int | None = None, shots_from: str | Path | None = None, temperature: float = 0.0,
            seed: int | None = None, batch_size: int = 4, decoder: str = "auto", backend: str = "llguidance") -> list[dict]:
        """Decode each input under the task's grammar and return canonical records. `inputs` are
        strings or {"text": ..., "question": ...} dicts; `model` is a folder, a .gguf file,
        'smollm2', or a model already loaded with humdsl.runtime.models.load (reuse it).
        `shots`: how many worked examples the prompt shows (default 2 of the spec's, or 4 from
        `shots_from`, a labelled dataset file whose examples most similar to each input are
        shown instead; humdsl.shots.ShotsError when it cannot be read).
        `decoder`: "auto" (jump-forward where it applies), "jump-forward" or "outlines".
        `backend`: "llguidance", or "outlines_core" / "xgrammar" for a JSON format (its JSON
        Schema, compiled once and kept in the on-disk constraint cache). An answer that does not
        parse raises FormatParseError; a row whose matcher failed mid-answer raises DecodeError."""
        from .prompts import PromptChoice, prompt_text
        from .shots import Shots
        from .runtime.decode import DecodeError, RowFailure, Sampling, make_decoder
        from .runtime.models import LoadedModel, load
        from .runtime.run import row_constraint, takes_languages

        fmt = self.format(format)
        loaded = model if isinstance(model, LoadedModel) else load(model)
        decoder = make_decoder(loaded, decoder, backend=backend, fmt=fmt, batch=labels)
        rows = [{"text": x} if isinstance(x, str) else dict(x) for x in inputs]
        for i, r in enumerate(rows):
            if lone_surrogate(r) is not None:  # it would fail wherever the text is encoded
                raise ValueError(f"input {i} holds half of a surrogate pair alone, which is not Unicode text")
        examples = Shots.of(self.ir, fmt, labels, shots, Path(shots_from) if shots_from else None)
        out = []
        for i in range(0, len(rows), batch_size):
            chunk = rows[i:i + batch_size]
            if backend == "llguidance":
                grammars = [row_constraint(fmt, labels, r["text"], takes_languages(decoder)) for r in chunk]
                budget = max(fmt.budget(batch=labels, source=r["text"]) for r in chunk)
            else:  # one schema for every row
                grammars, budget = [None] * len(chunk), decoder.budget
            prompts = [prompt_text(self.ir, fmt, r, PromptChoice(batch=labels, examples=examples.for_row(r)))
                       for r in chunk]
            texts = decoder.generate(prompts, grammars, budget, Sampling(temperature, 1.0, seed))
            for k, (t, r) in enumerate(zip(texts, chunk)):
                if isinstance(t, RowFailure):
                    raise DecodeError(f"input {i + k}: decoding stopped: {t.message}")
                out.append(fmt.parse(t, batch=labels, source=r["text"]))
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
    corpora: dict[str, dict] = field(default_factory=dict)  # corpus name -> its IR (ir.lower_corpus)

    @property
    def hash(self) -> str:
        return spec_hash({n: t.ir for n, t in self.tasks.items()})

    def task(self, name: str) -> Task:
        if name not in self.tasks:
            raise KeyError(f"no task '{name}' in {self.path}; it has: {', '.join(self.tasks)}")
        return self.tasks[name]


def load(path: str | Path) -> Spec:
    result = check_paths([path])
    if not result.ok:
        sources = result.program.sources
        errors = [d for d in result.diagnostics if d.is_error]
        raise SpecError(errors, "\n".join(render_text(d, sources) for d in errors))
    irs = lower(result)
    return Spec(str(path), {name: Task(ir) for name, ir in irs.items()}, lower_corpora(result))
