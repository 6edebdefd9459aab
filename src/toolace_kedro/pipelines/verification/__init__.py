"""ToolACE's Dual-Layer Verification: a rule layer, LLM judges (the model layer) and de-duplication."""

from toolace_kedro.pipelines.verification.pipeline import create_pipeline

__all__ = ["create_pipeline"]
