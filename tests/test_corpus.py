"""Corpus declarations made into one mixed corpus: `humc synth --corpus` (synth/mixture.py)."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from humdsl import load
from humdsl.cli import main
from humdsl.synth.mixture import targets

ROOT = Path(__file__).resolve().parent.parent
TICKETS = ROOT / "examples" / "support_tickets.hum"
TRIAGE = ROOT / "examples" / "data" / "tickets_triage.gold.jsonl"
ENTITIES = ROOT / "examples" / "data" / "tickets_entities.gold.jsonl"


def spec(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mix.hum"
    path.write_text(f'from "{TICKETS}" import ticket_triage, ticket_entities\n\n{body}\n', encoding="utf-8")
    return path


MIX = f"""
corpus mix {{
  instances 20
  task ticket_triage {{ data "{TRIAGE}" share 0.25 per_example 3 }}
  task ticket_entities {{ data "{ENTITIES}" per_example 3 }}
}}

corpus plain {{
  diversity "baseline"
  task ticket_triage {{ data "{TRIAGE}" }}
  task ticket_entities {{ data "{ENTITIES}" }}
}}

corpus varied {{
  task ticket_triage {{ data "{TRIAGE}" per_example 1 }}
  task ticket_entities {{ data "{ENTITIES}" per_example 1 }}
}}
"""


def synth(*args: str):
    return CliRunner().invoke(main, ["synth", *args])


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_the_declaration_is_lowered_with_its_parts(tmp_path):
    corpus = load(spec(tmp_path, MIX)).corpora["mix"]
    assert [p["task"]["name"] for p in corpus["parts"]] == ["ticket_triage", "ticket_entities"]
    assert corpus["parts"][0]["share"] == 0.25 and corpus["parts"][0]["policy"] == {"per_example": 3}
    assert corpus["settings"] == {"instances": 20}


def test_shares_split_the_instances_exactly():
    parts = [{"share": 0.25}, {}, {}]
    assert targets({"settings": {"instances": 10}, "parts": parts}) == [2, 4, 4]  # 2.5, 3.75, 3.75: the largest remainders round up
    assert sum(targets({"settings": {"instances": 7}, "parts": [{}, {}, {}]})) == 7
    assert targets({"settings": {}, "parts": [{}, {}]}) == [None, None]


def test_the_mixed_corpus_has_each_part_its_share_and_is_shuffled(tmp_path):
    path = spec(tmp_path, MIX)
    out = tmp_path / "mix.jsonl"
    result = synth(str(path), "--corpus", "mix", "--out", str(out))
    assert result.exit_code == 0, result.output
    got = lines(out)
    tasks = [x["meta"]["task"] for x in got]
    assert tasks.count("ticket_triage") == 5 and tasks.count("ticket_entities") == 15
    assert tasks != sorted(tasks, key=["ticket_triage", "ticket_entities"].index)  # mixed, not in blocks
    assert "ticket_triage: 5 of 5 instances" in result.output


def test_the_corpus_does_not_depend_on_jobs_and_follows_the_seed(tmp_path):
    path = spec(tmp_path, MIX)
    one, two, other = tmp_path / "1.jsonl", tmp_path / "2.jsonl", tmp_path / "3.jsonl"
    assert synth(str(path), "--corpus", "mix", "--out", str(one)).exit_code == 0
    assert synth(str(path), "--corpus", "mix", "--out", str(two), "--jobs", "2").exit_code == 0
    assert one.read_bytes() == two.read_bytes()
    assert synth(str(path), "--corpus", "mix", "--out", str(other), "--seed", "1").exit_code == 0
    assert other.read_bytes() != one.read_bytes()


def test_a_baseline_corpus_has_one_phrasing_one_json_format_every_label_and_nothing_else(tmp_path):
    out = tmp_path / "plain.jsonl"
    assert synth(str(spec(tmp_path, MIX)), "--corpus", "plain", "--out", str(out)).exit_code == 0
    got = lines(out)
    tasks = load(TICKETS).tasks
    assert len(got) == len(TRIAGE.read_text().splitlines()) + len(ENTITIES.read_text().splitlines())
    for x in got:
        meta, task = x["meta"], tasks[x["meta"]["task"]].ir
        json_formats = [f["name"] for f in task["formats"] if "json" in f["decl"]]
        assert meta["format"] == json_formats[0]
        assert meta["phrasing"] == 0 and meta["guidelines"] == [] and meta["rules"] == [] and meta["shots"] == []
        assert meta["labels"] == [lab["code"] for lab in task["labels"]]


def test_a_hum_and_a_baseline_corpus_of_the_same_parts_use_the_same_examples(tmp_path):
    path = spec(tmp_path, MIX)
    plain, varied = tmp_path / "plain.jsonl", tmp_path / "varied.jsonl"
    assert synth(str(path), "--corpus", "plain", "--out", str(plain)).exit_code == 0
    assert synth(str(path), "--corpus", "varied", "--out", str(varied)).exit_code == 0
    examples = [sorted((x["meta"]["task"], x["meta"]["example"]) for x in lines(p)) for p in (plain, varied)]
    assert examples[0] == examples[1]
    assert len({x["meta"]["format"] for x in lines(varied)}) > 2  # and only the Hum one varies


def test_a_formats_corpus_writes_each_instance_in_the_hum_corpus_s_format_and_nothing_else_varies(tmp_path):
    path = spec(tmp_path, MIX)
    varied, formats = tmp_path / "varied.jsonl", tmp_path / "formats.jsonl"
    assert synth(str(path), "--corpus", "varied", "--out", str(varied)).exit_code == 0
    assert synth(str(path), "--corpus", "varied", "--diversity", "formats", "--out", str(formats)).exit_code == 0
    hum_format = {(x["meta"]["task"], x["meta"]["example"]): x["meta"]["format"] for x in lines(varied)}
    got = lines(formats)
    assert {(x["meta"]["task"], x["meta"]["example"]): x["meta"]["format"] for x in got} == hum_format
    assert len(set(hum_format.values())) > 2
    tasks = load(TICKETS).tasks
    for x in got:
        meta, task = x["meta"], tasks[x["meta"]["task"]].ir
        assert meta["phrasing"] == 0 and meta["guidelines"] == [] and meta["rules"] == [] and meta["shots"] == []
        assert meta["labels"] == [lab["code"] for lab in task["labels"]]
    assert any(x["meta"]["phrasing"] != 0 or x["meta"]["guidelines"] for x in lines(varied))


def test_diversity_on_the_command_line_overrides_the_declaration(tmp_path):
    out = tmp_path / "v.jsonl"
    assert synth(str(spec(tmp_path, MIX)), "--corpus", "varied", "--diversity", "baseline",
                 "--out", str(out)).exit_code == 0
    assert {x["meta"]["phrasing"] for x in lines(out)} == {0}


def test_task_options_do_not_go_with_corpus(tmp_path):
    result = synth(str(spec(tmp_path, MIX)), "--corpus", "mix", "--task", "ticket_triage", "--out", "x.jsonl")
    assert result.exit_code == 2 and "--task does not go with --corpus" in result.output
    result = synth(str(spec(tmp_path, MIX)), "--out", "x.jsonl")
    assert result.exit_code == 2 and "needs --task" in result.output


def test_an_unknown_corpus_and_missing_data_are_one_line_errors_and_keep_the_output(tmp_path):
    out = tmp_path / "keep.jsonl"
    out.write_text("precious\n", encoding="utf-8")
    result = synth(str(spec(tmp_path, MIX)), "--corpus", "mixx", "--out", str(out))
    assert result.exit_code == 1 and "no corpus 'mixx'" in result.output and "it has: mix, plain, varied" in result.output
    gone = spec(tmp_path, 'corpus c { task ticket_triage { data "gone.jsonl" } }')
    result = synth(str(gone), "--corpus", "c", "--out", str(out))
    assert result.exit_code == 1 and "no data file at" in result.output and "Traceback" not in result.output
    assert out.read_text(encoding="utf-8") == "precious\n"


def test_a_corpus_that_would_be_empty_is_not_written(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    out = tmp_path / "keep.jsonl"
    out.write_text("precious\n", encoding="utf-8")
    result = synth(str(spec(tmp_path, f'corpus c {{ task ticket_triage {{ data "{empty}" adapter "canonical" }} }}')),
                   "--corpus", "c", "--out", str(out))
    assert result.exit_code == 1 and "would be empty" in result.output
    assert out.read_text(encoding="utf-8") == "precious\n"


def test_a_part_that_cannot_make_its_share_is_a_problem_but_the_rest_is_written(tmp_path):
    path = spec(tmp_path, f'corpus c {{ instances 500 task ticket_triage {{ data "{TRIAGE}" per_example 1 }} }}')
    out = tmp_path / "c.jsonl"
    result = synth(str(path), "--corpus", "c", "--out", str(out))
    assert result.exit_code == 1 and "of the 500 instances asked" in result.output
    assert len(lines(out)) == len(TRIAGE.read_text().splitlines())


def test_the_report_names_each_part(tmp_path):
    report = tmp_path / "rep"
    assert synth(str(spec(tmp_path, MIX)), "--corpus", "mix", "--out", str(tmp_path / "m.jsonl"),
                 "--report", str(report)).exit_code == 0
    data = json.loads((report / "report.json").read_text(encoding="utf-8"))
    assert [(p["task"], p["instances"], p["asked"]) for p in data["parts"]] == [
        ("ticket_triage", 5, 5), ("ticket_entities", 15, 15)]


@pytest.mark.parametrize("name", ["mix", "plain"])
def test_every_instance_of_a_mixed_corpus_is_verified_like_a_single_tasks(tmp_path, name):
    """Each line's answer parses back under its task's format (what humc synth promises)."""
    from humdsl.formats import build

    out = tmp_path / f"{name}.jsonl"
    assert synth(str(spec(tmp_path, MIX)), "--corpus", name, "--out", str(out)).exit_code == 0
    tasks = load(TICKETS).tasks
    for x in lines(out):
        task = tasks[x["meta"]["task"]].ir
        fmt = build(task, next(f for f in task["formats"] if f["name"] == x["meta"]["format"]))
        fmt.parse(x["output"], batch=x["meta"]["labels"], source=x["input"].split("\n", 1)[0][len("Text: "):])


def test_data_the_adapter_cannot_read_is_one_line_naming_the_part(tmp_path):
    path = spec(tmp_path, f'corpus c {{ task ticket_triage {{ data "{TICKETS}" adapter "conll04" }} }}')
    result = synth(str(path), "--corpus", "c", "--out", str(tmp_path / "c.jsonl"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "corpus 'c', part 'ticket_triage'" in result.output and "cannot be read with the 'conll04' adapter" in result.output
