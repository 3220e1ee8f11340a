import os
from pathlib import Path

import pytest

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Tests never write into the user's cache folder.
    monkeypatch.setenv("HUMC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "humc-cache"))


def shared_or_skip(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not here: the shared datasets are not beside this checkout")
    return path


@pytest.fixture(scope="session")
def tokenizers():
    """A byte-level BPE tokenizer trained here on the repository's own text (no download), as a
    transformers tokenizer and as an llguidance tokenizer."""
    from humdsl import constraints

    # Not docs/: a tokenizer that changed with every edit of the prose would change every sample.
    texts = [p.read_text(encoding="utf-8") for folder in ("specs", "stdlib", "examples")
             for p in (ROOT / folder).rglob("*") if p.suffix in (".md", ".hum", ".jsonl")]
    hf = constraints.train_tokenizer(texts, vocab_size=2000)
    return hf, constraints.ll_tokenizer(hf)


@pytest.fixture(scope="session")
def tiny_model(tokenizers):
    """A randomly initialised two-layer Llama over that tokenizer: under a constraint, a perfect
    sampler of the grammar."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    hf, _ = tokenizers
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(hf), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, bos_token_id=0, eos_token_id=0,
                      pad_token_id=1, tie_word_embeddings=True)
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, tokenizers, tiny_model):
    """That model and tokenizer saved as a Hugging Face folder, as a user would pass --model."""
    folder = tmp_path_factory.mktemp("tiny-model")
    tiny_model.save_pretrained(folder)
    tokenizers[0].save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def jf_decoder(model_dir):
    """humdsl's own decoder on that folder, loaded as `humc run` loads it."""
    from humdsl.runtime.jumpforward import JumpForwardDecoder
    from humdsl.runtime.models import load

    return JumpForwardDecoder(load(str(model_dir)))
