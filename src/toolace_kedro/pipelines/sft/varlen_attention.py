"""``sdpa_varlen``: padding-free attention for machines without FlashAttention (CPUs, most CI).

A padding-free batch is one row holding several sequences (TRL's collator passes their
boundaries as ``cu_seq_lens_q``). With ``attn_implementation="sdpa"`` transformers builds a
block-diagonal mask over the whole row, so attention costs (sum of lengths)^2 and the
off-diagonal blocks are computed and thrown away; FlashAttention's varlen kernels, which skip
them, exist only for CUDA. This implementation runs PyTorch's SDPA once per sequence with
``is_causal=True`` (sum of length^2), the same result as the masked row. Batches with padding
(``attention_mask``) fall back to plain SDPA, so a model can keep this implementation for
scoring too, as do continuations of a cached prefix (the causal mask aligned with the last keys).
"""

from __future__ import annotations

from typing import Any

__all__ = ["VARLEN_ATTENTION", "register_varlen_attention"]

VARLEN_ATTENTION = "sdpa_varlen"


def _boundaries(kwargs: dict[str, Any], length: int) -> list[int] | None:
    cu = kwargs.get("cu_seq_lens_q")
    if cu is not None:
        return [int(x) for x in cu.tolist()]
    position_ids = kwargs.get("position_ids")
    if position_ids is None or position_ids.shape[-1] != length:
        return None
    starts = (position_ids.reshape(-1, length)[0] == 0).nonzero().flatten().tolist()
    return starts + [length] if starts and starts[0] == 0 else None


def sdpa_varlen_forward(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                        dropout: float = 0.0, scaling: float | None = None, **kwargs: Any) -> tuple[Any, None]:
    """Attention over each packed sequence separately; ``(output [b, seq, heads, dim], None)``."""
    import torch
    from torch.nn.functional import scaled_dot_product_attention
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    q_len = query.shape[2]
    bounds = _boundaries(kwargs, q_len) if query.shape[0] == 1 and key.shape[2] == q_len else None
    if bounds is None or attention_mask is not None:
        kv_len = key.shape[2]
        if (attention_mask is not None and attention_mask.ndim == 2) or (attention_mask is None and 1 < q_len < kv_len):
            # padding, or a continuation on a cache (SDPA's own causal flag aligns the queries with the
            # first keys, not the last): the causal mask from the end, with the key mask, 4D
            causal = torch.ones(q_len, kv_len, dtype=torch.bool, device=query.device).tril(kv_len - q_len)[None, None]
            attention_mask = causal if attention_mask is None else causal & attention_mask[:, None, None, -kv_len:].bool()
        kwargs.pop("is_causal", None)
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    groups = getattr(module, "num_key_value_groups", 1)
    p = dropout if module.training else 0.0
    outputs = [
        scaled_dot_product_attention(query[:, :, s:e], key[:, :, s:e], value[:, :, s:e], is_causal=True,
                                     dropout_p=p, scale=scaling, enable_gqa=groups > 1)
        for s, e in zip(bounds[:-1], bounds[1:]) if e > s
    ]
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


def register_varlen_attention() -> str:
    """Register ``sdpa_varlen`` with transformers (attention + mask functions); returns its name.

    Its mask function is FlashAttention's: ``None`` for unpadded input, else the 2D padding mask.
    """
    from transformers.masking_utils import flash_attention_mask

    from toolace_kedro.models.decode_attention import register_attention

    return register_attention(VARLEN_ATTENTION, sdpa_varlen_forward, flash_attention_mask)
