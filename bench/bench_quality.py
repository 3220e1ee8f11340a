"""Answer quality of `humc run` with SmolLM2-135M-Instruct, each lever on and off, beside the
obvious alternatives, in one run on the shared dev splits (issue 20):

  sst2     SST-2 dev (stsa.binary.dev), spec classify.hum sst2, accuracy;
  conll03  CoNLL-2003 dev (eng.testa), spec ner.hum conll03, strict entity micro-F1;
  conll03_spread  the same on sentences spread over the split (not run by default);
  wnut17   WNUT-17 dev (emerging.dev.conll, the first 100 sentences with an entity), spec ner.hum
           wnut17, strict entity micro-F1: names that are new, unlike CoNLL-2003's (not run by default);
  conll04  CoNLL04 dev (the first 50 sentences), spec relations.hum conll04, relation micro-F1
           (head, relation and tail); a plain Outlines script with a Pydantic model and
           unconstrained generation, one one-line prompt (not run by default);
  trec     TREC coarse (the last 100 questions of TREC.train; the rest for retrieval), accuracy;
  tickets  the bundled support tickets, spec support_tickets.hum ticket_triage, micro-F1 over
           labels, and how many of the 8 answers are exactly right;
  tickets_dev  the channel and knn rows on the 16 tickets of tickets_dev.gold.jsonl (not run by default);
  xquad    XQuAD-en (even articles): the first 100 questions, spec qa.hum squad, SQuAD exact match
           and F1; a `humc tune` profile chosen on 40 questions of other articles (not run by default).

Levers: the decision rule (greedy decoding under the grammar, exact, calibrated, channel, knn
beside the same nearest-neighbour vote by words alone, with no model), the prompt
style (chat template or a plain document), the worked examples (the spec's two, or the four
most similar from the training split, `--shots-from`), and for CoNLL-2003 the rules across
spans kept while decoding (the default) or left to the parser (`--span-rules parser`), and the
words the shown examples label kept with their label (`--shot-spans on`), beside those labels
alone with no model. Alternatives in the same run: a plain
Outlines script (`Literal["positive", "negative"]`, a one-line prompt) and unconstrained greedy
generation with that prompt, read by the first label word in the output.

    python bench/bench_quality.py [--only sst2,trec,conll03,tickets] [--n-sst2 100] [--n-conll 50] [--n-trec 100]
        [--rows TEXT] [--n-conll-spread 100] [--n-xquad 100] [--n-conll04 50] [--n-wnut 100]

Reported per row: the task's metric, the share of valid answers, output tokens and seconds per
input (model load excluded). Written to bench/results/quality.json after every row.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "quality.json"

ONE_LINE = "Is the sentiment of this movie review positive or negative?\nReview: {text}\nSentiment: "


def _canonical(examples: list[dict], path: Path) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for e in examples:
            fh.write(json.dumps({"id": e["id"], "text": e["text"], "record": e["record"]}) + "\n")
    return path


def _humc(spec: str, task: str, gold: Path, work: Path, name: str, **opts) -> dict:
    from humdsl.evaluate import evaluate
    from humdsl.runtime.run import RunOptions, run

    out = work / f"{name}.jsonl"
    start = time.monotonic()
    run(str(ROOT / spec), RunOptions(task=task, model=None, input=gold, output=out, **opts))
    seconds = time.monotonic() - start
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    scores = evaluate(_kind(task), str(gold), str(out))
    row = _row(name, scores, lines, seconds)
    if _kind(task) == "qa":
        row["exact_match"] = round(scores["scores"]["exact_match"], 4)
    if _kind(task) == "classify":  # a whole answer right: every label of a multilabel answer
        row["exact_answers"] = _exact_answers(gold, lines)
    return row


def _label_set(record: dict) -> frozenset:
    return frozenset(record.get("labels") or [record.get("label")])


def _exact_answers(gold: Path, lines: list[dict]) -> int:
    """How many answers are exactly right: every label of a multilabel answer."""
    want = {g["id"]: _label_set(g["record"]) for g in map(json.loads, gold.read_text(encoding="utf-8").splitlines())}
    return sum(1 for x in lines if x["record"] and _label_set(x["record"]) == want[x["id"]])


def _kind(task: str) -> str:
    return {"sst2": "classify", "ticket_triage": "classify", "trec_coarse": "classify", "conll03": "entities", "wnut17": "entities",
            "squad": "qa", "conll04": "relations"}[task]


_TOKENIZER: list = []


def _row(name: str, scores: dict, lines: list[dict], seconds: float) -> dict:
    if not _TOKENIZER:
        from transformers import AutoTokenizer

        from humdsl.runtime.models import _gguf_cache, _smollm2_gguf

        _TOKENIZER.append(AutoTokenizer.from_pretrained(_gguf_cache(_smollm2_gguf())))
    tok = _TOKENIZER[0]
    tokens = sum(len(tok(line.get("raw") or "", add_special_tokens=False)["input_ids"]) for line in lines)
    valid = sum(1 for line in lines if line.get("record") is not None)
    return {"row": name, "metric": scores["main_score"]["name"], "score": round(scores["main_score"]["value"], 4),
            "valid": round(valid / len(lines), 4), "output_tokens": round(tokens / len(lines), 1),
            "s_per_input": round(seconds / len(lines), 3), "n": len(lines)}


def _measured(key: str, only: str | None, plan: list, measure) -> list[dict]:
    """The rows of `plan` ((name, options) pairs) measured by `measure(name, options, i)`. With
    `only`, just the rows whose name holds it (or, written !TEXT, those whose name does not): the
    others are kept from the last results. Written after every row, so a stopped run loses none."""
    before = {r["row"]: r for r in json.loads(RESULTS.read_text(encoding="utf-8")).get(key, [])} \
        if only and RESULTS.exists() else {}
    rows: list[dict] = []
    for name, opts in plan:
        if only and (only[1:] in name if only.startswith("!") else only not in name):
            if name in before:
                rows.append(before[name])
            continue
        rows.append(measure(name, opts, len(rows)))
        rows[-1]["row"] = name
        seen = {r["row"] for r in rows}
        record_rows(rows + [r for n, r in before.items() if n not in seen], shown=rows[-1])
    return rows


def _baselines_sst2(gold: list[dict]) -> list[dict]:
    """A plain Outlines script and unconstrained generation, the same one-line prompt."""
    from typing import Literal

    import outlines
    import torch

    from humdsl.runtime.models import load

    loaded = load(None)
    model = outlines.from_transformers(loaded.model, loaded.tokenizer)
    generator = outlines.Generator(model, Literal["positive", "negative"])
    rows = []
    for name, answer in [("plain Outlines, Literal[...], one-line prompt",
                          lambda p: generator(p, max_new_tokens=4)),
                         ("unconstrained greedy, one-line prompt", lambda p: _free(loaded, p))]:
        start, right, valid, tokens = time.monotonic(), 0, 0, 0
        for e in gold:
            with torch.no_grad():
                text = answer(ONE_LINE.format(text=e["text"]))
            tokens += len(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])
            label = _first_label(text, ["positive", "negative"])
            valid += label is not None
            right += label == e["record"]["label"]
        rows.append({"row": name, "metric": "accuracy", "score": round(right / len(gold), 4),
                     "valid": round(valid / len(gold), 4), "output_tokens": round(tokens / len(gold), 1),
                     "s_per_input": round((time.monotonic() - start) / len(gold), 3), "n": len(gold)})
    return rows


def _free(loaded, prompt: str, max_new_tokens: int = 8, special: bool = False) -> str:
    ids = loaded.tokenizer(prompt, return_tensors="pt", add_special_tokens=not special)
    out = loaded.model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                                pad_token_id=loaded.tokenizer.pad_token_id)
    return loaded.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


def _first_label(text: str, labels: list[str]) -> str | None:
    low = text.lower()
    found = [(low.find(lab), lab) for lab in labels if lab in low]
    return min(found)[1] if found else None


def bench_sst2(n: int, work: Path, only: str | None = None) -> list[dict]:
    from humdsl.adapters.readers import read_examples

    dev, _ = read_examples(DATA / "sst2" / "stsa.binary.dev")
    gold = _canonical(dev[:n], work / "sst2.gold.jsonl")
    train = DATA / "sst2" / "stsa.binary.train"
    baselines: dict[str, dict] = {}

    def measure(name, opts, i):
        if opts is None:  # the two baselines are measured together
            if not baselines:
                baselines.update({r["row"]: r for r in _baselines_sst2(dev[:n])})
            return baselines[name]
        if "neighbours_alone" in opts:
            return _neighbours_alone(gold, opts["neighbours_alone"], work, f"sst2-{i}")
        if opts.pop("unnamed", False):  # the same spec without `input text "Sentence"`, `answer "Sentiment"`
            return _humc(str(_unnamed_sst2(work)), "sst2", gold, work, f"sst2-{i}", format=None, **opts)
        return _humc("specs/classify.hum", "sst2", gold, work, f"sst2-{i}", format=None, **opts)

    return _measured("sst2", only, [
        ("plain Outlines, Literal[...], one-line prompt", None),
        ("unconstrained greedy, one-line prompt", None),
        *_classify_rows(train, plain_alone=True),
        ("humc knn, bare prompt, input and answer unnamed (Text:, Answer:)",
         {"decision": "knn", "prompt": "bare", "shots_from": train, "unnamed": True}),
    ], measure)


def _unnamed_sst2(work: Path) -> Path:
    """specs/classify.hum as it was before its sst2 task named its input and answer."""
    text = (ROOT / "specs" / "classify.hum").read_text(encoding="utf-8")
    named = ('  input text "Sentence"\n', '  answer "Sentiment"\n')
    assert all(line in text for line in named), "the sst2 task's names changed: update the bench"
    path = work / "classify_unnamed.hum"
    path.write_text(text.replace(named[0], "  input text\n").replace(named[1], ""), encoding="utf-8")
    return path


def _classify_rows(train, plain_alone: bool = False) -> list[tuple[str, dict]]:
    """The rows of a classify dataset: each decision rule with the spec's examples and with shots
    retrieved from `train`; `plain_alone` adds exact decisions after a plain prompt without them."""
    plain = [("humc exact, plain prompt", {"decision": "exact", "prompt_style": "plain"})] if plain_alone else []
    return [
        ("humc greedy (spec defaults)", {}),
        ("humc exact", {"decision": "exact"}),
        ("humc calibrated", {"decision": "calibrated"}),
        *plain,
        ("humc exact, plain, 4 retrieved shots", {"decision": "exact", "prompt_style": "plain", "shots_from": train}),
        ("humc calibrated, plain, 4 retrieved shots",
         {"decision": "calibrated", "prompt_style": "plain", "shots_from": train}),
        ("humc greedy, 4 retrieved shots", {"shots_from": train}),
        ("humc channel", {"decision": "channel"}),
        ("humc channel, 4 retrieved shots", {"decision": "channel", "shots_from": train}),
        ("humc channel, 8 retrieved shots", {"decision": "channel", "shots": 8, "shots_from": train}),
        *_knn_rows(train),
    ]


def _knn_rows(pool) -> list[tuple[str, dict]]:
    """Nearest-neighbour decisions over the labelled pool (runtime/neighbours.py), beside the
    obvious alternative: the labels of the pool's nearest examples by their words (BM25), no model."""
    return [("the nearest examples' labels alone (BM25), no model", {"neighbours_alone": pool}),
            ("humc knn", {"decision": "knn", "shots_from": pool}),
            ("humc knn, bare prompt", {"decision": "knn", "prompt": "bare", "shots_from": pool})]


