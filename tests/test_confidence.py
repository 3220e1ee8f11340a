"""Per-item confidence (issue 20, item 4): the decoder's log-probability of each token it chose,
against a plain loop that computes them from whole forward passes; each item's stretch of the
answer, on golden cases of every kind of format; the precision-recall curve of `humc eval`
against scikit-learn's average precision and a case worked by hand; the lines `humc run` writes."""
import json
import math
import random

import pytest
from click.testing import CliRunner

import humdsl
from humdsl.cli import main
from humdsl.confidence import item_probabilities, item_regions
from humdsl.evaluate import evaluate
from humdsl.runtime.protocol import Sampling, ScoredText

from support.tasks import ROOT


@pytest.fixture(scope="module")
def loaded(tokenizers, tiny_model):
    from humdsl.runtime.models import LoadedModel

    return LoadedModel(tiny_model, tokenizers[0], "tiny", "cpu")


def _plain_picks(dec, prompt: str, matcher, budget: int, sampling: Sampling, rng=None):
    """Masked decoding with one whole forward pass per token and no cache, forced runs taken as
    the grammar gives them: the picks' (start, end, log-probability), the log-probability the
    model's over the allowed tokens at temperature 1, however the token was drawn."""
    import torch

    ids, gen, lps = dec.prompt_ids(prompt), [], []
    while not matcher.is_stopped() and len(gen) < budget:
        forced = matcher.compute_ff_tokens()[:budget - len(gen)]
        if forced:
            assert matcher.consume_tokens(forced)
            gen += forced
            lps += [None] * len(forced)
            continue
        with torch.inference_mode():
            logits = dec.model(input_ids=torch.tensor([ids + gen])).logits[0, -1].float()[:dec.vocab]
        allowed = torch.from_numpy(matcher.allowed_mask()[:len(logits)].copy())
        masked = logits.masked_fill(~allowed, float("-inf"))
        if sampling.temperature <= 0:
            t = int(masked.argmax())
        else:
            t = int(torch.multinomial((masked / sampling.temperature).softmax(-1), 1, generator=rng))
        if t == dec.eos:
            break
        lps.append(float(torch.log_softmax(masked, -1)[t]))
        assert matcher.consume_token(t)
        gen.append(t)
    text, picks, at = dec.tokenizer.decode(gen, skip_special_tokens=True), [], 0
    for t, lp in zip(gen, lps):
        n = len(dec.lltok.decode_bytes([t]).decode("utf-8"))
        if lp is not None:
            picks.append((at, at + n, lp))
        at += n
    return text, picks


def _same_picks(got, want):
    assert [(s, e) for s, e, _ in got] == [(s, e) for s, e, _ in want]
    for (_, _, a), (_, _, b) in zip(got, want):
        assert a == pytest.approx(b, abs=1e-4)


def test_the_decoders_picks_and_their_probabilities_are_those_of_a_plain_loop(loaded):
    """On an answer DAG (forced runs, drafts from the prompt) and on an llguidance grammar, greedy
    and sampled: every token the decoder chose, where it is in the text and its probability."""
    import torch

    from humdsl.constraints import new_matcher
    from humdsl.runtime.dag_matcher import DagMatcher, TokenTable
    from humdsl.runtime.jumpforward import JumpForwardDecoder
    from humdsl.runtime.llg import LlgMatcher
    from llguidance import LLMatcher

    fmt = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03").format("tuples")
    text = "Ann met Bo in Rome and Paris ."
    prompt = f"Find the names.\nText: {text}\nAnswer:\n"
    lark = 'start: ("yes" | "no" | "maybe") " because " /[a-z ]{1,12}/'
    dec = JumpForwardDecoder(loaded)
    for sampling in (Sampling(), Sampling(temperature=1.0, seed=5)):
        got = dec.generate([prompt], [fmt.language(source=text)], 40, sampling)[0]
        rng = torch.Generator().manual_seed(5)
        want = _plain_picks(dec, prompt, DagMatcher(fmt.language(source=text), TokenTable.of(dec.lltok)), 40,
                            sampling, rng)
        assert isinstance(got, ScoredText) and str(got) == want[0] and got.picks
        _same_picks(got.picks, want[1])
        got = dec.generate(["Answer.\n"], [lark], 30, sampling)[0]
        rng = torch.Generator().manual_seed(5)
        llg = LlgMatcher(new_matcher(dec.lltok, LLMatcher.grammar_from_lark(lark), log_level=1), dec.vocab)
        want = _plain_picks(dec, "Answer.\n", llg, 30, sampling, rng)
        assert str(got) == want[0]
        _same_picks(got.picks, want[1])
        assert all(lp <= 1e-6 for _, _, lp in got.picks)
        assert not any(s < len("yes") and e > len("yes") + 1 for s, e, _ in got.picks[1:])  # " because " is forced


