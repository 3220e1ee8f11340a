"""Proposed alternatives (`| proposed "..."`): inserted, accepted and rejected by source edits that
leave the rest of the file byte for byte; left out of the IR's texts unless asked for."""
import re
from pathlib import Path

import pytest

from humdsl import proposals
from humdsl.compiler import check_paths, lower
from humdsl.fmt import format_text

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = sorted([*(ROOT / "specs").glob("*.hum"), *(ROOT / "examples").glob("*.hum")])

SPEC = '''task people : entities {
  version "1.0.0"
  labels {
    PER "person" : "A person, by name."
    LOC "place"  : "A place, by name."
  }
  input text : "A short news item."
  guideline full_names
    : "Mark a person's full name, not a part of it."
    | "Never split a name."
  guideline titles for PER : "Leave titles such as Mr. out."  # house style
  prefer short : "Keep spans short."
  instruction "Find the people and places in the text."
  formats json_by_label
}

task invoice : record {
  fields {
    total float : "The amount due."
    buyer { name string : "Who pays." } : "The buyer."
  }
  instruction "Fill in the invoice's fields."
}
'''


def tasks_of(text: str) -> list[str]:
    return re.findall(r"^task (\w+)", text, re.M)


def propose_everywhere(text: str, path: str = "spec.hum") -> str:
    for task in tasks_of(text):
        for slot in proposals.slots(text, path, task):
            text = proposals.insert(text, path, task, slot, [f"First idea for {slot}.", f"Second idea for {slot}."])
    return text


def compiled(tmp_path: Path, text: str, with_proposed: bool = False) -> dict:
    path = tmp_path / "spec.hum"
    path.write_text(text, encoding="utf-8")
    result = check_paths([path], with_proposed=with_proposed)
    assert result.ok, result.errors_text()
    return lower(result)


def test_the_slots_of_a_task():
    assert proposals.slots(SPEC, "spec.hum", "people") == {
        "label PER": [("A person, by name.", False)],
        "label LOC": [("A place, by name.", False)],
        "input text": [("A short news item.", False)],
        "guideline full_names": [("Mark a person's full name, not a part of it.", False),
                                 ("Never split a name.", False)],
        "guideline titles": [("Leave titles such as Mr. out.", False)],
        "rule short": [("Keep spans short.", False)],
        "instruction": [("Find the people and places in the text.", False)],
    }
    assert list(proposals.slots(SPEC, "spec.hum", "invoice")) == ["field total", "field buyer", "field buyer.name",
                                                                  "instruction"]


def test_inserted_texts_are_proposed_and_laid_out_as_fmt_would():
    text = proposals.insert(SPEC, "spec.hum", "people", "instruction", ["List who and where.", 'Say "who".'])
    text = proposals.insert(text, "spec.hum", "people", "guideline full_names", ["Keep a name whole."])
    text = proposals.insert(text, "spec.hum", "people", "label PER", ["Someone named."])
    assert proposals.slots(text, "spec.hum", "people")["instruction"] == [
        ("Find the people and places in the text.", False), ("List who and where.", True), ('Say "who".', True)]
    assert ('  instruction "Find the people and places in the text."\n'
            '            | proposed "List who and where."\n'
            '            | proposed "Say \\"who\\"."\n') in text
    assert ('    | "Never split a name."\n'
            '    | proposed "Keep a name whole."\n') in text
    assert ('    PER "person"\n'  # one text on the head's line: that member is laid out again
            '      : "A person, by name."\n'
            '      | proposed "Someone named."\n'
            '    LOC "place"  : "A place, by name."\n') in text  # the rest is left as it was
    assert format_text(text)[1] == []


@pytest.mark.parametrize("path", [None, *BUNDLED], ids=["inline", *(p.name for p in BUNDLED)])
def test_insert_is_a_fixed_point_of_fmt_and_reject_gives_the_file_back(path):
    original = SPEC if path is None else path.read_text(encoding="utf-8")
    proposed = propose_everywhere(original)
    if path is not None:  # a fmt-clean file stays fmt-clean
        assert format_text(proposed)[0] == proposed
    else:  # the label rows around a member laid out again are realigned by fmt, meaning the same
        formatted = format_text(proposed)[0]
        for task in tasks_of(original):
            assert proposals.slots(formatted, "f", task) == proposals.slots(proposed, "f", task)
    rejected, count = proposals.settle(proposed, "spec.hum", accept=False)
    assert rejected == original
    accepted, same = proposals.settle(proposed, "spec.hum", accept=True)
    assert count == same == 2 * sum(len(proposals.slots(original, "f", t)) for t in tasks_of(original))
    assert format_text(accepted)[0] == format_text(propose_everywhere(original).replace("| proposed ", "| "))[0]
    for task in tasks_of(original):
        assert not any(p for texts in proposals.slots(accepted, "f", task).values() for _, p in texts)


def test_settle_chooses_by_task_slot_and_text():
    text = proposals.insert(SPEC, "s", "people", "instruction", ["A.", "B."])
    text = proposals.insert(text, "s", "people", "rule short", ["C."])
    text = proposals.insert(text, "s", "invoice", "field buyer.name", ["D."])
    out, n = proposals.settle(text, "s", accept=True, task="people", slots={"instruction"}, texts={"B."})
    assert n == 1
    assert proposals.slots(out, "s", "people")["instruction"][1:] == [("A.", True), ("B.", False)]
    out, n = proposals.settle(out, "s", accept=False, slots={"rule short", "field buyer.name"})
    assert n == 2
    assert out == proposals.insert(SPEC, "s", "people", "instruction", ["A.", "B."]).replace('proposed "B."', '"B."')


