"""Helpers for MLflow logging through kedro-mlflow (shared by every stage)."""

from __future__ import annotations

from typing import Any


def metrics_history(values: dict[str, float], step: int = 0) -> dict[str, dict[str, Any]]:
    """``{name: value}`` → the ``{name: {"value", "step"}}`` form that kedro-mlflow's
    ``MlflowMetricsHistoryDataset`` logs."""
    return {name: {"value": float(value), "step": step} for name, value in values.items()}
