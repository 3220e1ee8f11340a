"""Exact decisions (`--decision exact|calibrated`): the allowed answers are enumerated from the
format, each is scored by the model's total log-probability, and the scores equal an independent
full forward pass over prompt + answer, without the decoder's shared KV cache."""
import itertools
import json
import math

import pytest
from click.testing import CliRunner

from humdsl.cli import main
from humdsl.formats import build
from humdsl.runtime.decisions import (AnswerScorer, NotEnumerable, answers, channel_label, decide,
                                      decide_channel, size_prior)
from support.scoring import full_pass
from support.tasks import ROOT, all_tasks

TICKETS = ROOT / "examples" / "data" / "tickets.jsonl"
TASKS = dict(all_tasks())


def _fmt(task: str, name: str):
    ir = TASKS[task]
    return build(ir, next(f for f in ir["formats"] if f["name"] == name))


def test_single_label_answers_are_the_labels_of_the_batch():
    fmt = _fmt("classify.sst2", "json_label")
    got = answers(fmt, None)
    assert got.records == [{"label": "positive"}, {"label": "negative"}]
    assert [json.loads(t[0]) for t in got.texts] == [{"label": "positive"}, {"label": "negative"}]
    assert answers(fmt, ["negative"]).records == [{"label": "negative"}]


def test_a_multilabel_answer_is_every_set_within_max_items_in_every_order():
    fmt = _fmt("support_tickets.ticket_triage", "bare_label")  # five labels, max_items(3)
    got = answers(fmt, None)
    assert len(got.records) == 5 + 10 + 10
    assert sum(map(len, got.texts)) == 5 + 5 * 4 + 5 * 4 * 3
    labels = [lab["code"] for lab in TASKS["support_tickets.ticket_triage"]["labels"]]
    assert {frozenset(r["labels"]) for r in got.records} == {
        frozenset(c) for n in (1, 2, 3) for c in itertools.combinations(labels, n)}
    for record, texts in zip(got.records, got.texts):
        for t in texts:  # every text is one the format reads back as that set
            assert sorted(fmt.parse(t)["labels"]) == sorted(record["labels"])


def test_answers_of_spans_are_refused_with_the_reason():
    with pytest.raises(NotEnumerable, match="classify"):
        answers(_fmt("ner.conll03", "tuples"), None)


@pytest.mark.parametrize("style", ["chat", "plain"])
def test_scores_equal_an_independent_full_forward_pass(jf_decoder, style):
    fmt = _fmt("support_tickets.ticket_triage", "bare_label")
    texts = [t for ts in answers(fmt, None).texts for t in ts][:40]
    scorer = AnswerScorer(jf_decoder, style)
    for prompt in ["Label the ticket.\nText: the app crashed and I was charged twice\n",
                   "Label the ticket.\nText: nothing loads at all\n"]:  # the second reuses a prefix
        got = scorer.logprobs(prompt, texts)
        ids, answer_ids = scorer._ids(prompt, texts)
        want = [full_pass(jf_decoder, ids, a) for a in answer_ids]
        assert got == pytest.approx(want, abs=2e-3)


def test_the_decision_is_the_likeliest_answer_and_its_probability_is_normalised(jf_decoder):
    fmt = _fmt("support_tickets.ticket_triage", "bare_label")
    options = answers(fmt, None)
    scorer = AnswerScorer(jf_decoder)
    prompt = "Label the ticket.\nText: my invoice is wrong\n"
    d = decide(scorer, prompt, options, fmt, None, "my invoice is wrong")
    flat = [t for ts in options.texts for t in ts]
    lp = dict(zip(flat, scorer.logprobs(prompt, flat)))
    per_set = [math.log(sum(math.exp(lp[t]) for t in ts)) for ts in options.texts]
    total = math.log(sum(math.exp(s) for s in per_set))
    best = max(range(len(per_set)), key=lambda i: per_set[i])
    assert sorted(d.record["labels"]) == sorted(options.records[best]["labels"])
    assert d.p == pytest.approx(math.exp(per_set[best] - total), abs=1e-4)
    assert d.ranking[0]["answer"] == d.text and d.ranking[0]["p"] == d.p
    assert [r["p"] for r in d.ranking] == sorted((r["p"] for r in d.ranking), reverse=True)
    # calibrated: each set's score less its score after the content-free prompt
    blank = "Label the ticket.\nText: N/A\n"
    c = decide(scorer, prompt, options, fmt, None, "my invoice is wrong", blank)
    base = dict(zip(flat, scorer.logprobs(blank, flat)))
    cal = [s - math.log(sum(math.exp(base[t]) for t in ts)) for s, ts in zip(per_set, options.texts)]
    best = max(range(len(cal)), key=lambda i: cal[i])
    assert sorted(c.record["labels"]) == sorted(options.records[best]["labels"])


