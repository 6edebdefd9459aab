"""ToolACE's Tool Self-evolution Synthesis: speciation → adaptation → evolution → filtering."""

from toolace_kedro.pipelines.api_synthesis.pipeline import create_pipeline

__all__ = ["create_pipeline"]
