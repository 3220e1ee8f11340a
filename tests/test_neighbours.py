"""Nearest-neighbour decisions (`--decision knn`): the model's state after each document, read over
a shared prefix a batch at a time, equals a plain forward pass of that document alone; an input
takes the answer most of its k nearest labelled examples have; and a run's decisions equal an
independent computation of the same from those plain passes."""
import json
import math

import pytest
from click.testing import CliRunner

from humdsl.cli import main
from humdsl.runtime.decisions import Answers
from humdsl.runtime.neighbours import Anchors, answer_key, answer_lead, neighbours_k, spread, states
from support.tasks import ROOT, all_tasks

TASKS = dict(all_tasks())
TICKETS = ROOT / "examples" / "data" / "tickets.jsonl"
POOL = ROOT / "examples" / "data" / "tickets_pool.gold.jsonl"


def _run(*args):
    return CliRunner().invoke(main, ["run", *map(str, args)])


def _ids(decoder, document: str) -> list[int]:
    return list(decoder.tokenizer(document)["input_ids"])


def _plain_state(decoder, document: str | list[int]):
    """The input of the output layer at the document's last token, from one forward pass of it alone."""
    import torch

    ids = torch.tensor([_ids(decoder, document) if isinstance(document, str) else document])
    with torch.no_grad():
        out = decoder.model.model(input_ids=ids)  # the stack under the output layer
    return torch.nn.functional.normalize(out.last_hidden_state[0, -1].float(), dim=-1)


def test_k_is_the_square_root_of_the_anchors_and_a_large_pool_is_sampled_evenly():
    assert [neighbours_k(n) for n in (1, 2, 4, 26, 1024)] == [1, 2, 2, 6, 32]
    assert spread(5, 10) == [0, 1, 2, 3, 4]
    assert spread(10, 4) == [0, 2, 5, 7]
    assert len(spread(6920)) == 1024 and spread(6920)[-1] == 6913


def test_the_state_is_taken_where_the_answers_part():
    assert answer_lead(Answers([{}, {}], [['{"label": "positive"}'], ['{"label": "negative"}']])) == '{"label": "'
    assert answer_lead(Answers([{}, {}], [["billing"], ["bug"]])) == "b"
    assert answer_lead(Answers([{}, {}], [["positive"], ["negative"]])) == ""
    assert answer_key({"labels": ["bug", "billing"]}) == answer_key({"labels": ["billing", "bug"]})
    assert answer_key({"label": "bug"}) == frozenset({"bug"}) == answer_key({"labels": ["bug"]})


def test_states_read_in_batches_over_a_shared_prefix_equal_one_plain_pass_each(jf_decoder):
    import torch

    head = "Classify the ticket.\n\nText: the app crashed twice\nAnswer: bug\n\n"
    docs = [head + f"Text: {t}\nAnswer:" for t in
            ("charged twice", "nothing loads at all for our whole team", "dark mode please", "x")]
    got = states(jf_decoder, [_ids(jf_decoder, d) for d in docs + docs[:1]])  # the prefix kept, a repeat
    for i, doc in enumerate(docs + docs[:1]):
        assert torch.allclose(got[i], _plain_state(jf_decoder, doc), atol=1e-4), doc
    again = states(jf_decoder, [_ids(jf_decoder, docs[2])])  # alone, after the batch
    assert torch.allclose(again[0], got[2], atol=1e-4)


def _anchors(vectors: list[list[float]], answers: list[int]) -> Anchors:
    import torch

    return Anchors(torch.nn.functional.normalize(torch.tensor(vectors), dim=-1), answers)


class _Labels:
    """A format stand-in: parses an answer text as the label it names."""
    def parse(self, text, batch=None, source=None):
        return {"label": text}


