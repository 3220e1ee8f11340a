"""humc eval: each metric against an independent reference, plus hand-computed edge cases."""
import json
import random

import pytest
from click.testing import CliRunner

from conftest import shared_or_skip
from humdsl.adapters.conll import read_conll, sentence_record, tags_to_spans
from humdsl.cli import main
from humdsl.kinds import KINDS
from humdsl.kinds.qa import squad_normalise
from humdsl.kinds.relations import semeval


def _bio(n: int, spans) -> list[str]:
    tags = ["O"] * n
    for typ, s, e in spans:
        tags[s] = f"B-{typ}"
        for i in range(s + 1, e):
            tags[i] = f"I-{typ}"
    return tags


def _perturb(spans, n, rng, types):
    out = []
    for typ, s, e in spans:
        r = rng.random()
        if r < 0.1:
            continue  # missed
        if r < 0.2:
            typ = rng.choice(types)  # wrong type (sometimes the same)
        elif r < 0.3 and e < n:
            e += 1  # boundary too long
        out.append((typ, s, e))
    if n > 3 and rng.random() < 0.15:
        s = rng.randrange(n - 1)
        out.append((rng.choice(types), s, s + 1))  # a spurious one (may overlap: dropped below)
    out.sort(key=lambda t: t[1])
    clean, last_end = [], 0
    for t in out:
        if t[1] >= last_end:
            clean.append(t)
            last_end = t[2]
    return clean


def test_entity_f1_equals_seqeval_strict_on_conll2003_dev():
    seqeval = pytest.importorskip("seqeval.metrics")
    from seqeval.scheme import IOB2

    path = shared_or_skip("data", "conll2003", "eng.testa")
    sentences = read_conll(path)
    assert len(sentences) == 3250  # the README's count
    rng = random.Random(0)
    types = ["PER", "ORG", "LOC", "MISC"]
    gold_tags, pred_tags, gold_recs, pred_recs = [], [], [], []
    for sent in sentences:
        spans = tags_to_spans(sent.tags, "iob1")
        pred_spans = _perturb(spans, len(sent.tokens), rng, types)
        gold_tags.append(_bio(len(sent.tokens), spans))
        pred_tags.append(_bio(len(sent.tokens), pred_spans))
        gold_recs.append(sentence_record(sent, "iob1")[1])
        from humdsl.adapters.conll import Sentence
        pred_recs.append(sentence_record(Sentence(sent.tokens, pred_tags[-1], 0), "iob2")[1])
    assert sum(len(r["entities"]) for r in gold_recs) == 5942  # the README's count
    ours = KINDS["entities"].score(gold_recs, pred_recs)["strict"]
    ref = seqeval.classification_report(gold_tags, pred_tags, mode="strict", scheme=IOB2, output_dict=True)
    assert ours["micro"]["f1"] == pytest.approx(ref["micro avg"]["f1-score"], abs=1e-9)
    assert ours["micro"]["precision"] == pytest.approx(ref["micro avg"]["precision"], abs=1e-9)
    assert ours["macro"]["f1"] == pytest.approx(ref["macro avg"]["f1-score"], abs=1e-9)
    for t in types:
        assert ours["per_label"][t]["f1"] == pytest.approx(ref[t]["f1-score"], abs=1e-9)


def test_classification_equals_scikit_learn_on_sst2_dev():
    sk = pytest.importorskip("sklearn.metrics")
    path = shared_or_skip("data", "sst2", "stsa.binary.dev")
    gold = [{"label": "positive" if line[0] == "1" else "negative"}
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(gold) == 872
    rng = random.Random(1)
    pred = [{"label": g["label"] if rng.random() < 0.8 else rng.choice(["positive", "negative"])}
            for g in gold]
    ours = KINDS["classify"].score(gold, pred, ["negative", "positive"])
    y, p = [g["label"] for g in gold], [x["label"] for x in pred]
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(y, p))
    assert ours["macro_f1"] == pytest.approx(sk.f1_score(y, p, average="macro"))
    matrix = sk.confusion_matrix(y, p, labels=["negative", "positive"])
    assert [[ours["confusion"][a][b] for b in ("negative", "positive")] for a in ("negative", "positive")] \
        == matrix.tolist()


def test_multilabel_equals_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    labels = ["a", "b", "c"]
    rng = random.Random(2)
    gold = [{"labels": [x for x in labels if rng.random() < 0.4]} for _ in range(300)]
    pred = [{"labels": [x for x in labels if rng.random() < 0.4]} for _ in range(300)]
    ours = KINDS["classify"].score(gold, pred, labels)
    Y = [[int(x in g["labels"]) for x in labels] for g in gold]
    P = [[int(x in q["labels"]) for x in labels] for q in pred]
    assert ours["micro"]["f1"] == pytest.approx(sk.f1_score(Y, P, average="micro"))
    assert ours["macro_f1"] == pytest.approx(sk.f1_score(Y, P, average="macro", zero_division=0))
    assert ours["exact_set_accuracy"] == pytest.approx(sk.accuracy_score(Y, P))


