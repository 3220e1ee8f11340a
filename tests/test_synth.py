"""humc synth: golden corpus lines, determinism across --jobs and --shard, diversity, every line
verified independently, bad input, policy overrides, the report."""
import json
import os
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

import humdsl
from humdsl.cli import main
from humdsl.formats import build
from humdsl.synth.draw import Draw
from humdsl.kinds import KINDS
from humdsl.synth.policy import Policy
from humdsl.synth.sampling import label_batch
from humdsl.synth.verify import Verifier
from support.tasks import ROOT

TICKETS = ROOT / "examples" / "support_tickets.hum"
ENTITY_GOLD = ROOT / "examples" / "data" / "tickets_entities.gold.jsonl"
TRIAGE_GOLD = ROOT / "examples" / "data" / "tickets_triage.gold.jsonl"
GOLDEN = Path(__file__).parent / "cases" / "synth"


def synth(*args):
    return CliRunner().invoke(main, ["synth", *map(str, args)])


def lines_of(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def conll_dev(tmp_path: Path, n: int | None = None) -> Path:
    """The CoNLL-2003 dev set, or its first n sentences, as canonical JSONL."""
    from conftest import shared_or_skip
    from humdsl.adapters.readers import iter_examples

    examples, _ = iter_examples(shared_or_skip("data", "conll2003", "eng.testa"))
    path = tmp_path / "dev.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for i, ex in enumerate(examples):
            if n is not None and i >= n:
                break
            fh.write(json.dumps({k: ex[k] for k in ("id", "text", "record")}) + "\n")
    return path


# ---- golden lines ----------------------------------------------------------------------------------

@pytest.mark.parametrize("task,data,style", [("ticket_entities", ENTITY_GOLD, "alpaca"),
                                             ("ticket_triage", TRIAGE_GOLD, "chat")])
def test_golden_corpus(task, data, style, tmp_path):
    out = tmp_path / "corpus.jsonl"
    result = synth(TICKETS, "--task", task, "--data", data, "--out", out, "--per-example", 2,
                   "--seed", 7, "--style", style)
    assert result.exit_code == 0, result.output
    golden = GOLDEN / f"{task}.{style}.jsonl"
    if os.environ.get("HUMC_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(out.read_bytes())
    assert out.read_text(encoding="utf-8") == golden.read_text(encoding="utf-8")


# ---- determinism ---------------------------------------------------------------------------------

def test_a_pool_worker_ends_on_sigterm_whatever_handler_the_parent_installed(monkeypatch):
    """`humc synth` exits cleanly on SIGTERM; its forked workers must not inherit that: the pool
    ends them with SIGTERM, and a Python handler can miss a signal that lands just before an idle
    worker blocks (the pool then waits for it forever)."""
    import signal

    from humdsl.synth import corpus

    monkeypatch.setattr(corpus, "Synthesiser", lambda *args: None)
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        corpus._init_worker({}, None, 0, False, "")
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_same_corpus_whatever_the_jobs_and_shards(tmp_path, monkeypatch):
    from humdsl.synth import corpus

    monkeypatch.setattr(corpus, "CHUNK", 7)  # many chunks even on a small input, so workers interleave
    data = conll_dev(tmp_path, 300)
    spec = ROOT / "specs" / "ner.hum"
    base = [spec, "--task", "conll03", "--data", data, "--per-example", 3, "--seed", 11]
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert synth(*base, "--out", one).exit_code == 0
    assert synth(*base, "--out", two, "--jobs", 2).exit_code == 0
    assert one.read_bytes() == two.read_bytes()

    whole = one.read_text(encoding="utf-8").splitlines()
    shards = []
    for i in (1, 2, 3):
        part = tmp_path / f"shard{i}.jsonl"
        assert synth(*base, "--out", part, "--shard", f"{i}/3", "--jobs", 2 if i == 2 else 1).exit_code == 0
        mine = part.read_text(encoding="utf-8").splitlines()
        assert mine == [x for x in whole if json.loads(x)["meta"]["index"] % 3 == i - 1]
        shards += mine
    assert sorted(shards, key=lambda x: json.loads(x)["meta"]["index"]) == whole

    other_seed = tmp_path / "seed12.jsonl"
    assert synth(*base[:-1], 12, "--out", other_seed).exit_code == 0
    assert other_seed.read_bytes() != one.read_bytes()


# ---- diversity -----------------------------------------------------------------------------------

def test_instances_of_an_example_vary(tmp_path):
    data = conll_dev(tmp_path, 200)
    out = tmp_path / "c.jsonl"
    result = synth(ROOT / "specs" / "ner.hum", "--task", "conll03", "--data", data, "--out", out,
                   "--per-example", 4)
    assert result.exit_code == 0, result.output
    lines = lines_of(out)
    ir = humdsl.load(ROOT / "specs" / "ner.hum").tasks["conll03"].ir
    assert {x["meta"]["format"] for x in lines} == {f["name"] for f in ir["formats"]}
    assert {x["meta"]["phrasing"] for x in lines} == set(range(len(ir["instructions"])))
    assert len({tuple(x["meta"]["labels"]) for x in lines}) > 20  # label subsets and orders
    assert len({g for x in lines for g, _ in x["meta"]["guidelines"]}) == len(ir["guidelines"])
    assert {n for x in lines for _, n in x["meta"]["guidelines"]} == {0, 1}  # both paraphrases
    by_example: dict[str, list] = {}
    for x in lines:
        by_example.setdefault(x["meta"]["example"], []).append(x)
    varied = sum(len({i["meta"]["format"] for i in group}) > 1 and len({i["instruction"] for i in group}) > 1
                 for group in by_example.values())
    assert varied > 0.9 * len(by_example)


def test_label_batches_follow_the_policy():
    ir = humdsl.load(ROOT / "specs" / "ner.hum").tasks["conll03"].ir
    policy = Policy.of(ir, label_batch=3, negative_ratio=0.4, hard_negative_ratio=1.0)
    sizes, hard, shares = Counter(), Counter(), []
    for i in range(600):
        present = ["ORG", "PER"] if i % 2 else ["ORG"]
        batch = label_batch(ir, present, policy, Draw("t", i))
        assert 1 <= len(batch) <= 3 and len(set(batch)) == len(batch)
        assert any(b in present for b in batch)  # an example with labels always has one asked for
        sizes[len(batch)] += 1
        negatives = [b for b in batch if b not in present]
        shares.append(len(negatives) / len(batch))
        if present == ["ORG"]:
            hard.update(n in ("LOC", "MISC") for n in negatives)  # ORG is similar to LOC and to MISC
    assert set(sizes) == {1, 2, 3}
    assert abs(sum(shares) / len(shares) - 0.4) < 0.08  # negatives make up about negative_ratio
    assert hard[True] > 0 and hard[False] < hard[True] / 4  # similar labels come first
    none = Policy.of(ir, negative_ratio=0.0)
    assert all(set(label_batch(ir, ["PER", "LOC"], none, Draw("z", i))) <= {"PER", "LOC"} for i in range(100))
    assert all(label_batch(ir, [], none, Draw("e", i)) for i in range(20))  # no labels: negatives only

    trec = humdsl.load(ROOT / "specs" / "classify.hum").tasks["trec_fine"].ir
    for i in range(200):  # a single-label classifier always offers the gold label
        batch = label_batch(trec, ["NUM:date"], Policy.of(trec), Draw("c", i))
        assert "NUM:date" in batch and 2 <= len(batch) <= 8


def test_ordered_rule_puts_gold_items_in_order_of_appearance():
    ir = humdsl.load(ROOT / "specs" / "ner.hum").tasks["conll03"].ir
    text = "Rome is far from Paris and Lyon ."
    record = {"entities": [{"type": "LOC", "text": "Lyon"}, {"type": "LOC", "text": "Rome", "start": 0},
                           {"type": "LOC", "text": "Paris"}]}
    assert KINDS["entities"].prepare(ir, record, text, ordered=True) == {"entities": [
        {"type": "LOC", "text": "Rome"}, {"type": "LOC", "text": "Paris"}, {"type": "LOC", "text": "Lyon"}]}
    assert [e["text"] for e in KINDS["entities"].prepare(ir, record, text, ordered=False)["entities"]] == ["Lyon", "Rome", "Paris"]


# ---- verification ----------------------------------------------------------------------------------

def test_every_line_of_a_conll_dev_corpus_verifies(tmp_path):
    """Each answer, checked here independently of the synthesiser: it parses back to the gold
    record restricted to its label batch, and the per-input grammar accepts it under a real
    tokenizer (GPT-2), as llguidance would hold a model to it."""
    from conftest import shared_or_skip
    from transformers import AutoTokenizer

    from humdsl import constraints

    data = conll_dev(tmp_path)
    out = tmp_path / "c.jsonl"
    result = synth(ROOT / "specs" / "ner.hum", "--task", "conll03", "--data", data, "--out", out,
                   "--per-example", 1)
    assert result.exit_code == 0, result.output
    hf = AutoTokenizer.from_pretrained(shared_or_skip("tokenizers", "gpt2"))
    lltok = constraints.ll_tokenizer(hf)
    ir = humdsl.load(ROOT / "specs" / "ner.hum").tasks["conll03"].ir
    formats = {f["name"]: build(ir, f) for f in ir["formats"]}
    gold = {json.loads(x)["id"]: json.loads(x) for x in data.read_text(encoding="utf-8").splitlines()}
    lines = lines_of(out)
    assert len(lines) == len(gold)
    for line in lines:
        meta = line["meta"]
        ex = gold[meta["example"]]
        fmt = formats[meta["format"]]
        assert line["input"] == "Text: " + ex["text"]
        parsed = fmt.parse(line["output"], batch=meta["labels"], source=ex["text"])
        expected = fmt.normalise(KINDS[ir["kind"]].prepare(ir, ex["record"], ex["text"], ordered=True), meta["labels"], ex["text"])
        assert parsed == expected
        ok, error = constraints.accepts(fmt.grammar(batch=meta["labels"], source=ex["text"]),
                                        line["output"], hf, lltok)
        assert ok, (line["output"], error)


def test_the_fast_check_agrees_with_the_exact_one():
    """The shortcut (grammar without the input's substring terminal, plus is_grounded) never
    accepts what the per-input grammar rejects, on good answers and on broken ones."""
    ir = humdsl.load(ROOT / "specs" / "ner.hum").tasks["conll03"].ir
    source = "Lyon beat Porto 2-1 as Brazilian striker Rafael Costa scored twice in Paris ."
    fast, exact = Verifier(), Verifier(exact=True)
    answers = {
        "tuples": ["(ORG, Lyon)\n(PER, Rafael Costa)", "(ORG, Lyo)", "(PER, Rafael  Costa)", "(LOC, Paris .)",
                   "(PER, Costa scored)", "(ORG, Marseille)", "None", "(XYZ, Lyon)", "(ORG, Lyon)\n"],
        "json_by_label": ['{"LOC": ["Paris"], "ORG": [], "PER": ["Rafael Costa"], "MISC": ["Brazilian"]}',
                          '{"LOC": ["Pari"], "ORG": [], "PER": [], "MISC": []}',
                          '{"LOC": ["Lisbon"], "ORG": [], "PER": [], "MISC": []}'],
        "sentences": ['"Lyon" is an entity of type organization.', '"yon" is an entity of type organization.'],
        "tagged": [source, "[Lyon](ORG) beat [Porto](ORG) 2-1 as [Brazilian](MISC) striker [Rafael Costa](PER) "
                           "scored twice in [Paris](LOC) .",
                   source.replace("Lyon", "[Lyo](ORG)n"), source.replace("Lyon", "[Lyon](XYZ)"),
                   source.replace("beat", "beats"), source.replace("Lyon", "[Lyon]](ORG)"),
                   source.replace("Rafael Costa", "[Rafael Costa scored](PER)"), source + " "],
    }
    batch = ["LOC", "ORG", "PER", "MISC"]
    fmts = {f["name"]: build(ir, f) for f in ir["formats"]}
    verdicts = Counter()
    for name, texts in answers.items():
        for text in texts:
            a = fast.problem(fmts[name], text, batch, source)
            b = exact.problem(fmts[name], text, batch, source)
            assert (a is None) == (b is None), (name, text, a, b)
            verdicts[a is None] += 1
    assert verdicts[True] >= 6 and verdicts[False] >= 11
    # an input whose own text looks like a mark (which the loose inline grammar cannot copy)
    odd = "Lyon [sic] beat (Porto) 2-1 in [Paris](LOC) ."
    for text in [odd, odd.replace("Lyon", "[Lyon](ORG)"), odd.replace("[sic]", "[[sic]](MISC)"),
                 odd.replace("(Porto)", "([Porto](ORG))"), odd.replace("[sic]", "[sic"), odd[:-2]]:
        a, b = fast.problem(fmts["tagged"], text, batch, odd), exact.problem(fmts["tagged"], text, batch, odd)
        assert (a is None) == (b is None), (text, a, b)
        verdicts[a is None] += 1
    assert verdicts[True] >= 10


def test_inline_answers_are_checked_without_their_grammar_at_any_length(monkeypatch):
    from humdsl.formats.inline import InlineFormat

    from test_long_inputs import words

    def no_grammar(*a, **k):
        raise AssertionError("the inline grammar was built")

    monkeypatch.setattr(InlineFormat, "grammar_tree", no_grammar)
    fmt = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03").format("tagged")
    source = words(6000)  # past the grammar's size limit
    good = fmt.render({"entities": [{"type": "LOC", "text": "Lisbon"}]}, source=source)
    verifier = Verifier()
    assert verifier.problem(fmt, good, None, source) is None
    # "Officials in [Lisb" reads; the "n" where "o" must come is character 18
    assert "at character 18" in verifier.problem(fmt, good.replace("Lisbon", "Lisbn", 1), None, source)
    assert "stops before" in verifier.problem(fmt, good[:-1], None, source)


def test_a_record_task_with_span_fields(tmp_path):
    """Span fields make a record format's grammar differ from input to input: each answer must be
    checked against its own input's grammar (a grammar cached for another input rejects it)."""
    spec, data = ROOT / "examples" / "invoice.hum", ROOT / "examples" / "data" / "invoices.gold.jsonl"
    out = tmp_path / "c.jsonl"
    result = synth(spec, "--task", "invoice", "--data", data, "--out", out, "--per-example", 2)
    assert result.exit_code == 0, result.output
    ir = humdsl.load(spec).tasks["invoice"].ir
    formats = {f["name"]: build(ir, f) for f in ir["formats"]}
    gold = {json.loads(x)["id"]: json.loads(x) for x in data.read_text(encoding="utf-8").splitlines()}
    lines = lines_of(out)
    assert len(lines) == 2 * len(gold) and len({x["meta"]["format"] for x in lines}) == 2
    for x in lines:
        ex = gold[x["meta"]["example"]]
        assert formats[x["meta"]["format"]].parse(x["output"], source=ex["text"]) == ex["record"]


def test_python_api_gives_the_same_instances(tmp_path):
    out = tmp_path / "c.jsonl"
    assert synth(TICKETS, "--task", "ticket_entities", "--data", ENTITY_GOLD, "--out", out,
                 "--per-example", 3, "--seed", 5).exit_code == 0
    task = humdsl.load(TICKETS).task("ticket_entities")
    examples = [{**json.loads(x), "source": f"tickets_entities.gold.jsonl:{n}"}
                for n, x in enumerate(ENTITY_GOLD.read_text(encoding="utf-8").splitlines(), start=1)]
    assert list(task.synth(examples, seed=5, per_example=3)) == lines_of(out)
    with pytest.raises(ValueError, match="labels the task does not declare: PRICE"):
        list(task.synth([{"id": "x", "text": "a b", "record": {"entities": [{"type": "PRICE", "text": "a"}]}}]))


def test_the_verdict_is_that_of_consuming_the_answer():
    """The verifier asks llguidance's validate_tokens (which leaves the matcher as it is) instead
    of consuming: on whole answers, prefixes and extensions the verdict must be the same."""
    from llguidance import LLMatcher

    ir = humdsl.load(ROOT / "specs" / "ner.hum").tasks["conll03"].ir
    source = "Lyon beat Porto 2-1 as Brazilian striker Rafael Costa scored twice in Paris ."
    record = {"entities": [{"type": "ORG", "text": "Lyon"}, {"type": "PER", "text": "Rafael Costa"},
                           {"type": "LOC", "text": "Paris"}]}
    verifier = Verifier(exact=True)
    checked = Counter()
    for f in ir["formats"]:
        fmt = build(ir, f)
        answer = fmt.render(record, source=source)
        grammar = fmt.grammar(source=source)
        for text in {answer, answer[:-1], answer[: len(answer) // 2], answer + " ", answer + answer[-1], ""}:
            m = LLMatcher(verifier._tok, LLMatcher.grammar_from_lark(grammar), log_level=0)
            consumed = m.consume_tokens(list(text.encode("utf-8"))) and m.is_accepting()
            assert (verifier.problem(fmt, text, None, source) is None) == consumed, (f["name"], text)
            checked[consumed] += 1
    assert checked[True] >= 5 and checked[False] >= 20


# ---- bad input, overrides, errors ----------------------------------------------------------------

def test_bad_lines_are_reported_and_skipped(tmp_path):
    rows = ENTITY_GOLD.read_text(encoding="utf-8").splitlines()
    data = tmp_path / "gold.jsonl"
    broken = rows[:2] + ['{"id": "x1", "text": "cut sho'] + rows[2:4] + [
        json.dumps({"id": "x2", "text": "Order ORD-1 arrived.", "record": {"entities": [{"type": "PRICE", "text": "ORD-1"}]}}),
        json.dumps({"id": "x3", "text": "Lumo is fine.", "record": {"entities": [{"type": "product", "text": "Lumos"}]}}),
    ] + rows[4:]
    data.write_text("\n".join(broken) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = synth(TICKETS, "--task", "ticket_entities", "--data", data, "--out", out, "--per-example", 2)
    assert result.exit_code == 1
    assert f"{data}:3: not JSON" in result.output
    assert f"{data}:6: labels the task does not declare: PRICE" in result.output
    assert f"{data}:7: 2 of 2 instances failed" in result.output and "not a whole-word substring" in result.output
    assert "Traceback" not in result.output
    ids = {x["meta"]["example"] for x in lines_of(out)}
    assert ids == {json.loads(r)["id"] for r in rows}  # every good example is still there

    strict = tmp_path / "strict.jsonl"
    result = synth(TICKETS, "--task", "ticket_entities", "--data", data, "--out", strict, "--strict")
    assert result.exit_code == 1 and "--strict" in result.output and f"{data}:3" in result.output
    assert not strict.exists() and list(tmp_path.glob(".strict.jsonl.*")) == []


def test_overrides_and_chat_style(tmp_path):
    out = tmp_path / "c.jsonl"
    result = synth(TICKETS, "--task", "ticket_triage", "--data", TRIAGE_GOLD, "--out", out,
                   "--per-example", 5, "--style", "chat", "--few-shot", 2, "--label-batch", 3)
    assert result.exit_code == 0, result.output
    lines = lines_of(out)
    assert len(lines) + int(result.output.split(" duplicates")[0].split()[-1]) == 8 * 5
    ir = humdsl.load(TICKETS).tasks["ticket_triage"].ir
    formats = {f["name"]: build(ir, f) for f in ir["formats"]}
    gold = {json.loads(r)["id"]: set(json.loads(r)["record"]["labels"])
            for r in TRIAGE_GOLD.read_text(encoding="utf-8").splitlines()}
    for x in lines:
        user, assistant = x["messages"]
        assert user["role"] == "user" and assistant["role"] == "assistant"
        assert user["content"].count("\nExample ") == len(x["meta"]["shots"]) == 2
        assert len(x["meta"]["labels"]) <= 3
        answer = formats[x["meta"]["format"]].parse(assistant["content"], batch=x["meta"]["labels"])
        assert set(answer["labels"]) == gold[x["meta"]["example"]] & set(x["meta"]["labels"])


def test_more_jobs_than_cores_is_lowered_to_the_cores(tmp_path, monkeypatch):
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    one, many = tmp_path / "one.jsonl", tmp_path / "many.jsonl"
    base = [TICKETS, "--task", "ticket_entities", "--data", ENTITY_GOLD]
    assert synth(*base, "--out", one).exit_code == 0
    started = []
    import multiprocessing.context as mpc

    real = mpc.BaseContext.Pool
    monkeypatch.setattr(mpc.BaseContext, "Pool", lambda self, n, *a, **k: started.append(n) or real(self, n, *a, **k))
    assert synth(*base, "--out", many, "--jobs", 100000).exit_code == 0
    assert many.read_bytes() == one.read_bytes()
    assert started == [2]  # never 100,000 processes


def test_format_weights(tmp_path):
    out, folder = tmp_path / "c.jsonl", tmp_path / "r"
    result = synth(TICKETS, "--task", "ticket_entities", "--data", ENTITY_GOLD, "--out", out, "--per-example", 20,
                   "--format-weights", "tuples=0,json_by_label=4", "--report", folder)
    assert result.exit_code == 0, result.output
    counts = Counter(x["meta"]["format"] for x in lines_of(out))
    assert "tuples" not in counts and counts["json_by_label"] > 2 * counts["json_records"] > 0


@pytest.mark.parametrize("args,message", [
    (["--task", "ticket_triage", "--format-weights", "bare=1"], "--format-weights names 'bare'"),
    (["--task", "ticket_triage", "--format-weights", "bare_label"], "NAME=WEIGHT"),
    (["--task", "ticket_triage", "--format-weights", "bare_label=nan"], "NAME=WEIGHT"),
    (["--task", "nope"], "no task 'nope'"),
    (["--task", "ticket_triage", "--shard", "4/3"], "--shard takes I/N"),
    (["--task", "ticket_triage", "--adapter", "conll-x"], "unknown adapter 'conll-x'"),
])
def test_clear_errors(args, message, tmp_path):
    result = synth(TICKETS, "--data", TRIAGE_GOLD, "--out", tmp_path / "o.jsonl", *args)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("args,option", [
    (["--negative-ratio", "1.5"], "--negative-ratio"), (["--jobs", "0"], "--jobs"),
    (["--per-example", "0"], "--per-example"), (["--few-shot", "-1"], "--few-shot"),
])
def test_numbers_out_of_range_are_usage_errors(args, option, tmp_path):
    result = synth(TICKETS, "--task", "ticket_triage", "--data", TRIAGE_GOLD, "--out", tmp_path / "o.jsonl", *args)
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("content,adapter,message", [
    ("not json at all\n", "conll04", "cannot be read with the 'conll04' adapter"),
    ('[{"tokens": ["a"]}]', "conll04", ":item 1: an item needs 'tokens' and 'tags' lists of one length"),
    ('{"id": 1, "text": "abc", "record": {"entities": "PER"}}\n', "canonical", ":1: the record needs an 'entities' list of objects"),
])
def test_a_file_of_the_wrong_shape(content, adapter, message, tmp_path):
    data = tmp_path / "data.json"
    data.write_text(content, encoding="utf-8")
    spec, task = (ROOT / "specs" / "relations.hum", "conll04") if adapter == "conll04" else (ROOT / "specs" / "ner.hum", "conll03")
    result = synth(spec, "--task", task, "--data", data, "--adapter", adapter, "--out", tmp_path / "o.jsonl")
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_refusals_that_protect_files(tmp_path):
    data = tmp_path / "gold.jsonl"
    data.write_bytes(ENTITY_GOLD.read_bytes())
    base = [TICKETS, "--task", "ticket_entities", "--data"]
    result = synth(*base, data, "--out", data)
    assert result.exit_code == 1 and "is the dataset itself" in result.output
    assert data.read_bytes() == ENTITY_GOLD.read_bytes()
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    result = synth(*base, data, "--out", afile / "c.jsonl")
    assert result.exit_code == 1 and f"cannot write {afile / 'c.jsonl'}" in result.output
    result = synth(*base, data, "--out", tmp_path / "c.jsonl", "--report", afile)
    assert result.exit_code in (1, 2) and "is a file" in result.output
    result = synth(*base, tmp_path, "--out", tmp_path / "c.jsonl")
    assert result.exit_code == 1 and "it is a folder" in result.output
    for r in (result,):
        assert "Traceback" not in r.output


def test_bad_bytes_wrong_adapters_and_empty_files(tmp_path):
    rows = ENTITY_GOLD.read_bytes().splitlines()
    data = tmp_path / "gold.jsonl"
    data.write_bytes(b"\n".join(rows[:2] + [b'{"id": "x", "text": "caf\xe9"}'] + rows[2:]) + b"\n")
    out = tmp_path / "c.jsonl"
    result = synth(TICKETS, "--task", "ticket_entities", "--data", data, "--out", out)
    assert result.exit_code == 1 and f"{data}:3: not UTF-8 text (byte 0xe9" in result.output
    assert len({x["meta"]["example"] for x in lines_of(out)}) == 8  # the other lines are all there

    result = synth(TICKETS, "--task", "ticket_entities", "--data", ENTITY_GOLD, "--adapter", "conll-iob2",
                   "--out", out)
    assert result.exit_code == 1 and "is not a tag" in result.output

    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    result = synth(TICKETS, "--task", "ticket_entities", "--data", empty, "--out", out)
    assert result.exit_code == 1 and "no examples in the file" in result.output


def test_the_corpus_is_an_ordinary_file_and_the_report_names_no_folder(tmp_path, monkeypatch):
    import os

    out, rep = tmp_path / "c.jsonl", tmp_path / "r"
    bad = tmp_path / "deep" / "gold.jsonl"
    bad.parent.mkdir()
    bad.write_text(ENTITY_GOLD.read_text(encoding="utf-8") + '{"id": "z", "text": "t", "record": {}}\n',
                   encoding="utf-8")
    old = os.umask(0o022)
    try:
        synth(TICKETS, "--task", "ticket_entities", "--data", bad, "--out", out, "--report", rep)
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644
    monkeypatch.chdir(tmp_path)
    rep2 = tmp_path / "r2"
    synth(TICKETS, "--task", "ticket_entities", "--data", "deep/gold.jsonl", "--out", tmp_path / "c2.jsonl",
          "--report", rep2)
    assert (rep / "report.json").read_bytes() == (rep2 / "report.json").read_bytes()
    assert "gold.jsonl:9: the record needs an 'entities' list" in (rep / "report.json").read_text(encoding="utf-8")


def test_missing_data_file(tmp_path):
    result = synth(TICKETS, "--task", "ticket_triage", "--data", tmp_path / "none.jsonl", "--out", tmp_path / "o.jsonl")
    assert result.exit_code == 1 and "cannot read" in result.output and "none.jsonl" in result.output


def test_report(tmp_path):
    out, folder = tmp_path / "c.jsonl", tmp_path / "report"
    result = synth(TICKETS, "--task", "ticket_entities", "--data", ENTITY_GOLD, "--out", out,
                   "--per-example", 3, "--report", folder)
    assert result.exit_code == 0, result.output
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    lines = lines_of(out)
    assert report["examples"] == 8 and report["instances"] == len(lines)
    assert report["instances"] + report["duplicates_removed"] == 24
    assert report["formats"] == dict(Counter(x["meta"]["format"] for x in lines))
    assert report["labels"]["asked"] == dict(Counter(label for x in lines for label in x["meta"]["labels"]))
    lengths = [len(x["output"]) for x in lines]
    assert report["answer_chars"]["min"] == min(lengths) and report["answer_chars"]["max"] == max(lengths)
    assert sum(b[2] for b in report["answer_chars"]["histogram"]) == len(lines)
    for chart in ("formats", "phrasings", "guidelines", "rules", "labels", "lengths"):
        assert (folder / f"{chart}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- adapters from other packages ------------------------------------------------------------------

PLUGIN = '''
def pipes(path, report):
    """One 'TYPE|span|span...<TAB>text' example per line: a made-up format for the test."""
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        head, text = line.rstrip("\\n").split("\\t")
        kind, *spans = head.split("|")
        yield {"id": f"{path.name}:{n}", "text": text, "location": f"{path}:{n}",
               "record": {"entities": [{"type": kind, "text": s} for s in spans]}}
'''


def _install_plugin(tmp_path, monkeypatch, target: str) -> None:
    """A distribution on sys.path registering the adapter 'pipes' (as `pip install` would)."""
    site = tmp_path / "site"
    (site / "pipes_adapter-0.1.dist-info").mkdir(parents=True)
    (site / "pipes_adapter-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pipes-adapter\nVersion: 0.1\n")
    (site / "pipes_adapter-0.1.dist-info" / "entry_points.txt").write_text(
        f"[humdsl.adapters]\npipes = {target}\n")
    (site / "pipes_adapter.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(site))


def test_an_adapter_registered_by_another_package(tmp_path, monkeypatch):
    _install_plugin(tmp_path, monkeypatch, "pipes_adapter:pipes")
    data = tmp_path / "tickets.pipes"
    data.write_text("product|Lumo Hub\tMy Lumo Hub will not pair.\n"
                    "order_id|ORD-7\tWhere is order ORD-7?\n", encoding="utf-8")
    out = tmp_path / "corpus.jsonl"
    result = synth(TICKETS, "--task", "ticket_entities", "--data", data, "--adapter", "pipes",
                   "--out", out, "--per-example", 2)
    assert result.exit_code == 0, result.output
    lines = lines_of(out)
    assert len(lines) == 4
    assert {line["meta"]["example"] for line in lines} == {"tickets.pipes:1", "tickets.pipes:2"}
    assert any("Lumo Hub" in line["output"] for line in lines if "product" in line["meta"]["labels"])


def test_a_plugin_that_cannot_be_loaded_is_named_with_its_error(tmp_path, monkeypatch):
    _install_plugin(tmp_path, monkeypatch, "pipes_adapter:no_such_function")
    data = tmp_path / "tickets.pipes"
    data.write_text("product|Lumo Hub\tMy Lumo Hub will not pair.\n", encoding="utf-8")
    result = synth(TICKETS, "--task", "ticket_entities", "--data", data, "--adapter", "pipes",
                   "--out", tmp_path / "corpus.jsonl")
    assert result.exit_code != 0
    assert "the adapter 'pipes' (pipes_adapter:no_such_function) could not be loaded" in result.output
    assert "Traceback" not in result.output
    # the built-in adapters still work beside the broken plugin
    result = synth(TICKETS, "--task", "ticket_entities", "--data", ENTITY_GOLD, "--out", tmp_path / "ok.jsonl")
    assert result.exit_code == 0, result.output


def test_a_partial_file_left_by_a_killed_run_is_removed_by_the_next(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "corpus.jsonl"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".corpus.jsonl.{dead}.abc123.partial"
    stale.write_text("half a corpus\n", encoding="utf-8")
    other = tmp_path / f".corpus.jsonl.{os.getpid()}.xyz.partial"  # a live run's: kept
    other.write_text("in progress\n", encoding="utf-8")
    result = synth(TICKETS, "--task", "ticket_entities", "--data", ENTITY_GOLD, "--out", out)
    assert result.exit_code == 0, result.output
    assert not stale.exists() and other.exists() and out.exists()


def test_proposed_alternatives_are_sampled_only_with_with_proposed(tmp_path):
    from humdsl import proposals

    spec = tmp_path / "tickets.hum"
    text = "Sort this support ticket into every category that applies."
    spec.write_text(proposals.insert(TICKETS.read_text(encoding="utf-8"), str(spec), "ticket_triage", "instruction",
                                     [text]), encoding="utf-8")
    made = {}
    for flags in ((), ("--with-proposed",)):
        out = tmp_path / f"c{len(flags)}.jsonl"
        result = synth(spec, "--task", "ticket_triage", "--data", TRIAGE_GOLD, "--out", out, "--per-example", 6,
                       *flags)
        assert result.exit_code == 0, result.output
        made[bool(flags)] = out.read_text(encoding="utf-8")
    assert text not in made[False]
    assert text in made[True]
