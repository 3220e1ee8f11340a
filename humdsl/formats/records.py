"""Formats for record tasks (user-declared fields): a JSON object of the fields, or one
'field: value' line per field. Values follow their declared types, bounds included."""
from __future__ import annotations

import json
import re

from .base import FormatImpl
from .errors import FormatParseError, FormatUnfit, Unrenderable
from .items import Schema
from .numbers import float_regex, format_float, format_int, int_range_regex
from .grammar_tree import Alt, Expr, GrammarTree, Group, Grounding, Lit, Ref, Repeat, Seq, TreeBuilder
from .spans import JSON_CHAR, JSON_SHAPE_REGEX, SHAPE_REGEX, MAX_FREE_CHARS, excludes, span_problem
from .template import Part

DATE = r"[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-9]))"
_DATE_RE = re.compile(DATE + "$")
DATE_BYTES = 10  # yyyy-mm-dd
NUMBER_BYTES = 32  # more than the longest number the regexes allow (a sign, 12 digits, a point, 6 decimals)
DEFAULT_LIST_MAX = 20


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


class RecordFormat(FormatImpl):
    def __init__(self, schema: Schema, decl: dict):
        super().__init__(schema, decl)
        self.fields = schema.ir.get("fields", [])
        self.is_json = "json" in decl
        self.shape = "json" if self.is_json else "text"
        if self.is_json:
            if decl["json"] != {"hole": "value"}:
                raise FormatUnfit("a JSON format for records is written: json value")
        else:
            self.parts = [Part("lit", p["lit"], 0) if "lit" in p else Part("hole", p["hole"], 0)
                          for p in decl["item"]]
            self.join = decl.get("join", "")
            self.before = decl.get("before", "")
            self.after = decl.get("after", "")
            holes = [p.value.partition(".")[0] for p in self.parts if p.kind == "hole"]
            if "value" not in holes:
                raise FormatUnfit("a record line format needs a {value} hole")

    def check_fit(self, batch=None) -> None:
        if not self.is_json and len(self.fields) > 1 and not self.join:
            raise FormatUnfit("a format with one line per field needs a 'join'")

    # ---- values: check and write ----------------------------------------------------------------
    def _check(self, value, t: dict, source: str | None, where: str, json_mode: bool) -> str | None:
        kind = t["type"]
        if kind == "optional":
            return None if value is None else self._check(value, t["inner"], source, where, json_mode)
        if value is None:
            return f"'{where}' may not be null"
        if kind == "string":
            if not isinstance(value, str):
                return f"'{where}' must be a string"
            hi = t.get("max_length") or MAX_FREE_CHARS
            lo = t.get("min_length") or 0
            if not lo <= len(value) <= hi:
                return f"'{where}' must have {lo} to {hi} characters"
            if not json_mode and "\n" in value:
                return f"'{where}' cannot hold a line break in this format"
            return None
        if kind == "span":
            problem = span_problem(value, grounded_in=source, multiline=json_mode, json_mode=json_mode)
            hi = t.get("max_length")
            if problem is None and hi is not None and len(value) > hi:
                problem = f"longer than {hi} characters"
            if problem is None and t.get("min_length") and len(value) < t["min_length"]:
                problem = f"shorter than {t['min_length']} characters"
            return f"'{where}': {problem}" if problem else None
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return f"'{where}' must be a whole number"
            return self._range(value, t, where)
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"'{where}' must be a number"
            if not re.fullmatch(float_regex(t.get("min"), t.get("max")), format_float(value)):
                return f"'{where}' = {value} is outside {t.get('min')}..{t.get('max')}"
            return None
        if kind == "bool":
            return None if isinstance(value, bool) else f"'{where}' must be true or false"
        if kind == "date":
            return None if isinstance(value, str) and _DATE_RE.match(value) else f"'{where}' must be YYYY-MM-DD"
        if kind == "enum":
            return None if value in t["values"] else f"'{where}' must be one of {t['values']}"
        if kind == "list":
            if not isinstance(value, list):
                return f"'{where}' must be a list"
            hi = t.get("max_items") or DEFAULT_LIST_MAX
            lo = t.get("min_items") or 0
            if not lo <= len(value) <= hi:
                return f"'{where}' must have {lo} to {hi} items"
            for v in value:
                problem = self._check(v, t["items"], source, where, True)
                if problem:
                    return problem
            return None
        if kind == "record":
            if not isinstance(value, dict) or sorted(value) != sorted(f["name"] for f in t["fields"]):
                return f"'{where}' must be an object with the fields {[f['name'] for f in t['fields']]}"
            for f in t["fields"]:
                problem = self._check(value[f["name"]], f["type"], source, f["name"], True)
                if problem:
                    return problem
            return None
        return f"unknown type {kind}"

    def _range(self, value, t, where):
        lo, hi = t.get("min"), t.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi) or abs(value) >= 10 ** 12:
            return f"'{where}' = {value} is outside {lo}..{hi}"
        return None

    def _to_json(self, value, t: dict):
        kind = t["type"]
        if value is None:
            return None
        if kind == "optional":
            return self._to_json(value, t["inner"])
        if kind == "list":
            return [self._to_json(v, t["items"]) for v in value]
        if kind == "record":
            return {f["name"]: self._to_json(value[f["name"]], f["type"]) for f in t["fields"]}
        return value

    def _write_json(self, value, t: dict) -> str:
        """Compact JSON, numbers in the grammar's spelling."""
        kind = t["type"]
        if value is None:
            return "null"
        if kind == "optional":
            return self._write_json(value, t["inner"])
        if kind == "int":
            return format_int(value)
        if kind == "float":
            return format_float(value)
        if kind == "list":
            return "[" + ", ".join(self._write_json(v, t["items"]) for v in value) + "]"
        if kind == "record":
            return "{" + ", ".join(f"{_dumps(f['name'])}: {self._write_json(value[f['name']], f['type'])}"
                                   for f in t["fields"]) + "}"
        return _dumps(value)

    def _write_text(self, value, t: dict) -> str:
        kind = t["type"]
        if kind == "optional":
            return "null" if value is None else self._write_text(value, t["inner"])
        if kind in ("string", "span", "date", "enum"):
            return value
        return self._write_json(value, t)

    def _read_json(self, value, t: dict):
        kind = t["type"]
        if kind == "optional":
            return None if value is None else self._read_json(value, t["inner"])
        if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if kind == "list" and isinstance(value, list):
            return [self._read_json(v, t["items"]) for v in value]
        if kind == "record" and isinstance(value, dict):
            return {f["name"]: self._read_json(value.get(f["name"]), f["type"]) for f in t["fields"]}
        return value

    def _read_text(self, text: str, t: dict):
        kind = t["type"]
        if kind == "optional":
            return None if text == "null" else self._read_text(text, t["inner"])
        if kind in ("string", "span", "date", "enum"):
            return text
        try:
            return self._read_json(json.loads(text), t)
        except json.JSONDecodeError as e:
            raise FormatParseError(f"not a valid value: {e.msg}", 0) from None

    def normalise(self, record: dict, batch=None, source: str | None = None) -> dict:
        out = {}
        for f in self.fields:
            v = record.get(f["name"])
            out[f["name"]] = self._normal(v, f["type"])
        return out

    def _normal(self, v, t):
        kind = t["type"]
        if v is None:
            return None
        if kind == "optional":
            return self._normal(v, t["inner"])
        if kind == "float" and isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(format_float(v))
        if kind == "list" and isinstance(v, list):
            return [self._normal(x, t["items"]) for x in v]
        if kind == "record" and isinstance(v, dict):
            return {f["name"]: self._normal(v.get(f["name"]), f["type"]) for f in t["fields"]}
        return v

    # ---- render and parse ------------------------------------------------------------------------
    def render(self, record: dict, batch=None, source: str | None = None) -> str:
        record = self.normalise(record)
        for f in self.fields:
            problem = self._check(record[f["name"]], f["type"], source, f["name"], self.is_json)
            if problem:
                raise Unrenderable(problem)
        if self.is_json:
            return self._write_json(record, {"type": "record", "fields": self.fields})
        lines = []
        for f in self.fields:
            values = {"field": f["name"], "value": self._write_text(record[f["name"]], f["type"])}
            lines.append("".join(p.value if p.kind == "lit" else values[p.value.partition(".")[0]]
                                 for p in self.parts))
        return self.before + self.join.join(lines) + self.after

    def parse(self, text: str, batch=None, source: str | None = None) -> dict:
        if self.is_json:
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                raise FormatParseError(f"not JSON: {e.msg}", e.pos) from None
            t = {"type": "record", "fields": self.fields}
            problem = self._check(value, t, source, "the answer", True)
            if problem:
                raise FormatParseError(problem, 0)
            return self._read_json(value, t)
        if not text.startswith(self.before) or not text.endswith(self.after) or \
                len(text) < len(self.before) + len(self.after):
            raise FormatParseError("expected the record's lines", 0)
        i, limit = len(self.before), len(text) - len(self.after)
        out = {}
        for n, f in enumerate(self.fields):
            last_field = n == len(self.fields) - 1
            for k, part in enumerate(self.parts):
                if part.kind == "lit":
                    if not text.startswith(part.value, i):
                        raise FormatParseError(f"expected {part.value!r}", i)
                    i += len(part.value)
                    continue
                if k + 1 < len(self.parts):
                    j = text.find(self.parts[k + 1].value, i, limit)
                elif not last_field:
                    j = text.find(self.join, i, limit)
                else:
                    j = limit
                if j < 0:
                    raise FormatParseError("a line ends too early", i)
                value = text[i:j]
                if part.value.partition(".")[0] == "field":
                    if value != f["name"]:
                        raise FormatParseError(f"expected the field {f['name']!r}", i)
                else:
                    parsed = self._read_text(value, f["type"])
                    problem = self._check(parsed, f["type"], source, f["name"], False)
                    if problem:
                        raise FormatParseError(problem, i)
                    out[f["name"]] = parsed
                i = j
            if not last_field:
                if not text.startswith(self.join, i):
                    raise FormatParseError(f"expected {self.join!r}", i)
                i += len(self.join)
        if i != limit:
            raise FormatParseError("unexpected text after the last field", i)
        return out

    # ---- grammar ----------------------------------------------------------------------------------
    def grammar_tree(self, batch=None, source: str | None = None) -> GrammarTree:
        g = _TreeOfRecord(self, source)
        start = g.json_value({"type": "record", "fields": self.fields}) if self.is_json else g.lines()
        grounding = (Grounding("SUBSTR", source, False), Grounding("JSUBSTR", source, True)) \
            if source is not None else ()
        return g.tree(start, grounding)

    def json_schema(self, batch=None) -> dict | None:
        if not self.is_json:
            return None
        return {"$schema": "https://json-schema.org/draft/2020-12/schema",
                **self._schema({"type": "record", "fields": self.fields})}

    def _schema(self, t: dict) -> dict:
        kind = t["type"]
        if kind == "optional":
            return {"anyOf": [self._schema(t["inner"]), {"type": "null"}]}
        if kind in ("string", "span"):
            s = {"type": "string", "maxLength": t.get("max_length") or MAX_FREE_CHARS}
            if t.get("min_length") or kind == "span":
                s["minLength"] = t.get("min_length") or 1
            return s
        if kind in ("int", "float"):
            s = {"type": "integer" if kind == "int" else "number"}
            if t.get("min") is not None:
                s["minimum"] = t["min"]
            if t.get("max") is not None:
                s["maximum"] = t["max"]
            return s
        if kind == "bool":
            return {"type": "boolean"}
        if kind == "date":
            return {"type": "string", "pattern": "^" + DATE + "$"}
        if kind == "enum":
            return {"enum": t["values"]}
        if kind == "list":
            s = {"type": "array", "items": self._schema(t["items"]),
                 "maxItems": t.get("max_items") or DEFAULT_LIST_MAX}
            if t.get("min_items"):
                s["minItems"] = t["min_items"]
            return s
        return {"type": "object", "properties": {f["name"]: self._schema(f["type"]) for f in t["fields"]},
                "required": [f["name"] for f in t["fields"]], "additionalProperties": False}

