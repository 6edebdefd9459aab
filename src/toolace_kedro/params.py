"""The base of every stage's parameter model: unknown keys are errors, so a misspelt key fails
before the run instead of being ignored (the hooks validate each stage's block before the first
node)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["StrictModel"]


class StrictModel(BaseModel):
    """A pydantic model that forbids keys it does not declare."""

    model_config = ConfigDict(extra="forbid")
