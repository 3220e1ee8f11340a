"""A built wheel carries the grammar and the standard library: humc works from a plain install."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail("building the wheel failed:\n" + proc.stdout + proc.stderr)
    return next(out.glob("humdsl-*.whl"))


def test_wheel_contains_grammar_and_stdlib(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "humdsl/grammar/hum.lark" in names
    for stem in ("formats", "rules", "labels"):
        assert f"humdsl/stdlib/std/{stem}.hum" in names
    assert "humdsl/schemas/ir.schema.json" in names  # the published schema of ir.json


def test_installed_wheel_checks_specs_without_the_checkout(wheel: Path, tmp_path: Path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    spec = tmp_path / "a.hum"
    spec.write_text('import "std/labels" as labels\n'
                    'task ner : entities {\n  labels labels.conll03\n  prefer grounded\n'
                    '  instruction "Find the entities."\n  formats tuples\n}\n', encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(target), HUMC_CACHE_DIR=str(tmp_path / "cache"))
    code = ("import humdsl.resources as r, sys; from humdsl.cli import main; "
            "print(r.grammar_path()); print(r.stdlib_root()); sys.argv=['humc','check',sys.argv[1]]; main()")
    proc = subprocess.run([sys.executable, "-c", code, str(spec)], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    grammar, stdlib = proc.stdout.splitlines()[:2]
    assert grammar.startswith(str(target)) and stdlib.startswith(str(target))
    assert "no problems" in proc.stderr
