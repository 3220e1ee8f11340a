"""A language as a chain of nodes joined by literal edges: node 0 starts, node `n` ends, and each
edge out of node i is a byte string and the node it leads to (always a later one). An answer is
the bytes of a path from 0 to n.

The inline format's answers for one input are such a chain (node i: the input read up to its
chunk i; an edge either copies chunk i or writes a whole mark over chunks i..j-1), so the runtime
decodes under it directly (runtime/dag_matcher.py) with nothing for llguidance to compile: that
grammar grows with (input words x span words), took 0.5 s at 1,000 words and cannot be built
past about 2,000.

Reading bytes is a set of positions, each (node, edge, offset): inside edge `edge` of `node`,
`offset` bytes of it read. Reaching a node opens all its edges at offset 0; reaching node n, or
a node that `final` names, is END (an answer may end there). Sets stay small: edges out of one node mostly differ in their first bytes.
"""
from __future__ import annotations

from typing import Callable, Iterable

Edge = tuple[bytes, int]
Position = tuple[int, int, int]
END: Position = (-1, 0, 0)


class LiteralDag:
    def __init__(self, n: int, edges_of: Callable[[int], Iterable[Edge]],
                 final: Callable[[int], bool] | None = None):
        """`final(i)`: may an answer also end at node i (besides node n, which always ends)?"""
        self.n = n
        self._edges_of = edges_of
        self._final = final
        self._edges: dict[int, tuple[Edge, ...]] = {}
        self._opened: dict[int, frozenset[Position]] = {}

    def edges(self, i: int) -> tuple[Edge, ...]:
        """The edges out of node i, computed when first asked (a decoder visits few nodes beyond
        those its answer passes) and kept."""
        found = self._edges.get(i)
        if found is None:
            found = self._edges[i] = tuple(self._edges_of(i))
            for text, j in found:
                if not text or not i < j <= self.n:
                    raise ValueError(f"edge {i} -> {j} ({text!r}): edges are non-empty and lead forward")
        return found

    def at(self, i: int) -> frozenset[Position]:
        """The positions of having just reached node i."""
        found = self._opened.get(i)
        if found is None:
            if i == self.n:
                found = frozenset([END])
            else:
                found = frozenset((i, k, 0) for k in range(len(self.edges(i))))
                if self._final is not None and self._final(i):
                    found |= {END}
            self._opened[i] = found
        return found

    def start(self) -> frozenset[Position]:
        return self.at(0)

    def next_bytes(self, positions: Iterable[Position]) -> dict[int, list[Position]]:
        """For each byte that may come next, the positions that read it."""
        out: dict[int, list[Position]] = {}
        for i, k, off in positions:
            if i < 0:  # END reads nothing
                continue
            out.setdefault(self._edges[i][k][0][off], []).append((i, k, off))
        return out

    def advance(self, positions: Iterable[Position]) -> frozenset[Position]:
        """The positions after reading one byte from each of `positions` (which must read it)."""
        out: set[Position] = set()
        for i, k, off in positions:
            text, j = self._edges[i][k]
            if off + 1 < len(text):
                out.add((i, k, off + 1))
            else:
                out |= self.at(j)
        return frozenset(out)

    def read(self, positions: frozenset[Position], data: bytes) -> frozenset[Position]:
        """The positions after reading `data` (empty: `data` leaves the language)."""
        for byte in data:
            if not positions:
                break
            positions = self.advance(self.next_bytes(positions).get(byte, ()))
        return positions

    def accepts(self, data: bytes) -> bool:
        return self.departure(data) is None

    def departure(self, data: bytes) -> int | None:
        """None if `data` is an answer; else how many of its bytes the language reads before it
        departs (all of them where the answer stops short)."""
        positions = self.start()
        for at, byte in enumerate(data):
            positions = self.advance(self.next_bytes(positions).get(byte, ()))
            if not positions:
                return at
        return None if END in positions else len(data)

    @staticmethod
    def is_end(positions: frozenset[Position]) -> bool:
        return END in positions
