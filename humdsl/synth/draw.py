"""Random choices that stay the same across Python versions and processes.

Only `random.Random.random()` is promised to give the same sequence in every Python version, so
every choice here is built on it; the generator is seeded from a hash of the run's seed and the
example's own key, so an example gets the same instances whichever process or shard makes it.
"""
from __future__ import annotations

import hashlib
import random
from typing import Sequence, TypeVar

T = TypeVar("T")


class Draw:
    def __init__(self, *key: object):
        digest = hashlib.sha256("\x1f".join(map(str, key)).encode("utf-8")).digest()
        self._rng = random.Random(int.from_bytes(digest[:16], "big"))

    def below(self, n: int) -> int:
        """An integer in [0, n)."""
        return min(n - 1, int(self._rng.random() * n))

    def between(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi]."""
        return lo + self.below(hi - lo + 1)

    def chance(self, p: float) -> bool:
        return self._rng.random() < p

    def pick(self, items: Sequence[T]) -> T:
        return items[self.below(len(items))]

    def weighted(self, items: Sequence[T], weights: Sequence[float]) -> T:
        """One item, drawn with probability proportional to its weight (weights sum above 0)."""
        x = self._rng.random() * sum(weights)
        for item, w in zip(items, weights):
            if x < w:
                return item
            x -= w
        return next(item for item, w in zip(reversed(items), reversed(weights)) if w > 0)

    def shuffled(self, items: Sequence[T]) -> list[T]:
        out = list(items)
        rand = self._rng.random  # below(i + 1), inlined: synth shuffles a few times per instance
        for i in range(len(out) - 1, 0, -1):  # Fisher-Yates
            j = min(i, int(rand() * (i + 1)))
            out[i], out[j] = out[j], out[i]
        return out

    def sample(self, items: Sequence[T], k: int) -> list[T]:
        return self.shuffled(items)[:max(0, min(k, len(items)))]