def _neighbours_alone(gold: Path, pool: Path, work: Path, name: str) -> dict:
    """Each input answered as most of its k nearest pool examples by BM25 are (k as knn takes it: the
    square root of the examples compared; ties: the nearer; label sets label by label, as knn votes),
    without a model."""
    from collections import Counter

    from humdsl.adapters.readers import read_examples
    from humdsl.evaluate import evaluate
    from humdsl.retrieval import BM25
    from humdsl.runtime.neighbours import MAX_ANCHORS, neighbours_k, spread

    examples, _ = read_examples(pool)
    examples = [examples[i] for i in spread(len(examples), MAX_ANCHORS)]  # the examples knn compares with
    index = BM25([e["text"] for e in examples])
    answers = [_label_set(e["record"]) for e in examples]
    k = neighbours_k(len(examples))
    commonest = Counter(answers).most_common(1)[0][0]
    multilabel = "labels" in examples[0]["record"]
    start = time.monotonic()
    lines = []
    for row in map(json.loads, gold.read_text(encoding="utf-8").splitlines()):
        near = index.ranked(row["text"])[:k]
        votes = Counter(answers[i] for i in near)
        best = max(near, key=lambda i: (votes[answers[i]], -near.index(i))) if near else None
        labels = sorted(answers[best]) if best is not None else sorted(commonest)
        if multilabel and near:  # label by label, as knn votes on label sets (at most the tickets' 3)
            carried = Counter(label for i in near for label in answers[i])
            by_votes = sorted(carried, key=lambda x: (-carried[x], min(r for r, i in enumerate(near) if x in answers[i])))
            labels = sorted([x for x in by_votes if carried[x] > len(near) / 2][:3] or by_votes[:1])
        record = {"labels": labels} if multilabel else {"label": labels[0]}
        lines.append({"id": row["id"], "record": record, "raw": ", ".join(labels)})
    seconds = time.monotonic() - start
    out = work / f"{name}.jsonl"
    out.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    row = _row(name, evaluate("classify", str(gold), str(out)), lines, seconds)
    row["exact_answers"] = _exact_answers(gold, lines)
    return row


