"""CoNLL-style token/tag files (CoNLL-2003 IOB1, WNUT-17 IOB2, BILOU) into entity records."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


_TAG = re.compile(r"^(O|[BIELUS]-\S+)$")


@dataclass
class Sentence:
    tokens: list[str]
    tags: list[str]
    line: int  # 1-based line of the first token, for error messages


def iter_conll(path: str | Path, problems: list[str] | None = None,
               tag_column: int = -1) -> Iterator[Sentence]:
    """Sentences of a whitespace- or tab-separated token-per-line file, one at a time; blank lines
    separate sentences and -DOCSTART- lines are skipped. A line without a tag is reported in
    `problems` and its sentence left out (its tags would no longer line up); without `problems`
    it raises ValueError."""
    tokens: list[str] = []
    tags: list[str] = []
    start, broken = 0, None
    with open(path, encoding="utf-8") as fh:
        for n, raw in enumerate(fh, start=1):
            line = raw.rstrip("\n")
            cols = line.split("\t") if "\t" in line else line.split()
            if not line.strip() or cols[0] == "-DOCSTART-":
                if tokens and broken is None:
                    yield Sentence(tokens, tags, start)
                tokens, tags, broken = [], [], None
                continue
            if not tokens:
                start = n
            tag = cols[tag_column] if len(cols) >= 2 else ""
            if len(cols) < 2 or not _TAG.match(tag):
                why = (f"{path}:{n}: expected a token and a tag, got {line!r}" if len(cols) < 2 else
                       f"{path}:{n}: {tag!r} is not a tag (O, or B-, I-, L-, U-, E-, S- and a type)")
                if problems is None:
                    raise ValueError(why)
                if broken is None:
                    problems.append(why + " (its sentence is left out)")
                broken = n
            tokens.append(cols[0])
            tags.append(cols[tag_column])
    if tokens and broken is None:
        yield Sentence(tokens, tags, start)


def read_conll(path: str | Path, tag_column: int = -1) -> list[Sentence]:
    return list(iter_conll(path, None, tag_column))


def tags_to_spans(tags: list[str], scheme: str) -> list[tuple[str, int, int]]:
    """(type, start, end) token spans, end exclusive. scheme: 'iob1', 'iob2' (BIO) or 'bilou'.
    IOB1 follows conlleval: I-X starts a chunk unless it continues one of type X; B-X only
    appears where a chunk directly follows another of the same type."""
    spans: list[tuple[str, int, int]] = []
    cur_type: str | None = None
    cur_start = 0
    typ: str | None
    for i, tag in enumerate(tags + ["O"]):
        prefix, _, typ = tag.partition("-")
        if tag == "O" or not typ:
            prefix, typ = "O", None
        if scheme == "bilou":
            if prefix in ("B", "U") or prefix == "O" or typ != cur_type:
                if cur_type is not None:
                    spans.append((cur_type, cur_start, i))
                cur_type, cur_start = (typ, i) if prefix in ("B", "I", "L", "U") else (None, i)
            if prefix in ("U", "L") and cur_type is not None:
                spans.append((cur_type, cur_start, i + 1))
                cur_type = None
            continue
        begins = prefix == "B" or (prefix == "I" and typ != cur_type)
        if scheme == "iob2" and prefix == "I" and typ != cur_type:
            begins = True  # an ill-formed I- in BIO starts a chunk too, as seqeval does
        if prefix == "O" or begins:
            if cur_type is not None:
                spans.append((cur_type, cur_start, i))
            cur_type, cur_start = (typ, i) if prefix != "O" else (None, i)
    return spans


def sentence_record(sentence: Sentence, scheme: str) -> tuple[str, dict]:
    """The sentence as text (tokens joined by spaces) and its canonical entities record, each
    entity with its character offset."""
    offsets, pos = [], 0
    for tok in sentence.tokens:
        offsets.append(pos)
        pos += len(tok) + 1
    text = " ".join(sentence.tokens)
    entities = []
    for typ, s, e in tags_to_spans(sentence.tags, scheme):
        start = offsets[s]
        end = offsets[e - 1] + len(sentence.tokens[e - 1])
        entities.append({"type": typ, "text": text[start:end], "start": start})
    return text, {"entities": entities}
