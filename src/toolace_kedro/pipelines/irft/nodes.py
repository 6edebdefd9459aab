"""Nodes of the ``irft`` pipeline (iTool's iterative reinforced fine-tuning).

A *policy* is a model directory (what ``ModelDirectoryDataset`` loads) or, on an in-memory
catalog, the ``{"model", "tokenizer"}`` dict a training node returned.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from toolace_kedro.datasets.records import validate_records
from toolace_kedro.models import converted_copy, cpu_has_bf16, device_and_dtype, load_policy, mmap_threshold
from toolace_kedro.models.merging import drop_dequantized_marker, merged_policy
from toolace_kedro.models.scoring import assistant_nll
from toolace_kedro.pipelines.irft.config import IrftParams, OptimisationParams
from toolace_kedro.pipelines.irft.decoding import StepSampler
from toolace_kedro.pipelines.irft.deficiency import (
    answer_verdict, attach_contrasts, search_target, select_deficient, select_failures,
)
from toolace_kedro.pipelines.irft.mcts import run_searches
from toolace_kedro.pipelines.irft.optimisation import (
    fit_pairs,
    select_pairs,
    train_preference,
    trains_a_bf16_copy,
    trains_bf16_from_disk,
)
from toolace_kedro.pipelines.irft.preference import answer_pair, decision_pair, policy_answer_pair, step_pairs
from toolace_kedro.pipelines.irft.reward import build_reward, reward_summary
from toolace_kedro.stats import paired_comparison
from toolace_kedro.toolcalls import dialog_problem
from toolace_kedro.tracking import metrics_history

logger = logging.getLogger(__name__)

Policy = str | dict[str, Any]
Params = IrftParams | dict[str, Any]


def _load(policy: Policy, fresh: bool = False, dtype: str = "auto") -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a policy: the one handed over in memory as it is, or a model
    directory in the device's training dtype (float32 on a CPU) -- the same weights either way,
    so the reports' fingerprints agree; inference runs on :func:`_in_dtype` copies. Another
    ``dtype`` loads the directory in it (optimisation's bf16 base)."""
    if isinstance(policy, dict):
        model, tokenizer = policy["model"], policy["tokenizer"]
        return (copy.deepcopy(model) if fresh else model), tokenizer
    if not Path(str(policy)).is_dir():
        raise FileNotFoundError(f"irft policy {policy!r} is not a model directory")
    model, tokenizer = load_policy(str(policy), dtype=dtype, cached=False)
    drop_dequantized_marker(model)  # the embedded model's config still names its GGUF origin
    if fresh:
        model.train()
    return model, tokenizer


def _in_dtype(model: Any, dtype: str) -> Any:
    """The policy for inference in ``dtype`` (e.g. ``auto_bf16``): itself, or a converted copy.
    The policy handed over in memory (merged SFT, a round's result) is float32; on a CPU with native
    bf16 a bfloat16 copy processes prompts and one-token decode steps faster (benchmarks/README.md)."""
    wanted = device_and_dtype(model.device.type, dtype)[1]
    return model if model.dtype == wanted else converted_copy(model, wanted).eval()


def policy_fingerprint(model: Any) -> str:
    """A short hash of the weights: which policy a round used, for the report and tests."""
    digest = hashlib.sha1()
    with torch.no_grad():
        for name, param in sorted(model.state_dict().items()):
            if param.is_floating_point():
                digest.update(f"{name}:{float(param.double().sum()):.12e};".encode())
    return digest.hexdigest()[:12]


def merge_sft_policy(sft_adapter: str, base_model: str) -> dict[str, Any]:
    """The policy round 1 starts from: ``base_model`` with the SFT LoRA adapter merged in (or the
    SFT output itself when it is a full model directory)."""
    model, tokenizer = merged_policy(base_model, sft_adapter)
    return {"model": model, "tokenizer": tokenizer}


def mine_deficiencies(sft_train: list[dict], policy: Policy, params: Params) -> tuple[list[dict], dict[str, Any]]:
    """Perplexity of the policy on every training sample; the top ``ratio`` of the tool-call and
    of the non-tool answers (iTool's deficiency mining). Records of ``sft_train`` that are not
    canonical dialogs are skipped and counted with file and line (``skipped_input``)."""
    cfg = IrftParams.of(params).mining
    samples, skipped = validate_records(sft_train, dialog_problem, "sft_train")
    started = time.perf_counter()
    model, tokenizer = _load(policy)
    scorer = _in_dtype(model, cfg.dtype)
    score = lambda convs: assistant_nll(scorer, tokenizer, convs, cfg.batch_size)  # noqa: E731
    if cfg.strategy == "failures":  # the highest-perplexity candidates the policy answers wrongly
        candidates, report = select_deficient(samples, score, 1.0, cfg.candidates, cfg.turns)
        answers = greedy_answers(scorer, tokenizer, [c["context"] for c in candidates], cfg.answer_tokens)
        mined, report["failures"] = select_failures(candidates, answers, cfg.max_samples, cfg.balance)
        report.update(strategy="failures", mined=len(mined), contrasts=attach_contrasts(mined, samples))
    else:
        mined, report = select_deficient(samples, score, cfg.ratio, cfg.max_samples, cfg.turns)
        report["strategy"] = "perplexity"
    report["policy_fingerprint"] = policy_fingerprint(model)
    report["seconds"] = round(time.perf_counter() - started, 2)
    report["skipped_input"] = {"sft_train": skipped}
    return mined, report


