"""Provenance: compiled artifacts, corpus lines and prediction lines carry the task's name,
version and content hash; humc eval warns when predictions come from another version."""
import json
import shutil
from pathlib import Path

from click.testing import CliRunner

import humdsl
from humdsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "support_tickets.hum"
GOLD = ROOT / "examples" / "data" / "tickets_dev.gold.jsonl"


def humc(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_every_output_names_the_task_version_it_was_made_with(tmp_path, model_dir):
    task = humdsl.load(SPEC).task("ticket_triage")
    want = {"name": "ticket_triage", "version": task.ir["version"], "hash": task.hash}
    assert humc("compile", SPEC, "-o", tmp_path / "c").exit_code == 0
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text(encoding="utf-8"))
    entry = next(t for t in manifest["tasks"] if t["name"] == "ticket_triage")
    assert (entry["version"], entry["hash"]) == (want["version"], want["hash"])
    r = humc("synth", SPEC, "--task", "ticket_triage", "--data", GOLD, "--out", tmp_path / "corpus.jsonl")
    assert r.exit_code == 0, r.output
    for line in (tmp_path / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        assert json.loads(line)["meta"]["spec"] == want
    r = humc("run", SPEC, "--task", "ticket_triage", "--model", model_dir, "--input", GOLD,
             "--output", tmp_path / "pred.jsonl", "--limit", "3")
    lines = [json.loads(x) for x in (tmp_path / "pred.jsonl.partial").read_text(encoding="utf-8").splitlines()]
    assert lines and all({k: x["spec"][k] for k in want} == want for x in lines)


def test_eval_warns_when_the_predictions_come_from_another_version(tmp_path, model_dir):
    pred = tmp_path / "pred.jsonl"
    assert humc("run", SPEC, "--task", "ticket_triage", "--model", model_dir, "--input", GOLD,
                "--output", pred).exit_code in (0, 1)
    r = humc("eval", "--spec", SPEC, "--task", "ticket_triage", "--gold", GOLD, "--pred", pred)
    assert "warning" not in r.output
    edited = tmp_path / "support_tickets.hum"
    shutil.copytree(ROOT / "examples" / "data", tmp_path / "data")
    edited.write_text(SPEC.read_text(encoding="utf-8").replace(
        "Label the support ticket with every category it belongs to.",
        "Label the support ticket with all the categories it belongs to.", 1), encoding="utf-8")
    r = humc("eval", "--spec", edited, "--task", "ticket_triage", "--gold", GOLD, "--pred", pred)
    assert "humc: warning: " in r.output and "made with another version of the task" in r.output
    assert r.exit_code in (0, 1)  # a warning: the scores are still given
    lines = pred.read_text(encoding="utf-8").splitlines()
    other = json.loads(lines[0])
    other["spec"]["hash"] = "0" * 64
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join([json.dumps(other), *lines[1:]]) + "\n", encoding="utf-8")
    r = humc("eval", "--task", "classify", "--gold", GOLD, "--pred", mixed, "--json")
    assert "mixes answers of 2 versions of the spec" in r.output
    r = humc("eval", "--task", "classify", "--gold", GOLD, "--pred", pred, "--pred", mixed)
    assert "were made with different versions of the spec" in r.output
