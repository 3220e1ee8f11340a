"""A format's answers for one input as a LiteralDag (formats/dag.py): its grammar's skeleton
(formats/lark_nfa.py) with the input's grounded spans written in (formats/span_chains.py), so
that the decoder runs it without llguidance compiling the input's substring terminal (10-30 ms
at 1,000 words, bench/README.md).

Nodes are numbers, each skeleton state u owning a block of `stride` of them: u * stride is "at u";
the others are "writing the e-th span edge out of u, in span state (b, w, s)" (or for a free text,
formats/free_text.py, in machine state and units so far). Reading a chunk (a free text's byte)
moves to a later node of the same block; ending a span goes on with the edges of the state the
span edge leads to, a later block; so every edge leads forward and every answer is finite.
"""
from __future__ import annotations

import heapq
from typing import NamedTuple

from .dag import Free, LiteralDag, Shifted
from .free_text import FreeChains, Machine
from .lark_nfa import Skeleton
from .span_chains import InputChunks, SpanChains
from .span_rules import RuledDag, SpanAt, SpanRules
from .spans import FreeRule


class FreeAt(NamedTuple):
    """A node inside free text, as a mask of the vocabulary reads it (runtime/free_masks.py):
    the rule's machine, its state and units so far, the node whose positions read what follows
    the text (None: nothing can), and the first bytes of all that may follow it."""
    machine: Machine
    state: int
    count: int  # type: ignore[assignment]  # a field named like tuple.count, read as at.count
    after: int | None
    exits: frozenset[int]


def free_exits(skeleton: Skeleton) -> dict[int, frozenset[int]] | None:
    """For each free rule, the first bytes of the literals that may follow its text; None where
    a span may follow one at once (a free text's mask reads only literals after it)."""
    out: dict[int, set[int]] = {}
    for u in range(len(skeleton.spans)):
        for r, v in skeleton.spans[u]:
            if isinstance(skeleton.rules[r], FreeRule):
                if skeleton.spans[v]:
                    return None
                out.setdefault(r, set()).update(text[0] for text, _ in skeleton.lits[v])
    return {r: frozenset(found) for r, found in out.items()}


