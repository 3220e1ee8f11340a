"""humc run --engine openai: the constraint sent with each request to an OpenAI-compatible
server (here a stand-in that really enforces it, or misbehaves), every answer checked locally."""
import json
from pathlib import Path

from click.testing import CliRunner

from humdsl.cli import main
from support.fake_openai import FakeServer

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "ner.hum"
TEXTS = ["Ann Lee met Bo Chan in Oslo .", "The Nordic Energy Forum opened in Bergen on Monday .",
         "Maria Costa flew to Lisbon ."]


def humc(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _inputs(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(TEXTS)),
                    encoding="utf-8")
    return path


def _run(tmp_path, server, *extra):
    out = tmp_path / "out.jsonl"
    r = humc("run", SPEC, "--task", "conll03", "--format", "tuples", "--engine", "openai", "--base-url", server.url,
             "--input", _inputs(tmp_path), "--output", out, *extra)
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []
    return r, lines


def test_each_input_is_sent_its_grounded_grammar_and_every_answer_parses(tmp_path):
    with FakeServer() as server:
        r, lines = _run(tmp_path, server, "--concurrency", "2", "--seed", "3", "--temperature", "1")
    assert r.exit_code == 0, r.output
    assert len(lines) == 3 and all(x["record"] is not None and "error" not in x for x in lines)
    assert all(x["model"] == f"openai:{server.url}/smollm2" for x in lines)
    sent = [b for b in server.requests if "humdsl probe" not in b["structured_outputs"]["grammar"]]
    assert len(sent) == 3 and all(b["model"] == "smollm2" for b in sent)
    for body, text in zip(sorted(sent, key=lambda b: b["seed"]), TEXTS):  # one seed per row
        assert "substring" in body["structured_outputs"]["grammar"]  # grounded in that input
        assert text in body["messages"][0]["content"]
    for line, text in zip(lines, TEXTS):
        assert all(e["text"] in text for e in line["record"]["entities"])  # spans of the input
    assert "(openai:" in r.output


def test_a_server_that_does_not_enforce_grammars_is_refused_before_anything_is_written(tmp_path):
    with FakeServer("ignore") as server:
        r, lines = _run(tmp_path, server)
    assert r.exit_code == 1 and "does not enforce grammars" in r.output
    assert "--structured-outputs-config.backend guidance" in r.output
    assert not lines and not (tmp_path / "out.jsonl.partial").exists()


def test_an_answer_that_breaks_the_grammar_or_is_cut_is_an_error_line_not_a_record(tmp_path):
    with FakeServer("cheat") as server:
        r, lines = _run(tmp_path, server)
    assert r.exit_code == 1 and len(lines) == 3
    assert all(x["record"] is None and "not in the format's grammar" in x["error"] for x in lines)
    (tmp_path / "cut").mkdir()
    with FakeServer("cut") as server:
        r, lines = _run(tmp_path / "cut", server)
    assert all(x["record"] is None and "cut the answer at the budget" in x["error"] for x in lines)


def test_transient_errors_are_retried_and_a_missing_server_is_one_line(tmp_path):
    with FakeServer("flaky", failures=2) as server:
        r, lines = _run(tmp_path, server)
    assert r.exit_code == 0 and len(lines) == 3
    r = humc("run", SPEC, "--task", "conll03", "--engine", "openai", "--base-url", "http://127.0.0.1:9",
             "--input", _inputs(tmp_path), "--output", tmp_path / "x.jsonl")
    assert r.exit_code == 1 and "cannot reach http://127.0.0.1:9" in r.output and "Traceback" not in r.output
    with FakeServer() as server:
        r = humc("run", SPEC, "--task", "conll03", "--engine", "openai", "--base-url", server.url, "--model", "gpt-9",
                 "--input", _inputs(tmp_path), "--output", tmp_path / "y.jsonl")
    assert r.exit_code == 1 and "serves smollm2, not 'gpt-9'" in r.output


def test_resuming_knows_the_server_model_and_usage_errors(tmp_path):
    with FakeServer() as server:
        r, first = _run(tmp_path, server)
        again, lines = _run(tmp_path, server)
    assert again.exit_code == 0 and "0 written, 3 already done" in again.output and lines == first
    r = humc("run", SPEC, "--task", "conll03", "--engine", "openai", "--input", _inputs(tmp_path),
             "--output", tmp_path / "z.jsonl")
    assert r.exit_code == 1 and "--engine openai needs --base-url" in r.output
    r = humc("run", SPEC, "--task", "conll03", "--base-url", "http://x", "--input", _inputs(tmp_path),
             "--output", tmp_path / "z.jsonl")
    assert r.exit_code == 1 and "--base-url goes with --engine openai" in r.output


def test_the_python_api_takes_a_server_decoder():
    import humdsl
    from humdsl.runtime.openai_engine import OpenAIDecoder

    with FakeServer() as server:
        records = humdsl.load(SPEC).task("conll03").run(TEXTS, model=OpenAIDecoder(server.url), format="tuples")
    assert len(records) == 3
    assert all(e["text"] in text for r, text in zip(records, TEXTS) for e in r["entities"])