def test_the_answer_most_of_the_k_nearest_have_wins_with_its_share_as_p():
    import torch

    options = Answers([{"label": "a"}, {"label": "b"}, {"label": "c"}], [["a"], ["b"], ["c"]])
    # nine anchors: k = 3; the three nearest to (1, 0) are two "b" and one "a"
    anchors = _anchors([[1, 0.1], [1, 0.2], [1, -0.15], [0, 1], [0, 1], [0, 1], [-1, 0], [-1, 0], [-1, 0]],
                       [1, 0, 1, 2, 2, 2, 0, 0, 0])
    d = anchors.decide(torch.tensor([1.0, 0.0]), options, _Labels(), None, "")
    assert anchors.k == 3
    assert d.text == "b" and d.record == {"label": "b"} and d.p == pytest.approx(2 / 3, abs=1e-4)
    assert d.ranking == [{"answer": "b", "p": 0.6667}, {"answer": "a", "p": 0.3333}]


def test_a_tie_goes_to_the_answer_of_the_nearest_anchor():
    import torch

    options = Answers([{"label": "a"}, {"label": "b"}], [["a"], ["b"]])
    anchors = _anchors([[1, 0.3], [1, 0.1], [0, 1], [-1, 0]], [0, 1, 0, 1])  # k = 2: one "a", one "b"
    assert anchors.decide(torch.tensor([1.0, 0.0]), options, _Labels(), None, "").text == "b"


def _label_sets(*sets: str) -> Answers:
    records = [{"labels": x.split(",")} for x in sets]
    return Answers(records, [[x.replace(",", ", ")] for x in sets])


class _LabelSets:
    def parse(self, text, batch=None, source=None):
        return {"labels": text.split(", ")}


def test_a_multilabel_answer_holds_each_label_most_of_the_nearest_carry():
    import torch

    options = _label_sets("billing", "bug", "outage", "billing,bug", "billing,outage", "bug,outage",
                          "billing,bug,outage")
    # nine anchors, k = 3, all near (1, 0): "outage", "billing, bug", "billing". A vote over whole
    # answers is a three-way tie the nearest ("outage") would win; billing is carried by two of three.
    anchors = Anchors(torch.nn.functional.normalize(torch.tensor(
        [[1, 0.1], [1, 0.2], [1, 0.3]] + [[-1, 0]] * 6), dim=-1), [2, 3, 0] + [1] * 6, multilabel=True)
    d = anchors.decide(torch.tensor([1.0, 0.0]), options, _LabelSets(), None, "")
    assert d.text == "billing"
    # carried: billing 2, bug 1, outage 1 of 3. Anchors agreeing label by label, multiplied: billing
    # 2 (have) x bug 2 (lack) x outage 2 (lack) = 8; bug 1x1x2 = 2; outage 2; billing, bug 2x1x2 = 4;
    # billing, outage 4; bug, outage 1; all three 2: in all 23
    assert d.p == round(8 / 23, 4)
    # a tie of 4 / 23: the answer whose labels' nearest anchors are nearer ("outage" is the nearest)
    assert d.ranking[1:3] == [{"answer": "billing, outage", "p": round(4 / 23, 4)},
                              {"answer": "billing, bug", "p": round(4 / 23, 4)}]
    # labels carried by more than half are all in: "billing, bug" twice and "bug" once -> both
    both = Anchors(anchors.states, [3, 3, 1] + [2] * 6, multilabel=True)
    assert both.decide(torch.tensor([1.0, 0.0]), options, _LabelSets(), None, "").text == "billing, bug"


