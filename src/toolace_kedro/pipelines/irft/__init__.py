"""iTool's iterative reinforced fine-tuning: deficiency mining, step-level MCTS, preference pairs
and preference optimisation, repeated for ``n_rounds`` rounds."""

from toolace_kedro.pipelines.irft.pipeline import create_pipeline

__all__ = ["create_pipeline"]
