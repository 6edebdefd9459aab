"""The verification report, its MLflow metrics and the rejection plot."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from toolace_kedro.datasets.records import EXAMPLES, locate, validate_records
from toolace_kedro.plots import bar_chart
from toolace_kedro.pipelines.verification.config import VerificationParams
from toolace_kedro.pipelines.verification.judges import JUDGES
from toolace_kedro.pipelines.verification.quality import MEASURES
from toolace_kedro.pipelines.verification.rules import RULE_IDS
from toolace_kedro.toolcalls import dialog_problem
from toolace_kedro.tracking import metrics_history

__all__ = ["rejection_plot", "verification_metrics", "verification_report"]


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _type(dialog: Any) -> str:
    kind = dialog.get("type") if isinstance(dialog, dict) else None
    return kind if isinstance(kind, str) else "unknown"


def _evidence_summary(judged: list[dict]) -> dict[str, Any]:
    """The deterministic evidence beside the judges' verdicts (how often they agree)."""
    grounding = [e for o in judged for e in o["evidence"].get("grounding", [])]
    fits = [f for o in judged for f in o["evidence"].get("result_fit", [])]
    versus: dict[str, Counter] = {"hallucination": Counter(), "tool_response": Counter()}
    for o in judged:
        unfound = any(not e["found_in"] for e in o["evidence"].get("grounding", []))
        misfit = any(not f["fits"] for f in o["evidence"].get("result_fit", []))
        for name, flag, labels in (("hallucination", unfound, ("all_values_found", "some_value_not_found")),
                                   ("tool_response", misfit, ("results_fit_schema", "some_result_misfits"))):
            if name in o["judges"]:
                versus[name][f"{labels[flag]}.{o['judges'][name]['verdict']}"] += 1
    return {
        "values_checked": len(grounding),
        "values_not_found": sum(1 for e in grounding if not e["found_in"]),
        "values_found_in": dict(Counter(w for e in grounding for w in e["found_in"])),
        "dialogs_with_values_not_found": sum(1 for o in judged if any(not e["found_in"]
                                                                       for e in o["evidence"].get("grounding", []))),
        "results_checked": len(fits),
        "results_not_fitting": sum(1 for f in fits if not f["fits"]),
        "hallucination_judge_vs_evidence": dict(sorted(versus["hallucination"].items())),
        "tool_response_judge_vs_evidence": dict(sorted(versus["tool_response"].items())),
    }


def _quality_shares(flags: list[dict[str, bool | None]]) -> dict[str, Any]:
    """Per data-quality measure: dialogs it applies to, how many pass, the share."""
    out = {}
    for measure in MEASURES:
        values = [f[measure] for f in flags if f.get(measure) is not None]
        out[measure] = {"n": len(values), "passed": sum(values),
                        "share": round(sum(values) / len(values), 4) if values else None}
    return out


def _not_canonical(dialogs: list[Any], rule_outcomes: dict[str, Any]) -> dict[str, Any]:
    """Records that are not canonical dialogs at all, where they came from, and how many the rule
    layer rejected (all of them when it is on: a dialog passing the rules is a DialogSample)."""
    found, rejected, examples = 0, 0, []
    for i, dialog in enumerate(dialogs):
        rules = rule_outcomes["outcomes"][i]
        if rule_outcomes["enabled"] and not (rules and rules["rules"]):
            continue
        problem = dialog_problem(dialog)
        if problem is None:
            continue
        found += 1
        rejected += bool(rules and rules["rules"])
        if len(examples) < EXAMPLES:
            examples.append(f"{locate(dialogs, i, 'dialogs')}: {problem}")
    return {"dialogs": found, "rejected": rejected, "examples": examples}


