"""The grammar tree (formats/grammar_tree.py): the builders make it, and the Lark text, the byte
bound, the skeleton and the decoder's derived grammars are read from it."""
from pathlib import Path

import pytest

import humdsl
from humdsl import constraints
from humdsl.formats.grammar_tree import (Alt, GrammarTree, Group, Grounding, Length, Lit, Ref, Repeat, Rule, Seq,
                                         Terminal, Unbounded, lark, max_bytes, without_grounding,
                                         without_length_bounds)
from humdsl.formats.reasoning import REASONING, reasoning_rule, with_reasoning

ROOT = Path(__file__).resolve().parent.parent

TREE = GrammarTree((
    Rule("start", Alt((Lit("none"), Seq((Lit("["), Ref("item"), Repeat(Seq((Lit(", "), Ref("item"))), 0, 2),
                                          Lit("]")))))),
    Rule("item", Seq((Group(Alt((Lit("A"), Lit("BB")))), Lit(": "), Ref("span")))),
    Rule("span", Ref("SPAN1"), suffix=";"),
    Terminal("SPAN1", ("/[a-z ]+/", Ref("LEN_2"), Ref("SUBSTR")), 12),
    Length("LEN_2", "[a-z ]", 1, 5, 1),
    Grounding("SUBSTR", "ab cd", False),
))


def test_the_text_is_llguidances_lark_and_it_takes_what_the_tree_says():
    assert lark(TREE) == "\n".join([
        'start: "none" | "[" item (", " item){0,2} "]"',
        'item: ("A" | "BB") ": " span',
        'span[suffix=";"]: SPAN1',
        "SPAN1: /[a-z ]+/ & LEN_2 & SUBSTR",
        "LEN_2: /[a-z ]{1,5}/",
        'SUBSTR: %regex {"substring_chunks": ["ab", " ", "cd"]}',
    ]) + "\n"
    constraints.validate(lark(TREE))
    assert lark(GrammarTree((Rule("start", Seq(())),))) == 'start: ""\n'  # an empty sequence is the empty string


def test_the_byte_bound_is_the_longest_answer():
    # "[" + 3 items of (BB: + 12 + ;) + 2 separators + "]": the terminal's own bound, not its length's
    assert max_bytes(TREE) == 1 + 3 * (2 + 2 + 12 + 1) + 2 * 2 + 1
    assert max_bytes(GrammarTree((Rule("start", Seq((Ref("LEN_1"), Lit("é")))), Length("LEN_1", ".", 0, 3, 4)))) == 14
    lifted = without_length_bounds(GrammarTree((Rule("start", Ref("LEN_1")), Length("LEN_1", ".", 0, 3, 4))))
    assert lifted is not None
    with pytest.raises(Unbounded):
        max_bytes(lifted)


def test_derived_grammars_are_functions_of_the_tree():
    bounded = without_length_bounds(TREE)
    assert bounded is not None and "LEN_2: /[a-z ]{1,}/" in lark(bounded) \
        and TREE.defs[4] == Length("LEN_2", "[a-z ]", 1, 5, 1)  # the tree it came from is as it was
    loose = without_grounding(TREE)
    assert loose is not None and "SUBSTR" not in lark(loose) and "SPAN1: /[a-z ]+/ & LEN_2\n" in lark(loose)
    reasoned = with_reasoning(TREE, 30)
    assert lark(reasoned).splitlines()[:3] == [
        'start: LEN_REASONING "\\nAnswer: " answer_start',
        'answer_start: "none" | "[" item (", " item){0,2} "]"',
        "LEN_REASONING: /[^\\n]{0,30}/"]
    assert reasoned.spans == {REASONING: reasoning_rule(30)} and max_bytes(reasoned) == 120 + 9 + max_bytes(TREE)
    constraints.validate(lark(reasoned))
    with pytest.raises(ValueError, match="starts with its start rule"):
        with_reasoning(GrammarTree((Rule("other", Lit("")),)), 5)


def test_law3_a_records_free_string_is_bounded_by_its_own_length_not_the_inputs():
    """A string field is the model's own text: a short input does not shorten it (a span field,
    copied from the input, is). The budget once took both from the input's length."""
    fmt = humdsl.load(ROOT / "examples" / "invoice.hum").task("invoice").format("json_record")
    source = "Acme 7"
    record = {"vendor": "Acme", "invoice_number": "7", "invoice_date": "2024-03-12", "due_date": None,
              "currency": "EUR", "total": 1.5,
              "line_items": [{"description": "\u0001" * 120, "quantity": 1, "unit_price": 1.5, "amount": 1.5}] * 50}
    text = fmt.render(record, source=source)
    assert len(text.encode()) <= fmt.max_bytes(source=source)


def test_law3_the_inline_bound_counts_every_mark_a_word_can_hold():
    """"U.S." is one word and can hold two marks: counting words fell short of such answers."""
    fmt = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03").format("tagged")
    source = "U.S. x"
    record = {"entities": [{"text": t, "type": "MISC"} for t in ("U", "S", "x")]}
    text = fmt.render(record, source=source)
    assert text == "[U](MISC).[S](MISC). [x](MISC)" and len(text.encode()) <= fmt.max_bytes(source=source)
