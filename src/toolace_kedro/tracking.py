"""Helpers for MLflow logging through kedro-mlflow (shared by every stage)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)


def metrics_history(values: dict[str, float], step: int = 0) -> dict[str, dict[str, Any]]:
    """``{name: value}`` → the ``{name: {"value", "step"}}`` form that kedro-mlflow's
    ``MlflowMetricsHistoryDataset`` logs."""
    return {name: {"value": float(value), "step": step} for name, value in values.items()}


def llm_metrics(usage: dict[str, Any], prefix: str = "llm") -> dict[str, float]:
    """A stage's LLM usage (``Usage.as_dict``) as flat metrics: requests, cache hits, tokens,
    retries and failures in total and by reason (``llm.failures.http_500``, ...)."""
    metrics = {f"{prefix}.{key}": float(usage.get(key, 0))
               for key in ("requests", "cache_hits", "prompt_tokens", "completion_tokens")}
    for key in ("retries", "failures"):
        by_reason = usage.get(key) or {}
        metrics[f"{prefix}.{key}"] = float(sum(by_reason.values()))
        metrics.update({f"{prefix}.{key}.{reason}": float(n) for reason, n in sorted(by_reason.items())})
    return metrics


@contextlib.contextmanager
def nested_training_runs(enabled: bool = True, system_metrics: bool = True,
                         interval_s: float | None = None) -> Iterator[None]:
    """While a trainer runs inside ``kedro run``: ``MLFLOW_NESTED_RUN=true`` (transformers'
    MLflow callback opens the trainer's run as a child of the Kedro run), the parent run's
    experiment active, system metrics (CPU, memory; GPU with nvidia-ml-py) logged on the child
    runs; the environment is restored afterwards."""
    if not enabled:
        yield
        return
    import mlflow

    parent = mlflow.active_run()
    if parent is not None:
        mlflow.set_experiment(experiment_id=parent.info.experiment_id)
    else:
        logger.warning("no active MLflow run: training runs are created as top-level runs")
    saved = os.environ.get("MLFLOW_NESTED_RUN")
    os.environ["MLFLOW_NESTED_RUN"] = "true"
    if system_metrics:
        if interval_s is not None:
            mlflow.set_system_metrics_sampling_interval(interval_s)
        mlflow.enable_system_metrics_logging()
    try:
        yield
    finally:
        if system_metrics:
            mlflow.disable_system_metrics_logging()
        if saved is None:
            os.environ.pop("MLFLOW_NESTED_RUN", None)
        else:
            os.environ["MLFLOW_NESTED_RUN"] = saved


def disarm_mlflow_callback(trainer: Any) -> None:
    """After a stage: stop its ``MLflowCallback`` from ending a run again. The callback remembers
    that it opened the stage run and its ``__del__`` ends *whatever run is active* when the trainer
    is garbage-collected — by then the Kedro run's own run, which would end mid-pipeline."""
    from transformers.integrations import MLflowCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, MLflowCallback):
            callback._auto_end_run = False
