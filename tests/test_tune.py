"""humc tune: a deterministic, budgeted coordinate ascent over the settings a spec declares, whose
winner is the best of what it measured, written into the spec as its run { } profile."""
import json
import os
import shutil

import pytest
from click.testing import CliRunner

import humdsl
from humdsl.cli import main
from humdsl.tune import Trial, TuneError, profile_to_write, search, space, start_profile, write_profile
from support.tasks import ROOT, all_tasks

TASKS = dict(all_tasks())
TRIAGE = TASKS["support_tickets.ticket_triage"]


def _fake(scores: dict):
    """A measure that scores a profile by a sum of per-setting points (no model)."""
    calls = []

    def measure(profile):
        calls.append(profile)
        score = sum(scores.get((k, json.dumps(v)), 0) for k, v in profile.items())
        return Trial(profile, score, 1.0, 0.1)
    return measure, calls


def test_the_search_climbs_each_dimension_and_keeps_the_best_it_measured():
    points = {("decision", '"calibrated"'): 3, ("prompt_style", '"plain"'): 2, ("prompt", '"lean"'): 1,
              ("answer_format", '"json_labels"'): 1, ("phrasing", "3"): 1}
    measure, calls = _fake(points)
    trials = search(TRIAGE, measure, budget=100)
    best = max(trials, key=lambda t: t.score)
    assert best.profile["decision"] == "calibrated" and best.profile["prompt_style"] == "plain"
    assert best.profile["prompt"] == "lean" and best.profile["answer_format"] == "json_labels"
    assert best.profile["phrasing"] == 3 and best.score == 8
    keys = [json.dumps(c, sort_keys=True) for c in calls]
    assert len(keys) == len(set(keys))  # each setting measured once
    again, _ = _fake(points)
    assert [t.profile for t in search(TRIAGE, again, budget=100)] == [t.profile for t in trials]


def test_channel_decisions_are_not_measured_again_for_prompt_parts_or_phrasings_they_do_not_show():
    measure, calls = _fake({("decision", '"channel"'): 5})
    search(TRIAGE, measure, budget=100)
    channel = [c for c in calls if c["decision"] == "channel"]
    assert len(channel) >= 1
    assert len({(c["answer_format"], json.dumps(c["shots"])) for c in channel}) == len(channel)


def test_the_examples_labels_are_measured_only_with_retrieved_examples():
    ner = TASKS["ner.conll03"]
    measure, calls = _fake({("shot_spans", '"on"'): 5, ("shots_from", '"train.txt"'): 1})
    trials = search(ner, measure, shots_from="train.txt", budget=100)
    assert any(c["shot_spans"] == "on" for c in calls)
    assert all(c["shots_from"] for c in calls if c["shot_spans"] == "on")  # never with the spec's examples
    assert max(trials, key=lambda t: t.score).profile["shot_spans"] == "on"


def test_the_budget_bounds_the_settings_measured():
    measure, calls = _fake({("decision", '"exact"'): 1})
    trials = search(TRIAGE, measure, budget=3)
    assert len(trials) == len(calls) == 3


def test_the_space_offers_scored_decisions_for_classify_only_and_retrieval_when_given():
    ner = TASKS["ner.conll03"]
    assert space(ner, None)["decision"] == [("greedy", "chat"), ("knn", "plain")]  # knn: its own examples compared
    assert space({**ner, "examples": []}, None)["decision"] == [("greedy", "chat")]
    assert space(ner, "train.txt")["shots"] == [(2, None), (0, None), (4, "train.txt"), (8, "train.txt")]
    assert space(ner, None)["shots"] == [(2, None), (0, None)]
    assert ("calibrated", "plain") in space(TRIAGE, None)["decision"]
    assert ("channel", "plain") in space(TRIAGE, None)["decision"]
    assert ("channel", "plain") in space(TASKS["classify.sst2"], None)["decision"]
    assert ("channel", "plain") not in space(TRIAGE, None, server=True)["decision"]
    assert space(TRIAGE, None)["phrasing"] == [1, 2, 3]
    assert space(ner, None)["span_rules"] == ["decoder", "unordered", "parser"]  # rules kept while decoding, or not
    assert space(TRIAGE, None)["span_rules"] == ["decoder"] == space(ner, None, server=True)["span_rules"]
    # the examples' own labels kept: tried where examples are retrieved, for entity tasks
    assert space(ner, "train.txt")["shot_spans"] == ["off", "on"]
    assert space(ner, None)["shot_spans"] == ["off"] == space(TRIAGE, "train.txt")["shot_spans"]
    assert profile_to_write({**start_profile(ner), "shot_spans": "on"})["shot_spans"] == "on"
    assert "shot_spans" not in profile_to_write(start_profile(ner))