def test_iob_schemes():
    assert tags_to_spans(["I-PER", "I-PER", "B-PER", "O", "I-LOC"], "iob1") == \
        [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5)]
    assert tags_to_spans(["B-PER", "I-PER", "B-PER", "I-ORG"], "iob2") == \
        [("PER", 0, 2), ("PER", 2, 3), ("ORG", 3, 4)]
    assert tags_to_spans(["U-Peop", "O", "B-Org", "I-Org", "L-Org"], "bilou") == \
        [("Peop", 0, 1), ("Org", 2, 5)]


def test_squad_normalisation_by_hand():
    assert squad_normalise("The  Eiffel Tower!") == "eiffel tower"
    assert squad_normalise("an apple, a pear") == "apple pear"
    result = KINDS["qa"].score([{"answers": ["the Eiffel Tower", "Eiffel"]}, {"answer": "1889"}, {"answer": "Paris"}],
                        [{"answer": "Eiffel Tower."}, {"answer": "in 1889"}, None])
    assert result["exact_match"] == pytest.approx(1 / 3)
    assert result["f1"] == pytest.approx((1 + 2 * 0.5 * 1 / 1.5 + 0) / 3)
    assert KINDS["qa"].score([{"answer": None}], [{"answer": None}])["exact_match"] == 1.0


def test_entities_multiset_and_empty_edges():
    gold = [{"entities": [{"type": "PER", "text": "Ann"}, {"type": "PER", "text": "Ann"}]}, {"entities": []}]
    pred = [{"entities": [{"type": "PER", "text": "Ann"}]}, {"entities": [{"type": "LOC", "text": "x"}]}]
    s = KINDS["entities"].score(gold, pred)["strict"]
    assert (s["micro"]["tp"], s["micro"]["pred"], s["micro"]["gold"]) == (1, 2, 2)
    assert KINDS["entities"].score([{"entities": []}], [None])["strict"]["micro"]["f1"] == 0.0


def test_relations_strict_boundaries_and_semeval():
    gold = [{"relations": [{"head": "a", "type": "Work_For", "tail": "b", "head_type": "Peop", "tail_type": "Org"}]},
            {"relations": []}]
    pred = [{"relations": [{"head": "a", "type": "Work_For", "tail": "b", "head_type": "Org", "tail_type": "Org"}]},
            {"relations": [{"head": "x", "type": "Kill", "tail": "y"}]}]
    r = KINDS["relations"].score(gold, pred)
    stats = [KINDS["relations"].input_stats(g, p) for g, p in zip(gold, pred)]
    assert KINDS["relations"].main_score(stats) == r["strict"]["micro"]["f1"] == 0.0  # the main score is strict
    mixed = [gold[0], {"relations": [{"head": "c", "type": "Kill", "tail": "d"}]}]  # types on one record only
    right = [{"relations": [{**gold[0]["relations"][0]}]},
             {"relations": [{"head": "c", "type": "Kill", "tail": "d", "head_type": "Peop", "tail_type": "Peop"}]}]
    m = KINDS["relations"].score(mixed, right)
    stats = [KINDS["relations"].input_stats(g, p) for g, p in zip(mixed, right)]
    assert KINDS["relations"].main_score(stats) == m["strict"]["micro"]["f1"] == 1.0  # types where gold has them
    assert r["strict"]["micro"]["tp"] == 0 and r["boundaries"]["micro"]["tp"] == 1
    sem = semeval(
        [{"relations": [{"head": "wind", "type": "Cause-Effect", "tail": "damage"}]}, {"relations": []}],
        [{"relations": [{"head": "damage", "type": "Cause-Effect", "tail": "wind"}]}, {"relations": []}])
    assert sem["macro_f1"] == 0.0  # the direction is part of the answer


def test_events_and_triples_by_hand():
    gold = [{"events": [{"type": "Attack", "trigger": "bombed",
                         "arguments": [{"role": "Attacker", "text": "rebels"}]}]}]
    pred = [{"events": [{"type": "Attack", "trigger": "bombed",
                         "arguments": [{"role": "Target", "text": "rebels"}]}]}]
    e = KINDS["events"].score(gold, pred)
    assert e["trigger_classification"]["micro"]["f1"] == 1.0
    assert e["argument_identification"]["f1"] == 1.0
    assert e["argument_classification"]["micro"]["f1"] == 0.0
    t = KINDS["triples"].score([{"triples": [{"subject": "Ann", "predicate": "founded", "object": "the firm"}]}],
                        [{"triples": [{"subject": "Ann", "predicate": "founded", "object": "a firm"}]}])
    assert t["precision"] == pytest.approx(3 / 4) and t["recall"] == pytest.approx(3 / 4)


