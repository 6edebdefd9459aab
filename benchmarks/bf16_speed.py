"""bfloat16 against float32 for the embedded model on this CPU: a prompt pass and a decode step.

The project runs the embedded model in bf16 on a CPU only where ``models.cpu_has_bf16()`` says the
CPU computes bf16 natively. This script prints what that choice rests on, for this machine: the
CPU's bf16 flags, oneDNN's own answer, ``cpu_has_bf16()``, and the seconds of a prompt pass
(``--prompt`` tokens) and of one decode step under each dtype, side by side in one process.

    .venv/bin/python benchmarks/bf16_speed.py [--prompt 300] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")


def _seconds(step, repeats: int) -> float:
    step()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--prompt", type=int, default=300, help="tokens of the prompt pass")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import torch

    from toolace_kedro.models.loading import (
        NATIVE_BF16_FLAGS,
        cpu_flags,
        cpu_has_bf16,
        load_policy,
    )

    flags = cpu_flags()
    print(f"torch threads {torch.get_num_threads()}; bf16 flags: "
          f"{sorted(flags & NATIVE_BF16_FLAGS) if flags is not None else 'no /proc/cpuinfo'}; "
          f"oneDNN bf16 supported: {torch.ops.mkldnn._is_mkldnn_bf16_supported()}; cpu_has_bf16(): {cpu_has_bf16()}")
    ids = torch.randint(100, 40000, (1, args.prompt))

    def timed(dtype: str) -> tuple[float, float]:
        model, _ = load_policy(args.model, device="cpu", dtype=dtype, cached=False)
        with torch.no_grad():
            cache = model(input_ids=ids, use_cache=True).past_key_values
            prompt = _seconds(lambda: model(input_ids=ids, use_cache=False), args.repeats)
            decode = _seconds(lambda: model(input_ids=ids[:, :1], past_key_values=cache, use_cache=True),
                              10 * args.repeats)
        return prompt, decode

    times = {dtype: timed(dtype) for dtype in ("float32", "bfloat16")}
    print("| dtype | prompt pass s | decode step ms |")
    print("|---|---|---|")
    for dtype, (prompt, decode) in times.items():
        print(f"| {dtype} | {prompt:.3f} | {1000 * decode:.1f} |")
    print(f"bf16 / fp32: prompt {times['bfloat16'][0] / times['float32'][0]:.2f}x, "
          f"decode {times['bfloat16'][1] / times['float32'][1]:.2f}x")


if __name__ == "__main__":
    main()
