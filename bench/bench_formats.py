"""Constraint speed for compiled formats, against what a user would do instead, in one run.

    python bench/bench_formats.py [--out bench/results/formats.json] [--quick]

Measured with the real GPT-2 and SmolLM2 tokenizers (../shared/tokenizers):

A. per-input constraint build for grounded spans, on 100-, 300- and 1,000-word inputs:
   humdsl's grammar text, llguidance compile and matcher, and the first mask; for the inline
   every format also what the jump-forward decoder builds instead (`<format>_native`: the
   input's LiteralDag and a DagMatcher, to the first mask after the forced tokens); the qa
   formats (specs/qa.hum) and, at 1,000 words, the relation and event formats (conll04, phee)
   both ways, to the first mask after the forced tokens;
B. per-token mask time under each format, beside the forward pass of a small random model with
   the same vocabulary (unconstrained decoding is the forward pass alone);
C. time to first token for one input: humdsl vs Outlines with a hand-written Pydantic model on
   its default backend (outlines_core) and on xgrammar, where installed.

Targets (issue 3): build under 10 ms at 1,000 words; mask under 0.2 ms per token at a 50k
vocabulary; time to first token at least 10x better than the default-backend baseline.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from _common import median_ms  # noqa: E402
SHARED = ROOT.parent / "shared"
TOKENIZERS = {"gpt2": SHARED / "tokenizers" / "gpt2", "smollm2": SHARED / "tokenizers" / "smollm2-135m-instruct"}


def words_of_text(n: int) -> str:
    """n words of real newswire from the CoNLL-2003 dev set when it is here, else generated."""
    path = SHARED / "data" / "conll2003" / "eng.testa"
    words: list[str] = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                words.append(line.split()[0])
            if len(words) >= n:
                break
    while len(words) < n:
        words += f"Officials in Lisbon said Maria Costa of Northwind Bank met {len(words)} reporters .".split()
    return " ".join(words[:n])


def mask_ms(fmt, source: str, lltok, rng, runs: int, checked: bool = False) -> tuple[float, float]:
    """Median and 99th percentile of the mask time per token (ms), decoding under the format's
    grammar with random logits for `runs` answers of at most 200 tokens. `checked`: what the
    jump-forward decoder does where the grammar bounds free text (runtime/checked.py): the mask
    of the grammar without length bounds, the pick checked with the exact grammar, and the
    exact mask only when the check refuses it: all of that is timed, with the proposer's own step
    (the exact matcher's step is not, either way, nor the pick itself)."""
    import numpy as np

    from humdsl import constraints
    from humdsl.formats.grammar_tree import lark, without_length_bounds
    from humdsl.runtime.checked import CheckedMatcher

    tree = fmt.grammar_tree(source=source)
    grammar = constraints.validate(lark(tree), lltok)
    lifted = without_length_bounds(tree) if checked else None
    loose = constraints.validate(lark(lifted), lltok) if lifted else grammar

    def pick(mask):  # not timed: the decoder picks on the logits, as unconstrained decoding does
        bits = np.unpackbits(np.frombuffer(bytes(mask), dtype=np.uint8), bitorder="little")[:lltok.vocab_size]
        allowed = np.flatnonzero(bits)
        return int(allowed[rng.integers(len(allowed))])

    def timed(fn, *args):
        t = time.perf_counter()
        out = fn(*args)
        return out, time.perf_counter() - t

    per_token = []
    for _ in range(runs):
        m = CheckedMatcher(constraints.new_matcher(lltok, grammar),
                           constraints.new_matcher(lltok, loose) if loose != grammar else None)
        steps = 0
        while steps < 200 and not m.is_stopped():
            if m.proposer is not None:
                mask, spent = timed(m.proposer.compute_bitmask)
                tok = pick(mask)
                ok, took = timed(m.allows, tok)
                spent += took
                if not ok:
                    mask, took = timed(m.exact.compute_bitmask)
                    tok, spent = pick(mask), spent + took
            else:
                mask, spent = timed(m.exact.compute_bitmask)
                tok = pick(mask)
            if tok != lltok.eos_token:
                m.exact.consume_token(tok)  # both ways
                if m.proposer is not None:  # the proposer's step is work that checking adds
                    spent += timed(m.proposer.consume_token, tok)[1]
            per_token.append(spent * 1000)
            if tok == lltok.eos_token:
                break
            steps += 1
    return round(statistics.median(per_token), 4), round(float(np.percentile(per_token, 99)), 3)


def cold() -> None:
    """Forget what an earlier build of the same input kept (its chunks and span ends), so that
    every build is timed as for a new input."""
    from humdsl.formats.inline import _span_ends
    from humdsl.formats.span_chains import _stops_of
    from humdsl.formats.spans import chunk_bounds

    _span_ends.cache_clear()
    chunk_bounds.cache_clear()
    _stops_of.cache_clear()


def first_mask(fmt, way: str, source: str, lltok) -> None:
    """Build the input's constraint, take the tokens it forces at the start, compute the first
    mask: what the jump-forward decoder does before its first pick, on llguidance or natively."""
    from llguidance import LLMatcher

    from humdsl import constraints
    from humdsl.runtime.dag_matcher import DagMatcher, TokenTable

    cold()
    if way == "native":
        m = DagMatcher(fmt.language(source=source), TokenTable.of(lltok))
    else:
        m = constraints.new_matcher(lltok, LLMatcher.grammar_from_lark(fmt.grammar(source=source)))
    while forced := m.compute_ff_tokens():
        m.consume_tokens(forced)
    m.allowed_mask() if way == "native" else m.compute_bitmask()


def native_mask_ms(fmt, source: str, lltok, rng, runs: int) -> tuple[float, float]:
    """As mask_ms, for a format decoded on its LiteralDag (runtime/dag_matcher.py), as
    the jump-forward decoder does: forced tokens taken, then the mask (a boolean per token) timed."""
    import numpy as np

    from humdsl.runtime.dag_matcher import DagMatcher, TokenTable

    table, per_token = TokenTable.of(lltok), []
    for _ in range(runs):
        m, steps = DagMatcher(fmt.language(source=source), table), 0
        while steps < 200 and not m.is_stopped():
            forced = m.compute_ff_tokens()
            if forced:
                m.consume_tokens(forced)
                continue
            t = time.perf_counter()
            allowed = m.allowed_mask()
            per_token.append((time.perf_counter() - t) * 1000)
            ids = np.flatnonzero(allowed)
            tok = int(ids[rng.integers(len(ids))])
            if tok == lltok.eos_token:
                break
            m.consume_token(tok)
            steps += 1
    return round(statistics.median(per_token), 4), round(float(np.percentile(per_token, 99)), 3)


def answer_ms(fmt, source: str, lltok, hf, entities: int = 40) -> dict:
    """One long answer (`entities` entities of the input) read token by token as the decoder
    reads it (forced tokens taken, a mask before every other token), on llguidance and natively:
    the build, then all the steps, in ms."""
    from llguidance.torch import allocate_token_bitmask, fill_next_token_bitmask

    from humdsl import constraints
    from humdsl.runtime.dag_matcher import DagMatcher, TokenTable

    words = list(dict.fromkeys(w for w in source.split() if w.isalpha() and w[0].isupper()))[:entities]
    ids = hf.encode(fmt.render({"entities": [{"type": "PER", "text": w} for w in words]}, source=source),
                    add_special_tokens=False)
    bitmask = allocate_token_bitmask(1, lltok.vocab_size)
    out = {"tokens": len(ids)}
    for way in ("llguidance", "native"):
        cold()
        start = time.perf_counter()
        m = DagMatcher(fmt.language(source=source), TokenTable.of(lltok)) if way == "native" else \
            constraints.new_matcher(lltok, fmt.grammar(source=source))
        built, i = time.perf_counter(), 0
        while i < len(ids):
            forced = m.compute_ff_tokens()
            if forced:
                m.consume_tokens(forced)
                i += len(forced)
                continue
            m.allowed_tokens() if way == "native" else fill_next_token_bitmask(m, bitmask, 0)
            m.consume_token(ids[i])
            i += 1
        out[way] = {"build_ms": round((built - start) * 1000, 2),
                    "steps_ms": round((time.perf_counter() - built) * 1000, 2)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "formats.json"))
    ap.add_argument("--quick", action="store_true", help="fewer repeats; skip the slow baselines")
    args = ap.parse_args()
    missing = [str(p) for p in TOKENIZERS.values() if not p.exists()]
    if missing:
        raise SystemExit(f"the real tokenizers are not here ({missing}): this benchmark needs ../shared")

    import numpy as np
    import torch
    from llguidance import LLMatcher
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    import humdsl
    from humdsl import constraints
    from humdsl.formats import build
    from humdsl.runtime.dag_matcher import TokenTable
    from humdsl.runtime.kv_cache import cache_keyword, returned_cache

    ir = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03").ir
    formats = {f["name"]: build(ir, f) for f in ir["formats"]}
    squad = humdsl.load(ROOT / "specs" / "qa.hum").task("squad").ir
    qa_formats = {f["name"]: build(squad, f) for f in squad["formats"]}
    carb = humdsl.load(ROOT / "specs" / "openie.hum").task("carb").ir
    openie = {f["name"]: build(carb, f) for f in carb["formats"]}
    openie_source = carb["examples"][0]["input"]["text"]
    conll04 = humdsl.load(ROOT / "specs" / "relations.hum").task("conll04").ir
    phee = humdsl.load(ROOT / "specs" / "events.hum").task("phee").ir
    others = {f"{task['name']}_{f['name']}": build(task, f) for task in (conll04, phee, carb)
              for f in task["formats"]}
    repeat = 5 if args.quick else 20
    results: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                 "platform": platform.platform()},
                     "task": "specs/ner.hum conll03 (4 labels, grounded, max_items 40)"}

    for tok_name, tok_dir in TOKENIZERS.items():
        hf = PreTrainedTokenizerFast(tokenizer_file=str(tok_dir / "tokenizer.json"))
        if hf.eos_token is None:
            hf.eos_token = hf.convert_ids_to_tokens(0)
        lltok = constraints.ll_tokenizer(hf)
        vocab = lltok.vocab_size
        section = {"vocab": vocab, "build_ms": {}, "mask_ms_per_token": {}}
        # once per tokenizer (a decoder keeps it): the vocabulary's bytes for inline decoding
        section["token_table_ms"] = median_ms(lambda: TokenTable(lltok), 3)

        # A. per-input build: grammar text + llguidance compile + matcher + first mask
        for n in (100, 300, 1000):
            source = words_of_text(n)
            row = {}
            for name, fmt in formats.items():
                def build_once(fmt=fmt, source=source):
                    cold()
                    g = LLMatcher.grammar_from_lark(fmt.grammar(source=source))
                    m = constraints.new_matcher(lltok, g)
                    m.compute_bitmask()
                row[name] = median_ms(build_once, repeat if name != "tagged" else max(3, repeat // 4))

            for name, fmt in formats.items():  # the input's LiteralDag and a DagMatcher, to the first mask
                fmt.skeleton()  # once per format and label batch, kept by the decoder's Format
                row[f"{name}_native"] = median_ms(
                    lambda fmt=fmt, source=source: first_mask(fmt, "native", source, lltok), repeat)
            section["build_ms"][f"{n}_words"] = row
            if n == 1000:  # the relation, event and open IE formats, both ways, to the first mask
                section["other_build_ms_1000_words"] = {
                    f"{name}_{way}": median_ms(lambda fmt=fmt, way=way: first_mask(fmt, way, source, lltok), repeat)
                    for name, fmt in others.items() for way in ("llguidance", "native")}
            # the qa formats, to the first mask the decoder asks for (after the forced tokens), on
            # the grammar and on the input's LiteralDag
            section.setdefault("qa_build_ms", {})[f"{n}_words"] = {
                f"{name}_{way}": median_ms(lambda fmt=fmt, way=way, source=source: first_mask(fmt, way, source, lltok),
                                           repeat)
                for name, fmt in qa_formats.items() for way in ("llguidance", "native")}

        # a long answer (40 entities of a 1,000-word input) read through, both ways, best of 3
        long_source = words_of_text(1000)
        section["answer_40_entities_1000_words"] = {
            name: min((answer_ms(fmt, long_source, lltok, hf) for _ in range(3)),
                      key=lambda r: r["native"]["steps_ms"] + r["llguidance"]["steps_ms"])
            for name, fmt in formats.items() if name != "tagged"}

        # B. mask time per token while decoding with random logits, and a forward pass
        source = words_of_text(300)
        rng = np.random.default_rng(0)
        for name, fmt in formats.items():
            section["mask_ms_per_token"][name], section.setdefault("mask_p99_ms", {})[name] = \
                mask_ms(fmt, source, lltok, rng, 3 if args.quick else 10)
        for name, fmt in formats.items():  # median, and p99: a span's first mask walks every start
            section["mask_ms_per_token"][f"{name}_native"], section.setdefault("native_mask_p99_ms", {})[name] = \
                native_mask_ms(fmt, source, lltok, rng, 3 if args.quick else 10)
        for name, fmt in qa_formats.items():
            section["mask_ms_per_token"][f"{name}_llguidance"] = mask_ms(fmt, source, lltok, rng,
                                                                        5 if args.quick else 20)[0]
            section["mask_ms_per_token"][f"{name}_native"] = native_mask_ms(fmt, source, lltok, rng,
                                                                           5 if args.quick else 20)[0]
        # the same for formats with a free-text hole (open IE's relation phrase: up to 200
        # characters of any text, a bound llguidance's lexer meets anew at every position)
        section["free_text_mask_ms_per_token"] = {
            name: dict(zip(("median", "p99"), mask_ms(fmt, openie_source, lltok, np.random.default_rng(1),
                                                      5 if args.quick else 20)))
            for name, fmt in openie.items()}
        # natively (humc run's default): the free text's masks read the vocabulary at once
        # (runtime/free_masks.py); the p99 holds the first mask at each machine state, which runs
        # the vocabulary through it once per process
        section["free_text_native_mask_ms_per_token"] = {
            name: dict(zip(("median", "p99"), native_mask_ms(fmt, openie_source, lltok, np.random.default_rng(1),
                                                             5 if args.quick else 20)))
            for name, fmt in openie.items()}
        # the same answers' steps on the grammar, as the jump-forward decoder took them before:
        # the mask of the grammar without length bounds, each pick checked with the exact
        # grammar (runtime/checked.py; still what --reason and records' free strings use)
        section["free_text_checked_mask_ms_per_token"] = {
            name: dict(zip(("median", "p99"), mask_ms(fmt, openie_source, lltok, np.random.default_rng(1),
                                                      5 if args.quick else 20, checked=True)))
            for name, fmt in openie.items()}
        torch.manual_seed(0)
        cfg = LlamaConfig(vocab_size=vocab, hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                          num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=True)
        model = LlamaForCausalLM(cfg).eval()
        with torch.no_grad():
            ids = torch.tensor([hf.encode(source)[:160]])
            out = model(ids, use_cache=True)
            past = returned_cache(out)
            nxt = torch.tensor([[5]])

            def step():
                model(nxt, use_cache=True, **{cache_keyword(model): past})
                past.crop(-1)  # drop the step again: every call sees the same cache
            section["forward_ms_per_token_random_llama_12M"] = median_ms(step, 30)
        section["mask_share_of_forward"] = {k: round(v / section["forward_ms_per_token_random_llama_12M"], 3)
                                            for k, v in section["mask_ms_per_token"].items()}
        results[tok_name] = section

    # C. time to first token: humdsl vs Outlines + a hand-written Pydantic model
    results["time_to_first_token_ms"] = ttft(ir, formats, args.quick)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


def ttft(ir, formats, quick: bool) -> dict:
    """One 100-word input, SmolLM2 vocabulary, a small random model: from having the input to
    having the first token's constrained distribution."""
    import outlines
    import torch
    from llguidance import LLMatcher
    from pydantic import BaseModel, Field
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from humdsl import constraints
    from humdsl.runtime.dag_matcher import DagMatcher, TokenTable

    hf = PreTrainedTokenizerFast(tokenizer_file=str(TOKENIZERS["smollm2"] / "tokenizer.json"))
    hf.eos_token = hf.eos_token or hf.convert_ids_to_tokens(0)
    hf.pad_token = hf.pad_token or hf.eos_token
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(hf), hidden_size=64, intermediate_size=128,
                                         num_hidden_layers=2, num_attention_heads=4,
                                         num_key_value_heads=4, tie_word_embeddings=True)).eval()
    source = words_of_text(100)
    prompt = "Extract the named entities.\nText: " + source + "\nAnswer:"
    out: dict = {}
    lltok = constraints.ll_tokenizer(hf)  # built once per model, like the backends below

    def ours():
        g = LLMatcher.grammar_from_lark(formats["json_by_label"].grammar(source=source))
        m = constraints.new_matcher(lltok, g)
        with torch.no_grad():
            logits = model(torch.tensor([hf.encode(prompt)])).logits[0, -1]
        m.compute_bitmask()
        return logits
    out["humdsl_json_by_label_grounded"] = median_ms(ours, 5)
    table = TokenTable.of(lltok)  # built once per model, as the decoder does

    def ours_native():  # what humc run's default decoder does: no grammar to compile
        m = DagMatcher(formats["json_by_label"].language(source=source), table)
        with torch.no_grad():
            logits = model(torch.tensor([hf.encode(prompt)])).logits[0, -1]
        while forced := m.compute_ff_tokens():
            m.consume_tokens(forced)
        m.allowed_tokens()
        return logits
    formats["json_by_label"].skeleton()
    out["humdsl_json_by_label_native"] = median_ms(ours_native, 5)

    class NER(BaseModel):  # what a user writes by hand: bounded, but not grounded in the input
        PER: list[str] = Field(max_length=5)
        ORG: list[str] = Field(max_length=5)
        LOC: list[str] = Field(max_length=5)
        MISC: list[str] = Field(max_length=5)

    om = outlines.from_transformers(model, hf)
    for backend in ("outlines_core", "xgrammar"):
        try:
            if backend == "xgrammar":
                import xgrammar  # noqa: F401
        except ImportError:
            out[f"outlines_pydantic_{backend}"] = "not installed"
            continue
        if quick and backend == "outlines_core":
            out[f"outlines_pydantic_{backend}"] = "skipped (--quick)"
            continue

        def baseline(backend=backend):
            gen = outlines.Generator(om, NER, backend=backend)
            gen(prompt, max_new_tokens=1)
        try:
            out[f"outlines_pydantic_{backend}"] = median_ms(baseline, 3)
        except Exception as e:  # record why a baseline could not run
            out[f"outlines_pydantic_{backend}"] = f"failed: {type(e).__name__}: {e}"[:200]
    base = out.get("outlines_pydantic_outlines_core")
    if isinstance(base, float):
        out["speedup_vs_default_backend"] = round(base / out["humdsl_json_by_label_grounded"], 1)
        out["speedup_vs_default_backend_native"] = round(base / out["humdsl_json_by_label_native"], 1)
    return out


if __name__ == "__main__":
    sys.exit(main())
