"""Early start (jumpforward.py, checked.EarlyStart): a grounded grammar is built in a background
thread while the model reads the prompt; meanwhile its row runs on the same grammar without
grounding, compiled once per format, and the tokens that forced are taken into the real matcher."""
from concurrent.futures import Future

import pytest

from humdsl.formats import build
from humdsl.formats.grammar_tree import GrammarTree, Grounding, Lit, Ref, Rule, Seq, Terminal, lark, without_grounding
from humdsl.prompts import PromptChoice, prompt_text
from humdsl.runtime.checked import EarlyStart
from humdsl.runtime.protocol import DecodeError, Grammar, GrammarRejected, Sampling

from support.matchers import Consenting
from support.tasks import all_tasks

GREEDY = Sampling()


def test_lifting_grounding_drops_the_substring_terminals_and_their_uses():
    tree = GrammarTree((
        Rule("start", Seq((Ref("SPAN1"), Ref("JSPAN2")))),
        Terminal("SPAN1", ("/[a-z]+/", "/[^)]*/", Ref("SUBSTR")), 10),
        Terminal("JSPAN2", ("/[a-z]+/", Ref("JSUBSTR")), 10),
        Grounding("SUBSTR", "a b", False),
        Grounding("JSUBSTR", "a b", True),
    ))
    assert 'SUBSTR: %regex {"substring_chunks": ["a", " ", "b"]}' in lark(tree)
    lifted = without_grounding(tree)
    assert lifted is not None and lark(lifted) == "start: SPAN1 JSPAN2\nSPAN1: /[a-z]+/ & /[^)]*/\nJSPAN2: /[a-z]+/\n"
    assert without_grounding(GrammarTree((Rule("start", Ref("X")), Terminal("X", ("/x/",), 1)))) is None  # nothing grounded
    # a use this function does not know how to lift: no early start rather than a wrong grammar
    assert without_grounding(GrammarTree((Rule("start", Ref("SUBSTR")), Grounding("SUBSTR", "a", False)))) is None


@pytest.fixture(scope="module")
def loaded(tokenizers, tiny_model):
    from humdsl.runtime.models import LoadedModel

    return LoadedModel(tiny_model, tokenizers[0], "tiny", "cpu")


def _ner_case(name: str):
    ir = next(ir for tid, ir in all_tasks() if tid.endswith("conll03"))
    fmt = build(ir, next(f for f in ir["formats"] if f["name"] == name))
    rows = [dict(ex["input"]) for ex in ir["examples"] + ir["tests"]][:3]
    choice = PromptChoice(examples=[])
    prompts = [prompt_text(ir, fmt, r, choice) for r in rows]
    grammars = [Grammar(lark(t), t) for t in (fmt.grammar_tree(source=r["text"]) for r in rows)]
    return prompts, grammars, min(40, max(fmt.budget(source=r["text"]) for r in rows))


@pytest.mark.parametrize("name", ["json_by_label", "tuples"])
def test_the_real_grammar_is_built_off_the_main_thread_and_the_output_is_unchanged(loaded, name, monkeypatch):
    import threading

    from humdsl.runtime import jumpforward
    from humdsl.runtime.jumpforward import JumpForwardDecoder

    built_in: list[str] = []
    real_new_matcher = jumpforward.new_matcher

    def recording(lltok, grammar, **k):
        if "SUBSTR" in grammar:
            built_in.append(threading.current_thread().name)
        return real_new_matcher(lltok, grammar, **k)
    monkeypatch.setattr(jumpforward, "new_matcher", recording)

    prompts, grammars, budget = _ner_case(name)
    early, plain = JumpForwardDecoder(loaded, early_start=True), JumpForwardDecoder(loaded, early_start=False)
    got = early.generate(prompts, grammars, budget, GREEDY)
    assert built_in and all(t.startswith("humdsl-grammar") for t in built_in)
    assert early.stats["early"] == len(prompts)
    assert len(early._loose) == 1  # one grammar without grounding serves every input of the format
    built_in.clear()
    assert got == plain.generate(prompts, grammars, budget, GREEDY)
    assert built_in and all(t == threading.current_thread().name for t in built_in)
    assert plain.stats["early"] == 0


def test_a_grammar_rejected_in_the_background_is_still_a_typed_error_naming_its_row(loaded):
    from humdsl.runtime.jumpforward import JumpForwardDecoder

    # the tree lifts to a grammar that starts the row; the real grammar's text is then rejected
    tree = GrammarTree((Rule("start", Seq((Lit("("), Ref("SPAN"), Lit(")")))),
                        Terminal("SPAN", ("/[a-z]+/", Ref("SUBSTR")), 8), Grounding("SUBSTR", "a b", False)))
    bad = Grammar('start: "(" SPAN ")"\nSPAN: /[a-z]+/ & SUBSTR\nSUBSTR: %regex {"substring_chunks": 5}', tree)
    decoder = JumpForwardDecoder(loaded, early_start=True)
    with pytest.raises(GrammarRejected, match="row 1: llguidance rejected the grammar"):
        decoder.generate(["a\n", "b\n"], ['start: "x"', bad], 8, GREEDY)
    assert decoder.stats["early"] == 1


def test_a_real_grammar_that_refuses_the_early_tokens_fails_its_row_with_a_reason():
    done = Future()
    done.set_result(Consenting(False))
    with pytest.raises(DecodeError, match="refused the 2 tokens"):
        EarlyStart(Consenting(True), done).resolve([1, 2])
    done = Future()
    done.set_result(Consenting(True))
    assert EarlyStart(Consenting(True), done).resolve([1, 2]) is done.result()


def test_on_a_cpu_every_grammar_is_built_first_by_default(loaded):
    """There the build would compete with the prompt's pass for the same cores (bench/README.md)."""
    from humdsl.runtime.jumpforward import JumpForwardDecoder

    assert JumpForwardDecoder(loaded).early_start is False
    assert JumpForwardDecoder(loaded, early_start=True).early_start is True
