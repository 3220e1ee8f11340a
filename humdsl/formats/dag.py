"""A language as a chain of nodes joined by literal edges: node 0 starts, node `n` ends, and each
edge out of node i is a byte string and the node it leads to (always a later one). An answer is
the bytes of a path from 0 to n (or to a node that `final` names).

The inline format's answers for one input are such a chain (node i: the input read up to its
chunk i; an edge either copies chunk i or writes a whole mark over chunks i..j-1), and so are
every other grounded format's (formats/answer_dag.py); the runtime decodes under them directly
(runtime/dag_matcher.py), with nothing for llguidance to compile.

Reading bytes is a set of positions, each (node, place): `place` is a place in the trie of the
node's edges (0: nothing read yet), so that edges which begin alike (the marks over one chunk,
the many spans that start with "the") are read once, not once each. Reaching a node opens its
trie; reaching node n, or a node that `final` names, is also END (an answer may end there).

Free text (an open IE relation phrase, formats/free_text.py) is not a few literals but any of
some 200 bytes at every step: its nodes are `Free`, each byte it reads a step to a later node,
and a decoder asks its masks of the vocabulary at once (runtime/free_masks.py), not by a walk.
A node may also stand at later nodes with nothing read (`skips`: where a free text starts).
"""
from __future__ import annotations

from typing import Callable, Iterable, Protocol

Edge = tuple[bytes, int]
Position = tuple[int, int]
END: Position = (-1, 0)
STEP = -2  # a reader (STEP, j): a free node's byte, which leads to node j


class _Trie:
    """A node's edges as a trie, built place by place as reading reaches it (a decoder's walk
    reads on from few of a node's places; most nodes it opens are only asked their first byte).
    For each place built: the bytes that go on (to which place), and the nodes that edges ending
    there lead to; for each place, the edges passing through it (edge index, bytes read)."""
    __slots__ = ("edges", "follow", "leads", "through")

    def __init__(self, edges: tuple[Edge, ...]):
        self.edges = edges
        self.follow: list[dict[int, int] | None] = [None]
        self.leads: list[list[int]] = [[]]
        self.through: list[list[tuple[int, int]]] = [[(k, 0) for k in range(len(edges))]]

    def goes_on(self, place: int) -> bool:
        return bool(self.through[place])

    def follow_of(self, place: int) -> dict[int, int]:
        found = self.follow[place]
        if found is None:
            found = self.follow[place] = {}
            edges = self.edges
            for k, depth in self.through[place]:
                text, j = edges[k]
                nxt = found.get(text[depth])
                if nxt is None:
                    nxt = found[text[depth]] = len(self.follow)
                    self.follow.append(None)
                    self.leads.append([])
                    self.through.append([])
                if depth + 1 == len(text):
                    self.leads[nxt].append(j)
                else:
                    self.through[nxt].append((k, depth + 1))
        return found


class Shifted:
    """A node's edges given relative to it (each target as a step forward from the node), under
    a key: nodes whose edges have the same key read one trie, built once (the span starts of every
    item of a list are the same chunks, leading as far ahead of each item's node)."""
    __slots__ = ("key", "make")

    def __init__(self, key, make: Callable[[], Iterable[Edge]]):
        self.key, self.make = key, make


class Free:
    """A node inside free text: `row` maps each byte the text may go on with to the node after
    it, `exits` are its literal edges (where the text may end here), and `text` what a mask of
    the vocabulary needs (runtime/free_masks.py)."""
    __slots__ = ("row", "exits", "text")

    def __init__(self, row: dict[int, int], exits: Iterable[Edge], text):
        self.row, self.exits, self.text = row, exits, text


class MaskMemo(Protocol):
    """What LiteralDag.masks offers a matcher (answer_dag._SharedMasks): masks shared between
    positions whose futures read alike."""

    def shareable(self, positions: frozenset[Position]) -> bool: ...

    def get(self, positions: frozenset[Position]) -> list[int] | None: ...

    def put(self, positions: frozenset[Position], reached: set[int], mask: list[int]) -> None: ...


class Reading:
    """Reading whole byte strings, from `start`, `readers` and `advance` (LiteralDag's, and
    formats/span_rules.RuledDag's over positions with a history)."""

    def start(self) -> frozenset:
        raise NotImplementedError

    def readers(self, positions, byte: int) -> list:
        raise NotImplementedError

    def advance(self, read, wanted: Callable[[int], bool] | None = None) -> frozenset:
        raise NotImplementedError

    def read(self, positions: frozenset, data: bytes) -> frozenset:
        """The positions after reading `data` (empty: `data` leaves the language)."""
        for byte in data:
            if not positions:
                break
            positions = self.advance(self.readers(positions, byte))
        return positions

    def accepts(self, data: bytes) -> bool:
        return self.departure(data) is None

    def departure(self, data: bytes) -> int | None:
        """None if `data` is an answer; else how many of its bytes the language reads before it
        departs (all of them where the answer stops short)."""
        positions = self.start()
        for at, byte in enumerate(data):
            positions = self.advance(self.readers(positions, byte))
            if not positions:
                return at
        return None if END in positions else len(data)

    @staticmethod
    def is_end(positions: frozenset) -> bool:
        return END in positions


