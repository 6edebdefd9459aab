"""The ``irft`` parameters, validated once per node (an unknown key or a bad value is an error that
names it). Defaults are iTool's where the paper gives one; ``conf/base/parameters_irft.yml`` sizes
them for the embedded model on a CPU."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from toolace_kedro.params import LoraParams, StrictModel

__all__ = ["IrftParams", "validated"]


class MiningParams(StrictModel):
    strategy: Literal["perplexity", "failures"] = Field(
        "perplexity", description="perplexity: iTool's top ratio by perplexity; failures: the candidates "
        "(the highest-perplexity ones) whose greedy answer is wrong")
    candidates: int | None = Field(None, ge=1, description="failures: answers decoded (the highest-perplexity "
                                   "samples, split over tool-call and non-tool); null: every sample")
    answer_tokens: int = Field(96, ge=8, description="failures: tokens of a greedy answer")
    balance: bool = Field(False, description="failures: max_samples split evenly over tool-call and non-tool; "
                          "a group with fewer failures than its half is filled with candidates it answered "
                          "right (highest perplexity first), so pairs push both ways, not only towards calling")
    ratio: float = Field(0.3, gt=0, le=1)
    max_samples: int | None = Field(None, ge=1)
    batch_size: int = Field(8, ge=1)
    dtype: str = "auto_bf16"


class SearchParams(StrictModel):
    reward: Literal["match", "self_grade"] = "match"
    k: int = Field(3, ge=1)
    n_iterations: int = Field(5, ge=1)
    c: float = Field(1.0, ge=0)
    max_depth: int = Field(3, ge=1)
    fragments_per_step: int = Field(2, ge=1)
    separators: list[str] = Field(default_factory=lambda: [". ", ", ", "=", "("], min_length=1)
    max_new_tokens: int = Field(50, ge=1)
    simulation_tokens: int = Field(48, ge=0)
    temperature: float = Field(1.0, ge=0)
    simulation_temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.95, gt=0, le=1)
    batch_samples: int = Field(8, ge=1)
    reuse_prefix: bool = True
    dtype: str = "auto"
    prefill_dtype: Literal["auto", "model"] = "auto"
    seed: int = 0


class PairParams(StrictModel):
    min_value_gap: float = 0.1
    max_word_overlap: float = Field(0.95, ge=0, le=1)
    min_chosen_value: float = -0.3
    answer_pairs: bool = True
    policy_answer_pairs: bool = Field(True, description="failures mining: the ground truth against the "
                                      "policy's own wrong greedy answer, one pair per mined sample")
    decision_pairs: bool = Field(True, description="failures mining: the ground truth against the other "
                                 "decision under the same tools (a call where a text answer is due, a decline "
                                 "where a call is due; taken from the training data), one pair per mined sample "
                                 "whose policy pair does not already oppose the two decisions")


class OptimisationParams(StrictModel):
    method: Literal["simpo", "dpo"] = "simpo"
    beta: float = Field(2.5, gt=0)
    simpo_gamma: float = 0.5
    dpo_loss_type: str | list[str] = "sigmoid"
    dpo_reference: Literal["sft", "previous"] = "sft"
    learning_rate: float = Field(1e-6, gt=0)
    epochs: float = Field(2, gt=0)
    batch_size: int = Field(4, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    max_length: int = Field(1024, ge=16)
    max_pairs: int | None = Field(4000, ge=1)
    lora: LoraParams = Field(default_factory=LoraParams)
    report_to: str | list[str] = "mlflow"
    bf16: Literal["auto"] | bool = "auto"
    shared_prompt: bool = True
    gradient_checkpointing: bool = False
    evaluate_pairs: bool = True
    mmap_threshold_mib: float | None = Field(None, gt=0)
    seed: int = 0


class IrftParams(StrictModel):
    n_rounds: int = Field(3, ge=1)
    mining: MiningParams = Field(default_factory=MiningParams)
    search: SearchParams = Field(default_factory=SearchParams)
    pairs: PairParams = Field(default_factory=PairParams)
    optimisation: OptimisationParams = Field(default_factory=OptimisationParams)


def validated(params: dict[str, Any]) -> dict[str, Any]:
    """``params:irft`` checked and completed with the defaults, as a plain dict."""
    return IrftParams.model_validate(params).model_dump()
