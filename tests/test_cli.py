"""The humc command line: exit codes, rendering, JSON, compile artifacts, no tracebacks."""
import json
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from humdsl import __version__
from humdsl.cli import main

CASES = Path(__file__).parent / "cases" / "check"
CLEAN = CASES / "clean.hum"


def run(*args):
    return CliRunner().invoke(main, list(map(str, args)))


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.output.strip() == f"humc {__version__}"


def test_check_clean_exits_zero():
    result = run("check", CLEAN)
    assert result.exit_code == 0, result.output
    assert "no problems" in result.output


def test_check_renders_location_source_line_and_caret():
    result = run("check", CASES / "names.hum")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    i = next(n for n, line in enumerate(lines) if "error[H012]" in line)
    assert lines[i].endswith("unknown format 'tuple'")
    assert lines[i].split(": error")[0].endswith("names.hum:3:11")
    assert lines[i + 1].endswith("formats tuple  # error[H012]: unknown format 'tuple'")
    assert lines[i + 2].index("^^^^^") == lines[i + 1].index("tuple  #")
    assert lines[i + 2].count("^") == len("tuple")
    assert "= help: did you mean 'tuples'" in result.output


def test_check_reports_errors_from_several_files_in_one_run():
    result = run("check", CASES / "names.hum", CASES / "kinds.hum")
    assert result.exit_code == 1
    assert "names.hum" in result.output and "kinds.hum" in result.output
    assert "in 2 files checked" in result.output


def test_check_json():
    result = CliRunner().invoke(main, ["check", "--json", str(CASES / "versions.hum")])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert [d["code"] for d in data] == ["H024"]
    assert data[0]["severity"] == "error"
    assert data[0]["span"]["line"] == 2 and data[0]["span"]["column"] == 11
    assert data[0]["notes"]


def test_check_folder_recurses(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.hum").write_text(CLEAN.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a spec", encoding="utf-8")
    result = run("check", tmp_path)
    assert result.exit_code == 0 and "1 file checked" in result.output


def test_unreadable_files_are_diagnostics_not_tracebacks(tmp_path):
    latin = tmp_path / "latin.hum"
    latin.write_bytes("task a : entities { about \"caf\xe9\" }".encode("latin-1"))
    result = run("check", latin, tmp_path / "missing.hum")
    assert result.exit_code == 1
    assert "error[H003]" in result.output and "not UTF-8" in result.output
    assert "no such file" in result.output
    assert "Traceback" not in result.output


def test_fmt_check_and_rewrite(tmp_path):
    spec = tmp_path / "a.hum"
    spec.write_text("task a:entities{labels{PER} instruction \"x\"}", encoding="utf-8")
    result = run("fmt", "--check", spec)
    assert result.exit_code == 1 and "would reformat" in result.output
    assert spec.read_text(encoding="utf-8").startswith("task a:entities")
    assert run("fmt", spec).exit_code == 0
    assert spec.read_text(encoding="utf-8") == (
        "task a : entities {\n  labels {\n    PER\n  }\n  instruction \"x\"\n}\n")
    assert run("fmt", "--check", spec).exit_code == 0


def test_compile_is_byte_identical_and_hash_ignores_layout(tmp_path):
    out1, out2, out3 = tmp_path / "o1", tmp_path / "o2", tmp_path / "o3"
    assert run("compile", CLEAN, "-o", out1).exit_code == 0
    assert run("compile", CLEAN, "-o", out2).exit_code == 0
    files = sorted(p.relative_to(out1) for p in out1.rglob("*") if p.is_file())
    assert Path("manifest.json") in files and Path("tasks/ner/ir.json") in files
    for fmt in ("tuples", "json_by_label"):
        assert Path(f"tasks/ner/{fmt}/grammar.lark") in files
        assert Path(f"tasks/ner/{fmt}/prompt-1.jinja") in files
    assert Path("tasks/ner/json_by_label/schema.json") in files
    assert Path("tasks/ner/tuples/schema.json") not in files
    for f in files:
        assert (out1 / f).read_bytes() == (out2 / f).read_bytes()
    # Reformatting and adding comments changes no hash.
    relaid = tmp_path / "clean.hum"
    relaid.write_text("# a new comment\n" + re.sub(r"(?m)^  ", "    ", CLEAN.read_text(encoding="utf-8")),
                      encoding="utf-8")
    assert run("compile", relaid, "-o", out3).exit_code == 0
    m1 = json.loads((out1 / "manifest.json").read_text(encoding="utf-8"))
    m3 = json.loads((out3 / "manifest.json").read_text(encoding="utf-8"))
    assert m1["spec_hash"] == m3["spec_hash"]
    assert m1["tasks"][0]["hash"] == m3["tasks"][0]["hash"]


