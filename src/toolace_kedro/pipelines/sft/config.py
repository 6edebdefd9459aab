"""The ``sft:`` parameters, validated once (an unknown key is an error, so a typo fails fast)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from toolace_kedro.params import LoraParams, StrictModel, known_names, usable_weights
from toolace_kedro.toolcalls.dialog import DIALOG_TYPES

__all__ = ["DecisionParams", "DistributedParams", "LoraParams", "SFTLoraParams", "SFTParams", "TrainingParams"]


class SFTLoraParams(LoraParams):
    """The shared LoRA settings, plus how many of the top decoder layers get an adapter."""

    layers: int | None = Field(None, gt=0, description="Adapt only the top N decoder layers (null: all); "
                               "backpropagation stops below them")


class TrainingParams(StrictModel):
    """Trainer settings of one curriculum stage (each stage runs ``epochs`` epochs on its part)."""

    epochs: float = Field(1.0, gt=0, description="Epochs of each stage over its own dialogs")
    learning_rate: float = Field(1e-3, gt=0, description="Peak learning rate (AdamW)")
    lr_scheduler: str = Field("cosine", description="A transformers scheduler name")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of a stage's steps spent warming up")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm")
    per_device_batch_size: int = Field(4, gt=0, description="Dialogs per device and forward pass")
    gradient_accumulation_steps: int = Field(1, gt=0, description="Forward passes per optimiser step")
    padding_free: bool = Field(True, description="Flatten each batch into one row, no pad tokens")
    packing: bool = Field(False, description="BFD-pack rows of max_length tokens (implies padding_free)")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in the backward pass: a lower "
                                         "memory peak for more compute")
    attn_implementation: str = Field("auto", description="auto: sdpa_varlen for padding-free, else sdpa; or any "
                                     "transformers attention name")
    bf16: Literal["auto", True, False] = Field("auto", description="auto: bf16 on CUDA and on CPUs with native "
                                               "bf16, else fp32")
    loss: Literal["auto", "compact", "fused"] = Field("auto", description="Loss head; auto: compact (logits of "
                                                      "the loss tokens only) on CPU, TRL's fused head on CUDA")
    decision_weight: float = Field(1.0, gt=0, description="Loss weight of the first token of each assistant "
                                   "turn (call or answer in text); needs the compact loss head")
    logging_steps: int = Field(1, gt=0, description="Optimiser steps between logged losses")
    report_to: str | list[str] = Field("mlflow", description="Trainer integrations: mlflow gives one nested run "
                                       "per stage; none: off")
    system_metrics: bool = Field(True, description="MLflow system metrics (CPU, memory, GPU) of the stage runs")
    system_metrics_interval_s: float = Field(5.0, gt=0, description="Seconds between system metric samples")


class DecisionParams(StrictModel):
    """Decision tuning after the curriculum (``pipelines/sft/decision.py``): a binary loss on the
    probability that the first answer token opens a call."""

    enabled: bool = Field(False, description="Run the phase after the curriculum stages")
    negatives_per_call: int = Field(2, ge=0, description="Each call dialog's request again under this many "
                                    "tool lists of other dialogs that share no content word with it (decline)")
    distractors: bool = Field(True, description="Each call dialog's request also under its own tools plus one "
                              "unrelated tool (still a call)")
    epochs: int = Field(2, gt=0, description="Passes over the decision examples")
    learning_rate: float = Field(5e-4, gt=0, description="Peak learning rate (AdamW, 10 % warm-up, cosine)")
    batch_size: int = Field(4, gt=0, description="Examples per optimiser step (right-padded)")
    call_weight: float = Field(1.0, gt=0, description="Loss weight of the call class relative to the decline "
                               "class, after both are balanced (above 1 keeps more calls)")
    backprop: Literal["full", "request"] = Field("request", description="request: the system prompt (instructions, "
                                                 "tool list) is run once without gradient and cached, gradients "
                                                 "flow through the user turn and the generation prompt only, one "
                                                 "example at a time (faster on a CPU); full: gradients through the "
                                                 "whole prompt, in padded batches")


class DistributedParams(StrictModel):
    """Multi-GPU training under ``accelerate launch`` (see docs/sft.md, "Scale out")."""

    enabled: Literal["auto", True, False] = Field("auto", description="auto: launch when more than one GPU is "
                                                  "visible or several machines are set")
    accelerate_config: str = Field("conf/accelerate/deepspeed_zero2.yaml", description="The accelerate config "
                                   "file (DeepSpeed ZeRO-2/3 or FSDP)")
    num_processes: int | None = Field(None, description="Processes in all (null: GPUs per machine x "
                                      "num_machines)")
    num_machines: int = Field(1, gt=0, description="Machines taking part")
    machine_rank: int = Field(0, ge=0, description="This machine's rank (0: the main one)")
    main_process_ip: str | None = Field(None, description="The rank-0 machine's address (needed for several "
                                        "machines)")
    main_process_port: int | None = Field(None, description="The rank-0 machine's port (null: accelerate's)")
    work_dir: str = Field("data/06_models/sft_jobs", description="Where each job's spec, curriculum and adapter "
                          "are written (a local folder; conf/base puts it under the data root of globals.yml)")
    extra_args: list[str] = Field([], description="More accelerate launch flags")


class SFTParams(StrictModel):
    """Validated ``sft:`` block of ``conf/*/parameters_sft.yml``."""

    policy_model: str = Field("smollm2-135m-instruct", description="The policy trained (embedded name, hub id "
                              "or local path)")
    seed: int = Field(0, description="Seed of the split, the curriculum order, the renderings and the trainer")
    test_fraction: float = Field(0.15, ge=0, lt=1, description="Share of each dialog type held out as the "
                                 "synthetic test set")
    min_test_per_type: int = Field(1, ge=0, description="Held-out dialogs at least of each type that has two "
                                   "or more")
    min_test: int = Field(0, ge=0, description="The held-out set holds at least this many dialogs (the test "
                                                "fraction is raised for it, to at most one half)")
    format: Literal["prompt", "native", "auto"] = Field("prompt", description="prompt: tools in the system "
                                                        "prompt, calls as text; native: the chat template's "
                                                        "tool format; auto: native where supported")
    call_format: Literal["python", "json"] = Field("python", description="Calls in the prompt format: python "
                                                   "[f(a=1)] or json")
    mask_source: Literal["computed", "template", "auto"] = Field(
        "auto", description="Loss masks from the template's generation markers, computed from rendered prefixes, "
        "or auto (template where it has the markers)")
    tool_fields: list[str] | None = Field(["name", "description", "parameters"], description="Tool fields shown "
                                          "to the policy (null: every field)")
    prompt_variants: dict[str, float] = Field(
        {"training": 1.0}, description="Format generalisation: weights of the system-prompt wordings a training "
        "dialog is rendered in, drawn per dialog (toolcalls.PROMPT_VARIANTS: training, bfcl, bfcl_markdown, "
        "bfcl_experimental; BFCL's wordings need call_format python)")
    shuffle_tools: bool = Field(False, description="Format generalisation: list each training dialog's tools "
                                                   "in a seeded random order")
    exclude_types: list[str] = Field([], description="Dialog types left out of training (ablation); the test "
                                     "set keeps them")
    max_length: int | None = Field(1024, gt=0, description="Tokens per dialog, longer ones keep their start "
                                   "(null: no limit)")
    curriculum: bool = Field(True, description="Easy-to-hard stages; false: one shuffled stage (the ablation)")
    n_stages: int = Field(3, gt=0, description="Curriculum stages, trained in order on the same adapter")
    stratify_stages: bool = Field(True, description="Every curriculum stage holds each dialog type in the pool's "
                                  "proportions (easy-to-hard within each type); false: one global order")
    difficulty: Literal["policy", "meta"] = Field("policy", description="policy: rescore every dialog under "
                                                  "policy_model; meta: dialog_generation's meta.complexity where "
                                                  "every dialog has one")
    difficulty_batch_size: int = Field(4, gt=0, description="Dialogs per scoring pass (difficulty, held-out NLL)")
    difficulty_dtype: str = Field("auto", description="Scoring dtype; auto: bfloat16 on CPUs with native bf16, "
                                  "else the training dtype")
    measure_test_nll: bool = Field(True, description="Held-out assistant NLL before and after training")
    lora: SFTLoraParams = Field(default_factory=SFTLoraParams, description="The LoRA adapter trained")
    training: TrainingParams = Field(default_factory=TrainingParams, description="Trainer settings of each "
                                     "curriculum stage")
    decision: DecisionParams = Field(default_factory=DecisionParams, description="Decision tuning after the "
                                     "curriculum")
    distributed: DistributedParams = Field(default_factory=DistributedParams, description="Multi-GPU training "
                                           "under accelerate launch")

    @field_validator("exclude_types", mode="before")
    @classmethod
    def _one_type_or_list(cls, value: Any) -> Any:
        # `kedro run --params sft.exclude_types=parallel` gives a string (--params splits on commas)
        if value is None:
            return []
        types = value.replace("+", " ").split() if isinstance(value, str) else list(value)
        known_names(types, DIALOG_TYPES, "dialog types")
        return types

    @field_validator("prompt_variants")
    @classmethod
    def _known_variants(cls, value: dict[str, float]) -> dict[str, float]:
        from toolace_kedro.toolcalls import PROMPT_VARIANTS

        known_names(value, PROMPT_VARIANTS, "prompt variants")
        usable_weights(value, "prompt_variants")
        return value

    @model_validator(mode="after")
    def _variants_need_python_calls(self) -> SFTParams:
        bfcl = [v for v, w in self.prompt_variants.items() if w > 0 and v != "training"]
        if bfcl and (self.call_format != "python" or self.format == "native"):
            raise ValueError(f"prompt variants {bfcl} are BFCL's wordings: they need format prompt and "
                             f"call_format python (got format {self.format}, call_format {self.call_format})")
        return self

    @model_validator(mode="after")
    def _decision_weight_needs_compact(self) -> SFTParams:
        if self.training.decision_weight != 1.0 and self.training.loss == "fused":
            raise ValueError("sft.training.decision_weight needs sft.training.loss auto or compact "
                             "(TRL's fused head has no per-token weights)")
        return self

    @model_validator(mode="after")
    def _packing_needs_length(self) -> SFTParams:
        if self.training.packing and not self.max_length:
            raise ValueError("sft.training.packing needs sft.max_length (the packed row length)")
        return self