def greedy_answers(model: Any, tokenizer: Any, contexts: list[list[dict]], max_tokens: int, batch: int = 8
                   ) -> list[str]:
    """The policy's greedy answer to each context (chat messages up to the answer), ``batch`` at a time."""
    sampler = StepSampler(model, tokenizer, max_new_tokens=max_tokens, simulation_tokens=0, temperature=0.0,
                          simulation_temperature=0.0)
    answers: list[str] = []
    for start in range(0, len(contexts), batch):
        states = [sampler.prompt_state(sampler.prompt_ids(c)) for c in contexts[start: start + batch]]
        rollouts = sampler.expand([(state, [], 1, 0) for state in states])
        answers += [tokenizer.decode(r[0].tokens, skip_special_tokens=True) for r in rollouts]
    return answers


def recheck_round(sft_train: list[dict], policy: Policy, mining_report: dict[str, Any], params: Params
                  ) -> dict[str, Any]:
    """iTool's claim, checked: the round's policy answers the candidates its mining decoded (the
    ones it failed and the ones it got right) again, greedily; the paired comparison with the
    verdicts before the round (exact McNemar test), overall and on the mined failures. Empty
    without failure mining."""
    before = (mining_report.get("failures") or {}).get("verdicts") or []
    if not before:
        return {"skipped": "no failure-mining verdicts (mining.strategy is not 'failures')"}
    cfg = IrftParams.of(params).mining
    started = time.perf_counter()
    samples, _ = validate_records(sft_train, dialog_problem, "sft_train")
    by_id = {str(s.get("id", "")): s for s in samples}
    targets = {v["id"]: t for v in before if v["id"] in by_id  # the turn each candidate was mined at
               and (t := search_target(by_id[v["id"]], v.get("turn"))) is not None}
    items = [v for v in before if v["id"] in targets]
    model, tokenizer = _load(policy)
    answers = greedy_answers(_in_dtype(model, cfg.dtype), tokenizer, [targets[v["id"]]["context"] for v in items],
                             cfg.answer_tokens)
    after = [answer_verdict(targets[v["id"]], a) for v, a in zip(items, answers)]
    report = {"candidates": paired_comparison([v["correct"] for v in items], [ok for ok, _ in after])}
    failed = [n for n, v in enumerate(items) if not v["correct"]]
    report["mined_failures"] = paired_comparison([False] * len(failed), [after[n][0] for n in failed])
    report["failure_kinds_after"] = dict(Counter(kind for _, kind in after if kind))
    report["seconds"] = round(time.perf_counter() - started, 2)
    logger.info("round recheck: candidates %d -> %d of %d correct (p=%.3g); mined failures now right: %d of %d",
                report["candidates"]["first_correct"], report["candidates"]["second_correct"], len(items),
                report["candidates"]["p_value"], report["mined_failures"]["second_correct"], len(failed))
    return report


