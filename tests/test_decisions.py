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
from humdsl.runtime.decisions import (AnswerScorer, NotEnumerable, answers, channel_prompts, decide,
                                      decide_channel)
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


@pytest.fixture(scope="module")
def jf_decoder(model_dir):
    from humdsl.runtime.jumpforward import JumpForwardDecoder
    from humdsl.runtime.models import load

    return JumpForwardDecoder(load(str(model_dir)))


def _full_pass(dec, prompt_ids: list[int], answer_ids: list[int]) -> float:
    import torch

    with torch.no_grad():
        logits = dec.model(torch.tensor([prompt_ids + answer_ids])).logits[0].float()
    lp = torch.log_softmax(logits, -1)
    return sum(float(lp[len(prompt_ids) - 1 + j, t]) for j, t in enumerate(answer_ids))


@pytest.mark.parametrize("style", ["chat", "plain"])
def test_scores_equal_an_independent_full_forward_pass(jf_decoder, style):
    fmt = _fmt("support_tickets.ticket_triage", "bare_label")
    texts = [t for ts in answers(fmt, None).texts for t in ts][:40]
    scorer = AnswerScorer(jf_decoder, style)
    for prompt in ["Label the ticket.\nText: the app crashed and I was charged twice\n",
                   "Label the ticket.\nText: nothing loads at all\n"]:  # the second reuses a prefix
        got = scorer.logprobs(prompt, texts)
        ids, answer_ids = scorer._ids(prompt, texts)
        want = [_full_pass(jf_decoder, ids, a) for a in answer_ids]
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


def test_channel_picks_the_label_whose_prompt_makes_the_input_likeliest(jf_decoder):
    fmt = _fmt("classify.sst2", "bare_label")
    options = answers(fmt, None)
    shots = [{"input": "Text: a warm, funny film", "answer": "positive"},
             {"input": "Text: dull and far too long", "answer": "negative"}]
    header, shown = "Classify the text.\n", "Text: a gentle, lovely story"
    d = decide_channel(jf_decoder, header, shots, options, shown, fmt, None, "a gentle, lovely story")
    labels = [t[0] for t in options.texts]
    prefixes, follow = channel_prompts(header, shots, labels, shown)
    assert prefixes[0].endswith("Example 3:\nAnswer: " + labels[0] + "\n")
    assert "Answer: positive\nText: a warm, funny film" in prefixes[0]  # the examples, label first
    tok = jf_decoder.tokenizer
    follow_ids = list(tok(follow, add_special_tokens=False)["input_ids"])
    want = [_full_pass(jf_decoder, list(tok(p)["input_ids"]), follow_ids) for p in prefixes]
    best = max(range(len(want)), key=lambda i: want[i])
    assert d.record == {"label": labels[best]}
    total = math.log(sum(math.exp(w) for w in want))
    assert d.p == pytest.approx(math.exp(want[best] - total), abs=1e-3)
    assert [r["answer"] for r in d.ranking] == sorted(labels, key=lambda x: -want[labels.index(x)])


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
    (["--task", "ticket_entities", "--decision", "exact"], "exact decisions are for classify tasks"),
    (["--task", "ticket_triage", "--decision", "exact", "--reason", "50"], "takes no --reason"),
    (["--task", "ticket_triage", "--prompt-style", "plain"], "is for --decision exact or calibrated"),
    (["--task", "ticket_triage", "--decision", "exact", "--decoder", "outlines"], "leave --decoder"),
    (["--task", "ticket_triage", "--decision", "channel"], "it is for single-label tasks"),
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
