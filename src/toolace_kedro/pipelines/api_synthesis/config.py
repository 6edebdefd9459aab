"""The ``api_synthesis:`` parameters (``conf/*/parameters_api_synthesis.yml``) as one validated model.
The defaults here are the only ones: the nodes read the typed model, never a raw key."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from toolace_kedro.params import CheckpointParams, StrictModel, known_names, usable_weights

__all__ = ["ApiSynthesisParams", "DocumentParams", "EvolutionParams", "SpeciationParams"]


class DocumentParams(StrictModel):
    """Which raw documents are usable (``documents.clean_documents``)."""

    min_chars: int = Field(40, ge=0, description="Shorter documents are skipped")
    max_chars: int = Field(20000, gt=0, description="Longer documents are skipped (split big manuals first)")
    max_control_ratio: float = Field(0.05, ge=0, le=1, description="Share of control characters that skips a "
                                     "document as binary")


class SpeciationParams(StrictModel):
    """The API context tree (``speciation.speciate``)."""

    domain_taxonomy: list[str] | None = Field(None, description="Domains the LLM must file documents under "
                                              "(null: it names domains freely)")
    max_functionalities: int = Field(3, gt=0, description="Functionalities extracted per document")
    max_depth: int = Field(3, gt=0, description="Depth of the API context tree (2: no expansion)")
    children_per_node: int = Field(2, gt=0, description="Sub-functionalities asked for per expanded node")
    max_expansions_per_level: int | None = Field(None, gt=0, description="Nodes expanded per tree level, "
                                                 "sampled (null: all)")
    merge_threshold: float = Field(0.8, gt=0, le=1, description="Name similarity at which sibling nodes merge")
    max_tokens_extract: int = Field(96, gt=0, description="Answer budget of a document's extraction request")
    max_tokens_expand: int = Field(48, gt=0, description="Answer budget of a node's expansion request")
    seed: int = Field(0, description="Seed of the sampling of expanded nodes")


class EvolutionParams(StrictModel):
    """Adaptation, evolution and filtering of the API pool (``evolution.evolve``)."""

    n_generations: int = Field(3, gt=0, description="Rounds of adaptation and evolution")
    apis_per_generation: int = Field(24, gt=0, description="APIs drafted per generation")
    namespace_share: float = Field(0.0, ge=0, le=1, description="Share of APIs named under a namespace "
                                   "(``ns.function``, as BFCL's dotted names)")
    quality_filter: bool = Field(True, description="Drop drafts that fail the API quality checks")
    diversity_levels: dict[int, float] = Field({1: 0.4, 2: 0.35, 3: 0.25}, description="Subtree size -> weight "
                                               "(the diversity level of an adaptation)")
    balance_domains: bool = Field(True, description="Draw each subtree's domain uniformly, then a node in it")
    indicators: dict[str, float] | list[str] | None = Field(None, description="Weights of the evolution "
                                                            "indicators, or a list of them at equal weight "
                                                            "(null: all)")
    min_parameters: int = Field(1, gt=0, description="Parameters an API draft must declare at least (BFCL's "
                                "functions mostly take 2-3)")
    max_parameters: int = Field(5, gt=0, description="Parameters an API draft may declare")
    max_tokens_api: int = Field(256, gt=0, description="Answer budget of an API draft request")
    near_duplicate_threshold: float = Field(0.75, gt=0, le=1, description="Name+description similarity that "
                                            "rejects an API as a near duplicate")
    seed: int = Field(0, description="Seed of the subtree, example and indicator draws")

    @field_validator("diversity_levels")
    @classmethod
    def _usable_levels(cls, value: dict[int, float]) -> dict[int, float]:
        usable_weights(value, "evolution.diversity_levels")
        return value

    @field_validator("indicators")
    @classmethod
    def _known_indicators(cls, value: dict[str, float] | list[str] | None) -> dict[str, float] | list[str] | None:
        from toolace_kedro.pipelines.api_synthesis.evolution import DIVERSITY_INDICATORS

        known_names(value or (), DIVERSITY_INDICATORS, "evolution indicators")
        if isinstance(value, dict) and value:
            usable_weights(value, "evolution.indicators")
        return value

    @model_validator(mode="after")
    def _parameter_bounds(self) -> EvolutionParams:
        if self.min_parameters > self.max_parameters:
            raise ValueError(f"evolution.min_parameters ({self.min_parameters}) exceeds evolution.max_parameters "
                             f"({self.max_parameters})")
        return self


class ApiSynthesisParams(StrictModel):
    """Validated ``api_synthesis:`` block."""

    documents: DocumentParams = Field(default_factory=DocumentParams, description="Raw document filter")
    speciation: SpeciationParams = Field(default_factory=SpeciationParams, description="API context tree")
    evolution: EvolutionParams = Field(default_factory=EvolutionParams, description="API pool generation")
    checkpoint: CheckpointParams = Field(default_factory=CheckpointParams, description="Resumable shards of "
                                         "speciation and evolution (null: none)")
