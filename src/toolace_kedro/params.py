"""The base of every stage's parameter model: unknown keys are errors, so a misspelt key fails
before the run instead of being ignored (the hooks validate each stage's block before the first
node)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CheckpointParams", "StrictModel"]


class StrictModel(BaseModel):
    """A pydantic model that forbids keys it does not declare."""

    model_config = ConfigDict(extra="forbid")


class CheckpointParams(StrictModel):
    """A synthesis stage's ``checkpoint:`` block (``llm.resume_shards.ShardCheckpoints``)."""

    dir: str | None = Field(None, description="Where finished shards are saved (null: nothing is saved)")
    keep: bool = Field(True, description="Keep the shards after the stage ends (false: delete them)")
    max_failed_share: float | None = Field(None, ge=0, le=1, description="Share of failed requests in a shard "
                                           "above which the stage stops loudly")
