"""The jump-forward decoder's KV cache: transformers' dynamic cache, except that each layer writes
new keys and values into spare room at the end of a buffer instead of concatenating. The stock
layer's `torch.cat` copies the whole cache on every forward pass: at a 900-token prompt on
SmolLM2 (CPU) that was 19 ms of a 62 ms single-token pass (bench/README.md). The buffer doubles
when full, so a long answer copies it O(log n) times instead of once per pass.

Needs transformers' layered cache API (`transformers.cache_utils.DynamicLayer`, 4.56 and later);
elsewhere `new_cache` returns the stock `DynamicCache` and the decoder works as before."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

ROOM = 256  # spare positions allocated beyond what is needed, before doubling takes over

_LAYER_CLASS: list = []


def _growing_layer():
    """The layer class, defined on first use (transformers is imported lazily)."""
    if _LAYER_CLASS:
        return _LAYER_CLASS[0]
    try:
        from transformers.cache_utils import DynamicLayer
    except ImportError:
        _LAYER_CLASS.append(None)
        return None

    class GrowingLayer(DynamicLayer):
        """`keys` and `values` are views of the first `length` positions of larger buffers."""

        # The buffers (torch tensors): both None until the first update, both set by _grow after.
        _k: Any
        _v: Any

        def lazy_initialization(self, key_states, value_states) -> None:
            super().lazy_initialization(key_states, value_states)
            self._k = self._v = None
            self.length = 0

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            start, end = self.length, self.length + key_states.shape[-2]
            if self._k is None or end > self._k.shape[-2] or self._k.shape[0] != key_states.shape[0]:
                self._grow(key_states, max(end + ROOM, 2 * (0 if self._k is None else self._k.shape[-2])))
            self._k[:, :, start:end] = key_states
            self._v[:, :, start:end] = value_states
            self._show(end)
            return self.keys, self.values

        def _grow(self, like, capacity: int) -> None:
            import torch

            b, h, _, d = like.shape
            k = torch.empty((b, h, capacity, d), dtype=like.dtype, device=like.device)
            v = torch.empty_like(k)
            if self._k is not None and self.length:
                k[:, :, :self.length] = self._k[:, :, :self.length]
                v[:, :, :self.length] = self._v[:, :, :self.length]
            self._k, self._v = k, v

        def _show(self, length: int) -> None:
            self.length = length
            self.keys = self._k[:, :, :length]
            self.values = self._v[:, :, :length]

        def crop(self, tokens_to_remove: int) -> None:
            """Forget the last tokens; as transformers' own layer: a negative count to remove."""
            if tokens_to_remove > 0:
                raise ValueError("crop takes a negative count of tokens to remove")
            if tokens_to_remove and self.is_initialized:
                self._show(max(0, self.length + tokens_to_remove))

        def batch_select_indices(self, indices) -> None:
            if self.is_initialized and self._k is not None:
                self._k, self._v = self._k[indices], self._v[indices]
                self._show(self.length)

        def batch_repeat_interleave(self, repeats: int) -> None:
            if self.is_initialized and self._k is not None:
                self._k = self._k.repeat_interleave(repeats, dim=0)
                self._v = self._v.repeat_interleave(repeats, dim=0)
                self._show(self.length)

        def reset(self) -> None:
            self._k = self._v = None
            self.length = 0
            super().reset()

    _LAYER_CLASS.append(GrowingLayer)
    return GrowingLayer


def new_cache(prefill: list[tuple[Tensor, Tensor]] | None = None):
    """An empty cache, or one holding copies of these per-layer (keys, values)."""
    from transformers import DynamicCache

    layer = _growing_layer()
    if layer is None:
        return DynamicCache(ddp_cache_data=prefill) if prefill else DynamicCache()
    from transformers.cache_utils import Cache

    if not prefill:
        return Cache(layer_class_to_replicate=layer)
    layers = []
    for k, v in prefill:
        one = layer()
        one.update(k, v)
        layers.append(one)
    return Cache(layers=layers)


def cache_keyword(model) -> str:
    """The name under which the model's forward takes the KV cache: `cache` from transformers
    5.24 (which deprecates `past_key_values`, to be removed in 5.40), else `past_key_values`."""
    import inspect

    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


def returned_cache(out):
    """The cache a forward pass returns, under either name."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values
