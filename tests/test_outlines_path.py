"""The compiled grammars through the real Outlines path: a tiny random transformers model, the
llguidance backend, batched sampling. Every output parses: law 2 with an actual model."""
import warnings

import pytest

from humdsl.formats import build

from support.tasks import all_tasks, sample_source

# One task per kind; every format it uses.
ONE_PER_KIND = {}
for tid, ir in all_tasks():
    ONE_PER_KIND.setdefault(ir["kind"], (tid, ir))
CASES = [(f"{tid}:{f['name']}", ir, f) for tid, ir in ONE_PER_KIND.values() for f in ir["formats"]]


@pytest.fixture(scope="module")
def backend(tokenizers, tiny_model):
    import outlines
    from outlines.backends.llguidance import LLGuidanceBackend

    model = outlines.from_transformers(tiny_model, tokenizers[0])
    return model, LLGuidanceBackend(model)


@pytest.mark.parametrize("cid,ir,fmt_ir", CASES, ids=[c[0] for c in CASES])
def test_sampled_outputs_parse(cid, ir, fmt_ir, backend):
    import outlines
    import torch

    model, be = backend
    fmt = build(ir, fmt_ir)
    source = sample_source(ir)
    processor = be.get_cfg_logits_processor(fmt.grammar(source=source))
    generator = outlines.Generator(model, processor=processor)
    torch.manual_seed(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # llguidance warns for rows that already finished
        outputs = generator.batch([f"Text: {source}\nAnswer:"] * 3,
                                  max_new_tokens=fmt.budget(source=source), do_sample=True)
    for text in outputs:
        fmt.parse(text, source=source)
