"""llguidance glue shared by the compiler, the runtime and the tests: validating a grammar (the
backend fails silently on a bad one), matching text against it, and sampling under it."""
from __future__ import annotations

from dataclasses import dataclass


class GrammarInvalid(Exception):
    """llguidance rejected a grammar the compiler produced: a compiler bug, reported loudly."""


def validate(lark: str, lltok=None) -> str:
    """The llguidance grammar for `lark`; raises GrammarInvalid with llguidance's message."""
    from llguidance import LLMatcher

    grammar = LLMatcher.grammar_from_lark(lark)
    error = LLMatcher.validate_grammar(grammar, lltok)
    if error:
        raise GrammarInvalid(error)
    return grammar


def ll_tokenizer(hf_tokenizer):
    import llguidance.hf

    return llguidance.hf.from_tokenizer(hf_tokenizer)


def accepts(lark_or_grammar: str, text: str, hf_tokenizer, lltok) -> tuple[bool, str]:
    """Does the grammar accept `text` (tokenised the usual way) as a complete output?"""
    from llguidance import LLMatcher

    grammar = lark_or_grammar if lark_or_grammar.startswith("{") else validate(lark_or_grammar, lltok)
    m = LLMatcher(lltok, grammar, log_level=0)
    ok = m.consume_tokens(hf_tokenizer.encode(text, add_special_tokens=False))
    return bool(ok and m.is_accepting()), m.get_error()


@dataclass
class Sample:
    text: str
    finished: bool  # the grammar completed (or only EOS was left) within the budget
    tokens: int


def sample(grammar: str, lltok, budget: int, rng) -> Sample:
    """Decode under the grammar with random logits: what a randomly initialised model does.
    `rng` is a numpy Generator. EOS is taken only when the grammar allows it."""
    import numpy as np
    from llguidance import LLMatcher

    m = LLMatcher(lltok, grammar, log_level=0)
    vocab = lltok.vocab_size
    tokens: list[int] = []
    while len(tokens) < budget:
        if m.is_stopped():
            return Sample(lltok.decode_str(tokens), True, len(tokens))
        mask = np.unpackbits(np.frombuffer(bytes(m.compute_bitmask()), dtype=np.uint8),
                             bitorder="little")[:vocab]
        allowed = np.flatnonzero(mask)
        if len(allowed) == 0:
            break
        t = int(allowed[rng.integers(len(allowed))])
        if t == lltok.eos_token:
            return Sample(lltok.decode_str(tokens), m.is_accepting(), len(tokens))
        if not m.consume_token(t):
            raise GrammarInvalid(m.get_error())
        tokens.append(t)
    return Sample(lltok.decode_str(tokens), m.is_stopped(), len(tokens))


def train_tokenizer(texts: list[str], vocab_size: int = 2000):
    """A small byte-level BPE tokenizer (every byte encodable) as a transformers fast tokenizer,
    trained in a second or two: for tests and offline demos with a random model."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2,
                                  special_tokens=["<|endoftext|>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>",
                                   eos_token="<|endoftext|>", pad_token="<pad>")
