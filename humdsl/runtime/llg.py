"""llguidance glue in one place: a model's llguidance tokenizer (built and checked once), and
its matchers in the shape of protocol.Matcher (a mask as one boolean per token)."""
from __future__ import annotations

from typing import Any

from .protocol import DecodeError

_LLTOKENIZERS: dict[int, tuple[object, object]] = {}


def ll_tokenizer_for(hf_tokenizer):
    """The llguidance tokenizer of a transformers tokenizer, built and checked once per tokenizer
    (~1 s); DecodeError when llguidance cannot read it (`constraints.ll_tokenizer`)."""
    hit = _LLTOKENIZERS.get(id(hf_tokenizer))
    if hit is None or hit[0] is not hf_tokenizer:
        from ..constraints import TokenizerMisread, ll_tokenizer

        try:
            hit = _LLTOKENIZERS[id(hf_tokenizer)] = (hf_tokenizer, ll_tokenizer(hf_tokenizer))
        except TokenizerMisread as e:
            raise DecodeError(str(e)) from None
    return hit[1]


def unpacked(bitmask_row, vocab: int):
    """llguidance's bitmask (int32 words: token 32w+k is bit k of word w) as a numpy boolean per
    token: 0.01 ms, against 0.05 ms for the same with torch shifts."""
    import numpy as np

    words = bitmask_row.numpy().astype("<i4", copy=False)
    return np.unpackbits(words.view(np.uint8), bitorder="little")[:vocab].view(np.bool_)


class LlgMatcher:
    """An llguidance LLMatcher as a protocol.Matcher."""

    def __init__(self, inner, vocab: int):
        self.inner = inner
        self.vocab = vocab
        self._bitmask: Any = None  # a torch tensor, allocated on the first mask: many matchers only check tokens

    def allowed_mask(self):
        import torch
        from llguidance.torch import fill_next_token_bitmask

        if self._bitmask is None:
            self._bitmask = torch.zeros((1, (self.vocab + 31) // 32), dtype=torch.int32)
        fill_next_token_bitmask(self.inner, self._bitmask, 0)
        return unpacked(self._bitmask[0], self.vocab)

    def deep_copy(self) -> LlgMatcher:
        return LlgMatcher(self.inner.deep_copy(), self.vocab)

    def consume_token(self, token: int) -> bool:
        return self.inner.consume_token(token)

    def consume_tokens(self, tokens: list[int]) -> bool:
        return self.inner.consume_tokens(tokens)

    def validate_tokens(self, tokens: list[int]) -> int:
        return self.inner.validate_tokens(tokens)

    def compute_ff_tokens(self) -> list[int]:
        return self.inner.compute_ff_tokens()

    def is_stopped(self) -> bool:
        return self.inner.is_stopped()

    def is_error(self) -> bool:
        return self.inner.is_error()

    def get_error(self) -> str:
        return self.inner.get_error()
