"""Formats decoded without llguidance (formats/dag.py, formats/answer_dag.py, formats/lark_nfa.py,
formats/span_chains.py, runtime/dag_matcher.py): the same answers as their grammars; along any
answer, the same masks, forced tokens and stop as llguidance under those grammars; in the
jump-forward decoder, the same output as the Outlines path; and inputs past the inline grammar's
size limits."""
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import humdsl
from humdsl.formats import Unrenderable, build
from humdsl.formats.dag import LiteralDag
from humdsl.prompts import PromptChoice, prompt_text
from humdsl.runtime.protocol import Sampling

from support.records import RecordMaker
from support.tasks import ROOT, sample_source, task_format_pairs

SPEC = ROOT / "specs" / "ner.hum"
# every spec format with a language of its own (the inline ones, and those whose grammar's skeleton
# holds grounded spans and nothing that is not literal)
NATIVE = [p for p in task_format_pairs() if build(p[1], p[2]).language(source="Ann met Bo .") is not None]
NATIVE_IDS = [p[0] for p in NATIVE]
# Inputs that stress the language: brackets and parentheses that look like the mark, quotes,
# non-ASCII, runs of spaces, a line break, a one-letter input and an empty one.
INPUTS = [
    "Maria Costa of Northwind Bank met reporters in Lisbon on Monday .",
    "Mr. [Smith] (the CEO) said: \"hello\" to [Paris](LOC) -- café   naïve\nnew line, then 3.5% .",
    "He said \"yes\" \\ no\tthen, (maybe) ; {braces} unanswerable end.",
    "EU rejects German call to boycott British lamb .",
    "a",
    "",
]


def tagged():
    return humdsl.load(SPEC).task("conll03").format("tagged")


def qa(name: str):
    return humdsl.load(ROOT / "specs" / "qa.hum").task("squad").format(name)


def test_every_format_that_grounds_spans_has_a_language():
    """Open IE's free relation phrase included (formats/free_text.py)."""
    grounded = [p for p in task_format_pairs() if build(p[1], p[2]).schema.grounded]
    assert {p[0] for p in grounded} == set(NATIVE_IDS)
    assert {p[2]["name"] for p in NATIVE} >= {"json_by_label", "json_records", "tuples", "sentences", "table",
                                              "tagged", "json_relations", "relation_tuples", "triple_lines",
                                              "relation_sentences", "json_events", "event_lines",
                                              "answer_span", "json_answer", "json_triples", "triple_tuples"}


def test_a_dag_reads_paths_of_whole_edges():
    dag = LiteralDag(2, lambda i: [(b"ab", 1), (b"a", 1)] if i == 0 else [(b"c", 2)])
    assert dag.accepts(b"abc") and dag.accepts(b"ac")
    assert not dag.accepts(b"ab") and not dag.accepts(b"abcc") and not dag.accepts(b"bc")
    assert LiteralDag(0, lambda i: []).accepts(b"")
    with pytest.raises(ValueError):
        LiteralDag(1, lambda i: [(b"", 1)]).start()


