"""The plain Outlines path: a transformers model through Outlines' generator, the llguidance
backend built once per model, one grammar per row of a batch."""
from __future__ import annotations

import warnings
from typing import Any, Sequence

from .constraint_cache import ConstraintCache
from .protocol import Grammar, RowFailure, Sampling, constraint_of


def _lark(constraint) -> str:
    c = constraint_of(constraint)
    if not isinstance(c, Grammar):
        raise TypeError(f"the Outlines decoder takes grammars, not {type(c).__name__}")
    return c.lark


class OutlinesDecoder:
    """Outlines' transformers generator with one llguidance grammar per row."""

    name = "outlines+llguidance"
    accepts = frozenset({Grammar})
    budget: int | None = None  # the format's, per batch
    cache: ConstraintCache | None = None
    remote = False

    def __init__(self, loaded):
        import outlines
        from outlines.backends.llguidance import LLGuidanceLogitsProcessor

        from .llg import ll_tokenizer_for

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

    def generate(self, prompts: list[str], constraints: Sequence[Any], max_new_tokens: int,
                 sampling: Sampling) -> list[str | RowFailure]:
        import outlines
        from llguidance import LLMatcher

        specs = [LLMatcher.grammar_from_lark(_lark(c)) for c in constraints]
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
