"""Rules kept while decoding (formats/span_rules.py): dedupe, appearance and no_overlap across an
entity answer's spans. The decoder's language against brute force (every answer of the plain
language, kept exactly where the rules' own reading of its parse says so), each rule alone and all
together; the rules' reading on hand-made cases; and decoding under them with a random model
(no dead end, no answer that breaks them, where the plain language lets such answers through)."""
import itertools
import random

import pytest

import humdsl
from humdsl.formats import build
from humdsl.formats.span_rules import RuledDag, SpanRules, problem

from support.tasks import ROOT

SMALL = ROOT / "tests" / "cases" / "span_rules" / "two_labels.hum"
FORMATS = ["json_by_label", "tuples", "sentences", "table"]
# each rule alone, and all three (SpanRules field order: dedupe, ordered, no_overlap)
RULE_SETS = [SpanRules(True, False, False), SpanRules(False, True, False), SpanRules(False, False, True),
             SpanRules(True, True, True)]
# "Ann" twice (dedupe, and which occurrence is meant); "York" inside "New York" (overlap)
INPUTS = ["Ann met Ann .", "New York saw York"]


def _task_with(rules: SpanRules) -> dict:
    """The small task keeping exactly `rules` (and grounded, max_items)."""
    ir = dict(humdsl.load(SMALL).task("ents").ir)
    wanted = {name for name, on in zip(("dedupe", "ordered", "no_overlap"),
                                       (rules.dedupe, rules.ordered, rules.no_overlap)) if on}
    ir["rules"] = [r for r in ir["rules"] if (r.get("effect") or {}).get("name") not in
                   {"dedupe", "ordered", "no_overlap"} - wanted]
    return ir


def _format(ir: dict, name: str):
    return build(ir, next(f for f in ir["formats"] if f["name"] == name))


def _raw(name: str):
    """The format with no rule across spans: its parse keeps every item as written."""
    return _format(_task_with(SpanRules()), name)


def _every_answer(dag) -> list[bytes]:
    """Every answer of a plain LiteralDag, by walking its edges."""
    out = []

    def walk(i: int, text: bytes) -> None:
        if i == dag.n or (dag._final is not None and dag._final(i)):
            out.append(text)
        if i == dag.n:
            return
        trie, shift = dag._trie(i)
        for piece, j in trie.edges:
            walk(j + shift, text + piece)

    walk(0, b"")
    return out


def _lists(fmt, record: dict) -> list[list[str]]:
    """The span texts of each list, in order: per label where the format keys items by label."""
    items = record["entities"]
    if not fmt.grouped:
        return [[it["text"] for it in items]]
    by_label: dict[str, list[str]] = {}
    for it in items:
        by_label.setdefault(it["type"], []).append(it["text"])
    return list(by_label.values())


@pytest.mark.parametrize("rules", RULE_SETS, ids=lambda r: ",".join(k for k, v in r.__dict__.items() if v))
@pytest.mark.parametrize("name", FORMATS)
def test_the_decoders_language_is_the_plain_one_less_exactly_the_answers_that_break_the_rules(name, rules):
    fmt, raw = _format(_task_with(rules), name), _raw(name)
    assert fmt.span_rules() == rules
    for source in INPUTS:
        plain, ruled = fmt.language(source=source), fmt.language(source=source, keep_rules=True)
        assert isinstance(ruled, RuledDag)
        answers = _every_answer(plain)
        kept = broken = 0
        for answer in answers:
            lists = _lists(raw, raw.parse(answer.decode(), source=source))
            want = problem(lists, source, rules) is None
            assert ruled.accepts(answer) == want, (answer, problem(lists, source, rules))
            kept, broken = kept + want, broken + (not want)
        assert kept > 1 and broken > 0  # the inputs make each rule bite


