"""Project pipelines: every package under ``toolace_kedro.pipelines`` with a ``create_pipeline``."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

#: The order of the stages in the default run (those that exist).
STAGES = ("api_synthesis", "dialog_generation", "verification", "sft", "irft", "evaluation")


def register_pipelines() -> dict[str, Pipeline]:
    """Register each pipeline by its name; ``__default__`` chains the stages that exist."""
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum((pipelines[s] for s in STAGES if s in pipelines), Pipeline([]))
    return pipelines