def bench_conll(n: int, work: Path, only: str | None = None, spread: bool = False) -> list[dict]:
    """Every format with the spec's examples and with retrieved ones, the rules across spans kept
    while decoding, all but appearance (unordered), or by the parser. `only`: measure just the
    rows whose name holds it, keeping the other rows of the last results. `spread`: n sentences
    spread over the split (results under conll03_spread), the retrieved-shot rows only."""
    from _common import conll_dev

    from humdsl.api import load_task

    dev = conll_dev(DATA, n, spread)
    gold = _canonical(dev, work / "conll.gold.jsonl")
    train = DATA / "conll2003" / "eng.train"
    plan = []
    for fmt in ("tuples", "json_by_label", "sentences", "tagged"):
        for name, opts in [(f"humc greedy, {fmt}, the spec's 2 examples", {}),
                           (f"humc greedy, {fmt}, the spec's 2 examples, rules by the parser", {"span_rules": "parser"}),
                           (f"humc greedy, {fmt}, 4 retrieved shots", {"shots_from": train}),
                           (f"humc greedy, {fmt}, 4 retrieved shots, unordered",
                            {"shots_from": train, "span_rules": "unordered"}),
                           (f"humc greedy, {fmt}, 4 retrieved shots, rules by the parser",
                            {"shots_from": train, "span_rules": "parser"}),
                           (f"humc greedy, {fmt}, 8 retrieved shots", {"shots": 8, "shots_from": train}),
                           (f"humc greedy, {fmt}, 8 retrieved shots, unordered",
                            {"shots": 8, "shots_from": train, "span_rules": "unordered"}),
                           (f"humc greedy, {fmt}, 8 retrieved shots, prompt lean",
                            {"shots": 8, "shots_from": train, "prompt": "lean"}),
                           (f"humc greedy, {fmt}, 8 retrieved shots, prompt bare",
                            {"shots": 8, "shots_from": train, "prompt": "bare"}),
                           (f"humc greedy, {fmt}, 4 retrieved shots, shot spans kept",
                            {"shots_from": train, "shot_spans": "on"}),
                           (f"humc greedy, {fmt}, 8 retrieved shots, shot spans kept",
                            {"shots": 8, "shots_from": train, "shot_spans": "on"})]:
            if not spread or "retrieved" in name:
                plan.append((name, {**opts, "format": fmt}))
    # each token tagged as its nearest labelled tokens are (runtime/word_neighbours.py), no decoding
    plan += [(f"humc knn, {fmt}, 1,024 training sentences compared", {"decision": "knn", "shots_from": train,
                                                                              "format": fmt})
             for fmt in ("tuples", "json_by_label")]
    # no retrieval: the words of the spec's own (hand-written) examples are the labelled words
    spec_examples = len(load_task(str(ROOT / "specs" / "ner.hum"), "conll03")["examples"])
    plan += [(f"humc knn, {fmt}, the spec's {spec_examples} examples compared", {"decision": "knn", "format": fmt})
             for fmt in ("tuples", "json_by_label")]
    plan = _examples_alone_rows(train) + [(f"the spec's {spec_examples} examples' labels alone, no model",
                                           {"examples_alone": spec_examples, "spec_examples": True})] + plan

    def measure(name, opts, i):
        if "examples_alone" in opts:
            return _examples_alone("conll03", gold, None if opts.get("spec_examples") else train,
                                   opts["examples_alone"], work, f"conll-{i}")
        return _humc("specs/ner.hum", "conll03", gold, work, f"conll-{i}", **opts)

    return _measured("conll03_spread" if spread else "conll03", only, plan, measure)


