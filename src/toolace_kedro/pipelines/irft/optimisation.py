"""Preference optimisation of one iTool round with TRL: SimPO (default) or DPO.

The round starts from a **merged** policy (round 1: the base model with the SFT adapter merged in;
round k: round k−1's result). A **new LoRA adapter** (iTool: rank 8 on all linear modules) is
trained on the round's pairs and merged back, so every round hands the next one a plain model and
the rounds do not stack adapters (continuing the SFT adapter instead would tie the preference
update to the SFT rank and modules).

* ``method: simpo`` — ``trl.experimental.cpo.CPOTrainer`` with ``loss_type="simpo"``,
  ``cpo_alpha=0`` (pure SimPO: length-normalised log-likelihood margin with target ``gamma``;
  iTool: β 2.5, γ 0.5, lr 1e-6, 2 epochs, cosine, warm-up 0.1). No reference model. With
  ``shared_prompt`` (default) its forward processes each pair's prompt once for both answers and
  scores only the answer tokens (``shared_prompt.py``: the same loss, about half the work).
* ``method: dpo`` — ``trl.DPOTrainer`` (``dpo_loss_type`` a TRL loss name). The reference is
  ``dpo_reference: sft`` (default: the SFT policy, as the issue asks; loaded as a frozen copy
  when it differs from the round's starting policy) or ``previous`` (the round's starting policy:
  the LoRA adapter is disabled for the reference pass, the usual iterative-DPO choice).

Pairs are rendered as text: prompt = the chat template of the dialog context with the generation
prompt, followed by the pair's answer prefix; chosen / rejected = the continuations (the trainer
appends the end-of-turn token). ``bf16: auto`` trains with bf16 autocast on a CUDA device with
bf16 and on CPUs with native bf16 (AVX512-BF16/AMX), fp32 elsewhere (TRL's configs default to bf16
and refuse it on a CPU unless ``use_cpu`` is set, as here). On such a CPU a float32 policy is
trained as a frozen bf16 model with float32 LoRA weights (as in the sft stage), and the adapter is
merged into the float32 policy once the trainer and the bf16 weights are freed, not into the bf16
model (that would round the update away). A policy in memory is copied to bf16 and a float32 copy
to merge into is made after training; a policy given as its model directory (what ``kedro run``
passes) is loaded in bf16 to train on and in float32 only for the merge, so no float32 weights
are held through training. With ``report_to: mlflow`` the trainer logs into a nested MLflow run
named ``irft-round-<k>`` (``MLFLOW_NESTED_RUN=true``), where the round's pair counts and reward
statistics are logged as well.
"""

from __future__ import annotations

import copy
import gc
import logging
import math
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

from toolace_kedro.models import converted_copy, cpu_has_bf16, device_and_dtype
from toolace_kedro.models.activation_checkpointing import frozen_inputs_callback
from toolace_kedro.pipelines.irft.config import OptimisationParams
from toolace_kedro.tracking import disarm_mlflow_callback, nested_training_runs

__all__ = ["fit_pairs", "preference_rows", "select_pairs", "train_preference", "trains_a_bf16_copy",
           "trains_bf16_from_disk"]

logger = logging.getLogger(__name__)


def select_pairs(pairs: list[dict[str, Any]], max_pairs: int | None) -> list[dict[str, Any]]:
    """At most ``max_pairs`` pairs (iTool: ≤ 4,000), the largest value gaps first."""
    ranked = sorted(pairs, key=lambda p: (-p["value_gap"], p["id"]))
    return ranked[:max_pairs] if max_pairs else ranked


def fit_pairs(pairs: list[dict[str, Any]], tokenizer: Any, max_length: int) -> tuple[list[dict[str, Any]], int]:
    """The pairs whose prompt + prefix + longer answer (+ the end-of-turn token) fit in
    ``max_length`` tokens, and how many did not: the trainers would cut such an answer to nothing
    and its mean log-probability would be 0/0."""
    kept = []
    for pair, row in zip(pairs, preference_rows(pairs, tokenizer)):
        prompt = len(tokenizer(row["prompt"], add_special_tokens=False)["input_ids"])
        answer = max(len(tokenizer(row[side], add_special_tokens=False)["input_ids"]) for side in ("chosen", "rejected"))
        if prompt + answer + 2 <= max_length:
            kept.append(pair)
    return kept, len(pairs) - len(kept)


def preference_rows(pairs: list[dict[str, Any]], tokenizer: Any) -> list[dict[str, str]]:
    """TRL's text preference rows ``{"prompt", "chosen", "rejected"}`` for ``pairs``."""
    rows = []
    for pair in pairs:
        prompt = tokenizer.apply_chat_template(pair["prompt"], tokenize=False, add_generation_prompt=True)
        rows.append({"prompt": prompt + pair["prefix"], "chosen": pair["chosen"], "rejected": pair["rejected"]})
    return rows


