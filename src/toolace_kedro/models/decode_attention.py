"""``sdpa_decode``: transformers' SDPA attention, with one-token decode passes on a CPU always
run with the query heads packed onto their key/value head.

For a one-token pass of a grouped-query model (SmolLM2-135M: 9 query heads on 3 key/value
heads), transformers' ``sdpa`` function packs the query heads of each key/value head into that
head's queries when the pass has an attention mask, but passes ``enable_gqa=True`` when it has
none (no row of the batch is padded). PyTorch's CPU kernel is slow on the second form: an
unpadded bf16 decode pass of the embedded model took about twice as long as a padded one or the
packed form (``benchmarks/decode_attention.py``; figures in benchmarks/README.md). Unpadded
batches are common in generation (the n samples of one prompt, rows of equal length).

This implementation takes the packed form for every one-token inference pass on a CPU, masked
or not, and is transformers' own ``sdpa`` function for every other pass (prompt processing,
training, CUDA), so results there are unchanged. The mask function is SDPA's.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DECODE_ATTENTION", "decode_attention_forward", "register_attention", "register_decode_attention",
           "use_decode_attention"]

DECODE_ATTENTION = "sdpa_decode"


def decode_attention_forward(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                             dropout: float = 0.0, scaling: float | None = None, **kwargs: Any) -> tuple[Any, None]:
    """``(output [batch, query, heads, dim], None)``; ``query`` is ``[batch, heads, q, dim]``,
    ``key``/``value`` ``[batch, kv_heads, k, dim]``."""
    from torch.nn.functional import scaled_dot_product_attention
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch, heads, q_len, dim = query.shape
    kv_heads = key.shape[1]
    if q_len != 1 or module.training or query.device.type != "cpu" or heads == kv_heads or heads % kv_heads:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    # the query heads of one key/value head as that head's queries: [batch, kv_heads, groups, dim]
    packed = query.reshape(batch, kv_heads, heads // kv_heads, dim)
    out = scaled_dot_product_attention(packed, key, value, attn_mask=attention_mask, scale=scaling)
    return out.reshape(batch, heads, 1, dim).transpose(1, 2).contiguous(), None


def register_attention(name: str, forward: Any, mask: Any) -> str:
    """Register an attention implementation with transformers under ``name``: its ``forward``
    and its mask function (e.g. ``masking_utils.sdpa_mask``); returns ``name``. Registering again
    replaces the entry, so callers need not remember whether they did."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(name, forward)
    AttentionMaskInterface.register(name, mask)
    return name


def register_decode_attention() -> str:
    """Register ``sdpa_decode`` (with SDPA's mask function) and return its name."""
    from transformers.masking_utils import sdpa_mask

    return register_attention(DECODE_ATTENTION, decode_attention_forward, sdpa_mask)


def use_decode_attention(model: Any) -> None:
    """Switch a model that runs on transformers' SDPA attention to ``sdpa_decode`` (in place).
    Models on another implementation (eager, flash, a trainer's own) are left as they are."""
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) != "sdpa":
        return
    name = register_decode_attention()
    try:
        model.set_attn_implementation(name)
    except (ValueError, AttributeError, NotImplementedError):  # an architecture without the attention interface
        pass
