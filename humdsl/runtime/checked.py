"""Masks from the grammar without its length bounds, each pick checked against the exact grammar.

llguidance keeps the masks it has computed by lexer state. A bounded free-text lexeme (an open-IE
relation phrase, `/(?s:.){1,200}/`; a record's string; a reasoning line) is in a new lexer state
after every token, since the count of characters left is part of the state, so each of its masks
is computed afresh: 0.1-0.8 ms at a 50k vocabulary (bench/README.md). The same lexeme without the
bound comes back to the same state, and its mask comes from the cache.

So the decoder asks a second matcher, built on `grammar_tree.without_length_bounds` (the proposer),
for the mask, and checks the token it picks with the exact matcher (one token's bytes through its
lexer). The proposer's language holds the exact one's, so its allowed set holds the exact allowed
set; the check makes the result the exact one's:
- greedy: the argmax over the larger set, when the exact grammar allows it, is the argmax over
  the smaller one; when it does not (a free text at its bound), the pick is made again under the
  exact mask;
- sampling (top_p = 1): a draw that the exact grammar allows is kept, and otherwise a new draw is
  made under the exact mask. P(t) = P_loose(t) + P_loose(refused) * P_exact(t) = P_exact(t) for
  every allowed t, since P_loose(t) = P_exact(t) * P_loose(exact set). With top_p < 1 the nucleus
  depends on the set, so masks come from the exact matcher alone.

Validity never rests on the proposer: every token is consumed by the exact matcher, forced runs and
drafts come from it, and it alone says when an answer is finished."""
from __future__ import annotations

from .protocol import DecodeError


class CheckedMatcher:
    """An exact llguidance matcher and, where its grammar has length bounds, a proposer that
    follows it token by token. Dropped (masks from the exact matcher alone) should the two ever
    disagree on a token, which the construction rules out but a library change might not."""

    def __init__(self, exact, proposer=None):
        self.exact = exact
        self.proposer = proposer

    def allows(self, token: int) -> bool:
        return self.exact.validate_tokens([token]) == 1

    def consume_token(self, token: int) -> bool:
        return self.consume_tokens([token])

    def consume_tokens(self, tokens: list[int]) -> bool:
        ok = self.exact.consume_tokens(tokens)
        if ok and self.proposer is not None and (not self.proposer.consume_tokens(tokens)
                                                 or self.proposer.is_error()):
            self.proposer = None
        return ok

    def compute_ff_tokens(self) -> list[int]:
        return self.exact.compute_ff_tokens()

    def validate_tokens(self, tokens: list[int]) -> int:
        return self.exact.validate_tokens(tokens)

    def is_stopped(self) -> bool:
        return self.exact.is_stopped()

    def is_error(self) -> bool:
        return self.exact.is_error()

    def get_error(self) -> str:
        return self.exact.get_error()


class EarlyStart(CheckedMatcher):
    """A row whose grammar is still being built (in the background, while the model reads the
    prompt): until then the row runs on the same grammar without its grounding (`grammar_tree.without_grounding`,
    compiled once per format and label batch), which forces its first tokens and checks its first
    draft. `resolve` waits for the real matcher and takes those tokens into it: they are the
    start of every answer the looser grammar allows, so of every answer the exact one allows."""

    def __init__(self, loose, future):
        super().__init__(loose)
        self.future = future

    def resolve(self, taken: list[int]) -> CheckedMatcher:
        real = self.future.result()  # the build's own error (a rejected grammar) is raised here
        if taken and (not real.consume_tokens(taken) or real.is_error()):
            raise DecodeError(f"the grammar refused the {len(taken)} tokens that its form without "
                              f"grounding forced at the start: {real.get_error()}")
        return real
