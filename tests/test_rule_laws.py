"""The rule law: every preference rule that `humc compile` reports as enforced (by the grammar,
the parser or the decoder) holds for every answer the decoder can produce, over every spec task
and format.

Answers are sampled under each format's grammar (for rules kept while decoding, under the
decoder's own language, formats/span_rules.py) with random logits (what a randomly initialised
model emits) and parsed; each enforced rule is then checked on the text or the record, by its own
definition here, not by the code that enforces it."""
import itertools
import os
import random
import zlib

import pytest

from humdsl import constraints
from humdsl.artifacts import rule_table
from humdsl.formats import build

from support.tasks import sample_source, task_format_pairs

RUN_TIME = ("grammar", "parser")  # "synthesis" rules hold on gold answers, and are advice at run time
SAMPLES = int(os.environ.get("HUMC_RULE_SAMPLES", "60"))
PAIRS = [p for p in task_format_pairs()
         if any(r["enforced_by"] in RUN_TIME and r["effect"] for r in rule_table(p[1], build(p[1], p[2])))]
DECODER_PAIRS = [p for p in task_format_pairs()
                 if any(r["enforced_by"] == "decoder" for r in rule_table(p[1], build(p[1], p[2])))]


def _items(record: dict, kind: str) -> list[dict]:
    if kind == "classify":
        return [{"label": x} for x in record.get("labels", [record.get("label")])] if record else []
    if kind == "qa":
        return [] if record.get("answer") is None else [record]
    return list(record.get({"entities": "entities", "relations": "relations", "events": "events",
                            "triples": "triples"}[kind], []))


def _spans(item: dict, kind: str) -> list[str]:
    fields = {"entities": ["text"], "relations": ["head", "tail"], "events": ["trigger"],
              "triples": ["subject", "object"], "qa": ["answer"], "classify": []}[kind]
    out = [item[f] for f in fields if item.get(f) is not None]
    out += [a["text"] for a in item.get("arguments", [])] + [a["text"] for a in item.get("args", [])
                                                              if isinstance(a, dict)]
    return out


def _broken(effect: dict, record: dict, kind: str, grouped: bool, source: str) -> str | None:
    """Why the record breaks the rule, or None."""
    items = _items(record, kind)
    name, n = effect["name"], effect.get("args", {}).get("n")
    if name == "max_items":
        if grouped:  # keyed by label: the bound is per label
            counts: dict = {}
            for it in items:
                counts[it.get("type")] = counts.get(it.get("type"), 0) + 1
            worst = max(counts.values(), default=0)
        else:
            worst = len(items)
        return f"{worst} items, more than {n}" if worst > n else None
    if name == "dedupe":
        seen = []
        for it in items:
            if it in seen:
                return f"{it} listed twice"
            seen.append(it)
        return None
    if name == "grounded":
        for it in items:
            for span in _spans(it, kind):
                if span not in source:
                    return f"{span!r} is not in the input"
        return None
    if name == "max_words":
        for it in items:
            for span in _spans(it, kind):
                if len(span.split()) > n:
                    return f"{span!r} has more than {n} words"
        return None
    if name in ("ordered", "no_overlap") and kind == "entities":  # the inline format's marks
        return _broken_while_decoding(name, [[it["text"] for it in items]], source)
    raise AssertionError(f"no check written for the enforced effect {name!r}: add one here")


def _placements(texts: list[tuple[str, str]], source: str):
    """Every way to put each (list, text) at a place of the input where it occurs as whole words
    and punctuation (start, end offsets)."""
    import re

    cuts = {0, len(source)} | {m.start() for m in re.finditer(r"\w+|\s+|[^\w\s]", source)} | \
        {m.end() for m in re.finditer(r"\w+|\s+|[^\w\s]", source)}
    options = []
    for _, text in texts:
        found = [(a, a + len(text)) for a in range(len(source)) if source.startswith(text, a)
                 and a in cuts and a + len(text) in cuts]
        options.append(found)
    yield from itertools.product(*options)


