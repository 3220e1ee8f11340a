"""Hypothesis strategies for canonical records of a task, clean or adversarial."""
import string

from hypothesis import strategies as st

WORD_CHARS = string.ascii_letters + string.digits + "éüßñ漢字"
# Characters that formats use as punctuation, plus quoting, escapes and line breaks.
NASTY = "\"\\\n\t()[]{},;:|=-.'`<>#*/ é漢🙂\u00a0"


def clean_span(n: int):
    """1-3 words, made unique by an index so spans never collide in the input."""
    word = st.text(alphabet=WORD_CHARS, min_size=1, max_size=7)
    return st.lists(word, min_size=1, max_size=3).map(lambda ws: " ".join(ws[:-1] + [ws[-1] + f"x{n}"]))


def nasty_span():
    """Starts and ends with a letter (a span must), anything in between."""
    return st.text(alphabet=NASTY + "ab", min_size=0, max_size=12).map(lambda s: f"a{s}z")


class RecordMaker:
    """Draws a record of the task's kind; `spans` draws every span, numbered in order."""

    def __init__(self, ir: dict, fmt: dict):
        self.ir = ir
        self.kind = ir["kind"]
        self.labels = [x["code"] for x in ir.get("labels", [])]
        self.types = [x["code"] for x in ir.get("types", [])]
        self.roles = {x["code"]: (x.get("roles") or [r["code"] for r in ir.get("roles", [])])
                      for x in ir.get("labels", [])}
        self.sigs = {x["code"]: (x.get("head"), x.get("tail")) for x in ir.get("labels", [])}
        rules = {r["effect"]["name"]: r["effect"].get("args", {}) for r in ir["rules"] if r.get("effect")}
        self.max_items = min(rules.get("max_items", {}).get("n", 20), 4)
        decl = str(fmt["decl"])
        self.with_args = "'args'" in decl or "args" in decl

    def draw(self, data, span) -> dict:
        counter = iter(range(10_000))

        def s():
            return data.draw(span(next(counter)))

        k = self.kind
        n = data.draw(st.integers(0, self.max_items))
        if k == "entities":
            return {"entities": [{"type": data.draw(st.sampled_from(self.labels)), "text": s()}
                                 for _ in range(n)]}
        if k == "relations":
            out = []
            for _ in range(n):
                rel = data.draw(st.sampled_from(self.labels))
                item = {"head": s(), "type": rel, "tail": s()}
                if self.types:
                    head, tail = self.sigs.get(rel, (None, None))
                    item["head_type"] = head or data.draw(st.sampled_from(self.types))
                    item["tail_type"] = tail or data.draw(st.sampled_from(self.types))
                out.append(item)
            return {"relations": out}
        if k == "events":
            out = []
            for _ in range(min(n, 2)):
                t = data.draw(st.sampled_from(self.labels))
                args = [{"role": data.draw(st.sampled_from(self.roles[t])), "text": s()}
                        for _ in range(data.draw(st.integers(0, 3)))]
                out.append({"type": t, "trigger": s(), "arguments": args})
            return {"events": out}
        if k == "triples":
            out = []
            for _ in range(n):
                item = {"subject": s(), "predicate": s(), "object": s()}
                extra = data.draw(st.integers(0, 2)) if self.with_args else 0
                if extra:
                    item["args"] = [s() for _ in range(extra)]
                out.append(item)
            return {"triples": out}
        if k == "qa":
            return {"answer": s() if data.draw(st.booleans()) else None}
        if k == "classify":
            if self.ir.get("multilabel"):
                chosen = data.draw(st.lists(st.sampled_from(self.labels), unique=True, max_size=3))
                return {"labels": chosen}
            return {"label": data.draw(st.sampled_from(self.labels))}
        return {f["name"]: self._value(data, f["type"], s) for f in self.ir["fields"]}

    def _value(self, data, t, s):
        kind = t["type"]
        if kind == "optional":
            return None if data.draw(st.booleans()) else self._value(data, t["inner"], s)
        if kind in ("string", "span"):
            value = s()
            hi = t.get("max_length")
            return value[:hi].rstrip() or "x" if hi else value
        if kind == "int":
            return data.draw(st.integers(t.get("min") if t.get("min") is not None else -1000,
                                         t.get("max") if t.get("max") is not None else 1000))
        if kind == "float":
            lo = t.get("min") if t.get("min") is not None else -1000
            hi = t.get("max") if t.get("max") is not None else 1000
            return round(data.draw(st.floats(lo, hi, allow_nan=False)), 2)
        if kind == "bool":
            return data.draw(st.booleans())
        if kind == "date":
            return f"20{data.draw(st.integers(10, 29))}-0{data.draw(st.integers(1, 9))}-1{data.draw(st.integers(0, 9))}"
        if kind == "enum":
            return data.draw(st.sampled_from(t["values"]))
        if kind == "list":
            lo = t.get("min_items") or 0
            return [self._value(data, t["items"], s) for _ in range(data.draw(st.integers(lo, lo + 2)))]
        return {f["name"]: self._value(data, f["type"], s) for f in t["fields"]}


def spans_of(record, kind: str) -> list[str]:
    """Every string in a record, to build an input that grounds them."""
    out = []

    def walk(v):
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for key, x in v.items():
                if key not in ("type", "role", "head_type", "tail_type", "label", "labels"):
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(record)
    return out
