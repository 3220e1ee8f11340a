"""One input's grounded spans under one span rule (spans.SpanRule), chunk by chunk: what
formats/answer_dag.py offers where an answer writes a span, without compiling the input's
substring terminal.

A span is whole chunks of the input (as llguidance's substring terminal and `is_grounded` take
it), so a span being written is a state (b, w, s): the input read up to chunk b, w words so far,
and s, what the span's last characters hold of a stop or a forbidden end. From it the one way on
is chunk b. The rules of `spans.span_problem` are decided per chunk: the first chunk's first
character, the last chunk's last character, no line break outside JSON, the word bound, the
stops and the ends. Only live states are offered (ones from which the span can still end), as
llguidance's lexer never offers a byte after which its lexeme cannot be finished.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from .spans import _BAD_FIRST, _BAD_LAST, WHITESPACE, SpanRule, _json_escaped, chunks, json_written

State = tuple[int, int, int]  # (b, w, s)


class InputChunks:
    """An input cut into chunks, each chunk as written in text and in JSON, and where a text
    stands as whole chunks: shared by the span rules of one input."""

    def __init__(self, source: str):
        self.source = source
        self.parts = chunks(source)
        self._pieces: dict[bool, list[bytes]] = {}
        self._chunk_at: dict[int, int] | None = None

    def pieces(self, json_mode: bool) -> list[bytes]:
        found = self._pieces.get(json_mode)
        if found is None:
            found = self._pieces[json_mode] = [(json_written(c) if json_mode else c).encode() for c in self.parts]
        return found

    def occurrences(self, text: str) -> list[tuple[int, int]]:
        """Each place `text` stands in the input as whole chunks, as (first chunk, end chunk),
        first to last."""
        if self._chunk_at is None:
            offset, self._chunk_at = 0, {0: 0}
            for k, c in enumerate(self.parts, 1):
                offset += len(c)
                self._chunk_at[offset] = k
        found = []
        at = self.source.find(text) if text else -1
        while at >= 0:
            a, b = self._chunk_at.get(at), self._chunk_at.get(at + len(text))
            if a is not None and b is not None:
                found.append((a, b))
            at = self.source.find(text, at + 1)
        return found


class SpanChains:
    free: Literal[False] = False

    def __init__(self, chunks_: InputChunks, rule: SpanRule):
        self.parts, self.n = chunks_.parts, len(chunks_.parts)
        self.pieces = chunks_.pieces(rule.json_mode)
        self.json_mode, self.max_words = rule.json_mode, rule.max_words
        self.stops = _stops_of(rule.stops, rule.ends)
        self.size = (self.n + 1) * (self.max_words + 1) * self.stops.size  # how many states
        self._live: dict[State, bool] = {}
        self._starts: list[tuple[bytes, State]] | None = None
        self._start_indices: list[tuple[bytes, int]] | None = None

    # ---- the rules, per chunk ---------------------------------------------------------------------
    def _can_start(self, c: str) -> bool:
        first = c[0]
        return not (first in WHITESPACE or first in _BAD_FIRST or (self.json_mode and _json_escaped(first)))

    def _can_end(self, c: str) -> bool:
        last = c[-1]
        return not (last in WHITESPACE or last in _BAD_LAST or (self.json_mode and _json_escaped(last)))

    def _read(self, b: int, w: int, s: int, first: bool = False) -> State | None:
        """The state after the span reads chunk b, or None where it cannot."""
        c = self.parts[b]
        if not self.json_mode and "\n" in c:
            return None
        w2 = w + _words_in(c, first or self.parts[b - 1][-1] == " ")
        if w2 > self.max_words:
            return None
        s2 = self.stops.feed(s, c)
        return None if s2 is None else (b + 1, w2, s2)

    # ---- what the answer builder asks ---------------------------------------------------------------
    def index(self, state: State) -> int:
        """A number for the state, below `size`, that grows along every chunk read."""
        b, w, s = state
        return (b * (self.max_words + 1) + w) * self.stops.size + s

    def state_at(self, index: int) -> State:
        bw, s = divmod(index, self.stops.size)
        b, w = divmod(bw, self.max_words + 1)
        return b, w, s

    def may_end(self, state: State) -> bool:
        b, _, s = state
        return b > 0 and self._can_end(self.parts[b - 1]) and not self.stops.bad_end[s]

    def live(self, state: State) -> bool:
        """Can a span in this state still end? (Its way on is one chain: follow it.)"""
        path, known = [], None
        while known is None:
            known = self._live.get(state)
            if known is not None:
                break
            path.append(state)
            if self.may_end(state):
                known = True
            elif state[0] >= self.n:
                known = False
            else:
                nxt = self._read(*state)
                if nxt is None:
                    known = False
                else:
                    state = nxt
        for p in path:
            self._live[p] = known
        return known

    def step(self, state: State) -> tuple[bytes, State] | None:
        """The next chunk's bytes and the state after it, where that state is live."""
        b = state[0]
        if b >= self.n:
            return None
        nxt = self._read(*state)
        return (self.pieces[b], nxt) if nxt is not None and self.live(nxt) else None

    def starts(self) -> list[tuple[bytes, State]]:
        """Every chunk a span may start with, and the state after it, where that state is live."""
        if self._starts is None:
            found = []
            for i, c in enumerate(self.parts):
                if self._can_start(c):
                    nxt = self._read(i, 0, 0, first=True)
                    if nxt is not None and self.live(nxt):
                        found.append((self.pieces[i], nxt))
            self._starts = found
        return self._starts

    def start_indices(self) -> list[tuple[bytes, int]]:
        """starts(), each state as its index (what every node of a span start adds to its base)."""
        if self._start_indices is None:
            index = self.index
            self._start_indices = [(text, index(state)) for text, state in self.starts()]
        return self._start_indices


