"""Examples and test blocks: literal inputs and outputs normalised to canonical records.

An example's output may be written in the most natural shape for its kind (entities keyed by
label, relations as (head, type, tail) tuples, ...); it is checked against the schema and turned
into the one canonical record shape every backend speaks (ARCHITECTURE §4b).
"""
from __future__ import annotations

import json
from typing import cast

from .. import codes
from ..diagnostics import did_you_mean
from ..ir_types import ExampleIR, TestIR
from ..syntax import ast
from .context import Context, TaskModel

IO_KEYS = {"example": ("input", "output"),
           "test": ("input", "expect", "includes", "excludes", "one_of", "min_f1")}
RECORD_KEYS = ("output", "expect", "includes", "excludes", "one_of")  # the keys that hold records


class _Bad(Exception):
    """Raised inside a normaliser after its diagnostic was reported, to abandon one value."""


class Normaliser:
    def __init__(self, ctx: Context, task: TaskModel, text: str | None):
        self.ctx = ctx
        self.task = task
        self.text = text  # the example's input text, for grounding checks
        effects = {r["effect"]["name"]: r["effect"]["args"] for r in task.rules if r["effect"]}
        self.grounded = "grounded" in effects
        self.max_items = effects.get("max_items", {}).get("n")
        self.max_words = effects.get("max_words", {}).get("n")
        self.bad = False  # an error was reported and reading went on: the value is not used

    def fail(self, code: str, message: str, node, notes=(), suggestions=()):
        self.ctx.error(code, message, node.span, notes=notes, suggestions=suggestions, task=self.task)
        raise _Bad

    def note_bad(self, code: str, message: str, node, notes=(), suggestions=()):
        """Report, and go on reading the value: an unknown label does not hide the next error."""
        self.ctx.error(code, message, node.span, notes=notes, suggestions=suggestions, task=self.task)
        self.bad = True

    # ---- small pieces ---------------------------------------------------------------------------
    def label(self, node, pool: list[str], noun: str) -> str:
        if isinstance(node, ast.QName) and len(node.parts) == 1:
            code = node.parts[0].text
        elif isinstance(node, ast.Str):
            code = node.value
        elif isinstance(node, ast.Name):
            code = node.text
        else:
            self.fail(codes.EXAMPLE_SHAPE, f"expected a {noun} here", node)
        if code not in pool:
            self.note_bad(codes.EXAMPLE_UNKNOWN_LABEL, f"unknown {noun} '{code}'", node,
                          suggestions=did_you_mean(code, pool))
        return code

    def span_text(self, node, what: str = "span", grounded: bool | None = None) -> str:
        if not isinstance(node, ast.Str):
            self.fail(codes.EXAMPLE_SHAPE, f"a {what} is a string", node)
        value = node.value
        if not value.strip():
            self.fail(codes.EXAMPLE_VALUE, f"empty {what}", node)
        must_ground = self.grounded if grounded is None else grounded
        if must_ground and self.text is not None and value not in self.text:
            self.fail(codes.SPAN_NOT_IN_INPUT, f"'{value}' does not occur in the input", node,
                      notes=["spans are grounded: each must be copied verbatim from the input"])
        if self.max_words is not None and len(value.split()) > self.max_words:
            self.fail(codes.EXAMPLE_VALUE, f"'{value}' has more than {self.max_words} words", node)
        return value

    def items(self, node, noun: str) -> tuple:
        if not isinstance(node, ast.ListValue):
            self.fail(codes.EXAMPLE_SHAPE, f"expected a list of {noun}", node)
        if self.max_items is not None and len(node.items) > self.max_items:
            self.fail(codes.EXAMPLE_VALUE, f"{len(node.items)} items, but the task allows at most "
                      f"{self.max_items}", node)
        return node.items

    def fields(self, node: ast.ObjectValue, required: tuple[str, ...], optional: tuple[str, ...] = ()):
        got: dict[str, object] = {}
        for pair in node.pairs:
            key = pair.key.value if isinstance(pair.key, ast.Str) else pair.key.text
            if key not in required and key not in optional:
                self.fail(codes.EXAMPLE_SHAPE, f"unexpected key '{key}'", pair.key,
                          suggestions=did_you_mean(key, required + optional))
            got[key] = pair.value
        for key in required:
            if key not in got:
                self.fail(codes.EXAMPLE_SHAPE, f"missing key '{key}'", node,
                          notes=["expected keys: " + ", ".join(required)])
        return got

    def unwrap(self, node, key: str):
        """Accept the canonical {key: [...]} wrapper as well as the bare list."""
        if isinstance(node, ast.ObjectValue) and len(node.pairs) == 1:
            pair = node.pairs[0]
            name = pair.key.value if isinstance(pair.key, ast.Str) else pair.key.text
            if name == key:
                return pair.value
        return node

    # ---- kinds -------------------------------------------------------------------------------------
    def entities(self, node) -> dict:
        labels = self.task.label_codes()
        if "entities" not in labels:
            node = self.unwrap(node, "entities")
        out = []
        if isinstance(node, ast.ObjectValue):  # keyed by label
            for pair in node.pairs:
                code = self.label(pair.key, labels, "label")
                values = pair.value.items if isinstance(pair.value, ast.ListValue) else (pair.value,)
                for v in values:
                    out.append({"type": code, "text": self.span_text(v)})
        else:
            for item in self.items(node, "entities"):
                if isinstance(item, ast.TupleValue) and len(item.items) == 2:
                    t, x = item.items
                elif isinstance(item, ast.ObjectValue):
                    got = self.fields(item, ("type", "text"))
                    t, x = got["type"], got["text"]
                else:
                    self.fail(codes.EXAMPLE_SHAPE, "an entity is (TYPE, \"text\") or "
                              "{type: TYPE, text: \"text\"}", item)
                out.append({"type": self.label(t, labels, "label"), "text": self.span_text(x)})
        if self.max_items is not None and len(out) > self.max_items:
            self.fail(codes.EXAMPLE_VALUE, f"{len(out)} entities, but the task allows at most "
                      f"{self.max_items}", node)
        return {"entities": out}

    def relations(self, node) -> dict:
        node = self.unwrap(node, "relations")
        labels = {lab.code: lab for lab in self.task.labels}
        types = [t.code for t in self.task.types]
        out = []
        for item in self.items(node, "relations"):
            given_types = {}
            if isinstance(item, ast.TupleValue) and len(item.items) == 3:
                h, r, t = item.items
            elif isinstance(item, ast.ObjectValue):
                got = self.fields(item, ("head", "type", "tail"), ("head_type", "tail_type"))
                h, r, t = got["head"], got["type"], got["tail"]
                given_types = {k: got[k] for k in ("head_type", "tail_type") if k in got}
            else:
                self.fail(codes.EXAMPLE_SHAPE, "a relation is (\"head\", TYPE, \"tail\") or "
                          "{head: ..., type: ..., tail: ...}", item)
            code = self.label(r, list(labels), "relation")
            rec = {"head": self.span_text(h, "head"), "type": code, "tail": self.span_text(t, "tail")}
            if types:
                lab = labels[code]
                for end, declared in (("head_type", lab.head), ("tail_type", lab.tail)):
                    if end in given_types:
                        value = self.label(given_types[end], types, "entity type")
                        if declared is not None and value != declared:
                            self.fail(codes.EXAMPLE_VALUE, f"'{code}' takes a {declared} {end[:4]}, "
                                      f"not {value}", given_types[end])
                    elif declared is not None:
                        value = declared
                    else:
                        self.fail(codes.EXAMPLE_SHAPE, f"give {end} for '{code}': its signature does "
                                  "not fix it", item)
                    rec[end] = value
            out.append(rec)
        return {"relations": out}

    def events(self, node) -> dict:
        node = self.unwrap(node, "events")
        labels = {lab.code: lab for lab in self.task.labels}
        all_roles = [r.code for r in self.task.roles]
        out = []
        for item in self.items(node, "events"):
            if not isinstance(item, ast.ObjectValue):
                self.fail(codes.EXAMPLE_SHAPE, "an event is {type: TYPE, trigger: \"...\", "
                          "arguments: {Role: [\"...\"]}}", item)
            got = self.fields(item, ("type", "trigger"), ("arguments",))
            code = self.label(got["type"], list(labels), "event type")
            roles = labels[code].roles or all_roles
            args = []
            arg_node = got.get("arguments")
            if isinstance(arg_node, ast.ObjectValue):
                for pair in arg_node.pairs:
                    role = self.label(pair.key, roles, f"role of {code}")
                    values = pair.value.items if isinstance(pair.value, ast.ListValue) else (pair.value,)
                    for v in values:
                        args.append({"role": role, "text": self.span_text(v, "argument")})
            elif isinstance(arg_node, ast.ListValue):
                for a in arg_node.items:
                    if isinstance(a, ast.TupleValue) and len(a.items) == 2:
                        r, x = a.items
                    elif isinstance(a, ast.ObjectValue):
                        g = self.fields(a, ("role", "text"))
                        r, x = g["role"], g["text"]
                    else:
                        self.fail(codes.EXAMPLE_SHAPE, "an argument is (Role, \"text\") or "
                                  "{role: Role, text: \"text\"}", a)
                    args.append({"role": self.label(r, roles, f"role of {code}"),
                                 "text": self.span_text(x, "argument")})
            elif arg_node is not None:
                self.fail(codes.EXAMPLE_SHAPE, "arguments are {Role: [\"text\"]} or a list of "
                          "(Role, \"text\")", arg_node)
            out.append({"type": code, "trigger": self.span_text(got["trigger"], "trigger"),
                        "arguments": args})
        return {"events": out}

    def triples(self, node) -> dict:
        node = self.unwrap(node, "triples")
        out = []
        for item in self.items(node, "triples"):
            if isinstance(item, ast.TupleValue) and len(item.items) >= 3:
                s, p, o, *rest = item.items
            elif isinstance(item, ast.ObjectValue):
                got = self.fields(item, ("subject", "predicate", "object"), ("args",))
                s, p, o = got["subject"], got["predicate"], got["object"]
                rest = list(self.items(got["args"], "extra arguments")) if "args" in got else []
            else:
                self.fail(codes.EXAMPLE_SHAPE, "a triple is (\"subject\", \"predicate\", \"object\")",
                          item)
            # Open IE predicates often add words ("is", "has"): grounding covers the arguments.
            rec: dict[str, str | list[str]] = {"subject": self.span_text(s, "subject"),
                                               "predicate": self.span_text(p, "predicate", grounded=False),
                                               "object": self.span_text(o, "object")}
            if rest:
                rec["args"] = [self.span_text(x, "argument") for x in rest]
            out.append(rec)
        return {"triples": out}

    def qa(self, node) -> dict:
        node = self.unwrap(node, "answer")
        if isinstance(node, ast.Null):
            return {"answer": None}
        return {"answer": self.span_text(node, "answer")}

    def classify(self, node) -> dict:
        labels = self.task.label_codes()
        if self.task.settings.get("multilabel"):
            node = self.unwrap(node, "labels")
            items = self.items(node, "labels")
            out = []
            for item in items:
                code = self.label(item, labels, "label")
                if code in out:
                    self.fail(codes.EXAMPLE_VALUE, f"label '{code}' is listed twice", item)
                out.append(code)
            return {"labels": out}
        node = self.unwrap(node, "label")
        if isinstance(node, ast.ListValue):
            self.fail(codes.EXAMPLE_SHAPE, "this task takes one label; add 'multilabel' to allow "
                      "several", node)
        return {"label": self.label(node, labels, "label")}

    def record(self, node) -> dict:
        return self.record_value(node, {"type": "record", "fields": self.task.fields}, "output")

    def record_value(self, node, model: dict, where: str):
        t = model["type"]
        if t == "optional":
            return None if isinstance(node, ast.Null) else self.record_value(node, model["inner"], where)
        if isinstance(node, ast.Null):
            self.fail(codes.EXAMPLE_VALUE, f"'{where}' is not optional", node)
        if t == "record":
            if not isinstance(node, ast.ObjectValue):
                self.fail(codes.EXAMPLE_SHAPE, f"'{where}' is a record: write {{field: value, ...}}", node)
            by_name = {f["name"]: f for f in model["fields"]}
            got = {}
            for pair in node.pairs:
                key = pair.key.value if isinstance(pair.key, ast.Str) else pair.key.text
                if key not in by_name:
                    self.fail(codes.EXAMPLE_UNKNOWN_LABEL, f"unknown field '{key}'", pair.key,
                              suggestions=did_you_mean(key, by_name))
                got[key] = self.record_value(pair.value, by_name[key]["type"], key)
            for f in model["fields"]:
                if f["name"] not in got:
                    if f["type"]["type"] != "optional":
                        self.fail(codes.EXAMPLE_SHAPE, f"missing field '{f['name']}'", node)
                    got[f["name"]] = None
            return {f["name"]: got[f["name"]] for f in model["fields"]}
        if t in ("string", "span"):
            if not isinstance(node, ast.Str):
                self.fail(codes.EXAMPLE_VALUE, f"'{where}' is a {t}: write a string", node)
            if t == "span":
                self.span_text(node, f"span '{where}'", grounded=True)
            n = len(node.value)
            if model["max_length"] is not None and n > model["max_length"]:
                self.fail(codes.EXAMPLE_VALUE, f"'{where}' is longer than {model['max_length']} characters",
                          node)
            if model["min_length"] is not None and n < model["min_length"]:
                self.fail(codes.EXAMPLE_VALUE, f"'{where}' is shorter than {model['min_length']} characters",
                          node)
            return node.value
        if t in ("int", "float"):
            if not isinstance(node, ast.Num) or (t == "int" and not isinstance(node.value, int)):
                self.fail(codes.EXAMPLE_VALUE, f"'{where}' is {'an int' if t == 'int' else 'a float'}", node)
            v = node.value if t == "int" else float(node.value)
            if (model["min"] is not None and v < model["min"]) or (model["max"] is not None and v > model["max"]):
                self.fail(codes.EXAMPLE_VALUE, f"'{where}' = {node.raw} is outside {model['min']}..{model['max']}",
                          node)
            return v
        if t == "bool":
            if not isinstance(node, ast.Bool):
                self.fail(codes.EXAMPLE_VALUE, f"'{where}' is true or false", node)
            return node.value
        if t == "date":
            import datetime

            try:
                if not isinstance(node, ast.Str) or len(node.value) != 10:
                    raise ValueError
                datetime.date.fromisoformat(node.value)
            except ValueError:
                self.fail(codes.EXAMPLE_VALUE, f"'{where}' is a date: write \"YYYY-MM-DD\"", node)
            return node.value
        if t == "enum":
            return self.label(node, model["values"], f"value of '{where}'")
        if t == "list":
            if not isinstance(node, ast.ListValue):
                self.fail(codes.EXAMPLE_VALUE, f"'{where}' is a list", node)
            n = len(node.items)
            if model["max_items"] is not None and n > model["max_items"]:
                self.fail(codes.EXAMPLE_VALUE, f"'{where}' has more than {model['max_items']} items", node)
            if model["min_items"] is not None and n < model["min_items"]:
                self.fail(codes.EXAMPLE_VALUE, f"'{where}' has fewer than {model['min_items']} items", node)
            return [self.record_value(x, model["items"], where) for x in node.items]
        raise AssertionError(t)