def test_a_scored_text_is_a_string_that_keeps_its_picks_through_pickle():
    import pickle

    text = ScoredText("abc", [(0, 2, -0.5)])
    back = pickle.loads(pickle.dumps(text))
    assert back == "abc" and back.picks == ((0, 2, -0.5),) and isinstance(back, ScoredText)
    assert ScoredText("x").picks == ()


# Each item's stretch of the answer: golden cases, one per way a format is written.
REGIONS = [
    ("specs/ner.hum", "conll03", "tuples", "Ann met Bo in Rome .",
     {"entities": [{"type": "PER", "text": "Ann"}, {"type": "LOC", "text": "Rome"}]},
     ["(PER, Ann)\n(", ")\n(LOC, Rome)"]),
    ("specs/ner.hum", "conll03", "json_by_label", "Ann met Bo in Rome .",
     {"entities": [{"type": "PER", "text": "Ann"}, {"type": "PER", "text": "Bo"}]},
     ['"Ann", "', '", "Bo"']),
    ("specs/ner.hum", "conll03", "sentences", "Ann met Bo in Rome .",
     {"entities": [{"type": "PER", "text": "Ann"}, {"type": "LOC", "text": "Rome"}]},
     ['"Ann" is an entity of type person. "', 'on. "Rome" is an entity of type location.']),
    ("specs/relations.hum", "conll04", "relation_tuples", "Ann works for Acme in Rome .",
     {"relations": [{"head": "Ann", "type": "Work_For", "tail": "Acme"},
                    {"head": "Acme", "type": "OrgBased_In", "tail": "Rome"}]},
     ["(Ann, Work_For, Acme)\n(A", "me)\n(Acme, OrgBased_In, Rome)"]),
    ("specs/ner.hum", "conll03", "tagged", "Ann met Bo in Rome .",
     {"entities": [{"type": "PER", "text": "Ann"}, {"type": "LOC", "text": "Rome"}]},
     ["[Ann](PER)", "[Rome](LOC)"]),
]


@pytest.mark.parametrize("spec,task,fmt_name,source,record,want", REGIONS)
def test_each_item_accounts_for_its_own_stretch_of_the_answer(spec, task, fmt_name, source, record, want):
    """The item, the separators on either side of it, and where cutting it out is ambiguous
    (both items start with "A", or end in "on." and "ion.") every place it could have been."""
    fmt = humdsl.load(ROOT / spec).task(task).format(fmt_name)
    text = fmt.render(record, source=source)
    regions = item_regions(fmt, fmt.parse(text, source=source), text, None, source)
    shown = [text[a:b] for a, b in regions]
    assert shown == want, (text, shown)
    key = "entities" if "entities" in record else "relations"
    for item, part in zip(fmt.parse(text, source=source)[key], shown):  # each holds its own spans
        assert all(item[f] in part for f in ("text", "head", "tail") if f in item)


