"""formats/gbnf.py: every bundled task and format written in GBNF accepts the same answers as
its Lark grammar. llguidance is the judge: the GBNF text is read back into llguidance's Lark
dialect (tests/support/gbnf_reader.py, apart from the writer), then answers sampled with random
logits from each grammar must be accepted by the other."""
import numpy as np
import pytest

from humdsl import constraints
from humdsl.formats import build
from humdsl.formats.gbnf import gbnf

from support.gbnf_reader import gbnf_as_lark
from support.tasks import sample_source, task_format_pairs

PAIRS = task_format_pairs()
IDS = [p[0] for p in PAIRS]
@pytest.mark.parametrize("pid,ir,fmt_ir", PAIRS, ids=IDS)
@pytest.mark.parametrize("where", ["example", "no span"])
def test_gbnf_accepts_what_the_lark_grammar_accepts(pid, ir, fmt_ir, where, tokenizers):
    hf, lltok = tokenizers
    fmt = build(ir, fmt_ir)
    source = sample_source(ir) if where == "example" else ":"  # ":" holds no span of any format
    tree = fmt.grammar_tree(source=source)
    lark = fmt.grammar(source=source)
    back = constraints.validate(gbnf_as_lark(gbnf(tree)), lltok)
    budget = fmt.budget(source=source)
    rng = np.random.default_rng(7)
    for grammar, judge in [(constraints.validate(lark, lltok), back), (back, lark)]:
        for _ in range(12):
            s = constraints.sample(grammar, lltok, budget, rng)
            if s.finished:
                ok, err = constraints.accepts(judge, s.text, hf, lltok)
                assert ok, f"{pid}: {s.text!r} accepted by one grammar, not the other ({err})"


def test_grounded_spans_are_the_inputs_own_whole_chunks(tokenizers):
    hf, lltok = tokenizers
    pairs = {p[0]: p for p in PAIRS}
    _, ir, fmt_ir = pairs["relations.conll04:relation_tuples"]
    source = "Anna Kerr, who lived in Kettering, was killed by Tom Bale."
    grammar = constraints.validate(gbnf_as_lark(gbnf(build(ir, fmt_ir).grammar_tree(source=source))), lltok)
    for right in ["(Tom Bale, Kill, Anna Kerr)", "(Tom Bale, Kill, Anna Kerr, who)"]:  # a tail may hold ", "
        assert constraints.accepts(grammar, right, hf, lltok)[0], right
    for wrong in ["(Tom, Kill, Anna Ker)", "(Tom Bale, Kill, Anna Kerr.)", "(Bob, Kill, Anna Kerr)",
                  "(Anna Kerr, who, Kill, Tom Bale)", "(Tom Bale, Kills, Anna Kerr)"]:
        assert not constraints.accepts(grammar, wrong, hf, lltok)[0], wrong


def test_literals_and_classes_are_escaped():
    from humdsl.formats.grammar_tree import GrammarTree, Length, Lit, Ref, Rule, Seq, Terminal

    tree = GrammarTree((Rule("start", Seq((Lit('a "b"\n\\'), Ref("LEN_1"), Ref("V2")))),
                        Length("LEN_1", r'[^"\\\x00-\x1f]', 1, 3, 1),
                        Terminal("V2", (r"/[0-9]{2}(\.[0-9]+)?/",), 10)))
    assert gbnf(tree).splitlines() == [
        "root ::= start",
        'start ::= "a \\"b\\"\\n\\\\" LEN-1 V2',
        'LEN-1 ::= ([^\\"\\\\\\x00-\\x1F]){1,3}',
        'V2 ::= ([0-9]){2,2} (("." ([0-9]){1,})){0,1}',
    ]


@pytest.mark.parametrize("pid", ["relations.conll04:relation_tuples", "ner.conll03:json_by_label",
                                 "qa.squad:answer_span", "events.phee:event_lines"])
def test_a_spans_automaton_and_its_regexes_give_the_same_substrings(pid):
    """Span terminals are written from the span's automaton (fast); a record's grounded field by
    testing every candidate against the terminal's regexes. On span terminals both must agree."""
    from humdsl.formats.gbnf import _checked_chains, _grounded, _matcher, _span_chains
    from humdsl.formats.grammar_tree import Grounding, Ref, Terminal

    _, ir, fmt_ir = {p[0]: p for p in PAIRS}[pid]
    source = 'Dr. Ann Lee-Park (54) said: "the plant, in Aiken, S.C., shut down; it\'s \\ safe" today.'
    tree = build(ir, fmt_ir).grammar_tree(source=source)
    defs = {d.name: d for d in tree.defs}
    compared = 0
    for name, rule in tree.spans.items():
        t = defs[name]
        assert isinstance(t, Terminal)
        g = next(p for p in t.parts if isinstance(p, Ref) and isinstance(defs[p.name], Grounding))
        checks = [_matcher(p, defs, name) for p in t.parts if p is not g]
        by_regex = _grounded(name, _checked_chains(source, defs[g.name].json_escaped, checks, t.max_bytes))
        assert _grounded(name, _span_chains(source, rule)) == by_regex
        compared += 1
    assert compared


def test_a_free_text_phrase_keeps_its_shape_bound_and_stops(tokenizers):
    """Open IE's predicate is the model's own words: any text of the span's shape up to 200
    characters, but in `triple_tuples` never holding "; ", which ends it."""
    hf, lltok = tokenizers
    _, ir, fmt_ir = {p[0]: p for p in PAIRS}["openie.carb:triple_tuples"]
    source = "Ann Lee founded Brightline in Oslo."
    grammar = constraints.validate(gbnf_as_lark(gbnf(build(ir, fmt_ir).grammar_tree(source=source))), lltok)
    for right in ["(Ann Lee; founded; Brightline)", "(Ann Lee; was the founder of; Brightline)",
                  "(Ann Lee; set up (in 2001); Brightline)", f"(Ann Lee; {'x' * 200}; Brightline)"]:
        assert constraints.accepts(grammar, right, hf, lltok)[0], right
    for wrong in ["(Ann Lee; founded;; Brightline)", "(Ann Lee;  founded; Brightline)", "(Ann Lee; ; Brightline)",
                  f"(Ann Lee; {'x' * 201}; Brightline)", "(Ann Lee; founded,; Brightline)"]:
        assert not constraints.accepts(grammar, wrong, hf, lltok)[0], wrong


def test_what_gbnf_cannot_write_is_named():
    from humdsl.formats.gbnf import GbnfUnsupported
    from humdsl.formats.grammar_tree import GrammarTree, Ref, Rule, Terminal

    for parts, message in [((r"/\bword/",), "has no GBNF form"), (("%json {}",), "cannot be written in GBNF"),
                           ((r"/[a-z]+/", r"/[a-c]+/"), "intersects 2 languages")]:
        tree = GrammarTree((Rule("start", Ref("T")), Terminal("T", parts, 10)))
        with pytest.raises(GbnfUnsupported, match=message):
            gbnf(tree)


def test_a_regex_space_is_the_grammar_engines_not_pythons():
    """`\\s` in a format's regex means Unicode White_Space (spans.WHITESPACE), as llguidance reads
    it; Python's \\s also takes U+001C-U+001F, which the GBNF must not."""
    from humdsl.formats.grammar_tree import GrammarTree, Ref, Rule, Terminal

    line = gbnf(GrammarTree((Rule("start", Ref("T")), Terminal("T", (r"/[^\s,]/",), 4)))).splitlines()[-1]
    assert line.startswith("T ::= [^\\t-\\r ") and "\\u3000" in line and "\\x1C" not in line