def answers(skeleton: Skeleton, source: str, rules: SpanRules | None = None) -> LiteralDag | RuledDag | None:
    """The answers for `source`, or None where no answer can be written (the grammar decides),
    or where a free text is followed by what a mask of it cannot read (free_exits). With
    `rules` (and no free text), those of them that keep the rules across their spans
    (formats/span_rules.py)."""
    chunks = InputChunks(source)
    chains = [FreeChains(rule) if isinstance(rule, FreeRule) else SpanChains(chunks, rule) for rule in skeleton.rules]
    exits = free_exits(skeleton)
    if exits is None:
        return None
    # every span's starts, found here (once per input and span rule) rather than at a mask
    passable = tuple(c.free or bool(c.starts()) for c in chains)
    live = skeleton.live(passable)
    if not live[0]:
        return None
    lits, spans, accepting = skeleton.lits, skeleton.spans, skeleton.accepting
    per_edge = max((c.size for c in chains), default=1)
    stride = 1 + max(map(len, spans), default=0) * per_edge

    def node(u: int, e: int, r: int, state) -> int:
        return u * stride + 1 + e * per_edge + chains[r].index(state)

    def span_edge(x: int):
        """Node x inside a span: its skeleton state, span edge (rule, to) and span state."""
        u, inner = divmod(x, stride)
        e, rest = divmod(inner - 1, per_edge)
        r, v = spans[u][e]
        return u, e, (r, v), chains[r].state_at(rest)

    steps_kept: dict[tuple, list] = {}

    def steps_at(u: int) -> list:
        """The edges of "at u", each target as a step forward from u: the same for every item of
        a list whose states are alike (its span starts: the same chunks), so kept by shape."""
        key = at_key(u)
        found = steps_kept.get(key)
        if found is None:
            found = [(text, (v - u) * stride) for text, v in lits[u] if live[v]]
            for e, (r, v) in enumerate(spans[u]):
                chain = chains[r]
                if live[v] and not chain.free:
                    base = 1 + e * per_edge  # node(0, e, r, state), the index found once per chain
                    found += [(text, base + k) for text, k in chain.start_indices()]
            steps_kept[key] = found
        return found

    def at_key(u: int) -> tuple:
        return (tuple((text, v - u, live[v]) for text, v in lits[u]), tuple((r, live[v]) for r, v in spans[u]))

    def edges_at(u: int) -> list:
        """The edges of "at u", to nodes (where a span ends into u)."""
        base = u * stride
        return [(text, base + step) for text, step in steps_at(u)]

    def edges_of(x: int):
        if x % stride == 0:
            u = x // stride
            return Shifted(at_key(u), lambda: steps_at(u))
        u, e, (r, v), state = span_edge(x)
        chain = chains[r]
        ends = chain.may_end(state)
        if chain.free:
            row = {b: node(u, e, r, after) for b, after in chain.next(state)}
            return Free(row, edges_at(v) if ends else [],
                        FreeAt(chain.machine, state[0], state[1], v * stride if live[v] else None, exits[r]))
        on = chain.step(state)
        found = [(on[0], node(u, e, r, on[1]))] if on is not None else []
        return found + edges_at(v) if ends else found

    def skips(x: int) -> list[int]:
        """Where a free text starts: "at u" (or a span ending into u) stands at its first node."""
        if x % stride == 0:
            u = x // stride
        else:
            _, _, (r, u), state = span_edge(x)
            if not chains[r].may_end(state):
                return []
        out = []
        for e, (r, v) in enumerate(spans[u]):
            chain = chains[r]
            if chain.free and live[v]:
                out.append(node(u, e, r, chain.start))
        return out

    firsts: dict[int, frozenset[int]] = {}

    def may_begin(x: int, wanted) -> bool:
        """Inside a span, cheaply: the next chunk's first byte, or what the span ends into."""
        if x % stride == 0:
            return True
        u, e, (r, v), state = span_edge(x)
        if chains[r].free:
            return True
        b = state[0]
        if b < len(chunks.parts) and wanted(chains[r].pieces[b][0]):
            return True
        if any(chains[r2].free for r2, _ in spans[v]):
            return True
        found = firsts.get(v)
        if found is None:
            found = firsts[v] = frozenset(text[0] for text, _ in steps_at(v))
        return any(wanted(byte) for byte in found)

    def final(x: int) -> bool:
        if x % stride == 0:
            return accepting[x // stride]
        _, _, (r, v), state = span_edge(x)
        return accepting[v] and chains[r].may_end(state)

    dag = LiteralDag(len(lits) * stride, edges_of, final, may_begin, skips)

    def state_of(x: int) -> int:
        """The skeleton state whose edges node x shows: its own, or inside a span, those of the
        state the span leads to."""
        u, inner = divmod(x, stride)
        return u if inner == 0 else spans[u][(inner - 1) // per_edge][1]

    def anchor(positions) -> tuple[bytes, int] | None:
        """Where a walk from `positions` goes, as (bytes it must read first, skeleton state it
        then reaches), where that is all it can do: at a state, or part way through the one
        literal edge read so far (a forced text whose last byte a longer token may take)."""
        nodes = [pos for pos in positions if pos[0] >= 0]  # END reads nothing
        if len(nodes) != 1 or nodes[0][0] % stride:
            return None
        x, place = nodes[0]
        if place == 0:
            return b"", x // stride
        trie, shift = dag._trie(x)
        if trie.leads[place] or len(trie.through[place]) != 1:
            return None
        k, depth = trie.through[place][0]
        text, j = trie.edges[k]
        j += shift
        return (text[depth:], j // stride) if j % stride == 0 else None

    dag.masks = _SharedMasks(skeleton, live, anchor, state_of, skeleton.repeated(passable))
    if not rules or any(c.free for c in chains):
        return dag

    def span_at(x: int) -> SpanAt | None:
        if x % stride == 0:
            return None
        u, e, (_, v), state = span_edge(x)
        return SpanAt((u, e), skeleton.groups.get(v, -1), state[0])

    finishes = skeleton.finishes(live)
    return RuledDag(dag, rules, chunks.parts, span_at, lambda x: finishes[x // stride])


class _SharedMasks:
    """Masks shared between the skeleton states whose futures read alike as far as a walk went.

    A mask at "at u" is a walk over the edges of the states it reached, at most d skeleton steps
    from u (d: the longest path to any of them). Another state u' whose skeleton reads the same
    for d steps (the same literal bytes, span rules, liveness and ends: `signature`) gives the same
    walk over the same input's spans, so the same mask. This makes the span start of the k-th item
    of a list (a walk over every start chunk of the input, 2-5 ms at 300-1,000 words) cost a
    lookup after the first item."""

    MAX_DEPTH = 6

    def __init__(self, skeleton: Skeleton, live: list[bool], anchor, state_of, repeated: frozenset[int]):
        self.sk, self.live = skeleton, live
        self.anchor, self.state_of = anchor, state_of
        self.repeated = repeated  # the states another one reads like: the rest share nothing
        self.found: dict[tuple[bytes, int, int], list[int]] = {}  # (bytes to read first, depth, signature)
        self.depths: set[int] = set()
        self.hits = 0
        self._ids: dict[tuple, int] = {}
        self._sigs: dict[tuple[int, int], int] = {}

    def signature(self, u: int, depth: int) -> int:
        """An id equal for two states exactly when their skeletons read alike for `depth` steps."""
        key = (u, depth)
        found = self._sigs.get(key)
        if found is None:
            sk, live = self.sk, self.live
            below = depth - 1
            shape = (sk.accepting[u],
                     tuple((text, live[v], self.signature(v, below) if below >= 0 else -1) for text, v in sk.lits[u]),
                     tuple((r, live[v], self.signature(v, below) if below >= 0 else -1) for r, v in sk.spans[u]))
            found = self._sigs[key] = self._ids.setdefault(shape, len(self._ids))
        return found

    def _key(self, positions) -> tuple[bytes, int] | None:
        found = self.anchor(positions)
        return found if found is not None and found[1] in self.repeated else None

    def shareable(self, positions) -> bool:
        """Might a walk from here share its mask? (Else it need not trace where it went.)"""
        return self._key(positions) is not None

    def get(self, positions) -> list[int] | None:
        found = self._key(positions)
        if found is None:
            return None
        rest, u = found
        for depth in self.depths:
            hit = self.found.get((rest, depth, self.signature(u, depth)))
            if hit is not None:
                self.hits += 1
                return hit
        return None

    def put(self, positions, reached: set[int], mask: list[int]) -> None:
        found = self._key(positions)
        if found is None:
            return
        rest, u = found
        longest = self._longest_paths(u)
        depth = 0
        for v in {self.state_of(x) for x in reached}:  # many nodes, few states
            d = longest.get(v)
            if d is None:
                return  # farther than kept apart: not shared
            depth = max(depth, d)
        self.found[(rest, depth, self.signature(u, depth))] = mask
        self.depths.add(depth)

    def _longest_paths(self, u: int) -> dict[int, int]:
        """The longest path from u to each state at most MAX_DEPTH steps on (the skeleton is
        acyclic and its states numbered in order, so one pass in that order)."""
        sk, longest, todo = self.sk, {u: 0}, [u]
        while todo:
            s = heapq.heappop(todo)
            step = longest[s] + 1
            if step > self.MAX_DEPTH:
                continue
            for _, v in sk.lits[s] + sk.spans[s]:
                if v not in longest:
                    heapq.heappush(todo, v)
                if longest.get(v, -1) < step:
                    longest[v] = step
        return longest
