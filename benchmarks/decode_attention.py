"""One-token decode passes: transformers' ``sdpa`` attention vs the project's ``sdpa_decode``.

Part 1 times single decode passes of the embedded model (bf16 where the CPU has it) on a slab
cache of random keys/values, with and without left-padded rows (transformers passes no mask for
an unpadded batch and then uses SDPA's ``enable_gqa`` form, the slow one on a CPU), alternating
the two implementations. Part 2 (``--dialogs N``) runs ``generate_dialogs`` on the latest
``api_pool`` in the order sdpa_decode / sdpa / sdpa_decode in one process (no response cache, no
checkpoints), as ``dialog_generation_profile.py`` does, and prints each run's breakdown.

    .venv/bin/python benchmarks/decode_attention.py [--dialogs 40] [--skip-passes]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path


def _passes(model, rows: int, width: int, padded: bool, n: int = 8) -> float:
    """Median ms of ``n`` one-token passes of ``rows`` rows on a cache ``width`` positions wide."""
    import torch
    from transformers.cache_utils import Cache

    from toolace_kedro.llm.slab_cache import SlabLayer

    cfg, dtype = model.config, next(model.parameters()).dtype
    dim = cfg.hidden_size // cfg.num_attention_heads
    torch.manual_seed(0)
    layers = []
    for _ in range(cfg.num_hidden_layers):
        k = torch.randn(rows, cfg.num_key_value_heads, width + n + 4, dim, dtype=dtype)
        layers.append(SlabLayer(k, torch.randn_like(k), width))
    cache = Cache(layers=layers)
    mask = torch.ones(rows, width, dtype=torch.long)
    if padded:
        mask[: max(1, rows // 3), : width // 4] = 0
    last = torch.randint(0, 1000, (rows,))
    times = []
    for i in range(n):
        mask = torch.cat([mask, mask.new_ones((rows, 1))], dim=1)
        positions = torch.full((rows, 1), width + i)
        started = time.perf_counter()
        with torch.inference_mode():
            model(input_ids=last.view(-1, 1), attention_mask=mask, position_ids=positions, past_key_values=cache,
                  use_cache=True, logits_to_keep=1)
        times.append(time.perf_counter() - started)
    return statistics.median(times[2:]) * 1000


def passes(rounds: int) -> None:
    from toolace_kedro.models import load_policy
    from toolace_kedro.models.decode_attention import DECODE_ATTENTION

    model, _ = load_policy("smollm2-135m-instruct", dtype="auto_bf16")
    print(f"one decode pass, {next(model.parameters()).dtype}, median ms (rounds alternate the implementations)")
    for rows, width in ((1, 300), (8, 300), (36, 300), (48, 600)):
        for padded in (True, False):
            if rows == 1 and padded:
                continue
            seen: dict[str, list[float]] = {"sdpa": [], DECODE_ATTENTION: []}
            for _ in range(rounds):
                for name in seen:
                    model.set_attn_implementation(name)
                    seen[name].append(_passes(model, rows, width, padded))
            model.set_attn_implementation(DECODE_ATTENTION)
            shown = ", ".join(f"{name} {' / '.join(f'{t:.1f}' for t in ts)}" for name, ts in seen.items())
            print(f"  {rows:>2} rows x {width} positions, {'padded' if padded else 'unpadded'}: {shown}")


def dialogs(n: int) -> None:
    import dialog_generation_profile as profile

    import toolace_kedro.models.decode_attention as attention
    from toolace_kedro.models import release_memory

    folder, pool = profile.latest_pool()
    print(f"\ngenerate_dialogs, api_pool {folder} ({len(pool)} APIs), {n} planned")
    real = attention.use_decode_attention
    walls = []
    for on in (True, False, True):
        attention.use_decode_attention = real if on else (lambda model: None)  # loading keeps plain sdpa
        release_memory()  # a fresh model load for each run
        profile.run(pool, 2, "", "")  # untimed: loads the models
        result = profile.run(pool, n, "", "")
        profile.show("sdpa_decode" if on else "sdpa", result)
        walls.append(result["wall"])
    attention.use_decode_attention = real
    print(f"\nwalls sdpa_decode / sdpa / sdpa_decode: {' / '.join(f'{w:.1f}' for w in walls)} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dialogs", type=int, default=0, help="also run generate_dialogs side by side")
    parser.add_argument("--skip-passes", action="store_true")
    args = parser.parse_args()
    if not args.skip_passes:
        passes(args.rounds)
    if args.dialogs:
        dialogs(args.dialogs)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
