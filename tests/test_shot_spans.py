"""`--shot-spans on`: the words the shown examples label keep the examples' label, the model's
items follow where they touch none of them, and the answer stays an answer of the format (its
grammar for the input and the rules across spans the run keeps)."""
import json
import random

import pytest
from click.testing import CliRunner

from humdsl.cli import main
from humdsl.formats import FormatParseError, Unrenderable, build
from humdsl.shot_spans import ShotSpan, keep_shot_spans, shot_spans
from humdsl.synth.verify import Verifier
from support.tasks import ROOT, all_tasks

TASKS = dict(all_tasks())
IR = TASKS["ner.conll03"]
SOURCE = "Somerset beat Kent at Taunton as West Indian Brian Lara scored 80 for Warwickshire ."


def _fmt(name: str):
    return build(IR, next(f for f in IR["formats"] if f["name"] == name))


def _shot(*items):
    return {"record": {"entities": [{"type": t, "text": x} for t, x in items]}}


def _accepts(fmt, source, batch=None):
    verifier = Verifier()
    return lambda text: verifier.problem(fmt, text, batch, source) is None


def test_the_examples_spans_are_those_that_stand_in_the_input_as_whole_words_by_majority_longest_first():
    fmt = _fmt("tuples")
    shots = [_shot(("ORG", "Somerset"), ("ORG", "Kent")), _shot(("LOC", "Somerset"), ("ORG", "Somerset")),
             _shot(("MISC", "West Indian"), ("PER", "Lara"), ("LOC", "Kentucky")),
             _shot(("PER", "Brian Lara"), ("LOC", "Taunton"), ("ORG", "Taunton"))]
    got = shot_spans(fmt, shots, SOURCE, None)
    assert [s.text for s in got] == ["West Indian", "Brian Lara", "Somerset", "Taunton", "Kent", "Lara"]
    by_text = {s.text: s for s in got}
    assert by_text["Somerset"] == ShotSpan("Somerset", "ORG", 2 / 3)  # two of three labels
    assert by_text["Taunton"].type == "ORG"  # a tie goes to the task's label order: PER, ORG, LOC, MISC
    assert "Kentucky" not in by_text  # not in the input; "Kent" inside it would not be a whole word either
    # a label batch: only its labels
    assert [s.text for s in shot_spans(fmt, shots, SOURCE, ["PER"])] == ["Brian Lara", "Lara"]


def test_the_examples_decide_their_words_and_the_models_other_items_follow():
    fmt = _fmt("tuples")
    spans = shot_spans(fmt, [_shot(("ORG", "Somerset"), ("MISC", "West Indian"))], SOURCE, None)
    model = {"entities": [{"type": "LOC", "text": "Somerset"}, {"type": "PER", "text": "West Indian Brian Lara"},
                          {"type": "LOC", "text": "Taunton"}, {"type": "ORG", "text": "Warwickshire"}]}
    kept = keep_shot_spans(fmt, model, [0.5, 0.4, 0.9, 0.8], spans, SOURCE, None, "decoder", _accepts(fmt, SOURCE))
    assert kept is not None
    # Somerset retyped; "West Indian Brian Lara" touches words an example decided: dropped; in input order
    assert kept.record == {"entities": [{"type": "ORG", "text": "Somerset"}, {"type": "LOC", "text": "Taunton"},
                                        {"type": "MISC", "text": "West Indian"},
                                        {"type": "ORG", "text": "Warwickshire"}]}
    assert kept.from_shots == [0, 2]
    assert kept.item_p == [1.0, 0.9, 1.0, 0.8]  # the examples' agreement, the model's own probabilities
    assert fmt.parse(kept.text, source=SOURCE) == kept.record
    # with the rules left to the parser (overlaps allowed) the examples still decide their words
    loose = keep_shot_spans(fmt, model, None, spans, SOURCE, None, "parser", _accepts(fmt, SOURCE))
    assert loose is not None and loose.record == kept.record


def test_nothing_changed_or_an_answer_the_grammar_refuses_keeps_the_models_answer():
    fmt = _fmt("tuples")
    model = {"entities": [{"type": "ORG", "text": "Somerset"}]}
    spans = shot_spans(fmt, [_shot(("ORG", "Somerset"))], SOURCE, None)
    assert keep_shot_spans(fmt, model, None, spans, SOURCE, None, "decoder", _accepts(fmt, SOURCE)) is None
    more = shot_spans(fmt, [_shot(("ORG", "Kent"))], SOURCE, None)
    assert keep_shot_spans(fmt, model, None, more, SOURCE, None, "decoder", lambda text: False) is None


