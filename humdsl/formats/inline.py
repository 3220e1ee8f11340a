"""Inline formats for entities: the input text itself, with each entity marked in place,
e.g. "[Barack Obama](PER) visited [Paris](LOC)." Removing the marks gives back the input.

The grammar is built per input: a chain over the input's chunks where each position either
copies the next chunk or opens a mark around a run of whole chunks.
"""
from __future__ import annotations

from functools import lru_cache

from .dag import LiteralDag
from .base import FormatImpl
from .errors import FormatParseError, FormatUnfit, InputTooLarge, Unrenderable
from .items import Schema
from .grammar_tree import Alt, Expr, GrammarTree, Lit, Ref, Rule, Seq
from .spans import _BAD_LAST, _CHUNK, chunk_bounds, MAX_FREE_CHARS, WHITESPACE, span_problem
from .template import Part


# llguidance asserts that a grammar has fewer than 65,535 symbols (a panic, reported as a grammar
# error). Each rule of the chain and each distinct literal (a lexeme) costs symbols: measured,
# rules + 1.5 x literals came to the limit between 2,000 and 3,000 words of newswire. This
# estimate (rules + 2 x literals) refuses an input before llguidance does, with a margin.
MAX_SYMBOLS = 60_000


class _SpanEnds:
    """For each chunk index i of an input, the indices j such that chunks[i:j] may be a marked
    span: computed when first asked (parse asks only where a mark opens) and kept, since render,
    parse and grammar ask it of the same input, often several times in synthesis."""

    def __init__(self, chunks: tuple[str, ...], max_words: int):
        self.chunks, self.max_words = chunks, max_words
        self._known: dict[int, tuple[int, ...]] = {}

    def __getitem__(self, i: int) -> tuple[int, ...]:
        found = self._known.get(i)
        if found is None:
            found = self._known[i] = tuple(_ends_at(self.chunks, i, self.max_words))
        return found


@lru_cache(maxsize=32)
def _span_ends(source: str, max_words: int) -> tuple[tuple[str, ...], _SpanEnds]:
    chunks = tuple(_CHUNK.findall(source))
    return chunks, _SpanEnds(chunks, max_words)


def _ends_at(chunks, i: int, max_words: int) -> list[int]:
    out: list[int] = []
    if span_problem(chunks[i][0], multiline=True) and not chunks[i][0].isalnum():
        if chunks[i][0] in ",.;:!?)]}" or chunks[i].isspace():
            return out
    words, span = 0, ""
    for j in range(i, len(chunks)):
        if not chunks[j].isspace():
            words += 1 if (j == i or chunks[j - 1].isspace()) else 0
        if words > max_words or len(span) > MAX_FREE_CHARS:
            break
        span += chunks[j]
        if chunks[j][-1] in WHITESPACE or chunks[j][-1] in _BAD_LAST:
            continue  # span_problem rejects a span ending so; this only saves asking it
        if span_problem(span, max_words=max_words, multiline=True) is None:
            out.append(j + 1)
    return out


def _occurrences(source: str, text: str) -> list[int]:
    out, at = [], source.find(text) if text else -1
    while at >= 0:
        out.append(at)
        at = source.find(text, at + 1)
    return out


