"""The ``evaluation:`` parameters (``conf/*/parameters_evaluation.yml``) as one validated model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from toolace_kedro.datasets.bfcl_data import (
    CATEGORIES,
    FORMAT_SENSITIVITY,
    SINGLE_TURN_CATEGORIES,
)
from toolace_kedro.datasets.bfcl_multi_turn import MULTI_TURN_CATEGORIES
from toolace_kedro.llm.base import LLMConfig
from toolace_kedro.params import StrictModel, known_names
from toolace_kedro.pipelines.evaluation.items import sample_sizes

__all__ = ["BfclParams", "DecontaminationParams", "EvaluationParams", "GenerationParams", "MultiTurnParams", "ServedPolicies", "served_policy_problem",
           "served_policy_problems"]


class BfclParams(StrictModel):
    """Which BFCL items are asked."""

    categories: list[str] | None = Field(None, description="BFCL categories asked (null: the thirteen scored ones, "
                                         "simple_java and simple_javascript included; format_sensitivity, BFCL's "
                                         "non-scoring 26-format category, only when named)")
    sample_size: int | None | dict[str, int | None] = Field(
        None, description="Items per category, seeded: an int for every category, null for all items, or a "
        "mapping per category with 'default' for the rest")

    @field_validator("categories")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        known_names(value or (), SINGLE_TURN_CATEGORIES, "BFCL categories")
        return value

    @model_validator(mode="after")
    def _sizes(self) -> BfclParams:
        sample_sizes(self.sample_size, self.categories or CATEGORIES)  # what build_items will ask for
        return self


#: ``generation`` fields that are evaluation options, not ``llm`` settings
EVALUATION_ONLY = ("max_tokens_by_category", "early_stop")


class GenerationParams(StrictModel):
    """Greedy decoding of the policies. The block is merged over the shared ``llm`` block (every
    field but the evaluation-only :data:`EVALUATION_ONLY` ones), so it also takes any other ``llm``
    setting (``dtype``, ``max_batch_tokens``, ...) for the evaluation alone: hence ``extra="allow"``,
    with the extra keys checked against ``LLMConfig``."""

    model_config = ConfigDict(extra="allow")

    max_tokens: int = Field(96, gt=0, description="Tokens per answer")
    max_tokens_by_category: dict[str, Annotated[int, Field(gt=0, strict=True)]] = Field(
        {}, description="max_tokens of the named BFCL categories (their longest ground-truth calls need more)")
    batch_size: int = Field(16, gt=0, description="Rows decoding at once")
    schema_retries: int = Field(0, ge=0, description="Re-asks of an answer that fails its schema (none here)")
    early_stop: bool = Field(True, strict=True, description="A BFCL or held-out synthetic answer ends once its "
                             "decoder can no longer read calls in it (the same verdict, fewer tokens)")

    def llm_overrides(self) -> dict:
        """What this block sets over the ``llm`` block: every field but the evaluation-only ones."""
        return self.model_dump(exclude=set(EVALUATION_ONLY))

    @model_validator(mode="after")
    def _llm_keys_only(self) -> GenerationParams:
        known_names(self.model_extra or {}, LLMConfig.model_fields, "keys (neither a generation option nor an "
                    "llm setting):")
        known_names(self.max_tokens_by_category, SINGLE_TURN_CATEGORIES, "BFCL categories in max_tokens_by_category")
        return self


class DecontaminationParams(StrictModel):
    """Overlap of the BFCL questions with the training dialogs' user turns."""

    n: int = Field(8, gt=0, description="Word n-grams shared by a BFCL question and a training user turn")
    threshold: float = Field(0.7, gt=0, le=1, description="Share of a question's n-grams that counts as "
                             "contaminated")


#: the key a bad multi-turn sample size is reported under
MULTI_TURN_SIZE_KEY = "evaluation.multi_turn.sample_size"


def asked_backend(llm: Mapping[str, Any] | LLMConfig | None, cfg: EvaluationParams) -> str:
    """The backend the evaluation asks its policies with: ``generation`` merged over ``llm``."""
    shared = llm.model_dump() if isinstance(llm, LLMConfig) else dict(llm or {})
    return {**shared, **cfg.generation.llm_overrides()}.get("backend", "transformers")


