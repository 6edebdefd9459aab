"""The ``verification:`` parameters (``conf/*/parameters_verification.yml``) as one validated model;
its defaults are the only ones (the nodes read the typed object, ``VerificationParams.of``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from toolace_kedro.params import StrictModel, known_names

__all__ = ["DedupParams", "JudgeParams", "RuleParams", "VerificationParams"]


class LayerSwitches(StrictModel):
    """Which layers run (the paper's ablation: a layer off keeps what it would reject)."""

    rules: bool = Field(True, description="The rule layer (schemas, values, dialog shape)")
    dedup: bool = Field(True, description="De-duplication of requests and answers")
    judges: bool = Field(False, description="The model layer (three expert judges)")


class RuleParams(StrictModel):
    """Thresholds of the rule layer (``rules.py``)."""

    max_answer_chars: int = Field(2000, gt=0, description="dialog.too_long: longest assistant answer")
    mixed_language_threshold: float = Field(0.2, ge=0, le=1, description="dialog.mixed_language: share of words "
                                            "outside the main script")
    closed_objects: bool = Field(True, description="call.unknown_argument also for undeclared nested fields")


class QualityParams(StrictModel):
    """Data-quality flags (``quality.py``) that reject, besides being reported."""

    require: list[Literal["grounded", "relevant", "answer_uses_results", "fluent"]] = Field(
        ["fluent"], description="Data-quality measures that reject a dialog that fails them")


class DedupParams(StrictModel):
    """Near-duplicate requests and answers (``dedup.py``)."""

    scope: Literal["tools", "global"] = Field("tools", description="tools: compare requests under the same tool "
                                              "set only; global: all requests")
    request_threshold: float = Field(0.8, gt=0, le=1, description="Word-trigram Jaccard of the first user turns")
    answer_threshold: float = Field(0.9, gt=0, le=1, description="Word-trigram Jaccard of the final assistant "
                                    "answers")


class JudgeSwitch(StrictModel):
    """One judge on or off."""

    enabled: bool = Field(True, description="Ask this judge")


class JudgeParams(StrictModel):
    """The model layer: three LLM judges (``judges.py``)."""

    reject: bool = Field(False, description="Whether a failed judge rejects the dialog (else recorded only)")
    votes: int = Field(1, gt=0, description="Requests per judge and dialog; the majority decides")
    temperature: float = Field(0.0, ge=0, description="0: greedy; sample (> 0) when votes > 1")
    max_tokens: int = Field(48, gt=0, description="Tokens of a verdict")
    reason_max_chars: int = Field(60, gt=0, description="Longest reason in characters (when "
                                  "reason_pattern is null)")
    reason_pattern: str | None = Field(None, description="Regular expression a reason must match")
    examples: bool = Field(False, description="A pass and a fail worked example before each case")
    on_unavailable: Literal["pass", "fail"] = Field("pass", description="How a judge with no valid answer "
                                                      "counts")
    llm: dict[str, Any] = Field({}, description="Overrides of params:llm for the judge model")
    hallucination: JudgeSwitch = Field(JudgeSwitch(), description="Are call arguments taken from the dialog "
                                       "or invented")
    consistency: JudgeSwitch = Field(JudgeSwitch(), description="Does the assistant fulfil the request")
    tool_response: JudgeSwitch = Field(JudgeSwitch(), description="Does each result fit its API's returns")

    @field_validator("llm")
    @classmethod
    def _llm_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        from toolace_kedro.llm.base import LLMConfig

        known_names(value, LLMConfig.model_fields, "llm keys")
        return value


class VerificationParams(StrictModel):
    """Validated ``verification:`` block."""

    layers: LayerSwitches = Field(LayerSwitches(), description="Which layers run")
    rules: RuleParams = Field(RuleParams(), description="Rule layer thresholds")
    quality: QualityParams = Field(QualityParams(), description="Data-quality measures that reject")
    dedup: DedupParams = Field(DedupParams(), description="De-duplication of requests and answers")
    judges: JudgeParams = Field(JudgeParams(), description="The LLM judges and whether they reject")
