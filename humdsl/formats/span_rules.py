"""Rules an entity list keeps across its spans, kept by the decoder: an answer's DAG
(formats/answer_dag.py) read with a history of the spans written so far, so that no answer
that breaks them can be decoded.

The rules, for each list of the answer (a label's list in a format keyed by label, else the one
list; lark_nfa.Skeleton.groups):

- dedupe: a span's text is written once (in a list of (label, span) items this is stronger than
  "an item once": the same text cannot be given two labels);
- ordered (`prefer appearance`): each span starts at or after the start of the span written
  before it;
- no_overlap, across the whole answer: no two spans share a chunk of the input.

A span is a run of the input's chunks; where its text occurs more than once, the answer keeps
the rules if some choice of occurrences keeps them (the decoder follows every choice at once).
`problem` is the same definition read off a parsed record, written independently of the decoder:
the tests hold the two to each other, and synthesis drops gold that breaks it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple

from .dag import END, LiteralDag, Position, Reading
from .span_chains import InputChunks

SPAN_RULES = ("dedupe", "ordered", "no_overlap")


@dataclass(frozen=True)
class SpanRules:
    dedupe: bool = False
    ordered: bool = False
    no_overlap: bool = False

    @classmethod
    def of(cls, effects: Iterable[str]) -> "SpanRules":
        names = set(effects)
        return cls(*(name in names for name in SPAN_RULES))

    def __bool__(self) -> bool:
        return self.dedupe or self.ordered or self.no_overlap


class SpanAt(NamedTuple):
    """A node inside a span: which span edge it writes (`chain`), the list it is an item of,
    and how many of the input's chunks are read when the span ends here (its end, exclusive)."""
    chain: tuple[int, int]
    group: int
    end: int


class History(NamedTuple):
    """What the rules need of the spans written so far, and no more (so that answers that
    differ in nothing the rules see share their positions)."""
    open: tuple[int, int] | None  # (list, first chunk) of the span being written
    texts: frozenset[tuple[int, str]]  # dedupe: (list, text) written
    last: tuple[tuple[int, int], ...]  # ordered: (list, first chunk of its last span), by list
    covered: frozenset[int]  # no_overlap: the chunks spans hold


EMPTY = History(None, frozenset(), (), frozenset())


