"""Text formats: an item template with holes, a join, an empty form, before and after.

One declaration gives three functions that agree by construction:

- render writes the items, refusing a span that holds a literal meant to end it;
- parse reads left to right: a hole ends at the first occurrence of the literal after it (the
  join, for the last hole of an item); nested lists are read inside the region so delimited;
- the grammar says the same with llguidance's lazy lexemes: `span[suffix=L]` ends at the first L,
  and every span terminal excludes the literals that end it, so the two never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from .base import FormatImpl
from .errors import FormatParseError, FormatUnfit, Unrenderable
from .items import Schema
from .grammar_tree import Alt, Expr, GrammarTree, Group, Grounding, Lit, Ref, Repeat, Seq, TreeBuilder
from .spans import (MAX_FREE_CHARS, FreeRule, SHAPE_REGEX, cutting_ends, excludes, has_grounded_span, longest_grounded,
                    not_ending, SpanRule, span_problem, words_regex)
from .template import Part


@dataclass
class Block:
    parts: list[Part]
    join: str = ""
    empty: str | None = None
    before: str = ""
    after: str = ""
    nested: dict[str, "Block"] = field(default_factory=dict)

    @classmethod
    def from_decl(cls, decl: dict) -> "Block":
        parts = [Part("lit", p["lit"], 0) if "lit" in p else Part("hole", p["hole"], 0)
                 for p in decl["item"]]
        nested = {hole: cls.from_decl(sub) for hole, sub in decl.get("for", {}).items()}
        return cls(parts, decl.get("join", ""), decl.get("empty"), decl.get("before", ""),
                   decl.get("after", ""), nested)


@dataclass
class Call:
    """What one render/parse/grammar call depends on besides the format."""
    batch: list[str]
    source: str | None  # the input text, for grounded spans
    item_label: str | None = None  # the event type whose arguments are being handled


class TextFormat(FormatImpl):
    def __init__(self, schema: Schema, decl: dict):
        super().__init__(schema, decl)
        self.block = Block.from_decl(decl)
        self.nested_field = schema.task_kind.nested_field

    # ---- holes (the rules live on the Schema, shared with JSON formats) ---------------------------
    def _hole_kind(self, hole: str, nested: bool) -> tuple[str, str | None]:
        return self.schema.hole_kind(hole, nested)

    def _labels(self, pool: str, call: Call, nested: bool) -> list[str]:
        return self.schema.labels_for(pool, call.batch, call.item_label)

    def _display(self, pool: str, code: str, hole: str) -> str:
        return self.schema.display(pool, code, hole)

    def _grounded(self, kind: str) -> bool:
        return self.schema.grounds(kind)

    def _max_items(self, call: Call, nested: bool) -> int:
        return self.schema.max_nested() if nested else self.schema.max_items(call.batch)

    def _min_items(self, nested: bool) -> int:
        return 0 if nested else self.schema.min_items()

    # ---- the item <-> hole value mapping ---------------------------------------------------------
    def _item_value(self, item: dict, hole: str) -> object:
        base = hole.partition(".")[0]
        if base == self.nested_field and self.schema.kind == "triples":
            return [{"text": a} for a in item.get("args", [])]
        return item.get(base)

    def _set_value(self, item: dict, hole: str, value) -> None:
        base = hole.partition(".")[0]
        if base == self.nested_field and self.schema.kind == "triples":
            if value:
                item["args"] = [a["text"] for a in value]
            return
        if base in item and item[base] != value:
            raise FormatParseError(f"'{base}' is written twice with different values", 0)
        item[base] = value

    # ---- stops: what ends each hole --------------------------------------------------------------
    def _stops(self, block: Block, index: int, multi: bool, outer: tuple[str, ...]) -> tuple[str, ...]:
        """What a hole may not contain. A hole inside an item ends at the literal after it (a lazy
        lexeme in the grammar); a hole that ends the item is read greedily up to the join or the
        end, so it may not contain even the first character of the join or of 'after'."""
        parts = block.parts
        if index + 1 < len(parts):
            return (parts[index + 1].value,) + outer
        ends = tuple(s[0] for s in ((block.join if multi else ""), block.after) if s)
        return ends + outer

    @staticmethod
    def _ends(block: Block, index: int) -> tuple[str, ...]:
        """The ends a hole inside an item may not have (spans.cutting_ends of the literal after)."""
        parts = block.parts
        return cutting_ends(parts[index + 1].value) if index + 1 < len(parts) else ()

    # ---- render ---------------------------------------------------------------------------------
    def render(self, record: dict, batch: list[str] | None = None, source: str | None = None) -> str:
        call = Call(self.schema.batch_or_all(batch), source)
        items = self.schema.to_items(self.schema.normalise(record, call.batch))
        return self._render_block(self.block, items, call, nested=False, outer=())

    def _render_block(self, block: Block, items: list[dict], call: Call, nested: bool,
                      outer: tuple[str, ...]) -> str:
        if len(items) > self._max_items(call, nested):
            raise Unrenderable(f"{len(items)} items, but the format allows at most "
                               f"{self._max_items(call, nested)}")
        if len(items) < self._min_items(nested):
            raise Unrenderable("an answer needs at least one item")
        if not items:
            return block.empty if block.empty is not None else block.before + block.after
        multi = self._max_items(call, nested) > 1
        return block.before + block.join.join(
            self._render_item(block, it, call, nested, multi, outer) for it in items) + block.after

    def _render_item(self, block: Block, item: dict, call: Call, nested: bool, multi: bool,
                     outer: tuple[str, ...]) -> str:
        out = []
        for i, part in enumerate(block.parts):
            if part.kind == "lit":
                out.append(part.value)
                continue
            kind, pool = self._hole_kind(part.value, nested)
            value = self._item_value(item, part.value)
            stops = self._stops(block, i, multi, outer)
            if kind == "label":
                assert pool is not None  # hole_kind pairs "label" with its pool
                allowed = self._labels(pool, call, nested)
                if value not in allowed:
                    raise Unrenderable(f"'{value}' is not one of the labels {allowed}")
                out.append(self._display(pool, value, part.value))
            elif kind == "nested":
                sub = Call(call.batch, call.source, item.get("type"))
                nested_items = cast("list[dict]", value or [])  # the item's nested list, as stored
                out.append(self._render_block(block.nested[part.value.partition(".")[0]], nested_items,
                                              sub, True, stops))
            else:
                problem = span_problem(value, stops=stops, ends=self._ends(block, i),
                                       grounded_in=call.source if self._grounded(kind) else None,
                                       max_words=self.schema.max_words if self._grounded(kind) else None)
                if problem:
                    raise Unrenderable(f"{part.value}: {problem}")
                assert isinstance(value, str)  # span_problem rejects anything but a string
                out.append(value)
        return "".join(out)

    # ---- parse ----------------------------------------------------------------------------------
    def parse(self, text: str, batch: list[str] | None = None, source: str | None = None) -> dict:
        call = Call(self.schema.batch_or_all(batch), source)
        items = self._parse_block(text, 0, len(text), self.block, call, nested=False, outer=())
        if self.schema.dedupe:
            items = [it for n, it in enumerate(items) if it not in items[:n]]
        return self.schema.from_items(items)

    def _parse_block(self, text: str, start: int, end: int, block: Block, call: Call, nested: bool,
                     outer: tuple[str, ...]) -> list[dict]:
        region = text[start:end]
        max_items = self._max_items(call, nested)
        if block.empty is not None and region == block.empty and self._min_items(nested) == 0:
            return []
        if not region.startswith(block.before):
            raise FormatParseError(f"expected {block.before!r}", start)
        if len(region) < len(block.before) + len(block.after) or not region.endswith(block.after):
            raise FormatParseError(f"expected {block.after!r} at the end", end)
        i, stop_at = start + len(block.before), end - len(block.after)
        if i == stop_at and block.empty is None and self._min_items(nested) == 0:
            return []
        items: list[dict] = []
        multi = max_items > 1
        while True:
            item, i = self._parse_item(text, i, stop_at, block, call, nested, multi, outer)
            items.append(item)
            if len(items) > max_items:
                raise FormatParseError(f"more than {max_items} items", i)
            if i == stop_at:
                break
            if multi and block.join and text.startswith(block.join, i):
                i += len(block.join)
                continue
            raise FormatParseError("expected the end of the answer" if not multi else
                                   f"expected {block.join!r} between items", i)
        if len(items) < self._min_items(nested):
            raise FormatParseError("an answer needs at least one item", start)
        return items

    def _parse_item(self, text: str, i: int, limit: int, block: Block, call: Call, nested: bool,
                    multi: bool, outer: tuple[str, ...]) -> tuple[dict, int]:
        item: dict = {}
        parts = block.parts
        for n, part in enumerate(parts):
            if part.kind == "lit":
                if not text.startswith(part.value, i) or i + len(part.value) > limit:
                    raise FormatParseError(f"expected {part.value!r}", i)
                i += len(part.value)
                continue
            if n + 1 < len(parts):
                j = text.find(parts[n + 1].value, i, limit)
                if j < 0:
                    raise FormatParseError(f"expected {parts[n + 1].value!r} after {{{part.value}}}", i)
            else:
                j = text.find(block.join, i, limit) if (multi and block.join) else -1
                j = limit if j < 0 else j
            self._read_hole(text, i, j, block, n, item, call, nested, multi, outer)
            i = j
        if self.schema.kind == "events" and not nested:
            item.setdefault("arguments", [])
        return item, i

    def _read_hole(self, text: str, i: int, j: int, block: Block, n: int, item: dict, call: Call,
                   nested: bool, multi: bool, outer: tuple[str, ...]) -> None:
        part = block.parts[n]
        value_text = text[i:j]
        kind, pool = self._hole_kind(part.value, nested)
        stops = self._stops(block, n, multi, outer)
        if kind == "label":
            assert pool is not None  # hole_kind pairs "label" with its pool
            allowed = self._labels(pool, call, nested)
            by_display = {self._display(pool, c, part.value): c for c in allowed}
            if value_text not in by_display:
                raise FormatParseError(f"{value_text!r} is not one of {sorted(by_display)}", i)
            self._set_value(item, part.value, by_display[value_text])
        elif kind == "nested":
            if "type" not in item and self.schema.kind == "events":
                raise FormatParseError("the event type must come before its arguments", i)
            sub = Call(call.batch, call.source, item.get("type"))
            inner = block.nested[part.value.partition(".")[0]]
            self._set_value(item, part.value,
                            self._parse_block(text, i, j, inner, sub, True, stops))
        else:
            problem = span_problem(value_text, stops=stops, ends=self._ends(block, n),
                                   grounded_in=call.source if self._grounded(kind) else None,
                                   max_words=self.schema.max_words if self._grounded(kind) else None)
            if problem:
                raise FormatParseError(f"{{{part.value}}}: {problem}", i)
            self._set_value(item, part.value, value_text)

    # ---- fitness: labels and literals that would make the output ambiguous -----------------------
    def empty_answer(self) -> str | None:
        return self.block.empty

    def check_fit(self, batch: list[str] | None = None) -> None:
        call = Call(self.schema.batch_or_all(batch), None)
        self._fit_block(self.block, call, nested=False, outer=())

    def _fit_block(self, block: Block, call: Call, nested: bool, outer: tuple[str, ...]) -> None:
        multi = self._max_items(call, nested) > 1
        if multi and not block.join:
            raise FormatUnfit("a format that lists several items needs a 'join'")
        literals = [block.before, block.after, block.join, block.empty or ""] + \
            [p.value for p in block.parts if p.kind == "lit"]
        for lit in literals:
            for stop in outer:
                if stop and lit and stop in lit:
                    raise FormatUnfit(f"the literal {lit!r} holds {stop!r}, which ends the "
                                      "enclosing hole")
        for n, part in enumerate(block.parts):
            if part.kind == "lit":
                continue
            kind, pool = self._hole_kind(part.value, nested)
            stops = self._stops(block, n, multi, outer)
            if kind == "label":
                assert pool is not None  # hole_kind pairs "label" with its pool
                pools = [call.batch] if pool == "labels" else (
                    [self._labels(pool, Call(call.batch, None, t), nested) for t in call.batch]
                    if pool == "roles" else [self._labels(pool, call, nested)])
                for codes in pools:
                    for code in codes:
                        shown = self._display(pool, code, part.value)
                        for stop in stops:
                            if stop and stop in shown:
                                raise FormatUnfit(f"the label {shown!r} holds {stop!r}, which this "
                                                  "format uses to end it")
                        if not shown or "\n" in shown:
                            raise FormatUnfit(f"the label {shown!r} cannot be written on one line")
            elif kind == "nested":
                self._fit_block(block.nested[part.value.partition(".")[0]], call, True, stops)

    # ---- grammar ----------------------------------------------------------------------------------
    def grammar_tree(self, batch: list[str] | None = None, source: str | None = None) -> GrammarTree:
        call = Call(self.schema.batch_or_all(batch), source)
        g = _TreeOfText(self, call)
        start = g.block(self.block, nested=False, outer=(), call=call)
        grounding = (Grounding("SUBSTR", source, False),) if self.schema.grounded and source is not None else ()
        return g.tree(start, grounding)


class _TreeOfText(TreeBuilder):
    """Builds the grammar tree of a text format."""

    def __init__(self, fmt: TextFormat, call: Call):
        super().__init__()
        self.fmt = fmt
        self.source = call.source
        self.no_spans = (fmt.schema.grounded and call.source is not None
                         and not has_grounded_span(call.source, fmt.schema.max_words))

    def _needs_span(self, block: Block, nested: bool) -> bool:
        """Does every item of this block hold a grounded span (its own, or a nested list's)?"""
        fmt = self.fmt
        for p in block.parts:
            if p.kind != "hole":
                continue
            kind, _ = fmt._hole_kind(p.value, nested)
            if fmt._grounded(kind):
                return True
        return False

    def block(self, block: Block, nested: bool, outer: tuple[str, ...], call: Call) -> Ref:
        """before item (join item){0,n-1} after, or the zero-item form."""
        fmt = self.fmt
        max_items = fmt._max_items(call, nested)
        multi = max_items > 1
        alts: list[Expr] = []
        if fmt._min_items(nested) == 0:
            alts.append(Lit(block.empty if block.empty is not None else block.before + block.after))
            if self.no_spans and self._needs_span(block, nested):
                return self.rule("list", alts[0])  # nothing in this input can fill the item's spans
        item = self.item(block, nested, multi, outer, call)
        seq: list[Expr] = [Lit(block.before)] if block.before else []
        seq.append(item)
        if multi:
            seq.append(Repeat(Seq((Lit(block.join), item)), 0, max_items - 1))
        if block.after:
            seq.append(Lit(block.after))
        alts.append(Seq(tuple(seq)))
        return self.rule("list", Alt(tuple(alts)))

    def item(self, block: Block, nested: bool, multi: bool, outer: tuple[str, ...], call: Call) -> Ref:
        fmt = self.fmt
        if fmt.schema.kind == "events" and not nested and any(
                fmt._hole_kind(p.value, False)[0] == "nested" for p in block.parts if p.kind == "hole"):
            # the roles an argument may take depend on the event type: one item rule per type
            alts = [self._item_seq(block, nested, multi, outer, Call(call.batch, call.source, t), t)
                    for t in call.batch]
        else:
            alts = [self._item_seq(block, nested, multi, outer, call, None)]
        return self.rule("item", Alt(tuple(Group(a) for a in alts)))

    def _item_seq(self, block: Block, nested: bool, multi: bool, outer: tuple[str, ...], call: Call,
                  fixed_type: str | None) -> Seq:
        fmt = self.fmt
        seq: list[Expr] = []
        parts = block.parts
        n = 0
        while n < len(parts):
            part = parts[n]
            last = n == len(parts) - 1
            if part.kind == "lit":
                seq.append(Lit(part.value))
                n += 1
                continue
            follow = "" if last else parts[n + 1].value
            kind, pool = fmt._hole_kind(part.value, nested)
            stops = fmt._stops(block, n, multi, outer)
            if kind == "label":
                assert pool is not None  # hole_kind pairs "label" with its pool
                codes = [fixed_type] if (fixed_type is not None and pool == "labels") else \
                    fmt._labels(pool, call, nested)
                options = sorted({fmt._display(pool, c, part.value) + follow for c in codes})
                seq.append(Group(Alt(tuple(Lit(o) for o in options))))
            elif kind == "nested":
                inner = block.nested[part.value.partition(".")[0]]
                sub = Call(call.batch, call.source, fixed_type)
                seq.append(self.block(inner, True, stops, sub))
                if follow:
                    seq.append(Lit(follow))
            else:
                seq.append(self.span(kind, stops, follow))  # a lazy span takes the literal after it
            n += 1 if last else 2
        return Seq(tuple(seq))

    def span(self, kind: str, stops: tuple[str, ...], follow: str) -> Ref:
        fmt = self.fmt
        grounded = fmt._grounded(kind) and self.source is not None
        terms: list[str | Ref] = [SHAPE_REGEX]
        if fmt._grounded(kind):
            terms.append(words_regex(fmt.schema.max_words))
        else:
            terms.append(self.length("(?s:.)", 1, MAX_FREE_CHARS, 4))
        stops, ends = tuple(s for s in dict.fromkeys(stops) if s), cutting_ends(follow)
        terms += [excludes(s) for s in stops]
        if ends:
            terms.append(not_ending(ends))
        if grounded:
            terms.append(Ref("SUBSTR"))
        # a character is at most 4 bytes; a grounded span is at most the input's longest one
        chars = longest_grounded(self.source, fmt.schema.max_words) if grounded and self.source is not None else MAX_FREE_CHARS
        term = self.terminal("SPAN", tuple(terms), 4 * chars)
        if fmt._grounded(kind):
            self.spans[term.name] = SpanRule(False, fmt.schema.max_words, stops, ends)
        elif follow:  # lazy: the literal after it ends it (a greedy lexeme is left to llguidance)
            self.spans[term.name] = FreeRule(False, MAX_FREE_CHARS, stops, ends)
        if not follow:
            return term
        return self.rule("span", term, suffix=follow)
