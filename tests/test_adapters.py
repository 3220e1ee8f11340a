"""Dataset adapters against the real files: counts equal the figures in each dataset README."""
import pytest

from conftest import shared_or_skip
from humdsl.adapters.readers import detect, read_examples


def _count(examples, key):
    return sum(len(e["record"].get(key, [])) for e in examples)


@pytest.mark.parametrize("rel,adapter,n,key,items", [
    ("conll2003/eng.testa", "conll-iob1", 3250, "entities", 5942),
    ("conll2003/eng.train", "conll-iob1", 14041, "entities", 23499),
    ("wnut17/emerging.dev.conll", "conll-iob2", 1009, "entities", 836),
    ("wnut17/wnut17train.conll", "conll-iob2", 3394, "entities", 1975),
    ("conll04/conll04_train.json", "conll04", 922, "relations", 1283),
    ("conll04/conll04_dev.json", "conll04", 231, "relations", 343),
    ("semeval2010_task8/TRAIN_FILE.TXT", "semeval2010", 8000, None, None),
    ("phee/train.json", "phee", 2898, "events", 3006),
    ("phee/dev.json", "phee", 961, "events", 1003),
    ("carb/dev_gold.tsv", "carb", 641, "triples", 2548),
    ("xquad_en/xquad.en.even_articles.json", "squad", 612, None, None),
    ("sst2/stsa.binary.dev", "sst2", 872, None, None),
    ("sst2/stsa.binary.train", "sst2", 6920, None, None),
    ("trec/TREC.train", "trec-coarse", 5452, None, None),
])
def test_counts_match_the_readmes(rel, adapter, n, key, items):
    path = shared_or_skip("data", *rel.split("/"))
    assert detect(path) == adapter
    examples, report = read_examples(path)
    assert len(examples) == n and report.skipped == []
    if key:
        assert _count(examples, key) == items
    assert len({e["id"] for e in examples}) == n


def test_conll04_entities_and_types():
    examples, _ = read_examples(shared_or_skip("data", "conll04", "conll04_train.json"))
    assert _count(examples, "entities") == 3377
    rel = examples[0]["record"]["relations"]
    assert all(r["head"] in examples[0]["text"] and r["head_type"] in ("Peop", "Loc", "Org", "Other") for r in rel)


def test_casie_reports_and_skips_mismatched_offsets():
    examples, report = read_examples(shared_or_skip("data", "casie", "casie_docs_0000-0249.jsonl"))
    assert len(examples) == 250
    # the README: 63.txt (7 spans), 464.txt (1), 684.txt (21) do not match their offsets
    by_doc = {}
    for line in report.skipped:
        doc = line.split("(")[1].split(")")[0]
        by_doc[doc] = by_doc.get(doc, 0) + 1
    assert by_doc == {"63.txt": 7, "464.txt": 1, "684.txt": 21}
    for e in examples:  # every span kept is in its document
        for ev in e["record"]["events"]:
            assert ev["trigger"] in e["text"] and all(a["text"] in e["text"] for a in ev["arguments"])


def test_trec_fine_and_semeval_direction():
    fine, _ = read_examples(shared_or_skip("data", "trec", "TREC.train"), "trec-fine")
    assert len({e["record"]["label"] for e in fine}) == 50
    sem, _ = read_examples(shared_or_skip("data", "semeval2010_task8", "TRAIN_FILE.TXT"))
    first = sem[0]["record"]["relations"][0]  # Component-Whole(e2,e1): the head is e2
    assert (first["head"], first["type"], first["tail"]) == ("elements", "Component-Whole", "configuration")
    assert sum(not e["record"]["relations"] for e in sem) == sum(1 for e in sem if not e["record"]["relations"])


def test_eval_reads_a_dataset_file_as_gold(tmp_path):
    import json

    from click.testing import CliRunner

    from humdsl.cli import main

    gold_path = shared_or_skip("data", "sst2", "stsa.binary.dev")
    examples, _ = read_examples(gold_path)
    pred = tmp_path / "pred.jsonl"
    pred.write_text("\n".join(json.dumps({"id": e["id"], "record": {"label": "positive"}}) for e in examples),
                    encoding="utf-8")
    result = CliRunner().invoke(main, ["eval", "--task", "classify", "--gold", str(gold_path), "--pred", str(pred),
                                       "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scores"]["accuracy"] == pytest.approx(444 / 872)  # the README's counts


def test_a_conll_line_without_a_tag_is_reported_and_its_sentence_left_out(tmp_path):
    from humdsl.adapters.readers import iter_examples

    path = tmp_path / "eng.testa"
    path.write_text("-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\n"
                    "Peter NNP I-NP I-PER\nBlackburn\n\nBRUSSELS NNP I-NP I-LOC\n", encoding="utf-8")
    examples, report = iter_examples(path)
    texts = [e["text"] for e in examples]  # read lazily: the report fills up as examples are read
    assert texts == ["EU rejects", "BRUSSELS"]
    assert report.skipped == [f"{path}:7: expected a token and a tag, got 'Blackburn' (its sentence is left out)"]


def test_phee_gives_each_mention_its_own_argument():
    examples, _ = read_examples(shared_or_skip("data", "phee", "dev.json"))
    ex = next(e for e in examples if e["text"].startswith("We describe a patient with a liver abscess"))
    disorders = [a["text"] for ev in ex["record"]["events"] for a in ev["arguments"] if a["role"] == "Disorder"]
    assert disorders == ["liver abscess", "Entamoeba histolytica"]  # two mentions, not one joined span


def test_canonical_jsonl_named_like_a_dataset_is_read_as_canonical(tmp_path):
    """A file of humdsl's own JSONL named after its source (trec_dev.jsonl, stsa.binary.dev.jsonl)
    is canonical, not the source's plain-text layout."""
    for name in ("trec.gold.jsonl", "stsa.binary.dev.jsonl"):
        path = tmp_path / name
        path.write_text('{"id": "1", "text": "What is a sonnet ?", "record": {"label": "DESC"}}\n',
                        encoding="utf-8")
        assert detect(path) == "canonical"
        examples, _ = read_examples(path)
        assert examples[0]["record"] == {"label": "DESC"}