def test_the_rules_reading_on_hand_made_answers():
    both = SpanRules(True, True, True)
    assert problem([["Ann", "Bo"]], "Ann met Bo .", both) is None
    assert "twice" in problem([["Ann", "Ann"]], "Ann met Ann .", SpanRules(dedupe=True))
    assert problem([["Ann", "Ann"]], "Ann met Ann .", SpanRules(ordered=True, no_overlap=True)) is None
    assert problem([["Ann"], ["Ann"]], "Ann met Ann .", SpanRules(dedupe=True)) is None  # two lists
    assert "order" in problem([["Bo", "Ann"]], "Ann met Bo .", both)
    assert problem([["Bo"], ["Ann"]], "Ann met Bo .", both) is None  # order is kept within a list
    # "Ann" after "Bo": the second "Ann" of the input is there to take
    assert problem([["Bo", "Ann"]], "Ann met Bo and Ann", both) is None
    assert "overlap" in problem([["New York", "York"]], "New York saw it", SpanRules(no_overlap=True))
    assert problem([["New York", "York"]], "New York saw York", both) is None
    assert "overlap" in problem([["New York"], ["York"]], "New York saw it", both)  # across lists too
    assert "whole chunks" in problem([["Yor"]], "New York", both)


def test_a_rule_the_task_does_not_declare_is_not_kept():
    fmt = _format(_task_with(SpanRules(dedupe=True)), "tuples")
    ruled = fmt.language(source="New York saw York", keep_rules=True)
    assert ruled.accepts(b"(LOC, York)\n(LOC, New York)")  # out of order, overlapping: allowed
    assert not ruled.accepts(b"(LOC, York)\n(PER, York)")  # the same text twice: not


def test_only_entity_lists_and_not_the_inline_format_get_decoder_rules():
    ner = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03")
    assert ner.format("tuples").span_rules() == SpanRules(True, True, True)
    assert ner.format("tagged").span_rules() is None
    rel = humdsl.load(ROOT / "specs" / "relations.hum").task("conll04")
    assert all(rel.format(f["name"]).span_rules() is None for f in rel.ir["formats"])
    # without keep_rules, the grammar's language (what synthesis verifies gold answers against)
    assert not isinstance(ner.format("tuples").language(source="Ann met Bo ."), RuledDag)


def _sample(dm, rng: random.Random, limit: int = 400) -> bytes:
    """A random walk of the matcher's masks (what a random model does under them)."""
    out = b""
    for _ in range(limit):
        allowed = dm.allowed_tokens()
        assert allowed, f"a dead end after {out!r}"
        token = rng.choice(allowed)
        assert dm.consume_token(token), dm.get_error()
        out += dm.table.bytes_of.get(token, b"")
        if dm.is_stopped():
            return out
    raise AssertionError(f"no end after {limit} tokens: {out!r}")


@pytest.mark.parametrize("name", ["json_by_label", "tuples", "sentences", "table"])
def test_decoding_under_the_rules_never_breaks_them_nor_gets_stuck(name, tokenizers):
    from humdsl.runtime.dag_matcher import DagMatcher, TokenTable

    _, lltok = tokenizers
    task = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03")
    fmt = task.format(name)
    raw = build({**task.ir, "rules": [r for r in task.ir["rules"] if (r.get("effect") or {}).get("name") !=
                                      "dedupe"]}, next(f for f in task.ir["formats"] if f["name"] == name))
    source = "Paris and Lyon : Paris beat Lyon , said Ann in New York ."
    table, rng = TokenTable.of(lltok), random.Random(name)
    plain_broken = 0
    for _ in range(30):
        for keep in (True, False):
            text = _sample(DagMatcher(fmt.language(source=source, keep_rules=keep), table), rng)
            why = problem(_lists(raw, raw.parse(text.decode(), source=source)), source, fmt.span_rules())
            if keep:
                assert why is None, (text, why)
            plain_broken += why is not None
    assert plain_broken > 0  # without the rules, random answers break them


def test_every_answer_the_rules_allow_of_a_small_input_is_reachable_token_by_token(tokenizers):
    """Completeness through the matcher: each allowed answer's canonical tokens are taken one by
    one, and the matcher then stops where the answer ends."""
    from humdsl.runtime.dag_matcher import DagMatcher, TokenTable

    _, lltok = tokenizers
    fmt = _format(_task_with(SpanRules(True, True, True)), "tuples")
    source = INPUTS[0]
    ruled = fmt.language(source=source, keep_rules=True)
    table = TokenTable.of(lltok)
    allowed = [a for a in _every_answer(fmt.language(source=source)) if ruled.accepts(a)]
    for answer in itertools.islice(allowed, 40):
        dm = DagMatcher(fmt.language(source=source, keep_rules=True), table)
        assert dm.consume_tokens(lltok.tokenize_bytes(answer)), (answer, dm.get_error())
        assert dm.is_accepting()