def test_a_skeleton_reads_the_grammar_tree_and_refuses_the_rest():
    from humdsl.formats.answer_dag import answers
    from humdsl.formats.grammar_tree import Alt, GrammarTree, Group, Lit, Ref, Repeat, Rule, Seq, Terminal, lark
    from humdsl.formats.lark_nfa import Unreadable, read_skeleton
    from humdsl.formats.spans import SpanRule

    rule = SpanRule(False, 2, stops=(")",))
    tree = GrammarTree((
        Rule("start", Alt((Lit("None"), Seq((Ref("item"), Repeat(Seq((Lit("\n"), Ref("item"))), 0, 1)))))),
        Rule("item", Seq((Lit("("), Group(Alt((Lit("A, "), Lit("B, ")))), Ref("span")))),
        Rule("span", Ref("SPAN1"), suffix=")"),
        Terminal("SPAN1", ("/x/",), 8),
    ), {"SPAN1": rule})
    assert lark(tree) == ('start: "None" | item ("\\n" item){0,1}\nitem: "(" ("A, " | "B, ") span\n'
                          'span[suffix=")"]: SPAN1\nSPAN1: /x/\n')
    dag = answers(read_skeleton(tree), "Ann met Bo .")
    for text, ok in (("None", True), ("(A, Ann met)", True), ("(B, Bo)\n(A, Ann)", True), ("(A, met Bo .)", False),
                     ("(A, Ann met Bo)", False), ("(C, Bo)", False), ("(A, Bo)\n(A, Bo)\n(A, Bo)", False), ("", False)):
        assert dag.accepts(text.encode()) == ok, text
    free = Terminal("FREE", ("/x/",), 1)
    for bad in (GrammarTree((Rule("start", Ref("FREE")), free)),  # a terminal with no span rule
                GrammarTree((Rule("start", Seq((Lit("a"), Ref("x")))), Rule("x", Seq((Lit("a"), Ref("x")))))),  # recursion
                GrammarTree((Rule("start", Ref("missing")),)),
                GrammarTree((Rule("begin", Lit("a")),))):  # no start rule
        with pytest.raises(Unreadable):
            read_skeleton(bad)


def test_masks_are_shared_only_between_states_that_read_alike_as_far_as_the_walk_went():
    from humdsl.formats.answer_dag import answers
    from humdsl.formats.grammar_tree import GrammarTree, Lit, Ref, Rule, Seq, Terminal
    from humdsl.formats.lark_nfa import read_skeleton
    from humdsl.formats.spans import SpanRule

    # the two spans read alike up to their ")", and differ after it: a line break, or the end
    tree = GrammarTree((Rule("start", Seq((Lit("("), Ref("SPAN1"), Lit(")"), Lit("\n"), Lit("("), Ref("SPAN1"),
                                           Lit(")")))), Terminal("SPAN1", ("/x/",), 8)), {"SPAN1": SpanRule(False, 2)})

    def nodes(positions):
        return {i for i, _ in positions if i >= 0}

    for walked_to, shared in ((b"x", True), (b"x)", False)):
        dag = answers(read_skeleton(tree), "x y")
        first, second = dag.read(dag.start(), b"("), dag.read(dag.start(), b"(x)\n(")
        dag.masks.put(first, nodes(dag.read(first, walked_to)), [7])  # a walk that read that far
        assert dag.masks.get(first) == [7] and (dag.masks.get(second) == [7]) == shared, walked_to


def _llg_accepts(lltok, lark: str, data: bytes) -> bool:
    """llguidance's own verdict on whole bytes, token by token of a canonical tokenization."""
    from humdsl import constraints

    m = constraints.new_matcher(lltok, lark)
    return m.consume_tokens(lltok.tokenize_bytes(data)) and m.is_accepting() and not m.is_error()


def test_the_language_accepts_what_the_grammar_accepts(tokenizers):
    _, lltok = tokenizers
    fmt, rng = tagged(), random.Random(0)
    for text in INPUTS[:3]:
        lark, dag = fmt.grammar(source=text), fmt.language(source=text)
        words = [w for w in text.split(" ") if w.isalpha()]
        records = [{"entities": []}] + [{"entities": [{"type": rng.choice(["PER", "LOC", "ORG", "MISC"]),
                                                       "text": w}]} for w in words[:4]]
        candidates = [fmt.render(r, source=text) for r in records]
        # near misses: a mark that splits a word, an unknown label, a changed or missing character
        first = words[0]
        candidates += [text.replace(first, f"[{first[:-1]}](PER){first[-1]}", 1),
                       text.replace(first, f"[{first}](DATE)", 1), text.replace(first, first.upper() + "x", 1),
                       text[:-1], text + " ", "[" + text]
        for answer in candidates:
            data = answer.encode()
            assert dag.accepts(data) == _llg_accepts(lltok, lark, data), answer
        assert sum(dag.accepts(c.encode()) for c in candidates) == len(records)


