"""Jump-forward decoding: a decoding loop that owns the KV cache of a transformers causal LM and
an llguidance matcher per row. Where the grammar forces the next tokens (JSON keys, separators,
fixed words, the only possible label), llguidance's `compute_ff_tokens` returns them in the
model's own canonical tokenization and they are fed in the same forward pass as the token chosen
before them; every other token is the masked argmax (or a masked sample). One forward pass per
free choice, however many forced tokens follow it.

Batches are ragged: each forward pass takes, per row, whatever that row must feed now (its prompt,
or one chosen token plus the forced run after it), right-padded to the longest; the padding stays
in the KV cache as holes that the attention mask hides, and positions are given per row. Rows
leave the batch as soon as they finish.

Drafts from the prompt (prompt lookup): a grounded span is a copy of the input, and answers
repeat the few-shot examples' shapes, so after each choice the decoder looks up the last few
tokens in the prompt and the answer so far and appends what followed them there (as much as the
grammar accepts) to the same pass. The pass yields the logits after every draft token; each draft
token is kept while it is what the masked argmax (or the masked sample) picks there, and the
first one that differs is replaced by that pick, so the output is the same as without drafts.
Rejected draft tokens leave the cache (cut off for one row, hidden as holes in a ragged batch).

Where the grammar bounds the length of free text, masks come from the same grammar without the
bounds (llguidance can cache those) and each pick is checked against the exact grammar, which
leaves the output as it was (see checked.py; `checked_masks=False` turns it off).

Early start: most of a grounded grammar's build is llguidance reading the input's substrings
(17-30 ms at 1,000 words, bench/README.md). It is built in a background thread while the model
reads the prompt (llguidance releases the GIL, as torch does); meanwhile the row runs on the same
grammar without its grounding, compiled once per format and label batch, for its first forced
tokens, and takes them into the real matcher after the prompt's pass (checked.py, EarlyStart).
By default on accelerators only: on a CPU the build competes with the prompt's pass for the same
cores, and the first token came no sooner (bench/README.md).

A row may come with a LiteralDag instead of a grammar (a grounded format's answers for its
input, `Format.language`): it runs on a DagMatcher (dag_matcher.py), which needs no build and
gives the same masks and forced tokens as llguidance under that format's grammar.

The prompt prefix that many inputs of a task share (system text, instructions, examples) is
computed once and its KV cache reused: the decoder keeps the longest common token prefix of the
prompts it has seen, narrowing it as new prompts arrive.

On a CPU the rows of a call are decoded one after another by default (`ragged=None`), still
sharing the prefix cache: there a forward pass costs about the same per row whatever the batch
(no spare compute to fill), and a ragged batch adds padding (every row is widened to the longest
forced run), holes in every row's cache, an explicit 4-D mask and, with that mask, transformers'
repeat-the-KV-heads fallback in SDPA; on SmolLM2 with JSON answers batches of 4 were 2.4x slower
than one row at a time (see docs/internals/decoding.md). Greedy output is the same either way.

Same interface as `OutlinesDecoder`, and the same prompt rendering and tokenization, so greedy
output is token-for-token that of masked greedy decoding on the Outlines path (up to float
rounding at near-ties; see docs/internals/decoding.md)."""
from __future__ import annotations

import time
from array import array
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Sequence

import numpy as np

from ..constraints import new_matcher
from ..formats.grammar_tree import lark, without_grounding, without_length_bounds
from .checked import CheckedMatcher, EarlyStart
from .dag_matcher import DagMatcher, TokenTable
from .llg import LlgMatcher, ll_tokenizer_for
from .constraint_cache import ConstraintCache
from .protocol import (AnswerDag, Matcher, DecodeError, Grammar, GrammarRejected, RowFailure, Sampling, ScoredText,
                       Unsupported, constraint_of)
from .kv_cache import cache_keyword, new_cache, returned_cache
from .models import has_chat_template, model_prompt

MIN_PREFIX = 16  # shorter shared prefixes are not worth keeping
MAX_DRAFT = 6  # draft tokens per pass: wider passes cost more than the tokens they are likely to save
MAX_LOOSE = 32  # grammars without grounding kept compiled (one per format and label batch in use)
SPARSE = 4096  # greedy picks among at most this many allowed tokens by their ids alone
MAX_RULE_TRIES = 4  # under span rules, how often a pick may be taken back (_ruled_pick)
RULE_DEPTH = 4  # ... and how many of the last picks may be


