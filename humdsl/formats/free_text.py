"""Free text under one free rule (spans.FreeRule): what formats/answer_dag.py offers where an
answer writes an open IE relation phrase, which the model words itself (or a reasoning line
before the answer, formats/reasoning.py), without llguidance.

The rule's terminal (the span shape, a length bound, stops and forbidden ends) is a byte automaton,
`Machine`, built once per rule: a state holds how many units were read (none, one, more), whether
the last one may end the text, the unit being read (a UTF-8 character's remaining bytes, or in
JSON an escape), and what the text's end holds of a stop or a forbidden end (span_chains._Stops).
A unit is a character, or in JSON an escape (`\\n`, `\\u00e9`), as the length terminal counts them.
The count itself stays outside the automaton: a text being written is (state, count), and a byte
that starts a unit past the bound, or leaves a state that cannot end within it, is not offered.

Only valid UTF-8 is read, as the grammar's regexes read it. Characters matter to the rule only by
class (whitespace, the punctuation a span may not start or end with, a line break, the characters
of stops), so a character being read is kept as its remaining length, the range its next byte
must be in, and its bytes so far only while they may still become one of the few that matter.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np

from .span_chains import _stops_of
from .spans import _BAD_FIRST, _BAD_LAST, WHITESPACE, FreeRule

_HEX = frozenset(b"0123456789abcdefABCDEF")
_ESCAPED = frozenset(b'"\\/bfnrt')
_OTHER = "\uffff"  # a character that matters to no rule: it stands for every other one
# Bytes a unit may take: where (node order) no unit holds more than this many.
UNIT_BYTES = 8


class Machine:
    """The rule's byte automaton, states 0..size-1 (0 starts): `trans[q, b]` the state after byte
    b (-1: the text cannot hold it), `starts[q, b]` whether b starts a unit, `can_end[q]`, `need[q]`
    (the fewest units still to start before the text can end) and `place[q]` (bytes of the current
    unit read: with the count, it orders a text's states so that every byte leads forward)."""

    def __init__(self, rule: FreeRule):
        if rule.json_mode and (rule.stops or rule.ends):  # an escape is fed as one placeholder
            raise ValueError("a free text in JSON has no stops: its closing quote ends it")
        self.rule = rule
        self.json_mode, self.max_units, self.shaped = rule.json_mode, rule.max_chars, rule.shaped
        self.stops = _stops_of(rule.stops, rule.ends)
        specials = {ch for ch in WHITESPACE if ord(ch) >= 0x80}
        specials |= {ch for s in rule.stops + rule.ends for ch in s if ord(ch) >= 0x80}
        self._special = {ch.encode(): ch for ch in specials}
        self._special_prefixes = {enc[:k] for enc in self._special for k in range(1, len(enc))}
        states, index = [(0, 0, None, 0, False)], {}
        index[states[0]] = 0
        trans, starts = [], []
        at = 0
        while at < len(states):  # every reachable state, breadth first
            row, row_starts = [-1] * 256, [0] * 256
            for b in range(256):
                found = self._step(states[at], b)
                if found is None:
                    continue
                nxt, starting = found
                k = index.get(nxt)
                if k is None:
                    k = index[nxt] = len(states)
                    states.append(nxt)
                row[b], row_starts[b] = k, int(starting)
            trans.append(row)
            starts.append(row_starts)
            at += 1
        self.size = len(states)
        self.trans = np.array(trans, dtype=np.int32)
        self.starts = np.array(starts, dtype=np.int32)
        self.can_end = np.array([self._ends(s) for s in states], dtype=np.bool_)
        self.place = [s[1] for s in states]
        self.need = self._need()
        self.rows = [{b: (int(q2), int(self.starts[q, b])) for b, q2 in enumerate(trans[q]) if q2 >= 0}
                     for q in range(self.size)]

    # ---- one byte -----------------------------------------------------------------------------
    def _step(self, state, b: int):
        """(state after byte b, whether b starts a unit), or None where the text cannot hold b.
        A state is (units read: 0, 1 or 2 for more, bytes of the current unit, the unit being
        read or None, stops state, whether the last unit may end the text)."""
        units, place, pending, s, last_ok = state
        if pending is None:  # b starts a unit
            if b < 0x80:
                if self.json_mode and b == 0x5C:  # a backslash starts an escape, never the first unit
                    return None if units == 0 else ((units, 1, ("esc", 0), s, False), True)
                return self._char(units, 1, chr(b), s, True)
            lead = _utf8_lead(b)
            if lead is None:
                return None
            more, lo, hi = lead
            tag = bytes([b]) if bytes([b]) in self._special_prefixes else b""
            return (units, 1, ("u8", more, lo, hi, tag), s, last_ok), True
        if pending[0] == "u8":
            _, more, lo, hi, tag = pending
            if not lo <= b <= hi:
                return None
            tag = tag + bytes([b]) if tag else b""
            if more == 1:
                return self._char(units, place + 1, self._special.get(tag, _OTHER), s, False)
            if tag and tag not in self._special_prefixes:
                tag = b""
            return (units, place + 1, ("u8", more - 1, 0x80, 0xBF, tag), s, last_ok), False
        # an escape in JSON: `\` then one of "\/bfnrt, or u and four hex digits
        _, hexes = pending
        if place == 1:
            if b in _ESCAPED:
                return self._escape(units, place + 1, "\\" + chr(b), s)
            return ((units, place + 1, ("esc", 0), s, False), False) if b == 0x75 else None
        if b not in _HEX:
            return None
        if hexes == 3:
            return self._escape(units, place + 1, "\\u0000", s)
        return (units, place + 1, ("esc", hexes + 1), s, False), False

    def _char(self, units: int, place: int, ch: str, s: int, starting: bool):
        """The state after a whole character: never a line break (in JSON, nothing it escapes);
        the first neither a blank nor punctuation that only separates."""
        if ch == "\n" or (self.json_mode and (ch == '"' or ord(ch) < 0x20)):
            return None
        if self.shaped and units == 0 and (ch in WHITESPACE or ch in _BAD_FIRST):
            return None
        s2 = self.stops.feed(s, ch)
        if s2 is None:
            return None
        last_ok = not self.shaped or (ch not in WHITESPACE and ch not in _BAD_LAST)
        return (min(units + 1, 2), place, None, s2, last_ok), starting

    def _escape(self, units: int, place: int, raw: str, s: int):
        s2 = self.stops.feed(s, raw)
        return None if s2 is None else ((min(units + 1, 2), place, None, s2, False), False)

    def _ends(self, state) -> bool:
        units, _, pending, s, last_ok = state
        if not self.shaped:
            return pending is None and not self.stops.bad_end[s]
        return units > 0 and pending is None and last_ok and not self.stops.bad_end[s]

    def _need(self) -> list[int]:
        """The fewest unit starts from each state to one that may end (a shortest path where a
        byte costs 1 if it starts a unit, else 0); past the bound where none can be reached."""
        big = self.max_units + 1
        need = np.where(self.can_end, 0, big)
        ok = self.trans >= 0
        while True:
            via = np.where(ok, need[np.maximum(self.trans, 0)] + self.starts, 2 * big).min(axis=1)
            new = np.minimum(need, np.minimum(via, big))
            if (new == need).all():
                return [int(n) for n in need]
            need = new

    # ---- what answer_dag asks ---------------------------------------------------------------------
    def live(self, q: int, count: int) -> bool:
        return count + self.need[q] <= self.max_units

    def next(self, q: int, count: int) -> list[tuple[int, int, int]]:
        """(byte, state, count) for each byte the text may go on with."""
        out = []
        for b, (q2, starting) in self.rows[q].items():
            c2 = count + starting
            if c2 + self.need[q2] <= self.max_units:
                out.append((b, q2, c2))
        return out

    def index(self, q: int, count: int) -> int:
        """A number for (state, count) that grows along every byte read."""
        return (count * UNIT_BYTES + self.place[q]) * self.size + q

    def state_at(self, index: int) -> tuple[int, int]:
        rest, q = divmod(index, self.size)
        return q, rest // UNIT_BYTES

    @property
    def states(self) -> int:
        """How many (state, count) numbers there are."""
        return (self.max_units + 1) * UNIT_BYTES * self.size


def _utf8_lead(b: int):
    """For a UTF-8 lead byte: (continuation bytes, range of the next one); None for any other."""
    if 0xC2 <= b <= 0xDF:
        return 1, 0x80, 0xBF
    if 0xE0 <= b <= 0xEF:
        return 2, (0xA0 if b == 0xE0 else 0x80), (0x9F if b == 0xED else 0xBF)
    if 0xF0 <= b <= 0xF4:
        return 3, (0x90 if b == 0xF0 else 0x80), (0x8F if b == 0xF4 else 0xBF)
    return None


@lru_cache(maxsize=32)
def machine(rule: FreeRule) -> Machine:
    return Machine(rule)


class FreeChains:
    """One free rule's texts, as answer_dag.py asks them of span chains: a state is (machine
    state, units started), numbered by Machine.index."""
    free: Literal[True] = True

    def __init__(self, rule: FreeRule):
        self.machine = machine(rule)
        self.size = self.machine.states
        self.start = (0, 0)

    def index(self, state: tuple[int, int]) -> int:
        return self.machine.index(*state)

    def state_at(self, index: int) -> tuple[int, int]:
        return self.machine.state_at(index)

    def may_end(self, state: tuple[int, int]) -> bool:
        return bool(self.machine.can_end[state[0]])

    def next(self, state: tuple[int, int]) -> list[tuple[int, tuple[int, int]]]:
        """(byte, state after it) for each byte the text may go on with."""
        return [(b, (q, c)) for b, q, c in self.machine.next(*state)]