def _common_args(cfg: OptimisationParams, run_name: str, output_dir: str, n_rows: int) -> dict[str, Any]:
    import torch

    return {
        "output_dir": output_dir, "run_name": run_name, "report_to": cfg.report_to,
        "learning_rate": cfg.learning_rate, "num_train_epochs": float(cfg.epochs),
        "per_device_train_batch_size": cfg.batch_size, "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "lr_scheduler_type": cfg.lr_scheduler, "warmup_steps": cfg.warmup_ratio,
        "max_length": cfg.max_length, "beta": cfg.beta, "logging_steps": 1, "save_strategy": "no",
        "gradient_checkpointing": cfg.gradient_checkpointing, "remove_unused_columns": False, "seed": cfg.seed,
        "bf16": _bf16(cfg.bf16), "use_cpu": not torch.cuda.is_available(),
        "per_device_eval_batch_size": cfg.batch_size,
        "dataloader_num_workers": 0, "disable_tqdm": n_rows < 8,
    }


def _bf16(setting: str | bool) -> bool:
    """``auto``: bf16 mixed precision on a CUDA device that has it or on a CPU with native bf16
    (autocast), fp32 elsewhere."""
    import torch

    if setting == "auto":
        if torch.cuda.is_available():
            return bool(torch.cuda.is_bf16_supported())
        return cpu_has_bf16()
    return bool(setting)


def _round_callback(figures: dict[str, float], tags: dict[str, str]):
    from transformers import TrainerCallback

    class RoundFigures(TrainerCallback):
        """Logs the round's pair and reward figures into the trainer's (nested) MLflow run."""

        def on_train_begin(self, args, state, control, **kwargs):
            import mlflow

            if mlflow.active_run() is not None:
                mlflow.log_metrics({k: v for k, v in figures.items() if math.isfinite(v)})
                mlflow.set_tags(tags)

    return RoundFigures()