@pytest.mark.parametrize("task,fmt_name,sizes", [("classify.sst2", "bare_label", {1: 5}),
                                                  ("support_tickets.ticket_triage", "bare_label", {1: 6, 2: 2})])
def test_channel_takes_the_answer_under_which_the_input_is_likeliest_weighed_by_its_size(
        jf_decoder, task, fmt_name, sizes):
    fmt = _fmt(task, fmt_name)
    labels = {lab["code"]: lab for lab in TASKS[task]["labels"]}
    options = answers(fmt, None)
    records = [r for r in options.records]
    shots = [{"shown": "Text: a warm, funny film", "record": records[0]},
             {"shown": "Text: dull and far too long", "record": records[-1]}]
    shown = "Text: a gentle, lovely story"
    d = decide_channel(jf_decoder, labels, shots, options, shown, fmt, None, "a gentle, lovely story", sizes)
    # independently: one whole document per answer, the input's tokens scored after it
    tok = jf_decoder.tokenizer
    docs = "".join(f"Topic: {channel_label(labels, s['record'])}\n{s['shown']}\n\n" for s in shots)
    assert channel_label(labels, records[0]).startswith(labels[codes(records[0])[0]]["name"] + " (")
    want = []
    for r in records:
        head = list(tok(docs + "Topic:")["input_ids"]) + list(tok(f" {channel_label(labels, r)}\n",
                                                                  add_special_tokens=False)["input_ids"])
        size = len(codes(r))
        same_size = sum(len(codes(x)) == size for x in records)
        allowed = sorted({len(codes(x)) for x in records})
        prior = math.log((sizes.get(size, 0) + 1) / (sum(sizes.get(n, 0) for n in allowed) + len(allowed)))
        want.append(full_pass(jf_decoder, head, list(tok(shown + "\n", add_special_tokens=False)["input_ids"]))
                    + prior - math.log(same_size))
    best = max(range(len(want)), key=lambda i: want[i])
    assert sorted(codes(d.record)) == sorted(codes(records[best]))
    total = math.log(sum(math.exp(w) for w in want))
    assert d.p == pytest.approx(math.exp(want[best] - total), abs=1e-3)
    assert d.ranking[0]["answer"] == d.text and len(d.ranking) == min(5, len(records))
    texts = [t[0] for t in options.texts]
    assert [r["answer"] for r in d.ranking] == [texts[i] for i in sorted(range(len(want)), key=lambda i: -want[i])[:5]]


def test_the_size_prior_keeps_a_channel_from_naming_every_label():
    fmt = _fmt("support_tickets.ticket_triage", "bare_label")
    records = answers(fmt, None).records
    prior = size_prior({1: 8, 2: 1}, records)
    one, two, three = (next(p for r, p in zip(records, prior) if len(r["labels"]) == n) for n in (1, 2, 3))
    assert one == pytest.approx(math.log(9 / 12) - math.log(5))
    assert two == pytest.approx(math.log(2 / 12) - math.log(10))
    assert three == pytest.approx(math.log(1 / 12) - math.log(10))  # never seen: add-one only
    assert sum(math.exp(p) for p in prior) == pytest.approx(1)


def codes(record: dict) -> list[str]:
    return record["labels"] if "labels" in record else [record["label"]]


def _run(*args):
    return CliRunner().invoke(main, ["run", *map(str, args)])


