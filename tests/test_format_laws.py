"""The laws every format obeys, over every spec task and every format it uses (ARCHITECTURE §4):

1. parse(render(r)) == normalise(r) for every record render accepts, and render accepts every
   ordinary record; JSON formats also take quotes, backslashes, line breaks and non-ASCII text.
2. every string the grammar accepts parses and validates (sampled with random logits under the
   constraint: what a randomly initialised model emits);
3. every sample finishes inside the derived token budget;
4. each rendered gold answer is accepted by the grammar (llguidance's own matcher), and JSON
   answers validate against the emitted JSON Schema.
"""
import json
import zlib
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from humdsl import constraints
from humdsl.formats import Unrenderable, build

from support.records import RecordMaker, clean_span, nasty_span, spans_of
from support.tasks import all_tasks, sample_source, task_format_pairs

PAIRS = task_format_pairs()
IDS = [p[0] for p in PAIRS]
SAMPLES = int(os.environ.get("HUMC_LAW_SAMPLES", "100"))


def _source_for(record: dict, kind: str) -> str:
    return " ".join(spans_of(record, kind)) + " ." if record else "."


@pytest.mark.parametrize("pid,ir,fmt_ir", PAIRS, ids=IDS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_law1_ordinary_records_round_trip(pid, ir, fmt_ir, data):
    fmt = build(ir, fmt_ir)
    record = RecordMaker(ir, fmt_ir).draw(data, clean_span)
    source = _source_for(record, ir["kind"])
    if fmt_ir["name"] == "triple_tuples" and any(t.get("args") for t in record.get("triples", [])):
        with pytest.raises(Unrenderable):
            fmt.render(record, source=source)  # binary tuples cannot hold further arguments
        return
    text = fmt.impl.render(record, None, source)  # the raw derived function, not the checked one
    assert fmt.impl.parse(text, None, source) == fmt.normalise(record, None, source)


@pytest.mark.parametrize("pid,ir,fmt_ir", PAIRS, ids=IDS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_law1_awkward_records_round_trip_or_are_refused(pid, ir, fmt_ir, data):
    fmt = build(ir, fmt_ir)
    record = RecordMaker(ir, fmt_ir).draw(data, lambda n: nasty_span())
    source = _source_for(record, ir["kind"])
    try:
        text = fmt.impl.render(record, None, source)
    except Unrenderable:
        assert fmt.shape != "json" or ir["kind"] == "record", "JSON escapes every character"
        return
    try:
        back = fmt.impl.parse(text, None, source)
    except Exception as e:  # the facade would have refused this record
        with pytest.raises(Unrenderable):
            fmt.render(record, source=source)
        assert fmt.shape != "json", f"JSON output failed to parse: {e}"
        return
    if back != fmt.normalise(record, None, source):
        with pytest.raises(Unrenderable):
            fmt.render(record, source=source)
        assert fmt.shape != "json"


@pytest.mark.parametrize("pid,ir,fmt_ir", PAIRS, ids=IDS)
def test_law2_and_3_every_sampled_output_parses_within_budget(pid, ir, fmt_ir, tokenizers):
    import numpy as np

    _, lltok = tokenizers
    fmt = build(ir, fmt_ir)
    source = sample_source(ir)
    grammar = constraints.validate(fmt.grammar(source=source), lltok)
    budget = fmt.budget(source=source)
    rng = np.random.default_rng(zlib.crc32(pid.encode()))  # stable across runs
    for _ in range(SAMPLES):
        s = constraints.sample(grammar, lltok, budget, rng)
        assert not s.error, f"the matcher stopped after {s.tokens} tokens: {s.error[:200]}"
        assert s.finished, f"did not finish in {budget} tokens: {s.text[:200]!r}"
        fmt.parse(s.text, source=source)  # raises if the text does not parse or validate


@pytest.mark.parametrize("pid,ir,fmt_ir", PAIRS, ids=IDS)
def test_law4_gold_answers_are_accepted(pid, ir, fmt_ir, tokenizers):
    import jsonschema

    hf, lltok = tokenizers
    fmt = build(ir, fmt_ir)
    rendered = 0
    for ex in ir["examples"] + [t for t in ir["tests"] if "expect" in t]:
        record = ex.get("output") or ex.get("expect")
        source = ex["input"]["text"]
        try:
            text = fmt.render(record, source=source)
        except Unrenderable:
            continue
        rendered += 1
        ok, err = constraints.accepts(fmt.grammar(source=source), text, hf, lltok)
        assert ok, f"{text!r} rejected: {err[:500]}"
        schema = fmt.json_schema()
        if schema is not None:
            jsonschema.validate(json.loads(text), schema)
    if ir["examples"] and fmt_ir["name"] != "triple_tuples":
        assert rendered, "no example of the task could be written in this format"


@pytest.mark.parametrize("pid,ir,fmt_ir", [p for p in PAIRS if p[1]["kind"] != "record"],
                         ids=[p[0] for p in PAIRS if p[1]["kind"] != "record"])
def test_law2_when_the_input_has_no_possible_span(pid, ir, fmt_ir, tokenizers):
    """An input like ':' offers no grounded span: the grammar must not let the model open an item
    it cannot finish (llguidance does not look ahead into an empty terminal)."""
    import numpy as np

    _, lltok = tokenizers
    fmt = build(ir, fmt_ir)
    grammar = constraints.validate(fmt.grammar(source=":"), lltok)
    rng = np.random.default_rng(zlib.crc32(pid.encode()))
    for _ in range(10):
        s = constraints.sample(grammar, lltok, fmt.budget(source=":"), rng)
        assert s.finished, s.text
        fmt.parse(s.text, source=":")


# A relation phrase a sampler once wrote under openie triple_tuples: the mask after its last ';'
# costs llguidance's lexer more than its default per-step fuel (also under GPT-2's and SmolLM2's
# vocabularies), and an exhausted matcher gives an empty mask: the answer was lost mid-way.
COSTLY_PREFIX = ('(was founded; set us eachedscurrencyguidel byte11 typeibrivcom0000 of f message '
                 'betweenESC"rivug -------------------------------- sha sentence placesventarisiod '
                 'class app countondpanded```iteral by GB last securacy; was)\n(was founded in 1902; '
                 'wouldproductree\x00eliv spans nothingounded of900M remov exampleumo ap`;;')


def _mask_after(matcher, ids: list[int]) -> int:
    """Feed `ids` computing a mask before each, as decoding does; how many tokens the last allows
    (an errored matcher allows EOS alone)."""
    import numpy as np

    for t in ids:
        matcher.compute_bitmask()
        assert matcher.consume_token(t), matcher.get_error()
    bits = np.unpackbits(np.frombuffer(bytes(matcher.compute_bitmask()), dtype=np.uint8))
    return int(bits.sum())


def test_law2_a_costly_mask_step_does_not_end_the_answer(tokenizers):
    from llguidance import LLMatcher

    hf, lltok = tokenizers
    (pid, ir, fmt_ir), = [p for p in PAIRS if p[0] == "openie.carb:triple_tuples"]
    source = sample_source(ir)
    grammar = constraints.validate(build(ir, fmt_ir).grammar(source=source), lltok)
    ids = hf.encode(COSTLY_PREFIX, add_special_tokens=False)

    # the case still exercises the limit: llguidance's default fuel runs out on it (and the
    # errored matcher then allows EOS alone, ending the answer unfinished)
    default = LLMatcher(lltok, grammar, log_level=0)
    assert _mask_after(default, ids) <= 1 and "too many expressions" in default.get_error()

    m = constraints.new_matcher(lltok, grammar)
    assert _mask_after(m, ids) > 1 and not m.is_error(), m.get_error()


def test_law3_the_budget_holds_the_longest_answers_of_a_free_hole(tokenizers):
    """The open-IE predicate is free text (200 characters, each up to 6 bytes as a JSON escape)
    beside grounded spans of a short input: the budget counts each hole at its own bound."""
    hf, lltok = tokenizers
    ir = next(ir for tid, ir in all_tasks() if tid.endswith("carb"))
    fmt = build(ir, next(f for f in ir["formats"] if f["name"] == "json_triples"))
    source, span = "Ann met Bo.", "Ann met Bo"
    longest = {"triples": [{"subject": span, "predicate": "a" + "\u0001" * 198 + chr(0x4E00 + i),
                            "object": span, "args": [span] * 16} for i in range(30)]}
    text = fmt.render(longest, source=source)
    assert constraints.accepts(fmt.grammar(source=source), text, hf, lltok)[0]
    assert len(text.encode()) < fmt.budget(source=source)  # a token is at least one byte


def test_law2_a_span_that_ends_with_the_start_of_its_literal_is_not_cut_short(tokenizers):
    """Before " | ", a head ending in " |" ("x: |") would be read back as "x:" (the first " | "
    ends it, in parse and in llguidance's lazy lexeme): the grammar refused it only when the cut
    span was itself a span, so it took "x: | | Kill | y", which parse refuses."""
    from humdsl.formats import Unrenderable

    hf, lltok = tokenizers
    ir = next(ir for tid, ir in all_tasks() if tid.endswith("conll04"))
    fmt = build(ir, next(f for f in ir["formats"] if f["name"] == "triple_lines"))
    source = "x: | y works for z ."
    assert not constraints.accepts(fmt.grammar(source=source), "x: | | Kill | y", hf, lltok)[0]
    with pytest.raises(Unrenderable, match="ends with ' \\|'"):
        fmt.render({"relations": [{"head": "x: |", "type": "Kill", "tail": "y"}]}, source=source)
    answer = fmt.render({"relations": [{"head": "y works", "type": "Kill", "tail": "x: |"}]}, source=source)
    assert constraints.accepts(fmt.grammar(source=source), answer, hf, lltok)[0]  # a greedy tail may