def test_a_first_text_marked_proposed_is_accepted_or_rejected():
    text = 'task t : classify {\n  labels { a b }\n  instruction proposed "One." | "Two."\n}\n'
    assert proposals.settle(text, "s", accept=True)[0] == text.replace("proposed ", "")
    assert proposals.settle(text, "s", accept=False)[0] == text.replace('proposed "One." | ', "")
    alone = 'task t : classify {\n  labels { a b }\n  instruction proposed "One."\n}\n'
    with pytest.raises(ValueError, match="empty"):
        proposals.settle(alone, "s", accept=False)


def test_odd_layouts_still_parse():
    text = ('task t : classify {\n  labels { yes : "Yes." no : "No." }  # one line\n'
            '  instruction "Answer." | "Reply."\n}\n')
    out = proposals.insert(text, "s", "t", "label yes", ["Indeed."])
    out = proposals.insert(out, "s", "t", "instruction", ["Decide."])
    assert proposals.slots(out, "s", "t") == {"label yes": [("Yes.", False), ("Indeed.", True)],
                                               "label no": [("No.", False)],
                                               "instruction": [("Answer.", False), ("Reply.", False),
                                                               ("Decide.", True)]}
    assert "# one line" in out
    rejected, n = proposals.settle(out, "s", accept=False)
    assert n == 2 and proposals.slots(rejected, "s", "t") == proposals.slots(text, "s", "t")


def test_clear_errors():
    with pytest.raises(ValueError, match="no task 'nobody'.*people, invoice"):
        proposals.insert(SPEC, "s", "nobody", "instruction", ["x"])
    with pytest.raises(ValueError, match="no slot 'label ORG'.*label PER"):
        proposals.insert(SPEC, "s", "people", "label ORG", ["x"])
    with pytest.raises(ValueError, match="already has"):
        proposals.insert(SPEC, "s", "people", "instruction", ["Find the people and places in the text."])
    with pytest.raises(ValueError, match="blank"):
        proposals.insert(SPEC, "s", "people", "instruction", ["  "])
    with pytest.raises(ValueError, match="no slot 'guideline nope'"):
        proposals.settle(SPEC, "s", accept=True, slots={"guideline nope"})
    with pytest.raises(ValueError, match="cannot be read"):
        proposals.slots("task {", "s", "people")
    assert proposals.settle(SPEC, "s", accept=True) == (SPEC, 0)


def test_proposals_are_used_only_when_asked_and_listed_in_the_ir(tmp_path):
    plain = compiled(tmp_path, SPEC)
    text = propose_everywhere(SPEC)
    default, included = compiled(tmp_path, text), compiled(tmp_path, text, with_proposed=True)
    assert "proposed" not in plain["people"]
    for name in plain:  # nothing but the list of proposals differs: none is used
        assert {k: v for k, v in default[name].items() if k != "proposed"} == plain[name]
        assert default[name]["proposed"] == included[name]["proposed"]
    assert default["people"]["proposed"][:3] == [
        {"slot": "label PER", "text": "First idea for label PER."},
        {"slot": "label PER", "text": "Second idea for label PER."},
        {"slot": "label LOC", "text": "First idea for label LOC."}]
    people = included["people"]
    assert people["instructions"] == ["Find the people and places in the text.", "First idea for instruction.",
                                      "Second idea for instruction."]
    assert people["labels"][0]["descriptions"][1] == "First idea for label PER."
    assert people["guidelines"][1]["texts"][1:] == ["First idea for guideline titles.",
                                                    "Second idea for guideline titles."]
    assert people["rules"][-1]["texts"][1] == "First idea for rule short."
    assert people["inputs"][0]["descriptions"][1] == "First idea for input text."
    buyer = included["invoice"]["fields"][1]
    assert buyer["type"]["fields"][0]["descriptions"][1] == "First idea for field buyer.name."
    assert {"slot": "field buyer.name", "text": "First idea for field buyer.name."} in default["invoice"]["proposed"]


@pytest.mark.parametrize("path", BUNDLED, ids=[p.name for p in BUNDLED])
def test_proposals_in_a_bundled_spec_change_only_the_list_of_proposals(path, tmp_path):
    original = path.read_text(encoding="utf-8")
    before = lower(check_paths([path]))
    after = compiled(tmp_path, propose_everywhere(original))
    assert all("proposed" not in ir for ir in before.values())
    assert {n: {k: v for k, v in ir.items() if k != "proposed"} for n, ir in after.items()} == before


def test_a_referenced_rule_with_a_proposal(tmp_path):
    text = ('rule british : "Use British spelling." | proposed "Spell the British way."\n\n'
            'task t : classify {\n  labels { a b }\n  prefer british\n  instruction "Pick one."\n}\n')
    default, included = compiled(tmp_path, text)["t"], compiled(tmp_path, text, with_proposed=True)["t"]
    assert default["rules"][-1]["texts"] == ["Use British spelling."]
    assert included["rules"][-1]["texts"] == ["Use British spelling.", "Spell the British way."]
    assert default["proposed"] == [{"slot": "rule british", "text": "Spell the British way."}]
