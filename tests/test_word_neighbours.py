"""Nearest-neighbour entities (`--decision knn` on entity tasks): tokens tagged from entity
offsets, the vote of the nearest labelled tokens, the spans the tags make, the states read over a
shared prefix equal to a plain pass, and a run that finds the entities of an input whose labelled
copy is in the pool."""
import json

from click.testing import CliRunner

from humdsl.cli import main
from humdsl.runtime.word_neighbours import WordAnchors, position_states, text_units, word_tags
from support.tasks import ROOT


def test_tokens_are_tagged_where_entities_start_and_continue():
    text = "Ada Lovelace met Charles Babbage in London ."
    offsets = [(0, 3), (3, 12), (12, 16), (16, 24), (24, 32), (32, 35), (35, 42), (42, 44)]
    entities = [{"type": "PER", "text": "Ada Lovelace", "start": 0}, {"type": "PER", "text": "Charles Babbage"},
                {"type": "LOC", "text": "London", "start": 36}]
    assert word_tags(offsets, entities, text) == ["B-PER", "I-PER", "O", "B-PER", "I-PER", "O", "B-LOC", "O"]


def test_units_are_the_grammars_words_and_marks_each_read_at_its_last_token(jf_decoder):
    tok = jf_decoder.tokenizer
    prompt = "Find the names.\nText: "
    text = "U.S. officials met Ada Lovelace in Paris."
    document = prompt + text + "\n"
    ids, where, offsets = text_units(tok, document, len(prompt), len(prompt) + len(text))
    assert [text[a:b] for a, b in offsets] == ["U", ".", "S", ".", "officials", "met", "Ada", "Lovelace", "in",
                                               "Paris", "."]
    spans = tok(document, return_offsets_mapping=True)["offset_mapping"]
    assert ids == list(tok(document)["input_ids"])
    for p, (a, b) in zip(where, offsets):
        assert spans[p][0] < len(prompt) + b and spans[p][1] > len(prompt) + a  # it holds part of the unit
        assert p + 1 == len(spans) or spans[p + 1][0] >= len(prompt) + b  # and is the unit's last


def _anchors(vectors, tags):
    import torch

    return WordAnchors(torch.nn.functional.normalize(torch.tensor(vectors, dtype=torch.float), dim=-1), tags)


def test_each_token_takes_its_nearest_tokens_tag_and_runs_of_one_type_are_entities():
    import torch

    # anchors: three directions, each labelled; an input token near one takes its tag
    anchors = _anchors([[1, 0, 0]] * 3 + [[0, 1, 0]] * 3 + [[0, 0, 1]] * 3,
                       ["B-PER"] * 3 + ["I-PER"] * 3 + ["O"] * 3)
    source = "Ada Lovelace spoke . Bob"
    offsets = [(0, 3), (3, 12), (12, 18), (18, 20), (20, 24)]
    states = torch.nn.functional.normalize(torch.tensor(
        [[1, 0.1, 0], [0.1, 1, 0], [0, 0, 1], [0, 0.1, 1], [0, 1, 0.2]]), dim=-1)  # the last: I after O
    spans = anchors.spans(states, offsets, source)
    assert [(s.text, s.type) for s in spans] == [("Ada Lovelace", "PER"), ("Bob", "PER")]
    assert 0.5 < spans[0].agreement <= 1


def test_a_type_change_ends_an_entity():
    import torch

    anchors = _anchors([[1, 0], [0, 1]], ["B-ORG", "I-LOC"])
    source = "Acme Paris"
    states = torch.nn.functional.normalize(torch.tensor([[1, 0.0], [0.0, 1]]), dim=-1)
    spans = anchors.spans(states, [(0, 4), (4, 10)], source)
    assert [(s.text, s.type) for s in spans] == [("Acme", "ORG"), ("Paris", "LOC")]


def test_states_over_a_shared_prefix_equal_a_plain_pass(jf_decoder):
    import torch

    tok = jf_decoder.tokenizer
    prompt = "Find the names.\n\nExample 1:\nText: Ada Lovelace wrote.\nAnswer: (PER, Ada Lovelace)\n\nText: "
    texts = ["Bob met Alice in Paris .", "The Acme company opened .", "x"]
    docs, places = [], []
    for t in texts:
        document = prompt + t + "\n"
        ids, where, _ = text_units(tok, document, len(prompt), len(prompt) + len(t))
        docs.append(ids)
        places.append(where)
    got = position_states(jf_decoder, docs, places)
    for ids, where, states in zip(docs, places, got):
        with torch.no_grad():
            plain = jf_decoder.model.model(input_ids=torch.tensor([ids])).last_hidden_state[0]
        want = torch.nn.functional.normalize(plain[where].float(), dim=-1)
        assert torch.allclose(states, want, atol=1e-4)
    assert len(got[2]) == len(places[2]) >= 1


