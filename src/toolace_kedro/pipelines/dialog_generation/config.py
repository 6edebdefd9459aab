"""The ``dialog_generation:`` parameters (``conf/*/parameters_dialog_generation.yml``) as one validated model.
Its defaults are the stage's only ones: the nodes read every setting from this model."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from toolace_kedro.params import CheckpointParams, StrictModel, known_names, usable_weights
from toolace_kedro.toolcalls.dialog import DIALOG_TYPES

__all__ = ["ComplexityParams", "DialogCheckpointParams", "DialogGenerationParams", "MaxTokens", "MultiTurnParams",
           "NonToolParams", "SelfConsistencyParams"]


class NonToolParams(StrictModel):
    unrelated_request: float = Field(0.0, ge=0, le=1, description="Share of non-tool dialogs whose request is "
                                     "written for another API's topic")
    twins: float = Field(0.0, ge=0, le=1, description="Share of single-call dialogs that get an irrelevance twin "
                         "(the same request under other tools)")


class MultiTurnParams(StrictModel):
    follow_ups: int | tuple[int, int] = Field((2, 4), description="Follow-up requests after the first answer of a "
                                              "multi_turn dialog: a number, or [low, high] drawn per dialog")
    same_api: float = Field(0.3, ge=0, le=1, description="Share of follow-ups that call the previous request's "
                            "API again; the others call another API of its domain that can take a value from "
                            "the dialog")
    min_follow_ups: int = Field(1, ge=1, description="A multi_turn dialog left with fewer answered follow-ups is "
                                "dropped (a failed follow-up ends the dialog after the requests before it)")
    check_history: bool = Field(True, description="A follow-up's call must carry the value taken from the "
                                "dialog (checked with plan_agreement off too)")

    @field_validator("follow_ups")
    @classmethod
    def _positive_range(cls, value: int | tuple[int, int]) -> int | tuple[int, int]:
        low, high = (value, value) if isinstance(value, int) else value
        if not 1 <= low <= high:
            raise ValueError(f"follow_ups needs 1 <= low <= high, got {value}")
        return value


class SelfConsistencyParams(StrictModel):
    samples: int = Field(1, gt=0, description="Samples per assistant step")
    threshold: float = Field(0.6, ge=0, le=1, description="Agreement a step needs")
    temperature: float = Field(0.3, ge=0, description="Sampling temperature of the call samples")
    adaptive: bool = Field(True, description="Draw more samples only where the first ones disagree")
    retries: int = Field(0, ge=0, description="Fresh sets of call samples (new seeds) before a disagreeing "
                         "dialog is dropped")


class MaxTokens(StrictModel):
    user: int = Field(80, gt=0, description="Token limit of a user agent turn")
    assistant: int = Field(192, gt=0, description="Token limit of an assistant agent turn")
    tool: int = Field(128, gt=0, description="Token limit of a tool agent result")


class ComplexityParams(StrictModel):
    enabled: bool = Field(True, description="Score each dialog's complexity under the policy model")
    policy_model: str | None = Field("smollm2-135m-instruct", description="The model that scores (needed "
                                     "when enabled)")
    lower: float | None = Field(None, description="Dialogs simpler than this are regenerated harder (null: "
                                "from the prior quantiles)")
    upper: float | None = Field(None, description="... harder than this, simpler")
    prior_quantiles: list[float] = Field([0.1, 0.9], min_length=2, max_length=2, description="Quantiles of the "
                                         "prior set's scores that give the missing bounds")
    prior_size: int = Field(20, gt=0, description="First-pass scores the bounds wait for (the prior set)")
    max_rounds: int = Field(1, ge=0, description="Regenerations of an out-of-bounds dialog")
    batch_size: int = Field(8, gt=0, description="Finished dialogs scored together")
    dtype: str = Field("auto", description="Scoring dtype (auto: bfloat16 where the CPU has it natively)")

    @model_validator(mode="after")
    def _model_when_enabled(self) -> ComplexityParams:
        if self.enabled and not self.policy_model:
            raise ValueError("complexity.enabled needs complexity.policy_model")
        return self


class DialogCheckpointParams(CheckpointParams):
    shard_size: int | None = Field(None, gt=0, description="Consecutive plans per shard (null: chunk_size)")


class DialogGenerationParams(StrictModel):
    """Validated ``dialog_generation:`` block."""

    n_dialogs: int = Field(100, gt=0, description="Dialogs planned")
    type_mix: dict[str, float] = Field({"single": 1.0}, description="Weights of the dialog types")
    distractors: int | dict[int, float] = Field(0, description="Unneeded tools shown: a number, or weights of each "
                                               "number")
    value_source: Literal["llm", "sampler"] = Field("llm", description="Who picks the argument values the user "
                                                    "states: the LLM's plan or the schema-aware sampler")
    optional_share: float = Field(0.0, ge=0, le=1, description="Share of optional parameters the plan fills")
    plan_agreement: bool = Field(False, description="A call must agree with the plan's tools and values")
    call_values: Literal["free", "stated"] = Field("free", description="stated: a call may only use the values "
                                                   "the user stated")
    distinct_values: bool = Field(False, description="With call_values: stated, a call puts each stated value "
                                  "into one argument at most")
    user_temperature: float | None = Field(None, ge=0, description="Sampling temperature of the user agent "
                                           "(null: the llm block's)")
    request_topic: bool = Field(False, description="The user is told the topic of the request")
    non_tool: NonToolParams = Field(NonToolParams(), description="Non-tool dialogs and irrelevance twins")
    multi_turn: MultiTurnParams = Field(MultiTurnParams(), description="Follow-up requests of multi_turn dialogs")
    chunk_size: int = Field(100, gt=0, description="Dialogs in flight together")
    self_consistency: SelfConsistencyParams = Field(SelfConsistencyParams(), description="Voting over sampled "
                                                    "call actions")
    max_tokens: MaxTokens = Field(MaxTokens(), description="Token limits of each agent's turn")
    complexity: ComplexityParams = Field(ComplexityParams(), description="Scoring and regenerating dialogs by "
                                         "complexity")
    checkpoint: DialogCheckpointParams = Field(DialogCheckpointParams(), description="Shard checkpoints for "
                                               "resuming (null: none)")
    seed: int = Field(0, description="Seed of the plans and of the call samples")

    def user_sampling(self) -> dict[str, Any]:
        """Sampling settings of a user agent turn."""
        user: dict[str, Any] = {"max_tokens": self.max_tokens.user}
        if self.user_temperature is not None:
            user["temperature"] = self.user_temperature
        return user

    @field_validator("type_mix")
    @classmethod
    def _known_types(cls, value: dict[str, float]) -> dict[str, float]:
        known_names(value, DIALOG_TYPES, "dialog types")
        usable_weights(value, "type_mix")
        return value