def _words_in(c: str, after_space: bool) -> int:
    """Words that start in chunk c (words are runs of anything but a space, as in the word
    bound's regex). A chunk of word characters or a punctuation mark holds no space."""
    if not c[0].isspace():
        return 1 if after_space else 0
    return sum(1 for k, ch in enumerate(c) if ch != " " and (c[k - 1] == " " if k else after_space))


class _Stops:
    """What a span's last characters hold of its stops (which it may not contain) and its ends
    (which it may not end with), as an Aho-Corasick automaton: state s is the longest end of the
    span that begins a stop or an end."""

    def __init__(self, stops: tuple[str, ...], ends: tuple[str, ...]):
        self.stops = stops
        names = sorted({""} | {p[:k] for p in stops + ends for k in range(len(p) + 1)}, key=lambda p: (len(p), p))
        self.names, self.index = names, {p: k for k, p in enumerate(names)}
        self.size = len(names)
        self.bad_end = [any(p.endswith(e) for e in ends) for p in names]
        self._fed: dict[tuple[int, str], int | None] = {}
        marks = sorted({ch for p in stops + ends for ch in p})
        # text without any of their characters leaves nothing of them: most chunks, at once
        self._marked = re.compile("[" + "".join(re.escape(ch) for ch in marks) + "]").search if marks else None

    def feed(self, s: int, text: str) -> int | None:
        """The state after the span goes on with `text`, or None where it then holds a stop."""
        if self._marked is None or not self._marked(text):
            return 0
        key = (s, text)
        if key in self._fed:
            return self._fed[key]
        if len(self._fed) > 200_000:  # kept across inputs (words recur), but not without bound
            self._fed.clear()
        cur, out = self.names[s], None
        for ch in text:
            cur += ch
            if any(cur.endswith(stop) for stop in self.stops):
                break
            while cur not in self.index:
                cur = cur[1:]
        else:
            out = self.index[cur]
        self._fed[key] = out
        return out


@lru_cache(maxsize=256)
def _stops_of(stops: tuple[str, ...], ends: tuple[str, ...]) -> _Stops:
    return _Stops(stops, ends)