def _spans_of(source: str) -> list[str]:
    """Grounded spans of `source` that any span hole takes: words, and pairs of words."""
    from humdsl.formats.spans import span_problem

    words = source.split(" ")
    found = [" ".join(words[i:i + k]) for i in range(len(words)) for k in (1, 2)]
    return sorted({w for w in found if span_problem(w, grounded_in=source, max_words=2, json_mode=True,
                                                    stops=tuple("()[]|;:=,\"\n"), multiline=False) is None})


GENERIC = [p for p in NATIVE if p[2]["name"] != "tagged"]


@pytest.mark.parametrize("pid,ir,fmt_ir", GENERIC, ids=[p[0] for p in GENERIC])
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_language_accepts_what_its_grammar_accepts(tokenizers, pid, ir, fmt_ir, data):
    """Rendered records of the input's own spans, and near misses of them: a cut answer, one with
    a blank after it, a span the input lacks, a span cut inside a word, a second copy."""
    _, lltok = tokenizers
    fmt, source = build(ir, fmt_ir), data.draw(st.sampled_from([sample_source(ir), INPUTS[1]]))
    spans = _spans_of(source)
    record = RecordMaker(ir, fmt_ir).draw(data, lambda n: st.sampled_from(spans))
    try:
        answer = fmt.render(record, source=source)
    except Unrenderable:
        answer = fmt.render(fmt.schema.from_items([]) if fmt.schema.kind != "qa" else {"answer": None},
                            source=source)
    lark, dag = fmt.grammar(source=source), fmt.language(source=source)
    first = spans[0]
    candidates = {answer, answer[:-1], answer + " ", answer + "\n" + answer,
                  answer.replace(first, "Zed", 1), answer.replace(first, first[:-1], 1)}
    for c in candidates:
        assert dag.accepts(c.encode()) == _llg_accepts(lltok, lark, c.encode()), (source, c)
    assert dag.accepts(answer.encode())


def test_a_span_holds_no_stop_and_no_end_that_would_cut_it():
    """Before " | ", a head may not hold " | " nor end with " |" (spans.cutting_ends); before ")"
    a tuple's text may not hold ")"; a line's last span may not hold the line break."""
    lines = humdsl.load(ROOT / "specs" / "relations.hum").task("conll04").format("triple_lines")
    source = "x: | y works | for z (at) .\nnext"
    dag = lines.language(source=source)
    assert dag.accepts(b"y works | Kill | x: |") and dag.accepts(b"x | Kill | y works")
    assert not dag.accepts(b"x: | | Kill | y") and not dag.accepts(b"y works | for | Kill | x")
    assert not dag.accepts(b"x | Kill | .\nnext") and dag.accepts(b"x | Kill | y\nnext | Kill | x")
    tuples = humdsl.load(SPEC).task("conll03").format("tuples").language(source=source)
    assert not tuples.accepts(b"(PER, (at) .)") and tuples.accepts(b"(PER, z (at)")


# Relation phrases at the edges of the free text's rule: its length bound (200 characters; in
# JSON an escape is one), its first and last characters, escapes, non-ASCII blanks and letters,
# the stop "; " and its parts, a line break, a control character.
PHRASES = ["works with", "x" * 200, "x" * 201, "é" * 200, "é" * 201, "a" + "\\u00e9" * 199, "a" + "\\u00e9" * 199 + "b",
           "a\\\"b", "a\\nb", "a\\qb", "a\\u00G1b", "\\nab", "ab\\n", "a b ", " ab", ",ab", "(ab", "ab(", "a(b", "(",
           "x", ".", "a;b", "a; b", "a;", "a ;b", "a\u00a0b", "a\u00a0", "\u2003a", "a\u3000b", "a\nb", "a\tb", "a\x01b",
           "\x01", "日本", "a🙂b", "🙂", "a\u2028b", "", "a\"b", "a)b", "ab;; c"]


