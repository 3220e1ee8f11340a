"""llguidance glue shared by the compiler, the runtime and the tests: validating a grammar (the
backend fails silently on a bad one), matching text against it, and sampling under it."""
from __future__ import annotations

from .errors import InternalError
import threading
from dataclasses import dataclass


class GrammarInvalid(InternalError):
    """llguidance rejected a grammar the compiler produced: a compiler bug, reported loudly."""


def validate(lark: str, lltok=None) -> str:
    """The llguidance grammar for `lark`; raises GrammarInvalid with llguidance's message."""
    from llguidance import LLMatcher

    grammar = LLMatcher.grammar_from_lark(lark)
    error = grammar_error(grammar, lltok)
    if error:
        raise GrammarInvalid(error)
    return grammar


def grammar_error(grammar: str, lltok=None) -> str:
    """llguidance's complaint about a grammar (its JSON form), or "" when it takes it."""
    from llguidance import LLMatcher

    return _built(grammar, lambda: LLMatcher.validate_grammar(grammar, lltok, limits=limits())) or ""


# llguidance walks a grammar's rules recursively when it checks and compiles it. The per-input
# grammar of an inline format is a chain of rules as long as the input: at about 1,500 words
# that overflows the 8 MB main-thread stack, a segmentation fault that kills the process. Large
# grammars are therefore built on a thread of their own with a large stack.
LARGE_GRAMMAR_CHARS = 200_000
BUILD_STACK_BYTES = 256 * 1024 * 1024
_STACK_LOCK = threading.Lock()


def _built(grammar: str, build):
    if len(grammar) < LARGE_GRAMMAR_CHARS:
        return build()
    box: dict = {}

    def target():
        try:
            box["value"] = build()
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e

    with _STACK_LOCK:  # the stack size setting is process-wide
        previous = threading.stack_size(BUILD_STACK_BYTES)
        try:
            worker = threading.Thread(target=target, name="llguidance-build")
            worker.start()
        finally:
            threading.stack_size(previous)
    worker.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


# llguidance gives each mask a budget of lexer work ("fuel", default 200,000, about 14 ms) and
# on exhausting it puts the matcher in an error state: its mask then allows EOS alone, and the
# answer is cut. A free-text hole (a 200-character bound intersected with the span's shape and "no
# separator inside") can cost more on one step: the openie relation phrase `... ap`;;` took
# 568,000 under the tests' tokenizer and over 200,000 under GPT-2's and SmolLM2's. Ten times
# the worst seen: a rare slow step (tens of ms) beats a dead answer.
STEP_LEXER_FUEL = 5_000_000


# Earley rows: completing the last chunk of an inline format's chain completes every rule of it
# in one row, about two items per input word; llguidance's default cap (2,000 items in a row)
# stopped a 1,000-word answer at its last token. The symbol limit (see inline.py) comes first.
MAX_ITEMS_IN_ROW = 200_000
STEP_MAX_ITEMS = 1_000_000


# Compiling a grounded terminal spends "initial" lexer fuel in proportion to the input: the
# default (1,000,000) refused the tuples format's grammar at 25,000 words of newswire; a budget of
# 20,000,000 took grounded NER formats to 100,000 words of newswire (about 2 s to compile).
INITIAL_LEXER_FUEL = 20_000_000


def limits():
    """humdsl's llguidance limits, the same for checking a grammar and for decoding under it."""
    from llguidance import LLParserLimits

    return LLParserLimits(step_lexer_fuel=STEP_LEXER_FUEL, max_items_in_row=MAX_ITEMS_IN_ROW,
                          step_max_items=STEP_MAX_ITEMS, initial_lexer_fuel=INITIAL_LEXER_FUEL)


def new_matcher(lltok, grammar: str, log_level: int = 0):
    """An llguidance matcher with humdsl's limits: every matcher that decodes, checks or samples
    is made here, so that none runs out of lexer fuel (or Earley items) where another would not;
    a large grammar is compiled on a large stack."""
    from llguidance import LLMatcher

    return _built(grammar, lambda: LLMatcher(lltok, grammar, log_level=log_level, limits=limits()))


class TokenizerMisread(ValueError):
    """llguidance reads the tokenizer's tokens as other bytes than the tokenizer means: every
    mask built on it would be wrong, so nothing is decoded with it."""


# Plain ASCII, so that no normaliser may rightly change it; spaces inside words' tokens, digits
# and punctuation, where byte-level vocabularies differ most from their text.
_PROBE = "Hello, world: J. Pooley (ORG) scored 12 runs; the end."