def test_run_decides_each_ticket_as_its_nearest_pool_tickets_are_labelled(model_dir, jf_decoder, tmp_path,
                                                                          monkeypatch):
    """The CLI's answers equal kNN computed here from the documents the session writes. States are
    read by plain passes on both sides (that batched reading equals them is tested above): on the
    random model many anchors are nearly as near, and the last digits would decide ties."""
    import torch

    import humdsl.runtime.neighbours as neighbours
    from humdsl.session import Session, Settings

    monkeypatch.setattr(neighbours, "states", lambda decoder, ids: torch.stack([_plain_state(decoder, x)
                                                                                for x in ids]))
    monkeypatch.setenv("HUMC_CACHE_DIR", str(tmp_path / "cache"))  # no anchor states another test kept
    out = tmp_path / "out.jsonl"
    result = _run(ROOT / "examples" / "support_tickets.hum", "--task", "ticket_triage", "--model", model_dir,
                  "--input", TICKETS, "--output", out, "--decision", "knn", "--shots-from", POOL)
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 8 and {x["decision"] for x in lines} == {"knn"}

    session = Session(TASKS["support_tickets.ticket_triage"], Settings(decision="knn", shots_from=POOL))
    pool = [json.loads(x) for x in POOL.read_text(encoding="utf-8").splitlines()]
    assert len(session.anchor_examples) == len(pool)  # every pool answer has at most three labels
    k = math.ceil(math.sqrt(len(pool)))
    anchor_states = torch.stack([_plain_state(jf_decoder, session._knn_document(session.prompt(ex)))
                                 for ex, _ in session.anchor_examples])
    for line, row in zip(lines, map(json.loads, TICKETS.read_text(encoding="utf-8").splitlines())):
        assert session._knn_document(session.prompt(row)).endswith("Answer:")  # bare labels share no lead
        mine = anchor_states @ _plain_state(jf_decoder, session._knn_document(session.prompt(row)))
        near = torch.argsort(-mine, stable=True)[:k].tolist()
        carried = [session.options.records[session.anchor_examples[i][1]]["labels"] for i in near]
        count = {label: sum(label in c for c in carried) for c in carried for label in c}
        nearest_first = sorted(count, key=lambda label: -count[label])  # stable: nearest first on ties
        expected = [label for label in nearest_first if count[label] > k / 2][:3] or nearest_first[:1]
        assert sorted(line["record"]["labels"]) == sorted(expected), (line, carried)

        def agreeing(labels):  # how many of the k agree with an answer, label by label, multiplied
            return math.prod(count.get(label, 0) if label in labels else k - count.get(label, 0)
                             for label in ("billing", "bug", "feature_request", "account", "outage"))

        total = sum(agreeing(set(r["labels"])) for r in session.options.records)
        assert line["p"] == round(agreeing(set(expected)) / total, 4), (line, carried)
        assert line["ranking"][0]["p"] == line["p"] and line["ranking"] == sorted(line["ranking"], key=lambda r: -r["p"])


def test_the_prompt_shows_the_spec_examples_not_retrieved_ones():
    from humdsl.session import Session, Settings

    ir = TASKS["support_tickets.ticket_triage"]
    session = Session(ir, Settings(decision="knn", shots_from=POOL))
    row = {"id": "t1", "text": "Subject: invoice address. The invoice shows our old company address."}
    prompt = session.prompt(row)
    assert "charged twice" in prompt  # the spec's first example
    assert "old company address. Can you issue" not in prompt  # the most similar pool ticket is not shown


@pytest.mark.parametrize("args,message", [
    (["--task", "ticket_entities", "--decision", "knn", "--shots-from", POOL],
     "holds no example labelled with entities"),
    (["--task", "ticket_triage", "--decision", "knn", "--labels", "account", "--shots-from", "ODD"],
     "holds no labelled example whose answer this run allows"),
])
def test_knn_decisions_that_cannot_be_made_are_refused_before_the_model_loads(args, message, tmp_path):
    odd = tmp_path / "odd.jsonl"
    odd.write_text(json.dumps({"id": "p1", "text": "it crashed", "record": {"labels": ["bug"]}}) + "\n",
                   encoding="utf-8")
    args = [odd if a == "ODD" else a for a in args]
    result = _run(ROOT / "examples" / "support_tickets.hum", *args, "--model", tmp_path / "no-model",
                  "--input", TICKETS, "--output", tmp_path / "out.jsonl")
    assert result.exit_code == 1 and message in result.output, result.output
    assert not (tmp_path / "out.jsonl").exists()