def train_preference(model: Any, tokenizer: Any, pairs: list[dict[str, Any]],
                     params: OptimisationParams | Mapping[str, Any],
                     round_index: int, figures: dict[str, float] | None = None, reference: Any = None,
                     merge_base: Callable[[], Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Train a LoRA adapter on ``pairs`` on top of ``model`` and merge it; returns the merged
    model and the training figures (losses, reward margins and accuracies, runtime). ``model``
    becomes the merged model, except where :func:`trains_a_bf16_copy`: then it is left as it is
    and the merged model is a new float32 copy.

    ``merge_base`` (a function returning the float32 policy, e.g. loading it from its model
    directory) says that ``model`` is already the frozen bf16 base to train on: it is trained as
    it is, and once the trainer is freed the adapter is merged into ``merge_base()``. The float32
    weights are then never held during training. Wherever a bf16 base is trained, its weights are
    released (moved to the meta device) before the float32 policy is made: ``model`` is of no use
    afterwards."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model_state_dict

    cfg = OptimisationParams.of(params)  # an unknown method is a validation error naming it
    method, lora = cfg.method, cfg.lora
    peft_config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                             target_modules=lora.target_modules, task_type="CAUSAL_LM")
    rows = preference_rows(pairs, tokenizer)
    dataset = Dataset.from_list(rows)
    if merge_base is None and trains_a_bf16_copy(model, cfg):  # a frozen bf16 base to train on;
        policy = model                                              # ``policy`` is left as it is
        model = converted_copy(model, torch.bfloat16)

        def merge_base() -> Any:
            return copy.deepcopy(policy)
    evaluation = dataset if cfg.evaluate_pairs else None
    run_name = f"irft-round-{round_index}"
    model.train()
    tracking = "mlflow" in str(cfg.report_to)
    callbacks = [frozen_inputs_callback()]
    if tracking:
        callbacks.append(_round_callback(figures or {}, {"irft.round": str(round_index), "irft.method": method}))
    with tempfile.TemporaryDirectory(prefix="irft-trainer-") as output_dir, nested_training_runs(tracking):
        args = _common_args(cfg, run_name, output_dir, len(rows))
        if method == "simpo":
            from trl.experimental.cpo import CPOConfig, CPOTrainer

            from toolace_kedro.pipelines.irft.shared_prompt import SharedPromptCPOTrainer

            config = CPOConfig(**args, loss_type="simpo", cpo_alpha=0.0, simpo_gamma=cfg.simpo_gamma)
            shared = cfg.shared_prompt
            if shared and args["gradient_checkpointing"]:  # its prompt pass hands a KV cache to the answer pass
                logger.warning("round %d: shared_prompt is off under gradient_checkpointing (a checkpointed "
                               "layer would append to the prompt's cache again when it is recomputed)", round_index)
                shared = False
            trainer_class = SharedPromptCPOTrainer if shared else CPOTrainer
            trainer = trainer_class(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                                    peft_config=peft_config, callbacks=callbacks, eval_dataset=evaluation)
        else:
            from trl import DPOConfig, DPOTrainer

            config = DPOConfig(**args, loss_type=cfg.dpo_loss_type)
            trainer = DPOTrainer(model=model, ref_model=reference, args=config, train_dataset=dataset,
                                 processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks,
                                 eval_dataset=evaluation)
        logger.info("round %d: %s on %d pairs (%s epochs, lr %s)", round_index, method, len(rows),
                    cfg.epochs, cfg.learning_rate)
        before = _evaluate_pairs(trainer) if evaluation is not None else {}
        nested_run = _active_run_id() if tracking else None  # opened by the first evaluation's log
        result = trainer.train()
        disarm_mlflow_callback(trainer)  # else its __del__ ends the Kedro run's run
        after = {}
        if evaluation is not None:
            from transformers.integrations import MLflowCallback

            trainer.remove_callback(MLflowCallback)  # its run closed with training: log the figures below
            after = _evaluate_pairs(trainer)
            _log_to_run(nested_run, after, trainer.state.global_step)
        history = [h for h in trainer.state.log_history if "eval_loss" not in h]
        bad = next((h for h in history if "loss" in h and not math.isfinite(h["loss"])), None)
        if bad is not None:
            raise RuntimeError(f"irft round {round_index}: {method} loss became {bad['loss']} at step {bad.get('step')} "
                               f"(log entry: {bad}); the policy is not saved")
        if merge_base is None:
            merged = trainer.model.merge_and_unload()
        else:  # the adapter only: the trainer and the bf16 base are freed before the float32 policy is made
            adapter = {k: v.detach().clone() for k, v in get_peft_model_state_dict(trainer.model).items()}
            del trainer
            model.to("meta")  # the bf16 base's weights freed even where the caller still holds the module
            del model
            gc.collect()
            merged = _merge_into(merge_base(), adapter, peft_config)
    merged.eval()
    figures = _training_figures(history, result.metrics, method, len(rows))
    for when, values in (("before", before), ("after", after)):
        figures.update({f"pairs_{when}_{key}": value for key, value in values.items()})
    return merged, figures


def _bf16_base(params: OptimisationParams | Mapping[str, Any], device: str, dtype: Any) -> bool:
    """A float32 policy on a CPU with bf16 training on is trained as a frozen bf16 base."""
    import torch

    return _bf16(OptimisationParams.of(params).bf16) and device == "cpu" and dtype == torch.float32


def trains_a_bf16_copy(model: Any, params: OptimisationParams | Mapping[str, Any]) -> bool:
    """Whether :func:`train_preference` trains a bf16 copy of ``model`` and leaves ``model`` itself
    unmodified; otherwise it trains ``model`` and merges the adapter into it."""
    return _bf16_base(params, model.device.type, model.dtype)


def trains_bf16_from_disk(params: OptimisationParams | Mapping[str, Any]) -> bool:
    """Whether a policy given as a model directory (loaded in the device's training dtype) would
    be trained as a bf16 base: then that base is loaded straight from the directory."""
    return _bf16_base(params, *device_and_dtype())


def _merge_into(policy: Any, adapter: dict[str, Any], peft_config: Any) -> Any:
    """``policy`` (float32) with the LoRA ``adapter`` weights (trained on a bf16 copy of it) merged
    in float32. Merging into the bf16 copy would round the update away: bf16 keeps about 3
    significant digits, and one round's LoRA delta is mostly smaller than that share of a weight."""
    from peft import get_peft_model, set_peft_model_state_dict

    target = get_peft_model(policy, copy.deepcopy(peft_config))
    set_peft_model_state_dict(target, adapter)
    return target.merge_and_unload()


def _active_run_id() -> str | None:
    import mlflow

    run = mlflow.active_run()
    return run.info.run_id if run is not None else None


def _log_to_run(run_id: str | None, figures: dict[str, float], step: int) -> None:
    """The after-training pair figures into the round's (already closed) MLflow run, under the
    names and at the last step of the trainer's own ``eval_*`` curves."""
    if not run_id or not figures:
        return
    from mlflow.tracking import MlflowClient

    names = {"loss": "eval_loss", "reward_margin": "eval_rewards/margins", "accuracy": "eval_rewards/accuracies"}
    client = MlflowClient()
    for key, value in figures.items():
        client.log_metric(run_id, names[key], value, step=step)


def _evaluate_pairs(trainer: Any) -> dict[str, float]:
    """Loss, reward margin and preference accuracy of the current policy over the round's pairs
    (one forward pass, no update): run before and after training, they show whether the round
    moved the policy towards the chosen answers on the very pairs it trained on."""
    trainer.evaluate()
    logged = next(h for h in reversed(trainer.state.log_history) if "eval_loss" in h)
    keys = {"eval_loss": "loss", "eval_rewards/margins": "reward_margin", "eval_rewards/accuracies": "accuracy"}
    return {name: float(logged[key]) for key, name in keys.items() if key in logged}


def _training_figures(history: list[dict[str, Any]], summary: dict[str, Any], method: str, n_pairs: int
                      ) -> dict[str, Any]:
    steps = [h for h in history if "loss" in h]
    figures: dict[str, Any] = {"method": method, "pairs": n_pairs, "steps": len(steps),
                               "train_loss": summary.get("train_loss"), "runtime_s": summary.get("train_runtime")}
    for key in ("loss", "rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected"):
        values = [h[key] for h in steps if key in h]
        if values:
            name = key.replace("/", "_")
            figures[f"first_{name}"], figures[f"last_{name}"] = values[0], values[-1]
            figures[f"mean_{name}"] = sum(values) / len(values)
    return figures