class MultiTurnParams(StrictModel):
    """BFCL's multi-turn categories: each policy works through an entry turn by turn on BFCL's
    simulated backends (``multi_turn_policy.run_multi_turn``), scored by BFCL's state- and
    response-based checks (``multi_turn.check_trajectory``)."""

    categories: list[str] | None = Field([], description="Multi-turn categories asked ([]: none; null: all four)")
    sample_size: int | None | dict[str, int | None] = Field(
        None, description="Entries per category, seeded: an int, null for all, or a mapping per category with "
        "'default'")
    max_steps: int | None = Field(None, gt=0, description="Executed steps per turn before an entry is "
                                  "force-quit (null: BFCL's limit)")
    max_tokens: int = Field(256, gt=0, description="Tokens per step's answer")
    early_stop: bool = Field(False, description="End a step's answer once it can no longer become Python calls "
                             "(in-process generation): the step's outcome is the same, but later turns see the cut "
                             "text in their history, so the figures are not BFCL's exactly (a CPU budget setting)")

    @field_validator("categories")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        known_names(value or (), MULTI_TURN_CATEGORIES, "BFCL multi-turn categories")
        return value

    def chosen(self) -> list[str]:
        """The categories asked."""
        return list(MULTI_TURN_CATEGORIES if self.categories is None else self.categories)

    @model_validator(mode="after")
    def _sizes(self) -> MultiTurnParams:
        sample_sizes(self.sample_size, self.chosen(), MULTI_TURN_CATEGORIES, MULTI_TURN_SIZE_KEY)
        return self


class ServedPolicies(StrictModel):
    """The model name under which an OpenAI-compatible server answers as each policy: every
    policy is asked by its own name, and a policy without one stops the run before anything is
    asked (the transformers backend loads the run's adapter and merged policy itself and reads
    none of these)."""

    base: str | None = Field(None, description="The base model's served name (null: the llm block's model)")
    sft: str | None = Field(None, description="The served name of this run's sft adapter (vLLM: "
                            "--enable-lora --lora-modules <name>=<sft_adapter directory>)")
    irft: str | None = Field(None, description="The served name of this run's merged irft policy (a server of its "
                             "own, or one that serves that directory under this name)")


class EvaluationParams(StrictModel):
    """Validated ``evaluation:`` block."""

    seed: int = Field(0, description="Seed of the BFCL item subsets")
    prompt: Literal["bfcl", "training"] = Field("bfcl", description="bfcl: BFCL's own prompt-mode system "
                                                "prompt; training: the sft format")
    bfcl: BfclParams = Field(default_factory=BfclParams, description="The BFCL items asked")
    synthetic: bool = Field(True, description="Also score the held-out synthetic test set")
    call_format: Literal["python", "json"] = Field("python", description="The call format the policies were "
                                                   "trained on")
    generation: GenerationParams = Field(default_factory=GenerationParams,
                                         description="Decoding of the policies' answers, merged over the llm block")
    decontamination: DecontaminationParams = Field(default_factory=DecontaminationParams,
                                                   description="The n-gram overlap of BFCL with the training data")
    multi_turn: MultiTurnParams = Field(default_factory=MultiTurnParams,
                                        description="BFCL's multi-turn categories, run on its simulated backends")
    served_policies: ServedPolicies = Field(default_factory=ServedPolicies,
                                            description="openai backend: the served name of each policy")

    @model_validator(mode="after")
    def _format_sensitivity_needs_bfcls_prompt(self) -> EvaluationParams:
        if self.prompt != "bfcl" and FORMAT_SENSITIVITY in (self.bfcl.categories or ()):
            raise ValueError("evaluation.bfcl.categories asks format_sensitivity, whose items are BFCL's prompt in 26 "
                             f"formats: it needs evaluation.prompt: bfcl, not {self.prompt!r}")
        return self


#: the evaluation node that asks each policy
PREDICT_NODES = {"predict_base": "base", "predict_sft": "sft", "predict_irft": "irft"}


def served_policy_problem(policy: str) -> str:
    """Why ``policy`` cannot be asked behind a server without a served name."""
    return (f"evaluation.served_policies.{policy} is not set, and the evaluation asks an OpenAI-compatible server "
            f"(llm.backend: openai): serve this run's {policy} policy under a name (vLLM: --enable-lora "
            "--lora-modules sft=<sft_adapter directory> for the adapter; the merged irft directory as a model of "
            "its own) and set that name, or evaluate in process (evaluation.generation.backend: transformers)")


def served_policy_problems(blocks: Mapping[str, Any], node_names: set[str]) -> list[str]:
    """Before a run: each policy the run asks behind an OpenAI-compatible server has a served
    name (``blocks``: the run's parameter blocks; ``node_names``: its nodes)."""
    if "evaluation" not in blocks:
        return []
    cfg = EvaluationParams.of(blocks["evaluation"])
    if asked_backend(blocks.get("llm"), cfg) != "openai":
        return []
    policies = [policy for name, policy in PREDICT_NODES.items() if name in node_names]
    return [served_policy_problem(p) for p in policies if p != "base" and not getattr(cfg.served_policies, p)]
