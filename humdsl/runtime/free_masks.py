"""The mask at a free text's node (formats/free_text.py): every token read at once, as arrays.

A walk (runtime/dag_matcher.py) follows the bytes a language may read next; inside free text that
is some 200 bytes at every step, so a walk would visit most of the vocabulary's byte trie. Here,
for each machine state q, every token is run through the machine once (numpy, column by column of
the vocabulary's bytes), which gives per token:
- where it stays inside the text: the units it starts, plus the fewest the state it leaves must
  still start, its `cost`: it fits where the units left are at least that;
- where it leaves the text part way: each place where the text may end and the next byte may
  begin what follows it (an exit), with the units started before. The rest of the token (its
  tail) must then read on from what follows, which the matcher checks once per tail and node.

The mask at (q, units so far, what follows) is then `cost[q] <= room` and the exits whose tail
reads on, both array operations, kept per state: 0.01-0.1 ms at a 50k vocabulary.
"""
from __future__ import annotations

import numpy as np

_FOR: dict[tuple, "FreeMasks"] = {}
MAX_KEPT = 256  # masks kept per machine and vocabulary (50 kB each at a 50k vocabulary)


class VocabBytes:
    """The vocabulary's bytes as a matrix, one row per token (longest first, so that the tokens
    still being read at column j are the first rows)."""

    def __init__(self, table):
        items = sorted(table.bytes_of.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        self.ids = np.array([t for t, _ in items], dtype=np.int64)
        self.data = [d for _, d in items]
        self.lengths = np.array([len(d) for d in self.data], dtype=np.int64)
        width = int(self.lengths.max()) if len(items) else 0
        self.matrix = np.zeros((len(items), width), dtype=np.uint8)
        for row, d in enumerate(self.data):
            self.matrix[row, :len(d)] = np.frombuffer(d, dtype=np.uint8)
        self.vocab = table.vocab


def vocab_bytes(table) -> VocabBytes:
    found = getattr(table, "_vocab_bytes", None)
    if found is None:
        found = table._vocab_bytes = VocabBytes(table)
    return found


class FreeMasks:
    """One machine's masks over one vocabulary, for texts followed by literals that begin with
    one of `exits` (bytes)."""

    def __init__(self, table, machine, exits: frozenset[int]):
        self.table, self.vb, self.machine = table, vocab_bytes(table), machine
        self.is_exit = np.zeros(256, dtype=np.bool_)
        self.is_exit[list(exits)] = True
        self._states: dict[tuple[int, bytes], tuple] = {}
        self._masks: dict[tuple, np.ndarray] = {}
        self._cap: dict[tuple, int] = {}
        self.tails: dict[bytes, int] = {}  # each tail an exit leaves to read, numbered
        self.tail_prefixes: set[bytes] = set()
        self.tail_extendable: set[bytes] = set()

    @classmethod
    def of(cls, table, machine, exits: frozenset[int]) -> "FreeMasks":
        key = (id(table), id(machine), exits)
        found = _FOR.get(key)
        if found is None or found.machine is not machine or found.table is not table:
            found = _FOR[key] = cls(table, machine, exits)
        return found

    def _state(self, q: int, prefix: bytes) -> tuple:
        """For the tokens that begin with `prefix` and go on into the text at state q: (cost per
        token id, and the exits: token ids, tail numbers, units before)."""
        found = self._states.get((q, prefix))
        if found is None:
            found = self._states[(q, prefix)] = self._run(q, prefix)
        return found

    def _run(self, q: int, prefix: bytes) -> tuple:
        m, vb = self.machine, self.vb
        start = len(prefix)
        chosen = vb.lengths > start
        for j, byte in enumerate(prefix):
            chosen &= vb.matrix[:, j] == byte
        rows = np.flatnonzero(chosen)  # still longest first
        lengths = vb.lengths[rows]
        state = np.full(len(rows), q, dtype=np.int64)
        units = np.zeros(len(rows), dtype=np.int64)
        alive = np.ones(len(rows), dtype=np.bool_)
        exit_rows, exit_at, exit_units = [], [], []
        for j in range(start, vb.matrix.shape[1]):
            k = int(np.count_nonzero(lengths > j))  # the rows still being read: the first k
            if not k or not alive[:k].any():
                break
            st, byte = state[:k], vb.matrix[rows[:k], j]
            leaving = alive[:k] & m.can_end[st] & self.is_exit[byte]
            if leaving.any():
                found = np.flatnonzero(leaving)
                exit_rows.append(rows[found])
                exit_at.append(np.full(len(found), j))
                exit_units.append(units[found])
            nxt = m.trans[st, byte]
            units[:k] += m.starts[st, byte]
            alive[:k] &= nxt >= 0
            state[:k] = np.maximum(nxt, 0)
        need = np.array(m.need, dtype=np.int64)
        big = m.max_units + 1
        cost = np.full(vb.vocab, big, dtype=np.int16)
        cost[vb.ids[rows]] = np.where(alive, np.minimum(units + need[state], big), big)
        if exit_rows:
            found = np.concatenate(exit_rows)
            at = np.concatenate(exit_at)
            tails = np.array([self._tail(vb.data[r][a:]) for r, a in zip(found.tolist(), at.tolist())], dtype=np.int64)
            return cost, vb.ids[found], tails, np.concatenate(exit_units)
        empty = np.zeros(0, dtype=np.int64)
        return cost, empty, empty, empty

    def _widest(self, q, cost: np.ndarray) -> int:
        """The most units a token costs (more room gives the same mask)."""
        found = self._cap.get(q)
        if found is None:
            fitting = cost[cost <= self.machine.max_units]
            found = self._cap[q] = int(fitting.max()) if len(fitting) else 0
        return found

    def _tail(self, tail: bytes) -> int:
        found = self.tails.get(tail)
        if found is None:
            found = self.tails[tail] = len(self.tails)
            self.tail_prefixes.update(tail[:k] for k in range(1, len(tail) + 1))
            self.tail_extendable.update(tail[:k] for k in range(1, len(tail)))
        return found

    def mask(self, q: int, count: int, tails_ok, prefix: bytes = b"") -> np.ndarray:
        """Every token that is `prefix` and then bytes the text takes at state q with `count`
        units started: a boolean per token id. `tails_ok()` gives, per tail number, whether
        what follows the text reads it (asked only where some exit is within the bound)."""
        m = self.machine
        cost, exit_ids, exit_tails, exit_units = self._state(q, prefix)
        room = m.max_units - count
        key = (q, prefix, min(room, self._widest((q, prefix), cost)))
        inside = self._masks.get(key)
        if inside is None:
            if len(self._masks) >= MAX_KEPT:  # near the bound every count has its own mask
                self._masks.clear()
            inside = self._masks[key] = cost <= room
        fits = exit_units <= room
        if not fits.any():
            return inside
        ok = tails_ok()
        chosen = fits & ok[exit_tails]
        if not chosen.any():
            return inside
        out = inside.copy()
        out[exit_ids[chosen]] = True
        return out
