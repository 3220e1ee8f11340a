"""Inputs long enough to reach llguidance's own limits. The inline format's grammar is a chain of
rules as long as its input: at ~1,500 words llguidance's recursive grammar check overflowed the
main thread's stack (a segmentation fault), at ~1,000 words the Earley row that completes the
chain passed llguidance's 2,000-item cap at the answer's last token, and at ~3,000 words the
grammar passes llguidance's 65,535-symbol limit."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

from click.testing import CliRunner

import humdsl
from humdsl.cli import main
from humdsl.formats import InputTooLarge
from support.tasks import ROOT

SPEC = ROOT / "specs" / "ner.hum"


def words(n: int) -> str:
    base = "Officials in Lisbon said Maria Costa of Northwind Bank met {} reporters on Monday .".split()
    out: list[str] = []
    while len(out) < n:
        out += [w.format(len(out)) for w in base]
    return " ".join(out[:n])


def tagged():
    return humdsl.load(SPEC).task("conll03").format("tagged")


def test_a_2000_word_inline_answer_is_built_and_accepted_to_its_end(tokenizers, tmp_path):
    # In a child process: a stack overflow would kill pytest itself.
    tokenizers[0].save_pretrained(tmp_path / "tok")
    (tmp_path / "text.txt").write_text(words(2000), encoding="utf-8")
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from transformers import PreTrainedTokenizerFast
        import humdsl
        from humdsl import constraints
        hf = PreTrainedTokenizerFast.from_pretrained({str(tmp_path / "tok")!r})
        lltok = constraints.ll_tokenizer(hf)
        text = Path({str(tmp_path / "text.txt")!r}).read_text(encoding="utf-8")
        fmt = humdsl.load({str(SPEC)!r}).task("conll03").format("tagged")
        grammar = constraints.validate(fmt.grammar(source=text), lltok)
        m = constraints.new_matcher(lltok, grammar)
        first, rest = text.split(" ", 1)
        for t in hf.encode(f"[{{first}}](PER) {{rest}}", add_special_tokens=False):
            m.compute_bitmask()
            assert m.consume_token(t), m.get_error()[:300]
        m.compute_bitmask()
        assert m.is_accepting() and not m.is_error(), m.get_error()[:300]
        print("accepted")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "accepted" in done.stdout


def test_an_input_beyond_the_symbol_limit_is_refused_in_words():
    fmt = tagged()
    try:
        fmt.grammar(source=words(6000))
    except InputTooLarge as e:
        assert "6000 words" in str(e) and "inline format" in str(e)
    else:
        raise AssertionError("a 6,000-word inline grammar was not refused")
    fmt.grammar(source=words(300))  # an ordinary input is not


def long_context_copy(model_dir: Path, tmp_path: Path) -> Path:
    """The tiny model with a position table of 65,536 (it computes rotary positions as it goes)."""
    import shutil

    copy = tmp_path / "long-model"
    shutil.copytree(model_dir, copy)
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    config["max_position_embeddings"] = 65536
    (copy / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return copy


def test_humc_run_refuses_an_input_longer_than_the_context_and_decodes_the_others(model_dir, tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "short", "text": "Maria Costa met reporters in Lisbon ."}) + "\n" +
                   json.dumps({"id": "long", "text": words(6000)}) + "\n" +
                   json.dumps({"id": "after", "text": "Northwind Bank opened in Porto ."}) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = CliRunner().invoke(main, ["run", str(SPEC), "--task", "conll03", "--format", "tuples", "--model",
                                  str(model_dir), "--input", str(inp), "--output", str(out)])
    assert r.exit_code == 1, r.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == ["short", "long", "after"]  # input order kept
    assert lines[1]["record"] is None
    assert lines[1]["error"].startswith("the input is too long for the model: its prompt is ")
    assert "the model reads at most 2048" in lines[1]["error"]
    assert lines[0]["record"] is not None and lines[2]["record"] is not None


def test_humc_run_reports_the_refused_input_and_decodes_the_others(model_dir, tmp_path):
    """On the Outlines path, which needs the grammar (the jump-forward decoder runs the inline
    format without one and refuses nothing: test_dag_matcher.py)."""
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "short", "text": "Maria Costa met reporters in Lisbon ."}) + "\n" +
                   json.dumps({"id": "long", "text": words(6000)}) + "\n" +
                   json.dumps({"id": "after", "text": "Northwind Bank opened in Porto ."}) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    model = long_context_copy(model_dir, tmp_path)  # else the context check refuses it first
    r = CliRunner().invoke(main, ["run", str(SPEC), "--task", "conll03", "--format", "tagged", "--model",
                                  str(model), "--input", str(inp), "--output", str(out), "--decoder", "outlines"])
    assert r.exit_code == 1, r.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == ["short", "long", "after"]  # input order kept
    assert lines[1]["record"] is None and lines[1]["error"].startswith("the input was refused: this input (6000 words)")
    assert lines[0]["record"] is not None and lines[2]["record"] is not None


def test_a_25000_word_grounded_input_compiles(tmp_path):
    """Compiling the grounded terminal spends llguidance's initial lexer fuel in proportion to the
    input: under its default budget the tuples grammar of 25,000 words of newswire fails to build
    (under SmolLM2's vocabulary), and every row would be lost."""
    from llguidance import LLMatcher
    from transformers import PreTrainedTokenizerFast

    from conftest import shared_or_skip
    from humdsl import constraints

    conll = shared_or_skip("data", "conll2003", "eng.testa")
    tok = shared_or_skip("tokenizers", "smollm2-135m-instruct", "tokenizer.json")
    text = " ".join([line.split()[0] for line in conll.read_text(encoding="utf-8").splitlines()
                     if line.strip()][:25000])
    hf = PreTrainedTokenizerFast(tokenizer_file=str(tok))
    hf.eos_token = hf.eos_token or hf.convert_ids_to_tokens(0)
    lltok = constraints.ll_tokenizer(hf)
    grammar = constraints.validate(humdsl.load(SPEC).task("conll03").format("tuples").grammar(source=text), lltok)
    assert LLMatcher(lltok, grammar, log_level=0).is_error()  # the case still needs the larger budget
    m = constraints.new_matcher(lltok, grammar)
    assert not m.is_error(), m.get_error()[:300]
    first = " ".join(text.split()[:2])
    assert m.consume_tokens(hf.encode(f"(PER, {first})", add_special_tokens=False)) and m.is_accepting()


def test_both_decoders_build_a_2000_word_inline_grammar(model_dir, tmp_path):
    """The decoders make their matchers as the constraints do (on the large stack): Outlines' own
    processor set-up built one on the caller's stack first."""
    (tmp_path / "text.txt").write_text(words(2000), encoding="utf-8")
    code = textwrap.dedent(f"""
        from pathlib import Path
        from llguidance import LLMatcher
        import humdsl
        from humdsl.runtime.outlines_decoder import OutlinesDecoder
        from humdsl.runtime.jumpforward import JumpForwardDecoder
        from humdsl.runtime.models import load
        from humdsl.runtime.protocol import Grammar
        text = Path({str(tmp_path / "text.txt")!r}).read_text(encoding="utf-8")
        lark = humdsl.load({str(SPEC)!r}).task("conll03").format("tagged").grammar(source=text)
        loaded = load({str(model_dir)!r})
        outlines_dec = OutlinesDecoder(loaded)
        processor = outlines_dec.per_row([LLMatcher.grammar_from_lark(lark)], outlines_dec.llg_tokenizer, "torch")
        processor._setup(1)
        assert not processor.ll_matchers[0].is_error(), processor.ll_matchers[0].get_error()[:300]
        m = JumpForwardDecoder(loaded)._matcher(0, Grammar(lark))
        assert not m.is_error(), m.get_error()[:300]
        print("built")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "built" in done.stdout


def test_a_channel_decision_measures_its_own_document_against_the_context(model_dir):
    """A channel decision reads a plain document (examples, an answer's label line, the input),
    not the chat prompt: an input whose chat prompt and answer would not fit is still decided
    when its document fits, and one whose document does not is refused, naming the document."""
    import humdsl
    from humdsl.runtime.models import load
    from humdsl.session import Session, Settings

    task = humdsl.load(ROOT / "specs" / "classify.hum").task("sst2")
    session = Session(task.ir, Settings(decision="channel"))
    session.start(load(str(model_dir)))
    tok = session.loaded.tokenizer
    n = 100
    while True:  # the shortest input whose chat prompt leaves no room for a short answer
        row = {"id": "x", "text": words(n)}
        chat = len(tok(session.prompt(row))["input_ids"])
        if chat + 256 > session.limit:
            break
        n += 50
    assert session._too_long(row, session.prompt(row), session._choice(row)) is None  # its channel document fits
    [outcome] = session.decode([row])
    assert outcome.record is not None and outcome.error is None
    longer = {"id": "y", "text": words(n + 400)}
    why = session._too_long(longer, session.prompt(longer), session._choice(longer))
    assert why is not None and why.startswith("the input is too long for the model: its channel document is ")
    assert session.decode([longer])[0].error == why