@pytest.mark.parametrize("name", ["json_triples", "triple_tuples"])
def test_a_free_text_language_accepts_what_its_grammar_accepts(tokenizers, name):
    """The relation phrase read natively (formats/free_text.py) against llguidance's verdict."""
    _, lltok = tokenizers
    fmt = humdsl.load(ROOT / "specs" / "openie.hum").task("carb").format(name)
    source = "Ann met Bo in Rome ."
    lark, dag = fmt.grammar(source=source), fmt.language(source=source)
    verdicts = {}
    for phrase in PHRASES:
        if name == "json_triples":
            answer = '[{"subject": "Ann", "predicate": "' + phrase + '", "object": "Bo", "args": ["in Rome"]}]'
        else:
            answer = f"(Ann; {phrase}; Bo)\n(Bo; met; Ann)"
        verdicts[phrase] = dag.accepts(answer.encode())
        assert verdicts[phrase] == _llg_accepts(lltok, lark, answer.encode()), (name, phrase)
    assert verdicts["x" * 200] and not verdicts["x" * 201] and verdicts["é" * 200] and not verdicts["é" * 201]
    assert verdicts["works with"] and not verdicts["a b "] and not verdicts[""]
    assert verdicts["a; b"] == (name == "json_triples") and verdicts["a;b"]


@pytest.mark.parametrize("name", ["answer_span", "json_answer"])
def test_a_qa_language_accepts_what_its_grammar_accepts(tokenizers, name):
    _, lltok = tokenizers
    fmt = qa(name)
    for text in INPUTS:
        lark, dag = fmt.grammar(source=text), fmt.language(source=text)
        words = text.split(" ")
        spans = [" ".join(words[i:i + k]) for i in range(len(words)) for k in (1, 2, 5)] + [text, text[1:-1]]
        candidates = [fmt.render({"answer": None})]
        for span in spans:  # some are grounded spans, some are not (a cut word, a trailing period)
            candidates.append(json.dumps({"answer": span}, ensure_ascii=False) if "json" in name else span)
        candidates += [c + " " for c in candidates[:3]] + ["", "null", '{"answer": ""}']
        verdicts = {c: dag.accepts(c.encode()) for c in candidates}
        for answer, verdict in verdicts.items():
            assert verdict == _llg_accepts(lltok, lark, answer.encode()), (text, answer)
        assert sum(verdicts.values()) >= (2 if text.strip() else 1)


@pytest.mark.parametrize("name", ["answer_span", "json_answer"])
def test_a_qa_span_has_at_most_its_word_bound(tokenizers, name):
    """Words are runs of anything but spaces: "x1.y" is one word of three chunks; a tab is a word."""
    _, lltok = tokenizers
    fmt = qa(name)
    text = " ".join(f"x{i}.y" for i in range(40)) + " \t end"
    lark, dag = fmt.grammar(source=text), fmt.language(source=text)
    words = text.split(" ")
    for n, ok in ((30, True), (31, False)):
        for span in (" ".join(words[:n]), " ".join(words[-n:])):  # the last 30 hold the tab
            answer = json.dumps({"answer": span}) if "json" in name else span
            assert dag.accepts(answer.encode()) == ok == _llg_accepts(lltok, lark, answer.encode()), (n, span)


