"""Nodes of the ``dialog_generation`` pipeline (ToolACE's Self-Guided Dialog Generation)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from tqdm.auto import tqdm

from toolace_kedro.datasets.records import BadInputError, validate_records
from toolace_kedro.llm import ShardCheckpoints, build_llm
from toolace_kedro.llm.base import add_usage
from toolace_kedro.pipelines.dialog_generation.complexity import ComplexityEvaluator, ComplexityLoop
from toolace_kedro.pipelines.dialog_generation.config import DialogGenerationParams
from toolace_kedro.pipelines.dialog_generation.engine import DialogState, run_dialogs, to_sample
from toolace_kedro.pipelines.dialog_generation.report import dialog_statistics, plots
from toolace_kedro.pipelines.dialog_generation.sampling import plan_dialogs, script, twin_plans
from toolace_kedro.toolcalls import api_problem, normalize_api
from toolace_kedro.tracking import llm_metrics, metrics_history

logger = logging.getLogger(__name__)


def _shard_record(states: list[DialogState], generator: str, loop: ComplexityLoop | None) -> dict[str, Any]:
    """What a finished group of dialogs adds to the output and the report (with the complexity
    bounds its dialogs were judged by, for a resumed run to go on with)."""
    samples: dict[str, dict] = {}
    counts: Counter = Counter()
    drops: Counter = Counter()
    for state in sorted(states, key=lambda s: s.plan["id"]):
        counts.update(state.counts)
        result = state.dropped or to_sample(state, generator)
        if isinstance(result, str):
            drops[result.split(":")[0]] += 1
        else:
            samples[state.plan["id"]] = result
    record = {"samples": samples, "counts": dict(counts), "drops": dict(drops)}
    if loop is not None and loop.limits is not None:
        record["complexity_bounds"] = list(loop.limits)
    return record


def _generate(plans, llm, cfg: DialogGenerationParams, generator, shards: ShardCheckpoints,
              loop: ComplexityLoop | None = None) -> tuple[dict[str, dict], Counter, Counter]:
    """Generate ``plans`` in chunks of ``chunk_size`` dialogs in flight together. Every
    ``checkpoint.shard_size`` consecutive plans form a shard, saved the moment its last dialog
    is complete (scored, and regenerated if the complexity loop says so); shards saved by an
    earlier run are loaded instead of generated."""
    size = cfg.checkpoint.shard_size or cfg.chunk_size
    groups = [plans[i : i + size] for i in range(0, len(plans), size)]
    names = [f"dialogs-{k:05d}" for k in range(len(groups))]
    inputs = [[p["id"] for p in group] for group in groups]
    records = {k: rec for k in range(len(groups)) if (rec := shards.load(names[k], inputs[k])) is not None}
    if shards.enabled:
        logger.info("dialogs: resumed %d of %d shards", len(records), len(groups))
    if loop is not None:
        for rec in records.values():
            if "complexity_bounds" in rec:
                loop.fix(rec["complexity_bounds"])
    group_of = {p["id"]: k for k, group in enumerate(groups) for p in group}
    finished: dict[int, list[DialogState]] = {}

    def done(state: DialogState) -> None:
        k = group_of[state.plan["id"]]
        finished.setdefault(k, []).append(state)
        if len(finished[k]) == len(groups[k]):
            records[k] = _shard_record(finished.pop(k), generator, loop)
            shards.save(names[k], records[k], inputs[k])

    # the longest scripts of each shard first: the flows started last then leave the shortest tail
    todo = [p for k, group in enumerate(groups) if k not in records
            for p in sorted(group, key=lambda p: -len(script(p)))]
    chunk = cfg.chunk_size
    for start in tqdm(range(0, len(todo), chunk), desc="dialog chunks", disable=len(todo) <= chunk):
        logger.info("generating dialogs %d-%d of %d", start + 1, min(len(todo), start + chunk), len(todo))
        run_dialogs(todo[start : start + chunk], llm, cfg, on_done=done, complexity=loop, generator=generator)
    samples: dict[str, dict] = {}
    counts: Counter = Counter()
    drops: Counter = Counter()
    for k in range(len(groups)):
        samples.update(records[k]["samples"])
        counts.update(records[k]["counts"])
        drops.update(records[k]["drops"])
    return samples, counts, drops


def _pool_problem():
    """Validator of API pool rows: a valid API definition whose name no earlier row took (the
    agents and the plans name tools by name)."""
    seen: set[str] = set()

    def problem(api: Any) -> str | None:
        found = api_problem(api)
        if found is None and api["name"] in seen:
            found = f"duplicate_name: {api['name']!r} is taken by an earlier API"
        if found is None:
            seen.add(api["name"])
        return found

    return problem


def usable_api_pool(api_pool: list[dict]) -> tuple[list[dict], dict[str, Any]]:
    """The pool's valid APIs (normalised) and the ``skipped_input`` report of the rows skipped;
    fewer than two usable APIs is an error naming the input."""
    pool, skipped = validate_records(api_pool, _pool_problem(), "api_pool")
    if len(pool) < 2:
        where = f"api_pool ({skipped['source']})" if skipped["source"] else "api_pool"
        raise BadInputError(f"{where}: dialog generation needs at least 2 valid APIs, got {len(pool)} "
                            f"({skipped['skipped']} rows skipped {skipped['by_reason']})")
    return [normalize_api(api) for api in pool], skipped


def generate_dialogs(api_pool: list[dict], llm_config: dict[str, Any],
                     params: DialogGenerationParams | Mapping[str, Any]) -> tuple[list[dict], dict[str, Any]]:
    """Plan, generate (three agents, self-consistency) and complexity-adjust the dialogs. Pool
    rows that are not valid APIs are skipped and counted (``skipped_input``)."""
    cfg = DialogGenerationParams.of(params)
    pool, skipped = usable_api_pool(api_pool)
    llm = build_llm(llm_config)
    generator = f"{llm.backend}:{llm.config.model}"
    plans = plan_dialogs(pool, cfg)
    # the shards' identity: every effective setting (defaults included, so a dict and the typed
    # block give the same one); chunk_size sets batching only, shard boundaries are in each shard's inputs
    settings = cfg.model_dump(mode="json", exclude={"checkpoint", "chunk_size"})
    shards = ShardCheckpoints.from_params(cfg.checkpoint, "dialog_generation", llm=llm, identity={
        "plans": plans, "params": settings, "generator": generator, "llm": llm.identity()})
    loop = None
    if cfg.complexity.enabled:
        evaluator = ComplexityEvaluator(cfg.complexity.policy_model, cfg.complexity.batch_size, cfg.complexity.dtype)
        loop = ComplexityLoop(evaluator, cfg.complexity)
    samples, counts, drops = _generate(plans, llm, cfg, generator, shards, loop)
    twin_usage: dict[str, Any] = {}
    twins = twin_plans([samples[p["id"]] for p in plans if p["id"] in samples], pool, cfg)
    if twins:  # their replies, after the dialogs whose requests they reuse (their own shards)
        logger.info("irrelevance twins: %d of the single-call dialogs", len(twins))
        twin_shards = ShardCheckpoints.from_params(cfg.checkpoint, "dialog_generation", llm=llm, identity={
            "plans": twins, "params": settings, "generator": generator, "llm": llm.identity()}, part="twins")
        if loop is not None:
            loop.max_rounds = 0  # scored for the curriculum; the request is the source's, nothing to adjust
        more, more_counts, more_drops = _generate(twins, llm, cfg, generator, twin_shards, loop)
        samples.update(more)
        counts.update({f"twins.{k}": v for k, v in more_counts.items()})
        drops.update({f"twins.{k}": v for k, v in more_drops.items()})
        twin_usage = twin_shards.usage()
        twin_shards.finish()
        plans = plans + twins
    report: dict[str, Any] = {"planned": len(plans), "types_planned": dict(Counter(p["type"] for p in plans)),
                              "twins": len(twins), "skipped_input": {"api_pool": skipped}}
    if loop is not None and samples:
        low, high = loop.bounds(final=True)
        scores = [s["meta"]["complexity"] for s in samples.values()]
        report["complexity"] = {
            "lower": low, "upper": high, "prior_size": len(loop.prior) or None,
            **{key: counts[f"complexity.{key}"] for key in ("complicated", "simplified",
                                                            "kept_original_after_failed_retry")},
            "in_bounds": sum(1 for s in scores if low <= s <= high)}
    dialogs = [samples[p["id"]] for p in plans if p["id"] in samples]
    report.update(generated=len(dialogs), dropped=dict(drops), counts=dict(counts),
                  llm=add_usage(shards.usage(), twin_usage), checkpoint=shards.summary())
    shards.finish()
    logger.info("dialogs: %d generated of %d planned; dropped %s", len(dialogs), len(plans), dict(drops))
    return dialogs, report


def summarise_dialogs(dialogs: list[dict], generation_report: dict[str, Any]):
    """``dialog_stats`` (versioned JSON), MLflow metrics, and the two plots."""
    stats = dialog_statistics(dialogs, generation_report)
    metrics = metrics_history({
        "dialogs": stats["dialogs"], "types_covered": len(stats["type_mix"]), "twins": stats["twins"],
        "mean_turns": stats["mean_messages"], "mean_apis_per_dialog": stats["mean_candidate_apis"],
        "consistency_rejection_rate": stats["consistency_rejection_rate"],
        "follow_ups": stats["multi_turn"]["follow_ups"],
        "mean_complexity": stats["complexity"]["mean"] if stats["complexity"] else float("nan"),
        "api_pool_skipped": stats["skipped_input"].get("api_pool", {}).get("skipped", 0),
        "dropped": sum(stats["dropped"].values()),
        **{f"dropped.{reason}": n for reason, n in sorted(stats["dropped"].items())},
        **llm_metrics(stats["llm"]),
    })
    types_fig, complexity_fig = plots(dialogs, stats)
    return stats, metrics, types_fig, complexity_fig