def _examples_alone_rows(pool: Path) -> list[tuple[str, dict]]:
    return [(f"the retrieved examples' labels alone, no model, {k} shots", {"examples_alone": k}) for k in (4, 8)]


def _examples_alone(task: str, gold: Path, pool: Path | None, k: int, work: Path, name: str) -> dict:
    """The obvious alternative to `--shot-spans on`: no model at all, each input answered with the
    words its k retrieved examples label (as humc keeps them: longest first, the task's rules).
    Without a pool, the words the spec's first k examples label."""
    from humdsl.api import load_task
    from humdsl.evaluate import evaluate
    from humdsl.formats import build
    from humdsl.shot_spans import keep_shot_spans, shot_spans
    from humdsl.shots import Shots

    ir = load_task(str(ROOT / "specs" / "ner.hum"), task)
    fmt = build(ir, next(f for f in ir["formats"] if f["name"] == "tuples"))
    shots = Shots.of(ir, fmt, None, k, pool)
    out = work / f"{name}.jsonl"
    start = time.monotonic()
    lines = []
    for row in map(json.loads, gold.read_text(encoding="utf-8").splitlines()):
        empty = {"entities": []}
        spans = shot_spans(fmt, shots.for_row(row), row["text"], None)
        kept = keep_shot_spans(fmt, empty, None, spans, row["text"], None, "decoder", lambda text: True)
        lines.append({"id": row["id"], "record": kept.record if kept else empty, "raw": kept.text if kept else ""})
    seconds = time.monotonic() - start
    out.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return _row(name, evaluate("entities", str(gold), str(out)), lines, seconds)