def _compare_along_walks(lltok, fmt, texts, seed: int, walks: int = 2, reason: int = 0):
    """Walk answers as the jump-forward decoder does (take the forced tokens, then one token the
    mask allows, the longest or a random one), comparing llguidance under the grammar with the
    DagMatcher at every step (`reason`: behind a reasoning line). Returns how many masks were
    compared."""
    from llguidance.torch import allocate_token_bitmask, fill_next_token_bitmask

    from humdsl import constraints
    from humdsl.formats.grammar_tree import lark
    from humdsl.formats.reasoning import with_reasoning
    from humdsl.runtime.dag_matcher import DagMatcher, TokenTable
    from humdsl.session import split_reasoning

    table, rng, compared = TokenTable.of(lltok), random.Random(seed), 0
    bitmask = allocate_token_bitmask(1, lltok.vocab_size)
    for text in texts:
        for _ in range(walks):
            tree = fmt.grammar_tree(source=text)
            ref = constraints.new_matcher(lltok, lark(with_reasoning(tree, reason) if reason else tree))
            dm = DagMatcher(fmt.language(source=text, reason=reason), table)
            taken: list[int] = []
            while True:
                fill_next_token_bitmask(ref, bitmask, 0)  # with forced tokens pending: the first
                want = _ids(bitmask, lltok)
                assert sorted(dm.allowed_tokens()) == want, (text, lltok.decode_str(taken))
                compared += 1
                forced = ref.compute_ff_tokens()
                assert dm.compute_ff_tokens() == forced, (text, lltok.decode_str(taken))
                if forced:
                    assert ref.consume_tokens(forced) and dm.consume_tokens(forced)
                    taken += forced
                if dm.is_stopped() != ref.is_stopped():
                    # llguidance may not see that a span's lexeme cannot go on (an intersection
                    # with nothing left): it then allows end-of-text alone, which is stopping
                    assert dm.is_stopped(), (text, lltok.decode_str(taken))
                    fill_next_token_bitmask(ref, bitmask, 0)
                    assert _ids(bitmask, lltok) == [lltok.eos_token], (text, lltok.decode_str(taken))
                    break
                if ref.is_stopped():
                    break
                if forced:
                    continue
                if rng.random() < 0.5:  # copy as far as one token goes, or anything allowed
                    pick = max(want, key=lambda t: (len(lltok.decode_bytes([t])), t))
                else:
                    pick = rng.choice(want)
                assert ref.consume_token(pick) and dm.consume_token(pick)
                if pick == lltok.eos_token:
                    break
                taken.append(pick)
            if taken:
                answer = lltok.decode_str(taken)
                assert fmt.parse(split_reasoning(answer)[1] if reason else answer, source=text) is not None
    return compared


def _ids(bitmask, lltok) -> list[int]:
    import torch

    bits = torch.arange(32, dtype=torch.int32)
    return ((bitmask[0].unsqueeze(1) >> bits) & 1).flatten()[: lltok.vocab_size].nonzero().flatten().tolist()


@pytest.mark.parametrize("pid,ir,fmt_ir", NATIVE, ids=NATIVE_IDS)
def test_masks_and_forced_tokens_are_llguidances(tokenizers, pid, ir, fmt_ir):
    _, lltok = tokenizers
    texts = INPUTS + [sample_source(ir), ":"]  # ":" holds no span: only the empty answer
    assert _compare_along_walks(lltok, build(ir, fmt_ir), texts, seed=1, walks=8) > 100


REASONED = [p for p in NATIVE if p[0] in ("ner.conll03:tuples", "ner.conll03:json_by_label",
                                          "openie.carb:triple_tuples", "qa.squad:json_answer")]


@pytest.mark.parametrize("pid,ir,fmt_ir", REASONED, ids=[p[0] for p in REASONED])
def test_behind_a_reasoning_line_masks_and_forced_tokens_are_llguidances(tokenizers, pid, ir, fmt_ir):
    """`humc run --reason N`: a free line of at most N characters (formats/reasoning.py), then
    'Answer: ' and the answer, read natively as llguidance reads the grammar."""
    _, lltok = tokenizers
    fmt = build(ir, fmt_ir)
    empty = fmt.render(fmt.schema.from_items([]) if fmt.schema.kind != "qa" else {"answer": None}).encode()
    dag = fmt.language(source=INPUTS[0], reason=12)
    assert dag.accepts(b"\nAnswer: " + empty) and dag.accepts(b" x;\t" * 3 + b"\nAnswer: " + empty)
    assert not dag.accepts(b"x" * 13 + b"\nAnswer: " + empty) and not dag.accepts(empty)
    texts = INPUTS[:3] + [sample_source(ir)]
    assert _compare_along_walks(lltok, fmt, texts, seed=4, walks=4, reason=12) > 60


