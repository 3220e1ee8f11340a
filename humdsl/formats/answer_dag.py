"""A format's answers for one input as a LiteralDag (formats/dag.py): its grammar's skeleton
(formats/lark_nfa.py) with the input's grounded spans written in (formats/span_chains.py), so
that the decoder runs it without llguidance compiling the input's substring terminal (17-30 ms
at 1,000 words, bench/README.md).

Nodes are numbers, each skeleton state u owning a block of STRIDE of them: u * STRIDE is "at u";
the others are "writing the e-th span edge out of u, in span state (b, w, s)". Reading a chunk
moves to a later node of the same block; ending a span goes on with the edges of the state the
span edge leads to, a later block; so every edge leads forward and every answer is finite.
"""
from __future__ import annotations

from .dag import LiteralDag
from .lark_nfa import Skeleton
from .span_chains import InputChunks, SpanChains


def answers(skeleton: Skeleton, source: str) -> LiteralDag | None:
    """The answers for `source`, or None where no answer can be written (the grammar decides)."""
    chunks = InputChunks(source)
    chains = [SpanChains(chunks, rule) for rule in skeleton.rules]
    # every span's starts, found here (once per input and span rule) rather than at a mask
    live = skeleton.live(tuple(bool(c.starts()) for c in chains))
    if not live[0]:
        return None
    lits, spans, accepting = skeleton.lits, skeleton.spans, skeleton.accepting
    words = 1 + max((r.max_words for r in skeleton.rules), default=0)
    stops = max((c.stops.size for c in chains), default=1)
    per_edge = (len(chunks.parts) + 1) * words * stops
    stride = 1 + max(map(len, spans), default=0) * per_edge

    def node(u: int, e: int, state) -> int:
        b, w, s = state
        return u * stride + 1 + e * per_edge + (b * words + w) * stops + s

    def span_edge(x: int):
        """Node x inside a span: its skeleton state, span edge (rule, to) and span state."""
        u, inner = divmod(x, stride)
        e, rest = divmod(inner - 1, per_edge)
        bw, s = divmod(rest, stops)
        b, w = divmod(bw, words)
        return u, e, spans[u][e], (b, w, s)

    opened: dict[int, list] = {}

    def edges_at(u: int) -> list:
        """The edges of "at u": the same for every span that ends into u, so kept."""
        found = opened.get(u)
        if found is None:
            found = [(text, v * stride) for text, v in lits[u] if live[v]]
            for e, (r, v) in enumerate(spans[u]):
                if live[v]:
                    found += [(text, node(u, e, state)) for text, state in chains[r].starts()]
            opened[u] = found
        return found

    def edges_of(x: int) -> list:
        if x % stride == 0:
            return edges_at(x // stride)
        u, e, (r, v), state = span_edge(x)
        on = chains[r].step(state)
        found = [(on[0], node(u, e, on[1]))] if on is not None else []
        return found + edges_at(v) if chains[r].may_end(state) else found

    firsts: dict[int, frozenset[int]] = {}

    def may_begin(x: int, wanted) -> bool:
        """Inside a span, cheaply: the next chunk's first byte, or what the span ends into."""
        if x % stride == 0:
            return True
        u, e, (r, v), (b, _, _) = span_edge(x)
        if b < len(chunks.parts) and wanted(chains[r].pieces[b][0]):
            return True
        found = firsts.get(v)
        if found is None:
            found = firsts[v] = frozenset(text[0] for text, _ in edges_at(v))
        return any(wanted(byte) for byte in found)

    def final(x: int) -> bool:
        if x % stride == 0:
            return accepting[x // stride]
        _, _, (r, v), state = span_edge(x)
        return accepting[v] and chains[r].may_end(state)

    return LiteralDag(len(lits) * stride, edges_of, final, may_begin)