class RuledDag(Reading):
    """A LiteralDag's language less the answers that break `rules`: the same methods the
    DagMatcher calls, over positions (node, place, history). Every position it gives can still
    reach an answer that keeps the rules (a mask never leads into a dead end)."""

    def __init__(self, dag: LiteralDag, rules: SpanRules, parts: list[str],
                 span_at: Callable[[int], SpanAt | None], finishes: Callable[[int], bool]):
        """`span_at(x)`: where node x is inside a span (None: between spans); `finishes(x)`:
        an answer can end from node x (between spans) with literals alone, which no rule can
        break."""
        self.inner, self.rules, self.parts = dag, rules, parts
        self.n, self.free = dag.n, dag.free
        self._span_at, self._finishes = span_at, finishes
        self._alive: dict[tuple[int, History], bool] = {}
        self._place_alive: dict[tuple[int, int, History], bool] = {}
        self._opened: dict[tuple[int, History], frozenset] = {}
        self._order: dict[int, list[int]] = {}
        self.trace: set[int] | None = None
        self.masks = _FirstSpanMasks(dag.masks) if dag.masks is not None else None

    # ---- the rules, at the two moments a span can break them ------------------------------------
    def _text(self, start: int, end: int) -> str:
        return "".join(self.parts[start:end])

    def _begin(self, h: History, at: SpanAt) -> History | None:
        start = at.end - 1  # the node after a span's first chunk
        if self.rules.no_overlap and start in h.covered:
            return None
        if self.rules.ordered:
            last = dict(h.last).get(at.group)
            if last is not None and start < last:
                return None
        return h._replace(open=(at.group, start))

    def _end(self, h: History, at: SpanAt) -> History | None:
        if h.open is None:  # not reached: a span node is entered by a span's first chunk
            return None
        group, start = h.open
        texts, last, covered = h.texts, h.last, h.covered
        if self.rules.no_overlap:
            held = frozenset(range(start, at.end))
            if held & covered:
                return None
            covered = covered | held
        if self.rules.dedupe:
            text = (group, self._text(start, at.end))
            if text in texts:
                return None
            texts = texts | {text}
        if self.rules.ordered:
            last = tuple(sorted({**dict(last), group: start}.items()))
        return History(None, texts, last, covered)

    def _step(self, x: int, j: int, h: History) -> History | None:
        """The history after an edge from node x to node j, or None where it breaks a rule."""
        sx, sj = self._span_at(x), self._span_at(j)
        if sx is not None and sj is not None and sx.chain == sj.chain:
            return h  # the span reads on
        if sx is not None:
            found = self._end(h, sx)
            if found is None:
                return None
            h = found
        return self._begin(h, sj) if sj is not None else h

    def _ends_here(self, x: int, h: History) -> bool:
        """May the answer end at node x (as the plain language allows) with this history?"""
        if not LiteralDag.is_end(self.inner.at(x)):
            return False
        at = self._span_at(x)
        return at is None or self._end(h, at) is not None

    # ---- liveness: some answer that keeps the rules goes on from here -----------------------------
    def _live_node(self, x: int, h: History) -> bool:
        key = (x, h)
        found = self._alive.get(key)
        if found is None:
            found = (self._span_at(x) is None and self._finishes(x)) or self._ends_here(x, h) \
                or self._live_edges(x, h)
            self._alive[key] = found
        return found

    def _live_edges(self, x: int, h: History) -> bool:
        return any(self._live_target(x, j, h) for j in self._targets(x))

    def _targets(self, x: int) -> list[int]:
        """The nodes node x's edges lead to, those between spans first: from a span, ending it
        settles liveness at once where reading on would walk the rest of the input."""
        found = self._order.get(x)
        if found is None:
            trie, shift = self.inner._trie(x)
            found = sorted({j + shift for _, j in trie.edges}, key=lambda j: self._span_at(j) is not None)
            self._order[x] = found
        return found

    def _live_target(self, x: int, j: int, h: History) -> bool:
        after = self._step(x, j, h)
        return after is not None and self._live_node(j, after)

    def _live_place(self, x: int, place: int, h: History) -> bool:
        """Does an edge through (or ending at) this place of node x's trie lead on alive?"""
        key = (x, place, h)
        found = self._place_alive.get(key)
        if found is None:
            trie, shift = self.inner._trie(x)
            found = any(self._live_target(x, j + shift, h) for j in trie.leads[place]) or \
                any(self._live_target(x, trie.edges[k][1] + shift, h) for k, _ in trie.through[place])
            self._place_alive[key] = found
        return found

    # ---- LiteralDag's methods, over positions with a history -------------------------------------
    def at(self, i: int, h: History = EMPTY) -> frozenset:
        key = (i, h)
        found = self._opened.get(key)
        if found is None:
            out: set = set()
            for pos in self.inner.at(i):
                if pos == END:
                    if self._ends_here(i, h):
                        out.add(END)
                elif self._live_edges(pos[0], h):
                    out.add((pos[0], pos[1], h))
            found = self._opened[key] = frozenset(out)
        return found

    def start(self) -> frozenset:
        return self.at(0)

    def next_bytes(self, positions) -> dict[int, list]:
        out: dict[int, list] = {}
        for pos in positions:
            if pos[0] < 0:
                continue
            x, place, h = pos
            for byte, nxt in self.inner._trie(x)[0].follow_of(place).items():
                if self._live_place(x, nxt, h):
                    out.setdefault(byte, []).append((x, nxt, h))
        return out

    def readers(self, positions, byte: int) -> list:
        out = []
        for pos in positions:
            if pos[0] < 0:
                continue
            x, place, h = pos
            nxt = self.inner._trie(x)[0].follow_of(place).get(byte)
            if nxt is not None and self._live_place(x, nxt, h):
                out.append((x, nxt, h))
        return out

    def advance(self, read, wanted: Callable[[int], bool] | None = None) -> frozenset:
        out: set = set()
        skip = self.inner._may_begin if wanted is not None else None
        for x, place, h in read:
            trie, shift = self.inner._trie(x)
            if trie.goes_on(place):
                out.add((x, place, h))
            for j in trie.leads[place]:
                j += shift
                if self.trace is not None:
                    self.trace.add(j)
                if skip is None or wanted is None or j == self.n or skip(j, wanted):
                    after = self._step(x, j, h)
                    if after is not None:
                        out |= self.at(j, after)
        return _pruned(out) if len(out) > 1 else frozenset(out)


MAX_POSITIONS = 256  # histories kept per step; past it, the most open ones (below)


