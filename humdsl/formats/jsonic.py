"""JSON formats: a JSON template with holes. The output is the exact compact JSON that render
writes (", " and ": " separators), so the grammar fixes every byte of layout and JSON string
escaping keeps spans from swallowing anything."""
from __future__ import annotations

import json

from .base import FormatImpl
from .errors import FormatParseError, FormatUnfit, Unrenderable
from .items import Schema
from .grammar_tree import Alt, Expr, GrammarTree, Group, Grounding, Lit, Ref, Repeat, Seq, TreeBuilder
from .spans import (JSON_CHAR, JSON_SHAPE_REGEX, MAX_FREE_CHARS, FreeRule, SpanRule, has_grounded_span, longest_grounded,
                    span_problem, words_regex)


def _walk_kinds(t) -> set[str]:
    """The node kinds a JSON template uses ('each', 'object', 'hole', 'const')."""
    found = {next(iter(t))}
    if "each" in t:
        found |= _walk_kinds(t["each"])
    for m in t.get("object", []):
        found |= _walk_kinds(m["value"])
    return found


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


class JsonFormat(FormatImpl):
    shape = "json"

    def __init__(self, schema: Schema, decl: dict):
        super().__init__(schema, decl)
        self.template = decl["json"]
        self.nested_field = schema.task_kind.nested_field
        self.list_kind = schema.task_kind.list_key is not None
        # Keyed by label ({ type: [text] }), max_items bounds each label's list, not the total.
        self.grouped = self.list_kind and "object" in self.template

    def normalise(self, record: dict, batch: list[str] | None = None, source: str | None = None) -> dict:
        """Keyed by label, items come back grouped in label-batch order (stable within a label)."""
        batch = self.schema.batch_or_all(batch)
        record = self.schema.normalise(record, batch)
        if not self.grouped:
            return record
        key = self.template["object"][0]["by"].partition(".")[0]
        order: dict[str | None, int] = {code: n for n, code in enumerate(batch)}
        items = sorted(self.schema.to_items(record), key=lambda it: order.get(it.get(key), len(order)))
        return self.schema.from_items(items)

    def check_fit(self, batch: list[str] | None = None) -> None:
        if self.schema.kind == "classify":
            many = "each" in _walk_kinds(self.template)
            if many and not self.schema.multilabel:
                raise FormatUnfit("this format writes a list of labels, but the task takes one label")
            if not many and self.schema.multilabel:
                raise FormatUnfit("this format writes one label, but the task is multilabel")

    # ---- holes (the rules live on the Schema, shared with text formats) ---------------------------
    def _hole(self, hole: str, nested: bool) -> tuple[str, str | None]:
        return self.schema.hole_kind(hole, nested)

    def _labels(self, pool: str, batch: list[str], event_type: str | None) -> list[str]:
        return self.schema.labels_for(pool, batch, event_type)

    def _display(self, pool: str, code: str, hole: str) -> str:
        return self.schema.display(pool, code, hole)

    def _grounded(self, kind: str) -> bool:
        return self.schema.grounds(kind)

    def _nested_items(self, item: dict) -> list[dict]:
        if self.schema.kind == "triples":
            return [{"text": a} for a in item.get("args", [])]
        return item.get(self.nested_field, [])

    # ---- render ---------------------------------------------------------------------------------
    def render(self, record: dict, batch: list[str] | None = None, source: str | None = None) -> str:
        batch = self.schema.batch_or_all(batch)
        record = self.schema.normalise(record, batch)
        items = self.schema.to_items(record)
        if len(items) > self.schema.max_items(batch) and not self.grouped:
            raise Unrenderable(f"{len(items)} items, but the format allows at most "
                               f"{self.schema.max_items(batch)}")
        if len(items) < self.schema.min_items():
            raise Unrenderable("an answer needs a label")
        ctx = (batch, source)
        if self.list_kind:
            value = self._render_list(self.template, items, ctx, nested=False, event_type=None)
        elif self.schema.kind == "qa":
            value = self._render_item(self.template, items[0] if items else {"answer": None}, ctx, False, None)
        elif self.schema.multilabel:  # the labels are the list inside the template
            value = self._render_item(self.template, {}, ctx, False, None, top_items=items)
        else:
            value = self._render_item(self.template, items[0], ctx, False, None)
        return dumps(value)

    def _render_list(self, t: dict, items: list[dict], ctx, nested: bool, event_type):
        if "each" in t:
            return [self._render_item(t["each"], it, ctx, nested, event_type) for it in items]
        group = t["object"][0]
        pool = self._hole(group["by"], nested)[1]
        assert pool is not None  # a group is keyed by a label hole
        out = {}
        for code in self._labels(pool, ctx[0], event_type):
            members = [it for it in items if it.get(group["by"].partition(".")[0]) == code]
            if len(members) > self.schema.max_items(ctx[0]):
                raise Unrenderable(f"more than {self.schema.max_items(ctx[0])} items for {code}")
            out[self._display(pool, code, group["by"])] = self._render_list(
                group["value"], members, ctx, nested, event_type)
        return out

    def _render_item(self, t: dict, item: dict, ctx, nested: bool, event_type, top_items=None):
        if "const" in t:
            return t["const"]
        if "object" in t:
            if any("by" in m for m in t["object"]):  # groups the nested list of this item
                return self._render_list(t, self._sub_items(item, top_items), ctx, True,
                                         item.get("type"))
            return {m["key"]: self._render_item(m["value"], item, ctx, nested, event_type, top_items)
                    for m in t["object"]}
        if "each" in t:
            return self._render_list(t, self._sub_items(item, top_items), ctx, True, item.get("type"))
        hole = t["hole"]
        kind, pool = self._hole(hole, nested)
        value = item.get(hole.partition(".")[0])
        if self.schema.kind == "qa" and value is None:
            return None
        if kind == "label":
            assert pool is not None  # hole_kind pairs "label" with its pool
            allowed = self._labels(pool, ctx[0], event_type)
            if value not in allowed:
                raise Unrenderable(f"'{value}' is not one of the labels {allowed}")
            return self._display(pool, value, hole)
        problem = span_problem(value, grounded_in=ctx[1] if self._grounded(kind) else None,
                               max_words=self.schema.max_words if self._grounded(kind) else None,
                               multiline=True, json_mode=True)
        if problem:
            raise Unrenderable(f"{hole}: {problem}")
        return value

    def _sub_items(self, item: dict, top_items):
        if self.schema.kind == "classify":
            return top_items or []
        subs = self._nested_items(item)
        if len(subs) > self.schema.max_nested():
            raise Unrenderable(f"more than {self.schema.max_nested()} arguments")
        return subs

    # ---- parse ----------------------------------------------------------------------------------
    def parse(self, text: str, batch: list[str] | None = None, source: str | None = None) -> dict:
        batch = self.schema.batch_or_all(batch)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            raise FormatParseError(f"not JSON: {e.msg}", e.pos) from None
        ctx = (batch, source)
        if self.list_kind:
            items = self._parse_list(self.template, value, ctx, False, None)
        else:
            holder: dict = {}
            self._parse_item(self.template, value, holder, ctx, False, None)
            if self.schema.kind == "classify":
                items = holder.get("_items") or ([{"label": holder["label"]}] if "label" in holder else [])
            elif self.schema.kind == "qa":
                items = [] if holder.get("answer") is None else [{"answer": holder["answer"]}]
            else:
                items = [holder]
        if len(items) > self.schema.max_items(batch) and not self.grouped:
            raise FormatParseError(f"more than {self.schema.max_items(batch)} items", 0)
        if len(items) < self.schema.min_items():
            raise FormatParseError("an answer needs a label", 0)
        if self.schema.dedupe:
            items = [it for n, it in enumerate(items) if it not in items[:n]]
        return self.schema.from_items(items)

    def _parse_list(self, t: dict, value, ctx, nested: bool, event_type) -> list[dict]:
        if "each" in t:
            if not isinstance(value, list):
                raise FormatParseError("expected a JSON list", 0)
            out = []
            for v in value:
                item: dict = {}
                self._parse_item(t["each"], v, item, ctx, nested, event_type)
                if self.schema.kind == "events" and not nested:
                    item.setdefault("arguments", [])
                out.append(item)
            return out
        group = t["object"][0]
        pool = self._hole(group["by"], nested)[1]
        assert pool is not None  # a group is keyed by a label hole
        if not isinstance(value, dict):
            raise FormatParseError("expected a JSON object", 0)
        by_display = {self._display(pool, c, group["by"]): c for c in self._labels(pool, ctx[0], event_type)}
        items = []
        for key, sub in value.items():
            if key not in by_display:
                raise FormatParseError(f"unknown key {key!r}", 0)
            if isinstance(sub, list) and len(sub) > self.schema.max_items(ctx[0]) and not nested:
                raise FormatParseError(f"more than {self.schema.max_items(ctx[0])} items for {key}", 0)
            for it in self._parse_list(group["value"], sub, ctx, nested, event_type):
                it[group["by"].partition(".")[0]] = by_display[key]
                items.append(it)
        return items

    def _parse_item(self, t: dict, value, item: dict, ctx, nested: bool, event_type) -> None:
        if "const" in t:
            if value != t["const"]:
                raise FormatParseError(f"expected {t['const']!r}", 0)
            return
        if "object" in t:
            if any("by" in m for m in t["object"]):
                self._store_sub(item, self._parse_list(t, value, ctx, True, item.get("type")))
                return
            if not isinstance(value, dict):
                raise FormatParseError("expected a JSON object", 0)
            keys = [m["key"] for m in t["object"]]
            if sorted(value) != sorted(keys):
                raise FormatParseError(f"expected the keys {keys}", 0)
            for m in t["object"]:
                self._parse_item(m["value"], value[m["key"]], item, ctx, nested, event_type)
            return
        if "each" in t:
            self._store_sub(item, self._parse_list(t, value, ctx, True, item.get("type")))
            return
        hole = t["hole"]
        base = hole.partition(".")[0]
        kind, pool = self._hole(hole, nested)
        if self.schema.kind == "qa" and value is None:
            item[base] = None
            return
        if kind == "label":
            assert pool is not None  # hole_kind pairs "label" with its pool
            allowed = self._labels(pool, ctx[0], event_type)
            by_display = {self._display(pool, c, hole): c for c in allowed}
            if value not in by_display:
                raise FormatParseError(f"{value!r} is not one of {sorted(by_display)}", 0)
            value = by_display[value]
        else:
            problem = span_problem(value, grounded_in=ctx[1] if self._grounded(kind) else None,
                                   max_words=self.schema.max_words if self._grounded(kind) else None,
                                   multiline=True, json_mode=True)
            if problem:
                raise FormatParseError(f"{hole}: {problem}", 0)
        if base in item and item[base] != value:
            raise FormatParseError(f"'{base}' is written twice with different values", 0)
        item[base] = value

    def _store_sub(self, item: dict, subs: list[dict]) -> None:
        if len(subs) > (self.schema.max_items(self.schema.batch_or_all(None))
                        if self.schema.kind == "classify" else self.schema.max_nested()):
            raise FormatParseError("too many nested items", 0)
        if self.schema.kind == "classify":
            item["_items"] = subs
        elif self.schema.kind == "triples":
            if subs:
                item["args"] = [s["text"] for s in subs]
        else:
            item[self.nested_field] = subs

    # ---- grammar and schema -------------------------------------------------------------------------
    def grammar_tree(self, batch: list[str] | None = None, source: str | None = None) -> GrammarTree:
        batch = self.schema.batch_or_all(batch)
        b = _TreeOfJson(self, batch, source)
        start = b.list_expr(self.template, False, None, self.schema.max_items(batch),
                            self.schema.min_items()) \
            if self.list_kind else b.item_expr(self.template, False, None)
        grounding = (Grounding("JSUBSTR", source, True),) if self.schema.grounded and source is not None else ()
        return b.tree(start, grounding)

    def json_schema(self, batch: list[str] | None = None) -> dict:
        batch = self.schema.batch_or_all(batch)
        if self.list_kind:
            body = self._schema_list(self.template, batch, False, None, self.schema.max_items(batch))
        else:
            body = self._schema_item(self.template, batch, False, None)
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", **body}

    def _schema_list(self, t, batch, nested, event_type, max_items):
        if "each" in t:
            return {"type": "array", "items": self._schema_item(t["each"], batch, nested, event_type),
                    "maxItems": max_items}
        group = t["object"][0]
        pool = self._hole(group["by"], nested)[1]
        assert pool is not None  # a group is keyed by a label hole
        keys = [self._display(pool, c, group["by"]) for c in self._labels(pool, batch, event_type)]
        return {"type": "object", "properties": {k: self._schema_list(group["value"], batch, nested,
                                                                      event_type, max_items) for k in keys},
                "required": keys, "additionalProperties": False}

    def _schema_item(self, t, batch, nested, event_type):
        if "const" in t:
            return {"const": t["const"]}
        if "object" in t:
            if any("by" in m for m in t["object"]):
                return self._schema_list(t, batch, True, event_type, self.schema.max_nested())
            return {"type": "object", "properties": {m["key"]: self._schema_item(m["value"], batch, nested,
                                                                                event_type)
                                                     for m in t["object"]},
                    "required": [m["key"] for m in t["object"]], "additionalProperties": False}
        if "each" in t:
            limit = self.schema.max_items(batch) if self.schema.kind == "classify" else self.schema.max_nested()
            return self._schema_list(t, batch, True, event_type, limit)
        kind, pool = self._hole(t["hole"], nested)
        if kind == "label":
            assert pool is not None  # hole_kind pairs "label" with its pool
            codes = self._labels(pool, batch, event_type) if pool != "roles" else \
                [r.code for r in self.schema.roles]
            return {"enum": [self._display(pool, c, t["hole"]) for c in codes]}
        span = {"type": "string", "minLength": 1}
        if not self._grounded(kind):
            span["maxLength"] = MAX_FREE_CHARS
        if self.schema.kind == "qa":
            return {"anyOf": [span, {"type": "null"}]}
        return span


