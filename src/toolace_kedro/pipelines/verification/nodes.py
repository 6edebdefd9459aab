"""Nodes of the ``verification`` pipeline (ToolACE's Dual-Layer Verification).

The layers run in order, each on the dialogs the previous ones kept: rules → de-duplication →
judges (the model layer costs LLM time, so it sees only dialogs worth judging). Each layer's
outcome is a list aligned with ``dialogs`` (``None`` where the layer did not look at a dialog);
any layer can be switched off with ``layers`` (the paper's ablation: no verification, rules only,
both layers).

Bad input: a record that is not a canonical dialog is not skipped but rejected by the rule layer
with its rule ids, its file and line in the outcome (``at``) and in the report (``not_canonical``);
lines the loader could not read are counted in the report's ``skipped_input``. An empty input is
an error.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

from tqdm.auto import tqdm

from toolace_kedro.datasets.records import locate, validate_records
from toolace_kedro.llm import build_llm
from toolace_kedro.pipelines.verification.config import VerificationParams
from toolace_kedro.pipelines.verification.dedup import deduplicate
from toolace_kedro.pipelines.verification.judges import enabled_judges, judge_dialogs
from toolace_kedro.pipelines.verification.quality import quality_flags
from toolace_kedro.pipelines.verification.report import rejection_plot, verification_metrics, verification_report
from toolace_kedro.pipelines.verification.rules import RULE_IDS, sample_problems

logger = logging.getLogger(__name__)


def _kept(dialogs: list, *outcomes: dict[str, Any]) -> list[int]:
    """Indices of the dialogs no earlier layer rejected."""
    keep = []
    for i in range(len(dialogs)):
        rules = outcomes[0]["outcomes"][i] if len(outcomes) > 0 else None
        dup = outcomes[1]["outcomes"][i] if len(outcomes) > 1 else None
        if (rules is None or not (rules["rules"] or rules.get("quality_failed"))) and dup is None:
            keep.append(i)
    return keep


def _dialog_id(dialog: Any, index: int) -> str:
    return dialog["id"] if isinstance(dialog, dict) and isinstance(dialog.get("id"), str) else f"#{index}"


def apply_rules(dialogs: list[Any], params: VerificationParams | dict[str, Any]) -> dict[str, Any]:
    """Rule layer: the rule ids (and up to five messages) each dialog breaks, and where the
    dialog came from (``at``: file and line, or ``dialogs[index]``); for the dialogs that pass,
    their data-quality flags (``quality.py``) and the measures of ``quality.require`` they fail
    (``quality_failed``: rejected like a broken rule)."""
    validate_records(dialogs, None, "dialogs")  # not a list, or no dialog at all: a one-line error
    cfg = VerificationParams.of(params)
    if not cfg.layers.rules:
        return {"enabled": False, "seconds": 0.0, "outcomes": [None] * len(dialogs)}
    required = cfg.quality.require
    start = time.perf_counter()
    outcomes = []
    for i, dialog in enumerate(tqdm(dialogs, desc="rules", disable=len(dialogs) < 5000)):
        problems = sample_problems(dialog, cfg.rules)
        found = {rule for rule, _ in problems}
        ids = [rule for rule in RULE_IDS if rule in found]
        outcome = {"id": _dialog_id(dialog, i), "rules": ids,
                   "problems": [f"{rule}: {message}" for rule, message in problems[:5]]}
        if ids:
            outcome["at"] = locate(dialogs, i, "dialogs")
        else:  # a canonical dialog: its data-quality flags, and the required ones it fails
            outcome["quality"] = quality_flags(dialog)
            outcome["quality_failed"] = [f"quality.{m}" for m in required if outcome["quality"][m] is False]
        outcomes.append(outcome)
    seconds = time.perf_counter() - start
    broken = sum(1 for o in outcomes if o["rules"])
    by_rule = Counter(rule for o in outcomes for rule in o["rules"])
    logger.info("rules: %d of %d dialogs pass (%.3f s); broken rules: %s", len(dialogs) - broken, len(dialogs),
                seconds, dict(by_rule.most_common()))
    return {"enabled": True, "seconds": round(seconds, 4), "outcomes": outcomes}


def deduplicate_dialogs(dialogs: list[Any], rule_outcomes: dict[str, Any],
                        params: VerificationParams | dict[str, Any]) -> dict[str, Any]:
    """De-duplication of the dialogs the rules kept: ``dedup.request`` / ``dedup.answer``."""
    cfg = VerificationParams.of(params)
    outcomes: list[dict | None] = [None] * len(dialogs)
    if not cfg.layers.dedup:
        return {"enabled": False, "seconds": 0.0, "outcomes": outcomes}
    start = time.perf_counter()
    keep = _kept(dialogs, rule_outcomes)
    for i, found in zip(keep, deduplicate([dialogs[i] for i in keep], cfg.dedup)):
        if found is not None:
            original = keep[found.pop("duplicate_of")]
            outcomes[i] = {**found, "duplicate_of": _dialog_id(dialogs[original], original)}
    seconds = time.perf_counter() - start
    reasons = Counter(o["reason"] for o in outcomes if o is not None)
    logger.info("dedup: %d of %d dialogs are repeats %s", sum(reasons.values()), len(keep), dict(reasons))
    return {"enabled": True, "seconds": round(seconds, 4), "outcomes": outcomes}


def judge(dialogs: list[Any], rule_outcomes: dict[str, Any], dedup_outcomes: dict[str, Any],
          llm_config: dict[str, Any], params: VerificationParams | dict[str, Any]) -> dict[str, Any]:
    """Model layer: the three LLM judges on the dialogs the rules and de-duplication kept."""
    cfg = VerificationParams.of(params)
    outcomes: list[dict | None] = [None] * len(dialogs)
    if not cfg.layers.judges or not enabled_judges(cfg.judges):
        return {"enabled": False, "seconds": 0.0, "outcomes": outcomes, "llm": {}}
    start = time.perf_counter()
    keep = _kept(dialogs, rule_outcomes, dedup_outcomes)
    usage: dict[str, Any] = {}
    if keep:
        client = build_llm({**(llm_config or {}), **cfg.judges.llm})
        try:
            for i, outcome in zip(keep, judge_dialogs([dialogs[i] for i in keep], client, cfg.judges)):
                outcomes[i] = outcome
            usage = client.usage.as_dict()
        finally:
            client.close()
    seconds = time.perf_counter() - start
    logger.info("judges: %d dialogs judged in %.1f s", len(keep), seconds)
    return {"enabled": True, "seconds": round(seconds, 2), "outcomes": outcomes, "llm": usage}


def _judge_rejections(outcome: dict | None, on_unavailable: str, reject: bool) -> dict[str, str]:
    """Judge name → reason, for the judges that reject this dialog (none when ``reject`` is off)."""
    if outcome is None or not reject:
        return {}
    out = {}
    for name, result in outcome["judges"].items():
        if result["verdict"] == "fail":
            out[name] = result["reason"] or "fail"
        elif result["verdict"] == "unavailable" and on_unavailable == "fail":
            out[name] = "unavailable"
    return out


def split_dialogs(dialogs: list[Any], rule_outcomes: dict[str, Any], dedup_outcomes: dict[str, Any],
                  judge_outcomes: dict[str, Any],
                  params: VerificationParams | dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """``verified_dialogs`` (canonical, ``meta.verification`` added) and ``rejected_dialogs`` (with
    ``meta.rejection = {"rules", "judges", "dedup"}``)."""
    cfg = VerificationParams.of(params).judges
    verified, rejected = [], []
    for i, dialog in enumerate(dialogs):
        rules = (rule_outcomes["outcomes"][i] or {}).get("rules", [])
        quality = (rule_outcomes["outcomes"][i] or {}).get("quality_failed", [])
        dup = dedup_outcomes["outcomes"][i]
        judged = judge_outcomes["outcomes"][i]
        judges = _judge_rejections(judged, cfg.on_unavailable, cfg.reject)
        if rules or quality or dup or judges:
            rejection = {"rules": rules, "quality": quality, "judges": judges, "dedup": dup}
            if not isinstance(dialog, dict):
                rejected.append({"sample": dialog, "meta": {"rejection": rejection}})
            else:
                meta = dialog.get("meta")
                meta = meta if isinstance(meta, dict) else {"original_meta": meta}
                rejected.append({**dialog, "meta": {**meta, "rejection": rejection}})
            continue
        record = {}
        if judged is not None:
            record["judges"] = {name: r["verdict"] for name, r in judged["judges"].items()}
            record["values_not_found"] = sum(1 for e in judged["evidence"].get("grounding", []) if not e["found_in"])
        if record and isinstance(dialog, dict) and isinstance(dialog.get("meta", {}), dict):
            dialog = {**dialog, "meta": {**dialog.get("meta", {}), "verification": record}}
        verified.append(dialog)  # (a malformed one only gets here with the rule layer off)
    logger.info("verification: %d verified, %d rejected of %d", len(verified), len(rejected), len(dialogs))
    return verified, rejected


def summarise_verification(dialogs: list[Any], rule_outcomes: dict[str, Any], dedup_outcomes: dict[str, Any],
                           judge_outcomes: dict[str, Any], params: VerificationParams | dict[str, Any]):
    """``verification_report`` (JSON), MLflow metrics and the rejection plot."""
    report = verification_report(dialogs, rule_outcomes, dedup_outcomes, judge_outcomes,
                                 VerificationParams.of(params))
    return report, verification_metrics(report), rejection_plot(report)
