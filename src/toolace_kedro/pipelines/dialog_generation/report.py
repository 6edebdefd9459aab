"""Statistics and plots of the generated dialogs."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from toolace_kedro.plots import bar_chart


def dialog_statistics(dialogs: list[dict], report: dict[str, Any]) -> dict[str, Any]:
    counts = report.get("counts", {})
    kept, dropped = counts.get("actions_kept", 0), counts.get("actions_dropped_inconsistent", 0)
    complexity = [d["meta"]["complexity"] for d in dialogs if d["meta"].get("complexity") is not None]
    n = len(dialogs) or 1
    return {
        "dialogs": len(dialogs),
        "planned": report.get("planned", 0),
        "type_mix": dict(Counter(d["type"] for d in dialogs).most_common()),
        "twins": sum(1 for d in dialogs if d["meta"].get("twin_of")),
        "non_tool_unrelated_requests": sum(1 for d in dialogs if d["meta"].get("topic") and not d["meta"].get("twin_of")),
        "mean_messages": round(sum(len(d["messages"]) for d in dialogs) / n, 2),
        "mean_candidate_apis": round(sum(len(d["tools"]) for d in dialogs) / n, 2),
        "calls_per_dialog": round(sum(len(m.get("tool_calls") or []) for d in dialogs for m in d["messages"]) / n, 2),
        "self_consistency": {"actions_kept": kept, "actions_dropped": dropped,
                             "actions_resampled": counts.get("actions_resampled_inconsistent", 0),
                             "call_votes_by_samples_drawn": {k.rsplit(".", 1)[1]: v for k, v in sorted(counts.items())
                                                             if k.startswith("call_samples_drawn.")}},
        "multi_turn": _follow_up_statistics(dialogs, counts),
        "consistency_rejection_rate": round(dropped / (kept + dropped), 3) if kept + dropped else 0.0,
        "complexity": ({"mean": round(statistics.fmean(complexity), 4), "min": round(min(complexity), 4),
                        "max": round(max(complexity), 4), **report.get("complexity", {})} if complexity else {}),
        "dropped": report.get("dropped", {}),
        "skipped_input": report.get("skipped_input", {}),
        "llm": report.get("llm", {}),
        "checkpoint": report.get("checkpoint", {}),
    }


def _follow_up_statistics(dialogs: list[dict], counts: dict[str, int]) -> dict[str, Any]:
    """The multi_turn dialogs' follow-ups: how many were answered, where their taken values came
    from, and the follow-ups removed by reason (the dialog then ended before them)."""
    follow_ups = [f for d in dialogs if d["type"] == "multi_turn" for f in d["meta"].get("follow_ups") or []]
    dialogs_mt = sum(1 for d in dialogs if d["type"] == "multi_turn")
    return {"dialogs": dialogs_mt, "follow_ups": len(follow_ups),
            "mean_follow_ups": round(len(follow_ups) / dialogs_mt, 2) if dialogs_mt else 0.0,
            "taken_from": dict(Counter(f["source"] for f in follow_ups)),
            "follow_ups_dropped": {k.split(".", 1)[1]: v for k, v in sorted(counts.items())
                                   if k.startswith("follow_ups_dropped.")}}


def plots(dialogs: list[dict], stats: dict[str, Any]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = bar_chart(stats["type_mix"], "Dialogs per type", "dialogs")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    values = [d["meta"]["complexity"] for d in dialogs if d["meta"].get("complexity") is not None]
    ax.hist(values, bins=20, color="#55a868")
    for key in ("lower", "upper"):
        if stats["complexity"].get(key) is not None:
            ax.axvline(stats["complexity"][key], color="black", linestyle="--", linewidth=1)
    ax.set_title("Complexity (mean assistant-token NLL under the policy)")
    ax.set_xlabel("NLL")
    fig.tight_layout()
    return types, fig