def test_where_the_examples_label_none_of_the_inputs_words_the_answer_is_the_models():
    fmt = _fmt("json_by_label")
    twice = {"entities": [{"type": "PER", "text": "Kent"}, {"type": "ORG", "text": "Kent"}]}  # no_overlap aside
    none = shot_spans(fmt, [_shot(("ORG", "Essex"))], SOURCE, None)
    assert none == [] and keep_shot_spans(fmt, twice, None, none, SOURCE, None, "parser", lambda text: True) is None
    # where they do, the model's items elsewhere stay as the model wrote them
    some = shot_spans(fmt, [_shot(("LOC", "Taunton"))], SOURCE, None)
    kept = keep_shot_spans(fmt, twice, None, some, SOURCE, None, "parser", lambda text: True)
    assert kept is not None and {(e["type"], e["text"]) for e in kept.record["entities"]} == {
        ("PER", "Kent"), ("ORG", "Kent"), ("LOC", "Taunton")}


def test_spans_not_grounded_in_the_input_are_left_to_the_model():
    ir = json.loads(json.dumps(IR))
    ir["rules"] = [r for r in ir["rules"] if (r["effect"] or {}).get("name") != "grounded"]
    fmt = build(ir, next(f for f in ir["formats"] if f["name"] == "tuples"))
    assert not fmt.schema.grounded
    spans = shot_spans(fmt, [_shot(("ORG", "Somerset"))], SOURCE, None)
    model = {"entities": [{"type": "LOC", "text": "Somerset"}, {"type": "PER", "text": "a cricketer"}]}
    assert keep_shot_spans(fmt, model, None, spans, SOURCE, None, "decoder", lambda text: True) is None


def test_a_span_the_grammar_refuses_is_passed_over_and_the_others_kept():
    fmt = _fmt("tuples")
    spans = shot_spans(fmt, [_shot(("ORG", "Somerset"), ("ORG", "Kent"))], SOURCE, None)
    kept = keep_shot_spans(fmt, {"entities": []}, None, spans, SOURCE, None, "decoder",
                           lambda text: "Somerset" not in text)  # as a grammar with a rule against it would
    assert kept is not None and kept.record == {"entities": [{"type": "ORG", "text": "Kent"}]}
    # the same items in another order are no change
    model = {"entities": [{"type": "ORG", "text": "Kent"}, {"type": "ORG", "text": "Somerset"}]}
    assert keep_shot_spans(fmt, model, None, spans, SOURCE, None, "parser", lambda text: True) is None


def test_the_item_bound_holds_the_examples_first():
    ir = json.loads(json.dumps(IR))
    for rule in ir["rules"]:
        if (rule["effect"] or {}).get("name") == "max_items":
            rule["effect"]["args"]["n"] = 2
    fmt = build(ir, next(f for f in ir["formats"] if f["name"] == "tuples"))
    assert fmt.schema.max_items(fmt.schema.batch_or_all(None)) == 2
    spans = shot_spans(fmt, [_shot(("ORG", "Somerset"), ("ORG", "Kent"))], SOURCE, None)
    model = {"entities": [{"type": "PER", "text": "Brian Lara"}]}
    kept = keep_shot_spans(fmt, model, None, spans, SOURCE, None, "decoder", _accepts(fmt, SOURCE))
    assert kept is not None and [e["text"] for e in kept.record["entities"]] == ["Somerset", "Kent"]


WORDS = ["Somerset", "Kent", "Taunton", "West Indian", "West", "Indian Brian", "Brian Lara", "Lara", "Warwickshire",
         "beat", "80"]
LABELS = ["PER", "ORG", "LOC", "MISC"]


