"""Masks from the grammar without its length bounds, each pick checked with the exact grammar
(runtime/checked.py): the grammar text marks its length bounds, lifting them widens the language,
and the jump-forward decoder's output is the exact grammar's whether or not it checks."""
import pytest

from humdsl.formats import build
from humdsl.formats.grammar_tree import (Alt, GrammarTree, Group, Length, Lit, Ref, Rule, Seq, Terminal, lark,
                                        without_length_bounds)
from humdsl.runtime.checked import CheckedMatcher
from humdsl.runtime.protocol import Grammar, Sampling

from support.matchers import Consenting
from support.tasks import all_tasks

GREEDY = Sampling()


def test_lifting_length_bounds_touches_only_length_terminals():
    json_char = r'(\\(["\\\/bfnrt]|u[0-9a-fA-F]{4})|[^"\\\x00-\x1f])'
    tree = GrammarTree((
        Rule("start", Seq((Ref("V2"), Ref("LEN_1"), Ref("LEN_REASONING")))),
        Length("LEN_1", "(?s:.)", 1, 200, 4),
        Length("LEN_REASONING", r"[^\n]", 0, 40, 4),
        Terminal("V2", ("/[0-9]{1,3}/",), 3),
        Length("LEN_3", json_char, 1, 200, 6),
    ))
    lifted = without_length_bounds(tree)
    assert lifted is not None
    assert lark(lifted).splitlines() == [
        "start: V2 LEN_1 LEN_REASONING",
        "LEN_1: /(?s:.){1,}/",
        "LEN_REASONING: /[^\\n]{0,}/",
        "V2: /[0-9]{1,3}/",  # not a length terminal: a bound on digits stays
        'LEN_3: /(\\\\(["\\\\\\/bfnrt]|u[0-9a-fA-F]{4})|[^"\\\\\\x00-\\x1f]){1,}/',
    ]
    assert without_length_bounds(GrammarTree((Rule("start", Ref("V2")), tree.defs[3]))) is None  # nothing to lift


def _openie():
    ir = next(ir for tid, ir in all_tasks() if tid.endswith("carb"))
    return ir, {f["name"]: build(ir, f) for f in ir["formats"]}


@pytest.mark.parametrize("name", ["triple_tuples", "json_triples"])
def test_a_free_text_hole_is_bounded_by_a_length_terminal_that_can_be_lifted(name, tokenizers):
    from humdsl import constraints

    hf = tokenizers[0]
    lltok = constraints.ll_tokenizer(hf)
    ir, formats = _openie()
    fmt = formats[name]
    source = ir["examples"][0]["input"]["text"]
    tree = fmt.grammar_tree(source=source)
    exact, lifted = lark(tree), without_length_bounds(tree)
    assert lifted is not None
    loose = lark(lifted)
    record = {"triples": [{"subject": "The Hollis Company", "predicate": "works with",
                           "object": "a maker of garden tools"}]}
    gold = fmt.render(record, source=source)
    assert constraints.accepts(exact, gold, hf, lltok)[0] and constraints.accepts(loose, gold, hf, lltok)[0]
    # a predicate past the 200-character bound: only the loose grammar takes it
    too_long = gold.replace("works with", "works " * 40 + "with")
    assert not constraints.accepts(exact, too_long, hf, lltok)[0]
    assert constraints.accepts(loose, too_long, hf, lltok)[0]


def test_the_checked_matcher_drops_a_proposer_that_falls_out_of_step():
    m = CheckedMatcher(Consenting(True), Consenting(False))
    assert m.consume_token(5) and m.proposer is None
    m = CheckedMatcher(Consenting(True), Consenting(True))
    assert m.consume_token(5) and m.proposer is not None


@pytest.fixture(scope="module")
def loaded(tokenizers, tiny_model):
    from humdsl.runtime.models import LoadedModel

    return LoadedModel(tiny_model, tokenizers[0], "tiny", "cpu")


_BOUNDED_TREE = GrammarTree((Rule("start", Seq((Lit("("), Ref("LEN_1"), Lit(")")))), Length("LEN_1", "[a-z]", 1, 3, 1)))
BOUNDED = Grammar(lark(_BOUNDED_TREE), _BOUNDED_TREE)
PROMPTS = ["Pick a word.\n", "Another word, please.\n", "Text: a b c\n", "Name it:\n", "Go on.\n"]


def test_picks_the_exact_grammar_refuses_are_made_again_under_its_mask(loaded):
    import re

    from humdsl.runtime.jumpforward import JumpForwardDecoder

    checked, plain = JumpForwardDecoder(loaded), JumpForwardDecoder(loaded, checked_masks=False)
    got = checked.generate(PROMPTS, [BOUNDED] * len(PROMPTS), 16, GREEDY)
    assert got == plain.generate(PROMPTS, [BOUNDED] * len(PROMPTS), 16, GREEDY)
    assert all(re.fullmatch(r"\([a-z]{1,3}\)", text) for text in got), got
    # the proposer's argmax ran past the bound somewhere, and the exact mask picked again there
    assert checked.stats["proposed"] > checked.stats["refused"] > 0
    assert plain.stats["proposed"] == 0


def test_seeded_sampling_draws_from_the_exact_distribution(loaded):
    """At the bound the proposer allows more than the exact grammar; a refused draw is drawn
    again under the exact mask, which leaves each answer's probability as it was."""
    from collections import Counter

    from humdsl.runtime.jumpforward import JumpForwardDecoder

    tree = GrammarTree((Rule("start", Seq((Ref("LEN_1"), Group(Alt((Lit("."), Lit(","), Lit("!"))))))),
                        Length("LEN_1", "[ab]", 1, 1, 1)))
    grammar = Grammar(lark(tree), tree)
    assert grammar.lark == 'start: LEN_1 ("." | "," | "!")\nLEN_1: /[ab]{1,1}/\n'
    checked, plain = JumpForwardDecoder(loaded), JumpForwardDecoder(loaded, checked_masks=False)
    n = 300
    a = Counter(checked.generate(["Go.\n"], [grammar], 4, Sampling(1.0, 1.0, s))[0] for s in range(n))
    b = Counter(plain.generate(["Go.\n"], [grammar], 4, Sampling(1.0, 1.0, s))[0] for s in range(n))
    assert set(a) <= {x + y for x in "ab" for y in ".,!"} and len(b) > 2
    assert checked.stats["refused"] > 0
    for answer in set(a) | set(b):  # the same distribution, within sampling noise (~4 sigma)
        assert abs(a[answer] - b[answer]) / n < 0.12, (a, b)


def test_with_top_p_the_masks_come_from_the_exact_grammar(loaded):
    from humdsl.runtime.jumpforward import JumpForwardDecoder

    dec = JumpForwardDecoder(loaded)
    dec.generate(PROMPTS[:2], [BOUNDED] * 2, 16, Sampling(1.0, 0.9, 7))
    assert dec.stats["proposed"] == 0  # the nucleus depends on the set the mask allows
    dec.generate(PROMPTS[:2], [BOUNDED] * 2, 16, Sampling(1.0, 1.0, 7))
    assert dec.stats["proposed"] > 0