def test_without_shots_from_knn_compares_with_the_tasks_own_examples(model_dir, tmp_path):
    bare = tmp_path / "bare.hum"
    bare.write_text('task bare : classify {\n  labels { yes no }\n  instruction "Yes or no?"\n}\n', encoding="utf-8")
    result = _run(bare, "--task", "bare", "--decision", "knn", "--model", tmp_path / "no-model",
                  "--input", TICKETS, "--output", tmp_path / "bare.jsonl")
    assert result.exit_code == 1 and "task 'bare' (its examples, without --shots-from) has none" in result.output
    assert not (tmp_path / "bare.jsonl").exists()
    out = tmp_path / "out.jsonl"
    result = _run(ROOT / "examples" / "support_tickets.hum", "--task", "ticket_triage", "--decision", "knn",
                  "--model", model_dir, "--input", TICKETS, "--output", out)
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    carried = {label for ex in TASKS["support_tickets.ticket_triage"]["examples"] for label in ex["output"]["labels"]}
    assert len(lines) == 8 and all(x["decision"] == "knn" for x in lines)
    assert carried < {lab["code"] for lab in TASKS["support_tickets.ticket_triage"]["labels"]}  # one no example carries ...
    assert all(set(x["record"]["labels"]) <= carried for x in lines)  # ... is never voted for


def test_pool_lines_passed_over_are_listed_with_their_place_and_the_run_goes_on(model_dir, tmp_path):
    pool = tmp_path / "pool.jsonl"
    lines = POOL.read_text(encoding="utf-8").splitlines()
    broken = [lines[0], "{not json", lines[1], json.dumps({"id": "x1", "text": "hello", "record": {"labels": ["spam"]}}),
              json.dumps({"id": "x2", "text": "four topics", "record": {"labels": ["billing", "bug", "outage", "account"]}}),
              *lines[2:]]
    pool.write_text("\n".join(broken) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["run", str(ROOT / "examples" / "support_tickets.hum"), "--task",
                                                       "ticket_triage", "--model", str(model_dir), "--input", str(TICKETS),
                                                       "--output", str(out), "--decision", "knn", "--shots-from", str(pool)])
    assert result.exit_code == 0, result.stderr
    notes = [x for x in result.stderr.splitlines() if x.endswith("(--shots-from: passed over)")]
    assert len(notes) == 2 and notes[0].startswith(f"{pool}:2: "), result.stderr
    assert notes[1].startswith(f"{pool}: 2 of {len(lines) + 2} labelled examples have an answer this run does not allow")
    answers = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(answers) == 8 and {x["prompt_style"] for x in answers} == {"plain"}  # what knn reads, whatever is asked


def test_the_anchors_states_are_kept_on_disk_and_read_again_only_for_another_pool(model_dir, tmp_path, monkeypatch):
    import humdsl.runtime.neighbours as neighbours

    monkeypatch.setenv("HUMC_CACHE_DIR", str(tmp_path / "cache"))
    read = []
    real = neighbours.states
    monkeypatch.setattr(neighbours, "states", lambda decoder, ids: read.append(len(ids)) or real(decoder, ids))

    def run(pool, out):
        result = _run(ROOT / "examples" / "support_tickets.hum", "--task", "ticket_triage", "--model", model_dir,
                      "--input", TICKETS, "--output", out, "--decision", "knn", "--shots-from", pool)
        assert result.exit_code == 0, result.output
        return out.read_text(encoding="utf-8")

    def anchors_read(out, pool=POOL):  # how many anchors the run read (its inputs come 4 a batch)
        read.clear()
        text = run(pool, out)
        assert sum(n for n in read if n <= 4) == 8  # every ticket, whatever happened to the anchors
        return [n for n in read if n > 4], text

    pool_size = len(POOL.read_text(encoding="utf-8").splitlines())
    read_first, first = anchors_read(tmp_path / "a.jsonl")
    assert read_first == [pool_size]
    assert anchors_read(tmp_path / "b.jsonl") == ([], first)  # the anchors kept
    (entry,) = (tmp_path / "cache" / "knn").glob("*/*.bin")
    entry.write_bytes(entry.read_bytes()[:-10])  # a truncated entry is read again, not used
    assert anchors_read(tmp_path / "c.jsonl") == ([pool_size], first)
    fewer = tmp_path / "fewer.jsonl"
    fewer.write_text("".join(POOL.read_text(encoding="utf-8").splitlines(keepends=True)[1:]), encoding="utf-8")
    assert anchors_read(tmp_path / "d.jsonl", fewer)[0] == [pool_size - 1]