def unsupported_reason(loaded) -> str | None:
    """Why this loop cannot run the model, or None when it can."""
    model, tok = loaded.model, loaded.tokenizer
    config = getattr(model, "config", None)
    if config is None or not hasattr(model, "forward"):
        return "the model is not a transformers model"
    if getattr(config, "is_encoder_decoder", False):
        return "the model is an encoder-decoder"
    if not hasattr(tok, "backend_tokenizer"):
        return "llguidance needs a fast tokenizer"
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    kinds = set(getattr(text, "layer_types", None) or ["full_attention"])
    if kinds != {"full_attention"}:
        return f"the model has {', '.join(sorted(kinds - {'full_attention'}))} layers"
    return None


class JumpForwardDecoder:
    name = "jump-forward"
    accepts = frozenset({Grammar, AnswerDag})  # a grounded format's answers for its input need no build
    budget: int | None = None  # the format's, per batch
    cache: ConstraintCache | None = None
    remote = False

    def __init__(self, loaded, prefix_cache: bool = True, ragged: bool | None = None, drafts: bool = True,
                 checked_masks: bool = True, early_start: bool | None = None):

        reason = unsupported_reason(loaded)
        if reason:
            raise Unsupported(f"jump-forward decoding cannot run this model: {reason}")
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.lltok = ll_tokenizer_for(self.tokenizer)
        self.chat = has_chat_template(self.tokenizer)
        self.device = next(self.model.parameters()).device
        self.cache_keyword = cache_keyword(self.model)
        self.eos = self.lltok.eos_token
        self.vocab = self.lltok.vocab_size
        pad = self.tokenizer.pad_token_id
        self.pad = pad if pad is not None else self.eos
        self.prefix_cache = prefix_cache
        self.max_draft = MAX_DRAFT if drafts else 0
        self.checked_masks = checked_masks
        # None: on accelerators only. On a CPU the build's own CPU time is spent on the cores the
        # prompt's pass is using, and the first token came no sooner (bench/README.md).
        self.early_start = self.device.type != "cpu" if early_start is None else early_start
        self._loose: OrderedDict[str, LlgMatcher] = OrderedDict()  # grammar text -> compiled matcher
        self._builder: ThreadPoolExecutor | None = None  # the background thread that builds grounded grammars
        # None: ragged batches on an accelerator, one row at a time on a CPU (faster there)
        self.ragged = self.device.type != "cpu" if ragged is None else ragged
        self._prefix: tuple[list[int], list] | None = None  # token ids, per layer (keys, values)
        self.stats = {"passes": 0, "tokens": 0, "forced": 0, "prefix_reused": 0, "max_rows": 0,
                      "drafted": 0, "accepted": 0, "proposed": 0, "refused": 0, "early": 0,
                      "build_wait_s": 0.0, "native": 0, "rule_backtracks": 0}

    # -- prompts ---------------------------------------------------------------------------------
    def prompt_ids(self, prompt: str) -> list[int]:
        """Exactly what the Outlines path feeds: the chat template when the tokenizer has one,
        then the tokenizer's default encoding (special tokens included)."""
        return list(self.tokenizer(model_prompt(self.tokenizer, prompt, self.chat))["input_ids"])

    def _matcher(self, row: int, grammar: Grammar) -> CheckedMatcher:
        # No separate validate_grammar: building the matcher checks the grammar too, with the same
        # message, and checking it first cost another 3-9 ms per input (100-1,000 words).
        m = self._llg(grammar.lark)
        if m.is_error():
            raise GrammarRejected(f"row {row}: llguidance rejected the grammar: {m.get_error()}")
        unbounded = without_length_bounds(grammar.tree) if self.checked_masks and grammar.tree else None
        if unbounded is None:
            return CheckedMatcher(m)
        proposer = self._llg(lark(unbounded))
        return CheckedMatcher(m, None if proposer.is_error() else proposer)

    def _llg(self, text: str) -> LlgMatcher:
        from llguidance import LLMatcher

        return LlgMatcher(new_matcher(self.lltok, LLMatcher.grammar_from_lark(text), log_level=1), self.vocab)

    def _row_matcher(self, row: int, constraint) -> CheckedMatcher:
        """The row's matcher: a DagMatcher for an answer DAG; for a grammar that grounds spans, an
        EarlyStart on the grammar without grounding while the real one is built in the
        background."""
        c = constraint_of(constraint)
        if isinstance(c, AnswerDag):
            self.stats["native"] += 1
            return CheckedMatcher(DagMatcher(c.dag, TokenTable.of(self.lltok)))
        if not isinstance(c, Grammar):
            raise TypeError(f"jump-forward decoding takes grammars and answer DAGs, not {type(c).__name__}")
        loose = without_grounding(c.tree) if self.early_start and c.tree else None
        start = self._loose_copy(lark(loose)) if loose is not None else None
        if start is None:
            return self._matcher(row, c)
        if self._builder is None:
            self._builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="humdsl-grammar")
        self.stats["early"] += 1
        return EarlyStart(start, self._builder.submit(self._matcher, row, c))

    def _loose_copy(self, text: str) -> LlgMatcher | None:
        """A fresh matcher of a grammar without grounding: compiled on first use, then copied."""
        m = self._loose.get(text)
        if m is None:
            m = self._llg(text)
            if m.is_error():
                return None  # the real grammar's own build will say what is wrong
            self._loose[text] = m
            if len(self._loose) > MAX_LOOSE:
                self._loose.popitem(last=False)
        else:
            self._loose.move_to_end(text)
        return m.deep_copy()

    def _resolve(self, matchers: list, names: list[int], gen: Sequence[list[int]], failed: dict[int, str]) -> None:
        """Every early-started row takes its real matcher (waiting for its build if need be); a
        row that has failed already keeps its reason."""
        for r, m in enumerate(matchers):
            if isinstance(m, EarlyStart) and r not in failed:
                t = time.perf_counter()
                try:
                    matchers[r] = m.resolve(gen[r])
                except GrammarRejected:
                    raise
                except DecodeError as e:
                    failed[r] = f"row {names[r]}: {e}"
                self.stats["build_wait_s"] += time.perf_counter() - t

    # -- the loop --------------------------------------------------------------------------------
    def generate(self, prompts: list[str], constraints: Sequence[Any], max_new_tokens: int,
                 sampling: Sampling) -> list[str | RowFailure]:
        """Per prompt, the answer (a ScoredText: with each chosen token's log-probability) or
        why it stopped."""
        import torch

        if len(prompts) != len(constraints):
            raise ValueError("one constraint per prompt")
        matchers = [self._row_matcher(i, c) for i, c in enumerate(constraints)]
        rngs: list = [None] * len(prompts)
        if sampling.temperature > 0:
            # One generator per row from its own seed where the run gives them (a row's sample
            # then depends on neither its batch nor its place in it), else one for the call.
            shared = torch.Generator(device="cpu")
            if sampling.seed is not None:
                shared.manual_seed(sampling.seed)
            else:
                shared.seed()  # a fresh non-deterministic seed; the global generator is left alone
            rngs = [shared] * len(prompts)
            if sampling.row_seeds is not None and len(sampling.row_seeds) == len(prompts):
                rngs = [torch.Generator(device="cpu").manual_seed(seed) for seed in sampling.row_seeds]
        groups = [list(range(len(prompts)))] if self.ragged else [[r] for r in range(len(prompts))]
        out: list[str | RowFailure] = [""] * len(prompts)
        for group in groups:
            texts = self._generate([prompts[r] for r in group], [matchers[r] for r in group], group,
                                   max_new_tokens, sampling, [rngs[r] for r in group])
            for r, text in zip(group, texts):
                out[r] = text
        return out

    def _generate(self, prompts: list[str], matchers: list, names: list[int], max_new_tokens: int,
                  sampling: Sampling, rngs: list) -> list[str | RowFailure]:
        """Decode these rows as one ragged batch; `names` are their rows in the caller's batch.
        A row whose matcher fails ends there as a RowFailure; the others go on."""
        import torch

        ids = [self.prompt_ids(p) for p in prompts]
        gen = [_Answer() for _ in prompts]
        failed: dict[int, str] = {}

        # What each row feeds next: its prompt plus whatever the grammar forces at its start.
        pending: dict[int, list[int]] = {}
        choices: dict[int, list[_Choice]] = {}  # rows under span rules: their last picks, to go back to
        for r, m in enumerate(matchers):
            try:
                if not self._force(names[r], m, gen[r], max_new_tokens):
                    pending[r] = gen[r][:]
            except DecodeError as e:
                failed[r] = str(e)
        with torch.inference_mode():
            rows = [r for r in range(len(prompts)) if r in pending]
            if rows:
                state = self._start([ids[r] for r in rows])
                draft = {r: self._draft(ids[r], gen[r], matchers[r], max_new_tokens) for r in rows}
                feed = {r: ids[r][state.skip:] + pending[r] + draft[r] for r in rows}
                while rows:
                    logits = self._step(state, [feed[r] for r in rows], [len(draft[r]) + 1 for r in rows])
                    self._resolve(matchers, names, gen, failed)  # built while the prompt was read
                    finished = []
                    for i, r in enumerate(rows):
                        if r in failed:  # its real grammar refused what the early start forced
                            finished.append(i)
                            continue
                        try:
                            if _keeps_rules(matchers[r]):
                                done, cached = self._ruled_pick(names[r], matchers[r], logits[i][0], gen[r],
                                                                choices, r, state, i, sampling, rngs[r])
                            else:
                                taken, done, picked = self._advance(names[r], matchers[r], logits[i], draft[r],
                                                                    gen[r], max_new_tokens, sampling, rngs[r])
                                if len(draft[r]) > taken:
                                    state.drop(i, len(draft[r]) - taken)
                                cached = len(gen[r]) - picked  # a pick is not in the cache yet
                            if not done:
                                done = self._force(names[r], matchers[r], gen[r], max_new_tokens)
                        except DecodeError as e:
                            failed[r], done = str(e), True
                        if done:
                            finished.append(i)
                        else:
                            draft[r] = self._draft(ids[r], gen[r], matchers[r], max_new_tokens)
                            feed[r] = gen[r][cached:] + draft[r]  # the pick, its forced run, a draft
                    if finished:
                        keep = [i for i in range(len(rows)) if i not in finished]
                        rows = [rows[i] for i in keep]
                        if rows:
                            state.select(keep)
        self._resolve(matchers, names, gen, failed)  # rows that needed no pass at all
        self.stats["tokens"] += sum(map(len, gen))
        texts = [self.tokenizer.decode(g, skip_special_tokens=True) for g in gen]
        return [RowFailure(failed[r], t) if r in failed else self._scored(t, g)
                for r, (t, g) in enumerate(zip(texts, gen))]

    def _scored(self, text: str, answer: "_Answer") -> ScoredText:
        """The text with its picks placed in it: each token's bytes give its span of characters.
        Where the tokenizer's text is not the bytes' (a tokenizer that cleans up spaces, say),
        the picks cannot be placed and are left out."""
        pieces = [self.lltok.decode_bytes([t]) for t in answer]
        data = b"".join(pieces)
        if data.decode("utf-8", errors="replace") != text:
            return ScoredText(text)
        chars = [0]  # characters before each byte: a byte that starts a character counts one
        for byte in data:
            chars.append(chars[-1] + ((byte & 0xC0) != 0x80))
        picks, at = [], 0
        for piece, lp in zip(pieces, answer.lp):
            if lp is not None:  # a token that ends a character begun before it holds that character too
                start = chars[at] - (at < len(data) and (data[at] & 0xC0) == 0x80)
                picks.append((start, chars[at + len(piece)], round(lp, 6)))
            at += len(piece)
        return ScoredText(text, picks)

    def _advance(self, row: int, m, logits, draft: list[int], gen: "_Answer", budget: int,
                 sampling: Sampling, rng) -> tuple[int, bool, bool]:
        """Pick the next tokens from one pass's logits (one row per draft token, plus one): keep
        each draft token while it is the pick, then the first pick that differs (or follows the
        whole draft). Returns how many draft tokens were kept, whether the row is finished, and
        whether the answer ends with a pick (which the next pass must feed). A kept draft token
        after which the grammar forces tokens that the draft does not hold ends the picking
        there, with no pick, so forced runs are fed as in the loop without drafts."""
        self.stats["drafted"] += len(draft)
        i = 0
        while True:
            t, lp = self._choose(row, m, logits[i], len(gen), sampling, rng)
            if t == self.eos:
                return i, True, False
            self._take_pick(row, m, gen, t, lp)
            if i == len(draft) or t != draft[i]:
                return i, False, True
            i += 1
            self.stats["accepted"] += 1
            if m.is_stopped() or len(gen) >= budget:
                return i, True, False
            while forced := m.compute_ff_tokens():
                if draft[i:i + len(forced)] != forced:
                    return i, False, False  # _force feeds the run next
                self._take_forced(row, m, gen, forced)
                self.stats["accepted"] += len(forced)
                i += len(forced)
                if m.is_stopped() or len(gen) >= budget:
                    return i, True, False

    def _ruled_pick(self, row: int, m, logits, gen: "_Answer", choices: dict, r: int, state: "_Batch", i: int,
                    sampling: Sampling, rng) -> tuple[bool, int]:
        """A pick under span rules (a DagMatcher on a RuledDag), one per pass. First the last
        picks are weighed against what the model now shows it wanted: if most of its probability
        here goes to what the rules closed (a repeat, an overlap, a span out of order), the pick
        that led here was for that, so the decoder goes back to it and takes the next best token
        there instead (closing the list, typically, where the model would have written the same
        item again). Greedy: back when logit(pick) + log(ruled mass / grammar mass) falls below
        the runner-up's logit; sampling: back with probability 1 - that ratio. A pick with no
        other token allowed is passed over for the one before it; one whose tries are used up
        (MAX_RULE_TRIES) is given up, and the one before it is taken back. Returns (finished,
        how many of the answer's tokens the cache holds)."""
        import torch

        exact = m.exact
        logits = logits.float().cpu()[:min(self.vocab, logits.shape[-1])]  # a model may have more rows than tokens
        stack = choices.setdefault(r, [])
        back = self._back_to(exact, logits, stack, sampling, rng) if stack else None
        if back is not None:
            level = back
            self.stats["rule_backtracks"] += 1
            state.drop(i, len(gen) - level.at)  # the cache holds the whole answer so far
            exact.restore(level.state)
            gen.cut(level.at)
            level.banned.add(level.pick)
            level.tries += 1
            others = level.logits.clone()
            others[torch.tensor(sorted(level.banned))] = float("-inf")
            # the sampling's own rules; its probability still the model's, over what the rules allow
            level.pick, lp = self._scored_pick(row, exact, others, len(gen), sampling, rng, level.logits)
            if level.pick == self.eos:
                return True, level.at
            self._take_pick(row, m, gen, level.pick, lp)
            return m.is_stopped(), level.at
        state_before, at = exact.snapshot(), len(gen)
        t, lp = self._choose(row, m, logits, len(gen), sampling, rng)
        if t == self.eos:
            return True, at
        stack.append(_Choice(state_before, at, logits, t))
        del stack[:-RULE_DEPTH]
        self._take_pick(row, m, gen, t, lp)
        return m.is_stopped(), at

    def _back_to(self, exact: DagMatcher, logits, stack: list, sampling: Sampling, rng):
        """The pick to take back and the tokens left to take there, or None (see _ruled_pick)."""
        import torch

        ratio = _ruled_share(exact, logits / sampling.temperature if sampling.temperature > 0 else logits)
        if ratio >= 1.0:
            return None
        given_up = False  # a later pick's tries were used up: the one before it goes back whatever it weighs
        here = exact.snapshot()
        try:
            while stack:
                level = stack[-1]
                exact.restore(level.state)
                allowed = torch.from_numpy(exact.allowed_mask()[:logits.shape[-1]].copy())
                allowed[list(level.banned | {level.pick})] = False
                if not allowed.any() or level.tries >= MAX_RULE_TRIES:
                    given_up = given_up or bool(allowed.any())
                    stack.pop()
                    continue
                if given_up:
                    return level
                if sampling.temperature <= 0:
                    best = float(level.logits.masked_fill(~allowed, float("-inf")).max())
                    wanted = float(level.logits[level.pick]) + float(np.log(max(ratio, 1e-30))) < best
                else:
                    wanted = float(torch.rand(1, generator=rng)) >= ratio
                return level if wanted else None
            return None
        finally:
            exact.restore(here)

    def _take_pick(self, row: int, m, gen: "_Answer", t: int, lp: float) -> None:
        if not m.consume_token(t) or m.is_error():
            raise DecodeError(f"row {row}: the grammar refused token {t} after {len(gen)} tokens: {m.get_error()}")
        gen.pick(t, lp)

    def _draft(self, prompt: list[int], gen: list[int], m, budget: int) -> list[int]:
        """Prompt lookup: the tokens that followed the latest earlier occurrence of the last three
        (else two, else one) tokens of prompt + answer, cut to what the grammar accepts and to the
        budget (one token is left for the pick after the draft). None under span rules, whose
        picks are weighed one pass at a time (_ruled_pick)."""
        room = min(self.max_draft, budget - len(gen) - 1)
        if room <= 0 or m.is_stopped() or _keeps_rules(m):
            return []
        context = prompt + gen
        packed = array("i", context).tobytes()  # searched in C: inputs can be long documents
        for n in (3, 2, 1):
            if len(context) <= n:
                continue
            tail = packed[-4 * n:]
            limit = len(packed) - 4  # an occurrence must end before the last token
            tries = 0
            while tries < 4:
                at = packed.rfind(tail, 0, limit)
                if at < 0:
                    break
                limit = at + 4 * n - 1
                if at % 4:
                    continue  # straddles two tokens
                tries += 1
                first = at // 4 + n
                found = context[first:first + room]
                ok = m.validate_tokens(found) if found else 0
                if ok:
                    return found[:ok]
        return []

    def _force(self, row: int, m, gen: "_Answer", budget: int) -> bool:
        """Append the forced tokens (never past the budget); True when the row is finished."""
        while len(gen) < budget and not m.is_stopped():
            forced = m.compute_ff_tokens()[: budget - len(gen)]
            if not forced:
                break
            self._take_forced(row, m, gen, forced)
        if m.is_error():
            raise DecodeError(f"row {row}: the matcher failed after {len(gen)} tokens: {m.get_error()}")
        return len(gen) >= budget or m.is_stopped()

    def _take_forced(self, row: int, m, gen: "_Answer", forced: list[int]) -> None:
        if not m.consume_tokens(forced) or m.is_error():
            raise DecodeError(f"row {row}: the grammar refused its own forced tokens after "
                              f"{len(gen)} tokens: {m.get_error()}")
        gen.force(forced)
        self.stats["forced"] += len(forced)

    def _choose(self, row, m: CheckedMatcher, logits, done: int, sampling: Sampling, rng) -> tuple[int, float]:
        """The masked argmax (or sample) and its log-probability; the mask from the proposer
        where there is one and the sampling allows it, the pick then checked with the exact
        matcher (checked.py)."""
        logits = logits.float().cpu()  # masks and sampling on the CPU, whatever the model's device
        if m.proposer is not None and (sampling.temperature <= 0 or sampling.top_p >= 1.0):
            self.stats["proposed"] += 1
            try:
                t, lp = self._scored_pick(row, m.proposer, logits, done, sampling, rng)
            except DecodeError:  # the proposer's own failure (lexer fuel, say): go on without it
                m.proposer, t = None, None
            if t is not None and m.allows(t):
                return t, lp
            self.stats["refused"] += 1
        return self._scored_pick(row, m.exact, logits, done, sampling, rng)

    def _allowed(self, row, m: Matcher, done: int):
        """The mask: a numpy boolean per token of the vocabulary."""
        mask = m.allowed_mask()
        if m.is_error():
            raise DecodeError(f"row {row}: the matcher failed after {done} tokens: {m.get_error()}")
        return mask

    def _scored_pick(self, row, m, logits, done: int, sampling: Sampling, rng, model_logits=None) -> tuple[int, float]:
        """The masked argmax, or a masked sample, and the log-probability the model gives it
        among the allowed tokens (from `model_logits` where `logits` have had picks struck out).
        Where few tokens are allowed, greedy looks at those alone: on this CPU a masked copy of
        49k logits and its argmax took 0.3 ms, against 0.01 ms for a few ids (the lowest id wins
        a tie either way)."""
        import numpy as np
        import torch

        own = logits if model_logits is None else model_logits
        n = min(self.vocab, logits.shape[-1])
        allowed = self._allowed(row, m, done)[:n]
        count = int(np.count_nonzero(allowed))
        if not count:
            raise DecodeError(f"row {row}: the grammar allows no next token after {done} tokens")
        if sampling.temperature <= 0 and count <= SPARSE:
            ids = torch.from_numpy(np.flatnonzero(allowed))
            t = int(ids[logits[ids].argmax()])
            return t, float(own[t] - torch.logsumexp(own[ids], -1))
        scores = torch.full_like(logits, float("-inf"))
        scores[:n] = logits[:n].masked_fill(~torch.from_numpy(allowed), float("-inf"))
        mask = torch.from_numpy(allowed)

        def scored(t: int) -> tuple[int, float]:
            return t, float(own[t] - torch.logsumexp(own[:n][mask], -1))

        if sampling.temperature <= 0:
            return scored(int(scores.argmax()))
        scores = scores / sampling.temperature
        if sampling.top_p < 1.0:
            ordered, order = scores.sort(descending=True)
            cum = ordered.softmax(-1).cumsum(-1)
            drop = cum - ordered.softmax(-1) >= sampling.top_p  # keep the smallest set reaching top_p
            drop[0] = False
            scores[order[drop]] = float("-inf")
        probs = scores.softmax(-1)
        return scored(int(torch.multinomial(probs, 1, generator=rng)))

    # -- the KV cache ----------------------------------------------------------------------------
    def _start(self, ids: list[list[int]]) -> "_Batch":
        """A batch state whose cache already holds the shared prompt prefix where there is one."""
        batch = _Batch(self, len(ids))
        if not self.prefix_cache:
            return batch
        shortest = min(map(len, ids)) - 1  # every row feeds at least one token of its own
        common = _common(ids) if len(ids) > 1 else ids[0][:shortest]
        if self._prefix is not None:
            kept = _common([self._prefix[0], *ids])
            if len(kept) >= MIN_PREFIX:
                common = kept
            elif len(common) < MIN_PREFIX:
                common = []  # nothing shared with the last prompts; keep the old prefix
        common = common[:shortest]
        if len(common) < MIN_PREFIX:
            return batch
        if self._prefix is None or len(_common([self._prefix[0], common])) < len(common):
            one = _Batch(self, 1)  # compute the prefix once, alone
            one.step([common])
            self._prefix = (common, [(layer.keys, layer.values) for layer in one.cache.layers])
        else:
            self.stats["prefix_reused"] += len(ids)
        n = len(common)
        if n < len(self._prefix[0]):  # narrow the kept prefix to what these prompts share
            self._prefix = (self._prefix[0][:n], [(k[:, :, :n], v[:, :, :n]) for k, v in self._prefix[1]])
        batch.load(self._prefix[1], n)
        return batch

    def _step(self, state: "_Batch", chunks: list[list[int]], tails: list[int]):
        return state.step(chunks, tails)


