"""The base of every stage's parameter model: unknown keys are errors, so a misspelt key fails
before the run instead of being ignored (the hooks validate each stage's block before the first
node)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["CheckpointParams", "LoraParams", "StrictModel", "known_names", "usable_weights"]


def known_names(names: Iterable, known: Iterable, what: str) -> None:
    """Raise ``ValueError`` naming the members of ``names`` that are not in ``known`` (``what``
    says what they are, e.g. "dialog types")."""
    known = list(known)
    unknown = sorted(set(names) - set(known), key=str)
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; known: {sorted(known, key=str)}")


def usable_weights(weights: Mapping, what: str) -> None:
    """Raise ``ValueError`` unless ``weights`` are non-negative with a positive sum."""
    if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"{what} needs non-negative weights with a positive sum, got {dict(weights)}")


class StrictModel(BaseModel):
    """A pydantic model that forbids keys it does not declare."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def of(cls, value: Any):
        """``value`` as this model: itself when it already is one, else validated from a mapping
        (``None``: every default). Nodes call it on their ``params:<stage>`` input, so they work on
        the typed object whether the hook (``ParametersHook``) or a caller passed a plain dict."""
        if isinstance(value, cls):
            return value
        return cls.model_validate({} if value is None else value)


class CheckpointParams(StrictModel):
    """A synthesis stage's ``checkpoint:`` block (``llm.resume_shards.ShardCheckpoints``)."""

    dir: str | None = Field(None, description="Where finished shards are saved (null: nothing is saved)")
    keep: bool = Field(True, description="Keep the shards after the stage ends (false: delete them)")
    max_failed_share: float | None = Field(None, ge=0, le=1, description="Share of failed requests in a shard "
                                           "above which the stage stops loudly")

    @model_validator(mode="before")
    @classmethod
    def _null_is_no_block(cls, value: Any) -> Any:
        """``checkpoint: null`` means no block: nothing is saved."""
        return {} if value is None else value


class LoraParams(StrictModel):
    """A PEFT LoRA adapter (ToolACE: r 16, alpha 32, all linear modules)."""

    r: int = Field(8, gt=0, description="Rank")
    alpha: float = Field(16, gt=0, description="Scaling numerator (the update is scaled by alpha / r)")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the adapter input during training")
    target_modules: str | list[str] = Field("all-linear", description="Module names, or all-linear")
