"""Which decoder runs a model: jump-forward where it applies, the Outlines path otherwise, or
a schema decoder on the outlines_core and xgrammar backends."""
from __future__ import annotations

from .protocol import DECODERS, DecodeError


def make_decoder(loaded, choice: str = "auto", backend: str = "llguidance", fmt=None, batch=None):
    """The decoder for `choice`: "auto" is jump-forward wherever it applies (a transformers
    causal LM with a fast tokenizer, on llguidance) and the Outlines path otherwise;
    "jump-forward" insists on it (DecodeError when the model cannot run it); "outlines" forces the
    plain Outlines path. Another `backend` (outlines_core, xgrammar) is the Outlines path on the
    JSON Schema of `fmt` (schema_backends.py)."""
    if choice not in DECODERS:
        raise DecodeError(f"unknown decoder {choice!r}; choose one of: {', '.join(DECODERS)}")
    if backend != "llguidance":
        from .schema_backends import schema_decoder

        if fmt is None:
            raise DecodeError(f"the {backend} backend needs the format whose schema it compiles")
        return schema_decoder(loaded, backend, fmt, batch, choice)
    from .outlines_decoder import OutlinesDecoder

    if choice == "outlines":
        return OutlinesDecoder(loaded)
    from .jumpforward import JumpForwardDecoder, unsupported_reason

    reason = unsupported_reason(loaded)
    if reason is None:
        return JumpForwardDecoder(loaded)
    if choice == "jump-forward":
        raise DecodeError(f"jump-forward decoding cannot run this model: {reason}")
    return OutlinesDecoder(loaded)