def _broken_while_decoding(name: str, lists: list[list[str]], source: str) -> str | None:
    """The rules kept while decoding, on each list's span texts as written (none dropped)."""
    if name == "dedupe":
        for texts in lists:
            if len(set(texts)) < len(texts):
                return f"a span written twice in {texts}"
        return None
    spans = [(k, t) for k, texts in enumerate(lists) for t in texts]
    for place in _placements(spans, source):
        if name == "ordered" and all(place[i][0] <= place[j][0] for i in range(len(spans))
                                     for j in range(i + 1, len(spans)) if spans[i][0] == spans[j][0]):
            return None
        if name == "no_overlap" and all(place[i][1] <= place[j][0] or place[j][1] <= place[i][0]
                                        for i in range(len(spans)) for j in range(i + 1, len(spans))):
            return None
    return f"no placement of {spans} keeps {name}"


@pytest.mark.parametrize("pid,ir,fmt_ir", PAIRS, ids=[p[0] for p in PAIRS])
def test_every_rule_reported_as_enforced_holds_for_every_sampled_answer(pid, ir, fmt_ir, tokenizers):
    import numpy as np

    _, lltok = tokenizers
    fmt = build(ir, fmt_ir)
    enforced = {r["effect"]: r for r in rule_table(ir, fmt) if r["enforced_by"] in RUN_TIME and r["effect"]}
    effects = {r["effect"]["name"]: r["effect"] for r in ir["rules"] if r.get("effect")}
    source = sample_source(ir)
    grammar = constraints.validate(fmt.grammar(source=source), lltok)
    budget = fmt.budget(source=source)
    grouped = bool(getattr(fmt.impl, "grouped", False))
    rng = np.random.default_rng(zlib.crc32(pid.encode()))
    for _ in range(SAMPLES):
        s = constraints.sample(grammar, lltok, budget, rng)
        assert s.finished and not s.error, s.error
        record = fmt.parse(s.text, source=source)
        for name in enforced:
            why = _broken(effects[name], record, ir["kind"], grouped, source)
            assert why is None, f"rule {name} is reported as enforced, yet {s.text!r} parses: {why}"


def test_the_multilabel_bound_is_the_rule_not_the_label_count():
    """ticket_triage prefers max_items(3) over five labels: four labels neither parse nor fit the grammar."""
    from support.tasks import all_tasks

    ir = dict(all_tasks())["support_tickets.ticket_triage"]
    for fmt_ir in ir["formats"]:
        fmt = build(ir, fmt_ir)
        four = {"labels": ["billing", "bug", "account", "outage"]}
        with pytest.raises(Exception):
            fmt.render(four)
        three = fmt.render({"labels": ["billing", "bug", "account"]})
        assert fmt.parse(three) == {"labels": ["billing", "bug", "account"]}


@pytest.mark.parametrize("pid,ir,fmt_ir", DECODER_PAIRS, ids=[p[0] for p in DECODER_PAIRS])
def test_every_rule_kept_while_decoding_holds_for_every_sampled_answer(pid, ir, fmt_ir, tokenizers):
    from humdsl.runtime.dag_matcher import DagMatcher, TokenTable

    _, lltok = tokenizers
    fmt = build(ir, fmt_ir)
    kept = [r["effect"] for r in rule_table(ir, fmt) if r["enforced_by"] == "decoder"]
    raw = build({**ir, "rules": [r for r in ir["rules"] if (r.get("effect") or {}).get("name") != "dedupe"]}, fmt_ir)
    source = "Ann met Bo in Paris , and Ann met Bo in Lyon ; Paris is not Lyon ."
    table, rng = TokenTable.of(lltok), random.Random(pid)
    for _ in range(max(10, SAMPLES // 3)):
        dm, text = DagMatcher(fmt.language(source=source, keep_rules=True), table), b""
        while not dm.is_stopped():
            t = rng.choice(dm.allowed_tokens())
            assert dm.consume_token(t), dm.get_error()
            text += table.bytes_of.get(t, b"")
        items = raw.parse(text.decode(), source=source)["entities"]
        lists = [[it["text"] for it in items]] if not fmt.grouped else \
            [[it["text"] for it in items if it["type"] == label] for label in fmt.schema.batch_or_all(None)]
        for name in kept:
            why = _broken_while_decoding(name, lists, source)
            assert why is None, f"rule {name} is reported as kept while decoding, yet {text!r} is written: {why}"