class _TreeOfRecord(TreeBuilder):
    """Builds the grammar tree of a record format."""

    def __init__(self, fmt: RecordFormat, source: str | None):
        super().__init__()
        self.fmt = fmt
        self.source = source

    def _span_chars(self, hi: int) -> int:
        """A span is a substring of the input: no longer than it."""
        return hi if self.source is None else min(hi, len(self.source))

    def json_value(self, t: dict) -> Expr:
        kind = t["type"]
        if kind == "optional":
            return Group(Alt((Lit("null"), self.json_value(t["inner"]))))
        if kind == "string":
            lo, hi = t.get("min_length") or 0, t.get("max_length") or MAX_FREE_CHARS
            length = self.length(JSON_CHAR, lo, hi, 6)  # a character is at most 6 bytes in JSON
            return Seq((Lit('"'), self.fresh_terminal("V", (length,), 6 * hi), Lit('"')))
        if kind == "span":
            hi = t.get("max_length") or MAX_FREE_CHARS
            lo = t.get("min_length") or 1
            parts: tuple[str | Ref, ...] = (JSON_SHAPE_REGEX, self.length(JSON_CHAR, lo, hi, 6))
            if self.source:
                parts += (Ref("JSUBSTR"),)
            return Seq((Lit('"'), self.fresh_terminal("V", parts, 6 * self._span_chars(hi)), Lit('"')))
        if kind == "int":
            return self.fresh_terminal("V", (f"/{int_range_regex(t.get('min'), t.get('max'))}/",), NUMBER_BYTES)
        if kind == "float":
            return self.fresh_terminal("V", (f"/{float_regex(t.get('min'), t.get('max'))}/",), NUMBER_BYTES)
        if kind == "bool":
            return Group(Alt((Lit("true"), Lit("false"))))
        if kind == "date":
            return Seq((Lit('"'), self.fresh_terminal("V", (f"/{DATE}/",), DATE_BYTES), Lit('"')))
        if kind == "enum":
            return Group(Alt(tuple(Lit(_dumps(v)) for v in t["values"])))
        if kind == "list":
            item = self.json_value(t["items"])
            hi = t.get("max_items") or DEFAULT_LIST_MAX
            lo = t.get("min_items") or 0
            body: Expr = Seq((Lit("["), item, Repeat(Seq((Lit(", "), item)), max(lo - 1, 0), hi - 1), Lit("]"))) \
                if hi >= 1 else Lit("[]")
            if lo == 0 and hi >= 1:
                body = Alt((Lit("[]"), body))
            return self.rule("list", body)
        fields: list[Expr] = []
        for n, f in enumerate(t["fields"]):
            fields.append(Lit(("{" if n == 0 else ", ") + _dumps(f["name"]) + ": "))
            fields.append(self.json_value(f["type"]))
        fields.append(Lit("}") if fields else Lit("{}"))
        return self.rule("obj", Seq(tuple(fields)))

    def text_value(self, t: dict, stops: tuple[str, ...]) -> Expr:
        kind = t["type"]
        if kind == "optional":
            return Group(Alt((Lit("null"), self.text_value(t["inner"], stops))))
        excluded = tuple(excludes(s) for s in stops if s)
        if kind == "string":
            lo, hi = t.get("min_length") or 0, t.get("max_length") or MAX_FREE_CHARS
            return self.fresh_terminal("V", (self.length(r"[^\n]", lo, hi, 4), *excluded), 4 * hi)
        if kind == "span":
            hi = t.get("max_length") or MAX_FREE_CHARS
            parts: tuple[str | Ref, ...] = (SHAPE_REGEX, self.length(r"[^\n]", 1, hi, 4), *excluded)
            if self.source:
                parts += (Ref("SUBSTR"),)
            return self.fresh_terminal("V", parts, 4 * self._span_chars(hi))
        if kind == "date":
            return self.fresh_terminal("V", (f"/{DATE}/",), DATE_BYTES)
        if kind == "enum":
            return Group(Alt(tuple(Lit(v) for v in t["values"])))
        return self.json_value(t)

    def lines(self) -> Expr:
        fmt = self.fmt
        seq: list[Expr] = [Lit(fmt.before)] if fmt.before else []
        for n, f in enumerate(fmt.fields):
            last_field = n == len(fmt.fields) - 1
            for k, part in enumerate(fmt.parts):
                if part.kind == "lit":
                    seq.append(Lit(part.value))
                elif part.value.partition(".")[0] == "field":
                    seq.append(Lit(f["name"]))
                else:
                    if k + 1 < len(fmt.parts):
                        stops = (fmt.parts[k + 1].value,)
                    else:
                        stops = (() if last_field else (fmt.join,)) + ((fmt.after,) if fmt.after else ())
                    seq.append(self.text_value(f["type"], stops))
            if not last_field:
                seq.append(Lit(fmt.join))
        if fmt.after:
            seq.append(Lit(fmt.after))
        return Group(Seq(tuple(seq))) if seq else Lit("")
