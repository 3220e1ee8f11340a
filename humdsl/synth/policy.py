"""The synthesis policy: the task's `synth { }` block, with command-line overrides on top."""
from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass(frozen=True)
class Policy:
    per_example: int = 4
    label_batch: int = 8
    negative_ratio: float = 0.3
    hard_negative_ratio: float = 0.5
    few_shot: int = 0
    max_guidelines: int = 3
    max_rules: int = 3
    style: str = "alpaca"
    format_weights: dict = field(default_factory=dict)  # format name -> weight; absent: 1
    # "hum": everything above varies; "baseline": what a one-template converter writes (the
    # ablation's control): the first phrasing, one format, every label, nothing else.
    diversity: str = "hum"
    baseline_format: str | None = None  # the baseline's format; default: the first JSON one

    @classmethod
    def of(cls, task_ir: dict, **overrides) -> "Policy":
        """The spec's settings (defaults filled in by the front end), then every override that
        is not None. An unknown setting is a TypeError."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"unknown synthesis setting {unknown[0]!r}; the settings are: {', '.join(sorted(names))}")
        values = {k: v for k, v in (task_ir.get("synth") or {}).items() if k in names}
        values.update({k: v for k, v in overrides.items() if v is not None and k in names})
        return cls(**values)

    @property
    def instances_per_example(self) -> int:
        """A baseline draws nothing, so a second instance of an example would be a duplicate."""
        return 1 if self.diversity == "baseline" else self.per_example

    def problems(self, formats: list[str]) -> list[str]:
        """What is wrong with these settings for a task with these formats (as CLI flags)."""
        out = []
        if self.per_example < 1:
            out.append("--per-example must be at least 1")
        if self.label_batch < 1:
            out.append("--label-batch must be at least 1")
        if not 0 <= self.negative_ratio <= 1:
            out.append("--negative-ratio must be between 0 and 1")
        if not 0 <= self.hard_negative_ratio <= 1:
            out.append("--hard-negative-ratio must be between 0 and 1")
        if self.few_shot < 0:
            out.append("--few-shot cannot be negative")
        if self.style not in ("alpaca", "chat"):
            out.append("--style is 'alpaca' or 'chat'")
        if self.diversity not in ("hum", "baseline"):
            out.append("--diversity is 'hum' or 'baseline'")
        if self.baseline_format is not None and self.baseline_format not in formats:
            out.append(f"the baseline format '{self.baseline_format}' is not a format of the task "
                       f"(it has: {', '.join(formats)})")
        import math

        if any(not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0
               for w in self.format_weights.values()):
            out.append("--format-weights takes finite weights of 0 or more")
        unknown = [n for n in self.format_weights if n not in formats]
        if unknown:
            out.append(f"--format-weights names '{unknown[0]}', not a format of the task "
                       f"(it has: {', '.join(formats)})")
        elif not out and not any(self.weights(formats)):
            out.append("--format-weights leaves no format to draw")
        return out

    def weights(self, formats: list[str]) -> list[float]:
        return [float(self.format_weights.get(name, 1.0)) for name in formats]
