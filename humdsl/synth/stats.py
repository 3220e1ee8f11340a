"""What a synthesis run made, as counters that add up across workers and shards."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields

SAMPLE_LIMIT = 20  # locations kept per kind of problem, as examples for the report


@dataclass
class Stats:
    examples: int = 0
    instances: int = 0
    duplicates: int = 0
    failed: int = 0  # instances no format could express and verify
    formats: Counter = field(default_factory=Counter)
    phrasings: Counter = field(default_factory=Counter)
    guidelines: Counter = field(default_factory=Counter)
    rules: Counter = field(default_factory=Counter)
    labels_asked: Counter = field(default_factory=Counter)  # label -> instructions naming it
    labels_answered: Counter = field(default_factory=Counter)  # label -> answers holding it
    batch_sizes: Counter = field(default_factory=Counter)
    shots: Counter = field(default_factory=Counter)
    empty_answers: int = 0
    instruction_chars: Counter = field(default_factory=Counter)  # length -> count
    answer_chars: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)  # "format: why" -> count (another format was used)
    failures: Counter = field(default_factory=Counter)  # why -> count
    samples: dict = field(default_factory=dict)  # why -> [locations]

    def note(self, why: str, where: str) -> None:
        seen = self.samples.setdefault(why, [])
        if len(seen) < SAMPLE_LIMIT:
            seen.append(where)

    def add(self, other: "Stats") -> None:
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, Counter):
                mine.update(theirs)
            elif isinstance(mine, dict):
                for why, where in theirs.items():
                    kept = mine.setdefault(why, [])
                    kept.extend(where[:max(0, SAMPLE_LIMIT - len(kept))])
            else:
                setattr(self, f.name, mine + theirs)
