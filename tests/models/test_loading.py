import pytest

from toolace_kedro.models import device_and_dtype, load_policy, resolve_model


def test_embedded_model_is_cached_as_safetensors(embedded_model_dir):
    from pathlib import Path

    path = Path(embedded_model_dir)
    assert (path / "model.safetensors").exists() and (path / "tokenizer.json").exists()
    assert resolve_model("SmolLM2-135M-Instruct") == embedded_model_dir
    import json

    assert "quantization_config" not in json.loads((path / "config.json").read_text())  # plain floats


def test_gguf_marker_is_dropped_from_an_old_cache(tmp_path):
    import json

    from toolace_kedro.models.loading import _drop_gguf_marker

    old = tmp_path / "config.json"
    old.write_text(json.dumps({"model_type": "llama", "quantization_config": {"quant_method": "gguf"}}))
    _drop_gguf_marker(old)
    assert json.loads(old.read_text()) == {"model_type": "llama"}
    real = {"model_type": "llama", "quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": True}}
    old.write_text(json.dumps(real))
    _drop_gguf_marker(old)  # real quantisations stay
    assert json.loads(old.read_text()) == real


def test_hf_ids_and_paths_pass_through():
    assert resolve_model("meta-llama/Llama-3.1-8B-Instruct") == "meta-llama/Llama-3.1-8B-Instruct"


def test_cpu_defaults_to_fp32():
    import torch

    device, dtype = device_and_dtype("cpu")
    assert device == "cpu" and dtype == torch.float32


def test_auto_bf16_follows_the_cpu(monkeypatch):
    import torch

    from toolace_kedro.models import loading

    monkeypatch.setattr(loading, "cpu_has_bf16", lambda: True)
    assert device_and_dtype("cpu", "auto_bf16") == ("cpu", torch.bfloat16)
    assert device_and_dtype("cuda", "auto_bf16") == ("cuda", torch.bfloat16)
    assert device_and_dtype("cpu", "auto") == ("cpu", torch.float32)  # training keeps fp32 weights
    monkeypatch.setattr(loading, "cpu_has_bf16", lambda: False)
    assert device_and_dtype("cpu", "auto_bf16") == ("cpu", torch.float32)


def test_native_bf16_is_read_from_the_cpu_flags(monkeypatch, tmp_path):
    """oneDNN also takes bf16 on AVX512 cores without bf16 units (by conversion, ~3x slower than
    fp32 for a prompt there): the CPU's own flags decide."""
    import torch

    from toolace_kedro.models import loading

    intel = tmp_path / "cpuinfo"
    intel.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n\nprocessor\t: 1\n")
    assert loading.cpu_flags(str(intel)) == {"fpu", "sse2", "avx2", "avx512f", "avx512_vnni"}
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n")
    assert "bf16" in loading.cpu_flags(str(arm)) & loading.NATIVE_BF16_FLAGS
    assert loading.cpu_flags(str(tmp_path / "absent")) is None
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    monkeypatch.setattr(loading, "cpu_flags", lambda: frozenset({"avx512f", "avx512_vnni"}))
    assert not loading.cpu_has_bf16()
    monkeypatch.setattr(loading, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert loading.cpu_has_bf16()
    monkeypatch.setattr(loading, "cpu_flags", lambda: None)  # no /proc/cpuinfo: oneDNN's answer
    assert loading.cpu_has_bf16()
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    monkeypatch.setattr(loading, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    assert not loading.cpu_has_bf16()


def test_cached_loads_are_keyed_by_the_resolved_dtype(tiny_model_dir):
    """The synthesis client (auto_bf16) and the complexity evaluator (bfloat16 where native) share one copy."""
    import torch

    resolved = str(device_and_dtype("cpu", "auto_bf16")[1]).removeprefix("torch.")
    a = load_policy(tiny_model_dir, device="cpu", dtype="auto_bf16")
    b = load_policy(tiny_model_dir, device="cpu", dtype=resolved)
    assert a[0] is b[0] and a[0].dtype == getattr(torch, resolved)


def test_load_policy_shares_one_instance(tiny_model_dir):
    a = load_policy(tiny_model_dir)
    b = load_policy(tiny_model_dir)
    c = load_policy(tiny_model_dir, cached=False)
    assert a[0] is b[0] and c[0] is not a[0]
    assert a[1].pad_token is not None and a[1].padding_side == "left"


@pytest.mark.slow
def test_embedded_model_loads_with_134m_parameters(embedded_model_dir):
    model, _ = load_policy("smollm2-135m-instruct")
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6


def test_converted_copy_keeps_the_rotary_frequencies_in_float32(tiny_model_dir):
    import torch

    from toolace_kedro.models import converted_copy, load_policy

    model, _ = load_policy(tiny_model_dir, cached=False)
    copied = converted_copy(model, torch.bfloat16)
    loaded, _ = load_policy(tiny_model_dir, dtype="bfloat16", cached=False)
    assert copied is not model and model.dtype == torch.float32 and copied.dtype == torch.bfloat16
    buffers = dict(copied.named_buffers())
    assert buffers and all(b.dtype == torch.float32 for b in buffers.values())  # inv_freq, original_inv_freq
    assert all(torch.equal(b, dict(model.named_buffers())[n]) for n, b in buffers.items())
    for name, tensor in loaded.state_dict().items():  # the same as loading in bf16
        assert torch.equal(tensor, copied.state_dict()[name]), name
    assert all(torch.equal(b, buffers[n]) for n, b in loaded.named_buffers())


_ALLOCATOR_PROBE = r"""
import ctypes, json, sys
from toolace_kedro.models import mmap_threshold

libc = ctypes.CDLL("libc.so.6")
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]

def mapped(nbytes):
    # freeing a mapped 8 MiB block first raises glibc's own threshold to 8 MiB
    libc.free(libc.malloc(8 << 20))
    before = libc.mallinfo2().hblks
    block = libc.malloc(nbytes)
    own = libc.mallinfo2().hblks > before
    libc.free(block)
    return own

seen = {"default": mapped(2 << 20)}
with mmap_threshold(int(sys.argv[1]) if sys.argv[1] != "none" else None) as applied:
    seen["applied"], seen["inside"] = applied, mapped(2 << 20)
seen["after_2mib"], seen["after_40mib"] = mapped(2 << 20), mapped(40 << 20)
print(json.dumps(seen))
"""


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="glibc's allocator")
@pytest.mark.parametrize("argument, env, expected", [
    ("1048576", {}, {"applied": True, "inside": True}),
    ("none", {}, {"applied": False, "inside": False}),
    ("1048576", {"MALLOC_MMAP_THRESHOLD_": "33554432"}, {"applied": False, "inside": False}),  # the user's choice wins
])
def test_mmap_threshold_gives_large_blocks_their_own_mappings_inside_the_block(argument, env, expected):
    import json
    import os
    import subprocess
    import sys

    environment = {key: value for key, value in os.environ.items() if key != "MALLOC_MMAP_THRESHOLD_"} | env
    out = subprocess.run([sys.executable, "-c", _ALLOCATOR_PROBE, argument], capture_output=True, text=True,
                         env=environment, check=True).stdout
    seen = json.loads(out)
    # glibc's own threshold keeps a 2 MiB block in the heap once an 8 MiB block was freed
    assert seen["default"] is False
    assert {key: seen[key] for key in expected} == expected
    # after the block: no longer 1 MiB, but the ceiling (32 MiB) where it was applied
    assert seen["after_2mib"] is False and seen["after_40mib"] is True