class _Batch:
    """The KV cache, attention mask and positions of the rows still decoding."""

    def __init__(self, dec: JumpForwardDecoder, rows: int):
        import torch

        self.dec = dec
        self.cache = new_cache()
        self.mask = torch.zeros((rows, 0), dtype=torch.long, device=dec.device)
        self.pos = torch.zeros(rows, dtype=torch.long, device=dec.device)
        self.skip = 0
        self.cols: list[list[int]] = [[] for _ in range(rows)]  # each row's real tokens, as cache columns

    def load(self, layers, n: int) -> None:
        rows = self.mask.shape[0]
        self.cache = new_cache([(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in layers])
        self.mask = self.mask.new_ones((rows, n))
        self.pos = self.pos + n
        self.skip = n
        self.cols = [list(range(n)) for _ in range(rows)]

    def step(self, chunks: list[list[int]], tails: list[int] | None = None):
        """One forward pass: each row's chunk, right-padded. Returns, per row, the logits after
        each of its last `tails[i]` real tokens (none when `tails` is None)."""
        import torch

        dec = self.dec
        width = max(map(len, chunks))
        lens = torch.tensor([len(c) for c in chunks], device=dec.device)
        ids = torch.full((len(chunks), width), dec.pad, dtype=torch.long, device=dec.device)
        for i, c in enumerate(chunks):
            ids[i, :len(c)] = torch.tensor(c, dtype=torch.long)
        real = torch.arange(width, device=dec.device).unsqueeze(0) < lens.unsqueeze(1)
        self.mask = torch.cat([self.mask, real.long()], dim=1)
        self.ends = [self.mask.shape[1] - width + len(c) for c in chunks]
        for i, c in enumerate(chunks):
            self.cols[i].extend(range(self.ends[i] - len(c), self.ends[i]))
        positions = self.pos.unsqueeze(1) + torch.arange(width, device=dec.device).unsqueeze(0)
        self.pos = self.pos + lens
        # Logits only at the positions some row needs. A 1-D tensor: the per-row 2-D form is read
        # as such only by newer transformers (older ones index every row with every position, and
        # each row got the last row's logits).
        wanted = None
        keep: Any = 1  # the last position's logits, or these positions'
        if tails is not None:
            wanted = [list(range(len(c) - k, len(c))) for c, k in zip(chunks, tails)]
            keep = torch.tensor(sorted({p for w in wanted for p in w}), device=dec.device)
        with _native_gqa(dec.device):
            out = dec.model(input_ids=ids, attention_mask=self.mask, position_ids=positions,
                            use_cache=True, logits_to_keep=keep, **{dec.cache_keyword: self.cache})
        self.cache = returned_cache(out)
        dec.stats["passes"] += 1
        dec.stats["max_rows"] = max(dec.stats["max_rows"], len(chunks))
        if wanted is None:
            return None
        kept = out.logits.shape[1] == len(keep)  # else the model gave every position's logits
        rows = []
        for i, w in enumerate(wanted):
            at = torch.searchsorted(keep, torch.tensor(w, device=dec.device)) if kept else torch.tensor(w)
            rows.append(out.logits[i, at].float())
        return rows

    def drop(self, i: int, n: int) -> None:
        """Forget row i's last n fed tokens (rejected draft tokens, picks taken back, from this
        pass or earlier ones): cut off from the cache when it is the only row, else hidden as
        holes like padding."""
        if n <= 0:
            return
        self.pos[i] -= n
        gone = self.cols[i][-n:]
        del self.cols[i][-n:]
        width = self.mask.shape[1]
        if self.mask.shape[0] == 1 and gone == list(range(width - n, width)):  # the cache's last columns
            self.cache.crop(-n)  # a negative count removes, in every cache API this runs on
            self.mask = self.mask[:, :width - n]
        else:  # among other rows' padding (a row left alone after a batch keeps its holes)
            self.mask[i, gone] = 0

    def select(self, keep: list[int]) -> None:
        import torch

        idx = torch.tensor(keep, dtype=torch.long, device=self.mask.device)
        for layer in self.cache.layers:
            layer.batch_select_indices(idx)
        self.mask = self.mask[idx]
        self.pos = self.pos[idx]
        self.cols = [self.cols[k] for k in keep]


# Whether the passes of this thread (this context) run grouped-query attention natively.
_NATIVE_GQA: ContextVar[bool] = ContextVar("humdsl_native_gqa", default=False)


def _gqa_switch_installed() -> bool:
    """transformers decides per attention call whether torch runs grouped-query attention itself
    (`use_gqa_in_sdpa`, read by name on each call); wrapped once so that it also says yes where
    this decoder's context asks. False where this transformers makes no such decision."""
    try:
        from transformers.integrations import sdpa_attention
    except ImportError:
        return False
    decide = getattr(sdpa_attention, "use_gqa_in_sdpa", None)
    if decide is None:
        return False
    if not getattr(decide, "humdsl_wrapped", False):
        def use_gqa_in_sdpa(*args, **kwargs):
            return _NATIVE_GQA.get() or decide(*args, **kwargs)

        use_gqa_in_sdpa.humdsl_wrapped = True  # type: ignore[attr-defined]
        sdpa_attention.use_gqa_in_sdpa = use_gqa_in_sdpa
    return True


@contextmanager
def _native_gqa(device):
    """On a CPU, torch's attention runs grouped-query attention under a mask natively, but
    transformers uses that only without a mask and otherwise first copies each key/value head
    once per query head (`repeat_kv`): 9 ms of a two-token pass on SmolLM2 at a 900-token cache.
    Native attention is asked for only around this decoder's passes, in its own thread (a context
    variable, not the process's environment, so that no other thread's model is affected), and
    not on accelerators (where a mask with GQA can fall back to a slow kernel)."""
    if device.type != "cpu" or not _gqa_switch_installed():
        yield
        return
    token = _NATIVE_GQA.set(True)
    try:
        yield
    finally:
        _NATIVE_GQA.reset(token)


class _Answer(list):
    """A row's answer tokens, and the log-probability of each the decoder chose (None: forced)."""

    def __init__(self):
        super().__init__()
        self.lp: list[float | None] = []

    def pick(self, t: int, lp: float | None) -> None:
        self.append(t)
        self.lp.append(lp)

    def force(self, tokens: list[int]) -> None:
        self.extend(tokens)
        self.lp.extend([None] * len(tokens))

    def cut(self, n: int) -> None:
        del self[n:]
        del self.lp[n:]


class _Choice:
    """A pick under span rules: the matcher's state and the answer's length before it, the
    logits it was made from, and the tokens tried there."""
    __slots__ = ("state", "at", "logits", "pick", "banned", "tries")

    def __init__(self, state: tuple, at: int, logits, pick: int):
        self.state, self.at, self.logits, self.pick = state, at, logits, pick
        self.banned: set[int] = set()
        self.tries = 0


def _keeps_rules(m) -> bool:
    return isinstance(getattr(m, "exact", None), DagMatcher) and m.exact.keeps_rules


def _ruled_share(exact: DagMatcher, logits) -> float:
    """The model's probability for what the rules allow here, as a share of what the grammar
    allows (1.0 where the two are the same)."""
    import torch

    ruled, plain = exact.allowed_mask(), exact.plain_mask()
    n = logits.shape[-1]
    ruled, plain = ruled[:n], plain[:n]
    if (ruled == plain).all() or not plain.any():
        return 1.0
    both = torch.logsumexp(logits[torch.from_numpy(plain)], -1)
    return float(torch.exp(torch.logsumexp(logits[torch.from_numpy(ruled)], -1) - both)) if ruled.any() else 0.0


def _common(seqs: list[list[int]]) -> list[int]:
    first = seqs[0]
    n = min(map(len, seqs))
    for i in range(n):
        t = first[i]
        if any(s[i] != t for s in seqs[1:]):
            return first[:i]
    return first[:n]