def search_steps(deficient_samples: list[dict], policy: Policy, params: Params) -> tuple[list[dict], dict[str, Any]]:
    """Step-level MCTS on every mined sample; the trees (nodes, values, rollouts) and a report."""
    cfg = IrftParams.of(params).search
    started = time.perf_counter()
    dtype = "auto_bf16" if cfg.dtype == "auto" else cfg.dtype
    model, tokenizer = _load(policy)
    model.eval()
    decoder = _in_dtype(model, dtype)
    prefill_model = None
    if cfg.prefill_dtype == "auto" and decoder.device.type == "cpu" and cpu_has_bf16() \
            and decoder.dtype == torch.float32:
        prefill_model = converted_copy(model, torch.bfloat16).eval()
    sampler = StepSampler(decoder, tokenizer, prefill_model=prefill_model, max_new_tokens=cfg.max_new_tokens,
                          simulation_tokens=cfg.simulation_tokens, temperature=cfg.temperature,
                          simulation_temperature=cfg.simulation_temperature, top_p=cfg.top_p,
                          prefix="reuse" if cfg.reuse_prefix else "per_expansion")
    kind = cfg.reward
    searches = run_searches(deficient_samples, sampler, lambda t: build_reward(kind, t, decoder, tokenizer), cfg)
    trees = [s.to_record() for s in searches]
    rewards = [r["reward"] for t in trees for r in t["rollouts"]]
    solved = sum(any(r["reward"] >= t["truth_reward"] for r in t["rollouts"]) for t in trees)
    report = {"samples": len(trees), "reward": kind, "nodes": sum(len(t["nodes"]) for t in trees),
              "expansions": sum(t["expansions"] for t in trees), "revisits": sum(t["revisits"] for t in trees),
              "rollouts": len(rewards), "rollouts_finished": sum(r["finished"] for t in trees for r in t["rollouts"]),
              "rollout_reward": reward_summary(rewards), "samples_with_a_correct_rollout": solved,
              "root_value": reward_summary([t["nodes"][0]["value"] for t in trees]),
              "sampler": dict(sampler.stats), "policy_fingerprint": policy_fingerprint(model),
              "seconds": round(time.perf_counter() - started, 2)}
    logger.info("MCTS: %d samples, %d nodes, %d rollouts (mean reward %s), %.1fs", len(trees), report["nodes"],
                len(rewards), report["rollout_reward"].get("mean"), report["seconds"])
    return trees, report


def build_preference_pairs(search_trees: list[dict], params: Params) -> tuple[list[dict], dict[str, Any]]:
    """Step-level pairs (best vs worst child of every node with ≥ 2 children) and whole-answer
    pairs (ground truth vs the policy's worst answer), filtered by value gap, overlap and value."""
    cfg = IrftParams.of(params).pairs
    pairs: list[dict] = []
    dropped: Counter = Counter()
    by_kind: Counter = Counter()  # pairs on tool-call samples (they push towards calling) and non-tool ones
    for tree in search_trees:
        before = len(pairs)
        found, why = step_pairs(tree, cfg)
        pairs.extend(found)
        dropped.update({f"step.{k}": v for k, v in why.items()})
        if cfg.answer_pairs:
            pair, reason = answer_pair(tree, cfg)
            if pair:
                pairs.append(pair)
            else:
                dropped[f"answer.{reason}"] += 1
        if cfg.policy_answer_pairs and tree["target"].get("policy_answer") is not None:
            pair, reason = policy_answer_pair(tree, cfg, build_reward("match", tree["target"]))
            if pair:
                pairs.append(pair)
            else:
                dropped[f"policy.{reason}"] += 1
        if cfg.decision_pairs and tree["target"].get("contrast") is not None:
            pair, reason = decision_pair(tree, cfg, build_reward("match", tree["target"]))
            if pair:
                pairs.append(pair)
            else:
                dropped[f"decision.{reason}"] += 1
        by_kind[tree["target"].get("kind", "unknown")] += len(pairs) - before
    kinds = Counter(p["kind"] for p in pairs)
    report = {"pairs": len(pairs), "step_pairs": kinds["step"], "answer_pairs": kinds["answer"],
              "policy_answer_pairs": kinds["policy"], "decision_pairs": kinds["decision"],
              "pairs_by_sample_kind": dict(sorted(by_kind.items())),
              "samples_with_pairs": len({p["sample_id"] for p in pairs}), "dropped": dict(sorted(dropped.items())),
              "value_gap": reward_summary([p["value_gap"] for p in pairs]),
              "chosen_value": reward_summary([p["chosen_value"] for p in pairs]),
              "rejected_value": reward_summary([p["rejected_value"] for p in pairs])}
    logger.info("preference pairs: %d (%d step-level, %d whole-answer); dropped %s", len(pairs), kinds["step"],
                kinds["answer"], dict(dropped))
    return pairs, report


def _round_figures(pair_report: dict[str, Any], search_report: dict[str, Any]) -> dict[str, float]:
    figures = {"pairs": pair_report["pairs"], "step_pairs": pair_report["step_pairs"],
               "answer_pairs": pair_report["answer_pairs"], "searched_samples": search_report["samples"]}
    for name, summary in (("rollout_reward", search_report["rollout_reward"]), ("value_gap", pair_report["value_gap"])):
        for stat in ("mean", "min", "max", "std"):
            if stat in summary:
                figures[f"{name}_{stat}"] = summary[stat]
    return {k: float(v) for k, v in figures.items()}


