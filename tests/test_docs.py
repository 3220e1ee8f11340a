"""The docs name what is there: every diagnostic code, every benchmark results file and run."""
from pathlib import Path

from humdsl.codes import CODES

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "language.md"


def test_every_code_is_documented():
    text = DOC.read_text(encoding="utf-8")
    missing = [c for c in CODES if f"| {c} | {CODES[c].severity} |" not in text]
    assert not missing, f"add these codes to docs/language.md: {missing}"


def test_every_results_file_and_run_the_benchmark_notes_name_exists():
    """bench/README.md cites `bench/results/NAME.json` (and `, run RUN` of the files that hold
    several runs): each file it cites is there, with each run it names."""
    import json
    import re

    notes = (ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    cited = re.findall(r"`bench/results/([a-z0-9_]+)\.json`(?:, run `([a-z0-9_]+)`)?", notes)
    assert len(cited) > 20
    for name, run in cited:
        path = ROOT / "bench" / "results" / f"{name}.json"
        assert path.exists(), name
        if run:
            assert run in json.loads(path.read_text(encoding="utf-8"))["runs"], (name, run)
    assert not re.findall(r"results/\w+_(?:n40|100|ab|qa|ner|openie)\w*\.json", notes)  # the old one-file-per-run names
