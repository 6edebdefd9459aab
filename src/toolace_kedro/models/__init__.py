"""Policy loading shared by synthesis, training and evaluation."""

from toolace_kedro.models.loading import (
    EMBEDDED_MODELS,
    converted_copy,
    cpu_has_bf16,
    device_and_dtype,
    load_policy,
    load_tokenizer,
    mmap_threshold,
    model_cache_dir,
    release_memory,
    resolve_model,
)

__all__ = ["EMBEDDED_MODELS", "converted_copy", "cpu_has_bf16", "device_and_dtype", "load_policy", "load_tokenizer", "mmap_threshold", "model_cache_dir", "release_memory",
           "resolve_model"]