def test_compile_ir_content(tmp_path):
    assert run("compile", CLEAN, "-o", tmp_path).exit_code == 0
    ir = json.loads((tmp_path / "tasks" / "ner" / "ir.json").read_text(encoding="utf-8"))
    assert ir["kind"] == "entities" and ir["version"] == "1.0.0"
    assert ir["labels"] == [{"code": "PER", "name": "person", "descriptions": ["Names of people."]}]
    assert ir["examples"][0]["output"] == {"entities": [{"type": "PER", "text": "Ada Lovelace"}]}
    assert ir["tests"][0]["expect"] == {"entities": [{"type": "PER", "text": "Alan Turing"}]}
    rules = {r["name"]: r for r in ir["rules"]}
    assert rules["grounded"]["enforced_by"] == "grammar"
    assert rules["british"]["enforced_by"] == "advisory"
    assert rules["no_titles"]["texts"] == ["No titles."]
    assert [f["name"] for f in ir["formats"]] == ["tuples", "json_by_label"]


def test_compile_lists_rules_and_writes_valid_artifacts(tmp_path):
    import jsonschema
    from llguidance import LLMatcher

    result = run("compile", CLEAN, "-o", tmp_path)
    assert "enforced: std/rules.grounded (by the decoding grammar)" in result.output
    assert "advisory: clean.british (prompt text)" in result.output
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    task = manifest["tasks"][0]
    for fmt in task["formats"]:
        grammar = (tmp_path / fmt["grammar"]).read_text(encoding="utf-8")
        assert LLMatcher.validate_grammar(LLMatcher.grammar_from_lark(grammar)) == ""
        prompt = (tmp_path / fmt["prompts"][0]).read_text(encoding="utf-8")
        assert "{{ text }}" in prompt and "Find people." in prompt
        rules = {r["id"]: r["kind"] for r in fmt["rules"]}
        assert rules == {"std/rules.grounded": "enforced", "clean.british": "advisory",
                         "ner.no_titles": "advisory"}
        for rel, sha in task["files"].items():
            import hashlib
            assert hashlib.sha256((tmp_path / rel).read_bytes()).hexdigest() == sha
    schema = json.loads((tmp_path / "tasks/ner/json_by_label/schema.json").read_text(encoding="utf-8"))
    jsonschema.validate({"PER": ["Ada Lovelace"]}, schema)


def test_prompt_template_renders_with_jinja(tmp_path):
    from jinja2.sandbox import SandboxedEnvironment

    assert run("compile", CLEAN, "-o", tmp_path).exit_code == 0
    template = (tmp_path / "tasks/ner/tuples/prompt-1.jinja").read_text(encoding="utf-8")
    text = SandboxedEnvironment().from_string(template).render(text="Grace Hopper {{ not code }}")
    assert text.rstrip().endswith("Text: Grace Hopper {{ not code }}")
    assert "Answer format: one (type, text) pair per line, or None." in text


def test_compile_with_errors_writes_nothing(tmp_path):
    out = tmp_path / "out"
    result = run("compile", CASES / "versions.hum", "-o", out)
    assert result.exit_code == 1 and "nothing written" in result.output
    assert not out.exists()


def test_cli_does_not_import_model_libraries():
    code = ("import sys; from humdsl.cli import main; from humdsl.compiler import check_paths; "
            f"check_paths([{str(CLEAN)!r}]); "
            "print(sorted(m for m in ('torch', 'transformers', 'outlines', 'jinja2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_python_api(tmp_path):
    import pytest

    import humdsl
    from humdsl.api import SpecError

    spec = humdsl.load(CLEAN)
    task = spec.task("ner")
    assert task.kind == "entities" and len(task.hash) == 64
    with pytest.raises(KeyError):
        spec.task("nope")
    with pytest.raises(SpecError) as err:
        humdsl.load(CASES / "versions.hum")
    assert "H024" in str(err.value)
