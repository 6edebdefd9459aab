"""One nested MLflow run per curriculum stage, under the run kedro-mlflow opens around ``kedro run``.

transformers' ``MLflowCallback`` (``report_to="mlflow"``) opens the stage run: with
``MLFLOW_NESTED_RUN=true`` it starts a child of the active run named after ``SFTConfig.run_name``
(``sft-stage-1-of-3`` ...), logs every trainer argument and the loss curve, and closes it when the
stage ends. ``StageTelemetry`` notes the run id and measures wall time and peak memory;
``annotate_stage_run`` then adds what the callback does not log: the ``sft.*`` parameters, the
stage's data (dialogs, tokens, difficulty range), tokens/s, peak memory and the Kedro run id
(the parent's ``run_id`` tag, which is also the save version of every dataset of that run), so a
stage run links to the data versions it was trained on.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from transformers import TrainerCallback

from toolace_kedro.tracking import disarm_mlflow_callback, nested_training_runs

__all__ = ["StageTelemetry", "annotate_stage_run", "close_failed_stage_run", "disarm_mlflow_callback", "flatten",
           "nested_runs"]

logger = logging.getLogger(__name__)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (lists kept as one value)."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def nested_runs(enabled: bool, training: Any):
    """The shared :func:`toolace_kedro.tracking.nested_training_runs` with the stage's settings."""
    return nested_training_runs(enabled, training.system_metrics, training.system_metrics_interval_s)


class StageTelemetry(TrainerCallback):
    """Notes the stage's MLflow run id, its training time and peak memory (CUDA allocator peak on
    GPUs, the process's resident set on CPUs, sampled every step)."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.peak_memory_mb: float | None = None
        self._start: float | None = None
        self._end: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):  # after MLflowCallback opened the run
        import torch

        self._start = time.perf_counter()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        with contextlib.suppress(Exception):
            import mlflow

            run = mlflow.active_run()
            self.run_id = run.info.run_id if run is not None and "mlflow" in (args.report_to or []) else None

    def on_step_end(self, args, state, control, **kwargs):
        self._sample_memory()

    def on_train_end(self, args, state, control, **kwargs):
        self._end = time.perf_counter()
        self._sample_memory()

    def _sample_memory(self) -> None:
        import torch

        if torch.cuda.is_available():
            mb = torch.cuda.max_memory_allocated() / 2**20
        else:
            import psutil

            mb = psutil.Process().memory_info().rss / 2**20
        self.peak_memory_mb = round(max(self.peak_memory_mb or 0.0, mb), 1)

    def train_seconds(self, fallback: float) -> float:
        if self._start is not None and self._end is not None and self._end > self._start:
            return self._end - self._start
        return fallback


def annotate_stage_run(run_id: str, params: Any, stage: int, n_stages: int, result: dict[str, Any],
                       parent_run_id: str | None = None) -> None:
    """Add the ``sft.*`` parameters, the stage's figures and the Kedro run id to a stage run.

    ``parent_run_id`` attaches a run opened without an active parent (under ``accelerate launch``
    the stage runs start in a fresh process) to the Kedro run."""
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    run = client.get_run(run_id)
    tags = {"sft.stage": str(stage), "sft.n_stages": str(n_stages)}
    parent_id = run.data.tags.get("mlflow.parentRunId")
    if not parent_id and parent_run_id:
        parent_id = tags["mlflow.parentRunId"] = parent_run_id
    if parent_id:
        kedro_run_id = client.get_run(parent_id).data.tags.get("run_id")
        if kedro_run_id:
            tags["kedro_run_id"] = kedro_run_id
    logged = {k for k in run.data.params}
    values = {f"sft.{k}": str(v)[:6000] for k, v in flatten(params.model_dump()).items()}
    values.update({"sft.stage": stage, "sft.stage_samples": result["samples"],
                   "sft.stage_difficulty_min": result.get("difficulty_min"),
                   "sft.stage_difficulty_max": result.get("difficulty_max")})
    metrics = {k: result[k] for k in ("tokens_per_s", "wall_s", "peak_memory_mb", "tokens", "loss_tokens")
               if result.get(k) is not None}
    if result.get("loss_start") is not None:
        metrics.update(loss_start=result["loss_start"], loss_end=result["loss_end"])
    client.log_batch(run_id, metrics=[mlflow.entities.Metric(k, float(v), int(time.time() * 1000), 0)
                                      for k, v in metrics.items()],
                     params=[mlflow.entities.Param(k, str(v)) for k, v in values.items() if k not in logged],
                     tags=[mlflow.entities.RunTag(k, v) for k, v in tags.items()])


def close_failed_stage_run(run_id: str | None) -> None:
    """End a stage run left open by an error inside ``trainer.train()`` (``MLflowCallback`` only
    closes it on a normal end), so the Kedro run's run is active again and the stage shows FAILED."""
    if not run_id:
        return
    with contextlib.suppress(Exception):
        import mlflow

        active = mlflow.active_run()
        if active is not None and active.info.run_id == run_id:
            mlflow.end_run("FAILED")
