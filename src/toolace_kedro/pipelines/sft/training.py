"""LoRA SFT with TRL's ``SFTTrainer``, one trainer per curriculum stage on the same adapter.

Rows come pre-tokenised from ``formatting.render_samples`` (``input_ids`` + ``assistant_masks``),
so TRL builds the labels from our masks (loss on assistant turns only) and neither re-renders nor
re-masks. Stage *k* continues the adapter trained by stage *k-1* with a fresh optimizer and
learning-rate schedule (warm-up + decay within each stage; iTool does not say otherwise).
dtype follows the device: bf16 on CUDA and on CPUs with native bf16 (AVX512-BF16/AMX), else fp32
(``SFTConfig`` defaults to bf16, so it is always passed explicitly).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from toolace_kedro.models import cpu_has_bf16, load_policy
from toolace_kedro.models.activation_checkpointing import frozen_inputs_callback
from toolace_kedro.models.merging import drop_dequantized_marker
from toolace_kedro.models.scoring import assistant_nll
from toolace_kedro.pipelines.sft.varlen_attention import register_varlen_attention
from toolace_kedro.pipelines.sft.config import SFTParams
from toolace_kedro.pipelines.sft.formatting import prompt_messages, render_samples
from toolace_kedro.pipelines.sft.mlflow_runs import (
    StageTelemetry,
    annotate_stage_run,
    close_failed_stage_run,
    disarm_mlflow_callback,
    nested_runs,
)

__all__ = ["StageResult", "attention_for", "compact_loss_for", "fit_curriculum", "load_for_training", "lora_config",
           "stage_config", "test_nll", "train_stages", "use_bf16"]

logger = logging.getLogger(__name__)


@dataclass
class StageResult:
    """What one curriculum stage did (one entry of ``sft_report.stages``)."""

    name: str
    samples: int
    tokens: int               # real tokens seen (all epochs), no padding
    loss_tokens: int          # of which carried loss (assistant turns)
    steps: int
    loss_start: float | None
    loss_end: float | None
    losses: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    tokens_per_s: float = 0.0
    peak_memory_mb: float | None = None
    difficulty_min: float | None = None
    difficulty_max: float | None = None
    mlflow_run_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cuda_in_use() -> bool:
    """A CUDA device is visible and ``accelerate launch`` was not told to stay on the CPU
    (``use_cpu: true`` in its config sets ``ACCELERATE_USE_CPU``: the model then stays on the CPU,
    so batches, dtype and the trainer's device must follow it there)."""
    import torch

    return torch.cuda.is_available() and os.environ.get("ACCELERATE_USE_CPU", "").lower() not in ("1", "true", "yes")


def use_bf16(params: SFTParams) -> bool:
    """``training.bf16: auto`` → bf16 on CUDA and on a CPU with native bf16, else fp32. bf16 means
    frozen bf16 base weights, float32 LoRA weights and bf16 autocast: faster and smaller than fp32
    on such CPUs at the same held-out NLL (figures in benchmarks/README.md)."""
    setting = params.training.bf16
    return (cuda_in_use() or cpu_has_bf16()) if setting == "auto" else bool(setting)


def attention_for(params: SFTParams) -> str:
    """``attn_implementation: auto`` → for padding-free / packed batches FlashAttention-2 on CUDA
    when installed, else ``sdpa_varlen``; for padded batches ``sdpa``."""
    from transformers.utils import is_flash_attn_2_available

    name = params.training.attn_implementation
    padding_free = params.training.padding_free or params.training.packing
    if name == "auto":
        flash = cuda_in_use() and is_flash_attn_2_available()
        name = ("flash_attention_2" if flash else "sdpa_varlen") if padding_free else "sdpa"
    if name == "sdpa_varlen":
        register_varlen_attention()
    return name


def compact_loss_for(params: SFTParams) -> bool:
    """``training.loss: auto`` → the compact assistant-only head (``loss.py``) where TRL's fused head
    has no Triton kernel (CPUs) or a ``decision_weight`` is set, TRL's own elsewhere."""
    setting = params.training.loss
    if setting == "auto":
        return not cuda_in_use() or params.training.decision_weight != 1.0
    return setting == "compact"


def load_for_training(params: SFTParams) -> tuple[Any, Any]:
    """The policy (not the shared cached instance) in the training dtype, on the CPU — the trainer
    places it — and its tokenizer padding on the right."""
    model, tokenizer = load_policy(params.policy_model, device="cpu",
                                   dtype="bfloat16" if use_bf16(params) else "float32", cached=False)
    drop_dequantized_marker(model)
    model.set_attn_implementation(attention_for(params))
    tokenizer.padding_side = "right"
    return model, tokenizer


def lora_config(params: SFTParams, model: Any = None) -> Any:
    """PEFT ``LoraConfig``; with ``lora.layers`` only the top N decoder layers of ``model`` are
    adapted, so backpropagation stops at the lowest of them (less compute, same forward)."""
    from peft import LoraConfig

    lora = params.lora
    targets, layers = lora.target_modules, None
    num_layers = getattr(model.config.get_text_config(), "num_hidden_layers", 0) if model is not None else 0
    if lora.layers is not None and lora.layers < num_layers:
        layers = list(range(num_layers - lora.layers, num_layers))
        if targets == "all-linear":  # PEFT takes layers_to_transform with module names only
            targets = sorted(_linear_names(model))
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=targets, layers_to_transform=layers, task_type="CAUSAL_LM")


