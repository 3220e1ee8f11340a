"""Task kinds are objects that carry their behaviour: the rest of the package asks the kind
instead of comparing its name, and a kind written in one module is scored, checked and
prompted for without editing any other."""
import ast
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from humdsl.kinds import EFFECTS, KINDS, ListKind
from humdsl.kinds.scoring import micro_stats, multiset_scores, norm, prf_table

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "humdsl"

# Where a kind's name may still be compared: the kinds themselves; formats, which write each
# answer shape; the checker's example normaliser and label signatures, which are syntax; the
# dataset readers, which build records of a kind.
ALLOWED = ("humdsl/kinds/", "humdsl/formats/", "humdsl/semantic/examples.py", "humdsl/semantic/labels.py",
           "humdsl/adapters/")


def _names_a_kind(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and node.value in KINDS:
        return True
    return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and any(_names_a_kind(e) for e in node.elts)


def kind_name_comparisons() -> list[str]:
    """file:line of each `x == "classify"` / `kind in ("entities", ...)` where x mentions a kind."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(ALLOWED):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            if any(_names_a_kind(s) for s in sides) and "kind" in ast.unparse(node).lower():
                found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_outside_the_kinds_and_formats_compares_a_kind_name():
    assert kind_name_comparisons() == []


def test_the_comparison_finder_finds_one(tmp_path, monkeypatch):
    probe = PACKAGE / "_probe_kind_compare.py"
    probe.write_text('def f(task_ir):\n    return task_ir["kind"] == "classify"\n', encoding="utf-8")
    try:
        assert kind_name_comparisons() == ['humdsl/_probe_kind_compare.py:2: task_ir[\'kind\'] == \'classify\'']
    finally:
        probe.unlink()


def test_effects_read_which_kinds_take_them_from_the_kinds():
    LIST_KINDS = {"entities", "relations", "events", "triples"}
    assert EFFECTS["grounded"].kinds == {"entities", "relations", "events", "triples", "qa"}
    assert EFFECTS["max_items"].kinds == LIST_KINDS | {"classify"}
    assert EFFECTS["ordered"].kinds == LIST_KINDS


def test_spans_are_listed_item_by_item_as_formats_write_them():
    events = {"events": [{"type": "A", "trigger": "t1", "arguments": [{"role": "r", "text": "a1"}]},
                         {"type": "A", "trigger": "t2", "arguments": [{"role": "r", "text": "a2"}]}]}
    assert KINDS["events"].spans(events) == ["t1", "a1", "t2", "a2"]
    triples = {"triples": [{"subject": "s1", "predicate": "p", "object": "o1", "args": ["x1"]},
                           {"subject": "s2", "predicate": "p", "object": "o2"}]}
    assert KINDS["triples"].spans(triples) == ["s1", "o1", "x1", "s2", "o2"]
    assert KINDS["qa"].spans({"answer": "Paris"}) == ["Paris"] and KINDS["qa"].spans({"answer": None}) == []


def test_every_kind_is_consistent_with_itself():
    for kind in KINDS.values():
        pools = {"labels", *kind.label_members}
        assert set(kind.label_holes.values()) | set(kind.nested_label_holes.values()) <= pools, kind.name
        assert set(kind.label_holes) <= {h.partition(".")[0] for h in kind.holes}, kind.name
        assert kind.labelled == ("labels" in kind.required)
        if isinstance(kind, ListKind):
            assert kind.list_key == kind.name and kind.anchor in kind.span_fields, kind.name
        assert kind.instruction, kind.name


class Keyphrases(ListKind):
    """A kind written for this test only: {"keyphrases": [{"text"}]}, scored by exact match."""

    def score(self, gold, pred, labels=None):
        def bag(rec):
            from collections import Counter

            return Counter((norm(k["text"]),) for k in (rec or {}).get("keyphrases", []))
        return {"strict": multiset_scores([bag(g) for g in gold], [bag(p) for p in pred], lambda k: "all")}

    def input_stats(self, gold, pred):
        return micro_stats(self.score([gold], [pred])["strict"]["micro"])

    def report(self, scores):
        return prf_table("keyphrases", scores["strict"])


@pytest.fixture
def keyphrases(monkeypatch):
    kind = Keyphrases("keyphrases", list_key="keyphrases", span_fields=("text",), holes=frozenset({"text"}),
                      item_strings=("text",), anchor="text", effects=frozenset({"grounded"}),
                      instruction="List the key phrases of the text.")
    monkeypatch.setitem(KINDS, "keyphrases", kind)
    return kind


def test_a_new_kind_is_scored_by_humc_eval_from_its_module_alone(keyphrases, tmp_path):
    from humdsl.cli import main

    gold = tmp_path / "gold.jsonl"
    pred = tmp_path / "pred.jsonl"
    gold.write_text("".join(json.dumps(x) + "\n" for x in [
        {"id": "1", "text": "solar panels and wind farms", "record": {"keyphrases": [{"text": "solar panels"},
                                                                                     {"text": "wind farms"}]}},
        {"id": "2", "text": "tax law", "record": {"keyphrases": [{"text": "tax law"}]}}]), encoding="utf-8")
    pred.write_text("".join(json.dumps(x) + "\n" for x in [
        {"id": "1", "record": {"keyphrases": [{"text": "solar  panels"}, {"text": "farms"}]}},
        {"id": "2", "record": {"keyphrases": "tax law"}}]), encoding="utf-8")
    r = CliRunner().invoke(main, ["eval", "--task", "keyphrases", "--gold", str(gold), "--pred", str(pred),
                                  "--json"])
    assert r.exit_code == 1, r.output  # a line was not scored: exit 1, as documented
    result = json.loads(r.stdout)
    # 1 of 2 predicted right on line 1; line 2's record is not a list of items: a parse failure
    assert result["main_score"] == {"name": "strict micro-F1", "value": pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))}
    assert result["counts"]["parse_failures"] == 1
    assert "pred.jsonl:2: the record has no \"keyphrases\" list: is it a keyphrases record?" in r.stderr
    text = CliRunner().invoke(main, ["eval", "--task", "keyphrases", "--gold", str(gold), "--pred", str(pred)])
    assert "keyphrases" in text.stdout and "micro" in text.stdout


def test_a_new_kind_gets_its_instruction_and_gold_preparation(keyphrases):
    from humdsl.prompts import PromptChoice, prompt_text

    task_ir = {"kind": "keyphrases", "name": "k", "about": "", "labels": [], "guidelines": [], "rules": [],
               "instructions": [], "formats": [], "examples": [], "inputs": [{"name": "text", "descriptions": []}]}
    class OnePerLine:  # the little of a format a prompt reads
        name, describe = "lines", ["one key phrase per line"]

        def empty_answer(self):
            return None

    prompt = prompt_text(task_ir, OnePerLine(), {"text": "solar or wind"}, PromptChoice())
    assert prompt.startswith("List the key phrases of the text.") and "Text: solar or wind" in prompt
    record = {"keyphrases": [{"text": "wind", "start": 9}, {"text": "solar", "start": 0}]}
    assert keyphrases.prepare(task_ir, record, "solar or wind", ordered=True) == \
        {"keyphrases": [{"text": "solar"}, {"text": "wind"}]}
    assert keyphrases.spans(record) == ["wind", "solar"]