def verification_report(dialogs: list[Any], rule_outcomes: dict[str, Any], dedup_outcomes: dict[str, Any],
                        judge_outcomes: dict[str, Any],
                        params: VerificationParams | Mapping[str, Any]) -> dict[str, Any]:
    cfg = VerificationParams.of(params)
    on_unavailable, reject = cfg.judges.on_unavailable, cfg.judges.reject
    n = len(dialogs)
    rules_count: Counter = Counter({r: 0 for r in RULE_IDS})
    dedup_count: Counter = Counter({"dedup.request": 0, "dedup.answer": 0})
    judge_count = {name: Counter({"pass": 0, "fail": 0, "unavailable": 0}) for name in JUDGES}
    judge_rejections: Counter = Counter({f"judge.{name}.{what}": 0
                                         for name in JUDGES for what in ("fail", "unavailable")})
    all_judges_pass = 0
    by_type: dict[str, Counter] = defaultdict(Counter)
    examples: dict[str, str] = {}
    passed_rules = passed_dedup = passed_judges = 0
    quality_count: Counter = Counter({f"quality.{m}": 0 for m in cfg.quality.require})
    canonical, verified = [], []
    for i, dialog in enumerate(dialogs):
        kind = _type(dialog)
        by_type[kind]["dialogs"] += 1
        rules = rule_outcomes["outcomes"][i]
        if rules and rules["rules"]:
            rules_count.update(rules["rules"])
            for problem in rules["problems"]:
                examples.setdefault(problem.split(":", 1)[0], f"{rules['id']}: {problem.split(': ', 1)[1]}")
            continue
        if rules and "quality" in rules:
            canonical.append(rules["quality"])
        if rules and rules.get("quality_failed"):
            quality_count.update(rules["quality_failed"])
            continue
        passed_rules += 1
        by_type[kind]["passed_rules"] += 1
        dup = dedup_outcomes["outcomes"][i]
        if dup:
            dedup_count[dup["reason"]] += 1
            continue
        passed_dedup += 1
        by_type[kind]["passed_dedup"] += 1
        judged = judge_outcomes["outcomes"][i]
        verdicts = judged["judges"] if judged else {}
        failing = [f"judge.{name}.{r['verdict']}" for name, r in verdicts.items()
                   if r["verdict"] == "fail" or (r["verdict"] == "unavailable" and on_unavailable == "fail")]
        for name, result in verdicts.items():
            judge_count[name][result["verdict"]] += 1
        all_judges_pass += bool(verdicts) and not failing
        if reject:
            judge_rejections.update(failing)
        if not (reject and failing):
            passed_judges += 1
            by_type[kind]["verified"] += 1
            if rules and "quality" in rules:
                verified.append(rules["quality"])
    judged_outcomes = [o for o in judge_outcomes["outcomes"] if o]
    layers = {
        "rules": {"enabled": rule_outcomes["enabled"], "checked": n, "passed": passed_rules,
                  "pass_rate": _rate(passed_rules, n), "seconds": rule_outcomes["seconds"]},
        "dedup": {"enabled": dedup_outcomes["enabled"], "checked": passed_rules, "passed": passed_dedup,
                  "pass_rate": _rate(passed_dedup, passed_rules), "seconds": dedup_outcomes["seconds"]},
        "judges": {"enabled": judge_outcomes["enabled"], "rejects": reject, "checked": passed_dedup,
                   "passed": passed_judges, "pass_rate": _rate(passed_judges, passed_dedup),
                   "all_judges_pass": all_judges_pass,
                   "all_judges_pass_rate": _rate(all_judges_pass, len(judged_outcomes)),
                   "seconds": judge_outcomes["seconds"]},
    }
    judges = {}
    for name, counts in judge_count.items():
        judged = sum(counts.values())
        on = judge_outcomes["enabled"] and getattr(cfg.judges, name).enabled
        judges[name] = {"enabled": on,
                        "judged": judged, **counts, "fail_rate": _rate(counts["fail"], judged),
                        "unavailable_rate": _rate(counts["unavailable"], judged)}
    rejections = {**{f"rule.{k}": v for k, v in rules_count.items()}, **quality_count, **dedup_count,
                  **judge_rejections}
    return {
        "dialogs": n, "verified": passed_judges, "rejected": n - passed_judges, "pass_rate": _rate(passed_judges, n),
        "layers": layers,
        "rules": dict(rules_count), "dedup": dict(dedup_count), "judges": judges,
        "judge_settings": cfg.judges.model_dump(exclude={"llm", *JUDGES}),
        "rejections": rejections,
        "by_type": {kind: {**{k: c[k] for k in ("dialogs", "passed_rules", "passed_dedup", "verified")},
                           "pass_rate": _rate(c["verified"], c["dialogs"]),
                           "rules_pass_rate": _rate(c["passed_rules"], c["dialogs"]),
                           "judges_pass_rate": _rate(c["verified"], c["passed_dedup"])}
                    for kind, c in sorted(by_type.items())},
        "quality": {"required": list(cfg.quality.require),
                    "dialogs": _quality_shares(canonical), "verified": _quality_shares(verified)},
        "evidence": _evidence_summary(judged_outcomes),
        "timings": {"rules_s": rule_outcomes["seconds"],
                    "rules_ms_per_dialog": round(1000 * rule_outcomes["seconds"] / n, 4) if n else 0.0,
                    "dedup_s": dedup_outcomes["seconds"], "judges_s": judge_outcomes["seconds"]},
        "rule_examples": dict(sorted(examples.items())),
        "skipped_input": {"dialogs": validate_records(dialogs, None, "dialogs", allow_empty=True)[1]},
        "not_canonical": _not_canonical(dialogs, rule_outcomes),
        "llm": judge_outcomes.get("llm", {}),
    }


def verification_metrics(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Headline figures for MLflow (``verification.<name>``)."""
    values: dict[str, float] = {
        "dialogs": report["dialogs"], "verified": report["verified"], "pass_rate": report["pass_rate"],
        "skipped_input": report["skipped_input"]["dialogs"]["skipped"],
        "not_canonical": report["not_canonical"]["dialogs"],
        **{f"{layer}_pass_rate": v["pass_rate"] for layer, v in report["layers"].items()},
        **{f"{layer}_seconds": v["seconds"] for layer, v in report["layers"].items()},
        **{f"rejected.{k}": v for k, v in report["rejections"].items()},
        **{f"quality.{m}": q["share"] for m, q in report["quality"]["verified"].items() if q["share"] is not None},
        **{f"judge.{name}.{what}": j[what] for name, j in report["judges"].items()
           for what in ("pass", "fail", "unavailable")},
    }
    return metrics_history(values)


def rejection_plot(report: dict[str, Any]):
    """Horizontal bars: dialogs rejected per rule id, de-duplication reason and judge (and, when the
    judges only record, their fail verdicts, marked as such)."""
    counts = {k.removeprefix("rule."): v for k, v in report["rejections"].items()}
    title = f"Verification rejections ({report['rejected']} of {report['dialogs']} dialogs)"
    if not report["layers"]["judges"]["rejects"]:
        counts = {k: v for k, v in counts.items() if not k.startswith("judge.")}
        counts.update({f"judge.{name}.fail (recorded only)": j["fail"] for name, j in report["judges"].items()})
        title += "; judges record only"
    return bar_chart(counts, title, "dialogs")
