"""humc diff: each step of tests/cases/diff/steps.yaml committed to a git repository and diffed
against the commit before, with the expected class of every change; files and folders too."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from humdsl.cli import main

CASES = Path(__file__).resolve().parent / "cases" / "diff" / "steps.yaml"
DATA = yaml.safe_load(CASES.read_text(encoding="utf-8"))

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def humc(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """The repository, one commit per step: (step, spec path) for each."""
    repo = tmp_path_factory.mktemp("repo")
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    spec = repo / "specs" / "people.hum"
    spec.parent.mkdir()
    spec.write_text(DATA["base"], encoding="utf-8")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    commits = []
    for step in DATA["steps"]:
        text = spec.read_text(encoding="utf-8")
        for old, new in step["edit"]:
            assert old in text, f"step {step['name']!r}: {old!r} is not in the spec"
            text = text.replace(old, new, 1)
        spec.write_text(text, encoding="utf-8")
        git(repo, "commit", "-qam", step["name"])
        commits.append(step)
    return repo, spec


@pytest.mark.parametrize("n", range(len(DATA["steps"])), ids=[s["name"] for s in DATA["steps"]])
def test_each_change_is_classed(history, n):
    repo, spec = history
    step = DATA["steps"][n]
    back = len(DATA["steps"]) - n  # this step's commit is HEAD~(back-1)
    r = humc("diff", "--against", f"HEAD~{back}", "--to", f"HEAD~{back - 1}", "--json", "--check-version",
             spec.parent)
    assert r.exit_code in (0, 1), r.output
    listed = json.loads(r.output[:r.output.rindex("]") + 1])
    changes = [f"{c['severity']}: task {c['task']}: {c['message']}" for c in listed if c["severity"] != "version"]
    assert sorted(changes) == sorted(step["changes"])
    version_problems = [c for c in listed if c["severity"] == "version"]
    assert (not version_problems) == step["version_ok"], version_problems
    assert r.exit_code == (0 if step["version_ok"] else 1)
    assert all(c["file"].endswith("people.hum") and c["line"] > 0 for c in listed)


def test_the_working_tree_against_head_and_github_annotations(history):
    repo, spec = history
    text = spec.read_text(encoding="utf-8")
    edited = text.replace("short news items", "short news items and posts", 1)
    spec.write_text(edited, encoding="utf-8")
    about = next(n for n, x in enumerate(edited.splitlines(), start=1) if x.strip().startswith("about "))
    try:
        r = humc("diff", "--against", "HEAD", spec, "--github")
        assert r.exit_code == 0
        line = next(x for x in r.output.splitlines() if x.startswith("::"))
        assert line.startswith("::warning file=") and f",line={about},title=humc diff: dangerous::" in line
        assert "'about' changed" in line
        r = humc("diff", "--against", "HEAD", spec, "--fail-on", "dangerous")
        assert r.exit_code == 1
    finally:
        spec.write_text(text, encoding="utf-8")


def test_two_files_or_folders_and_bad_revisions(tmp_path, history):
    repo, spec = history
    old, new = tmp_path / "old.hum", tmp_path / "new.hum"
    old.write_text(DATA["base"], encoding="utf-8")
    new.write_text(DATA["base"].replace("formats json_by_label, tuples", "formats json_by_label, tuples, tagged"),
                   encoding="utf-8")
    r = humc("diff", old, new)
    assert r.exit_code == 0 and "safe: task people: format tagged added" in r.output
    assert f"{new}:11: " in r.output  # the formats line of the new file
    r = humc("diff", tmp_path, repo / "specs")  # folders: a task is itself whichever file declares it
    assert r.exit_code == 1 and "task 'people' is declared in both" in r.output  # old.hum and new.hum
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "people.hum").write_text(old.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "b" / "moved.hum").write_text(new.read_text(encoding="utf-8"), encoding="utf-8")
    r = humc("diff", tmp_path / "a", tmp_path / "b")
    assert "safe: task people: task moved from" in r.output and "format tagged added" in r.output
    assert "task removed" not in r.output
    r = humc("diff", "--against", "no-such-branch", spec)
    assert r.exit_code == 1 and "unknown revision 'no-such-branch'" in r.output
    r = humc("diff", "--against", "HEAD", tmp_path)
    assert r.exit_code == 1 and "is not in a git repository" in r.output
    r = humc("diff", old)
    assert r.exit_code == 2 and "give two files or folders" in r.output


def _pair(tmp_path, old_text: str, new_text: str, *args):
    old, new = tmp_path / "old.hum", tmp_path / "new.hum"
    old.write_text(old_text, encoding="utf-8")
    new.write_text(new_text, encoding="utf-8")
    return humc("diff", old, new, *args)


BASE = DATA["base"]


def test_what_a_review_found_is_classed_right(tmp_path):
    # pre-releases promise nothing: any increase will do, and the same one is fine
    beta = BASE.replace('version "1.0.0"', 'version "2.1.0-beta.1"')
    assert _pair(tmp_path, beta, beta, "--check-version").exit_code == 0
    r = _pair(tmp_path, beta, beta.replace("beta.1", "beta.2").replace("short news", "news"), "--check-version")
    assert r.exit_code == 0, r.output
    # a label's natural name is written into answers by formats such as `sentences`
    named = BASE.replace("formats json_by_label, tuples", "formats json_by_label, sentences").replace(
        'PER "A person, by name."', 'PER "person"').replace('LOC "A place, by name."', 'LOC "place"')
    r = _pair(tmp_path, named, named.replace('PER "person"', 'PER "human"'))
    assert "breaking: task people: label PER is now written 'human'" in r.output
    r = _pair(tmp_path, BASE, BASE.replace('PER "A person, by name."', 'PER "human"'))
    assert "dangerous: task people: label PER is now shown as 'human'" in r.output
    # reordering what prompts and grammars list in order
    swapped = BASE.replace('    PER "A person, by name."\n    LOC "A place, by name."',
                           '    LOC "A place, by name."\n    PER "A person, by name."')
    assert "dangerous: task people: the order of the labels changed" in _pair(tmp_path, BASE, swapped).output
    # a bound raised: what fitted still fits
    capped = BASE.replace("prefer grounded", "prefer grounded\n  prefer max_items(3)")
    r = _pair(tmp_path, capped, capped.replace("max_items(3)", "max_items(5)"))
    assert "dangerous: task people: rule max_items: what it enforces changed" in r.output
    r = _pair(tmp_path, capped.replace("max_items(3)", "max_items(5)"), capped)
    assert "breaking: task people: rule max_items: what it enforces changed" in r.output


def test_annotations_cannot_be_forged_from_spec_text(tmp_path):
    forged = BASE.replace('version "1.0.0"',
                          'version "1.1.0"\n  approve "1.1.0" "ok\\n::error file=x.py,line=1::injected 100%"')
    r = _pair(tmp_path, BASE, forged, "--github")
    lines = [x for x in r.output.splitlines() if x.startswith("::")]
    assert len(lines) == 1 and "%0A::error" in lines[0] and "100%25" in lines[0]


def test_paths_in_neither_revision_and_links_in_the_repository(history):
    repo, spec = history
    r = humc("diff", "--against", "HEAD", repo / "spces")
    assert r.exit_code == 2 and "is in neither HEAD nor the working tree" in r.output
    link = repo / "hostlink"
    link.symlink_to("/etc/hostname")
    try:
        git(repo, "add", "hostlink")
        git(repo, "commit", "-qm", "a link")
        r = humc("diff", "--against", "HEAD", spec)
        assert r.exit_code == 0 and "Traceback" not in r.output
    finally:
        git(repo, "rm", "-q", "hostlink")
        git(repo, "commit", "-qm", "no link")
