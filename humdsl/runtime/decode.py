"""Constrained decoding behind one small interface. The Outlines path: a transformers model,
the llguidance backend built once per model, one grammar per row of a batch."""
from __future__ import annotations

import warnings
from dataclasses import dataclass


class DecodeError(Exception):
    """Decoding failed for a row: the grammar was rejected or the matcher reached an error. The
    message names the row of the batch."""


class GrammarRejected(DecodeError):
    """llguidance rejected a grammar the compiler produced: a compiler bug, reported loudly."""


@dataclass(frozen=True)
class RowFailure:
    """In place of a row's text: its matcher stopped with an error mid-answer (a resource limit
    of llguidance, say). The run writes that row as an error line and goes on with the others;
    an errored matcher allows EOS alone, so without this the cut text could pass as an answer."""
    message: str
    text: str  # what was generated before it stopped


@dataclass
class Sampling:
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int | None = None


class OutlinesDecoder:
    name = "outlines+llguidance"

    def __init__(self, loaded):
        import outlines
        from outlines.backends.llguidance import LLGuidanceLogitsProcessor

        from .jumpforward import ll_tokenizer_for

        self.loaded = loaded
        self.model = outlines.from_transformers(loaded.model, loaded.tokenizer)
        # The checked llguidance tokenizer, shared with jump-forward, built once per model. Not
        # Outlines' LLGuidanceBackend: it would first build its own, unchecked, for a second.
        self.llg_tokenizer = ll_tokenizer_for(loaded.tokenizer)

        class PerRow(LLGuidanceLogitsProcessor):
            """One grammar per row: grounded spans differ from input to input."""

            def __init__(self, grammars, llg_tokenizer, library):
                super().__init__(grammars[0], llg_tokenizer, library)
                self.grammars = grammars

            def _setup(self, batch_size):
                # Not Outlines' own set-up: it would first build a matcher of the first grammar
                # per row on this thread's stack, which a large grammar overflows.
                import llguidance.torch

                from ..constraints import new_matcher

                self.ll_matchers = [new_matcher(self.llg_tokenizer, g) for g in self.grammars]
                self.bitmask = llguidance.torch.allocate_token_bitmask(batch_size, self.llg_tokenizer.vocab_size)
                self._bias_logits = self._bias_logits_torch  # transformers models: torch tensors
                self.failures: dict[int, str] = {}

            def process_logits(self, input_ids, logits):
                # Outlines' own loop, except that a row that has ended is fed nothing more (its
                # padding would put a finished matcher in an error state), and a matcher that
                # fails before its row ends is recorded: it then allows EOS alone.
                if self.is_first_token:
                    self._setup(self.tensor_adapter.shape(input_ids)[0])
                    self.is_first_token = False
                else:
                    for i, m in enumerate(self.ll_matchers):
                        if not m.is_stopped():
                            m.consume_token(int(input_ids[i][-1]))
                            self._note(i, m)
                logits = self._bias_logits(input_ids, logits)
                for i, m in enumerate(self.ll_matchers):
                    self._note(i, m)
                return logits

            def _note(self, row, m):
                if m.is_error() and row not in self.failures:
                    self.failures[row] = m.get_error()

        self.per_row = PerRow

    def generate(self, prompts: list[str], grammars: list[str], max_new_tokens: int,
                 sampling: Sampling) -> list[str | RowFailure]:
        import outlines
        from llguidance import LLMatcher

        specs = [LLMatcher.grammar_from_lark(g) for g in grammars]
        processor = self.per_row(specs, self.llg_tokenizer, self.model.tensor_library_name)
        generator = outlines.Generator(self.model, processor=processor)
        # Stop on the token the grammar ends with, whatever the model's generation config names
        # as EOS: where they differ, generate would go on to the budget after the answer.
        texts = run_generator(generator, prompts, max_new_tokens, self.llg_tokenizer.eos_token,
                              self.loaded.tokenizer.pad_token_id, sampling)
        failures = getattr(processor, "failures", {})
        return [RowFailure(f"row {i}: the matcher failed: {failures[i]}", text) if i in failures else text
                for i, text in enumerate(texts)]


def run_generator(generator, prompts: list[str], max_new_tokens: int, eos_id: int, pad_id, sampling: Sampling):
    """An Outlines generator over a batch: greedy or sampled as `sampling` says, stopping on `eos_id`."""
    import torch

    kwargs = {"max_new_tokens": max_new_tokens, "eos_token_id": eos_id, "pad_token_id": pad_id}
    if sampling.temperature > 0:
        kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
    else:
        kwargs.update(do_sample=False)
    if sampling.seed is not None:
        torch.manual_seed(sampling.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # llguidance warns for rows that already finished
        return generator.batch(prompts, **kwargs)


DECODERS = ("auto", "jump-forward", "outlines")


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
    if choice == "outlines":
        return OutlinesDecoder(loaded)
    from .jumpforward import JumpForwardDecoder, unsupported_reason

    reason = unsupported_reason(loaded)
    if reason is None:
        return JumpForwardDecoder(loaded)
    if choice == "jump-forward":
        raise DecodeError(f"jump-forward decoding cannot run this model: {reason}")
    return OutlinesDecoder(loaded)