def normalise_input(ctx: Context, task: TaskModel, node) -> dict | None:
    declared = [f["name"] for f in task.inputs]
    if isinstance(node, ast.Str):
        value = {"text": node.value}
    elif isinstance(node, ast.ObjectValue):
        value = {}
        for pair in node.pairs:
            key = pair.key.value if isinstance(pair.key, ast.Str) else pair.key.text
            if key not in declared:
                ctx.error(codes.EXAMPLE_INPUT, f"unknown input field '{key}'", pair.key.span,
                          notes=["declare it with: input " + key + " : \"what it holds\""],
                          suggestions=did_you_mean(key, declared), task=task)
                return None
            if not isinstance(pair.value, ast.Str):
                ctx.error(codes.EXAMPLE_INPUT, f"input field '{key}' must be a string", pair.value.span,
                          task=task)
                return None
            value[key] = pair.value.value
    else:
        ctx.error(codes.EXAMPLE_INPUT, "an input is a string, or {text: \"...\", question: \"...\"}",
                  node.span, task=task)
        return None
    missing = [k for k in declared if k not in value]
    if missing:
        ctx.error(codes.EXAMPLE_INPUT, "the input lacks " + ", ".join(f"'{m}'" for m in missing),
                  node.span, task=task)
        return None
    if not value["text"].strip():
        ctx.error(codes.EXAMPLE_INPUT, "the input text is empty", node.span, task=task)
        return None
    return {k: value[k] for k in declared}