class _TreeOfJson(TreeBuilder):
    """Builds the grammar tree of a JSON format."""

    def __init__(self, fmt: JsonFormat, batch: list[str], source: str | None):
        super().__init__()
        self.fmt = fmt
        self.batch = batch
        self.source = source
        self.no_spans = (fmt.schema.grounded and source is not None
                         and not has_grounded_span(source, fmt.schema.max_words, json_mode=True))

    def _needs_span(self, t, nested: bool) -> bool:
        """Does an item of this template hold a grounded span that is not inside an optional list?"""
        if "object" in t:
            return any(self._needs_span(m["value"], nested) for m in t["object"] if "key" in m)
        if "hole" in t:
            kind, _ = self.fmt._hole(t["hole"], nested)
            return self.fmt._grounded(kind) and self.fmt.schema.kind != "qa"
        return False

    def list_expr(self, t, nested, event_type, max_items, min_items=0) -> Expr:
        if "each" in t:
            inner = t["each"]
            item: Expr
            if self.fmt.schema.kind == "events" and not nested and self._mentions_nested(inner):
                item = self.rule("ev", Alt(tuple(self.item_expr(inner, nested, code) for code in self.batch)))
            else:
                item = self.item_expr(inner, nested, event_type)
            if max_items == 0 or (self.no_spans and self._needs_span(inner, nested)):
                return Lit("[]")  # nothing in this input can fill the item's spans
            rest = (Repeat(Seq((Lit(", "), item)), 0, max_items - 1),) if max_items > 1 else ()
            body: Expr = Seq((Lit("["), item, *rest, Lit("]")))
            if min_items == 0:
                body = Alt((Lit("[]"), body))
            return self.rule("list", body)
        group = t["object"][0]
        pool = self.fmt._hole(group["by"], nested)[1]
        assert pool is not None  # a group is keyed by a label hole
        parts: list[Expr] = []
        for n, code in enumerate(self.fmt._labels(pool, self.batch, event_type)):
            key = dumps(self.fmt._display(pool, code, group["by"])) + ": "
            sub = self.list_expr(group["value"], nested, event_type if pool == "roles" else code, max_items)
            parts += [Lit(("{" if n == 0 else ", ") + key), sub]
        if not parts:
            return Lit("{}")
        return self.rule("group", Seq((*parts, Lit("}"))))

    def _mentions_nested(self, t) -> bool:
        if "object" in t:
            return any(self._mentions_nested(m["value"]) or "by" in m for m in t["object"])
        return "each" in t or ("hole" in t and t["hole"].partition(".")[0] == self.fmt.nested_field)

    def item_expr(self, t, nested, event_type) -> Expr:
        fmt = self.fmt
        if "const" in t:
            return Lit(dumps(t["const"]))
        if "object" in t:
            if any("by" in m for m in t["object"]):
                return self.list_expr(t, True, event_type, fmt.schema.max_nested())
            parts: list[Expr] = []
            for n, m in enumerate(t["object"]):
                parts.append(Lit(("{" if n == 0 else ", ") + dumps(m["key"]) + ": "))
                parts.append(self.item_expr(m["value"], nested, event_type))
            parts.append(Lit("}"))
            return Group(Seq(tuple(parts)))
        if "each" in t:
            limit = fmt.schema.max_items(self.batch) if fmt.schema.kind == "classify" else fmt.schema.max_nested()
            return self.list_expr(t, True, event_type, limit)
        hole = t["hole"]
        kind, pool = fmt._hole(hole, nested)
        if kind == "label":
            assert pool is not None  # hole_kind pairs "label" with its pool
            if pool == "labels" and event_type is not None and not nested and fmt.schema.kind == "events":
                codes = [event_type]
            else:
                codes = fmt._labels(pool, self.batch, event_type)
            return Group(Alt(tuple(Lit(dumps(fmt._display(pool, c, hole))) for c in codes)))
        terms: list[str | Ref] = [JSON_SHAPE_REGEX]
        grounded = fmt._grounded(kind) and self.source is not None
        if fmt._grounded(kind):
            terms.append(words_regex(fmt.schema.max_words))
            if self.source is not None:
                terms.append(Ref("JSUBSTR"))
        else:
            terms.append(self.length(JSON_CHAR, 1, MAX_FREE_CHARS, 6))
        # a character is at most 6 bytes in JSON (\u0001); a grounded span is at most the input's longest
        chars = longest_grounded(self.source, fmt.schema.max_words) if grounded and self.source is not None else MAX_FREE_CHARS
        term = self.terminal("JSPAN", tuple(terms), 6 * chars)
        if fmt._grounded(kind):
            self.spans[term.name] = SpanRule(True, fmt.schema.max_words)
        else:
            self.spans[term.name] = FreeRule(True, MAX_FREE_CHARS)
        string = Seq((Lit('"'), term, Lit('"')))
        if fmt.schema.kind == "qa":
            return Lit("null") if self.no_spans else Group(Alt((string, Lit("null"))))
        return Group(string)