def test_an_item_probability_is_the_product_of_its_picks_where_it_is_written():
    fmt = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03").format("tuples")
    source = "Ann met Bo in Rome ."
    record = {"entities": [{"type": "PER", "text": "Ann"}, {"type": "LOC", "text": "Rome"}]}
    text = fmt.render(record, source=source)  # (PER, Ann)\n(LOC, Rome)
    at = text.index("Rome")
    picks = [(1, 4, math.log(0.5)), (5, 8, math.log(0.8)), (at, at + 4, math.log(0.25))]
    assert item_probabilities(fmt, record, text, picks, None, source) == [0.4, 0.25]
    # behind a reasoning line: the picks count from the start of the whole output
    shifted = [(s + 10, e + 10, lp) for s, e, lp in picks]
    assert item_probabilities(fmt, record, text, shifted, None, source, offset=10) == [0.4, 0.25]
    # a repeat the parser dropped: each item where it is first written (its piece alone)
    repeated = "(PER, Ann)\n(PER, Ann)\n(LOC, Rome)"
    assert fmt.parse(repeated, source=source) == record
    at = repeated.index("Rome")
    picks = [(1, 4, math.log(0.5)), (11, 14, math.log(0.1)), (at, at + 4, math.log(0.25))]
    assert item_probabilities(fmt, record, repeated, picks, None, source) == [0.5, 0.25]
    other = {"entities": [{"type": "PER", "text": "Bo"}]}  # not in the text at all
    assert item_probabilities(fmt, other, text, picks, None, source) is None
    assert item_probabilities(fmt, record, text, (), None, source) is None
    qa = humdsl.load(ROOT / "specs" / "qa.hum").task("squad").format()
    assert item_regions(qa, {"answer": "x"}, "x", None, "x y") is None  # one answer, no list


# The precision-recall curve of humc eval.
def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _ents(*names):
    return {"entities": [{"type": "PER", "text": n} for n in names]}


def test_the_curve_by_hand(tmp_path):
    gold = _write(tmp_path / "gold.jsonl", [{"id": "1", "text": "", "record": _ents("A", "B")},
                                            {"id": "2", "text": "", "record": _ents("C")}])
    pred = _write(tmp_path / "pred.jsonl", [
        {"id": "1", "record": _ents("A", "X"), "item_p": [0.9, 0.8]},
        {"id": "2", "record": _ents("C", "Y"), "item_p": [0.7, 0.2]}])
    curve = evaluate("entities", gold, pred)["item_confidence"]
    # A right (P 1, R 1/3), X wrong, C right (P 2/3, R 2/3), Y wrong (P 1/2)
    assert curve["average_precision"] == pytest.approx(1 / 3 + 1 / 3 * 2 / 3)
    assert curve["random_ranking"] == pytest.approx(0.5 * 2 / 3)
    assert curve["best_f1"]["threshold"] == 0.7 and curve["best_f1"]["f1"] == pytest.approx(2 / 3)
    assert [p["threshold"] for p in curve["curve"]] == [0.9, 0.8, 0.7, 0.2] and curve["items"] == 4
    # two label batches of one input: their items together, as the score takes them
    split = _write(tmp_path / "split.jsonl", [
        {"id": "1", "record": _ents("A"), "item_p": [0.9]}, {"id": "1", "record": _ents("X"), "item_p": [0.8]},
        {"id": "2", "record": _ents("C", "Y"), "item_p": [0.7, 0.2]}])
    assert evaluate("entities", gold, split)["item_confidence"]["average_precision"] == pytest.approx(5 / 9)


def test_the_area_is_scikit_learns_average_precision(tmp_path):
    """Each predicted item right or wrong on its own (distinct names): the area is scikit-learn's
    average precision over the items, scaled by the share of the gold they find."""
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = random.Random(4)
    for trial in range(5):
        golds, preds, truth, scores = [], [], [], []
        for i in range(30):
            names = [f"n{i}-{k}" for k in range(rng.randint(0, 4))]
            guessed = [n for n in names if rng.random() < 0.6] + [f"x{i}-{k}" for k in range(rng.randint(0, 2))]
            ps = [rng.choice([0.1, 0.3, 0.5, 0.7, 0.9, rng.random()]) for _ in guessed]  # ties too
            golds.append({"id": str(i), "text": "", "record": _ents(*names)})
            preds.append({"id": str(i), "record": _ents(*guessed), "item_p": ps})
            truth += [n in names for n in guessed]
            scores += ps
        gold, pred = _write(tmp_path / "g.jsonl", golds), _write(tmp_path / "p.jsonl", preds)
        curve = evaluate("entities", gold, pred)["item_confidence"]
        found = sum(truth) / sum(len(g["record"]["entities"]) for g in golds)
        assert curve["average_precision"] == pytest.approx(sklearn.average_precision_score(truth, scores) * found)


