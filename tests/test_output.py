"""Whose output file it is, and who is writing it (humdsl/outputs.py)."""
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from humdsl.cli import main
from humdsl.outputs import OutputLock, OutputRefused, foreign

ROOT = Path(__file__).resolve().parent.parent
RUN_LINE = '{"id": "1", "record": null, "raw": "", "task": "t", "format": "f", "spec": {"hash": "h"}}\n'


def test_run_output_is_ours_and_a_line_cut_short_at_the_end_is_tolerated(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(RUN_LINE + '{"id": "2", "rec', encoding="utf-8")
    assert foreign(path) is None
    path.write_text('{"id": "2", "rec\n' + RUN_LINE, encoding="utf-8")
    assert foreign(path) == "line 1 is not JSON"
    path.write_text('{"id": "1", "text": "x", "record": {}}\n', encoding="utf-8")
    assert foreign(path) == 'line 1 has no "task"'


def test_a_second_run_into_the_same_output_is_refused_while_the_first_writes(tmp_path, model_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("in.jsonl").write_text('{"id": "1", "text": "I was charged twice."}\n', encoding="utf-8")
    args = ["run", str(ROOT / "examples" / "support_tickets.hum"), "--task", "ticket_triage",
            "--input", "in.jsonl", "--output", "out.jsonl", "--model", str(model_dir)]
    with OutputLock(Path("out.jsonl")):
        with pytest.raises(OutputRefused):
            OutputLock(Path("out.jsonl")).__enter__()
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1 and "another humc run is writing out.jsonl" in result.output
        assert not Path("out.jsonl").exists()
    result = CliRunner().invoke(main, args)  # the lock is gone with its holder
    assert result.exit_code in (0, 1) and Path("out.jsonl").exists(), result.output
    assert not Path(".out.jsonl.lock").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folders_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    spec = tmp_path / "t.hum"
    spec.write_text('task t : classify {\n  labels { a b }\n  instruction "x"\n  formats bare_label\n}\n',
                    encoding="utf-8")
    Path("in.jsonl").write_text('{"id": "1", "text": "x"}\n', encoding="utf-8")
    locked.chmod(0o555)
    try:
        result = CliRunner().invoke(main, ["compile", str(spec), "-o", str(locked / "out")])
        assert result.exit_code == 1 and "cannot write into" in result.output and "Traceback" not in result.output
        result = CliRunner().invoke(main, ["run", str(spec), "--task", "t", "--input", "in.jsonl",
                                           "--output", str(locked / "o.jsonl")])
        assert result.exit_code == 1 and "permission denied" in result.output
    finally:
        locked.chmod(0o755)