def ll_tokenizer(hf_tokenizer):
    """The llguidance tokenizer of a fast transformers tokenizer, checked: the tokens of a probe
    text must read back as that text. llguidance infers how to read the vocabulary from the
    tokenizer's declared decoder; some conversions (a GGUF tokenizer under transformers 5.17)
    declare one that makes it read a byte-level vocabulary's 'Ġ' literally, and masks then allow
    the wrong tokens. Such a vocabulary is rebuilt from the GPT-2 byte mapping; one that cannot be
    read either way raises TokenizerMisread."""
    import llguidance.hf

    lltok = llguidance.hf.from_tokenizer(hf_tokenizer)
    if _reads_back(lltok, hf_tokenizer):
        return lltok
    rebuilt = _byte_level(hf_tokenizer)
    if rebuilt is not None and _reads_back(rebuilt, hf_tokenizer):
        return rebuilt
    ids = hf_tokenizer.encode(_PROBE, add_special_tokens=False)
    raise TokenizerMisread(f"llguidance reads this tokenizer's tokens wrongly ({_PROBE!r} comes back as "
                           f"{lltok.decode_str(ids)!r}), so constrained decoding cannot use it")


def _reads_back(lltok, hf_tokenizer) -> bool:
    ids = hf_tokenizer.encode(_PROBE, add_special_tokens=False)
    squeeze = lambda text: "".join(text.split()).lower()  # leading-space conventions may differ
    return squeeze(lltok.decode_str(ids)) == squeeze(_PROBE)


def _gpt2_byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's bytes_to_unicode: the character a byte-level vocabulary writes for
    each byte (printable bytes as themselves, the others shifted above 255, space as 'Ġ')."""
    kept = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, shifted = {}, 0
    for b in range(256):
        if b in kept:
            chars[chr(b)] = b
        else:
            chars[chr(256 + shifted)] = b
            shifted += 1
    return chars


def _byte_level(hf_tokenizer):
    """An llguidance tokenizer built from the vocabulary read as GPT-2 byte-level tokens, or None
    when it is not such a vocabulary."""
    from llguidance import LLTokenizer, TokenizerWrapper

    decode = _gpt2_byte_decoder()
    special = {i for i, t in getattr(hf_tokenizer, "added_tokens_decoder", {}).items() if t.special}
    special |= set(hf_tokenizer.all_special_ids)
    tokens = []
    for i, piece in enumerate(hf_tokenizer.convert_ids_to_tokens(list(range(len(hf_tokenizer))))):
        if piece is None:
            piece = ""
        if i in special:
            tokens.append(piece.encode("utf-8"))
        elif all(c in decode for c in piece):
            tokens.append(bytes(decode[c] for c in piece))
        else:
            return None

    class Vocabulary:
        tokens: list[bytes]  # set below, from the function's list
        eos_token_id = hf_tokenizer.eos_token_id
        bos_token_id = hf_tokenizer.bos_token_id
        special_token_ids = sorted(special)

        def __call__(self, text):
            if isinstance(text, (bytes, bytearray)):
                text = bytes(text).decode("utf-8", errors="replace")
            return hf_tokenizer.encode(text, add_special_tokens=False)

    Vocabulary.tokens = tokens
    return LLTokenizer(TokenizerWrapper(Vocabulary()))


def accepts(lark_or_grammar: str, text: str, hf_tokenizer, lltok) -> tuple[bool, str]:
    """Does the grammar accept `text` (tokenised the usual way) as a complete output?"""
    grammar = lark_or_grammar if lark_or_grammar.startswith("{") else validate(lark_or_grammar, lltok)
    m = new_matcher(lltok, grammar)
    ok = m.consume_tokens(hf_tokenizer.encode(text, add_special_tokens=False))
    return bool(ok and m.is_accepting()), m.get_error()


@dataclass
class Sample:
    text: str
    finished: bool  # the grammar completed (or only EOS was left) within the budget
    tokens: int
    error: str = ""  # the matcher's own error where it stopped on one (say, out of lexer fuel)


def sample(grammar: str, lltok, budget: int, rng) -> Sample:
    """Decode under the grammar with random logits: what a randomly initialised model does.
    `rng` is a numpy Generator. EOS is taken only when the grammar allows it."""
    import numpy as np

    m = new_matcher(lltok, grammar)
    vocab = lltok.vocab_size
    tokens: list[int] = []
    while len(tokens) < budget:
        if m.is_stopped():
            return Sample(lltok.decode_str(tokens), True, len(tokens))
        mask = np.unpackbits(np.frombuffer(bytes(m.compute_bitmask()), dtype=np.uint8),
                             bitorder="little")[:vocab]
        if m.is_error():  # an errored matcher allows EOS alone: not the grammar's answer
            return Sample(lltok.decode_str(tokens), False, len(tokens), m.get_error())
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
