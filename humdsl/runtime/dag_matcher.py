"""Decoding under a LiteralDag (formats/dag.py) without llguidance: the same methods the
jump-forward decoder calls on an llguidance matcher, from the vocabulary's bytes.

A mask is a walk: from the positions reached so far, follow each byte the language may read next,
and keep the tokens whose bytes are the path walked; stop a path as soon as no token starts with
it. Paths are few (inside a copied chunk there is one; a mark opens a handful), so a mask costs
what the tokens along them cost, not the vocabulary's size.

Forced bytes (the rest of a copied word, say) become tokens as llguidance makes them, so that
greedy output is the same as under the inline format's grammar on either decoder: the last token
and the forced bytes are tokenized canonically; trailing tokens that a longer token could replace
(one that runs on past the forced bytes into what the language allows next) are chopped off;
what is left is forced; the mask is that forced run's first token, or where nothing is left,
every token the language takes (the chopped bytes' own pieces among them). Both decoders' masks
follow that rule (llguidance's TokenParser.ff_tokens and TokTrie.chop_tokens).
"""
from __future__ import annotations

import numpy as np

from ..formats.dag import LiteralDag
from ..formats.span_rules import RuledDag, plain_positions
from .free_masks import FreeMasks

_TABLES: dict[int, tuple[object, "TokenTable"]] = {}


class TokenTable:
    """The vocabulary as bytes: the ids of each byte string that is a token, and every prefix of
    a token (where a walk may go on). Special tokens are left out; end-of-text tokens are
    allowed where an answer may end."""

    def __init__(self, lltok):
        self.vocab = lltok.vocab_size
        self.eos = [lltok.eos_token]  # the one llguidance's masks allow, and the decoder stops on
        ids: dict[bytes, list[int]] = {}
        for t in range(self.vocab):
            if lltok.is_special_token(t):
                continue
            data = lltok.decode_bytes([t])
            if data:
                ids.setdefault(data, []).append(t)
        self.ids = ids
        self.bytes_of: dict[int, bytes] = {t: data for data, found in ids.items() for t in found}
        self.prefixes = {data[:k] for data in ids for k in range(1, len(data) + 1)}
        self.extendable = {data[:k] for data in ids for k in range(1, len(data))}  # a longer token follows
        self.max_len = max(map(len, ids), default=0)
        self.tokenize = lltok.tokenize_bytes  # canonical, as llguidance tokenizes forced bytes

    @classmethod
    def of(cls, lltok) -> "TokenTable":
        """One table per llguidance tokenizer (0.2 s at a 50k vocabulary, then kept)."""
        hit = _TABLES.get(id(lltok))
        if hit is None or hit[0] is not lltok:
            hit = _TABLES[id(lltok)] = (lltok, cls(lltok))
        return hit[1]


