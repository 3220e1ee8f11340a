"""Exact decisions: where a format allows only a few answers for an input (classification), the
model scores every one of them and the likeliest is taken, instead of decoding token by token.

Greedy decoding commits to the first token: on SmolLM2 a label that shares its first token with
another, or a model that prefers to start a longer answer, decides the answer before the label
is read. Scoring each whole answer (its tokens and the end of the answer) after the same prompt
compares the answers themselves, and gives each a probability (softmax over the allowed answers).

`calibrated` is contextual calibration (Zhao et al., 2021): each answer's log-probability minus
its log-probability after the same prompt with every input field replaced by "N/A", which
cancels the prompt's own bias towards some labels. Neither rule wins everywhere: measure it
(bench/bench_quality.py).

`channel` turns the question round (Min et al., 2022, "Noisy channel language model prompting"):
for each answer, the probability of the *input* after a plain document that names the answer
first ("Topic: billing (Charges, invoices, ...)": each label with its first description), the
worked examples written the same way. A small model that prefers one label whatever it reads
cannot lean on that preference here: every answer must explain the whole input. For a multilabel
task each set of labels is an answer, weighed by how often the labelled examples' answers have
that many labels (size_prior): naming more labels always explains more words.

A multilabel answer is a set: its probability is the sum over the orders it can be written in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations, permutations

from ..formats import Unrenderable
from ..ir_types import LabelIR
from .token_tree import sequence_logprobs

PLAIN_CUE = "Answer:"  # how a plain prompt hands over to the answer, as its worked examples do
CHANNEL_CUE = "Topic:"  # how a channel document names the answer before its input
MAX_ANSWERS = 512  # answer texts scored per input at most; more is refused, not truncated
CONTENT_FREE = "N/A"
RANKED = 5  # alternatives written with each decision


class NotEnumerable(Exception):
    """The format's answers for this task are too many to score one by one."""


@dataclass(frozen=True)
class Answers:
    records: list[dict]
    texts: list[list[str]]  # per record, every way the format writes it


@dataclass(frozen=True)
class Decision:
    record: dict
    text: str
    p: float
    ranking: list[dict]  # {"answer": text, "p": probability}, best first


def answers(fmt, batch: list[str] | None, orderings: bool = True) -> Answers:
    """Every answer the format allows for the label batch, grouped by record (a single-label task's
    labels, however many; a multilabel task's sets of labels, up to MAX_ANSWERS). A multilabel record
    is a set of labels: with `orderings`, every text the format writes it as (exact and calibrated
    decisions sum them); without, one text each (channel decisions name the set, not a text)."""
    schema = fmt.schema
    if not schema.task_kind.decidable:
        raise NotEnumerable(f"a {schema.kind} task's answers are spans of the input, too many to score "
                            f"one by one: exact decisions are for classify tasks")
    codes = schema.batch_or_all(batch)
    top = schema.max_items(codes)
    too_many = (f"{len(codes)} labels, up to {top} per answer, {{}}; at most {MAX_ANSWERS} are scored: give "
                f"fewer --labels or a smaller max_items")
    if not schema.multilabel:
        sets: list[tuple[str, ...]] = [(c,) for c in codes]
        records: list[dict] = [{"label": c} for c in codes]
    else:
        count = sum(math.comb(len(codes), n) for n in range(1, top + 1))
        if count > MAX_ANSWERS:
            raise NotEnumerable(too_many.format(f"make {count} answers"))
        sets = [c for n in range(1, top + 1) for c in combinations(codes, n)]
        records = [{"labels": list(s)} for s in sets]
    kept_records: list[dict] = []
    texts: list[list[str]] = []
    total = 0
    for record, labels in zip(records, sets):
        written: list[str] = []
        for order in permutations(labels):
            one = {"label": order[0]} if not schema.multilabel else {"labels": list(order)}
            try:
                text = fmt.render(one, batch=batch)
            except Unrenderable:
                continue
            if text not in written:
                written.append(text)
                if not orderings:
                    break  # the first order the format can write: the task's
        total += len(written)
        if schema.multilabel and total > MAX_ANSWERS:  # said before every order of every set is written
            raise NotEnumerable(too_many.format(f"are written more than {MAX_ANSWERS} ways"))
        if written:
            kept_records.append(record)
            texts.append(written)
    if not kept_records:
        raise NotEnumerable("the format can write none of the task's answers")
    return Answers(kept_records, texts)


