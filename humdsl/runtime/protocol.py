"""The contract between the pipeline (session.py) and the engines that decode.

A `Decoder` takes prompts, one `Constraint` per prompt, a token budget and a `Sampling`, and
returns per prompt the answer's text or a `RowFailure`. A constraint is tagged by what it is:

- `Grammar`: a Lark grammar as llguidance reads it (every llguidance decoder);
- `AnswerDag`: a grounded format's answers for one input, ready to decode (jump-forward only);
- `JsonSchema`: a JSON Schema (the outlines_core and xgrammar decoders).

A decoder names the kinds it takes in `accepts`; the session builds the best one it takes. The
shape follows vLLM's structured-output backends: one interface every engine implements, the
constraint compiled by the engine that runs it, a matcher per request.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Sequence, Union

from ..errors import InternalError

if TYPE_CHECKING:
    import numpy as np

    from ..formats.dag import LiteralDag
    from ..formats.grammar_tree import GrammarTree
    from ..formats.span_rules import RuledDag
    from .constraint_cache import ConstraintCache


DECODERS = ("auto", "jump-forward", "outlines")  # decoders.make_decoder
BACKENDS = ("llguidance", "outlines_core", "xgrammar")  # the constraint engines; schema_backends.py


class DecodeError(InternalError):
    """Decoding failed for a row: the grammar was rejected or the matcher reached an error. The
    message names the row of the batch."""


class GrammarRejected(DecodeError):
    """llguidance rejected a grammar the compiler produced: a compiler bug, reported loudly."""


class Unsupported(DecodeError):
    """The loaded model cannot be driven by this decoder (another one may run it)."""


@dataclass(frozen=True)
class RowFailure:
    """In place of a row's text: its matcher stopped with an error mid-answer (a resource limit
    of llguidance, say). The run writes that row as an error line and goes on with the others;
    an errored matcher allows EOS alone, so without this the cut text could pass as an answer."""
    message: str
    text: str  # what was generated before it stopped


class ScoredText(str):
    """An answer's text with what the model gave each token the decoder chose: `picks` holds
    (start, end, log-probability) per chosen token, in characters of the text. The probability
    is the model's over the tokens the constraint allowed there (what the decoder chose from);
    forced tokens, the only ones allowed, are left out (their probability is 1). A plain str
    everywhere else: decoders that cannot score (a server, Outlines) return plain text."""
    picks: tuple[tuple[int, int, float], ...]

    def __new__(cls, text: str, picks=()):
        obj = super().__new__(cls, text)
        obj.picks = tuple(picks)
        return obj

    def __reduce__(self):  # pickled with its picks (ray workers send answers back)
        return ScoredText, (str(self), self.picks)


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int | None = None
    # One seed per row, from the run's seed and the row's id (Session): a decoder that samples each
    # row on its own (a server) uses them, so that a row's answer does not depend on its batch.
    row_seeds: tuple[int, ...] | None = None


def row_seed(seed: int, key: str) -> int:
    """A row's own seed: stable across processes and batchings (not Python's salted hash)."""
    import hashlib

    digest = hashlib.sha256(f"{seed}\0{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class Grammar:
    lark: str
    # The tree `lark` was printed from (formats/grammar_tree.py), where a format built it: the
    # jump-forward decoder derives its grammars without length bounds or grounding from it. A
    # grammar given as text alone runs as written.
    tree: GrammarTree | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class AnswerDag:
    dag: LiteralDag | RuledDag


@dataclass(frozen=True)
class JsonSchema:
    schema: dict = field(hash=False)


Constraint = Union[Grammar, AnswerDag, JsonSchema]


def constraint_of(value: Any) -> Constraint:
    """A constraint as given: tagged already, or a Lark grammar's text, or a LiteralDag (the
    shorthands tests and scripts use)."""
    from ..formats.dag import LiteralDag
    from ..formats.span_rules import RuledDag

    if isinstance(value, (Grammar, AnswerDag, JsonSchema)):
        return value
    if isinstance(value, str):
        return Grammar(value)
    if isinstance(value, (LiteralDag, RuledDag)):
        return AnswerDag(value)
    raise TypeError(f"not a constraint: {type(value).__name__}")


class Decoder(Protocol):
    name: str  # shown to the user: "jump-forward", "outlines+llguidance", ...
    accepts: frozenset[type]  # the constraint kinds `generate` takes
    budget: int | None  # the answer budget in tokens when the decoder fixes it (a schema's); None: the format's
    cache: ConstraintCache | None  # the on-disk constraint cache, on the decoders that use one
    remote: bool  # the answers come from another process (a server): each is checked against its grammar

    def generate(self, prompts: list[str], constraints: Sequence[Any], max_new_tokens: int,
                 sampling: Sampling) -> list[str | RowFailure]:
        """Per prompt, the answer decoded under its constraint, or why it stopped."""
        ...


class Matcher(Protocol):
    """A constraint's state while one answer is decoded: llguidance's LLMatcher (wrapped in
    llg.LlgMatcher) and DagMatcher both have this shape."""

    def allowed_mask(self) -> np.ndarray:
        """A boolean per token of the vocabulary: the tokens allowed next."""
        ...

    def consume_tokens(self, tokens: list[int]) -> bool: ...

    def validate_tokens(self, tokens: list[int]) -> int: ...

    def compute_ff_tokens(self) -> list[int]: ...

    def is_stopped(self) -> bool: ...

    def is_error(self) -> bool: ...

    def get_error(self) -> str: ...
