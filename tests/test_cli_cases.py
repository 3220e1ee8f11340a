"""Data-driven command-line cases, in the spirit of mypy's test files: each tests/cases/cli/*.yaml
names the files a command starts from, the command line, and what must follow: the exit
status, a pattern the output matches, and the files after. A new bad-input case is a new file.

    about: what the case shows
    files:                      # created in an empty folder, the command's working directory
      gold.jsonl: |             # text (UTF-8)
        {"id": "1", ...}
      latin.hum: {text: "caf\xe9", encoding: latin-1, mode: 0o664}
      link.hum: {link: real.hum}
      folder/: {}               # an empty folder
    run: humc eval --task classify --gold gold.jsonl --pred pred.jsonl
    exit: 1
    output: 'no gold lines'     # a regular expression searched in stdout and stderr together
    after:
      pred.jsonl: same          # byte for byte as it started; or: absent; or the text it holds;
      out/manifest.json: {mode: 0o644}   # or {link: target}, {exists: true}

`{root}` in the command line stands for the repository, `{tiny_model}` for a tiny random model
(tests/conftest.py). Every case also checks that no Python
traceback was printed. The umask is 022 while a case runs.
"""
import os
import re
import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from humdsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
CASES = sorted((ROOT / "tests" / "cases" / "cli").glob("*.yaml"))


def _mode(text) -> int:
    return int(str(text), 0)  # "0o664" (YAML has no octal numbers that all loaders read alike)


def _make(base: Path, files: dict) -> dict[str, bytes]:
    start = {}
    for name, spec in (files or {}).items():
        path = base / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(spec, dict) and "link" in spec:
            path.symlink_to(spec["link"])
            continue
        text, encoding = (spec.get("text", ""), spec.get("encoding", "utf-8")) if isinstance(spec, dict) else (spec, "utf-8")
        path.write_bytes(text.encode(encoding))
        if isinstance(spec, dict) and "mode" in spec:
            os.chmod(path, _mode(spec["mode"]))
        start[name] = path.read_bytes()
    return start


def _check_after(base: Path, after: dict, start: dict[str, bytes]) -> None:
    for name, want in (after or {}).items():
        path = base / name
        if want == "same":
            assert path.read_bytes() == start[name], f"{name} changed"
        elif want == "absent":
            assert not path.exists(), f"{name} is still there"
        elif isinstance(want, str):
            assert path.read_text(encoding="utf-8") == want, f"{name} holds {path.read_text(encoding='utf-8')!r}"
        else:
            if "link" in want:
                assert path.is_symlink() and os.readlink(path) == want["link"], f"{name} is not a link to {want['link']}"
            if "mode" in want:
                got = path.stat().st_mode & 0o777
                assert got == _mode(want["mode"]), f"{name} has mode {oct(got)}, not {want['mode']}"
            if "exists" in want:
                assert path.exists() == want["exists"], f"{name} exists: {path.exists()}"
            if "contains" in want:
                assert want["contains"] in path.read_text(encoding="utf-8"), f"{name} lacks {want['contains']!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_cli_case(case: Path, tmp_path, monkeypatch, request):
    spec = yaml.safe_load(case.read_text(encoding="utf-8"))
    assert set(spec) <= {"about", "files", "run", "exit", "output", "after"}, f"unknown keys in {case.name}"
    old_mask = os.umask(0o022)
    try:
        start = _make(tmp_path, spec.get("files"))
        monkeypatch.chdir(tmp_path)
        line = spec["run"].replace("{root}", str(ROOT))
        if "{tiny_model}" in line:  # a random two-layer model (conftest.py): fast, and any answer parses
            line = line.replace("{tiny_model}", str(request.getfixturevalue("model_dir")))
        words = shlex.split(line)
        assert words[0] == "humc"
        result = CliRunner().invoke(main, words[1:])
    finally:
        os.umask(old_mask)
    output = result.output
    assert "Traceback" not in output, output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == spec["exit"], f"exit {result.exit_code}, not {spec['exit']}:\n{output}"
    if "output" in spec:
        assert re.search(spec["output"], output, re.S), f"{spec['output']!r} not in:\n{output}"
    _check_after(tmp_path, spec.get("after"), start)


def test_there_are_cases():
    assert len(CASES) >= 10