class AnswerScorer:
    """Total log-probabilities of answer texts after a prompt, on a JumpForwardDecoder's model:
    the same prompt rendering and tokenization as decoding, the prompt's KV cache computed once
    (and its prefix shared across inputs), then every answer in one pass over it."""

    def __init__(self, decoder, style: str = "chat", cue: str = PLAIN_CUE):
        self.dec = decoder
        self.style = style
        self.cue = cue  # how a plain document hands over to the answer: the task's name for it and a colon
        self._content_free: dict[str, list[float]] = {}

    def _ids(self, prompt: str, texts: list[str]) -> tuple[list[int], list[list[int]]]:
        """The prompt's tokens and each answer's. `chat`: the chat template, each answer then the
        end of the turn. `plain`: the prompt as a document that ends with the cue ('Answer:'), each answer
        after a space and ended by a line break, as the worked examples above it are written."""
        tok = self.dec.tokenizer
        if self.style == "plain":
            ids = list(tok(prompt + self.cue)["input_ids"])
            return ids, [list(tok(" " + t + "\n", add_special_tokens=False)["input_ids"]) for t in texts]
        ids = self.dec.prompt_ids(prompt)
        return ids, [list(tok(t, add_special_tokens=False)["input_ids"]) + [self.dec.eos] for t in texts]

    def logprobs(self, prompt: str, texts: list[str]) -> list[float]:
        import torch

        dec = self.dec
        ids, tokens = self._ids(prompt, texts)
        with torch.no_grad():
            state = dec._start([ids])
            first = torch.log_softmax(state.step([ids[state.skip:]], [1])[0][-1], -1)
            rest = sequence_logprobs(dec, state.cache, len(ids), tokens)
        return [float(first[t[0]]) + sum(r) for t, r in zip(tokens, rest)]

    def content_free(self, prompt: str, texts: list[str]) -> list[float]:
        """`logprobs` after a content-free prompt, kept: with fixed shots every input shares it."""
        key = prompt + "\x00" + "\x00".join(texts)
        if key not in self._content_free:
            if len(self._content_free) > 64:
                self._content_free.clear()
            self._content_free[key] = self.logprobs(prompt, texts)
        return self._content_free[key]


def answer_labels(record: dict) -> list:
    """The labels a classification answer names: a multilabel answer's list, or the one label."""
    return record["labels"] if isinstance(record.get("labels"), list) else [record.get("label")]


def channel_label(labels: dict[str, LabelIR], record: dict) -> str:
    """How a channel document names an answer before its input: each label by its name and its
    first description (the words the input is then scored against), in the record's order."""
    codes = answer_labels(record)
    ordered = [c for c in labels if c in codes] + [c for c in codes if c not in labels]  # as the answers are
    return "; ".join(_described(labels[c]) if c in labels else c for c in ordered)


def _described(label: LabelIR) -> str:
    name = label.get("name", label["code"])
    descriptions = label.get("descriptions") or []
    return f"{name} ({descriptions[0]})" if descriptions else name


def channel_prefix(shots: list[tuple[str, str]], cue: str = CHANNEL_CUE) -> str:
    """The document up to the answer being scored: each worked example as (label line, input),
    then the cue. No instruction above them: on SmolLM2 the task's instruction before the
    examples cost channel decisions accuracy (bench/README.md, "Answer quality")."""
    return "".join(f"{cue} {label}\n{shown}\n\n" for label, shown in shots) + cue


def channel_branch(label: str, shown: str) -> tuple[str, str]:
    """One answer's continuation of the prefix: its label line (not scored), then the input (scored)."""
    return f" {label}\n", f"{shown}\n"


