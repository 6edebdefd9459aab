"""``evaluation``: BFCL (exact checker, literal-only decoding), the held-out synthetic test set
and n-gram decontamination; base vs sft vs irft side by side."""

from toolace_kedro.pipelines.evaluation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
