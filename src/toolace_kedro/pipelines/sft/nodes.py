"""Nodes of the ``sft`` pipeline: split → easy-to-hard curriculum → LoRA SFT (→ merged export)."""

from __future__ import annotations

import copy
import logging
import math
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from toolace_kedro.datasets.records import validate_records
from toolace_kedro.pipelines.sft import distributed
from toolace_kedro.pipelines.sft.config import SFTParams
from toolace_kedro.pipelines.sft.curriculum import difficulty_scores, split_stages, stages_of
from toolace_kedro.pipelines.sft.report import sft_metrics, sft_report
from toolace_kedro.pipelines.sft.training import fit_curriculum
from toolace_kedro.toolcalls import dialog_problem

__all__ = ["merge_sft_adapter", "order_curriculum", "split_train_test", "train_sft"]

logger = logging.getLogger(__name__)


def split_train_test(verified_dialogs: list[dict[str, Any]], params: SFTParams | Mapping[str, Any]
                     ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Seeded split stratified by ``type`` into training dialogs, a held-out synthetic test set,
    and the split's report (``sft_split_report``).

    Each type gives ``round(n * f)`` dialogs to the test set -- ``f`` is ``test_fraction``, raised
    so that the test set holds at least ``min_test`` dialogs (at most half of them) -- at least
    ``min_test_per_type`` when it has two or more, and always keeps one for training. The types
    in ``exclude_types`` (the data-type ablations: ToolACE trains without parallel or non-tool
    data) are split the same way, so the test set is the one the full data gives, and their
    training dialogs are then left out (counted under ``excluded_types``). Records
    that are not canonical dialogs are skipped and counted with their file and line (the report's
    ``skipped_input``); none left is an error.
    """
    cfg = SFTParams.of(params)
    dialogs, skipped = validate_records(verified_dialogs, dialog_problem, "verified_dialogs")
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sample in dialogs:
        by_type[sample["type"]].append(sample)
    rng = random.Random(cfg.seed)
    train, test = [], []
    types = {}
    # at least min_test dialogs in all (never more than half of them), spread over the types
    fraction = (min(0.5, max(cfg.test_fraction, cfg.min_test / len(dialogs))) if cfg.test_fraction > 0 and dialogs
                else 0.0)
    for kind in sorted(by_type):
        group = list(by_type[kind])
        rng.shuffle(group)
        n_test = round(len(group) * fraction)
        if len(group) >= 2 and cfg.test_fraction > 0:
            n_test = max(n_test, cfg.min_test_per_type)
        n_test = min(n_test, len(group) - 1)
        test.extend(group[:n_test])
        types[kind] = {"train": len(group) - n_test, "test": n_test}
        if kind in cfg.exclude_types:  # the ablation trains without this type; the test set still has it
            types[kind].update(train=0, excluded=len(group) - n_test)
        else:
            train.extend(group[n_test:])
    excluded = {kind: t["excluded"] for kind, t in types.items() if "excluded" in t}
    logger.info("sft split: %d train, %d test dialogs (%d types); %d records skipped%s", len(train), len(test),
                len(by_type), skipped["skipped"],
                f"; left out of training by exclude_types: {excluded}" if cfg.exclude_types else "")
    if not train:
        raise ValueError(f"verified_dialogs: no training dialog left (exclude_types {cfg.exclude_types}, "
                         f"types {sorted(by_type)})")
    report = {"train": len(train), "test": len(test), "types": types, "excluded_types": excluded,
              "skipped_input": {"verified_dialogs": skipped}}
    return train, test, report


def order_curriculum(sft_train: list[dict[str, Any]], params: SFTParams | Mapping[str, Any]) -> list[dict[str, Any]]:
    """iTool's easy-to-hard warm-up order: every dialog gets ``meta.difficulty`` (the policy's
    mean assistant NLL) and ``meta.curriculum_stage``; the list comes back in training order.
    With ``curriculum: false`` one shuffled stage (no scoring)."""
    cfg = SFTParams.of(params)
    samples = copy.deepcopy(sft_train)
    if not cfg.curriculum:
        stages = split_stages(samples, [math.nan] * len(samples), 1, curriculum=False, seed=cfg.seed)
        source = "none"
    else:
        given = [(s.get("meta") or {}).get("complexity") for s in samples]
        if cfg.difficulty == "meta" and all(isinstance(x, (int, float)) for x in given):
            scores, source = [float(x) for x in given], "meta.complexity"
        else:
            start = time.perf_counter()
            scores, source = _policy_scores(samples, cfg), f"policy:{cfg.policy_model}"
            logger.info("difficulty of %d dialogs under %s in %.1f s", len(samples), cfg.policy_model,
                        time.perf_counter() - start)
        for sample, score in zip(samples, scores):
            sample.setdefault("meta", {})["difficulty"] = round(score, 4) if math.isfinite(score) else None
        strata = [str(s.get("type", "")) for s in samples] if cfg.stratify_stages else None
        stages = split_stages(samples, scores, cfg.n_stages, curriculum=True, strata=strata)
    ordered = []
    for k, stage in enumerate(stages, start=1):
        for sample in stage:
            meta = sample.setdefault("meta", {})
            meta.update(curriculum_stage=k, difficulty_source=source)
            ordered.append(sample)
    logger.info("curriculum: %d stages of %s dialogs", len(stages), [len(s) for s in stages])
    return ordered


def _policy_scores(samples: list[dict[str, Any]], cfg: SFTParams) -> list[float]:
    import torch

    from toolace_kedro.models import load_policy

    dtype = "auto_bf16" if cfg.difficulty_dtype == "auto" else cfg.difficulty_dtype
    model, tokenizer = load_policy(cfg.policy_model, dtype=dtype, cached=False)
    tokenizer.padding_side = "right"
    scores = difficulty_scores(samples, model, tokenizer, cfg.call_format, cfg.difficulty_batch_size,
                               cfg.max_length or 2048, cfg.tool_fields)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # the trainer loads its own copy next
    return scores


def train_sft(sft_curriculum: list[dict[str, Any]], sft_test: list[dict[str, Any]],
              params: SFTParams | Mapping[str, Any],
              split_report: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """LoRA SFT of the policy, one stage after another; ``(adapter, sft_report, sft_metrics)``
    (``sft_report`` carries the split's ``skipped_input``).

    The adapter is ``{"model": peft_model, "tokenizer": tokenizer}`` for ``ModelDirectoryDataset``
    (or, after a distributed job, the directory it wrote).
    """
    cfg = SFTParams.of(params)
    if distributed.should_launch(cfg):
        adapter, summary = _train_distributed(sft_curriculum, cfg)
        report = sft_report(summary, sft_curriculum, sft_test, cfg, distributed=True, split=split_report)
        return adapter, report, sft_metrics(report)
    with tempfile.TemporaryDirectory(prefix="sft-") as work:
        trainer, tokenizer, summary = fit_curriculum(stages_of(sft_curriculum), cfg, work, sft_test,
                                                     _active_run_id())
    model = trainer.model
    model.eval()
    report = sft_report(summary, sft_curriculum, sft_test, cfg, split=split_report)
    logger.info("sft: held-out assistant NLL %s -> %s; stage losses %s; %s tokens/s", report["test_nll_before"],
                report["test_nll_after"], [(round(s["loss_start"], 3), round(s["loss_end"], 3))
                                           for s in report["stages"] if s["loss_start"] is not None],
                report["tokens_per_s"])
    return {"model": model, "tokenizer": tokenizer}, report, sft_metrics(report)


def _active_run_id() -> str | None:
    try:
        import mlflow

        run = mlflow.active_run()
        return run.info.run_id if run else None
    except ImportError:
        return None


def _train_distributed(curriculum: list[dict[str, Any]], cfg: SFTParams) -> tuple[str, dict[str, Any]]:
    import os

    mlflow_run: dict[str, Any] = {}
    run_id = _active_run_id()
    if run_id:
        import mlflow

        mlflow_run = {"tracking_uri": mlflow.get_tracking_uri(), "parent_run_id": run_id,
                      "experiment_id": mlflow.active_run().info.experiment_id}
    stamp = time.strftime("%Y%m%dT%H%M%S")
    job = distributed.write_job(os.path.join(cfg.distributed.work_dir, f"job-{stamp}-{os.getpid()}"), curriculum,
                                cfg, mlflow_run)
    cmd = distributed.launch_command(job, cfg, distributed.gpu_count())
    distributed.run_job(cmd, job)
    adapter, summary = distributed.read_result(job)
    if cfg.decision.enabled:
        summary["decision"] = _tune_saved_adapter(adapter, curriculum, cfg)
    return adapter, summary


def _tune_saved_adapter(adapter: str, curriculum: list[dict[str, Any]], cfg: SFTParams) -> dict[str, Any] | None:
    """The decision phase on an adapter directory (after a distributed job), in this process;
    the tuned adapter replaces it."""
    from peft import PeftModel

    from toolace_kedro.pipelines.sft.training import cuda_in_use, decision_phase, load_for_training

    base, tokenizer = load_for_training(cfg)
    model = PeftModel.from_pretrained(base, adapter, is_trainable=True)
    if cuda_in_use():
        model.to("cuda")
    tuned = decision_phase(model, tokenizer, curriculum, cfg)
    model.save_pretrained(adapter)
    return tuned


def merge_sft_adapter(sft_adapter: str, params: SFTParams | Mapping[str, Any]) -> dict[str, Any]:
    """Base policy + SFT adapter merged into one model (``merge_and_unload``), for servers and
    tools that take a plain model directory. Saved in the training dtype."""
    from toolace_kedro.models.merging import merged_policy
    from toolace_kedro.pipelines.sft.training import use_bf16

    cfg = SFTParams.of(params)
    merged, tokenizer = merged_policy(cfg.policy_model, sft_adapter, device="cpu",
                                      dtype="bfloat16" if use_bf16(cfg) else "float32")
    return {"model": merged, "tokenizer": tokenizer}