def _copy_spec(tmp_path):
    spec = tmp_path / "tickets.hum"
    shutil.copy(ROOT / "examples" / "support_tickets.hum", spec)
    os.chmod(spec, 0o664)
    return spec


def test_the_profile_is_written_into_the_task_and_replaced_on_the_next_write(tmp_path):
    spec = _copy_spec(tmp_path)
    before = spec.read_text(encoding="utf-8")
    write_profile(str(spec), "ticket_triage", {"decision": "exact", "shots": 0})
    assert humdsl.load(spec).task("ticket_triage").ir["run"] == {"decision": "exact", "shots": 0}
    assert "run" not in humdsl.load(spec).task("ticket_entities").ir
    assert oct(spec.stat().st_mode & 0o777) == oct(0o664)
    write_profile(str(spec), "ticket_triage", {"decision": "calibrated", "prompt_style": "plain"})
    text = spec.read_text(encoding="utf-8")
    assert text.count("run {") == 1
    assert humdsl.load(spec).task("ticket_triage").ir["run"] == {"decision": "calibrated", "prompt_style": "plain"}
    assert CliRunner().invoke(main, ["fmt", "--check", str(spec)]).exit_code == 0
    # everything else is as it was
    assert text.replace("\n  run {\n    decision \"calibrated\"\n    prompt_style \"plain\"\n  }\n", "") == before


def test_a_profile_that_would_not_check_leaves_the_spec_as_it_was(tmp_path):
    spec = _copy_spec(tmp_path)
    before = spec.read_text(encoding="utf-8")
    with pytest.raises(TuneError, match="would not check"):
        write_profile(str(spec), "ticket_entities", {"decision": "exact"})  # not a classify task
    assert spec.read_text(encoding="utf-8") == before
    with pytest.raises(TuneError, match="cannot find task"):
        write_profile(str(spec), "nope", {"shots": 1})


def test_tune_end_to_end_with_a_tiny_model(model_dir, tmp_path):
    spec = _copy_spec(tmp_path)
    gold = ROOT / "examples" / "data" / "tickets_triage.gold.jsonl"
    args = ["tune", str(spec), "--task", "ticket_triage", "--dev", str(gold), "--model", str(model_dir),
            "--n", "3", "--budget", "3"]
    result = CliRunner().invoke(main, args + ["--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output[result.output.index("{"):])
    assert len(payload["trials"]) == 3
    best = max(payload["trials"], key=lambda t: t["score"])
    ir = humdsl.load(spec).task("ticket_triage").ir
    assert ir["run"]["decision"] == best["profile"]["decision"]
    assert CliRunner().invoke(main, ["check", str(spec)]).exit_code == 0
    bad = CliRunner().invoke(main, args[:5] + [str(tmp_path / "missing.jsonl"), "--model", str(model_dir)])
    assert bad.exit_code == 1 and "--dev" in bad.output


def test_tune_on_a_server_measures_greedy_decoding_there(tmp_path):
    from support.fake_openai import FakeServer

    spec = _copy_spec(tmp_path)
    gold = ROOT / "examples" / "data" / "tickets_triage.gold.jsonl"
    with FakeServer() as server:
        r = CliRunner().invoke(main, ["tune", str(spec), "--task", "ticket_triage", "--dev", str(gold), "--n", "3",
                                      "--budget", "4", "--engine", "openai", "--base-url", server.url, "--json",
                                      "--dry-run"])
        asked = len(server.requests)
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output[r.output.index("{"):])
    assert len(payload["trials"]) == 4
    assert {t["profile"]["decision"] for t in payload["trials"]} == {"greedy"}  # logits stay on the server
    assert asked >= 4 * 3  # every trial's inputs went to the server (and its probes)
    usage = CliRunner().invoke(main, ["tune", str(spec), "--task", "ticket_triage", "--dev", str(gold),
                                      "--engine", "openai"])
    assert usage.exit_code == 2 and "--base-url" in usage.output