def test_cli_reports_bad_lines_missing_ids_and_parse_failures(tmp_path):
    gold = tmp_path / "gold.jsonl"
    pred = tmp_path / "pred.jsonl"
    gold.write_text("\n".join(json.dumps(x) for x in [
        {"id": "1", "text": "Ann", "record": {"entities": [{"type": "PER", "text": "Ann"}]}},
        {"id": "2", "text": "Bo", "record": {"entities": [{"type": "PER", "text": "Bo"}]}},
        {"id": "3", "text": "Cy", "record": {"entities": []}},
    ]) + "\n{not json\n", encoding="utf-8")
    pred.write_text("\n".join(json.dumps(x) for x in [
        {"id": "1", "record": {"entities": [{"type": "PER", "text": "Ann"}]}, "format": "tuples"},
        {"id": "2", "record": None, "raw": "(PER, B", "format": "tuples"},
        {"id": "9", "record": {"entities": []}},
    ]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["eval", "--task", "entities", "--gold", str(gold), "--pred", str(pred)])
    assert result.exit_code == 1
    assert f"{gold}:4: not JSON" in result.output
    assert "parse failures 1" in result.output and "missing predictions 1" in result.output
    assert "predictions without gold 1" in result.output
    assert "parse failures in format tuples: 1" in result.output
    js = CliRunner().invoke(main, ["eval", "--task", "entities", "--gold", str(gold), "--pred", str(pred), "--json"])
    data = json.loads(js.stdout)
    assert data["scores"]["strict"]["micro"]["recall"] == pytest.approx(0.5)
    assert data["counts"]["missing_predictions"] == 1


def test_cli_unknown_kind_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["eval", "--task", "entites", "--gold", "x", "--pred", "y"])
    assert result.exit_code == 1 and "unknown task kind 'entites'" in result.output
    assert "Traceback" not in result.output


def _write(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def test_by_format_breakdown_and_bootstrap_comparison(tmp_path):
    rng = random.Random(3)
    gold, a, b = [], [], []
    for i in range(60):
        label = rng.choice(["pos", "neg"])
        gold.append({"id": str(i), "text": "x", "record": {"label": label}})
        a.append({"id": str(i), "record": {"label": label if rng.random() < 0.6 else "neg"}, "format": "bare_label"})
        b.append({"id": str(i), "record": {"label": label if rng.random() < 0.95 else "pos"}, "format": "json_label"})
    _write(tmp_path / "g.jsonl", gold)
    _write(tmp_path / "a.jsonl", a)
    _write(tmp_path / "b.jsonl", b)
    _write(tmp_path / "ab.jsonl", a + b)
    from humdsl.evaluate import compare, evaluate

    by = evaluate("classify", tmp_path / "g.jsonl", tmp_path / "ab.jsonl", by="format")["by"]["groups"]
    acc_a = evaluate("classify", tmp_path / "g.jsonl", tmp_path / "a.jsonl")["scores"]["accuracy"]
    acc_b = evaluate("classify", tmp_path / "g.jsonl", tmp_path / "b.jsonl")["scores"]["accuracy"]
    assert by["bare_label"]["score"] == pytest.approx(acc_a) and by["json_label"]["score"] == pytest.approx(acc_b)
    cmp = compare("classify", tmp_path / "g.jsonl", tmp_path / "a.jsonl", tmp_path / "b.jsonl", samples=500)
    assert cmp["difference"] == pytest.approx(acc_b - acc_a)
    assert cmp["ci95"][0] <= cmp["difference"] <= cmp["ci95"][1]
    assert cmp["p_b_not_better"] < 0.05  # 95 % vs ~80 % accuracy on 60 inputs
    same = compare("classify", tmp_path / "g.jsonl", tmp_path / "a.jsonl", tmp_path / "a.jsonl", samples=200)
    assert same["difference"] == 0 and same["p_b_not_better"] == 1.0


def test_cli_compares_two_files_and_plots(tmp_path):
    pytest.importorskip("matplotlib")
    gold = [{"id": str(i), "text": "t", "record": {"label": ["pos", "neg", "mid"][i % 3]}} for i in range(30)]
    pred = [{"id": str(i), "record": {"label": ["pos", "neg", "neg"][i % 3]}} for i in range(30)]
    _write(tmp_path / "g.jsonl", gold)
    _write(tmp_path / "p.jsonl", pred)
    _write(tmp_path / "q.jsonl", [{"id": r["id"], "record": r["record"]} for r in gold])
    plots = tmp_path / "plots"
    result = CliRunner().invoke(main, ["eval", "--task", "classify", "--gold", str(tmp_path / "g.jsonl"),
                                       "--pred", str(tmp_path / "p.jsonl"), "--pred", str(tmp_path / "q.jsonl"),
                                       "--plot", str(plots), "--bootstrap", "200"])
    assert result.exit_code == 0, result.output
    assert "paired bootstrap" in result.output and "difference +33.33" in result.output
    for name in ("per_label_f1.png", "confusion.png", "comparison.png"):
        assert (plots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