@pytest.fixture(scope="module")
def loaded(tokenizers, tiny_model):
    from humdsl.runtime.models import LoadedModel

    return LoadedModel(tiny_model, tokenizers[0], "tiny", "cpu")


def _reference(dec, prompt: str, dag, budget: int) -> tuple[str, list]:
    """Greedy decoding under the rules with one whole forward pass per token and no cache: the
    jump-forward decoder's rule for taking picks back (_ruled_pick), written out plainly. The
    text, and each pick's (start, end, log-probability among the tokens allowed there)."""
    import numpy as np
    import torch

    from humdsl.runtime.dag_matcher import DagMatcher, TokenTable

    m = DagMatcher(dag, TokenTable.of(dec.lltok))
    ids, gen, stack, lps = dec.prompt_ids(prompt), [], [], []

    def lp(logits, allowed, t):
        return float(torch.log_softmax(logits.masked_fill(~torch.from_numpy(allowed[:len(logits)]), float("-inf")), -1)[t])

    while not m.is_stopped() and len(gen) < budget:
        forced = m.compute_ff_tokens()
        if forced:
            assert m.consume_tokens(forced)
            gen += forced
            lps += [None] * len(forced)
            continue
        with torch.inference_mode():
            logits = dec.model(input_ids=torch.tensor([ids + gen])).logits[0, -1].float()
        ruled, plain = m.allowed_mask()[:len(logits)], m.plain_mask()[:len(logits)]
        target = None
        if stack and (ruled != plain).any():
            share = float(torch.exp(torch.logsumexp(logits[torch.from_numpy(ruled)], -1)
                                    - torch.logsumexp(logits[torch.from_numpy(plain)], -1)))
            here, given_up = m.snapshot(), False
            while stack:
                level = stack[-1]
                m.restore(level["state"])
                other = torch.from_numpy(m.allowed_mask()[:len(logits)].copy())
                other[level["tried"]] = False
                if not other.any() or len(level["tried"]) > 4:
                    given_up = given_up or bool(other.any())
                    stack.pop()
                    continue
                best = float(level["logits"].masked_fill(~other, float("-inf")).max())
                if given_up or float(level["logits"][level["tried"][-1]]) + np.log(max(share, 1e-30)) < best:
                    target = (level, other)
                break
            m.restore(here)
        if target is not None:
            level, other = target
            m.restore(level["state"])
            gen, lps = gen[:level["at"]], lps[:level["at"]]
            t = int(level["logits"].masked_fill(~other, float("-inf")).argmax())
            level["tried"].append(t)
            if t == dec.eos:
                break
            lps.append(lp(level["logits"], m.allowed_mask(), t))
            assert m.consume_token(t)
            gen.append(t)
            continue
        t = int(logits.masked_fill(~torch.from_numpy(ruled), float("-inf")).argmax())
        if t == dec.eos:
            break
        stack.append({"state": m.snapshot(), "at": len(gen), "logits": logits, "tried": [t]})
        del stack[:-4]
        lps.append(lp(logits, ruled, t))
        assert m.consume_token(t)
        gen.append(t)
    picks, at = [], 0
    for t, p in zip(gen, lps):
        n = len(dec.lltok.decode_bytes([t]).decode("utf-8"))
        if p is not None:
            picks.append((at, at + n, p))
        at += n
    return dec.tokenizer.decode(gen, skip_special_tokens=True), picks