def bench_wnut(n: int, work: Path, only: str | None = None) -> list[dict]:
    """WNUT-17 dev: the first n sentences with an entity (its names are mostly new: few are in the
    training split, unlike CoNLL-2003's), 4 retrieved shots from its training split."""
    from humdsl.adapters.readers import read_examples

    dev, _ = read_examples(DATA / "wnut17" / "emerging.dev.conll")
    dev = [e for e in dev if e["record"]["entities"]][:n]
    gold = _canonical(dev, work / "wnut.gold.jsonl")
    train = DATA / "wnut17" / "wnut17train.conll"
    plan = _examples_alone_rows(train)[:1]
    for fmt in ("tuples", "json_by_label"):
        plan += [(f"humc greedy, {fmt}, 4 retrieved shots", {"format": fmt, "shots_from": train}),
                 (f"humc greedy, {fmt}, 4 retrieved shots, shot spans kept",
                  {"format": fmt, "shots_from": train, "shot_spans": "on"})]
    plan.append(("humc knn, tuples, 1,024 training posts compared",
                 {"format": "tuples", "decision": "knn", "shots_from": train}))

    def measure(name, opts, i):
        if "examples_alone" in opts:
            return _examples_alone("wnut17", gold, train, opts["examples_alone"], work, f"wnut-{i}")
        return _humc("specs/ner.hum", "wnut17", gold, work, f"wnut-{i}", **opts)

    return _measured("wnut17", only, plan, measure)


RELATION_LINE = ("List the relations between the people, organizations and locations of this sentence, each "
                 "one of Work_For, Kill, OrgBased_In, Live_In, Located_In, as a JSON list of "
                 '{{"head": ..., "relation": ..., "tail": ...}}.\nSentence: {text}\nJSON: ')
RELATIONS = ("Work_For", "Kill", "OrgBased_In", "Live_In", "Located_In")


def _relations_of(value) -> list[dict] | None:
    """The relations of a JSON answer shaped like the one-line prompt asks, or None."""
    if not isinstance(value, list):
        return None
    out = []
    for r in value:
        if not (isinstance(r, dict) and isinstance(r.get("head"), str) and isinstance(r.get("tail"), str)
                and r.get("relation") in RELATIONS):
            return None
        out.append({"head": r["head"], "type": r["relation"], "tail": r["tail"]})
    return out


def _first_json_list(text: str):
    """The first JSON list in free text (what a user parsing unconstrained output would take)."""
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch == "[":
            try:
                return decoder.raw_decode(text[i:])[0]
            except json.JSONDecodeError:
                continue
    return None


def _baselines_conll04(gold_path: Path, examples: list[dict], work: Path) -> list[dict]:
    """A plain Outlines script (a Pydantic list of head, relation, tail) and unconstrained greedy
    generation, both after the same one-line prompt, scored by `humc eval`."""
    import warnings

    import outlines
    import torch
    from _common import conll04_answer_model

    from humdsl.evaluate import evaluate
    from humdsl.runtime.models import load

    Answer, _ = conll04_answer_model()
    loaded = load(None)
    generator = outlines.Generator(outlines.from_transformers(loaded.model, loaded.tokenizer), Answer)

    def outlines_answer(prompt: str):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = generator(prompt, max_new_tokens=128)
        try:
            return text, json.loads(text)
        except json.JSONDecodeError:  # cut at the token budget
            return text, None

    def free_answer(prompt: str):
        text = _free(loaded, prompt, 128)
        return text, _first_json_list(text)

    rows = []
    for name, answer in [("plain Outlines, Pydantic list of (head, relation, tail), one-line prompt", outlines_answer),
                         ("unconstrained greedy, one-line prompt (the first JSON list in the output)", free_answer)]:
        out = work / f"conll04-{len(rows)}-baseline.jsonl"
        start, tokens, valid = time.monotonic(), 0, 0
        with out.open("w", encoding="utf-8") as fh:
            for e in examples:
                with torch.no_grad():
                    text, value = answer(RELATION_LINE.format(text=e["text"]))
                tokens += len(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])
                relations = _relations_of(value)
                valid += relations is not None
                fh.write(json.dumps({"id": e["id"], "record": None if relations is None else
                                     {"relations": relations}}) + "\n")
        seconds = time.monotonic() - start
        scores = evaluate("relations", str(gold_path), str(out))
        rows.append({"row": name, "metric": scores["main_score"]["name"],
                     "score": round(scores["main_score"]["value"], 4), "valid": round(valid / len(examples), 4),
                     "output_tokens": round(tokens / len(examples), 1),
                     "s_per_input": round(seconds / len(examples), 3), "n": len(examples)})
    return rows