def _linear_names(model: Any) -> set[str]:
    """Names of the decoder's linear modules (what PEFT's ``all-linear`` means: not the LM head)."""
    import torch

    head = model.get_output_embeddings()
    return {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and module is not head and ".layers." in name}


def stage_config(params: SFTParams, run_name: str, output_dir: str) -> Any:
    """``SFTConfig`` of one stage."""
    from trl import SFTConfig

    t = params.training
    packing = t.packing
    return SFTConfig(
        output_dir=output_dir, run_name=run_name, seed=params.seed, data_seed=params.seed,
        num_train_epochs=t.epochs, learning_rate=t.learning_rate, lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio, weight_decay=t.weight_decay, max_grad_norm=t.max_grad_norm,
        per_device_train_batch_size=t.per_device_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        activation_checkpointing=t.gradient_checkpointing, bf16=use_bf16(params), fp16=False,
        use_cpu=not cuda_in_use(),  # lets bf16: true mean CPU autocast where CUDA is absent
        dataloader_pin_memory=cuda_in_use(),
        padding_free=t.padding_free or packing, packing=packing,
        # rows are already cut to max_length; TRL refuses a max_length with padding-free unpacked rows
        max_length=params.max_length if packing else None,
        logging_steps=t.logging_steps, logging_first_step=True, save_strategy="no", report_to=t.report_to,
        dataset_num_proc=None, remove_unused_columns=True, disable_tqdm=False,
    )


def train_stages(model: Any, tokenizer: Any, stages: list[list[dict[str, Any]]], params: SFTParams,
                 output_dir: str, stage_info: list[dict[str, Any]] | None = None,
                 parent_run_id: str | None = None) -> tuple[list[StageResult], Any]:
    """Train the stages in order (easy to hard) on ``model`` — a PEFT model, or a base model that
    gets the LoRA adapter first. Returns the stage results and the last trainer (whose
    ``save_model`` gathers sharded weights under DeepSpeed/FSDP)."""
    from datasets import Dataset
    from peft import PeftModel, get_peft_model
    from trl import SFTTrainer

    from toolace_kedro.pipelines.sft.loss import AssistantOnlySFTTrainer

    if not isinstance(model, PeftModel):
        import torch

        torch.manual_seed(params.seed)  # the adapter's initial weights
        model = get_peft_model(model, lora_config(params, model))
    trainable, total = model.get_nb_trainable_parameters()
    logger.info("LoRA r=%d on %s (layers: %s): %d trainable of %d parameters (%.2f%%)", params.lora.r,
                params.lora.target_modules, params.lora.layers or "all", trainable, total, 100 * trainable / total)
    tracking = "mlflow" in ([params.training.report_to] if isinstance(params.training.report_to, str)
                            else params.training.report_to)
    results: list[StageResult] = []
    trainer = None
    empty = [k for k, rows in enumerate(stages, start=1) if not rows]
    if empty:
        logger.warning("curriculum stages %s have no trainable dialog left: skipped", empty)
    kept = [(rows, (stage_info or [{}] * len(stages))[k]) for k, rows in enumerate(stages) if rows]
    if not kept:
        raise ValueError("sft: no dialog has assistant tokens to train on (check max_length and the format)")
    with nested_runs(tracking, params.training):
        for k, (rows, info) in enumerate(kept, start=1):
            name = f"sft-stage-{k}-of-{len(kept)}"
            dataset = Dataset.from_list([{"input_ids": r["input_ids"], "assistant_masks": r["assistant_masks"]}
                                         for r in rows])
            telemetry = StageTelemetry()
            compact = compact_loss_for(params)
            trainer_class = AssistantOnlySFTTrainer if compact else SFTTrainer
            extra = {"decision_weight": params.training.decision_weight} if compact else {}
            trainer = trainer_class(model=model, args=stage_config(params, name, os.path.join(output_dir, name)),
                                    train_dataset=dataset, processing_class=tokenizer,
                                    callbacks=[telemetry, frozen_inputs_callback()], **extra)
            logger.info("%s: %d dialogs, %d tokens", name, len(rows), sum(len(r["input_ids"]) for r in rows))
            start = time.perf_counter()
            try:
                trainer.train()
            except BaseException:
                close_failed_stage_run(telemetry.run_id)
                raise
            finally:
                disarm_mlflow_callback(trainer)
            wall = time.perf_counter() - start
            result = _stage_result(name, rows, params, trainer, telemetry, wall, info)
            results.append(result)
            if tracking and telemetry.run_id:
                annotate_stage_run(telemetry.run_id, params, k, len(kept), result.as_dict(), parent_run_id)
            logger.info("%s: loss %.4f -> %.4f in %d steps, %.0f tokens/s, %.1f s", name, result.loss_start or 0,
                        result.loss_end or 0, result.steps, result.tokens_per_s, wall)
    return results, trainer


