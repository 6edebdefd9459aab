"""Cost of the sft decision phase with and without gradients through the system prompt.

``sft.decision.backprop: full`` trains every decision example through its whole prompt (BFCL's
instructions, the tool list, the request); ``request`` runs the system prompt once without
gradient, caches it, and back-propagates through the user turn and the generation prompt only.
This script builds the phase's examples from the first ``--dialogs`` dialogs of a pool, puts a
fresh LoRA adapter on the policy (activation checkpointing on, as after the curriculum), and runs
one epoch of the phase in each mode in the same process, one after the other: wall seconds,
examples, tokens and tokens with gradient, side by side. What the modes do to the policy is
measured by ``learning_curve.py --set decision.enabled=true decision.backprop=...`` (RESULTS.md).

    .venv/bin/python benchmarks/decision_phase_cost.py --pool <verified_dialogs.jsonl[.gz]> [--dialogs 30]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pool", required=True, help="dialogs JSONL (canonical dialogs), optionally .gz")
    ap.add_argument("--dialogs", type=int, default=30, help="the first N dialogs of the pool")
    ap.add_argument("--modes", default="full,request")
    args = ap.parse_args()

    import torch
    from learning_curve import read_pool
    from peft import get_peft_model

    from toolace_kedro.pipelines.sft.config import SFTParams
    from toolace_kedro.pipelines.sft.decision import tune_decision
    from toolace_kedro.pipelines.sft.training import (
        load_for_training,
        lora_config,
        use_bf16,
    )

    dialogs = read_pool(args.pool)[:args.dialogs]
    print(f"{len(dialogs)} dialogs; torch threads {torch.get_num_threads()}")
    print("| backprop | examples | tokens | tokens with gradient | wall s | s per example |")
    print("|---|---|---|---|---|---|")
    for mode in args.modes.split(","):
        params = SFTParams.of({"decision": {"enabled": True, "epochs": 1, "backprop": mode}})
        model, tokenizer = load_for_training(params)
        torch.manual_seed(0)
        model = get_peft_model(model, lora_config(params, model))
        if params.training.gradient_checkpointing:  # as the curriculum's trainer leaves it
            model.base_model.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        report = tune_decision(model, tokenizer, dialogs, params, use_bf16(params))
        n = report["call_examples"] + report["decline_examples"]
        print(f"| {mode} | {n} | {report['tokens_per_epoch']} | {report['tokens_with_gradient_per_epoch']} | "
              f"{report['wall_s']:.1f} | {report['wall_s'] / n:.2f} |", flush=True)


if __name__ == "__main__":
    main()
