"""Nodes of the ``evaluation`` pipeline: one item set (a seeded BFCL subset + the held-out
synthetic test set), the same prompts for every policy, greedy predictions, exact scoring."""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from toolace_kedro.datasets.records import validate_records
from toolace_kedro.llm import build_llm
from toolace_kedro.pipelines.evaluation.bfcl import CATEGORIES, check_output, entry_problem
from toolace_kedro.pipelines.evaluation.decontamination import contamination_report
from toolace_kedro.pipelines.evaluation.report import aggregate, plots, render_report, log_model_runs
from toolace_kedro.pipelines.evaluation.synthetic import first_action_prompt, score_synthetic
from toolace_kedro.toolcalls import dialog_problem, system_prompt
from toolace_kedro.tracking import metrics_history

logger = logging.getLogger(__name__)

#: the policies compared, in report order
MODELS = ("base", "sft", "irft")


def bfcl_messages(entry: dict[str, Any]) -> list[dict[str, str]]:
    """BFCL prompt mode in the format the sft stage trains on: the functions (BFCL's own ``dict``
    dialect) in the system prompt, asking for ``[func(a=1)]``; then the first turn's messages (a
    system message of the entry is appended to ours)."""
    turn = entry["question"][0] if entry["question"] else []
    system = system_prompt(entry["function"], "python")
    extra = [m["content"] for m in turn if m.get("role") == "system"]
    if extra:
        system += "\n" + "\n".join(extra)
    return [{"role": "system", "content": system}] + [
        {"role": m["role"], "content": m["content"]} for m in turn if m.get("role") != "system"]


def usable_bfcl(bfcl_data: dict[str, list[dict]], categories: list[str] | None = None
                 ) -> tuple[dict[str, list[dict]], dict[str, Any]]:
    """The BFCL entries that can be asked and scored, per category, and the ``skipped_input``
    report (what the loader skipped included) under ``bfcl_data[<category>]``."""
    usable, reports = {}, {}
    for category in categories or list(bfcl_data):
        if category not in bfcl_data:
            raise ValueError(f"BFCL category {category!r} is not in bfcl_data (loaded: {sorted(bfcl_data)})")
        name = f"bfcl_data[{category}]"
        usable[category], reports[name] = validate_records(
            bfcl_data[category], lambda e, c=category: entry_problem(e, c), name)
    return usable, reports


def build_items(bfcl_data: dict[str, list[dict]], sft_test: list[dict], params: dict[str, Any]
                ) -> tuple[list[dict], dict[str, Any]]:
    """The items every policy answers: ``{"id", "source", "category", "messages"}`` plus what the
    scorer needs (the BFCL entry, or the reference dialog). ``bfcl.sample_size`` items per
    category (seeded; null = all), the whole held-out synthetic set. Entries and dialogs that
    cannot be asked or scored are skipped and counted with file and line: the second output,
    ``{"skipped_input": {...}}``, goes into ``evaluation_scores``."""
    cfg = params["bfcl"]
    rng = random.Random(params["seed"])
    bfcl, skipped = usable_bfcl(bfcl_data, list(cfg["categories"] or CATEGORIES))
    items = []
    for category, entries in bfcl.items():
        size = cfg["sample_size"]
        if size is not None and size < len(entries):
            entries = [entries[i] for i in sorted(rng.sample(range(len(entries)), size))]
        items += [{"id": e["id"], "source": "bfcl", "category": category, "messages": bfcl_messages(e), "entry": e}
                  for e in entries]
    if params["synthetic"]:
        dialogs, skipped["sft_test"] = validate_records(sft_test, dialog_problem, "sft_test", allow_empty=True)
        for dialog in dialogs:
            items.append({"id": dialog["id"], "source": "synthetic", "category": dialog["type"],
                          "messages": first_action_prompt(dialog, params.get("call_format", "python")),
                          "reference": dialog})
    logger.info("evaluation items: %d BFCL (%d categories), %d synthetic", sum(i["source"] == "bfcl" for i in items),
                len({i["category"] for i in items if i["source"] == "bfcl"}),
                sum(i["source"] == "synthetic" for i in items))
    return items, {"skipped_input": skipped}


def _predict(items: list[dict], llm_params: dict[str, Any], params: dict[str, Any], model: str,
             adapter: str | None, label: str) -> list[dict]:
    config = {**llm_params, **params["generation"], "model": model, "adapter": adapter, "temperature": 0.0}
    start = time.perf_counter()
    llm = build_llm(config)
    try:
        outputs = llm.chat_batch([i["messages"] for i in items], errors="skip")
    finally:
        llm.close()
    logger.info("%s: %d predictions in %.0f s (%s)", label, len(items), time.perf_counter() - start,
                llm.usage.as_dict())
    return [{"id": i["id"], "source": i["source"], "category": i["category"], "output": o or ""}
            for i, o in zip(items, outputs)]


def predict_base(items: list[dict], policy_model: str, llm_params: dict, params: dict) -> list[dict]:
    """Greedy answers of the base policy (before any fine-tuning)."""
    return _predict(items, llm_params, params, policy_model, None, "base")


