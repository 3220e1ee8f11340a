"""Exact decisions on a qa task (`--decision exact`): the spans of the passage sentences most like
the question, each scored by the model's total log-probability over a tree of tokens; the scores
equal an independent full forward pass per answer, and the answer taken is the likeliest."""
import json
import math

import pytest
from click.testing import CliRunner

from humdsl.cli import main
from humdsl.formats import build
from humdsl.runtime import span_answers
from humdsl.runtime.decisions import NotEnumerable
from humdsl.runtime.span_answers import focus, sentences, span_records, word_spans
from humdsl.runtime.token_tree import sequence_logprobs
from support.scoring import full_pass
from support.tasks import ROOT, all_tasks

TASKS = dict(all_tasks())
PASSAGE = ("The Kelmar Bridge was completed in 1887 after nine years of work. At 640 metres, it was then "
           "the longest iron bridge in the region.\nIt carried both trains and (horse-drawn) carts!")


def _squad(fmt: str = "json_answer"):
    ir = TASKS["qa.squad"]
    return build(ir, next(f for f in ir["formats"] if f["name"] == fmt))


def test_sentences_end_at_a_full_stop_and_a_blank_or_at_a_line_break():
    got = [PASSAGE[a:b] for a, b in sentences(PASSAGE)]
    assert got == ["The Kelmar Bridge was completed in 1887 after nine years of work.",
                   "At 640 metres, it was then the longest iron bridge in the region.",
                   "It carried both trains and (horse-drawn) carts!"]


def test_focus_keeps_the_sentences_most_like_the_question_in_passage_order():
    def shown(question, count):
        return [PASSAGE[a:b][:6] for a, b in focus(PASSAGE, question, count)]

    assert shown("How long is the iron bridge?", 1) == ["At 640"]
    assert shown("Which trains did it carry after nine years of work?", 2) == ["The Ke", "It car"]
    assert shown("Who?", 1) == ["The Ke"]  # no word shared: the first sentence
    assert shown("anything", 0) == shown("anything", 9) == ["The Ke", "At 640", "It car"]


def test_spans_are_runs_of_whole_words_within_a_sentence_without_the_punctuation_around_them():
    ranges = sentences(PASSAGE)
    spans = word_spans(PASSAGE, ranges[1:], max_words=3)
    assert "640 metres" in spans and "At 640 metres" in spans and "region" in spans
    assert not any(s.endswith((",", ".", "!", ")")) or s.startswith("(") for s in spans)
    assert "horse-drawn" in spans and "and (horse-drawn) carts" in spans
    assert "both trains and (horse-drawn" not in spans  # four words
    assert all(len(s.split()) <= 3 for s in spans) and len(spans) == len(set(spans))
    assert not any("work" in s or "1887" in s for s in spans)  # the first sentence is out of focus
    assert not any("region" in s and "It" in s for s in spans)  # never across sentences


def test_every_span_scored_is_grounded_and_reads_back_as_itself():
    for name in ("json_answer", "answer_span"):
        fmt = _squad(name)
        records, texts = span_records(fmt, PASSAGE, "How long is the bridge?", 0)
        assert len(records) == len(texts) > 30
        for record, text in zip(records, texts):
            assert record["answer"] in PASSAGE
            assert fmt.parse(text, source=PASSAGE) == record


def test_spans_the_format_refuses_are_not_scored(tmp_path):
    spec = tmp_path / "qa.hum"
    spec.write_text('task q : qa {\n  input text\n  input question\n  instruction "x"\n  prefer grounded\n  prefer max_words(2)\n'
                    '  formats json_answer\n}\n', encoding="utf-8")
    import humdsl

    ir = humdsl.load(spec).task("q").ir
    fmt = build(ir, ir["formats"][0])
    records, _ = span_records(fmt, PASSAGE, "x", 0)
    assert records and all(len(r["answer"].split()) <= 2 for r in records)


def test_more_spans_than_are_scored_are_refused_naming_focus(monkeypatch):
    monkeypatch.setattr(span_answers, "MAX_SPANS", 20)
    with pytest.raises(NotEnumerable, match="--focus"):
        span_records(_squad(), PASSAGE, "x", 0)