def test_run_writes_each_decision_with_its_probability_and_refuses_to_resume_another(model_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    base = [ROOT / "examples" / "support_tickets.hum", "--task", "ticket_triage", "--model", model_dir,
            "--input", TICKETS, "--output", out]
    result = _run(*base, "--decision", "calibrated", "--prompt-style", "plain")
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 8
    for line in lines:
        assert line["decision"] == "calibrated" and line["prompt_style"] == "plain"
        assert 0 < line["p"] <= 1 and line["ranking"][0]["answer"] == line["raw"]
        assert 1 <= len(line["record"]["labels"]) <= 3
    again = _run(*base, "--decision", "exact", "--prompt-style", "plain")
    assert again.exit_code == 1 and "decision 'calibrated', not 'exact'" in again.output


@pytest.mark.parametrize("args,message", [
    (["--task", "ticket_entities", "--decision", "exact"], "the answers of entities tasks are too many"),
    (["--task", "ticket_triage", "--decision", "exact", "--reason", "50"], "takes no --reason"),
    (["--task", "ticket_triage", "--prompt-style", "plain"], "is for --decision exact or calibrated"),
    (["--task", "ticket_triage", "--decision", "exact", "--decoder", "outlines"], "leave --decoder"),
])
def test_decisions_that_cannot_be_made_are_refused_before_the_model_loads(args, message, tmp_path):
    result = _run(ROOT / "examples" / "support_tickets.hum", *args, "--model", tmp_path / "no-model",
                  "--input", TICKETS, "--output", tmp_path / "out.jsonl")
    assert result.exit_code == 1 and message in result.output, result.output
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("option,value", [("--batch-size", "0"), ("--temperature", "-1"), ("--shots", "-1"),
                                          ("--top-p", "0"), ("--top-p", "1.5"), ("--limit", "-2"),
                                          ("--reason", "-5")])
def test_numeric_options_out_of_range_are_usage_errors(option, value, tmp_path):
    result = _run(ROOT / "examples" / "support_tickets.hum", "--task", "ticket_triage", "--input", TICKETS,
                  "--output", tmp_path / "out.jsonl", option, value)
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output, result.output
    assert not (tmp_path / "out.jsonl").exists()


def test_run_with_channel_decisions_writes_each_label_with_its_probability(model_dir, tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n"
                              for i, t in enumerate(["a lovely film", "a dull mess", "fine"])), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = _run(ROOT / "specs" / "classify.hum", "--task", "sst2", "--model", model_dir, "--input", inputs,
                  "--output", out, "--decision", "channel")
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["decision"] for x in lines] == ["channel"] * 3
    for line in lines:
        assert line["record"]["label"] in ("positive", "negative") and line["raw"] == line["record"]["label"]
        assert sum(r["p"] for r in line["ranking"]) == pytest.approx(1, abs=1e-3)


def test_a_channel_triages_each_ticket_among_the_sets_of_labels_with_pool_shots(model_dir, tmp_path):
    out = tmp_path / "tickets.jsonl"
    result = _run(ROOT / "examples" / "support_tickets.hum", "--task", "ticket_triage", "--model", model_dir,
                  "--input", TICKETS, "--output", out, "--decision", "channel",
                  "--shots-from", ROOT / "examples" / "data" / "tickets_pool.gold.jsonl")
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 8 and {x["decision"] for x in lines} == {"channel"}
    for line in lines:
        assert 1 <= len(line["record"]["labels"]) <= 3  # a set of labels, within max_items(3)
        assert line["ranking"][0] == {"answer": line["raw"], "p": line["p"]}
        assert [r["p"] for r in line["ranking"]] == sorted((r["p"] for r in line["ranking"]), reverse=True)


ODD_POOL = [{"labels": ["bug"]}, {"labels": ["billing", "account"]}, {"labels": ["outage"]}, {"labels": [1]},
            {"labels": None}, {"labels": ["bug", "bug", "zzz"]}, {"label": ["bug", "account"]}]


def _odd_pool(tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"id": f"p{i}", "text": f"ticket number {i} about the app", "record": r}) + "\n"
                            for i, r in enumerate(ODD_POOL)), encoding="utf-8")
    return pool


def test_a_channel_counts_answer_sizes_in_the_run_labels_as_the_format_reads_them(tmp_path):
    from humdsl.session import Session, Settings

    ir = TASKS["support_tickets.ticket_triage"]
    pool = _odd_pool(tmp_path)
    every = Session(ir, Settings(decision="channel", shots_from=pool))
    # bug / billing+account / outage / (1: none) / (None: none) / bug (repeat and unknown dropped) / bug+account
    assert every._answer_sizes() == {1: 3, 2: 2}
    batch = Session(ir, Settings(decision="channel", shots_from=pool, labels=["bug", "account"]))
    # within the batch: bug / account / (outage: none) / ... / bug / bug+account
    assert batch._answer_sizes() == {1: 3, 2: 1}
    assert batch._answer_of({"labels": ["billing", "account"]}) == {"labels": ["account"]}
    assert batch._answer_of({"labels": ["outage"]}) is None and batch._answer_of({"labels": [1]}) is None


