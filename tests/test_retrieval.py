"""Retrieved demonstrations (`--shots-from`): BM25 over the examples' inputs, deterministic, never
the input itself, spread over the labels for classification, rendered in the format being run."""
import json
import math

import pytest
from click.testing import CliRunner

from humdsl.cli import main
from humdsl.formats import build
from humdsl.retrieval import BM25, Demonstrations
from humdsl.shots import Shots, ShotsError
from support.tasks import ROOT, all_tasks

TASKS = dict(all_tasks())


def test_bm25_ranks_by_shared_rare_words_and_breaks_ties_by_position():
    docs = ["the cat sat on the mat", "a dog in the park", "the cat and the dog", "nothing alike here",
            "a dog in the park"]
    index = BM25(docs)
    assert index.ranked("dog park")[:2] == [1, 4]  # equal scores: the earlier first
    assert index.ranked("cat")[0] in (0, 2) and 3 not in index.ranked("cat")
    # by hand: idf(w) = ln(1 + (N - n + 0.5) / (n + 0.5)); a single word's score for one document
    n, df = 5, 2
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    avg = sum(len(d.split()) for d in docs) / n
    tf, dl = 1, 6
    want = idf * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * dl / avg))
    scores = {}
    for w in ["cat"]:
        for i, c in index.postings[w]:
            scores[i] = index.idf[w] * c * 2.2 / (c + 1.2 * (1 - 0.75 + 0.75 * index.lengths[i] / avg))
    assert scores[0] == pytest.approx(want)


def _examples(pairs):
    return [{"id": str(i), "text": t, "record": {"label": lab}} for i, (t, lab) in enumerate(pairs)]


def test_the_input_itself_is_never_offered_and_classification_shots_are_spread_over_labels():
    ex = _examples([("great film , great cast", "positive"), ("great film , dull plot", "negative"),
                    ("great great great", "positive"), ("great film", "positive"),
                    ("a film", "negative"), ("unrelated words", "negative")])
    demos = Demonstrations(ex, ["text"], "classify")
    offered = list(demos.candidates({"text": "great film"}, 4))
    got = [e["text"] for e in offered]
    assert "great film" not in got
    first4 = [e["record"]["label"] for e in offered[:4]]
    assert first4.count("positive") == 2 and first4.count("negative") == 2
    assert got == [e["text"] for e in demos.candidates({"text": "great film"}, 4)]  # deterministic
    assert len(got) == len(ex) - 1  # the rest follow, for examples the format cannot write


def test_extraction_shots_are_the_nearest_rendered_most_similar_last(tmp_path):
    ir = TASKS["ner.conll03"]
    fmt = build(ir, next(f for f in ir["formats"] if f["name"] == "tuples"))
    data = tmp_path / "train.jsonl"
    rows = [{"id": "a", "text": "Obama visited Paris .",
             "record": {"entities": [{"type": "PER", "text": "Obama"}, {"type": "LOC", "text": "Paris"}]}},
            {"id": "b", "text": "Shares of Apple fell .", "record": {"entities": [{"type": "ORG", "text": "Apple"}]}},
            {"id": "c", "text": "Obama spoke in Berlin .",
             "record": {"entities": [{"type": "PER", "text": "Obama"}, {"type": "LOC", "text": "Berlin"}]}},
            {"id": "d", "text": "Broken record .", "record": {"entities": [{"type": "PER", "text": "Nobody"}]}}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    shots = Shots.of(ir, fmt, None, 2, data)
    got = shots.for_row({"text": "Obama visited Berlin ."})
    # both share two words with the input; the shorter one scores higher and comes last
    assert [s["input"]["id"] for s in got] == ["c", "a"]
    assert got[-1]["answer"] == fmt.render(rows[0]["record"], source=rows[0]["text"]) == "(PER, Obama)\n(LOC, Paris)"
    # an example whose record the format cannot write (a span not in its text) is passed over
    many = Shots.of(ir, fmt, None, 4, data).for_row({"text": "Broken record ."})
    assert "Broken record ." not in [s["input"]["text"] for s in many] and len(many) == 3


def test_shots_from_a_file_that_cannot_serve_is_a_clear_error(tmp_path):
    ir = TASKS["ner.conll03"]
    fmt = build(ir, ir["formats"][0])
    with pytest.raises(ShotsError, match="cannot read"):
        Shots.of(ir, fmt, None, 2, tmp_path / "missing.jsonl")
    empty = tmp_path / "none.jsonl"
    empty.write_text('{"id": "1", "text": "no record here"}\n', encoding="utf-8")
    with pytest.raises(ShotsError, match="holds no labelled example"):
        Shots.of(ir, fmt, None, 2, empty)
    with pytest.raises(ShotsError, match="0 or more"):
        Shots.of(ir, fmt, None, -1)


def test_run_shows_each_input_its_nearest_examples(model_dir, tmp_path, monkeypatch):
    from humdsl import session as run_module

    seen = []
    real = run_module.prompt_text
    monkeypatch.setattr(run_module, "prompt_text", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    gold = ROOT / "examples" / "data" / "tickets_entities.gold.jsonl"
    tickets = ROOT / "examples" / "data" / "tickets.jsonl"
    result = CliRunner().invoke(main, ["run", str(ROOT / "examples" / "support_tickets.hum"), "--task",
                                       "ticket_entities", "--model", str(model_dir), "--input", str(tickets),
                                       "--output", str(tmp_path / "o.jsonl"), "--shots-from", str(gold),
                                       "--shots", "1", "--limit", "2"])
    assert result.exit_code == 0, result.output
    inputs = [json.loads(x) for x in tickets.read_text(encoding="utf-8").splitlines()][:2]
    assert len(seen) == 2
    for prompt, inp in zip(seen, inputs):
        assert prompt.count("\nExample ") == 1
        assert prompt.count(inp["text"]) == 1  # its own gold line is never its example
    assert seen[0].split("Example 1:")[1] != seen[1].split("Example 1:")[1]


def test_retrieved_records_are_written_as_synthesis_writes_gold_answers(tmp_path):
    """Dataset records carry character offsets and may list items out of order: the shot is the
    answer synthesis would write (no offsets; in order of appearance where the task says so)."""
    ir = TASKS["ner.conll03"]
    fmt = build(ir, next(f for f in ir["formats"] if f["name"] == "tuples"))
    data = tmp_path / "train.jsonl"
    row = {"id": "a", "text": "Obama met Merkel in Paris .",
           "record": {"entities": [{"type": "LOC", "text": "Paris", "start": 20},
                                   {"type": "PER", "text": "Obama", "start": 0},
                                   {"type": "PER", "text": "Merkel", "start": 10}]}}
    data.write_text(json.dumps(row) + "\n", encoding="utf-8")
    got = Shots.of(ir, fmt, None, 1, data).for_row({"text": "Merkel spoke ."})
    assert got[0]["answer"] == "(PER, Obama)\n(PER, Merkel)\n(LOC, Paris)"
