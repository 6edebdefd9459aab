"""Helpers for MLflow logging through kedro-mlflow (shared by every stage)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


class MlflowMetadata(BaseModel):
    """What the tracking hook logs for one catalog dataset: its ``metadata.mlflow`` block.

    Example (``conf/base/catalog_sft.yml``)::

        sft_adapter:
          type: toolace_kedro.datasets.ModelDirectoryDataset
          ...
          metadata:
            kedro-viz: {layer: models}
            mlflow: {registered_model: toolace-sft}
    """

    model_config = ConfigDict(extra="forbid")

    registered_model: str | None = Field(
        None, description="After each save: log the model directory as a pyfunc model of the run and register "
                          "it under this name (tags kedro_run_id, kedro_dataset)")
    input: Literal["training", "evaluation"] | None = Field(
        None, description="After each load: record the records as a dataset input of the run with this context "
                          "(name, digest, row count; source: the versioned file)")
    table: str | None = Field(
        None, description="After each save: log the records as an MLflow table at this artifact path "
                          "(mlflow.log_table; mlflow.load_table reads it back)")


def mlflow_metadata(dataset: Any) -> MlflowMetadata | None:
    """The validated ``metadata.mlflow`` block of a catalog dataset; ``None`` when it has none."""
    block = (getattr(dataset, "metadata", None) or {}).get("mlflow")
    return MlflowMetadata.model_validate(block) if block else None


def dataset_file(dataset: Any, saved: bool) -> str:
    """The file (or directory) a dataset just saved or loaded: its versioned path when versioned."""
    if getattr(dataset, "_version", None) is not None:  # (_get_save_path refuses a path that exists)
        path = dataset._get_versioned_path(dataset.resolve_save_version()) if saved else dataset._get_load_path()
    else:
        path = dataset._filepath
    path = str(path)
    protocol = getattr(dataset, "_protocol", "file")
    if protocol not in (None, "file") and "://" not in path:
        return f"{protocol}://{path}"
    return os.path.abspath(path) if "://" not in path else path


def records_frame(records: list[dict[str, Any]]):
    """Records as a pandas DataFrame of scalar columns (nested values as JSON text, as MLflow's
    tables and dataset digests want them)."""
    import pandas as pd

    def scalar(value: Any) -> Any:
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if isinstance(value, (dict, list)) else value

    return pd.DataFrame([{key: scalar(value) for key, value in record.items()} for record in records])


def log_records_input(records: list[dict[str, Any]], name: str, source: str, context: str) -> None:
    """Record ``records`` (read from ``source``) as a dataset input of the active run."""
    import mlflow

    dataset = mlflow.data.from_pandas(records_frame(records), source=source, name=name)
    mlflow.log_input(dataset, context=context)


def log_records_table(records: list[dict[str, Any]], artifact_file: str) -> None:
    """Log ``records`` as an MLflow table of the active run (``mlflow.load_table`` reads it)."""
    import mlflow

    mlflow.log_table(records_frame(records), artifact_file=artifact_file)
