"""SFT training throughput: real tokens/s (no padding) of padding-free vs padded batches.

The default data (the latest ``verified_dialogs`` version, else the latest ``dialogs``) is rendered
as the ``sft`` pipeline renders it with ``conf/base/parameters_sft.yml`` (prompt format,
``max_length``, ``tool_fields``), and the embedded SmolLM2-135M-Instruct gets that file's LoRA
adapter and batch size. Each mode trains ``--steps`` optimisation steps with the real
``SFTTrainer`` on the same batches (same seed, same sampler); the modes alternate for
``--warmup`` + ``--rounds`` rounds (warm-up rounds are not counted: the first allocations of a
process are slow), so they share the machine's state; tokens/s = the non-padding tokens the
trainer consumed / the wall time of ``train()``. Modes (``--modes``; default all but
``padding_free_sdpa``):

* ``padded``          — rows right-padded to the longest of the batch, ``attention_mask``, SDPA;
* ``padding_free``    — the batch flattened into one row, ``sdpa_varlen`` (per-sequence SDPA);
* ``padding_free_sdpa`` — the same row with plain SDPA (transformers' block-diagonal mask), to
  show what the varlen attention saves;
* ``trl_default``     — padded with TRL's own fused loss head (what ``SFTTrainer`` does unasked);
* ``padding_free_bf16`` — ``padding_free`` under bf16 autocast (``training.bf16: true``), for
  CPUs with native bf16 (on CUDA: CUDA autocast); fp32 weights, bf16 matmuls.
* ``padded_bf16w_trl`` / ``padding_free_bf16w_trl`` — bf16 weights, ``bf16=True`` and TRL's own
  loss head: what the sft stage runs on CUDA (``bf16: auto``, ``loss: auto``); GPU figures.

All but ``trl_default`` use the compact assistant-only loss head (``sft/loss.py``), the CPU default.

    flock /tmp/cpu.lock .venv/bin/python benchmarks/sft_throughput.py
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import statistics
import sys
import tempfile
import time

MODES = ("padded", "padding_free", "padding_free_sdpa", "trl_default", "padding_free_bf16",
         "padded_bf16w_trl", "padding_free_bf16w_trl")
DEFAULT_MODES = ("padded", "padding_free", "trl_default", "padding_free_bf16")


def default_data() -> str:
    for pattern in ("data/04_feature/verified_dialogs.jsonl/*/verified_dialogs.jsonl",
                    "data/03_primary/dialogs.jsonl/*/dialogs.jsonl"):
        found = sorted(glob.glob(pattern))
        if found:
            return found[-1]
    sys.exit("no dialogs found: run `kedro run --pipelines dialog_generation` first, or pass --data")


def sft_params():
    from kedro.config import OmegaConfigLoader

    from toolace_kedro.pipelines.sft.config import SFTParams

    loader = OmegaConfigLoader("conf", base_env="base", default_run_env="base")
    return SFTParams.model_validate(loader["parameters"]["sft"])


def trainer_for(mode: str, rows: list[dict], args: argparse.Namespace, workdir: str):
    import torch
    from datasets import Dataset
    from peft import get_peft_model
    from trl import SFTConfig, SFTTrainer

    from toolace_kedro.models import load_policy
    from toolace_kedro.pipelines.sft.varlen_attention import register_varlen_attention
    from toolace_kedro.pipelines.sft.loss import AssistantOnlySFTTrainer
    from toolace_kedro.models.merging import drop_dequantized_marker
    from toolace_kedro.pipelines.sft.training import lora_config

    padding_free = mode.startswith("padding_free")
    attention = "sdpa" if mode in ("padded", "trl_default", "padding_free_sdpa", "padded_bf16w_trl") \
        else register_varlen_attention()
    bf16w = "_bf16w" in mode  # bf16 weights + bf16=True + TRL's head: what the sft stage does on CUDA
    bf16 = mode.endswith("_bf16") or bf16w
    model, tokenizer = load_policy(args.model, device="cpu", dtype="bfloat16" if bf16w else "float32", cached=False)
    drop_dequantized_marker(model)  # the embedded model's float copy still carries its GGUF marker
    model.set_attn_implementation(attention)
    tokenizer.padding_side = "right"
    torch.manual_seed(0)
    model = get_peft_model(model, lora_config(args.params, model))
    config = SFTConfig(output_dir=os.path.join(workdir, mode), bf16=bf16, use_cpu=not torch.cuda.is_available(),
                       activation_checkpointing=False,
                       padding_free=padding_free, max_length=None, per_device_train_batch_size=args.batch,
                       max_steps=args.steps, learning_rate=1e-4, report_to="none", save_strategy="no",
                       logging_steps=args.steps, seed=0, data_seed=0, dataloader_pin_memory=False,
                       disable_tqdm=True)
    data = Dataset.from_list([{"input_ids": r["input_ids"], "assistant_masks": r["assistant_masks"]} for r in rows])
    trainer_class = SFTTrainer if mode == "trl_default" or mode.endswith("_trl") else AssistantOnlySFTTrainer
    return trainer_class(model=model, args=config, train_dataset=data, processing_class=tokenizer)


def measure(mode: str, rows: list[dict], args: argparse.Namespace, workdir: str) -> tuple[float, int, float]:
    """(real tokens/s, real tokens, padded tokens/s) of one run of ``--steps`` steps."""
    trainer = trainer_for(mode, rows, args, workdir)
    collate, shapes = trainer.data_collator, []

    def counting(examples):
        batch = collate(examples)
        shapes.append(batch["input_ids"].numel())
        return batch

    trainer.data_collator = counting
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    seen = trainer._total_train_tokens  # non-padding tokens of the batches trained on (TRL's num_tokens)
    return seen / seconds, seen, sum(shapes[: args.steps]) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="JSONL of canonical dialogs (default: the latest verified)")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--batch", type=int, default=None, help="per-device batch size (default: the sft default)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1, help="rounds run first and not counted")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--modes", default=",".join(DEFAULT_MODES), help=f"any of {','.join(MODES)}")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    import torch

    from toolace_kedro.models import load_tokenizer
    from toolace_kedro.pipelines.sft.formatting import render_samples

    torch.set_num_threads(os.cpu_count() or 1)
    args.params = sft_params()
    args.batch = args.batch or args.params.training.per_device_batch_size
    path = args.data or default_data()
    with open(path, encoding="utf-8") as handle:
        dialogs = [json.loads(line) for line in handle if line.strip()]
    tokenizer = load_tokenizer(args.model, padding_side="right")
    rows, _ = render_samples(dialogs, tokenizer, args.params.model_dump())
    lengths = [len(r["input_ids"]) for r in rows]
    modes = args.modes.split(",")
    print(f"data: {path}: {len(rows)} dialogs, tokens/dialog mean {statistics.mean(lengths):.0f} "
          f"(min {min(lengths)}, max {max(lengths)}); batch {args.batch}, {args.steps} steps x {args.rounds} rounds "
          f"after {args.warmup} warm-up; LoRA r {args.params.lora.r} on {args.params.lora.target_modules}, "
          f"layers {args.params.lora.layers or 'all'}; torch threads {torch.get_num_threads()}")
    results: dict[str, list[float]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as workdir:
        for round_ in range(1 - args.warmup, args.rounds + 1):
            for mode in modes:
                rate, seen, padded_rate = measure(mode, rows, args, workdir)
                if round_ > 0:
                    results[mode].append(rate)
                label = f"round {round_}" if round_ > 0 else "warm-up"
                print(f"{label:8s} {mode:18s} {rate:7.1f} real tokens/s  ({seen} real tokens; "
                      f"{padded_rate:.1f} tokens/s counting padding)", flush=True)
    print("\nmedian real tokens/s:")
    base = statistics.median(results["padded"]) if "padded" in results else None
    for mode in modes:
        median = statistics.median(results[mode])
        ratio = f"  {median / base:.2f}x padded" if base else ""
        print(f"  {mode:18s} {median:7.1f}{ratio}")


if __name__ == "__main__":
    main()