def _stage_result(name: str, rows: list[dict], params: SFTParams, trainer: Any, telemetry: StageTelemetry,
                  wall: float, info: dict[str, Any]) -> StageResult:
    epochs = params.training.epochs
    tokens = int(sum(len(r["input_ids"]) for r in rows) * epochs)
    loss_tokens = int(sum(sum(r["assistant_masks"]) for r in rows) * epochs)
    losses = [float(e["loss"]) for e in trainer.state.log_history if "loss" in e]
    return StageResult(
        name=name, samples=len(rows), tokens=tokens, loss_tokens=loss_tokens, steps=trainer.state.global_step,
        loss_start=losses[0] if losses else None, loss_end=losses[-1] if losses else None, losses=losses,
        wall_s=round(wall, 2), tokens_per_s=round(tokens / telemetry.train_seconds(wall), 1),
        peak_memory_mb=telemetry.peak_memory_mb, difficulty_min=info.get("difficulty_min"),
        difficulty_max=info.get("difficulty_max"), mlflow_run_id=telemetry.run_id)


def test_nll(model: Any, tokenizer: Any, samples: list[dict[str, Any]], params: SFTParams) -> float | None:
    """Mean assistant-token NLL over held-out dialogs (the training loss measure, teacher-forced;
    under bf16 autocast on CPUs with native bf16, before and after alike)."""
    import math

    import torch

    if not samples:
        return None
    was_training = model.training
    model.eval()
    fast = not cuda_in_use() and cpu_has_bf16()  # bf16 matmuls, fp32 weights, both passes alike
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast):
        scores = assistant_nll(model, tokenizer, [prompt_messages(s, params.call_format, params.tool_fields)
                                                  for s in samples],
                               params.difficulty_batch_size, params.max_length or 2048)
    model.train(was_training)
    finite = [x for x in scores if math.isfinite(x)]
    return round(sum(finite) / len(finite), 4) if finite else None


def fit_curriculum(stages: list[list[dict[str, Any]]], params: SFTParams, output_dir: str,
                   test: list[dict[str, Any]] | None = None, parent_run_id: str | None = None,
                   decision: bool = True) -> tuple[Any, Any, dict[str, Any]]:
    """Load the policy, render each stage, train them in order, then (``decision`` and
    ``decision.enabled``) the decision phase on all stages' dialogs; ``(trainer, tokenizer, summary)``.

    With ``test`` (and ``measure_test_nll``) the held-out assistant NLL is measured before and after.
    """
    model, tokenizer = load_for_training(params)
    rendered, render_counts = [], {}
    for stage in stages:
        rows, counts = render_samples(stage, tokenizer, params)
        rendered.append(rows)
        for key, value in counts.items():
            render_counts[key] = render_counts.get(key, 0) + value if isinstance(value, int) else value
    stage_info = [_difficulty_range(stage) for stage in stages]
    measure = bool(test) and params.measure_test_nll
    if measure and cuda_in_use():
        model.to("cuda")
    before = test_nll(model, tokenizer, test, params) if measure else None
    results, trainer = train_stages(model, tokenizer, rendered, params, output_dir, stage_info, parent_run_id)
    tuned = decision_phase(trainer.model, tokenizer, [s for stage in stages for s in stage], params) \
        if decision else None
    after = test_nll(trainer.model, tokenizer, test, params) if measure else None
    summary = {"render": render_counts, "stages": [r.as_dict() for r in results],
               "test_nll_before": before, "test_nll_after": after, "decision": tuned,
               "dtype": "bfloat16" if use_bf16(params) else "float32", "attn_implementation": attention_for(params),
               "device": "cuda" if cuda_in_use() else "cpu"}
    return trainer, tokenizer, summary


def decision_phase(model: Any, tokenizer: Any, samples: list[dict[str, Any]], params: SFTParams
                   ) -> dict[str, Any] | None:
    """``decision.tune_decision`` on the trained adapter when ``decision.enabled`` (else ``None``)."""
    if not params.decision.enabled:
        return None
    from toolace_kedro.pipelines.sft.decision import tune_decision

    return tune_decision(model, tokenizer, samples, params, use_bf16(params))


def _difficulty_range(stage: list[dict[str, Any]]) -> dict[str, float | None]:
    values = [d for s in stage if isinstance(d := (s.get("meta") or {}).get("difficulty"), (int, float))]
    return {"difficulty_min": min(values) if values else None, "difficulty_max": max(values) if values else None}