def channel_scores(decoder, prefix: str, branches: list[tuple[str, str]]) -> list[float]:
    """For each (label line, input) branch, the input's total log-probability after the prefix and
    the label line: the prefix's KV cache computed once, then the branches read over it as a tree of
    tokens (token_tree.py)."""
    import torch

    from .jumpforward import _native_gqa
    from .kv_cache import new_cache, returned_cache

    tok = decoder.tokenizer
    ids = list(tok(prefix)["input_ids"])
    heads = [list(tok(label, add_special_tokens=False)["input_ids"]) for label, _ in branches]
    scored = [list(tok(shown, add_special_tokens=False)["input_ids"]) for _, shown in branches]
    tokens = [h + s for h, s in zip(heads, scored)]
    with torch.no_grad():
        with _native_gqa(decoder.device):  # the prefix's own logits are not needed: keep one row
            first = decoder.model(input_ids=torch.tensor([ids], device=decoder.device), use_cache=True,
                                  logits_to_keep=1, **{decoder.cache_keyword: new_cache()})
        rest = sequence_logprobs(decoder, returned_cache(first), len(ids), tokens)
    return [sum(r[len(h) - 1:]) for h, r in zip(heads, rest)]


def size_prior(sizes: dict[int, int], records: list[dict]) -> list[float]:
    """Per answer, the log-probability of its number of labels among the labelled examples
    (add-one smoothed over the sizes allowed), shared evenly by the answers of that size. Without
    it a channel prefers many labels: every label named is more words the input can lean on."""
    counts = [len(answer_labels(r)) for r in records]
    allowed = sorted(set(counts))
    total = sum(sizes.get(n, 0) for n in allowed) + len(allowed)
    per_size = {n: counts.count(n) for n in allowed}
    return [math.log((sizes.get(n, 0) + 1) / total) - math.log(per_size[n]) for n in counts]


def channel_document(labels: dict[str, LabelIR], shots: list[dict], options: Answers,
                     shown: str, cue: str = CHANNEL_CUE) -> tuple[str, list[tuple[str, str]]]:
    """The channel document of one input: the worked examples, then each answer's branch."""
    prefix = channel_prefix([(channel_label(labels, s["record"]), s["shown"]) for s in shots], cue)
    return prefix, [channel_branch(channel_label(labels, r), shown) for r in options.records]


def decide_channel(decoder, labels: dict[str, LabelIR], shots: list[dict], options: Answers, shown: str,
                   fmt, batch, source: str, sizes: dict[int, int], cue: str = CHANNEL_CUE) -> Decision:
    """The answer under which the input is likeliest, weighed by how often answers of its size are
    (one label, two, ...) among the labelled examples; its probability among the answers.
    `shots` are {"shown": input as the prompt shows it, "record": its answer}."""
    prefix, branches = channel_document(labels, shots, options, shown, cue)
    prior = size_prior(sizes, options.records)
    scores = [s + p for s, p in zip(channel_scores(decoder, prefix, branches), prior)]
    norm = _logsumexp(scores)
    texts = [t[0] for t in options.texts]
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    ranking = [{"answer": texts[i], "p": round(math.exp(scores[i] - norm), 4)} for i in order[:RANKED]]
    best = order[0]
    return Decision(fmt.parse(texts[best], batch=batch, source=source), texts[best],
                    round(math.exp(scores[best] - norm), 4), ranking)


def decide(scorer: AnswerScorer, prompt: str, options: Answers, fmt, batch, source: str,
           content_free_prompt: str | None = None) -> Decision:
    """The likeliest allowed answer, its probability among them and the runners-up."""
    flat = [t for texts in options.texts for t in texts]
    lp = scorer.logprobs(prompt, flat)
    base = scorer.content_free(content_free_prompt, flat) if content_free_prompt is not None else None
    scores, best_texts, at = [], [], 0
    for texts in options.texts:
        mine = lp[at:at + len(texts)]
        total = _logsumexp(mine)
        if base is not None:
            total -= _logsumexp(base[at:at + len(texts)])
        scores.append(total)
        best_texts.append(texts[max(range(len(texts)), key=lambda i: (mine[i], -i))])
        at += len(texts)
    norm = _logsumexp(scores)
    probs = [math.exp(s - norm) for s in scores]
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    best = order[0]
    text = best_texts[best]
    ranking = [{"answer": best_texts[i], "p": round(probs[i], 4)} for i in order[:RANKED]]
    return Decision(fmt.parse(text, batch=batch, source=source), text, round(probs[best], 4), ranking)


def content_free_row(row: dict, fields: list[str]) -> dict:
    return {**row, **{f: CONTENT_FREE for f in fields}}


def _logsumexp(xs: list[float]) -> float:
    top = max(xs)
    return top + math.log(sum(math.exp(x - top) for x in xs))