def predict_sft(items: list[dict], policy_model: str, sft_adapter: str, llm_params: dict, params: dict) -> list[dict]:
    """Greedy answers of base + the SFT adapter."""
    return _predict(items, llm_params, params, policy_model, sft_adapter, "sft")


def predict_irft(items: list[dict], irft_policy: str, llm_params: dict, params: dict) -> list[dict]:
    """Greedy answers of the last irft round's merged policy."""
    return _predict(items, llm_params, params, irft_policy, None, "irft")


def score_model(items: list[dict], predictions: list[dict]) -> dict[str, Any]:
    """BFCL accuracy per category (with failure reasons) and the synthetic metrics of one policy."""
    by_id = {(p["source"], p["id"]): p["output"] for p in predictions}
    missing = [i["id"] for i in items if (i["source"], i["id"]) not in by_id]
    if missing:
        raise ValueError(f"predictions lack {len(missing)} evaluation items, e.g. {missing[:3]}: "
                         "they were made for another item set")
    bfcl: dict[str, dict[str, Any]] = {}
    for item in (i for i in items if i["source"] == "bfcl"):
        ok, reason = check_output(item["category"], item["entry"], item["entry"]["possible_answer"],
                                  by_id[("bfcl", item["id"])])
        cat = bfcl.setdefault(item["category"], {"n": 0, "correct": 0, "failures": {}})
        cat["n"] += 1
        cat["correct"] += ok
        if not ok:
            kind = reason.split(":", 1)[0]
            cat["failures"][kind] = cat["failures"].get(kind, 0) + 1
    for cat in bfcl.values():
        cat["accuracy"] = cat["correct"] / cat["n"]
    synthetic = [i for i in items if i["source"] == "synthetic"]
    return {"bfcl": bfcl,
            "synthetic": score_synthetic([i["reference"] for i in synthetic],
                                         [by_id[("synthetic", i["id"])] for i in synthetic]) if synthetic else None}


def evaluate(items: list[dict], predictions_base: list[dict], predictions_sft: list[dict],
             predictions_irft: list[dict], params: dict[str, Any], items_report: dict[str, Any] | None = None):
    """Scores of every policy side by side; report (Markdown, HTML), plot, MLflow runs and metrics.
    ``evaluation_scores`` also holds the inputs skipped while building the items (``skipped_input``)."""
    return evaluate_policies(items, params, items_report, predictions_base=predictions_base,
                             predictions_sft=predictions_sft, predictions_irft=predictions_irft)


def evaluate_policies(items: list[dict], params: dict[str, Any], items_report: dict[str, Any] | None = None,
                      **predictions: list[dict]):
    """:func:`evaluate` for the policies given as ``predictions_<policy>=...`` (any of
    :data:`MODELS`, reported in that order): the pipelines that evaluate fewer policies
    (``create_pipeline(policies=("base", "sft"))``) wire this node."""
    unknown = sorted(set(predictions) - {f"predictions_{m}" for m in MODELS})
    if unknown or not predictions:
        raise ValueError(f"evaluate_policies takes predictions_<policy> for policies {MODELS}, got {sorted(predictions)}")
    scores: dict[str, Any] = {"subset": params["bfcl"]["sample_size"] is not None,
                              "sample_size": params["bfcl"]["sample_size"], "models": {},
                              "skipped_input": (items_report or {}).get("skipped_input", {})}
    for name in (m for m in MODELS if f"predictions_{m}" in predictions):
        model_scores = score_model(items, predictions[f"predictions_{name}"])
        model_scores["aggregates"] = aggregate(model_scores["bfcl"])
        scores["models"][name] = model_scores
        logger.info("%s: BFCL %s", name, {k: round(v, 3) for k, v in model_scores["aggregates"].items()
                                         if v is not None})
    log_model_runs(scores)
    flat = {}
    for name, model_scores in scores["models"].items():
        flat.update({f"{name}.bfcl.{k}": v for k, v in model_scores["aggregates"].items() if v is not None})
        overall = (model_scores["synthetic"] or {}).get("overall", {})
        flat.update({f"{name}.synthetic.{k}": v for k, v in overall.items() if isinstance(v, (int, float))})
    flat["skipped_input"] = sum(b["skipped"] for b in scores["skipped_input"].values())
    markdown, html = render_report(scores)
    return scores, markdown, html, plots(scores), metrics_history(flat)


def decontaminate(sft_train: list[dict], bfcl_data: dict[str, list[dict]], params: dict[str, Any]) -> dict:
    """Word n-gram overlap of the training dialogs' user turns with every BFCL question. Records
    that are not canonical dialogs (or BFCL entries) are skipped and counted (``skipped_input``)."""
    cfg = params["decontamination"]
    dialogs, skipped = validate_records(sft_train, dialog_problem, "sft_train")
    bfcl, bfcl_skipped = usable_bfcl(bfcl_data)
    report = contamination_report(dialogs, bfcl, n=cfg["n"], threshold=cfg["threshold"])
    report["skipped_input"] = {"sft_train": skipped, **bfcl_skipped}
    return report