def test_a_run_finds_the_entities_of_an_input_whose_labelled_copy_is_in_the_pool(model_dir, tmp_path, monkeypatch):
    """The same sentence, read in the same prompt, has the same states: with the nearest token's
    vote deciding, each token takes its copy's tag, and the answer is the copy's entities (as the
    format writes them, in the task's rules)."""

    import humdsl.runtime.word_neighbours as word_neighbours

    # the test model reads a token much the same wherever it stands (a random model), so the states
    # here stand for a model that tells every token of every text apart; the real reading is tested above
    monkeypatch.setattr(word_neighbours, "position_states", _seeded_states)
    monkeypatch.setenv("HUMC_CACHE_DIR", str(tmp_path / "cache"))  # no anchors kept by another test's real reading
    rows = [{"id": "a", "text": "Ada met Bob in Paris .",
             "record": {"entities": [{"type": "PER", "text": "Ada", "start": 0},
                                     {"type": "PER", "text": "Bob", "start": 8},
                                     {"type": "LOC", "text": "Paris", "start": 15}]}},
            {"id": "b", "text": "Shares of Acme rose in Tokyo .",
             "record": {"entities": [{"type": "ORG", "text": "Acme", "start": 10},
                                     {"type": "LOC", "text": "Tokyo", "start": 23}]}},
            {"id": "c", "text": "It rained all day .", "record": {"entities": []}}]
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["run", str(ROOT / "specs" / "ner.hum"), "--task", "conll03", "--model",
                                       str(model_dir), "--input", str(inputs), "--output", str(out),
                                       "--format", "tuples", "--decision", "knn", "--shots-from", str(pool)])
    assert result.exit_code == 0, result.output
    lines = {x["id"]: x for x in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    for r in rows:
        got = sorted((e["type"], e["text"]) for e in lines[r["id"]]["record"]["entities"])
        assert got == sorted((e["type"], e["text"]) for e in r["record"]["entities"]), lines[r["id"]]
        assert lines[r["id"]]["decision"] == "knn" and len(lines[r["id"]].get("item_p", [])) == len(got)
    assert lines["c"]["raw"] == "None"  # the format's empty answer


def _seeded_states(decoder, documents, positions):
    """A vector per (document, token), as position_states gives them: a copy's are its own."""
    import torch

    out = []
    for ids, where in zip(documents, positions):
        rows = [torch.randn(64, generator=torch.Generator().manual_seed(hash((tuple(ids), p)) % 2**31))
                for p in where]
        out.append(torch.nn.functional.normalize(torch.stack(rows), dim=-1))
    return out


def test_knn_on_an_entity_task_needs_grounded_spans(tmp_path):
    spec = tmp_path / "loose.hum"
    spec.write_text('task loose : entities {\n  labels { PER }\n  instruction "Find people."\n'
                    '  formats json_by_label\n}\n', encoding="utf-8")
    pool = tmp_path / "pool.jsonl"
    pool.write_text(json.dumps({"id": "1", "text": "Ada spoke.", "record": {"entities": [
        {"type": "PER", "text": "Ada"}]}}) + "\n", encoding="utf-8")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json.dumps({"id": "1", "text": "Bob spoke."}) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(spec), "--task", "loose", "--model", str(tmp_path / "none"),
                                       "--input", str(inputs), "--output", str(tmp_path / "o.jsonl"),
                                       "--decision", "knn", "--shots-from", str(pool)])
    assert result.exit_code == 1 and "needs `prefer grounded`" in result.output, result.output
    assert not (tmp_path / "o.jsonl").exists()


def test_the_labelled_words_states_are_kept_on_disk_for_the_next_run(model_dir, tmp_path, monkeypatch):
    import humdsl.runtime.word_neighbours as word_neighbours

    monkeypatch.setenv("HUMC_CACHE_DIR", str(tmp_path / "cache"))
    read = []
    real = word_neighbours.position_states
    monkeypatch.setattr(word_neighbours, "position_states",
                        lambda decoder, ids, where: read.append(len(ids)) or real(decoder, ids, where))
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"id": str(i), "text": t, "record": {"entities": e}}) + "\n" for i, (t, e) in
                            enumerate([("Ada met Bob .", [{"type": "PER", "text": "Ada"}, {"type": "PER", "text": "Bob"}]),
                                       ("Acme hired staff in Tokyo .", [{"type": "ORG", "text": "Acme"},
                                                                         {"type": "LOC", "text": "Tokyo"}]),
                                       ("It rained .", [])])), encoding="utf-8")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json.dumps({"id": "x", "text": "Bob went to Tokyo ."}) + "\n", encoding="utf-8")

    def run(out):
        read.clear()
        result = CliRunner().invoke(main, ["run", str(ROOT / "specs" / "ner.hum"), "--task", "conll03", "--model",
                                           str(model_dir), "--input", str(inputs), "--output", str(out),
                                           "--format", "tuples", "--decision", "knn", "--shots-from", str(pool)])
        assert result.exit_code == 0, result.output
        return list(read), out.read_text(encoding="utf-8")

    first_read, first = run(tmp_path / "a.jsonl")
    assert first_read == [3, 1]  # the pool's three sentences, then the input
    assert run(tmp_path / "b.jsonl") == ([1], first)  # the pool's states come from disk; the same answer
    assert (tmp_path / "cache" / "knn").is_dir()


def test_without_shots_from_the_tasks_own_examples_are_the_labelled_words(model_dir, tmp_path, monkeypatch):
    """A spec's examples are enough to tag with: each example's text, given as an input, comes back
    with the example's own entities (the states seeded as above: a model that tells words apart)."""

    import humdsl.runtime.word_neighbours as word_neighbours
    from support.tasks import all_tasks

    monkeypatch.setattr(word_neighbours, "position_states", _seeded_states)
    monkeypatch.setenv("HUMC_CACHE_DIR", str(tmp_path / "cache"))
    examples = dict(all_tasks())["ner.conll03"]["examples"]
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"id": ex["id"], **ex["input"]}) + "\n" for ex in examples), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["run", str(ROOT / "specs" / "ner.hum"), "--task", "conll03", "--model",
                                       str(model_dir), "--input", str(inputs), "--output", str(out),
                                       "--format", "tuples", "--decision", "knn"])
    assert result.exit_code == 0, result.output
    lines = {x["id"]: x for x in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    for ex in examples:
        got = sorted((e["type"], e["text"]) for e in lines[ex["id"]]["record"]["entities"])
        assert got == sorted((e["type"], e["text"]) for e in ex["output"]["entities"]), lines[ex["id"]]