def _pruned(positions: set) -> frozenset:
    """The positions less those another one makes redundant: at the same place with the same
    span open and texts written, a history whose lists' last starts are no later and whose
    covered chunks are a subset allows every answer the other does. Where names recur, the
    choices of occurrence still multiply; past MAX_POSITIONS the positions holding the fewest
    chunks and the earliest starts are kept (every one kept is alive, so the answers allowed
    still keep the rules; a few rare ones may be lost)."""
    groups: dict[tuple, list] = {}
    for pos in positions:
        key = (pos[0], pos[1]) + ((pos[2].open, pos[2].texts) if pos[0] >= 0 else ((), ()))
        groups.setdefault(key, []).append(pos)
    out = []
    for same in groups.values():
        if len(same) == 1:
            out.append(same[0])
            continue
        for pos in same:
            h = pos[2]
            if not any(other is not pos and _dominates(other[2], h) for other in same):
                out.append(pos)
    if len(out) > MAX_POSITIONS:
        out.sort(key=_openness)
        out = out[:MAX_POSITIONS]
    return frozenset(out)


def _openness(pos) -> tuple:
    """A total order on positions, the most open first (END before all): fewest chunks held,
    earliest starts, then anything that tells them apart (never the hash order of strings, so
    that runs are the same from process to process)."""
    if pos[0] < 0:
        return (-1,)
    h = pos[2]
    return (len(h.covered), sum(s for _, s in h.last), tuple(sorted(h.covered)), h.last, pos[0], pos[1],
            h.open or (), tuple(sorted(h.texts)))


def _dominates(a: History, b: History) -> bool:
    """Does `a` allow every continuation `b` does (same open span and texts assumed)?"""
    if not a.covered <= b.covered:
        return False
    last_a, last_b = dict(a.last), dict(b.last)
    return all(last_a.get(g, -1) <= s for g, s in last_b.items()) and set(last_a) <= set(last_b)


def plain_positions(positions) -> frozenset[Position]:
    """RuledDag positions as its plain language's (the history dropped)."""
    return frozenset(p[:2] for p in positions)


class _FirstSpanMasks:
    """The plain language's shared masks (answer_dag._SharedMasks), used where no span has been
    written yet: there the rules rule nothing out, so the mask is the plain one."""

    def __init__(self, memo):
        self.memo = memo

    @staticmethod
    def _plain(positions) -> frozenset[Position] | None:
        if any(p[0] >= 0 and p[2] != EMPTY for p in positions):
            return None
        return plain_positions(positions)

    def shareable(self, positions) -> bool:
        plain = self._plain(positions)
        return plain is not None and self.memo.shareable(plain)

    def get(self, positions):
        plain = self._plain(positions)
        return None if plain is None else self.memo.get(plain)

    def put(self, positions, reached: set[int], mask: list[int]) -> None:
        plain = self._plain(positions)
        if plain is not None:
            self.memo.put(plain, reached, mask)


def problem(items_by_list: list[list[str]], source: str, rules: SpanRules) -> str | None:
    """Why an answer's spans break the rules, or None: `items_by_list` holds each list's span
    texts in the order written. An independent reading of what RuledDag keeps: each text is
    placed at a whole-chunk occurrence in the input, by search over every choice."""
    if rules.dedupe:
        for texts in items_by_list:
            seen = set()
            for t in texts:
                if t in seen:
                    return f"the span {t!r} is written twice in one list"
                seen.add(t)

    occurrences = InputChunks(source).occurrences
    spans = [(k, t) for k, texts in enumerate(items_by_list) for t in texts]
    choices = [occurrences(t) for _, t in spans]
    if any(not c for c in choices):
        return "a span is not whole chunks of the input"

    failed: set[tuple] = set()

    def place(i: int, last: dict[int, int], covered: frozenset[int]) -> bool:
        if i == len(spans):
            return True
        key = (i, tuple(sorted(last.items())) if rules.ordered else (), covered if rules.no_overlap else ())
        if key in failed:
            return False
        group = spans[i][0]
        for a, b in choices[i]:
            if rules.ordered and a < last.get(group, -1):
                continue
            held = frozenset(range(a, b))
            if rules.no_overlap and held & covered:
                continue
            if place(i + 1, {**last, group: a}, covered | held):
                return True
        failed.add(key)
        return False

    if not place(0, {}, frozenset()):
        what = [name for name, on in (("in order of appearance", rules.ordered),
                                      ("without overlap", rules.no_overlap)) if on]
        return "the spans cannot be placed in the input " + " and ".join(what)
    return None