def test_tune_tries_knn_only_where_it_has_labelled_examples_to_compare_with():
    from humdsl.tune import _runnable, space

    ir = TASKS["support_tickets.ticket_triage"]
    assert ("knn", "plain") in space(ir, "data/pool.jsonl")["decision"]
    assert ("knn", "plain") in space(ir, None)["decision"]  # the task's own examples are compared
    assert ("knn", "plain") not in space({**ir, "examples": []}, None)["decision"]
    # entity tasks tag their words as the nearest labelled ones are (runtime/word_neighbours.py), grounded ones only
    assert ("knn", "plain") in space(TASKS["support_tickets.ticket_entities"], "data/pool.jsonl")["decision"]
    loose = {**TASKS["support_tickets.ticket_entities"],
             "rules": [r for r in TASKS["support_tickets.ticket_entities"]["rules"] if "grounded" not in str(r)]}
    assert ("knn", "plain") not in space(loose, "data/pool.jsonl")["decision"]
    assert ("knn", "plain") not in space(TASKS["relations.conll04"], "data/pool.jsonl")["decision"]
    profile = {"decision": "knn", "shots": 2, "shots_from": None, "shot_spans": "off"}
    assert _runnable(profile, "data/pool.jsonl")["shots_from"] == "data/pool.jsonl"


def test_a_json_format_is_read_up_to_where_its_answers_part(tmp_path):
    from humdsl.session import Session, Settings

    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"id": str(i), "text": t, "record": {"label": lab}}) + "\n"
                            for i, (t, lab) in enumerate([("great", "positive"), ("awful", "negative")])),
                    encoding="utf-8")
    session = Session(TASKS["classify.sst2"], Settings(decision="knn", format="json_label", shots_from=pool))
    assert session._knn_document("PROMPT\n") == 'PROMPT\nSentiment: {"label": "'  # the task's name for its answer
    assert [at for _, at in session.anchor_examples] == [0, 1]  # positive, negative: the options' order


def test_a_run_whose_answers_are_all_one_label_says_so_and_points_at_the_remedy(model_dir, tmp_path):
    from humdsl.runtime.run import LEANING_MIN_ANSWERS

    pool = tmp_path / "pool.jsonl"  # every labelled example says billing: the vote cannot say anything else
    pool.write_text("".join(json.dumps({"id": f"p{i}", "text": f"Invoice {i} was charged twice.",
                                        "record": {"labels": ["billing"]}}) + "\n" for i in range(4)),
                    encoding="utf-8")
    tickets = TICKETS.read_text(encoding="utf-8").splitlines()
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({**json.loads(tickets[i % len(tickets)]), "id": f"q{i}"}) + "\n"
                              for i in range(LEANING_MIN_ANSWERS)), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = _run(ROOT / "examples" / "support_tickets.hum", "--task", "ticket_triage", "--decision", "knn",
                  "--shots-from", pool, "--model", model_dir, "--input", inputs, "--output", out)
    assert result.exit_code == 0, result.output
    assert {json.dumps(json.loads(x)["record"]) for x in out.read_text(encoding="utf-8").splitlines()} == \
        {json.dumps({"labels": ["billing"]})}
    assert f"note: all {LEANING_MIN_ANSWERS} answers are billing" in result.output
    assert "check --shots-from" in result.output


def test_the_leaning_note_is_for_many_answers_all_alike_of_a_task_that_has_a_choice():
    from humdsl.runtime.run import LEANING_MIN_ANSWERS, leaning_note

    many = LEANING_MIN_ANSWERS
    note = leaning_note([{"label": "ABBR"}] * many, "greedy", 6)
    assert note.startswith(f"note: all {many} answers are ABBR") and "--decision channel" in note
    assert "--decision knn" in leaning_note([{"label": "ABBR"}] * many, "channel", 6)
    assert leaning_note([{"label": "ABBR"}] * (many - 1), "greedy", 6) == ""  # too few to say
    assert leaning_note([{"label": "ABBR"}] * many + [{"label": "NUM"}], "greedy", 6) == ""
    assert leaning_note([{"label": "yes"}] * many, "greedy", 1) == ""  # no other answer allowed
    assert "are bug, outage" in leaning_note([{"labels": ["bug", "outage"]}] * many, "exact", 5)
