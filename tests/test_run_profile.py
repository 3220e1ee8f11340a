"""A task's `run { }` profile: humc run takes from it what its command line leaves open."""
import json
import shutil

import pytest
from click.testing import CliRunner

import humdsl
from humdsl.cli import main
from humdsl.formats import build
from humdsl.profile import block
from humdsl.prompts import PromptChoice, prompt_text
from support.tasks import ROOT

TICKETS = ROOT / "examples" / "data" / "tickets.jsonl"
GOLD = ROOT / "examples" / "data" / "tickets_triage.gold.jsonl"


def _spec_with_profile(tmp_path, profile: dict):
    """The tickets spec with a run profile in ticket_triage, beside a copy of the gold file."""
    text = (ROOT / "examples" / "support_tickets.hum").read_text(encoding="utf-8")
    anchor = "  synth {\n    per_example 6"
    assert anchor in text
    spec = tmp_path / "tickets.hum"
    spec.write_text(text.replace(anchor, block(profile) + "\n\n" + anchor, 1), encoding="utf-8")
    (tmp_path / "data").mkdir()
    shutil.copy(GOLD, tmp_path / "data" / "gold.jsonl")
    return spec


def test_the_profile_is_in_the_ir_only_where_declared(tmp_path):
    plain = humdsl.load(ROOT / "examples" / "support_tickets.hum").task("ticket_triage").ir
    assert "run" not in plain
    spec = _spec_with_profile(tmp_path, {"decision": "exact", "shots": 1})
    ir = humdsl.load(spec).task("ticket_triage").ir
    assert ir["run"] == {"decision": "exact", "shots": 1}
    assert CliRunner().invoke(main, ["fmt", "--check", str(spec)]).exit_code == 0  # block() is fmt's layout


def test_run_takes_the_profile_and_the_command_line_overrides_it(model_dir, tmp_path, monkeypatch):
    from humdsl import session as run_module

    spec = _spec_with_profile(tmp_path, {"answer_format": "json_labels", "phrasing": 2, "prompt": "lean",
                                         "shots": 1, "shots_from": "data/gold.jsonl", "decision": "calibrated"})
    seen = []
    real = run_module.prompt_text
    monkeypatch.setattr(run_module, "prompt_text", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    out = tmp_path / "out.jsonl"
    base = ["run", str(spec), "--task", "ticket_triage", "--model", str(model_dir), "--input", str(TICKETS),
            "--limit", "1"]
    result = CliRunner().invoke(main, base + ["--output", str(out)])
    assert result.exit_code == 0, result.output
    line = json.loads((tmp_path / "out.jsonl.partial").read_text(encoding="utf-8").splitlines()[0])  # --limit
    assert line["format"] == "json_labels" and line["decision"] == "calibrated"
    prompt = seen[0]
    assert prompt.startswith("Which teams need to see this ticket?")  # the second phrasing
    assert "Guidelines:" not in prompt and "Task:" not in prompt  # lean
    assert prompt.count("\nExample ") == 1 and "Subject: charged twice" not in prompt  # retrieved, not the spec's
    seen.clear()
    out2 = tmp_path / "out2.jsonl"
    result = CliRunner().invoke(main, base + ["--output", str(out2), "--decision", "greedy", "--format",
                                              "bare_label", "--prompt", "full", "--phrasing", "1"])
    assert result.exit_code == 0, result.output
    line = json.loads((tmp_path / "out2.jsonl.partial").read_text(encoding="utf-8").splitlines()[0])
    assert line["format"] == "bare_label" and "decision" not in line
    assert seen[0].startswith("Label the support ticket") and "Guidelines:" in seen[0]


@pytest.mark.parametrize("parts,has_about,has_guidelines,has_descriptions", [
    ("full", True, True, True), ("lean", False, False, True), ("bare", False, False, False)])
def test_prompt_parts(parts, has_about, has_guidelines, has_descriptions):
    ir = humdsl.load(ROOT / "examples" / "support_tickets.hum").task("ticket_triage").ir
    fmt = build(ir, ir["formats"][0])
    text = prompt_text(ir, fmt, {"text": "hello"}, PromptChoice(parts=parts))
    assert ("Task: Triage" in text) == has_about
    assert ("Guidelines:" in text) == has_guidelines and ("Output conventions:" in text) == has_guidelines
    assert ("- billing (billing): Charges" in text or "- billing: Charges" in text) == has_descriptions
    assert "- billing" in text and "Answer format:" in text


def test_resuming_with_another_phrasing_or_prompt_is_refused(model_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    base = ["run", str(ROOT / "examples" / "support_tickets.hum"), "--task", "ticket_triage", "--model",
            str(model_dir), "--input", str(TICKETS), "--output", str(out), "--limit", "1"]
    first = CliRunner().invoke(main, base + ["--phrasing", "2", "--prompt", "lean"])
    assert first.exit_code == 0, first.output
    line = json.loads((tmp_path / "out.jsonl.partial").read_text(encoding="utf-8").splitlines()[0])
    assert line["phrasing"] == 2 and line["prompt"] == "lean"
    again = CliRunner().invoke(main, base + ["--prompt", "lean"])
    assert again.exit_code == 1 and "phrasing 2, not 1" in again.output
    same = CliRunner().invoke(main, base + ["--phrasing", "2", "--prompt", "lean"])
    assert same.exit_code == 0 and "1 already done" in same.output
    bad = CliRunner().invoke(main, base[:-4] + ["--output", str(tmp_path / "o2.jsonl"), "--phrasing", "9"])
    assert bad.exit_code == 1 and "3 instruction phrasing(s)" in bad.output
