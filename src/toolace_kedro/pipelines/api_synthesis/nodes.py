"""Nodes of the ``api_synthesis`` pipeline (ToolACE's Tool Self-evolution Synthesis)."""

from __future__ import annotations

import logging
from typing import Any

from toolace_kedro.datasets.records import validate_records
from toolace_kedro.llm import ShardCheckpoints, build_llm
from toolace_kedro.llm.base import add_usage
from toolace_kedro.pipelines.api_synthesis.config import ApiSynthesisParams
from toolace_kedro.pipelines.api_synthesis.context_tree import ContextTree
from toolace_kedro.pipelines.api_synthesis.documents import clean_documents
from toolace_kedro.pipelines.api_synthesis.evolution import evolve
from toolace_kedro.pipelines.api_synthesis.report import pool_statistics
from toolace_kedro.pipelines.api_synthesis.speciation import speciate
from toolace_kedro.plots import bar_chart
from toolace_kedro.toolcalls import api_problem, normalize_api
from toolace_kedro.tracking import llm_metrics, metrics_history

logger = logging.getLogger(__name__)


def prepare_documents(raw_documents: Any, params: ApiSynthesisParams | dict[str, Any]
                      ) -> tuple[list[dict], dict[str, Any]]:
    """Keep usable raw documents (empty, binary and oversized ones are skipped and counted)."""
    return clean_documents(raw_documents, ApiSynthesisParams.of(params).documents)


def build_context_tree(documents: list[dict], llm_config: dict[str, Any], params: ApiSynthesisParams | dict[str, Any]
                       ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Speciation: the API context tree (domains → sub-domains → functionalities → ...)."""
    cfg = ApiSynthesisParams.of(params)
    llm = build_llm(llm_config)
    shards = ShardCheckpoints.from_params(
        cfg.checkpoint, "api_synthesis", part="speciation", llm=llm,
        identity={"documents": documents, "params": cfg.speciation.model_dump(mode="json"), "llm": llm.identity()})
    tree, counts = speciate(documents, llm, cfg.speciation, shards)
    report = {**counts, "llm": shards.usage(), "checkpoint": shards.summary()}
    shards.finish()
    return tree.to_dict(), report


def evolve_api_pool(tree: dict[str, Any], seed_apis: list[dict], llm_config: dict[str, Any],
                    params: ApiSynthesisParams | dict[str, Any]) -> tuple[list[dict], list[dict], dict[str, Any]]:
    """Adaptation + evolution + filtering: the API pool, its rejects, and per-generation counts.
    Seed rows that are not valid APIs are skipped and counted (``skipped_input``); none left is an
    error."""
    cfg = ApiSynthesisParams.of(params)
    seeds, skipped = validate_records(seed_apis, api_problem, "seed_apis")
    seeds = [normalize_api(api) for api in seeds]
    llm = build_llm(llm_config)
    shards = ShardCheckpoints.from_params(
        cfg.checkpoint, "api_synthesis", part="evolution", llm=llm,
        identity={"tree": tree, "seeds": seeds, "params": cfg.evolution.model_dump(mode="json"), "llm": llm.identity()})
    pool, rejects, per_generation = evolve(ContextTree.from_dict(tree), seeds, llm, cfg.evolution, shards)
    report = {"generations": per_generation, "llm": shards.usage(), "checkpoint": shards.summary(),
              "skipped_input": {"seed_apis": skipped}}
    shards.finish()
    return pool, rejects, report


def summarise_api_pool(api_pool: list[dict], api_rejects: list[dict], tree: dict[str, Any],
                       documents_report: dict, speciation_report: dict, evolution_report: dict
                       ) -> tuple[dict[str, Any], dict[str, dict]]:
    """``api_pool_stats`` (versioned JSON) and the headline figures for MLflow."""
    stats = pool_statistics(api_pool, api_rejects, ContextTree.from_dict(tree))
    stats.update(documents=documents_report, speciation=speciation_report, evolution=evolution_report,
                 llm=add_usage(speciation_report.get("llm", {}), evolution_report.get("llm", {})))
    logger.info("API pool: %d APIs over %d domains, %.0f%% nested/array, %d rejected",
                stats["apis"], stats["domains"], 100 * stats["nested_or_array_fraction"], stats["rejected"])
    metrics = metrics_history({
        "apis": float(stats["apis"]),
        "rejected": float(stats["rejected"]),
        "domains": float(stats["domains"]),
        "tree_nodes": float(stats["tree"]["nodes"]),
        "tree_depth": float(stats["tree"]["depth"]),
        "nested_or_array_fraction": float(stats["nested_or_array_fraction"]),
        "parameters_per_api": float(stats["parameters_per_api"]),
        "required_ratio": float(stats["required_ratio"]),
        "documents_skipped": float(sum(documents_report["documents_skipped"].values())),
        "seed_apis_skipped": float(evolution_report.get("skipped_input", {}).get("seed_apis", {}).get("skipped", 0)),
        **llm_metrics(stats["llm"]),
    })
    return stats, metrics


def plot_api_pool(api_pool_stats: dict[str, Any]):
    """Bar charts of APIs per domain and of parameter types."""
    return (bar_chart(api_pool_stats["apis_per_domain"], "Synthesised APIs per domain", "APIs"),
            bar_chart(api_pool_stats["parameter_types"], "Parameter types in the API pool", "parameters"))
