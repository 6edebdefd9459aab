"""ToolACE's Self-Guided Dialog Generation: user, assistant and tool agents."""

from toolace_kedro.pipelines.dialog_generation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