@pytest.mark.parametrize("name", ["tuples", "json_by_label", "sentences", "table", "tagged"])
@pytest.mark.parametrize("mode", ["decoder", "unordered", "parser"])
def test_law_every_answer_is_in_the_grammar_keeps_the_rules_and_gives_the_examples_words_their_label(name, mode):
    """Random model answers (any order, overlaps, repeats) and random examples: whatever comes
    back parses to its record, is accepted by the format's grammar for the input, keeps the run's
    rules across spans, labels every word an example decided as the examples do, and keeps each
    model item it does not drop as it was."""
    fmt = _fmt(name)
    accepts = _accepts(fmt, SOURCE)
    rng = random.Random(f"{name}-{mode}")
    changed = 0
    for _ in range(40):
        model = {"entities": [{"type": rng.choice(LABELS), "text": rng.choice(WORDS)} for _ in range(rng.randint(0, 5))]}
        try:
            model = fmt.parse(fmt.render(model, source=SOURCE), source=SOURCE)
        except (Unrenderable, FormatParseError):
            continue  # an answer this format cannot write (the inline format: overlapping marks)
        shots = [_shot(*[(rng.choice(LABELS), rng.choice(WORDS)) for _ in range(rng.randint(0, 3))]) for _ in range(3)]
        spans = shot_spans(fmt, shots, SOURCE, None)
        model_p = [round(rng.random(), 3) for _ in model["entities"]]
        kept = keep_shot_spans(fmt, model, model_p, spans, SOURCE, None, mode, accepts)
        if kept is None:
            continue
        changed += 1
        assert fmt.parse(kept.text, source=SOURCE) == kept.record
        assert accepts(kept.text)
        assert fmt.span_rule_problem(kept.record, SOURCE, mode) is None
        decided = {s.text: s.type for s in spans}
        items = kept.record["entities"]
        given = {(e["type"], e["text"]): p for e, p in zip(model["entities"], model_p)}
        agreement = {(s.type, s.text): s.agreement for s in spans}
        assert len(kept.item_p) == len(items)
        for i, item in enumerate(items):
            key = (item["type"], item["text"])
            if i in kept.from_shots:
                assert decided[item["text"]] == item["type"] and kept.item_p[i] == agreement[key]
            else:
                assert item in model["entities"] and item["text"] not in decided and kept.item_p[i] == given[key]
    assert changed >= 10


def test_humc_run_keeps_the_examples_labels_and_says_which_items_they_decided(model_dir, tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text(json.dumps({"id": "p1", "text": "Kent beat Somerset at Canterbury .",
                                "record": {"entities": [{"type": "ORG", "text": "Kent"},
                                                        {"type": "ORG", "text": "Somerset"},
                                                        {"type": "LOC", "text": "Canterbury"}]}}) + "\n",
                    encoding="utf-8")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json.dumps({"id": "1", "text": "Somerset lost to Essex in Taunton ."}) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    args = ["run", str(ROOT / "specs" / "ner.hum"), "--task", "conll03", "--format", "tuples", "--model",
            str(model_dir), "--input", str(inputs), "--output", str(out), "--shots", "1", "--shots-from", str(pool)]
    result = CliRunner().invoke(main, args + ["--shot-spans", "on"])
    assert result.exit_code == 0, result.output
    line = json.loads(out.read_text(encoding="utf-8"))
    assert line["shot_spans"] == "on"
    assert {"type": "ORG", "text": "Somerset"} in line["record"]["entities"]
    assert all(e["text"] != "Somerset" or e["type"] == "ORG" for e in line["record"]["entities"])
    if "from_shots" in line:  # unless the random model wrote Somerset as ORG itself
        assert line["record"]["entities"][line["from_shots"][0]] == {"type": "ORG", "text": "Somerset"}
        assert _fmt("tuples").parse(line["raw"], source="Somerset lost to Essex in Taunton .") == line["record"]
        assert "model_raw" in line and line["model_raw"] != line["raw"]
        assert len(line["item_p"]) == len(line["record"]["entities"])
    # resuming the file without the setting would mix two runs: refused
    again = CliRunner().invoke(main, args)
    assert again.exit_code != 0 and "shot spans" in again.output
    # without retrieved examples (the spec's own would label their words everywhere): a clear error
    alone = CliRunner().invoke(main, args[:-2] + ["--output", str(tmp_path / "o2.jsonl"), "--shot-spans", "on"])
    assert alone.exit_code != 0 and "needs --shots-from" in alone.output
    # on a task that is not an entity task: a clear error
    bad = CliRunner().invoke(main, ["run", str(ROOT / "examples" / "support_tickets.hum"), "--task", "ticket_triage",
                                    "--model", str(model_dir), "--input", str(inputs), "--output",
                                    str(tmp_path / "t.jsonl"), "--shot-spans", "on"])
    assert bad.exit_code != 0 and "entity tasks" in bad.output and "Traceback" not in bad.output