def test_inputs_whose_lines_have_no_probabilities_are_left_out_and_malformed_ones_reported(tmp_path):
    gold = _write(tmp_path / "gold.jsonl", [{"id": "1", "text": "", "record": _ents("A")},
                                            {"id": "2", "text": "", "record": _ents("B")}])
    none = _write(tmp_path / "none.jsonl", [{"id": "1", "record": _ents("A")}])
    assert evaluate("entities", gold, none)["item_confidence"] is None  # no line has any: no curve
    part = _write(tmp_path / "part.jsonl", [{"id": "1", "record": _ents("A"), "item_p": [0.5]},
                                            {"id": "2", "record": _ents("B")},  # an older line, say
                                            {"id": "3", "record": _ents("B", "C"), "item_p": [0.5]}])
    result = evaluate("entities", gold, part)
    curve = result["item_confidence"]
    assert curve["left_out"] == 1 and curve["inputs"] == 1 and curve["average_precision"] == 1.0
    assert not result["problems"]
    for bad, why in [([0.5, 0.5], "a list of 1 probabilities"), (["0.5"], 'holds "0.5"'), ([True], "holds true"),
                     ([float("nan")], "holds NaN"), ([1.5], "holds 1.5"), ([10 ** 400], "holds 1000"),
                     ("0.5", "a list of 1")]:
        path = _write(tmp_path / "bad.jsonl", [{"id": "1", "record": _ents("A"), "item_p": bad},
                                               {"id": "2", "record": _ents("B"), "item_p": [0.5]}])
        result = evaluate("entities", gold, path)
        assert any("bad.jsonl: id '1': item_p" in p and why in p for p in result["problems"]), result["problems"]
        assert result["item_confidence"]["left_out"] == 1  # the other input still gets its curve
    shown = CliRunner().invoke(main, ["eval", "--task", "entities", "--gold", str(gold), "--pred", str(part)])
    assert shown.exit_code == 0 and "1 inputs left out, whose lines have no item probabilities" in shown.output


def test_humc_run_writes_each_items_probability_and_eval_draws_the_curve(model_dir, tmp_path):
    tickets = tmp_path / "tickets.jsonl"
    tickets.write_text((ROOT / "examples" / "data" / "tickets.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["run", str(ROOT / "examples" / "support_tickets.hum", ), "--task",
                                       "ticket_entities", "--model", str(model_dir), "--input", str(tickets),
                                       "--output", str(out), "--temperature", "1.0", "--seed", "1"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    with_items = [x for x in lines if x["record"] and x["record"]["entities"]]
    assert with_items
    for line in lines:
        if line["record"] is not None:
            assert len(line["item_p"]) == len(line["record"]["entities"])
            assert all(0 < p <= 1 for p in line["item_p"])
    gold = tmp_path / "gold.jsonl"  # the model's own answers as gold: every item right
    _write(gold, [{"id": x["id"], "text": "", "record": x["record"] or {"entities": []}} for x in lines])
    shown = CliRunner().invoke(main, ["eval", "--task", "entities", "--gold", str(gold), "--pred", str(out)])
    assert shown.exit_code == 0, shown.output
    assert "items ranked by their probability" in shown.output and "average precision 100.00" in shown.output
    pytest.importorskip("matplotlib")
    plotted = CliRunner().invoke(main, ["eval", "--task", "entities", "--gold", str(gold), "--pred", str(out),
                                        "--plot", str(tmp_path / "plots")])
    assert plotted.exit_code == 0, plotted.output
    assert (tmp_path / "plots" / "pr_curve.png").stat().st_size > 0
