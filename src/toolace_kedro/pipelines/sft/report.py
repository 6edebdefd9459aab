"""``sft_report`` (versioned JSON) and the ``sft.*`` MLflow metrics of the Kedro run."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from toolace_kedro.pipelines.sft.config import SFTParams
from toolace_kedro.tracking import metrics_history

__all__ = ["sft_metrics", "sft_report"]


def sft_report(summary: dict[str, Any], curriculum: list[dict[str, Any]], test: list[dict[str, Any]],
               params: SFTParams, distributed: bool = False, split: dict[str, Any] | None = None) -> dict[str, Any]:
    """Counts, curriculum, per-stage loss start/end, tokens/s, wall time and held-out NLL
    (``wall_s`` and ``tokens_per_s``: the stages' training time, without scoring and loading),
    and the input records the split skipped (``skipped_input``)."""
    stages = summary.get("stages", [])
    tokens = sum(s["tokens"] for s in stages)
    seconds = sum(s["wall_s"] for s in stages)
    difficulties = [d for s in curriculum if isinstance(d := (s.get("meta") or {}).get("difficulty"), (int, float))
                    and math.isfinite(d)]
    peaks = [s["peak_memory_mb"] for s in stages if s.get("peak_memory_mb") is not None]
    drops = [s["loss_start"] - s["loss_end"] for s in stages if s.get("loss_start") is not None]
    return {
        "policy_model": params.policy_model,
        "train_dialogs": len(curriculum),
        "test_dialogs": len(test),
        "train_types": dict(Counter(s.get("type") for s in curriculum)),
        "test_types": dict(Counter(s.get("type") for s in test)),
        "curriculum": {
            "enabled": params.curriculum, "stages": len(stages), "difficulty": params.difficulty,
            "difficulty_sources": dict(Counter((s.get("meta") or {}).get("difficulty_source") for s in curriculum)),
            "difficulty_mean": round(sum(difficulties) / len(difficulties), 4) if difficulties else None,
        },
        "format": summary.get("render", {}),
        "lora": params.lora.model_dump(),
        "training": params.training.model_dump(),
        "dtype": summary.get("dtype"), "device": summary.get("device"),
        "attn_implementation": summary.get("attn_implementation"), "distributed": distributed,
        "stages": stages,
        # each stage starts on harder dialogs than the last ended on, so losses compare within a
        # stage; across the run the held-out NLL below is the comparable measure
        "mean_stage_loss_drop": round(sum(drops) / len(drops), 4) if drops else None,
        "tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 1) if seconds else None,
        "wall_s": round(seconds, 2),
        "peak_memory_mb": max(peaks) if peaks else None,
        "test_nll_before": summary.get("test_nll_before"),
        "test_nll_after": summary.get("test_nll_after"),
        "decision": summary.get("decision"),
        "skipped_input": (split or {}).get("skipped_input", {}),
    }


def sft_metrics(report: dict[str, Any]) -> dict[str, Any]:
    """Headline figures for ``MlflowMetricsHistoryDataset`` (prefix ``sft``); per-stage figures
    as histories with the stage number as step."""
    values = {k: report[k] for k in ("train_dialogs", "test_dialogs", "mean_stage_loss_drop", "tokens_per_s",
                                     "wall_s", "peak_memory_mb", "test_nll_before", "test_nll_after")
              if isinstance(report.get(k), (int, float))}
    values["stages"] = len(report["stages"])
    values["skipped_input"] = sum(b["skipped"] for b in report.get("skipped_input", {}).values())
    metrics: dict[str, Any] = metrics_history(values)
    for key in ("loss_start", "loss_end", "tokens_per_s", "wall_s"):
        history = [{"value": float(s[key]), "step": k} for k, s in enumerate(report["stages"], start=1)
                   if isinstance(s.get(key), (int, float))]
        if history:
            metrics[f"stage_{key}"] = history
    decision = report.get("decision") or {}
    for key in ("mean_loss", "decided_right"):  # per epoch of the decision phase
        history = [{"value": float(e[key]), "step": e["epoch"]} for e in decision.get("epochs", [])]
        if history:
            metrics[f"decision_{key}"] = history
    if isinstance(decision.get("wall_s"), (int, float)):
        metrics.update(metrics_history({"decision_wall_s": decision["wall_s"]}))
    return metrics
