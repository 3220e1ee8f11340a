"""A format's grammar tree (grammar_tree.py) as an acyclic automaton whose edges are literal bytes
or grounded spans: the skeleton of every input's answers (formats/answer_dag.py joins an input's
spans to it).

A span or free-text terminal is known by the rule the builder recorded for it (`GrammarTree.spans`);
any other terminal (a number's regex, greedy free text) makes the grammar unreadable here, and the
decoder then runs the grammar itself. The language has no recursion, so repeats are unrolled and
every edge leads to a later state.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .grammar_tree import Alt, Expr, GrammarTree, Group, Lit, Ref, Repeat, Rule, Seq
from .spans import FreeRule, SpanRule

# States past this many, and the skeleton is left to llguidance (a repeat of repeats can be large).
MAX_STATES = 200_000


class Unreadable(Exception):
    """The grammar uses something the skeleton cannot hold."""


@dataclass
class Skeleton:
    """States 0..m-1 (0 starts), each with literal edges (bytes, to) and span edges (rule index,
    to), always to a later state; `accepting[u]`: an answer may end at u. `groups[v]`: for the
    span edge into v, the list it is an item of (the innermost rule with a repeat around it, one
    number per place that rule is used): a label's list in a format keyed by label, else the one
    list (formats/span_rules.py keeps order and repeats per list)."""
    lits: list[list[tuple[bytes, int]]]
    spans: list[list[tuple[int, int]]]
    accepting: list[bool]
    rules: list[SpanRule | FreeRule]
    groups: dict[int, int] = field(default_factory=dict)
    _live: dict[tuple[bool, ...], list[bool]] = field(default_factory=dict)
    _repeated: dict[tuple[bool, ...], frozenset[int]] = field(default_factory=dict)

    def live(self, passable: tuple[bool, ...]) -> list[bool]:
        """Which states can still reach an end, when the spans of rule r can be written at all
        exactly where passable[r] (the same for every input that agrees on it, so kept)."""
        found = self._live.get(passable)
        if found is None:
            found = list(self.accepting)
            for u in range(len(found) - 1, -1, -1):
                found[u] = found[u] or any(found[v] for _, v in self.lits[u]) or \
                    any(passable[r] and found[v] for r, v in self.spans[u])
            self._live[passable] = found
        return found

    def finishes(self, live: list[bool]) -> list[bool]:
        """Which states can reach an end over literal edges alone (writing no more spans)."""
        found = list(self.accepting)
        for u in range(len(found) - 1, -1, -1):
            found[u] = found[u] or any(found[v] and live[v] for _, v in self.lits[u])
        return found

    def repeated(self, passable: tuple[bool, ...]) -> frozenset[int]:
        """The states whose edges read like another state's (the same literals, span rules, ends
        and liveness): the only ones whose masks another state may share (answer_dag.py)."""
        found = self._repeated.get(passable)
        if found is None:
            seen: dict[tuple, int]
            twice: set[int]
            live, seen, twice = self.live(passable), {}, set()
            for u in range(len(self.lits)):
                shape = (self.accepting[u], tuple((text, live[v]) for text, v in self.lits[u]),
                         tuple((r, live[v]) for r, v in self.spans[u]))
                first = seen.setdefault(shape, u)
                if first != u:
                    twice.update((first, u))
            found = self._repeated[passable] = frozenset(twice)
        return found


def read_skeleton(tree: GrammarTree) -> Skeleton:
    """The skeleton of `tree` (a grammar with no input bound). Raises Unreadable."""
    if not tree.defs or tree.defs[0].name != "start":
        raise Unreadable("no start rule")
    return _Builder(tree).skeleton()


@dataclass(frozen=True)
class _Span:
    """Where a rule refers to a span or free-text terminal: one edge of the skeleton."""
    rule: SpanRule | FreeRule


class _Builder:
    def __init__(self, tree: GrammarTree):
        self.defs = {d.name: d for d in tree.defs}
        self.span_rules = tree.spans
        self.parsed: dict[str, Expr | _Span] = {}
        self.expanding: set[str] = set()  # the rules being written out (a rule inside itself: recursion)
        self.rule_ids: dict[SpanRule | FreeRule, int] = {}
        self.eps: list[list[int]] = []
        self.lits: list[list[tuple[bytes, int]]] = []
        self.spans: list[list[tuple[int, int]]] = []
        self.groups: dict[int, int] = {}  # a span edge's end state -> its list (Skeleton.groups)
        self.group = -1  # the list being written out
        self.lists = 0

    # ---- a name -> what it stands for --------------------------------------------------------------
    def body(self, name: str) -> Expr | _Span:
        found = self.parsed.get(name)
        if found is None:
            d = self.defs.get(name)
            if d is None:
                raise Unreadable(f"no rule {name}")
            if name in self.span_rules:
                found = _Span(self.span_rules[name])
            elif not isinstance(d, Rule):
                raise Unreadable(f"the terminal {name} is not a grounded span")
            else:  # a lazy rule (llguidance's lazy lexeme): the span, then the literal that ends it
                found = Seq((d.body, Lit(d.suffix))) if d.suffix else d.body
            self.parsed[name] = found
        return found

    # ---- expression trees -> automaton (Thompson's construction; new states are always later) ----
    def state(self) -> int:
        if len(self.eps) >= MAX_STATES:
            raise Unreadable(f"more than {MAX_STATES} states")
        self.eps.append([])
        self.lits.append([])
        self.spans.append([])
        return len(self.eps) - 1

    def build(self, node: Expr | _Span, start: int) -> int:
        """Adds the automaton of `node` from state `start`; returns its end state."""
        if isinstance(node, Lit):
            if not node.text:
                return start
            end = self.state()
            self.lits[start].append((node.text.encode("utf-8"), end))
            return end
        if isinstance(node, _Span):
            end = self.state()
            self.spans[start].append((self.rule_ids.setdefault(node.rule, len(self.rule_ids)), end))
            self.groups[end] = self.group
            return end
        if isinstance(node, Ref):
            if node.name in self.expanding:
                raise Unreadable(f"the rule {node.name} refers to itself")
            self.expanding.add(node.name)
            body, outer = self.body(node.name), self.group
            if _repeats(body):  # a list: its spans are its items' (each use of the rule its own)
                self.group, self.lists = self.lists, self.lists + 1
            end = self.build(body, start)
            self.expanding.discard(node.name)
            self.group = outer
            return end
        if isinstance(node, Group):
            return self.build(node.inner, start)
        if isinstance(node, Seq):
            for part in node.parts:
                start = self.build(part, start)
            return start
        if isinstance(node, Alt):
            if len(node.options) < 2:  # a choice of one (or none) is that one: no state of its own
                return self.build(node.options[0], start) if node.options else start
            ends = [self.build(o, start) for o in node.options]
        else:
            for _ in range(node.lo):
                start = self.build(node.inner, start)
            ends = [start]
            for _ in range(node.hi - node.lo):
                ends.append(self.build(node.inner, ends[-1]))
        end = self.state()
        for e in ends:
            self.eps[e].append(end)
        return end

    def skeleton(self) -> Skeleton:
        first = self.state()
        final = self.build(Ref("start"), first)
        m = len(self.eps)
        # without epsilons: a state takes the edges of every state its epsilons reach
        lits: list[list] = [[] for _ in range(m)]
        spans: list[list] = [[] for _ in range(m)]
        accepting = [False] * m
        for u in range(m - 1, -1, -1):
            lits[u] = list(self.lits[u])
            spans[u] = list(self.spans[u])
            accepting[u] = u == final
            for v in self.eps[u]:
                lits[u] += lits[v]
                spans[u] += spans[v]
                accepting[u] = accepting[u] or accepting[v]
        kept, seen = [], {first}
        for u in range(m):  # the states an edge reaches, in order (so edges still lead forward)
            if u in seen:
                kept.append(u)
                seen.update(v for _, v in lits[u])
                seen.update(v for _, v in spans[u])
        index = {u: k for k, u in enumerate(kept)}
        return Skeleton([sorted({(b, index[v]) for b, v in lits[u]}) for u in kept],
                        [sorted({(r, index[v]) for r, v in spans[u]}) for u in kept],
                        [accepting[u] for u in kept],
                        sorted(self.rule_ids, key=self.rule_ids.__getitem__),
                        {index[v]: g for v, g in self.groups.items() if v in index})


def _repeats(node: Expr | _Span) -> bool:
    """Does the rule body hold a repeat of its own (not inside a rule it refers to)?"""
    if isinstance(node, Repeat):
        return True
    if isinstance(node, Group):
        return _repeats(node.inner)
    if isinstance(node, (Seq, Alt)):
        return any(_repeats(part) for part in (node.parts if isinstance(node, Seq) else node.options))
    return False
