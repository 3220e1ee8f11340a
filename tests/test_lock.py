"""humc lock: humc.lock records what each spec compiles to; --check catches drift."""
import shutil
from pathlib import Path

from click.testing import CliRunner

from humdsl.cli import main

ROOT = Path(__file__).resolve().parent.parent


def humc(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    return tmp_path


def test_the_lock_is_written_deterministically_and_checks_clean(tmp_path):
    project = _project(tmp_path)
    lock = project / "humc.lock"
    r = humc("lock", project / "specs", "--lock", lock)
    assert r.exit_code == 0, r.output
    first = lock.read_text(encoding="utf-8")
    assert "spec specs/ner.hum " in first and "    format tuples grammar " in first
    assert humc("lock", "--lock", lock).exit_code == 0  # the specs it lists, again
    assert lock.read_text(encoding="utf-8") == first
    r = humc("lock", "--check", "--lock", lock)
    assert r.exit_code == 0 and "is up to date (6 specs)" in r.output


def test_a_change_to_what_a_spec_compiles_to_fails_the_check_naming_it(tmp_path):
    project = _project(tmp_path)
    lock = project / "humc.lock"
    humc("lock", project / "specs", "--lock", lock)
    spec = project / "specs" / "classify.hum"
    text = spec.read_text(encoding="utf-8")
    spec.write_text(text.replace("formats bare_label, label_line, json_label", "formats bare_label, json_label", 1),
                    encoding="utf-8")
    r = humc("lock", "--check", "--lock", lock)
    assert r.exit_code == 1
    assert "specs/classify.hum: task sst2 format label_line is gone" in r.output
    assert "specs/classify.hum: task sst2: ir " in r.output
    assert "is out of date" in r.output
    before = lock.read_text(encoding="utf-8")
    r = humc("lock", "--lock", lock)  # updating it says what changed
    assert r.exit_code == 0 and "task sst2 format label_line is gone" in r.output
    assert lock.read_text(encoding="utf-8") != before
    assert humc("lock", "--check", "--lock", lock).exit_code == 0


def test_a_grammar_change_shows_on_its_format_line(tmp_path):
    project = _project(tmp_path)
    lock = project / "humc.lock"
    humc("lock", project / "specs" / "classify.hum", "--lock", lock)
    spec = project / "specs" / "classify.hum"
    spec.write_text(spec.read_text(encoding="utf-8").replace("labels labels.sst2", "labels { positive negative neutral }", 1),
                    encoding="utf-8")
    r = humc("lock", "--check", "--lock", lock)
    assert r.exit_code == 1
    assert "task sst2 format bare_label: grammar " in r.output


def test_a_foreign_file_is_not_overwritten_and_a_missing_lock_is_explained(tmp_path):
    project = _project(tmp_path)
    other = project / "notes.txt"
    other.write_text("my notes\n", encoding="utf-8")
    r = humc("lock", project / "specs", "--lock", other)
    assert r.exit_code == 1 and "is not a humc lock" in r.output
    assert other.read_text(encoding="utf-8") == "my notes\n"
    r = humc("lock", "--check", "--lock", project / "humc.lock")
    assert r.exit_code == 1 and "run `humc lock SPEC...`" in r.output
    broken = project / "specs" / "broken.hum"
    broken.write_text("task t : classify {\n", encoding="utf-8")
    r = humc("lock", broken, "--lock", project / "humc.lock")
    assert r.exit_code == 1 and "broken.hum has errors" in r.output and not (project / "humc.lock").exists()


def test_paths_with_spaces_and_outside_the_lock_folder_round_trip(tmp_path):
    (tmp_path / "my specs").mkdir()
    shutil.copy(ROOT / "specs" / "classify.hum", tmp_path / "my specs" / "classify.hum")
    (tmp_path / "project").mkdir()
    lock = tmp_path / "project" / "humc.lock"
    assert humc("lock", tmp_path / "my specs", "--lock", lock).exit_code == 0
    assert "spec ../my specs/classify.hum " in lock.read_text(encoding="utf-8")
    r = humc("lock", "--check", "--lock", lock)
    assert r.exit_code == 0, r.output


def test_an_unwritable_lock_is_one_line():
    r = humc("lock", ROOT / "specs" / "classify.hum", "--lock", "/proc/humc.lock")
    assert r.exit_code == 1 and r.output.startswith("humc: cannot use") and "internal error" not in r.output