class LiteralDag(Reading):
    def __init__(self, n: int, edges_of: Callable[[int], Iterable[Edge]],
                 final: Callable[[int], bool] | None = None,
                 may_begin: Callable[[int, Callable[[int], bool]], bool] | None = None,
                 skips: Callable[[int], Iterable[int]] | None = None):
        """`final(i)`: may an answer also end at node i (besides node n, which always ends)?
        `may_begin(i, wanted)`: may one of node i's edges begin with a byte that `wanted` takes?
        (False only where surely not: a walk that wants no other byte then need not open node i.)
        `skips(i)`: later nodes that node i also stands at, with nothing read."""
        self.n = n
        self._edges_of = edges_of
        self._final = final
        self._may_begin = may_begin
        self._skips = skips
        self.free: dict[int, Free] = {}  # the free nodes opened so far
        self._tries: dict[int, tuple[_Trie, int]] = {}  # node i's trie, and what its targets add
        self._shared: dict[object, tuple[_Trie, int]] = {}  # a Shifted key's trie, and its farthest step
        self._opened: dict[int, frozenset[Position]] = {}
        self.trace: set[int] | None = None  # when a set, `advance` adds every node it reaches
        self.masks: MaskMemo | None = None  # masks a builder knows how to share between positions (answer_dag.py)

    def _trie(self, i: int) -> tuple[_Trie, int]:
        """Node i's trie and what to add to the targets it names, built when first asked (a
        decoder visits few nodes beyond those its answer passes) and kept."""
        found = self._tries.get(i)
        if found is None:
            edges = self._edges_of(i)
            if isinstance(edges, Shifted):
                shared = self._shared.get(edges.key)
                if shared is None:
                    steps = tuple(edges.make())
                    self._checked(steps, 0)
                    shared = self._shared[edges.key] = (_Trie(steps), max((s for _, s in steps), default=0))
                if i + shared[1] > self.n:
                    raise ValueError(f"an edge of node {i} leads past the last node")
                found = self._tries[i] = (shared[0], i)
            elif isinstance(edges, Free):
                if edges.row and not i < min(edges.row.values()) <= max(edges.row.values()) <= self.n:
                    raise ValueError(f"a byte of free node {i} leads back or past the last node")
                self.free[i] = edges
                found = self._tries[i] = (_Trie(self._checked(tuple(edges.exits), i)), 0)
            else:
                found = self._tries[i] = (_Trie(self._checked(tuple(edges), i)), 0)
        return found

    def _checked(self, edges: tuple[Edge, ...], i: int) -> tuple[Edge, ...]:
        """`edges` of node i (or relative to it, with i = 0): non-empty, and leading forward."""
        for text, j in edges:
            if not text or not i < j <= self.n:
                raise ValueError(f"edge {i} -> {j} ({text!r}): edges are non-empty and lead forward")
        return edges

    def at(self, i: int) -> frozenset[Position]:
        """The positions of having just reached node i."""
        found = self._opened.get(i)
        if found is None:
            if i == self.n:
                found = frozenset([END])
            else:
                out = [END] if self._final is not None and self._final(i) else []
                if self._trie(i)[0].goes_on(0) or (i in self.free and self.free[i].row):
                    out.append((i, 0))
                found = frozenset(out)
                if self._skips is not None:
                    for j in self._skips(i):
                        if not i < j <= self.n:
                            raise ValueError(f"node {i} skips to {j}: skips lead forward")
                        found |= self.at(j)
            self._opened[i] = found
        return found

    def start(self) -> frozenset[Position]:
        return self.at(0)

    def next_bytes(self, positions: Iterable[Position]) -> dict[int, list[Position]]:
        """For each byte that may come next, the positions just after reading it (to give to
        `advance`)."""
        out: dict[int, list[Position]] = {}
        tries, free = self._tries, self.free
        for i, place in positions:
            if i < 0:  # END reads nothing
                continue
            if place == 0 and i in free:
                for byte, j in free[i].row.items():
                    out.setdefault(byte, []).append((STEP, j))
            for byte, nxt in tries[i][0].follow_of(place).items():
                out.setdefault(byte, []).append((i, nxt))
        return out

    def readers(self, positions: Iterable[Position], byte: int) -> list[Position]:
        """next_bytes(positions)[byte], without the other bytes."""
        out: list[Position] = []
        tries, free = self._tries, self.free
        for i, place in positions:
            if i < 0:
                continue
            if place == 0 and i in free:
                j = free[i].row.get(byte)
                if j is not None:
                    out.append((STEP, j))
            nxt = tries[i][0].follow_of(place).get(byte)
            if nxt is not None:
                out.append((i, nxt))
        return out

    def advance(self, read: Iterable[Position], wanted: Callable[[int], bool] | None = None) -> frozenset[Position]:
        """The positions after a byte that `read` (from next_bytes) have just read: where edges
        go on, those places; where edges end, the nodes they lead to. With `wanted`, only the
        positions that may read a byte it takes next are sure to be kept (a walk's next step)."""
        out: set[Position] = set()
        leads: Iterable[int]
        tries, skip = self._tries, self._may_begin if wanted is not None else None
        for pos in read:
            if pos[0] == STEP:
                leads, shift = (pos[1],), 0
            else:
                trie, shift = tries[pos[0]]
                if trie.goes_on(pos[1]):
                    out.add(pos)
                leads = trie.leads[pos[1]]
            for j in leads:
                j += shift
                if self.trace is not None:
                    self.trace.add(j)
                if skip is None or wanted is None or j == self.n or skip(j, wanted):
                    out |= self.at(j)
        return frozenset(out)