def normalise_output(ctx: Context, task: TaskModel, node, text: str | None) -> dict | None:
    if task.kind is None:
        return None
    normaliser = Normaliser(ctx, task, text)
    try:
        record = getattr(normaliser, task.kind)(node)
    except _Bad:
        return None
    return None if normaliser.bad else record


def check_examples(ctx: Context) -> None:
    for task in ctx.tasks:
        if task.kind is None:
            continue
        seen_names: dict[str, int] = {}
        seen_content: dict[str, int] = {}
        for keyword in ("example", "test"):
            for n, node in enumerate(task.members.get(keyword, []), start=1):
                entry = _example(ctx, task, node, keyword, n)
                if entry is None:
                    continue
                if node.name is not None:
                    if node.name.text in seen_names:
                        ctx.error(codes.DUPLICATE_EXAMPLE, f"{keyword} '{node.name.text}' is declared twice",
                                  node.name.span, task=task)
                    seen_names[node.name.text] = node.span.line
                content = json.dumps({k: v for k, v in entry.items() if k != "id"}, sort_keys=True)
                if content in seen_content:
                    ctx.error(codes.DUPLICATE_EXAMPLE, f"this {keyword} repeats the one at line "
                              f"{seen_content[content]}", node.span, task=task)
                    continue
                seen_content[content] = node.span.line
                if keyword == "example":
                    task.examples.append(cast(ExampleIR, entry))
                else:
                    task.tests.append(cast(TestIR, entry))


