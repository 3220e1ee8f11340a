"""The jump-forward decoder's KV cache (written in place, not concatenated) and the CPU weight
layout: the same numbers as transformers' own, with less copying."""
import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def model(tiny_model):
    return tiny_model


def _run(model, cache, chunks):
    from humdsl.runtime.kv_cache import cache_keyword, returned_cache

    out = []
    with torch.inference_mode():
        for chunk in chunks:
            o = model(input_ids=torch.tensor([chunk]), use_cache=True, **{cache_keyword(model): cache})
            cache = returned_cache(o)
            out.append(o.logits[0, -1].clone())
    return out, cache


CHUNKS = [list(range(5, 45)), [50], [51, 52, 53], [54], list(range(60, 400))]  # the last one outgrows the room


def test_the_growing_cache_gives_transformers_own_logits(model):
    from transformers import DynamicCache

    from humdsl.runtime.kv_cache import new_cache

    want, _ = _run(model, DynamicCache(), CHUNKS)
    got, cache = _run(model, new_cache(), CHUNKS)
    for a, b in zip(got, want):
        assert torch.allclose(a, b, atol=1e-5)
    assert cache.get_seq_length() == sum(map(len, CHUNKS))


def test_new_tokens_are_written_into_room_not_concatenated(model):
    from humdsl.runtime.kv_cache import new_cache

    _, cache = _run(model, new_cache(), CHUNKS[:1])
    layer = cache.layers[0]
    buffer = layer._k.data_ptr()
    _run(model, cache, [[50], [51, 52]])
    assert layer._k.data_ptr() == buffer and layer.keys.data_ptr() == buffer  # no copy of the cache
    assert layer.keys.shape[-2] == 43 and layer._k.shape[-2] > 43


def test_a_prefilled_cache_is_a_copy_and_forgetting_the_last_tokens_is_exact(model):
    from transformers import DynamicCache

    from humdsl.runtime.kv_cache import new_cache

    _, stock = _run(model, DynamicCache(), CHUNKS[:1])
    prefix = [(layer.keys, layer.values) for layer in stock.layers]
    cache = new_cache(prefix)
    assert cache.layers[0].keys.data_ptr() != prefix[0][0].data_ptr()
    _run(model, cache, [[70, 71, 72]])  # a draft...
    cache.crop(-3)  # ...turned down, as the decoder forgets it
    assert cache.get_seq_length() == 40
    assert torch.equal(cache.layers[0].keys, prefix[0][0])  # the prefix it was given is untouched
    got, _ = _run(model, cache, [[50], [51]])
    want, _ = _run(model, new_cache(prefix), [[50], [51]])
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(got, want))


def test_selecting_rows_keeps_each_rows_cache(model):
    from humdsl.runtime.kv_cache import cache_keyword, new_cache

    cache = new_cache()
    with torch.inference_mode():
        model(input_ids=torch.tensor([[5, 6, 7], [8, 9, 10], [11, 12, 13]]), use_cache=True,
              **{cache_keyword(model): cache})
    second = cache.layers[1].keys[1].clone()
    for layer in cache.layers:
        layer.batch_select_indices(torch.tensor([1]))
    assert cache.layers[1].keys.shape[0] == 1 and torch.equal(cache.layers[1].keys[0], second)


def test_column_major_weights_change_the_layout_not_the_numbers(tokenizers):
    from transformers import LlamaConfig, LlamaForCausalLM

    from humdsl.runtime.models import column_major_weights

    torch.manual_seed(1)
    cfg = LlamaConfig(vocab_size=len(tokenizers[0]), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    m = LlamaForCausalLM(cfg).eval()
    ids = torch.tensor([list(range(3, 20))])
    with torch.inference_mode():
        before = m(input_ids=ids).logits
    assert column_major_weights(m) == 2 * 7 + 1  # q, k, v, o, gate, up, down per layer; the output layer
    w = m.model.layers[0].mlp.up_proj.weight
    assert w.stride() == (1, w.shape[0])
    assert m.lm_head.weight.data_ptr() != m.model.embed_tokens.weight.data_ptr()  # the embedding keeps its own
    with torch.inference_mode():
        after = m(input_ids=ids).logits
    assert torch.allclose(before, after, atol=1e-5)
    assert column_major_weights(m) == 0  # already done