def test_the_decoder_under_rules_takes_picks_back_as_a_plain_loop_would(loaded):
    """The jump-forward decoder (its cache cut back where a pick is taken back, its forced runs
    fed in one pass) gives what the plain loop gives; and it does take picks back."""
    from humdsl.runtime.jumpforward import JumpForwardDecoder
    from humdsl.runtime.protocol import Sampling

    task = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03")
    fmt = task.format("json_by_label")  # where this random model's picks are taken back (the others end at once)
    texts = ["Paris and Lyon : Paris beat Lyon , said Ann in New York .", "Ann met Ann and Bo in Rome .",
             "New York saw York and New Jersey ."]
    prompts = [f"Find the names.\nText: {t}\nAnswer:\n" for t in texts]
    dec = JumpForwardDecoder(loaded)
    budget = 120
    got = dec.generate(prompts, [fmt.language(source=t, keep_rules=True) for t in texts], budget, Sampling())
    reference = [_reference(dec, p, fmt.language(source=t, keep_rules=True), budget) for p, t in zip(prompts, texts)]
    want = [text for text, _ in reference]
    assert got == want
    assert dec.stats["rule_backtracks"] > 0
    for answer, (_, picks) in zip(got, reference):  # a pick taken back leaves no probability behind
        assert [(s, e) for s, e, _ in answer.picks] == [(s, e) for s, e, _ in picks]
        assert [p for _, _, p in answer.picks] == pytest.approx([p for _, _, p in picks], abs=1e-4)
    ragged = JumpForwardDecoder(loaded, ragged=True)  # one batch: picks taken back leave holes in the cache
    batched = ragged.generate(prompts, [fmt.language(source=t, keep_rules=True) for t in texts], budget, Sampling())
    assert batched == want
    for one, other in zip(batched, got):
        assert [(s, e) for s, e, _ in one.picks] == [(s, e) for s, e, _ in other.picks]
        assert [p for _, _, p in one.picks] == pytest.approx([p for _, _, p in other.picks], abs=1e-4)
    for text, answer in zip(texts, got):
        assert problem(_lists(fmt, fmt.parse(answer, source=text)), text, fmt.span_rules()) is None


