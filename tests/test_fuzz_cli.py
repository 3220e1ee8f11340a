"""Mutated inputs for every command that reads data (eval, synth, run, finetune's corpus): each
ends with exit status 0 or 1 and its messages, never a traceback, and an output written before is
never lost. The mutations are seeded, so a failure names a case that can be replayed."""
import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from humdsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
TICKETS = ROOT / "examples" / "support_tickets.hum"
ENTITY_GOLD = ROOT / "examples" / "data" / "tickets_entities.gold.jsonl"
TRIAGE_GOLD = ROOT / "examples" / "data" / "tickets_triage.gold.jsonl"

ODD_VALUES = [None, True, 0, -1, 1e308, "", " ", "\u0000", "x" * 300, [], [None], {}, {"x": 1},
              [{"type": 1}], [{"text": None}], "\ud800", "é", {"entities": "Ada"}]


def mutate_value(rng: random.Random, value):
    """The same value with one part replaced by an odd one, somewhere inside it."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(sorted(value))
        out = dict(value)
        if rng.random() < 0.2:
            del out[key]
        else:
            out[key] = mutate_value(rng, value[key])
        return out
    if isinstance(value, list) and value and rng.random() < 0.7:
        out = list(value)
        i = rng.randrange(len(out))
        out[i] = mutate_value(rng, out[i])
        return out
    return rng.choice(ODD_VALUES)


def mutate_file(rng: random.Random, lines: list[str]) -> bytes:
    """A JSONL file with one line broken: a value swapped deep inside, the line cut short,
    bytes that are not UTF-8, or a byte-order mark."""
    lines = list(lines)
    i = rng.randrange(len(lines))
    how = rng.random()
    if how < 0.6:
        lines[i] = json.dumps(mutate_value(rng, json.loads(lines[i])))
    elif how < 0.75:
        lines[i] = lines[i][:rng.randrange(1, len(lines[i]))]
    elif how < 0.85:
        return ("\n".join(lines[:i]) + "\n").encode() + b"\xff\xfe" + "\n".join(lines[i:]).encode() + b"\n"
    elif how < 0.95:
        lines.insert(i, rng.choice(["[]", "null", "42", "{", "}", '"id"', "   "]))
    else:
        return b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n"
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


def invoke(args: list[str]):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 1), (result.exit_code, result.output)
    return result


@pytest.mark.parametrize("seed", range(25))
def test_eval_takes_mutated_gold_and_predictions(tmp_path, seed):
    rng = random.Random(seed)
    gold_lines = ENTITY_GOLD.read_text(encoding="utf-8").splitlines()
    pred_lines = [json.dumps({"id": json.loads(x)["id"], "record": json.loads(x)["record"]}) for x in gold_lines]
    gold, pred = tmp_path / "gold.jsonl", tmp_path / "pred.jsonl"
    gold.write_bytes(mutate_file(rng, gold_lines) if seed % 2 else ("\n".join(gold_lines) + "\n").encode())
    pred.write_bytes(mutate_file(rng, pred_lines) if seed % 2 == 0 else ("\n".join(pred_lines) + "\n").encode())
    invoke(["eval", "--task", "entities", "--gold", gold, "--pred", pred])
    invoke(["eval", "--task", "entities", "--gold", gold, "--pred", pred, "--pred", pred, "--bootstrap", "20"])


@pytest.mark.parametrize("seed", range(25))
def test_synth_takes_a_mutated_dataset_and_keeps_an_earlier_corpus(tmp_path, seed):
    rng = random.Random(seed)
    source = TRIAGE_GOLD if seed % 2 else ENTITY_GOLD
    data = tmp_path / "data.jsonl"
    data.write_bytes(mutate_file(rng, source.read_text(encoding="utf-8").splitlines()))
    out = tmp_path / "corpus.jsonl"
    out.write_text('{"earlier": true}\n', encoding="utf-8")
    result = invoke(["synth", TICKETS, "--task", "ticket_triage" if seed % 2 else "ticket_entities",
                     "--data", data, "--out", out, "--per-example", "1"])
    written = out.read_text(encoding="utf-8")
    assert written == '{"earlier": true}\n' or all("meta" in json.loads(x) for x in written.splitlines()), \
        result.output


@pytest.mark.parametrize("seed", range(15))
def test_finetune_reads_a_mutated_corpus_as_a_line_error(tmp_path, seed):
    from humdsl.finetune import FinetuneError, read_pairs

    rng = random.Random(seed)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join(json.dumps({"instruction": f"Pick {i}.", "input": "Text: x", "output": "a"})
                                for i in range(5)) + "\n", encoding="utf-8")
    corpus.write_bytes(mutate_file(rng, corpus.read_text(encoding="utf-8").splitlines()))
    try:
        pairs = read_pairs(corpus)
    except FinetuneError as e:
        assert str(e).startswith(str(corpus)), e
    else:
        assert all(isinstance(p, str) and isinstance(a, str) for p, a in pairs)


@pytest.mark.parametrize("seed", range(8))
def test_run_takes_mutated_inputs(tmp_path, seed, model_dir, monkeypatch):
    rng = random.Random(seed)
    monkeypatch.chdir(tmp_path)
    lines = [json.dumps({"id": str(i), "text": t}) for i, t in
             enumerate(["I was charged twice.", "The app crashes on start.", "Where is my order?"])]
    Path("in.jsonl").write_bytes(mutate_file(rng, lines))
    invoke(["run", TICKETS, "--task", "ticket_triage", "--input", "in.jsonl", "--output", "out.jsonl",
            "--model", model_dir])