def bench_conll04(n: int, work: Path, only: str | None = None) -> list[dict]:
    """The first n CoNLL04 dev sentences; shots are retrieved from the training split. Gold keeps
    head, relation and tail (each relation's argument types follow from it in CoNLL04), so every
    row, the baselines' too, is scored on the same triples."""
    from humdsl.adapters.readers import read_examples

    dev, _ = read_examples(DATA / "conll04" / "conll04_dev.json")
    dev = [{**e, "record": {"relations": [{k: r[k] for k in ("head", "type", "tail")}
                                          for r in e["record"]["relations"]]}} for e in dev[:n]]
    gold = _canonical(dev, work / "conll04.gold.jsonl")
    train = DATA / "conll04" / "conll04_train.json"
    baselines: dict[str, dict] = {}
    plan: list[tuple[str, dict | None]] = [
        ("plain Outlines, Pydantic list of (head, relation, tail), one-line prompt", None),
        ("unconstrained greedy, one-line prompt (the first JSON list in the output)", None)]
    for fmt in ("json_relations", "relation_tuples", "triple_lines", "relation_sentences"):
        plan += [(f"humc greedy, {fmt}, the spec's 2 examples", {"format": fmt}),
                 (f"humc greedy, {fmt}, 4 retrieved shots", {"format": fmt, "shots_from": train})]
    plan.append(("humc greedy, json_relations, 8 retrieved shots", {"format": "json_relations", "shots": 8,
                                                                    "shots_from": train}))

    def measure(name, opts, i):
        if opts is None:
            if not baselines:
                baselines.update({r["row"]: r for r in _baselines_conll04(gold, dev, work)})
            return baselines[name]
        return _humc("specs/relations.hum", "conll04", gold, work, f"conll04-{i}", **opts)

    return _measured("conll04", only, plan, measure)


def bench_trec(n: int, work: Path, only: str | None = None) -> list[dict]:
    """TREC has one labelled file here: its last n questions are the dev split, the rest are
    where retrieved shots come from."""
    from humdsl.adapters.readers import read_examples

    examples, _ = read_examples(DATA / "trec" / "TREC.train", "trec-coarse")
    gold = _canonical(examples[-n:], work / "trec.gold.jsonl")
    train = _canonical(examples[:-n], work / "trec.train.jsonl")
    def measure(name, opts, i):
        if "neighbours_alone" in opts:
            return _neighbours_alone(gold, train, work, f"trec-{i}")
        return _humc("specs/classify.hum", "trec_coarse", gold, work, f"trec-{i}", format=None, **opts)

    return _measured("trec", only, _classify_rows(train), measure)


def bench_tickets(work: Path, only: str | None = None, dev: bool = False) -> list[dict]:
    """The bundled tickets (with `dev`, the 16 of `tickets_dev.gold.jsonl` that `humc tune` measures
    on); `tickets_pool.gold.jsonl` (26 more invented tickets, none a copy of the others) is where
    retrieved shots come from."""
    gold = ROOT / "examples" / "data" / ("tickets_dev.gold.jsonl" if dev else "tickets_triage.gold.jsonl")
    pool = ROOT / "examples" / "data" / "tickets_pool.gold.jsonl"

    def measure(name, opts, i):
        if "neighbours_alone" in opts:
            return _neighbours_alone(gold, pool, work, f"tickets-{i}")
        return _humc("examples/support_tickets.hum", "ticket_triage", gold, work, f"tickets-{i}", format=None, **opts)

    if dev:
        return _measured("tickets_dev", only, [
            ("humc channel, 4 retrieved pool tickets (the README's main job)", {"decision": "channel", "shots_from": pool}),
            *_knn_rows(pool)], measure)
    return _measured("tickets", only, [
        ("humc greedy (spec defaults)", {}), ("humc exact", {"decision": "exact"}),
        ("humc calibrated", {"decision": "calibrated"}),
        ("humc exact, plain prompt", {"decision": "exact", "prompt_style": "plain"}),
        ("humc calibrated, plain prompt", {"decision": "calibrated", "prompt_style": "plain"}),
        ("humc channel", {"decision": "channel"}),
        ("humc greedy, 4 retrieved pool tickets", {"shots_from": pool}),
        ("humc exact, plain, 4 retrieved pool tickets", {"decision": "exact", "prompt_style": "plain", "shots_from": pool}),
        ("humc channel, 4 retrieved pool tickets (the README's main job)", {"decision": "channel", "shots_from": pool}),
        ("humc channel, 8 retrieved pool tickets", {"decision": "channel", "shots": 8, "shots_from": pool}),
        *_knn_rows(pool),
    ], measure)