@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "gpt2"])
def test_masks_and_forced_tokens_are_llguidances_on_real_vocabularies(name):
    from transformers import AutoTokenizer

    from conftest import shared_or_skip
    from humdsl import constraints

    folder = shared_or_skip("tokenizers", name)
    conll = shared_or_skip("data", "conll2003", "eng.testa")
    words = [line.split()[0] for line in conll.read_text(encoding="utf-8").splitlines()[:3000]
             if line.strip() and not line.startswith("-DOCSTART")]
    texts = [" ".join(words[i:i + 50]) for i in range(0, 1500, 500)] + INPUTS[1:3]
    lltok = constraints.ll_tokenizer(AutoTokenizer.from_pretrained(str(folder)))
    assert _compare_along_walks(lltok, tagged(), texts, seed=2, walks=1) > 100
    for pid, ir, fmt_ir in NATIVE:  # one task of each spec, every format it has
        if pid.split(":")[0] in ("ner.conll03", "relations.conll04", "events.phee", "qa.squad", "openie.carb") and \
                fmt_ir["name"] != "tagged":
            assert _compare_along_walks(lltok, build(ir, fmt_ir), texts, seed=3, walks=4) > 40, pid


@pytest.mark.parametrize("name", ["tuples", "json_by_label", "sentences"])
def test_a_span_start_mask_shared_between_items_is_llguidances(tokenizers, name):
    """The span start of each item after the first reads the same as the first one's: its mask
    comes from the language's shared masks, and is still llguidance's mask there."""
    from llguidance.torch import allocate_token_bitmask, fill_next_token_bitmask

    from humdsl import constraints
    from humdsl.runtime.dag_matcher import DagMatcher, TokenTable

    hf, lltok = tokenizers
    fmt, text = humdsl.load(SPEC).task("conll03").format(name), INPUTS[0]
    items = [{"type": t, "text": w} for t, w in (("PER", "Maria Costa"), ("ORG", "Northwind Bank"),
                                                 ("LOC", "Lisbon"), ("PER", "Maria"))]
    answer = fmt.render({"entities": items}, source=text)
    dm = DagMatcher(fmt.language(source=text), TokenTable.of(lltok))
    ref = constraints.new_matcher(lltok, fmt.grammar(source=text))
    bitmask = allocate_token_bitmask(1, lltok.vocab_size)
    for t in hf.encode(answer, add_special_tokens=False):
        fill_next_token_bitmask(ref, bitmask, 0)
        assert sorted(dm.allowed_tokens()) == _ids(bitmask, lltok), lltok.decode_str([t])
        assert ref.consume_token(t) and dm.consume_token(t)
    assert dm.dag.masks.hits >= 3  # items 2-4 (json_by_label: the second PER and the other keys)
    # and their nodes read one trie (Shifted: built once, not once per item)
    opened = [shift for _, shift in dm.dag._tries.values() if shift]
    assert len(dm.dag._shared) * 2 <= len(opened), (len(dm.dag._shared), len(opened))


def test_a_token_the_language_refuses_is_an_error_and_nothing_after_the_end(tokenizers):
    from humdsl.runtime.dag_matcher import DagMatcher, TokenTable

    hf, lltok = tokenizers
    dm = DagMatcher(tagged().language(source="Ann met Bo ."), TokenTable.of(lltok))
    assert dm.validate_tokens(hf.encode("Ann met Zed", add_special_tokens=False)) < len(
        hf.encode("Ann met Zed", add_special_tokens=False))
    good = hf.encode("[Ann](PER) met Bo .", add_special_tokens=False)
    assert dm.validate_tokens(good) == len(good)
    assert not dm.consume_token(hf.encode("Zed", add_special_tokens=False)[0]) and dm.is_error()
    dm = DagMatcher(tagged().language(source="Ann met Bo ."), TokenTable.of(lltok))
    assert dm.consume_tokens(good) and dm.is_stopped() and dm.is_accepting()
    assert not dm.consume_token(good[0]) and "after the answer's end" in dm.get_error()


# ---- in the decoder ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def loaded(tokenizers, tiny_model):
    import torch

    from humdsl.runtime.models import LoadedModel

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield LoadedModel(tiny_model, tokenizers[0], "tiny", "cpu")
    torch.set_num_threads(threads)