def test_a_channel_with_a_label_batch_shows_and_answers_only_the_batch(model_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    result = _run(ROOT / "examples" / "support_tickets.hum", "--task", "ticket_triage", "--model", model_dir,
                  "--input", TICKETS, "--output", out, "--decision", "channel", "--labels", "bug,account",
                  "--shots-from", _odd_pool(tmp_path))
    assert result.exit_code == 0, result.output
    for line in map(json.loads, out.read_text(encoding="utf-8").splitlines()):
        assert line["record"]["labels"] and set(line["record"]["labels"]) <= {"bug", "account"}


def test_a_channel_document_names_the_labels_in_the_task_order():
    labels = {lab["code"]: lab for lab in TASKS["support_tickets.ticket_triage"]["labels"]}
    assert channel_label(labels, {"labels": ["bug", "billing"]}) == channel_label(labels, {"labels": ["billing", "bug"]})
    assert channel_label(labels, {"labels": ["bug", "billing"]}).startswith("billing (")


NINE_LABELS = """task topics : classify {
  multilabel
  labels { a "a"  b "b"  c "c"  d "d"  e "e"  f "f"  g "g"  h "h"  i "i" }
  prefer max_items(3)
  formats bare_label
}
"""


def test_channel_counts_sets_of_labels_and_exact_counts_the_ways_they_are_written(tmp_path):
    """Nine labels, three at most: 129 sets, written 585 ways in every order. A channel decision
    names each set once and takes them; an exact decision sums every written order and refuses."""
    import humdsl
    from humdsl.session import Session, SessionError, Settings

    spec = tmp_path / "topics.hum"
    spec.write_text(NINE_LABELS, encoding="utf-8")
    ir = humdsl.load(spec).task("topics").ir
    fmt = build(ir, ir["formats"][0])
    one_each = answers(fmt, None, orderings=False)
    assert len(one_each.records) == 9 + 36 + 84 and all(len(t) == 1 for t in one_each.texts)
    assert one_each.texts[9] == [fmt.render({"labels": ["a", "b"]})]  # the task's order
    with pytest.raises(NotEnumerable, match="are written more than 512 ways"):
        answers(fmt, None)
    assert Session(ir, Settings(decision="channel")).options.records == one_each.records
    with pytest.raises(SessionError, match="--decision exact: 9 labels, up to 3 per answer"):
        Session(ir, Settings(decision="exact"))
    assert len(answers(fmt, list("abcdefg")).records) == 7 + 21 + 35  # 7 labels: 7 + 42 + 210 texts


def test_a_single_label_task_is_never_refused_for_its_number_of_labels(tmp_path):
    import humdsl

    spec = tmp_path / "many.hum"
    codes = "  ".join(f'l{i} "l{i}"' for i in range(600))
    spec.write_text(f"task many : classify {{\n  labels {{ {codes} }}\n  formats bare_label\n}}\n", encoding="utf-8")
    ir = humdsl.load(spec).task("many").ir
    assert len(answers(build(ir, ir["formats"][0]), None).records) == 600


def test_more_sets_than_are_scored_are_refused_before_any_is_written(tmp_path):
    import humdsl

    spec = tmp_path / "topics.hum"
    twelve = NINE_LABELS.replace('i "i" }', 'i "i"  j "j"  k "k"  l "l" }').replace("max_items(3)", "max_items(4)")
    spec.write_text(twelve, encoding="utf-8")
    ir = humdsl.load(spec).task("topics").ir
    with pytest.raises(NotEnumerable, match="12 labels, up to 4 per answer, make 793 answers"):  # 12+66+220+495
        answers(build(ir, ir["formats"][0]), None, orderings=False)


def test_the_python_api_gives_what_humc_run_writes_of_each_answer(model_dir, tmp_path):
    """Task.run(details=True): the record and text, and a decision's probability and ranking,
    exactly as humc run's output line gives them."""
    import humdsl

    spec = ROOT / "specs" / "classify.hum"
    texts = ["a gorgeous , witty film .", "the plot is a mess ."]
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)),
                      encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = CliRunner().invoke(main, ["run", str(spec), "--task", "sst2", "--format", "bare_label", "--model",
                                  str(model_dir), "--input", str(inputs), "--output", str(out), "--decision", "exact"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    got = humdsl.load(spec).task("sst2").run(texts, model=str(model_dir), details=True, format="bare_label",
                                             decision="exact")
    assert [set(g) for g in got] == [{"record", "raw", "p", "ranking"}] * 2
    assert got == [{k: line[k] for k in g} for g, line in zip(got, lines)]
    assert humdsl.load(spec).task("sst2").run(texts, model=str(model_dir), format="bare_label",
                                              decision="exact") == [g["record"] for g in got]