QA_LINE = "{text}\nQuestion: {question}\nAnswer with a phrase copied from the text: "


def _qa_file(examples: list[dict], path: Path) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for e in examples:
            fh.write(json.dumps({"id": e["id"], "text": e["text"], "question": e["question"],
                                 "record": e["record"]}, ensure_ascii=False) + "\n")
    return path


def _baselines_qa(gold_path: Path, examples: list[dict], work: Path) -> list[dict]:
    """Unconstrained greedy generation with a one-line prompt, as a plain document and as the
    chat template's user turn; the answer is the first line, scored by `humc eval`."""
    import torch

    from humdsl.evaluate import evaluate
    from humdsl.runtime.models import load, model_prompt

    loaded = load(None)
    rows = []
    for name, chat in [("unconstrained greedy, one-line prompt", False),
                       ("unconstrained greedy, one-line prompt, chat template", True)]:
        out = work / f"xquad-free-{int(chat)}.jsonl"
        start, tokens = time.monotonic(), 0
        with out.open("w", encoding="utf-8") as fh:
            for e in examples:
                prompt = QA_LINE.format(text=e["text"], question=e["question"])
                with torch.no_grad():
                    text = _free(loaded, model_prompt(loaded.tokenizer, prompt, True) if chat else prompt, 32,
                                 special=chat)
                tokens += len(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])
                answer = text.strip().split("\n")[0].strip() or None
                fh.write(json.dumps({"id": e["id"], "record": {"answer": answer}}) + "\n")
        seconds = time.monotonic() - start
        scores = evaluate("qa", str(gold_path), str(out))
        rows.append({"row": name, "metric": scores["main_score"]["name"],
                     "score": round(scores["main_score"]["value"], 4), "exact_match": round(scores["scores"]["exact_match"], 4),
                     "valid": 1.0, "output_tokens": round(tokens / len(examples), 1),
                     "s_per_input": round(seconds / len(examples), 3), "n": len(examples)})
    return rows


def _tuned(spec: Path, dev: Path, pool: Path, n: int, budget: int) -> tuple[str, dict]:
    """`humc tune`'s winner on `dev` (another file than the one the row is measured on), as a
    row name and humc run options."""
    from humdsl.tune import _describe, tune

    result = tune(str(spec), "squad", dev, None, None, n=n, budget=budget, shots_from=pool)
    best = result.best.profile
    print(f"tuned on {n} questions, {len(result.trials)} settings: {_describe(best)} "
          f"({result.metric} {100 * result.best.score:.1f})", flush=True)
    opts = {"format": best["answer_format"], "shots": best["shots"], "decision": best["decision"],
            "prompt_style": best["prompt_style"], "phrasing": best["phrasing"], "prompt": best["prompt"],
            "shots_from": spec.parent / best["shots_from"] if best["shots_from"] else None}
    return f"humc, the profile humc tune chose ({_describe(best)})", opts