def optimise_policy(preference_pairs: list[dict], policy: Policy, sft_policy: Policy, pair_report: dict[str, Any],
                    search_report: dict[str, Any], params: Params, round_index: int = 1
                    ) -> tuple[Any, dict[str, Any]]:
    """Preference optimisation (SimPO or DPO, a new LoRA adapter) on the round's pairs, merged
    into the policy; the merged policy (``{"model", "tokenizer"}``) and training figures. With
    ``mmap_threshold_mib`` set, tensors of that size and more get their own mappings while the node
    runs (:func:`toolace_kedro.models.mmap_threshold`: a lower peak)."""
    cfg = IrftParams.of(params).optimisation
    threshold = cfg.mmap_threshold_mib
    with mmap_threshold(None if threshold is None else int(threshold * 2**20)):
        return _optimise(preference_pairs, policy, sft_policy, pair_report, search_report, cfg, round_index)


def _optimise(preference_pairs: list[dict], policy: Policy, sft_policy: Policy, pair_report: dict[str, Any],
              search_report: dict[str, Any], cfg: OptimisationParams, round_index: int) -> tuple[Any, dict[str, Any]]:
    started = time.perf_counter()
    merge_base = None
    if not isinstance(policy, dict) and trains_bf16_from_disk(cfg):
        # a model directory: the bf16 base to train on straight from it, the float32 policy to merge
        # into loaded only after training (``kedro run`` passes every policy this way)
        model, tokenizer = _load(policy, dtype="bfloat16")

        def merge_base() -> Any:
            return _load(policy)[0]
    else:
        model, tokenizer = _load(policy)  # a policy handed over in memory is the caller's object:
        if isinstance(policy, dict) and not trains_a_bf16_copy(model, cfg):  # trained in place, so a copy
            model = copy.deepcopy(model)
    fitting, too_long = fit_pairs(preference_pairs, tokenizer, cfg.max_length)
    if too_long:
        logger.warning("round %d: %d pairs longer than max_length %s left out", round_index, too_long, cfg.max_length)
    pairs = select_pairs(fitting, cfg.max_pairs)
    if not pairs:
        logger.warning("round %d: no preference pairs; the policy is passed on unchanged", round_index)
        unchanged = merge_base() if merge_base is not None else model  # not the bf16 base
        return {"model": unchanged.eval(), "tokenizer": tokenizer}, {"pairs": 0, "too_long": too_long,
                                                                     "skipped": "no_pairs"}
    reference = None
    if cfg.method == "dpo" and cfg.dpo_reference == "sft" and sft_policy is not policy \
            and str(sft_policy) != str(policy):
        reference, _ = _load(sft_policy, fresh=True)
        reference.eval()
    tokenizer.padding_side = "right"
    merged, figures = train_preference(model, tokenizer, pairs, cfg, round_index,
                                       _round_figures(pair_report, search_report), reference, merge_base)
    del model
    figures["too_long"] = too_long
    figures["available_pairs"] = len(preference_pairs)
    figures["policy_fingerprint_after"] = policy_fingerprint(merged)
    figures["seconds"] = round(time.perf_counter() - started, 2)
    return {"model": merged, "tokenizer": tokenizer}, figures


def report_round(mining_report: dict[str, Any], search_report: dict[str, Any], pair_report: dict[str, Any],
                 training_report: dict[str, Any], recheck_report: dict[str, Any] | None = None, round_index: int = 1
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The round's report (``irft_report``) and its headline figures for MLflow."""
    report = {"round": round_index, "mining": mining_report, "search": search_report, "pairs": pair_report,
              "training": training_report, "recheck": recheck_report or {}}
    figures = {"mined_samples": mining_report.get("mined", 0), "pairs": pair_report["pairs"],
               "skipped_input": mining_report.get("skipped_input", {}).get("sft_train", {}).get("skipped", 0),
               "step_pairs": pair_report["step_pairs"], "answer_pairs": pair_report["answer_pairs"],
               "search_nodes": search_report["nodes"], "rollouts": search_report["rollouts"],
               "samples_with_a_correct_rollout": search_report["samples_with_a_correct_rollout"]}
    for stat, value in search_report["rollout_reward"].items():
        if stat != "count":
            figures[f"rollout_reward_{stat}"] = value
    for part in ("candidates", "mined_failures"):
        comparison = (recheck_report or {}).get(part)
        if comparison:
            figures.update({f"recheck_{part}_before": comparison["first_correct"],
                            f"recheck_{part}_after": comparison["second_correct"],
                            f"recheck_{part}_p_value": comparison["p_value"]})
    for key in ("train_loss", "last_rewards_margins", "last_rewards_accuracies", "mean_rewards_margins", "runtime_s",
                "pairs_before_reward_margin", "pairs_after_reward_margin", "pairs_before_accuracy",
                "pairs_after_accuracy"):
        value = training_report.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            figures[f"train_{key}" if not key.startswith("train") else key] = value
    return report, metrics_history(figures, step=round_index)