@pytest.mark.parametrize("limit", [512, 7, 1])
def test_a_tree_of_tokens_scores_each_sequence_as_a_full_pass_would(jf_decoder, limit):
    """Shared prefixes, a repeated sequence, one-token sequences, and groups split small (7 nodes;
    1: every path its own group, ancestors repeated)."""
    import torch

    from humdsl.runtime.kv_cache import new_cache, returned_cache

    dec = jf_decoder
    prompt = list(dec.tokenizer("Answer the question about the passage.")["input_ids"])
    texts = ['{"answer": "1887"}', '{"answer": "640 metres"}', '{"answer": "640"}', '{"answer": "1887"}',
             "x", '{"answer": "the longest iron bridge in the region"}']
    seqs = [list(dec.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    with torch.no_grad():
        out = dec.model(input_ids=torch.tensor([prompt]), use_cache=True, **{dec.cache_keyword: new_cache()})
        cache = returned_cache(out)
        got = sequence_logprobs(dec, cache, len(prompt), seqs, limit=limit)
        assert cache.get_seq_length() == len(prompt)  # the cache is left as it was
    for s, rows in zip(seqs, got):
        assert len(rows) == len(s) - 1
        want = full_pass(dec, prompt + s[:1], s[1:])
        assert sum(rows) == pytest.approx(want, abs=2e-3)


def _run(*args):
    return CliRunner().invoke(main, ["run", *map(str, args)])


def _questions(tmp_path):
    path = tmp_path / "q.jsonl"
    rows = [{"id": "q1", "text": PASSAGE, "question": "How long was the iron bridge?"},
            {"id": "q2", "text": "Ornithologists described the amber finch in 1931. It eats grass seeds.",
             "question": "When was the finch described?"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path, rows


def test_run_takes_the_likeliest_span_of_the_sentence_in_focus(model_dir, jf_decoder, tmp_path):
    from humdsl.runtime.decisions import AnswerScorer
    from humdsl.session import Session, Settings

    questions, rows = _questions(tmp_path)
    out = tmp_path / "out.jsonl"
    base = [ROOT / "specs" / "qa.hum", "--task", "squad", "--model", model_dir, "--input", questions,
            "--output", out, "--decision", "exact"]
    result = _run(*base)
    assert result.exit_code == 0, result.output
    lines = {x["id"]: x for x in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    # an independent enumeration: every span of the focus sentence, each scored by a full pass
    session = Session(TASKS["qa.squad"], Settings(decision="exact"), ROOT / "specs")
    scorer = AnswerScorer(jf_decoder, "chat")
    for row in rows:
        line = lines[row["id"]]
        assert line["decision"] == "exact" and line["focus"] == 1
        (a, b), = focus(row["text"], row["question"], 1)
        records, texts = span_records(session.fmt, row["text"], row["question"], 1)
        ids, answer_ids = scorer._ids(session.prompt(row), texts)
        scores = [full_pass(jf_decoder, ids, x) for x in answer_ids]
        best = max(range(len(scores)), key=lambda i: scores[i])
        assert line["record"] == records[best] and line["raw"] == texts[best]
        assert line["record"]["answer"] in row["text"][a:b]
        assert line["ranking"][0] == {"answer": texts[best], "p": line["p"]}
        top = max(scores)  # its probability among the spans of the focus, and only those
        assert line["p"] == pytest.approx(1 / sum(math.exp(x - top) for x in scores), abs=2e-3)
    again = _run(*base, "--focus", "2")
    assert again.exit_code == 1 and "focus 1, not 2" in again.output, again.output


@pytest.mark.parametrize("args,message", [
    (["specs/qa.hum", "--task", "squad", "--decision", "calibrated"],
     "--decision calibrated: a qa task takes greedy or exact"),
    (["specs/qa.hum", "--task", "squad", "--decision", "greedy", "--focus", "2"],
     "--focus is for exact decisions on a qa task"),
    (["specs/ner.hum", "--task", "conll03", "--focus", "2"], "--focus is for exact decisions on a qa task"),
    (["specs/ner.hum", "--task", "conll03", "--decision", "exact"],
     "are for classify (exact, calibrated, channel, knn) and qa (exact) tasks"),
])
def test_span_decisions_that_cannot_be_made_are_refused_before_the_model_loads(args, message, tmp_path):
    questions, _ = _questions(tmp_path)
    result = _run(ROOT / args[0], *args[1:], "--model", tmp_path / "no-model", "--input", questions,
                  "--output", tmp_path / "out.jsonl")
    assert result.exit_code == 1 and message in result.output, result.output
    assert not (tmp_path / "out.jsonl").exists()
