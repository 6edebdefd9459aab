"""Nodes of the ``evaluation`` pipeline: one item set (a seeded BFCL subset + the held-out
synthetic test set), the same prompts for every policy, greedy predictions, exact scoring."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from toolace_kedro.datasets.bfcl_data import parse_format_sensitivity_id
from toolace_kedro.datasets.bfcl_multi_turn import MULTI_TURN_CATEGORIES
from toolace_kedro.datasets.records import validate_records
from toolace_kedro.llm import build_llm
from toolace_kedro.llm.base import LLMBatchError, LLMConfig
from toolace_kedro.models.identity import weights_digest, weights_stamp
from toolace_kedro.pipelines.evaluation.bfcl import (
    CATEGORIES,
    FORMAT_SENSITIVITY,
    LANGUAGE_OF,
    check_output,
    entry_problem,
)
from toolace_kedro.pipelines.evaluation.comparison import (
    by_format,
    interval,
    paired_comparisons,
    pooled_groups,
)
from toolace_kedro.pipelines.evaluation.config import (
    MULTI_TURN_SIZE_KEY,
    EvaluationParams,
    GenerationParams,
    asked_backend,
    served_policy_problem,
)
from toolace_kedro.pipelines.evaluation.decontamination import contamination_report
from toolace_kedro.pipelines.evaluation.items import (
    bfcl_messages,
    prompt_description,
    sample_sizes,
    seeded_subset,
)
from toolace_kedro.pipelines.evaluation.multi_turn import check_trajectory
from toolace_kedro.pipelines.evaluation.multi_turn_policy import run_multi_turn
from toolace_kedro.pipelines.evaluation.report import (
    aggregate,
    log_model_runs,
    plots,
    render_report,
)
from toolace_kedro.pipelines.evaluation.synthetic import (
    action_verdict,
    first_action,
    first_action_prompt,
    predicted_calls,
    score_synthetic,
)
from toolace_kedro.toolcalls import dialog_problem
from toolace_kedro.toolcalls.call_prefix import never_python_calls
from toolace_kedro.tracking import metrics_history

logger = logging.getLogger(__name__)

#: the policies compared, in report order
MODELS = ("base", "sft", "irft")


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


def build_items(bfcl_data: dict[str, list[dict]], sft_test: list[dict], params: EvaluationParams | Mapping,
                bfcl_multi_turn: dict[str, list[dict]] | None = None) -> tuple[list[dict], dict[str, Any]]:
    """The items every policy answers: ``{"id", "source", "category", "messages"}`` plus what the
    scorer needs (the BFCL entry, or the reference dialog); BFCL items also name their ``prompt``.
    ``bfcl.sample_size`` items per category (an int, null = all, or a mapping per category with a
    ``default``; seeded), asked with ``prompt`` (``bfcl``: BFCL's own prompt, ``training``: the
    sft format); the whole held-out synthetic set. Entries and dialogs that cannot be asked or
    scored are skipped and counted with file and line: the second output, ``{"skipped_input":
    {...}, "bfcl_sample": {category: {items, available}}}``, goes into ``evaluation_scores``.
    ``multi_turn.categories`` of ``bfcl_multi_turn`` add ``{"id", "source": "bfcl_multi_turn",
    "category", "entry"}`` items (``multi_turn.sample_size`` entries each, seeded), which the
    policies work through turn by turn."""
    cfg = EvaluationParams.of(params)
    prompt = cfg.prompt
    categories = list(cfg.bfcl.categories or CATEGORIES)
    sizes = sample_sizes(cfg.bfcl.sample_size, categories)
    bfcl, skipped = usable_bfcl(bfcl_data, categories)
    items, sample = [], {}
    for category, entries in bfcl.items():
        chosen = seeded_subset(entries, sizes[category], cfg.seed, category)
        sample[category] = {"items": len(chosen), "available": len(entries)}
        items += [{"id": e["id"], "source": "bfcl", "category": category, "prompt": prompt,
                   "messages": bfcl_messages(e, prompt), "entry": e}
                  for e in chosen]
    multi = cfg.multi_turn
    if multi.chosen():
        if bfcl_multi_turn is None:
            raise ValueError("evaluation.multi_turn.categories asks for multi-turn entries, but no "
                             "bfcl_multi_turn data was given")
        multi_sizes = sample_sizes(multi.sample_size, multi.chosen(), MULTI_TURN_CATEGORIES, MULTI_TURN_SIZE_KEY)
        for category in multi.chosen():
            if category not in bfcl_multi_turn:
                raise ValueError(f"BFCL multi-turn category {category!r} is not in bfcl_multi_turn "
                                 f"(loaded: {sorted(bfcl_multi_turn)})")
            entries = bfcl_multi_turn[category]
            chosen = seeded_subset(entries, multi_sizes[category], cfg.seed, category)
            sample[category] = {"items": len(chosen), "available": len(entries)}
            items += [{"id": e["id"], "source": "bfcl_multi_turn", "category": category, "entry": e} for e in chosen]
    if cfg.synthetic:
        dialogs, skipped["sft_test"] = validate_records(sft_test, dialog_problem, "sft_test", allow_empty=True)
        for dialog in dialogs:
            items.append({"id": dialog["id"], "source": "synthetic", "category": dialog["type"],
                          "messages": first_action_prompt(dialog, cfg.call_format),
                          "reference": dialog})
    logger.info("evaluation items: %d BFCL (%d categories, prompt %s), %d BFCL multi-turn, %d synthetic",
                sum(i["source"] == "bfcl" for i in items), len({i["category"] for i in items if i["source"] == "bfcl"}),
                prompt, sum(i["source"] == "bfcl_multi_turn" for i in items),
                sum(i["source"] == "synthetic" for i in items))
    return items, {"skipped_input": skipped, "bfcl_sample": sample}


def _decoded_as_python_calls(item: dict) -> bool:
    """BFCL decodes the item's answer as a bare Python call list, the text ``toolcalls.call_prefix``
    reads: not ``simple_java``/``simple_javascript`` (Java/JavaScript), nor a ``format_sensitivity``
    item asking for JSON or XML or for calls inside ``<TOOLCALL>`` (prose around a tag is allowed)."""
    if item["category"] in LANGUAGE_OF:
        return False
    if item["category"] == FORMAT_SENSITIVITY:
        return parse_format_sensitivity_id(item["entry"]["id"])[0].startswith("ret_fmt=python&tool_call_tag=False&")
    return True


def _request_options(items: list[dict], generation: GenerationParams) -> list[dict[str, Any] | None]:
    """Per-item options: ``max_tokens`` from ``generation.max_tokens_by_category`` and, with
    ``generation.early_stop``, the ``python_calls`` stop rule for BFCL items decoded as a bare
    Python call list (:func:`_decoded_as_python_calls`) -- an answer ends once it can no longer
    become a list of calls, which leaves BFCL's verdict as it would be on the whole answer
    (``toolcalls.call_prefix``); for the held-out synthetic items the ``tool_calls`` rule, once
    the project's ``parse_calls`` (their decoder) can no longer read calls. The model has checked
    both keys."""
    limits, early = generation.max_tokens_by_category, generation.early_stop
    options = []
    for item in items:
        option = {}
        if item["source"] == "bfcl":
            if item["category"] in limits:
                option["max_tokens"] = limits[item["category"]]
            if early and _decoded_as_python_calls(item):  # the rule reads Python, not Java, JSON, XML, tags
                option["stop_when"] = "python_calls"
        elif item["source"] == "synthetic" and early:
            option["stop_when"] = "tool_calls"
        options.append(option or None)
    return options


def policy_llm_config(llm_params: LLMConfig | Mapping, params: EvaluationParams | Mapping, policy: str,
                      model: str, adapter: str | None = None) -> dict[str, Any]:
    """The ``llm`` config that asks ``policy`` for greedy answers: ``generation`` merged over the
    ``llm`` block (a dict or the typed ``LLMConfig``). In-process (transformers) the policy is
    ``model`` plus ``adapter``, this run's own weights. Behind an OpenAI-compatible server it is
    the name ``served_policies.<policy>`` (base: the ``llm`` block's model when unset), and the
    identity of this run's adapter or merged policy enters the response-cache key
    (``served_weights``), so answers cached for other weights under that name are not reused.
    A policy without a served name is an error here, before anything is asked."""
    cfg = EvaluationParams.of(params)
    shared = llm_params.model_dump() if isinstance(llm_params, LLMConfig) else dict(llm_params or {})
    config = {**shared, **cfg.generation.llm_overrides(), "temperature": 0.0}
    if asked_backend(llm_params, cfg) != "openai":
        return {**config, "model": model, "adapter": adapter}
    served = getattr(cfg.served_policies, policy) or (config.get("model") if policy == "base" else None)
    if not served:
        raise ValueError(served_policy_problem(policy))
    weights = None
    if policy == "sft":
        weights = f"{adapter}|{weights_digest(adapter)}"
    elif policy == "irft":
        weights = f"{model}|{weights_stamp(model)}"
    return {**config, "model": served, "adapter": None, "served_weights": weights}


def _predict(items: list[dict], llm_params: LLMConfig | Mapping, params: EvaluationParams | Mapping, model: str,
             adapter: str | None, label: str) -> list[dict]:
    """Greedy answers of one policy (:func:`policy_llm_config`). A request that still fails
    after the backend's retries stops the node, naming the policy and the items: a missing
    answer is never scored as a wrong one."""
    cfg = EvaluationParams.of(params)
    single = [i for i in items if i["source"] != "bfcl_multi_turn"]
    multi = [i for i in items if i["source"] == "bfcl_multi_turn"]
    per_request = _request_options(single, cfg.generation)
    config = policy_llm_config(llm_params, params, label, model, adapter)
    start = time.perf_counter()
    llm = build_llm(config)
    try:
        outputs = _answers(lambda: llm.chat_batch([i["messages"] for i in single], errors="raise",
                                                  per_request=per_request), single, label, config)
        trajectories = _answers(lambda: run_multi_turn(llm, [i["entry"] for i in multi],
                                                       max_steps=cfg.multi_turn.max_steps,
                                                       max_tokens=cfg.multi_turn.max_tokens,
                                                       **multi_turn_stop(cfg.multi_turn)),
                                multi, label, config, multi_turn=True) if multi else []
    finally:
        llm.close()
    logger.info("%s: %d predictions in %.0f s (%s)", label, len(items), time.perf_counter() - start,
                llm.usage.as_dict())
    by_key = {}
    for item, output in zip(single, outputs):
        prediction = {"id": item["id"], "source": item["source"], "category": item["category"], "output": output or ""}
        if item["source"] == "bfcl" and _decoded_as_python_calls(item):  # can the text still be Python calls
            prediction["never_calls"] = never_python_calls(prediction["output"])
        by_key[(item["source"], item["id"])] = prediction
    for item, trajectory in zip(multi, trajectories):  # per turn, the raw text of each step
        by_key[(item["source"], item["id"])] = {"id": item["id"], "source": item["source"],
                                                "category": item["category"], "output": trajectory}
    return [by_key[(i["source"], i["id"])] for i in items]


def multi_turn_stop(multi: Any) -> dict[str, str]:
    """The sampling option of every multi-turn step: the ``python_calls`` stop rule with
    ``multi_turn.early_stop`` (a step's outcome is settled once its text cannot become calls)."""
    return {"stop_when": "python_calls"} if multi.early_stop else {}


def _answers(ask, items: list[dict], label: str, config: dict[str, Any], multi_turn: bool = False):
    """``ask()``; a request that still fails after the backend's retries stops the node with the
    policy, the items and the server's message (a missing answer is never scored as wrong)."""
    try:
        return ask()
    except LLMBatchError as exc:
        if multi_turn:  # (a batch of the entries under way: its indices are not the items')
            raise RuntimeError(f"{label} policy (model {config['model']!r}): a multi-turn step request failed "
                               f"after retries ({exc}; e.g. {next(iter(exc.details.values()), '')[:160]}). "
                               "Nothing was scored.") from exc
        failed = sorted(exc.failures)
        examples = "; ".join(f"{items[i]['source']} item {items[i]['id']!r} ({items[i]['category']}): "
                             f"{exc.failures[i]} {exc.details.get(i, '')[:160]}".rstrip() for i in failed[:3])
        raise RuntimeError(f"{label} policy (model {config['model']!r}): {len(failed)} of {len(items)} prediction "
                           f"requests failed after retries, e.g. {examples}. Nothing was scored.") from exc


def predict_base(items: list[dict], policy_model: str, llm_params: LLMConfig | Mapping,
                 params: EvaluationParams | Mapping) -> list[dict]:
    """Greedy answers of the base policy (before any fine-tuning)."""
    return _predict(items, llm_params, params, policy_model, None, "base")


def predict_sft(items: list[dict], policy_model: str, sft_adapter: str, llm_params: LLMConfig | Mapping,
                params: EvaluationParams | Mapping) -> list[dict]:
    """Greedy answers of base + the SFT adapter."""
    return _predict(items, llm_params, params, policy_model, sft_adapter, "sft")


def predict_irft(items: list[dict], irft_policy: str, llm_params: LLMConfig | Mapping,
                 params: EvaluationParams | Mapping) -> list[dict]:
    """Greedy answers of the last irft round's merged policy."""
    return _predict(items, llm_params, params, irft_policy, None, "irft")


def score_model(items: list[dict], predictions: list[dict]) -> dict[str, Any]:
    """One policy's scores: BFCL accuracy per category with n, correct, the Wilson 95 % interval
    and failures by reason; the synthetic metrics (with intervals of exact-call and no-call
    accuracy); and ``verdicts``, one per item (``{id, source, category, correct, reason}``, the
    synthetic ones with ``kind`` call/no_call, the format-sensitivity ones with their prompt
    ``format``), so that policies can be compared item by item. ``format_sensitivity`` also has
    ``by_format`` (per prompt format k/n with interval), ``max_delta`` and ``std`` (points, as
    BFCL reports them: :func:`~.comparison.by_format`)."""
    by_id = {(p["source"], p["id"]): p["output"] for p in predictions}
    missing = [i["id"] for i in items if (i["source"], i["id"]) not in by_id]
    if missing:
        raise ValueError(f"predictions lack {len(missing)} evaluation items, e.g. {missing[:3]}: "
                         "they were made for another item set")
    bfcl: dict[str, dict[str, Any]] = {}
    verdicts: list[dict[str, Any]] = []
    for item in (i for i in items if i["source"] in ("bfcl", "bfcl_multi_turn")):
        output = by_id[(item["source"], item["id"])]
        if item["source"] == "bfcl":
            ok, reason = check_output(item["category"], item["entry"], item["entry"]["possible_answer"], output)
        else:  # BFCL's state- and response-based checks of the trajectory
            ok, reason = check_trajectory(item["entry"], output)
        verdict = {"id": item["id"], "source": item["source"], "category": item["category"], "correct": ok,
                   "reason": None if ok else reason}
        if item["category"] == FORMAT_SENSITIVITY:
            verdict["format"] = parse_format_sensitivity_id(item["id"])[0]
        verdicts.append(verdict)
        cat = bfcl.setdefault(item["category"], {"n": 0, "correct": 0, "failures": {}})
        cat["n"] += 1
        cat["correct"] += ok
        if not ok:
            kind = reason.split(":", 1)[0]
            cat["failures"][kind] = cat["failures"].get(kind, 0) + 1
    for category, cat in bfcl.items():
        bfcl[category] = {**interval(cat["correct"], cat["n"]), "failures": cat["failures"]}
    if FORMAT_SENSITIVITY in bfcl:
        bfcl[FORMAT_SENSITIVITY].update(by_format(verdicts))
    synthetic = [i for i in items if i["source"] == "synthetic"]
    synthetic_scores = None
    if synthetic:
        outputs = [by_id[("synthetic", i["id"])] for i in synthetic]
        synthetic_scores = score_synthetic([i["reference"] for i in synthetic], outputs)
        counts: dict[str, list[int]] = {"call": [0, 0], "no_call": [0, 0]}
        for item, output in zip(synthetic, outputs):
            kind, ok = action_verdict(first_action(item["reference"])[1], predicted_calls(output))
            verdicts.append({"id": item["id"], "source": "synthetic", "category": item["category"], "kind": kind,
                             "correct": ok, "reason": None if ok else ("wrong_call" if kind == "call" else "called")})
            counts[kind][0] += ok
            counts[kind][1] += 1
        synthetic_scores["intervals"] = {"exact_call_accuracy": interval(*counts["call"]),
                                         "no_call_accuracy": interval(*counts["no_call"])}
    return {"bfcl": bfcl, "synthetic": synthetic_scores, "verdicts": verdicts}


def evaluate(items: list[dict], predictions_base: list[dict], predictions_sft: list[dict],
             predictions_irft: list[dict], params: EvaluationParams | Mapping,
             items_report: dict[str, Any] | None = None):
    """Scores of every policy side by side; report (Markdown, HTML), plot, MLflow runs and metrics.
    ``evaluation_scores`` also holds the inputs skipped while building the items (``skipped_input``)."""
    return evaluate_policies(items, params, items_report, predictions_base=predictions_base,
                             predictions_sft=predictions_sft, predictions_irft=predictions_irft)


def _flat_metrics(scores: dict[str, Any]) -> dict[str, float]:
    """The Kedro run's metrics: per policy the BFCL groups, each category's accuracy, n and
    interval (format_sensitivity's also its max delta and standard deviation across formats, in
    points), the synthetic metrics; the paired comparisons' p-values."""
    flat: dict[str, float] = {}
    for name, model_scores in scores["models"].items():
        flat.update({f"{name}.bfcl.{k}": v for k, v in model_scores["aggregates"].items() if v is not None})
        for category, cat in model_scores["bfcl"].items():
            flat.update({f"{name}.bfcl.{category}": cat["accuracy"], f"{name}.bfcl.{category}.n": cat["n"],
                         f"{name}.bfcl.{category}.ci_low": cat["ci_low"],
                         f"{name}.bfcl.{category}.ci_high": cat["ci_high"]})
            flat.update({f"{name}.bfcl.{category}.{k}": cat[k] for k in ("max_delta", "std") if k in cat})
        overall = (model_scores["synthetic"] or {}).get("overall", {})
        flat.update({f"{name}.synthetic.{k}": v for k, v in overall.items() if isinstance(v, (int, float))})
    for pair, by_scope in scores["comparisons"].items():
        flat.update({f"compare.{pair}.{scope}.p_value": c["p_value"] for scope, c in by_scope.items()})
    flat["skipped_input"] = sum(b["skipped"] for b in scores["skipped_input"].values())
    return flat


def evaluate_policies(items: list[dict], params: EvaluationParams | Mapping,
                      items_report: dict[str, Any] | None = None, **predictions: list[dict]):
    """:func:`evaluate` for the policies given as ``predictions_<policy>=...`` (any of
    :data:`MODELS`, reported in that order): the pipelines that evaluate fewer policies
    (``create_pipeline(policies=("base", "sft"))``) wire this node. Beside each policy's scores
    (:func:`score_model`, BFCL's group means in ``aggregates``, the same groups pooled with
    intervals in ``groups``), ``comparisons`` pairs the policies item by item (exact McNemar)."""
    unknown = sorted(set(predictions) - {f"predictions_{m}" for m in MODELS})
    if unknown or not predictions:
        raise ValueError(f"evaluate_policies takes predictions_<policy> for policies {MODELS}, got {sorted(predictions)}")
    cfg = EvaluationParams.of(params)
    report = items_report or {}
    sample = report.get("bfcl_sample") or {}
    prompts = sorted({i.get("prompt", "bfcl") for i in items if i["source"] == "bfcl"})
    described = [prompt_description(p) for p in prompts]
    if any(i["category"] == FORMAT_SENSITIVITY for i in items if i["source"] == "bfcl"):
        described.append("format_sensitivity items: BFCL's prompt in the format each one names")
    scores: dict[str, Any] = {
        "subset": (any(s["items"] < s["available"] for s in sample.values()) if sample
                   else cfg.bfcl.sample_size is not None),
        "sample_size": cfg.bfcl.sample_size, "bfcl_sample": sample,
        "prompt": {"name": prompts[0] if len(prompts) == 1 else prompts,
                   "description": "; ".join(described) or None},
        "models": {}, "skipped_input": report.get("skipped_input", {})}
    if any(i["source"] == "bfcl_multi_turn" for i in items):
        scores["multi_turn"] = cfg.multi_turn.model_dump(include={"max_steps", "max_tokens", "early_stop"})
    for name in (m for m in MODELS if f"predictions_{m}" in predictions):
        model_scores = score_model(items, predictions[f"predictions_{name}"])
        model_scores["aggregates"] = aggregate(model_scores["bfcl"])
        model_scores["groups"] = pooled_groups(model_scores["bfcl"])
        scores["models"][name] = model_scores
        logger.info("%s: BFCL %s", name, {k: round(v, 3) for k, v in model_scores["aggregates"].items()
                                         if v is not None})
    scores["comparisons"] = paired_comparisons({m: s["verdicts"] for m, s in scores["models"].items()})
    for pair, by_scope in scores["comparisons"].items():
        logger.info("%s: %s", pair, {s: f"{c['gained']}+/{c['lost']}- p={c['p_value']:.3g}" for s, c in by_scope.items()})
    log_model_runs(scores)
    markdown, html = render_report(scores)
    return scores, markdown, html, plots(scores), metrics_history(_flat_metrics(scores))


def decontaminate(sft_train: list[dict], bfcl_data: dict[str, list[dict]], params: EvaluationParams | Mapping
                  ) -> dict:
    """Word n-gram overlap of the training dialogs' user turns with every BFCL question. Records
    that are not canonical dialogs (or BFCL entries) are skipped and counted (``skipped_input``)."""
    cfg = EvaluationParams.of(params).decontamination
    dialogs, skipped = validate_records(sft_train, dialog_problem, "sft_train")
    # format_sensitivity asks the questions of its source categories again
    bfcl, bfcl_skipped = usable_bfcl(bfcl_data, [c for c in bfcl_data if c != FORMAT_SENSITIVITY])
    report = contamination_report(dialogs, bfcl, n=cfg.n, threshold=cfg.threshold)
    report["skipped_input"] = {"sft_train": skipped, **bfcl_skipped}
    return report