class DagMatcher:
    def __init__(self, dag: LiteralDag | RuledDag, table: TokenTable):
        self.dag, self.table = dag, table
        self.positions = dag.start()
        self.last: int | None = None  # the last token taken, which forced bytes may re-tokenize
        self._ff: list[int] | None = None  # the forced tokens from here, once computed
        self.stopped = False  # as llguidance: only a token taken stops (an empty answer takes EOS)
        self.error = ""
        self._tails: dict[tuple[int, int], tuple[int, np.ndarray]] = {}  # (masks, node) -> tails read
        self._mask: np.ndarray | None = None  # the mask from here, once computed (rules ask it twice)

    # -- reading tokens --------------------------------------------------------------------------
    def _after(self, positions, t: int):
        """The positions after token t, or None where the language refuses it; END alone after an
        end-of-text token."""
        if t in self.table.eos:
            return positions if self.dag.is_end(positions) else None
        data = self.table.bytes_of.get(t)
        if data is None:
            return None
        after = self.dag.read(positions, data)
        return after or None

    def validate_tokens(self, tokens: list[int]) -> int:
        """How many of `tokens`, in order, the language takes from here."""
        positions, stopped = self.positions, self.stopped
        for n, t in enumerate(tokens):
            if stopped:
                return n
            positions = self._after(positions, t)
            if positions is None:
                return n
            stopped = self._stops(t, positions)
        return len(tokens)

    def consume_tokens(self, tokens: list[int]) -> bool:
        for t in tokens:
            if self.stopped:
                self.error = f"token {t} after the answer's end"
                return False
            after = self._after(self.positions, t)
            if after is None:
                self.error = f"token {t} ({self.table.bytes_of.get(t)!r}) does not continue the answer"
                return False
            self.positions, self.last, self._ff, self._mask = after, t, None, None
            self.stopped = self._stops(t, after)
        return True

    def consume_token(self, token: int) -> bool:
        return self.consume_tokens([token])

    def _stops(self, t: int, positions) -> bool:
        """Is the answer over after token t? After end-of-text, or where nothing can follow."""
        return t in self.table.eos or (self.dag.is_end(positions) and len(positions) == 1)

    # -- what may come next ----------------------------------------------------------------------
    def allowed_tokens(self) -> list[int]:
        """Every token that may come next (the mask, as ids): the first forced token where there
        is one (as llguidance's mask), else every token the language takes; once stopped, the
        end-of-text tokens."""
        if self.stopped:
            return list(self.table.eos)
        forced = self._forced_tokens()
        if forced:
            return forced[:1]
        ids, masks = self._walked(self.positions)
        if masks:
            return np.flatnonzero(self._joined(ids, masks, self.dag.is_end(self.positions))).tolist()
        return (list(self.table.eos) if self.dag.is_end(self.positions) else []) + ids

    def allowed_mask(self) -> np.ndarray:
        """The mask as a boolean per token id (what the decoder takes; not to be written to):
        inside free text, where most of the vocabulary is allowed, built as arrays and never
        listed."""
        if self._mask is None:
            if self.stopped or self._forced_tokens():
                self._mask = np.zeros(self.table.vocab, dtype=np.bool_)
                self._mask[self.allowed_tokens()] = True
            else:
                self._mask = self._joined(*self._walked(self.positions), self.dag.is_end(self.positions))
        return self._mask

    def _joined(self, ids: list[int], masks: list[np.ndarray], end: bool) -> np.ndarray:
        """One mask of token ids, whole-vocabulary masks and, where the answer may end, EOS."""
        out = np.zeros(self.table.vocab, dtype=np.bool_)
        out[ids] = True
        for mask in masks:
            out |= mask
        if end:
            out[self.table.eos] = True
        return out

    def _walked(self, positions, dag=None) -> tuple[list[int], list[np.ndarray]]:
        """The tokens the language (or `dag`) takes from `positions`: from its shared masks
        where it has them (a span's start in every item of a list reads the same), else walked."""
        dag = self.dag if dag is None else dag
        memo = dag.masks
        if memo is None or not memo.shareable(positions):
            return self._walk(b"", positions, dag=dag)
        found = memo.get(positions)
        if found is not None:
            return list(found), []
        dag.trace = set()
        try:
            found, masks = self._walk(b"", positions, dag=dag)
            if not masks:  # a walk into free text is not shared (its mask is not a list)
                memo.put(positions, dag.trace, found)
        finally:
            dag.trace = None
        return found, masks

    def _free_mask(self, at, prefix: bytes) -> np.ndarray:
        """The tokens that are `prefix` and then bytes a free text's node reads
        (runtime/free_masks.py)."""
        masks = FreeMasks.of(self.table, at.machine, at.exits)

        def tails_ok() -> np.ndarray:
            key = (id(masks), at.after)
            found = self._tails.get(key)
            if found is None or found[0] != len(masks.tails):
                found = self._tails[key] = (len(masks.tails), self._tails_read(masks, at.after))
            return found[1]

        return masks.mask(at.state, at.count, tails_ok, prefix)

    def _tails_read(self, masks: FreeMasks, after: int | None) -> np.ndarray:
        """Which of the tails that tokens leaving a free text hold the language reads from
        `after` on (a walk over the tails' bytes alone)."""
        ok = np.zeros(len(masks.tails), dtype=np.bool_)
        if after is None:
            return ok
        dag, stack = self.dag, [(b"", self.dag.at(after))]
        while stack:
            path, positions = stack.pop()
            for byte, readers in dag.next_bytes(positions).items():
                longer = path + bytes((byte,))
                if longer not in masks.tail_prefixes:
                    continue
                k = masks.tails.get(longer)
                if k is not None:
                    ok[k] = True
                if longer in masks.tail_extendable:
                    stack.append((longer, dag.advance(readers)))
        return ok

    def compute_ff_tokens(self) -> list[int]:
        return [] if self.stopped else list(self._forced_tokens())

    def _walk(self, path: bytes, positions, min_len: int = 0, first: bool = False,
              dag=None) -> tuple[list[int], list]:
        """The tokens whose bytes are `path` and then bytes the language reads from `positions`
        (at least min_len bytes long): as ids, and where the walk reaches free text, as masks
        (the tokens that go on into it, read at once); with `first`, stop at the first found.
        `dag`: another language to walk (the plain one under a RuledDag's)."""
        ids, prefixes, extendable = self.table.ids, self.table.prefixes, self.table.extendable
        dag = self.dag if dag is None else dag
        out: list[int] = []
        masks: list[np.ndarray] = []
        stack = [(path, positions)]
        while stack:
            path, positions = stack.pop()
            free = [p for p in positions if p[1] == 0 and p[0] in dag.free] if dag.free else None
            if free:
                positions = positions.difference(free)
                for i, _ in free:
                    mask = self._free_mask(dag.free[i].text, path)
                    if mask.any():
                        masks.append(mask)
                        if first:
                            return out, masks
            for byte, readers in dag.next_bytes(positions).items():
                longer = path + bytes((byte,))
                if longer not in prefixes:
                    continue
                found = ids.get(longer)
                if found and len(longer) >= min_len:
                    out.extend(found)
                    if first:
                        return out, masks
                if longer in extendable:  # else no token goes on: the positions after are not needed
                    def wanted(b: int, p: bytes = longer) -> bool:
                        return p + bytes((b,)) in prefixes
                    stack.append((longer, dag.advance(readers, wanted)))
        return out, masks

    def _forced_bytes(self) -> tuple[bytes, frozenset]:
        """The bytes every answer goes on with from here, and the positions after them. Under
        rules (a RuledDag), only bytes the format's grammar forces too: where the rules alone
        leave one way on, the model is asked, so that the decoder sees how much it wanted the
        ways they closed (`plain_mask`)."""
        dag, positions, out = self.dag, self.positions, bytearray()
        inner = dag.inner if isinstance(dag, RuledDag) else None
        while not dag.is_end(positions):
            following = dag.next_bytes(positions)
            if len(following) != 1 or (inner is not None and len(inner.next_bytes(plain_positions(positions))) != 1):
                break
            (byte, readers), = following.items()
            out.append(byte)
            positions = dag.advance(readers)
        return bytes(out), positions

    def _forced_tokens(self) -> list[int]:
        if self._ff is None:
            self._ff = self._tokenize_forced()
        return self._ff

    def _tokenize_forced(self) -> list[int]:
        forced, after = self._forced_bytes()
        if not forced:
            return []
        table = self.table
        existing = [self.last] if self.last is not None and self.last in table.bytes_of else []
        head = table.bytes_of[existing[0]] if existing else b""
        tokens = table.tokenize(head + forced)
        if tokens[:len(existing)] != existing:  # the forced bytes change how the last token reads
            existing, head = [], b""
            tokens = table.tokenize(forced)
        new = tokens[len(existing):]
        return new[:len(new) - self._chop(new, after)]

    def _chop(self, tokens: list[int], after) -> int:
        """How many trailing tokens a longer token could replace: the longest
        suffix of the last four tokens' bytes (at most a token long) that starts a token which
        runs on into bytes the language reads after the forced ones."""
        table = self.table
        tail = b"".join(table.bytes_of.get(t, b"") for t in tokens[-4:])
        tail = tail[max(0, len(tail) - table.max_len):]
        for start in range(len(tail)):
            suffix = tail[start:]
            if suffix in table.prefixes and any(self._walk(suffix, after, len(suffix) + 1, first=True)):
                total = 0
                for count in range(1, len(tokens) + 1):
                    total += len(table.bytes_of.get(tokens[-count], b""))
                    if total >= len(suffix):
                        return count
        return 0

    # -- rules kept while decoding (formats/span_rules.py) -----------------------------------------
    @property
    def keeps_rules(self) -> bool:
        return isinstance(self.dag, RuledDag)

    def snapshot(self) -> tuple:
        """The matcher's state, to go back to (`restore`)."""
        return self.positions, self.last, self._ff, self.stopped, self.error, self._mask

    def restore(self, state: tuple) -> None:
        self.positions, self.last, self._ff, self.stopped, self.error, self._mask = state

    def plain_mask(self) -> np.ndarray:
        """Under a RuledDag: what the format's grammar allows from here with the rules' history
        left out (the allowed mask holds no more than this)."""
        assert isinstance(self.dag, RuledDag)
        inner, plain = self.dag.inner, plain_positions(self.positions)
        if self.stopped:
            return self.allowed_mask()
        return self._joined(*self._walked(plain, inner), inner.is_end(plain))

    def is_stopped(self) -> bool:
        return self.stopped

    def is_accepting(self) -> bool:
        return self.stopped or self.dag.is_end(self.positions)

    def is_error(self) -> bool:
        return bool(self.error)

    def get_error(self) -> str:
        return self.error
