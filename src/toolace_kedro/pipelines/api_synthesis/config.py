"""The ``api_synthesis:`` parameters (``conf/*/parameters_api_synthesis.yml``) as one validated model."""

from __future__ import annotations

from pydantic import Field, field_validator

from toolace_kedro.params import CheckpointParams, StrictModel, known_names

__all__ = ["ApiSynthesisParams"]


class DocumentParams(StrictModel):
    min_chars: int = Field(40, ge=0, description="Shorter documents are skipped")
    max_chars: int = Field(20000, gt=0, description="Longer documents are cut")
    max_control_ratio: float = Field(0.05, ge=0, le=1, description="Share of control characters that skips a "
                                     "document")


class SpeciationParams(StrictModel):
    domain_taxonomy: str | list[str] | None = Field(None, description="Domains to file functionalities under "
                                                    "(null: those the LLM names)")
    max_functionalities: int = Field(3, gt=0, description="Functionalities extracted per document")
    max_depth: int = Field(3, gt=0, description="Depth of the API context tree")
    children_per_node: int = Field(2, gt=0, description="Sub-functionalities asked for per node")
    max_expansions_per_level: int | None = Field(None, gt=0, description="Nodes expanded per tree level")
    merge_threshold: float = Field(0.8, gt=0, le=1, description="Similarity at which two nodes merge")
    max_tokens_extract: int = Field(96, gt=0)
    max_tokens_expand: int = Field(48, gt=0)
    seed: int = 0


class EvolutionParams(StrictModel):
    n_generations: int = Field(3, gt=0, description="Rounds of adaptation and evolution")
    apis_per_generation: int = Field(24, gt=0, description="APIs drafted per generation")
    namespace_share: float = Field(0.0, ge=0, le=1, description="Share of APIs named under a namespace "
                                   "(``ns.function``)")
    quality_filter: bool = Field(True, description="Drop drafts that fail the API checks")
    diversity_levels: dict[int, float] = Field({1: 0.4, 2: 0.35, 3: 0.25}, description="Weights of the "
                                               "diversity levels (evolution steps per API)")
    balance_domains: bool = Field(True, description="Draw domains evenly")
    indicators: dict[str, float] | list[str] | None = Field(None, description="Weights of the evolution "
                                                                   "indicators, or a list of them at equal weight (null: all)")
    max_parameters: int = Field(5, gt=0)
    max_tokens_api: int = Field(256, gt=0)
    near_duplicate_threshold: float = Field(0.75, gt=0, le=1)
    seed: int = 0

    @field_validator("indicators")
    @classmethod
    def _known_indicators(cls, value: dict[str, float] | list[str] | None) -> dict[str, float] | list[str] | None:
        from toolace_kedro.pipelines.api_synthesis.evolution import DIVERSITY_INDICATORS

        known_names(value or (), DIVERSITY_INDICATORS, "evolution indicators")
        return value


class ApiSynthesisParams(StrictModel):
    """Validated ``api_synthesis:`` block."""

    documents: DocumentParams = DocumentParams()
    speciation: SpeciationParams = SpeciationParams()
    evolution: EvolutionParams = EvolutionParams()
    checkpoint: CheckpointParams = CheckpointParams()