def _prompts(ir, fmt, rows):
    shots = []
    for ex in ir["examples"][:1]:
        try:
            shots.append({"input": ex["input"], "answer": fmt.render(ex["output"], source=ex["input"]["text"])})
        except Unrenderable:  # an n-ary example in a triple format
            pass
    return [prompt_text(ir, fmt, r, PromptChoice(examples=shots)) for r in rows]


def _rows(ir, fmt):
    other = {f["name"]: "Who met whom?" for f in ir["inputs"] if f["name"] != "text"}  # a qa question
    rows = [ex["input"] for ex in ir["examples"][:2]] + [{"text": t, **other} for t in INPUTS[:3]]
    return [r["text"] for r in rows], _prompts(ir, fmt, rows)


# One format of each shape, decoded to its end: a random model's event lists run to thousands of
# tokens (past the tiny model's window, where batched and single forward passes part in rounding).
OUTLINES_PAIRS = [p for p in NATIVE if p[0] in (
    "ner.conll03:tagged", "ner.conll03:tuples", "ner.conll03:json_by_label", "relations.conll04:triple_lines",
    "events.phee:event_lines", "qa.squad:answer_span", "qa.squad:json_answer")]


@pytest.mark.parametrize("pid,ir,fmt_ir", OUTLINES_PAIRS, ids=[p[0] for p in OUTLINES_PAIRS])
def test_the_decoder_gives_the_outlines_paths_output_without_a_grammar(pid, ir, fmt_ir, loaded):
    from humdsl.runtime.outlines_decoder import OutlinesDecoder
    from humdsl.runtime.jumpforward import JumpForwardDecoder

    fmt = build(ir, fmt_ir)
    texts, prompts = _rows(ir, fmt)
    budget = max(fmt.budget(source=t) for t in texts)
    ref, jf = OutlinesDecoder(loaded), JumpForwardDecoder(loaded)
    want = [ref.generate([p], [fmt.grammar(source=t)], budget, Sampling())[0] for p, t in zip(prompts, texts)]
    got = jf.generate(prompts, [fmt.language(source=t) for t in texts], budget, Sampling())
    assert got == want
    assert jf.stats["native"] == len(texts)
    for text, answer in zip(texts, got):
        fmt.parse(answer, source=text)  # whole answers: the budget always suffices


@pytest.mark.parametrize("pid,ir,fmt_ir", NATIVE, ids=NATIVE_IDS)
def test_the_decoder_gives_the_same_output_on_the_language_as_on_the_grammar(pid, ir, fmt_ir, loaded):
    """Every format with a language, greedy and sampled, over its first 200 tokens. (On the
    grammar, exact masks: checked ones, for open IE's free text, draw a sample from the same
    distribution but in other steps, runtime/checked.py.)"""
    from humdsl.runtime.jumpforward import JumpForwardDecoder

    fmt = build(ir, fmt_ir)
    texts, prompts = _rows(ir, fmt)
    jf, exact, answers = JumpForwardDecoder(loaded), JumpForwardDecoder(loaded, checked_masks=False), set()
    # greedy and three seeds: a random model may sample the empty answer for every input at one
    # seed (which depends on the test tokenizer, trained on the specs' text)
    samplings = (Sampling(), *(Sampling(temperature=1.0, seed=seed) for seed in (7, 8, 9)))
    for sampling in samplings:
        got = jf.generate(prompts, [fmt.language(source=t) for t in texts], 200, sampling)
        assert got == exact.generate(prompts, [fmt.grammar(source=t) for t in texts], 200, sampling)
        answers.update(got)
    assert len(answers) > 1  # not only the empty answer: spans of the inputs
    assert jf.stats["native"] == len(samplings) * len(texts)


