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

    @classmethod
    def of(cls, task_ir: dict, **overrides) -> "Policy":
        """The spec's settings (defaults filled in by the front end), then every override that
        is not None."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in (task_ir.get("synth") or {}).items() if k in names}
        values.update({k: v for k, v in overrides.items() if v is not None and k in names})
        return cls(**values)

    def problems(self) -> list[str]:
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
        if any(w < 0 for w in self.format_weights.values()):
            out.append("--format-weights cannot be negative")
        return out

    def weights(self, formats: list[str]) -> list[float]:
        return [float(self.format_weights.get(name, 1.0)) for name in formats]