class InlineFormat(FormatImpl):
    shape = "inline"
    own_language = True
    marks_input = True

    def __init__(self, schema: Schema, decl: dict):
        super().__init__(schema, decl)
        parts = [Part("lit", p["lit"], 0) if "lit" in p else Part("hole", p["hole"], 0)
                 for p in decl["inline"]]
        holes = [p.value for p in parts if p.kind == "hole"]
        if schema.kind != "entities" or sorted(h.partition(".")[0] for h in holes) != ["text", "type"]:
            raise FormatUnfit("an inline format marks entities: it holds {text} and {type} once each")
        if parts[0].kind != "lit" or parts[-1].kind != "lit":
            raise FormatUnfit("an inline mark starts and ends with literal text, as in \"[{text}]({type})\"")
        self.parts = parts
        self.type_hole = next(h for h in holes if h.startswith("type"))

    def check_fit(self, batch: list[str] | None = None) -> None:
        batch = self.schema.batch_or_all(batch)
        for lit in (p.value for p in self.parts if p.kind == "lit"):
            if not lit:
                raise FormatUnfit("the literals of an inline mark cannot be empty")
        for code in batch:
            shown = self._display(code)
            for lit in (p.value for p in self.parts if p.kind == "lit"):
                if lit in shown:
                    raise FormatUnfit(f"the label {shown!r} holds {lit!r}, part of the mark")

    def _display(self, code: str) -> str:
        return self.schema.name_of("labels", code) if self.type_hole.endswith(".name") else code

    def _mark(self, text: str, code: str) -> str:
        values = {"text": text, "type": self._display(code)}
        return "".join(p.value if p.kind == "lit" else values[p.value.partition(".")[0]]
                       for p in self.parts)

    # ---- placing entities in the input ---------------------------------------------------------
    def _place(self, items: list[dict], source: str) -> list[tuple[int, int, dict]]:
        """Each entity at its first free whole-chunk occurrence (or at its 'start' when given)."""
        bounds = chunk_bounds(source)
        taken: list[tuple[int, int]] = []
        placed = []
        for item in items:
            text = item["text"]
            starts = [item["start"]] if isinstance(item.get("start"), int) else _occurrences(source, text)
            for s in starts:
                e = s + len(text)
                if source[s:e] != text or s not in bounds or e not in bounds:
                    continue
                if any(s < te and ts < e for ts, te in taken):
                    continue
                taken.append((s, e))
                placed.append((s, e, item))
                break
            else:
                raise Unrenderable(f"'{text}' cannot be marked in the input (missing, or overlapping "
                                   "another entity)")
        return sorted(placed, key=lambda t: t[0])

    def normalise(self, record: dict, batch: list[str] | None = None, source: str | None = None) -> dict:
        record = self.schema.normalise(record, batch)
        if source is None:
            return record
        try:
            placed = self._place(self.schema.to_items(record), source)
        except Unrenderable:
            return record
        return self.schema.from_items([{"type": it["type"], "text": it["text"]} for _, _, it in placed])

    # ---- render and parse ----------------------------------------------------------------------
    def render(self, record: dict, batch: list[str] | None = None, source: str | None = None) -> str:
        if source is None:
            raise Unrenderable("the inline format needs the input text")
        batch = self.schema.batch_or_all(batch)
        items = self.schema.to_items(self.schema.normalise(record, batch))
        out, pos = [], 0
        for s, e, item in self._place(items, source):
            if item["type"] not in batch:
                raise Unrenderable(f"'{item['type']}' is not in the label batch")
            problem = span_problem(item["text"], max_words=self.schema.max_words, multiline=True)
            if problem:
                raise Unrenderable(f"text: {problem}")
            out.append(source[pos:s])
            out.append(self._mark(item["text"], item["type"]))
            pos = e
        out.append(source[pos:])
        return "".join(out)

    def parse(self, text: str, batch: list[str] | None = None, source: str | None = None) -> dict:
        if source is None:
            raise FormatParseError("the inline format needs the input text to be read", 0)
        batch = self.schema.batch_or_all(batch)
        chunks, ends = _span_ends(source, self.schema.max_words)
        starts = [0]
        for c in chunks:
            starts.append(starts[-1] + len(c))
        labels = sorted(((self._display(c), c) for c in batch), key=lambda t: -len(t[0]))
        lead = self.parts[0].value  # every mark starts with this literal
        seen: dict[tuple[int, int], list | None] = {}

        def walk(p: int, i: int):
            """Items reading text[p:] against chunks[i:], or None."""
            if (p, i) in seen:
                return seen[(p, i)]
            seen[(p, i)] = None
            if i == len(chunks):
                result: list | None = [] if p == len(text) else None
                seen[(p, i)] = result
                return result
            for j in ends[i] if text.startswith(lead, p) else ():
                span = source[starts[i]:starts[j]]
                for shown, code in labels:
                    mark = self._mark(span, code)
                    if text.startswith(mark, p):
                        rest = walk(p + len(mark), j)
                        if rest is not None:
                            seen[(p, i)] = [{"type": code, "text": span}] + rest
                            return seen[(p, i)]
            if text.startswith(chunks[i], p):
                rest = walk(p + len(chunks[i]), i + 1)
                if rest is not None:
                    seen[(p, i)] = rest
                    return rest
            return None

        import sys
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 4 * len(chunks) + 1000))
        try:
            items = walk(0, 0)
        finally:
            sys.setrecursionlimit(limit)
        if items is None:
            raise FormatParseError("the text is not the input with entities marked in it", 0)
        return self.schema.from_items(items)

    # ---- grammar ----------------------------------------------------------------------------------
    def grammar_tree(self, batch: list[str] | None = None, source: str | None = None) -> GrammarTree:
        if source is None:
            raise FormatUnfit("the inline format is built for each input: give the input text")
        batch = self.schema.batch_or_all(batch)
        chunks, ends = _span_ends(source, self.schema.max_words)
        rules = [Rule("lab", Alt(tuple(Lit(self._display(c)) for c in batch)))]
        cut = self._split_mark()
        n = len(chunks)
        literals: set[str] = set()
        lab = Ref("lab")
        rest: list[tuple[Expr, ...]] = [(Ref(f"p{j}"),) for j in range(n)] + [()]  # what follows chunk j-1
        for i in range(n - 1, -1, -1):
            alts: list[Expr] = [Seq((Lit(chunks[i]), *rest[i + 1]))]
            literals.add(chunks[i])
            for j in ends[i]:
                span = "".join(chunks[i:j])
                opening = cut[0](span)
                literals.add(opening)
                alts.append(Seq((Lit(opening), lab, Lit(cut[1](span)), *rest[j])))
            rules.append(Rule(f"p{i}", Alt(tuple(alts))))
        symbols = len(rules) + 2 * len(literals)
        if symbols > MAX_SYMBOLS:
            raise InputTooLarge(
                f"this input ({len(source.split())} words) is too long for the inline format: its "
                f"grammar would need about {symbols:,} llguidance symbols, over the {MAX_SYMBOLS:,} it "
                f"can hold (about 2,000 words fit); split the input or use a format that quotes spans")
        rules.append(Rule("start", Ref("p0") if n else Lit("")))
        return GrammarTree(tuple(reversed(rules)))

    def language(self, batch: list[str] | None = None, source: str | None = None) -> LiteralDag:
        """The same answers as `grammar` (node i: the input read up to chunk i), for the runtime
        to decode under without llguidance; built as the decoder reaches each node, so an input
        costs nothing up front and has no size limit (formats/dag.py)."""
        if source is None:
            raise FormatUnfit("the inline format is built for each input: give the input text")
        batch = self.schema.batch_or_all(batch)
        chunks, ends = _span_ends(source, self.schema.max_words)
        encoded = [c.encode() for c in chunks]

        def edges_of(i: int):
            yield encoded[i], i + 1
            for j in ends[i]:
                span = "".join(chunks[i:j])
                for code in batch:
                    yield self._mark(span, code).encode(), j

        return LiteralDag(len(chunks), edges_of)

    def _split_mark(self):
        """Two functions giving the mark's text before and after its label hole."""
        idx = next(k for k, p in enumerate(self.parts) if p.kind == "hole" and p.value.startswith("type"))

        def render(parts, span):
            return "".join(p.value if p.kind == "lit" else span for p in parts)

        return (lambda span: render(self.parts[:idx], span), lambda span: render(self.parts[idx + 1:], span))

    def max_bytes(self, batch: list[str] | None = None, source: str | None = None) -> int:
        if source is None:
            return 0
        # Counted from the input, not from the grammar tree (which a long input makes large, and
        # which the answer DAG never builds): the input, and per mark its literals and label.
        # Marks do not overlap and each holds a chunk that is not blank; a word may hold several
        # ("U.S." can be marked as "U" and "S"), so words would not bound them.
        batch = self.schema.batch_or_all(batch)
        marks = sum(1 for c in _CHUNK.findall(source) if not c.isspace())
        mark = sum(len(p.value.encode()) for p in self.parts if p.kind == "lit")
        label = max((len(self._display(c).encode()) for c in batch), default=0)
        return len(source.encode()) + marks * (mark + label)