def test_humc_run_keeps_the_rules_by_default_and_records_how_on_each_line(model_dir, tmp_path):
    """How the rules were kept is recorded on each line, and a run cannot be resumed with another
    setting (nor one written before the rules were kept while decoding, read as by the parser)."""
    import json

    from click.testing import CliRunner

    from humdsl.cli import main

    tickets = tmp_path / "tickets.jsonl"
    tickets.write_text("".join((ROOT / "examples" / "data" / "tickets.jsonl").read_text(encoding="utf-8")
                               .splitlines(keepends=True)[:4]), encoding="utf-8")
    base = ["run", str(ROOT / "examples" / "support_tickets.hum"), "--task", "ticket_entities", "--model",
            str(model_dir), "--input", str(tickets), "--temperature", "1.0", "--seed", "3"]
    kept, loose = tmp_path / "kept.jsonl", tmp_path / "loose.jsonl"
    assert CliRunner().invoke(main, [*base, "--output", str(kept)]).exit_code == 0
    result = CliRunner().invoke(main, [*base, "--output", str(loose), "--span-rules", "parser"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in kept.read_text(encoding="utf-8").splitlines()]
    assert lines and all(x["span_rules"] == "decoder" for x in lines)
    assert all(json.loads(x)["span_rules"] == "parser" for x in loose.read_text(encoding="utf-8").splitlines())
    refused = CliRunner().invoke(main, [*base, "--output", str(kept), "--span-rules", "parser"])
    assert refused.exit_code != 0 and "span rules 'decoder', not 'parser'" in refused.output, refused.output
    old = tmp_path / "old.jsonl"  # lines written before: no span_rules
    old.write_text("".join(json.dumps({k: v for k, v in json.loads(x).items() if k != "span_rules"}) + "\n"
                           for x in loose.read_text(encoding="utf-8").splitlines()), encoding="utf-8")
    again = CliRunner().invoke(main, [*base, "--output", str(old)])
    assert again.exit_code != 0 and "span rules 'parser', not 'decoder'" in again.output, again.output
    assert "0 written" in CliRunner().invoke(main, [*base, "--output", str(old), "--span-rules", "parser"]).output
    fmt = humdsl.load(ROOT / "examples" / "support_tickets.hum").task("ticket_entities").format()
    inputs = {json.loads(x)["id"]: json.loads(x)["text"] for x in tickets.read_text(encoding="utf-8").splitlines()}
    for line in lines:
        raw = _raw_of(fmt).parse(line["raw"], source=inputs[line["id"]])
        assert problem(_lists(fmt, raw), inputs[line["id"]], fmt.span_rules()) is None


def _raw_of(fmt):
    ir = fmt.task_ir
    return build({**ir, "rules": [r for r in ir["rules"] if (r.get("effect") or {}).get("name") != "dedupe"]}, fmt.ir)


def test_unordered_keeps_every_rule_but_appearance_and_parser_none():
    fmt = _format(_task_with(SpanRules(True, True, True)), "tuples")
    source = "New York saw York and Ann"
    unordered = fmt.language(source=source, keep_rules="unordered")
    assert fmt.span_rules("unordered") == SpanRules(True, False, True) and fmt.span_rules("parser") is None
    assert unordered.accepts(b"(PER, Ann)\n(LOC, New York)")  # out of order
    assert not fmt.language(source=source, keep_rules=True).accepts(b"(PER, Ann)\n(LOC, New York)")
    assert not unordered.accepts(b"(PER, Ann)\n(PER, Ann)")
    assert not unordered.accepts(b"(LOC, York)\n(PER, York)")  # the same text twice in one list
    assert not isinstance(fmt.language(source=source, keep_rules="parser"), RuledDag)


def test_recurring_names_do_not_multiply_the_decoders_positions():
    """Each recurring name could be any of its occurrences: redundant histories are dropped, and
    past a bound the most open are kept; an answer naming all of them is still read at once."""
    import time

    from humdsl.formats.span_rules import MAX_POSITIONS

    fmt = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03").format("tuples")
    names = ["Ann", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal"]
    source = " and ".join(" ".join(names) for _ in range(4)) + " ."
    answer = "\n".join(f"(PER, {n})" for n in names).encode()
    for mode in ("decoder", "unordered"):
        dag = fmt.language(source=source, keep_rules=mode)
        start = time.monotonic()
        positions = dag.start()
        for byte in answer:
            positions = dag.advance(dag.readers(positions, byte))
            assert 0 < len(positions) <= MAX_POSITIONS
        assert dag.is_end(positions) and time.monotonic() - start < 20
    assert problem([names + ["Ann"]], source, SpanRules(ordered=True, no_overlap=True)) is None
    start = time.monotonic()  # an answer that cannot be placed is found out without trying every choice
    assert problem([names * 4 + ["Ann"]], source, SpanRules(ordered=True, no_overlap=True)) is not None
    assert time.monotonic() - start < 20


def test_no_overlap_is_advice_outside_entity_tasks(tmp_path):
    from humdsl.artifacts import rule_table
    from humdsl.compiler import check_paths

    spec = tmp_path / "rel.hum"
    spec.write_text('task r : relations {\n  labels { works_for "works for" }\n  prefer grounded\n'
                    '  prefer no_overlap\n  instruction "x"\n}\n', encoding="utf-8")
    result = check_paths([str(spec)])
    assert result.ok, [d.message for d in result.diagnostics]
    task = humdsl.load(spec).task("r")
    table = {r["effect"]: r for r in rule_table(task.ir, task.format())}
    assert table["no_overlap"]["enforced_by"] == "advisory"


def test_a_model_with_more_logits_than_tokens_decodes_under_the_rules(tokenizers):
    """Models often pad their output layer past the tokenizer's vocabulary."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from humdsl.runtime.jumpforward import JumpForwardDecoder
    from humdsl.runtime.models import LoadedModel
    from humdsl.runtime.protocol import Sampling

    hf, _ = tokenizers
    torch.manual_seed(1)
    cfg = LlamaConfig(vocab_size=len(hf) + 48, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, bos_token_id=0, eos_token_id=0,
                      pad_token_id=1, tie_word_embeddings=True)
    dec = JumpForwardDecoder(LoadedModel(LlamaForCausalLM(cfg).eval(), hf, "wide", "cpu"))
    fmt = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03").format("json_by_label")
    texts = ["Paris and Lyon : Paris beat Lyon , said Ann in New York .", "Ann met Ann and Bo in Rome ."]
    for sampling in (Sampling(), Sampling(temperature=1.0, seed=2)):
        got = dec.generate([f"Names: {t}\n" for t in texts],
                           [fmt.language(source=t, keep_rules=True) for t in texts], 150, sampling)
        for text, answer in zip(texts, got):
            assert problem(_lists(fmt, fmt.parse(answer, source=text)), text, fmt.span_rules()) is None
