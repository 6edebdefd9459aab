"""The ``sft:`` parameters, validated once (an unknown key is an error, so a typo fails fast)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from toolace_kedro.params import LoraParams, StrictModel, known_names, usable_weights
from toolace_kedro.toolcalls.dialog import DIALOG_TYPES

__all__ = ["DecisionParams", "DistributedParams", "LoraParams", "SFTLoraParams", "SFTParams", "TrainingParams",
           "parse_params"]


class SFTLoraParams(LoraParams):
    """The shared LoRA settings, plus how many of the top decoder layers get an adapter."""

    layers: int | None = Field(None, gt=0, description="Adapt only the top N decoder layers (null: all); "
                               "backpropagation stops below them")


class TrainingParams(StrictModel):
    """Trainer settings of one curriculum stage (each stage runs ``epochs`` epochs on its part)."""

    epochs: float = Field(1.0, gt=0)
    learning_rate: float = Field(1e-3, gt=0)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    per_device_batch_size: int = Field(4, gt=0)
    gradient_accumulation_steps: int = Field(1, gt=0)
    padding_free: bool = True          # flatten each batch into one row, no pad tokens
    packing: bool = False              # BFD-pack rows of max_length tokens (implies padding-free)
    gradient_checkpointing: bool = False
    attn_implementation: str = "auto"  # auto: sdpa_varlen for padding-free, else sdpa; or any HF name
    bf16: Literal["auto", True, False] = "auto"  # auto: bf16 on CUDA and on CPUs with native bf16, else fp32
    loss: Literal["auto", "compact", "fused"] = "auto"  # auto: compact head on CPU, TRL's fused head on CUDA
    decision_weight: float = Field(1.0, gt=0, description="Loss weight of the first token of each assistant "
                                   "turn (call or answer in text); needs the compact loss head")
    logging_steps: int = Field(1, gt=0)
    report_to: str | list[str] = "mlflow"
    system_metrics: bool = True        # mlflow.enable_system_metrics_logging() for the stage runs
    system_metrics_interval_s: float = Field(5.0, gt=0)


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


class DistributedParams(StrictModel):
    """Multi-GPU training under ``accelerate launch`` (see docs/sft.md, "Scale out")."""

    enabled: Literal["auto", True, False] = "auto"   # auto: when more than one GPU is visible
    accelerate_config: str = "conf/accelerate/deepspeed_zero2.yaml"
    num_processes: int | None = None   # default: every visible GPU
    num_machines: int = Field(1, gt=0)
    machine_rank: int = Field(0, ge=0)
    main_process_ip: str | None = None
    main_process_port: int | None = None
    work_dir: str = "data/06_models/sft_jobs"
    extra_args: list[str] = []


class SFTParams(StrictModel):
    """Validated ``sft:`` block of ``conf/*/parameters_sft.yml``."""

    policy_model: str = "smollm2-135m-instruct"
    seed: int = 0
    test_fraction: float = Field(0.15, ge=0, lt=1)
    min_test_per_type: int = Field(1, ge=0)
    min_test: int = Field(0, ge=0, description="The held-out set holds at least this many dialogs (the test "
                                                "fraction is raised for it, to at most one half)")
    format: Literal["prompt", "native", "auto"] = "prompt"
    call_format: Literal["python", "json"] = "python"
    mask_source: Literal["computed", "template", "auto"] = "auto"
    tool_fields: list[str] | None = ["name", "description", "parameters"]  # null: every field of the tools
    prompt_variants: dict[str, float] = Field(
        {"training": 1.0}, description="Format generalisation: weights of the system-prompt wordings a training "
        "dialog is rendered in, drawn per dialog (toolcalls.PROMPT_VARIANTS: training, bfcl, bfcl_markdown, "
        "bfcl_experimental; BFCL's wordings need call_format python)")
    shuffle_tools: bool = Field(False, description="Format generalisation: list each training dialog's tools "
                                                   "in a seeded random order")
    exclude_types: list[str] = []      # dialog types left out of training (ablation); the test set keeps them
    max_length: int | None = Field(1024, gt=0)
    curriculum: bool = True
    n_stages: int = Field(3, gt=0)
    stratify_stages: bool = Field(True, description="Every curriculum stage holds each dialog type in the pool's "
                                  "proportions (easy-to-hard within each type); false: one global order")
    difficulty: Literal["policy", "meta"] = "policy"
    difficulty_batch_size: int = Field(4, gt=0)
    difficulty_dtype: str = "auto"     # auto: bfloat16 on CPUs with native bf16, else the training dtype
    measure_test_nll: bool = True      # held-out assistant NLL before and after training
    lora: SFTLoraParams = SFTLoraParams()
    training: TrainingParams = TrainingParams()
    decision: DecisionParams = DecisionParams()
    distributed: DistributedParams = DistributedParams()

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


def parse_params(params: dict[str, Any] | SFTParams) -> SFTParams:
    """``SFTParams`` from the raw ``params:sft`` dict (or one already parsed)."""
    return SFTParams.of(params)
