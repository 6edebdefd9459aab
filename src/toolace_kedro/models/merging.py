"""A LoRA adapter merged into its base model, and the clean-up a merged or trained copy needs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from toolace_kedro.models.loading import load_policy

__all__ = ["drop_dequantized_marker", "merged_policy"]

logger = logging.getLogger(__name__)


def drop_dequantized_marker(model: Any) -> None:
    """The embedded model's safetensors copy keeps ``quantization_config: gguf`` in its config
    although its weights are plain float (de-quantised at conversion); transformers then refuses to
    train it. Forget the marker for GGUF only — real quantisations (bitsandbytes for QLoRA) stay."""
    config = getattr(model, "config", None)
    quant = getattr(config, "quantization_config", None)
    method = quant.get("quant_method") if isinstance(quant, dict) else getattr(quant, "quant_method", None)
    if str(getattr(method, "value", method)).lower() == "gguf":
        model.hf_quantizer = None
        model.is_quantized = False
        del config.quantization_config


def merged_policy(base_model: str, adapter_or_model: str, device: str = "auto", dtype: str = "auto"
                  ) -> tuple[Any, Any]:
    """``(model, tokenizer)`` in eval mode: ``base_model`` with the LoRA adapter in the directory
    ``adapter_or_model`` merged in (``merge_and_unload``), or that directory itself when it holds a
    full model. A fresh copy, never the process's cached instance."""
    if (Path(adapter_or_model) / "adapter_config.json").exists():
        model, tokenizer = load_policy(base_model, device=device, dtype=dtype, adapter=adapter_or_model, cached=False)
        model = model.merge_and_unload()
        logger.info("merged adapter %s into %s", adapter_or_model, base_model)
    else:
        model, tokenizer = load_policy(adapter_or_model, device=device, dtype=dtype, cached=False)
        logger.info("%s is a full model; used as it is", adapter_or_model)
    drop_dequantized_marker(model)
    return model.eval(), tokenizer
