"""Each extracted item's probability, from the model's picks while decoding.

An item's part of the answer is what leaving it out changes: the answer rendered without the item
differs from the answer in one stretch of characters (the item and the separators on either side
of it, so the choice to write it at all is counted too). The item's probability is that of every
token the decoder chose in that stretch, given what came before: the product of their
probabilities over the tokens the constraint allowed (a forced token counts 1). It is the
number a user sorts by to trade recall for precision (`humc eval` draws the curve)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .kinds import KINDS

if TYPE_CHECKING:
    from .formats import Format

DIGITS = 4  # significant digits written: the ranking, not the last float bit, is what counts


def item_probabilities(fmt: Format, record: dict, text: str, picks, batch: list[str] | None,
                       source: str | None, offset: int = 0) -> list[float] | None:
    """One probability per item of the record's list, in its order; None where the task's
    answers have no list, there are no picks, or an item cannot be found in the text.
    `picks`: (start, end, log-probability) per chosen token, in characters of a text of which
    this one starts at `offset`."""
    regions = item_regions(fmt, record, text, batch, source) if picks else None
    if regions is None:
        return None
    out = []
    for start, end in regions:
        a, b = start + offset, end + offset
        lp = sum(p for s, e, p in picks if s < b and e > a)
        out.append(float(f"{math.exp(lp):.{DIGITS}g}"))
    return out


def item_regions(fmt: Format, record: dict, text: str, batch: list[str] | None,
                 source: str | None) -> list[tuple[int, int]] | None:
    """Per item of the record's list, the characters of `text` it accounts for (start, end), or
    None (see item_probabilities). Where the text is not how the format writes the record
    (the parser dropped a repeated item, or the inline format's mark is on a later occurrence
    of its text than the first), each item's own piece of writing is looked for in it instead."""
    from .formats import Unrenderable

    key = KINDS[fmt.schema.kind].list_key
    items = record.get(key) if key else None
    if key is None or not isinstance(items, list):
        return None
    try:
        if fmt.render(record, batch, source) != text:
            return _written_at(fmt, record, key, items, text, batch, source)
        regions = []
        for j in range(len(items)):
            without = fmt.render({**record, key: items[:j] + items[j + 1:]}, batch, source)
            regions.append(_changed(text, without))
    except Unrenderable:
        return None
    return regions


def _written_at(fmt: Format, record: dict, key: str, items: list, text: str, batch: list[str] | None,
                source: str | None) -> list[tuple[int, int]] | None:
    """Each item's piece of writing (what an answer of that item alone adds to an empty one)
    at its first place in the text that no item before it took; None where one is missing.
    Without the separators: the fallback where cutting items out cannot place them."""
    empty = fmt.render({**record, key: []}, batch, source)
    taken: list[tuple[int, int]] = []
    for item in items:
        alone = fmt.render({**record, key: [item]}, batch, source)
        a, b = _changed(alone, empty)
        piece, at = alone[a:b], 0
        while True:
            at = text.find(piece, at) if piece else -1
            if at < 0:
                return None
            if not any(at < e and at + len(piece) > s for s, e in taken):
                break
            at += 1
        taken.append((at, at + len(piece)))
    return taken


def _changed(text: str, other: str) -> tuple[int, int]:
    """The stretch of `text` that differs from `other`, which is `text` with one stretch cut
    out. Where the cut is ambiguous ("(Ann, ...)\n(Acme, ...)" less its first item could have
    lost "(Ann, ...)\n" or "Ann, ...)\n(A"), every place it could have been: from the earliest
    start (the longest common suffix first) to the latest end (the longest common prefix first)."""
    n = min(len(text), len(other))
    prefix = 0
    while prefix < n and text[prefix] == other[prefix]:
        prefix += 1
    suffix = 0
    while suffix < n and text[len(text) - 1 - suffix] == other[len(other) - 1 - suffix]:
        suffix += 1
    earliest = min(prefix, len(other) - suffix)  # the start when the suffix is taken first
    latest = len(text) - min(suffix, len(other) - prefix)  # the end when the prefix is
    return earliest, latest
