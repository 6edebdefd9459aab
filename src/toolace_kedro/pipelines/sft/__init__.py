"""``sft``: format generalisation, iTool's easy-to-hard warm-up and LoRA SFT with TRL."""

from toolace_kedro.pipelines.sft.pipeline import create_export_pipeline, create_pipeline

__all__ = ["create_export_pipeline", "create_pipeline"]
