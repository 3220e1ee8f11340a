"""The surface filters a proposed paraphrase passes before the meaning check: each returns why a
proposal is dropped, or None. Thresholds follow the tools users know: Self-Instruct drops an
instruction whose ROUGE-L against one already kept is 0.7 or more; distilabel's near-duplicate
filter drops at a MinHash (character-shingle Jaccard) similarity of 0.9."""
from __future__ import annotations

import re
from dataclasses import dataclass

ROUGE_L_MAX = 0.7  # a proposal this close (or closer) to a text already there adds no phrasing
SHINGLE_JACCARD_MAX = 0.9  # character 3-gram Jaccard: a copy with a few characters changed
LENGTH_RATIO = (0.5, 2.0)  # a paraphrase keeps roughly the original's length
MIN_WORDS = 3
ROUGE_L_MIN = 0.2  # below this a "paraphrase" shares almost no words with the original: another text

_WORD = re.compile(r"[\w']+", re.UNICODE)
_CODE_LIKE = re.compile(r"\b[A-Z][A-Z_\-]{1,11}\b")  # PER, GPE, WORK_OF_ART: how label codes look


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'"))  # "don’t" is one word, as "don't" is


def normalised(text: str) -> str:
    return " ".join(words(text))


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F-measure over lower-cased words (the longest common subsequence)."""
    x, y = words(a), words(b)
    if not x or not y:
        return 0.0
    prev = [0] * (len(y) + 1)
    for wx in x:
        row = [0]
        for j, wy in enumerate(y):
            row.append(prev[j] + 1 if wx == wy else max(prev[j + 1], row[j]))
        prev = row
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(y), lcs / len(x)
    return 2 * p * r / (p + r)


def shingles(text: str, n: int = 3) -> set[str]:
    s = normalised(text)
    return {s[i:i + n] for i in range(max(1, len(s) - n + 1))}


def jaccard(a: str, b: str) -> float:
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y) if x | y else 1.0


@dataclass(frozen=True)
class LabelNames:
    """What the labels of a task are called, and every label code the program knows (the std label
    sets' too): a proposal that names one the task lacks has leaked a label."""
    task: dict[str, set[str]]  # code -> its code and name, lower-cased
    known_codes: set[str]  # label codes of every task and label set, as written


def mentions(text: str, names: set[str]) -> bool:
    lowered = " " + normalised(text) + " "
    return any(" " + normalised(n) + " " in lowered for n in names if normalised(n))


def duplicate(text: str, others: list[str]) -> str | None:
    """Why `text` repeats one of `others` (the slot's texts and the proposals kept before it)."""
    for other in others:
        if normalised(text) == normalised(other):
            return "exact duplicate"
    for other in others:
        score = jaccard(text, other)
        if score >= SHINGLE_JACCARD_MAX:
            return f"near duplicate (character 3-gram Jaccard {score:.2f} >= {SHINGLE_JACCARD_MAX})"
        score = rouge_l(text, other)
        if score >= ROUGE_L_MAX:
            return f"near duplicate (ROUGE-L {score:.2f} >= {ROUGE_L_MAX})"
    return None


def unrelated(text: str, original: str) -> str | None:
    """Why `text` is not a rewording of `original` at all (a small model's off-topic line)."""
    score = rouge_l(text, original)
    if score < ROUGE_L_MIN:
        return f"unrelated to the original (ROUGE-L {score:.2f} < {ROUGE_L_MIN})"
    return None


NEGATIONS = frozenset({"not", "no", "never", "nothing", "none", "nobody", "neither", "nor", "without", "cannot",
                       "don't", "doesn't", "isn't", "aren't", "won't", "can't", "unless"})


def negation(text: str, original: str) -> str | None:
    """A negation the original has and the proposal lacks, or the other way round: the cheapest
    sign of a rewrite that says the opposite ("if nothing loads" -> "if everything loads")."""
    had = bool(NEGATIONS & set(words(original)))
    has = bool(NEGATIONS & set(words(text)))
    if had != has:
        return "drops the original's negation" if had else "adds a negation the original does not have"
    return None


def length(text: str, original: str, limit: int | None = None) -> str | None:
    """Why `text` is too short or too long; `limit`: the grammar's bound, which a text reaching it
    was cut at (mid-sentence, as a rule)."""
    if limit is not None and len(text) >= limit:
        return f"cut off at the {limit}-character bound"
    n = len(words(text))
    if n < MIN_WORDS:
        return f"too short ({n} words)"
    ratio = len(text) / max(1, len(original))
    low, high = LENGTH_RATIO
    if not low <= ratio <= high:
        return f"length {ratio:.1f}x the original's (kept: {low}-{high}x)"
    return None


def labels(text: str, original: str, scope: list[str], names: LabelNames) -> str | None:
    """A label leak or a changed scope: a label code the task lacks, a label of the task outside
    `scope` (what a guideline or description is about) that the original does not name, or a
    label of the scope that the original names and the proposal drops."""
    task_codes = set(names.task)
    for code in _CODE_LIKE.findall(text):
        if code not in task_codes and code in names.known_codes and code not in original:
            return f"names label {code}, which this task does not have"
    for code, called in names.task.items():
        if code not in scope and mentions(text, called) and not mentions(original, called):
            return f"names label {code}, which the original does not"
    for code in scope:
        called = names.task.get(code, {code})
        if mentions(original, called) and not mentions(text, called):
            return f"no longer names label {code}, which it is for"
    return None