def bench_xquad(n: int, work: Path, only: str | None = None, tune_n: int = 40, tune_budget: int = 12) -> list[dict]:
    """XQuAD-en's even articles, split by article so that no passage is in two parts: the first n
    questions are the dev split; the next `tune_n` questions (from later articles) are where
    `humc tune` measures; the questions of the remaining articles are where retrieved shots
    come from."""
    from humdsl.adapters.readers import read_examples

    examples, _ = read_examples(DATA / "xquad_en" / "xquad.en.even_articles.json", "squad")
    articles = list(dict.fromkeys(e["source"] for e in examples))
    dev, tune_set, pool = [], [], []
    for article in articles:
        mine = [e for e in examples if e["source"] == article]
        if len(dev) < n:
            dev += mine
        elif len(tune_set) < tune_n:
            tune_set += mine
        else:
            pool += mine
    dev, tune_set = dev[:n], tune_set[:tune_n]
    gold = _qa_file(dev, work / "xquad.gold.jsonl")
    tune_file = _qa_file(tune_set, work / "xquad.tune.jsonl")
    pool_file = _qa_file(pool, work / "xquad.pool.jsonl")
    spec = work / "qa.hum"  # a copy: tune's winner is not written into the bundled spec
    spec.write_text((ROOT / "specs" / "qa.hum").read_text(encoding="utf-8"), encoding="utf-8")
    baselines: dict[str, dict] = {}
    plan: list[tuple[str, dict | None]] = [("unconstrained greedy, one-line prompt", None),
                                           ("unconstrained greedy, one-line prompt, chat template", None)]
    for fmt in ("answer_span", "json_answer"):
        plan += [(f"humc greedy, {fmt}, the spec's 3 examples", {"format": fmt}),
                 (f"humc greedy, {fmt}, no examples", {"format": fmt, "shots": 0}),
                 (f"humc greedy, {fmt}, 2 retrieved shots", {"format": fmt, "shots": 2, "shots_from": pool_file})]
    # exact decisions over the spans of the sentences in focus, and the obvious alternative: the
    # passage cut to the same sentence, answered greedily (runtime/span_answers.py)
    plan += [("humc greedy, json_answer, no examples, the passage cut to its sentence most like the question",
              {"format": "json_answer", "shots": 0, "cut_to_focus": True}),
             ("humc exact, json_answer, the spec's 3 examples, focus 1", {"format": "json_answer", "decision": "exact"}),
             ("humc exact, json_answer, no examples, focus 1", {"format": "json_answer", "shots": 0, "decision": "exact"}),
             ("humc exact, json_answer, no examples, focus 2",
              {"format": "json_answer", "shots": 0, "decision": "exact", "focus": 2}),
             ("humc exact, answer_span, no examples, focus 1", {"format": "answer_span", "shots": 0, "decision": "exact"})]
    plan.append(("humc, the profile humc tune chose", {"tuned": True}))

    def measure(name, opts, i):
        if opts is None:
            if not baselines:
                baselines.update({r["row"]: r for r in _baselines_qa(gold, dev, work)})
            return baselines[name]
        if opts.get("tuned"):
            label, opts = _tuned(spec, tune_file, pool_file, tune_n, tune_budget)
            row = _humc(str(spec), "squad", gold, work, f"xquad-{i}", **opts)
            row["chosen"] = label
            return row
        if opts.pop("cut_to_focus", False):
            return _humc(str(spec), "squad", _cut_to_focus(gold, work / "xquad.cut.jsonl"), work, f"xquad-{i}", **opts)
        return _humc(str(spec), "squad", gold, work, f"xquad-{i}", **opts)

    return _measured("xquad", only, plan, measure)


def _cut_to_focus(gold: Path, path: Path) -> Path:
    """The questions with each passage cut to its sentence most like the question (the gold
    answers as they are: where the cut loses the answer, no answer can match)."""
    from humdsl.runtime.span_answers import focus

    with path.open("w", encoding="utf-8") as fh:
        for line in gold.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            row["text"] = " ".join(row["text"][a:b] for a, b in focus(row["text"], row["question"], 1))
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


_ALL: dict[str, list[dict]] = {}
_CURRENT: list[str] = []


def record_rows(rows: list[dict], shown: dict | None = None) -> None:
    """Write what is measured so far (a long run keeps its finished rows) and show the row just
    measured (the last, unless given)."""
    _ALL[_CURRENT[0]] = rows
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}
    old.update(_ALL)
    RESULTS.write_text(json.dumps(old, indent=2) + "\n", encoding="utf-8")
    r = shown or rows[-1]
    print(f"{_CURRENT[0]:8} {r['row']:50} {r['metric']} {100 * r['score']:6.2f}  valid {100 * r['valid']:5.1f}%  "
          f"{r['output_tokens']:6.1f} tok  {r['s_per_input']:.2f} s/input", flush=True)


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="sst2,trec,conll03,tickets")
    ap.add_argument("--n-sst2", type=int, default=100)
    ap.add_argument("--n-conll", type=int, default=50)
    ap.add_argument("--n-conll-spread", type=int, default=100)
    ap.add_argument("--n-trec", type=int, default=100)
    ap.add_argument("--n-xquad", type=int, default=100)
    ap.add_argument("--n-conll04", type=int, default=50)
    ap.add_argument("--n-wnut", type=int, default=100)
    ap.add_argument("--rows", help="Measure only the rows whose name holds this (e.g. channel; !parser: those "
                                   "whose name does not hold parser); the others are kept from the last results.")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in args.only.split(","):
            _CURRENT[:] = [name]
            if name == "sst2":
                rows = bench_sst2(args.n_sst2, work, args.rows)
            elif name == "conll03":
                rows = bench_conll(args.n_conll, work, args.rows)
            elif name == "conll03_spread":
                rows = bench_conll(args.n_conll_spread, work, args.rows, spread=True)
            elif name == "trec":
                rows = bench_trec(args.n_trec, work, args.rows)
            elif name == "xquad":
                rows = bench_xquad(args.n_xquad, work, args.rows)
            elif name == "conll04":
                rows = bench_conll04(args.n_conll04, work, args.rows)
            elif name == "wnut17":
                rows = bench_wnut(args.n_wnut, work, args.rows)
            elif name == "tickets_dev":
                rows = bench_tickets(work, args.rows, dev=True)
            else:
                rows = bench_tickets(work, args.rows)
            record_rows(rows)


if __name__ == "__main__":
    main()