def test_run_and_the_python_api_use_the_language_where_the_decoder_takes_one(loaded, monkeypatch):
    from humdsl.runtime.outlines_decoder import OutlinesDecoder
    from humdsl.runtime.jumpforward import JumpForwardDecoder
    from humdsl.runtime.protocol import AnswerDag, Grammar
    from humdsl.session import row_constraint

    fmt = tagged()
    jf = JumpForwardDecoder(loaded).accepts
    assert isinstance(row_constraint(fmt, None, "Ann met Bo .", jf), AnswerDag)
    assert isinstance(row_constraint(fmt, None, "Ann met Bo .", OutlinesDecoder(loaded).accepts), Grammar)
    openie = humdsl.load(ROOT / "specs" / "openie.hum").task("carb").format("triple_tuples")
    assert isinstance(row_constraint(openie, None, "Ann met Bo .", jf), AnswerDag)  # with free text
    label = humdsl.load(ROOT / "specs" / "classify.hum").task("sst2").format("bare_label")
    assert isinstance(row_constraint(label, None, "Ann met Bo .", jf), Grammar)  # grounds nothing
    tuples = humdsl.load(SPEC).task("conll03").format("tuples")
    assert isinstance(row_constraint(tuples, None, "Ann met Bo .", jf, reason=40), AnswerDag)  # --reason 40
    assert row_constraint(fmt, None, "Ann met Bo .", jf, reason=40).lark.startswith("start: LEN_REASONING")  # inline
    for name in ("answer_span", "json_answer"):
        assert isinstance(row_constraint(qa(name), None, "Ann met Bo .", jf), AnswerDag)
    from humdsl.formats.inline import InlineFormat

    def no_grammar(*a, **k):
        raise AssertionError("the inline grammar was built")

    monkeypatch.setattr(InlineFormat, "grammar_tree", no_grammar)
    task = humdsl.load(SPEC).task("conll03")
    records = task.run(["Ann met Bo .", "Maria Costa met reporters ."], format="tagged", model=loaded)
    assert len(records) == 2 and all("entities" in r for r in records)
    with pytest.raises(ValueError, match="input 1 holds half of a surrogate pair"):
        task.run(["Ann met Bo .", "Ann \ud800 met Bo ."], format="tagged", model=loaded)


def test_an_input_past_the_grammars_limit_is_decoded_to_its_end(tokenizers):
    """6,000 words: the grammar is refused (test_long_inputs.py); the language is built as the
    answer reaches each node and takes the whole answer."""
    from humdsl.formats import InputTooLarge
    from humdsl.runtime.dag_matcher import DagMatcher, TokenTable

    from test_long_inputs import words

    hf, lltok = tokenizers
    fmt, text = tagged(), words(6000)
    with pytest.raises(InputTooLarge):
        fmt.grammar(source=text)
    answer = fmt.render({"entities": [{"type": "LOC", "text": "Lisbon"}, {"type": "PER", "text": "Maria Costa"}]},
                        source=text)
    dm = DagMatcher(fmt.language(source=text), TokenTable.of(lltok))
    tokens = hf.encode(answer, add_special_tokens=False)
    assert dm.consume_tokens(tokens) and dm.is_stopped(), dm.get_error()
    assert fmt.parse(lltok.decode_str(tokens), source=text)["entities"][1] == {"type": "PER", "text": "Maria Costa"}


def test_humc_run_decodes_the_inline_format_without_building_its_grammar(model_dir, tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from humdsl.cli import main
    from humdsl.formats.inline import InlineFormat

    def no_grammar(*a, **k):
        raise AssertionError("the jump-forward decoder built the inline grammar")

    monkeypatch.setattr(InlineFormat, "grammar_tree", no_grammar)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text(json.dumps({"id": "a", "text": INPUTS[0]}) + "\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["run", str(SPEC), "--task", "conll03", "--format", "tagged", "--model",
                                  str(model_dir), "--input", str(inp), "--output", str(out)])
    assert r.exit_code == 0, r.output
    line = json.loads(out.read_text(encoding="utf-8"))
    assert line["record"] is not None and "(jump-forward)" in r.output
    r = CliRunner().invoke(main, ["run", str(SPEC), "--task", "conll03", "--format", "tagged", "--model",
                                  str(model_dir), "--input", str(inp), "--output", str(tmp_path / "r.jsonl"),
                                  "--reason", "40"])
    assert r.exit_code == 3 and "built the inline grammar" in r.output  # as --reason needs
