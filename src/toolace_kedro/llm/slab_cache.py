"""The KV cache in preallocated slabs, shared by the continuous batcher (``llm.continuous``) and
the irft tree search's decoder (``pipelines/irft/decoding.py``): appending a step writes in place
instead of concatenating (copying) the whole cache, and row groups of different lengths merge
into one right-aligned cache."""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer

__all__ = ["GROW", "SlabLayer", "left_pad_mask", "merge_into_slabs"]

#: columns added to a full KV slab at a time
GROW = 64


class SlabLayer(DynamicLayer):
    """A KV cache layer with spare room along the sequence axis: appending writes in place."""

    def __init__(self, k_buffer: torch.Tensor, v_buffer: torch.Tensor, length: int) -> None:
        """Takes ownership of buffers ``[batch, heads, capacity, dim]`` whose first ``length``
        columns hold the cache."""
        super().__init__()
        self._k, self._v = k_buffer, v_buffer
        self.length = length
        self.dtype, self.device = k_buffer.dtype, k_buffer.device
        self.is_initialized = True
        self._views()

    def _views(self) -> None:
        self.keys = self._k[:, :, : self.length]
        self.values = self._v[:, :, : self.length]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any):
        n = key_states.shape[-2]
        if self.length + n > self._k.shape[-2]:
            grow = max(n, GROW)  # fixed steps: doubling would hold up to twice the cache
            b, h, _, d = self._k.shape
            for name in ("_k", "_v"):
                old = getattr(self, name)
                new = old.new_empty((b, h, self.length + grow, d))
                new[:, :, : self.length] = old[:, :, : self.length]
                setattr(self, name, new)
        self._k[:, :, self.length : self.length + n] = key_states
        self._v[:, :, self.length : self.length + n] = value_states
        self.length += n
        self._views()
        return self.keys, self.values


def merge_into_slabs(parts: list[list[tuple[torch.Tensor, torch.Tensor]]], widths: list[int], width: int,
                     start: int, spare: int) -> Cache:
    """One cache from row groups of different lengths: each group right-aligned (left padding
    zeroed), columns before ``start`` dropped, written straight into slabs with ``spare`` room."""
    rows = sum(p[0][0].shape[0] for p in parts)
    layers = []
    for layer in range(len(parts[0])):
        k0 = parts[0][layer][0]
        _, h, _, d = k0.shape
        buffers = []
        for which in (0, 1):
            buf = k0.new_empty((rows, h, width - start + spare, d))
            r = 0
            for part, w in zip(parts, widths):
                t = part[layer][which]
                n = t.shape[0]
                pad = width - w  # columns of left padding of this group
                lead = max(0, pad - start)
                if lead:
                    buf[r : r + n, :, :lead].zero_()
                buf[r : r + n, :, lead : width - start] = t[:, :, max(0, start - pad):]
                r += n
            buffers.append(buf)
        layers.append(SlabLayer(buffers[0], buffers[1], width - start))
        for part in parts:  # free each group's layer as soon as it is copied
            part[layer] = None
    return Cache(layers=layers)


def left_pad_mask(m: torch.Tensor, width: int) -> torch.Tensor:
    """The attention mask ``m`` widened to ``width`` columns by masked columns on the left."""
    extra = width - m.shape[1]
    return m if extra <= 0 else torch.cat([m.new_zeros((m.shape[0], extra)), m], dim=1)
