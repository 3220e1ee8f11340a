"""The synthesis policy: the task's `synth { }` block, with command-line overrides on top."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from ..synth_settings import DIVERSITY, SETTINGS, flag
from ..ir_types import TaskIR

_D = {k: s.default for k, s in SETTINGS.items()}


@dataclass(frozen=True)
class Policy:
    """The settings of synth_settings.SETTINGS (their defaults there), and the ablation's two."""
    per_example: int = _D["per_example"]
    label_batch: int = _D["label_batch"]
    negative_ratio: float = _D["negative_ratio"]
    hard_negative_ratio: float = _D["hard_negative_ratio"]
    few_shot: int = _D["few_shot"]
    max_guidelines: int = _D["max_guidelines"]
    max_rules: int = _D["max_rules"]
    style: str = _D["style"]
    format_weights: dict = field(default_factory=dict)  # format name -> weight; absent: 1
    # "hum": everything above varies; "baseline": what a one-template converter writes (the
    # ablation's control): the first phrasing, one format, every label, nothing else;
    # "formats": the baseline, but each instance in the format a "hum" one draws.
    diversity: str = "hum"
    baseline_format: str | None = None  # the baseline's format; default: the first JSON one

    @classmethod
    def of(cls, task_ir: TaskIR, **overrides) -> "Policy":
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
        for name, setting in SETTINGS.items():
            value = getattr(self, name)
            if name == "format_weights":
                if any(not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0 for w in value.values()):
                    out.append(f"{flag(name)} takes finite weights of 0 or more")
            elif not setting.check(value):
                out.append(f"{flag(name)} must be {setting.must}")
        if self.diversity not in DIVERSITY:
            *others, last = DIVERSITY
            out.append(f"--diversity must be {', '.join(repr(d) for d in others)} or {last!r}")
        if self.baseline_format is not None and self.baseline_format not in formats:
            out.append(f"the baseline format '{self.baseline_format}' is not a format of the task "
                       f"(it has: {', '.join(formats)})")
        unknown = [n for n in self.format_weights if n not in formats]
        if unknown:
            out.append(f"--format-weights names '{unknown[0]}', not a format of the task "
                       f"(it has: {', '.join(formats)})")
        elif not out and not any(self.weights(formats)):
            out.append("--format-weights leaves no format to draw")
        return out

    def weights(self, formats: list[str]) -> list[float]:
        return [float(self.format_weights.get(name, 1.0)) for name in formats]