def _example(ctx: Context, task: TaskModel, node: ast.Example, keyword: str, n: int) -> dict | None:
    allowed = IO_KEYS[keyword]
    got: dict[str, ast.IO] = {}
    for io in node.items:
        if io.keyword not in allowed:
            ctx.error(codes.EXAMPLE_INCOMPLETE, f"'{io.keyword}' does not belong in {keyword} "
                      f"(it takes {', '.join(allowed)})", io.span, task=task)
            return None
        if io.keyword in got:
            ctx.error(codes.EXAMPLE_INCOMPLETE, f"'{io.keyword}' is given twice", io.span, task=task)
            return None
        got[io.keyword] = io
    outputs = [k for k in allowed[1:] if k in got and k in RECORD_KEYS]
    if "input" not in got or not outputs:
        missing = "input" if "input" not in got else " or ".join(f"'{k}'" for k in allowed[1:] if k in RECORD_KEYS)
        ctx.error(codes.EXAMPLE_INCOMPLETE, f"this {keyword} has no {missing}", node.span, task=task)
        return None
    inp = normalise_input(ctx, task, got["input"].value)
    if inp is None:
        return None
    entry: dict = {"id": node.name.text if node.name else f"{keyword}-{n}", "input": inp}
    for key in outputs:
        if key == "one_of":  # a list of records, any of which passes
            value = got[key].value
            if not isinstance(value, ast.ListValue) or len(value.items) < 2:
                ctx.error(codes.EXAMPLE_SHAPE, "'one_of' lists the answers that pass, two or more: "
                          "one_of [positive, neutral]", value.span, task=task)
                return None
            records = [normalise_output(ctx, task, v, inp["text"]) for v in value.items]
            if any(r is None for r in records):
                return None
            entry[key] = records
            continue
        record = normalise_output(ctx, task, got[key].value, inp["text"])
        if record is None:
            return None
        entry[key] = record
    if "min_f1" in got:
        node_f1 = got["min_f1"]
        f1 = node_f1.value.value if isinstance(node_f1.value, ast.Num) else None
        if "expect" not in got:
            ctx.error(codes.EXAMPLE_INCOMPLETE, "'min_f1' scores the answer against 'expect', which this "
                      "test lacks", node_f1.span, task=task)
            return None
        if not isinstance(f1, (int, float)) or not 0 < f1 <= 1:
            ctx.error(codes.EXAMPLE_VALUE, "'min_f1' is a number above 0 and at most 1, e.g. min_f1 0.8",
                      node_f1.value.span, task=task)
            return None
        entry["min_f1"] = float(f1)
    return entry
