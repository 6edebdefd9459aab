"""Resolution of the evaluation's figures: Wilson 95 % intervals beside every accuracy and exact
McNemar tests between policies on the same items (:mod:`toolace_kedro.stats`).

* :func:`interval` -- ``{n, correct, accuracy, ci_low, ci_high}`` of a count.
* :func:`pooled_groups` -- BFCL's groups (non-live, live, relevance, irrelevance, overall) pooled
  over their items: BFCL's figure for a group is a mean of category accuracies (see
  :func:`~toolace_kedro.pipelines.evaluation.report.aggregate`), which has no n; the pooled count
  is what the interval is taken over.
* :func:`by_format` -- ``format_sensitivity`` per prompt format, and the spread across formats
  as bfcl-eval's ``format_sensitivity_runner`` reports it.
* :func:`paired_comparisons` -- sft vs base, irft vs sft, irft vs base (those of the policies
  present) on the items both answered: per BFCL category, pooled over all AST items
  (``bfcl_ast``), pooled over the relevance-type items (``bfcl_relevance``), and on the synthetic
  set's call (``synthetic_exact_call``) and text (``synthetic_no_call``) dialogs. Each gives the
  discordant counts (``gained``: only the later policy right, ``lost``: only the earlier one), the
  exact McNemar p-value and the verdict at :data:`toolace_kedro.stats.ALPHA`. The
  ``format_sensitivity`` items (BFCL's AST items again, in other prompts; non-scoring) are paired
  in a scope of their own, the category's, and stay out of ``bfcl_ast``.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from toolace_kedro.datasets.bfcl_data import (
    CATEGORIES,
    FORMAT_SENSITIVITY,
    RELEVANCE_CATEGORIES,
)
from toolace_kedro.datasets.bfcl_multi_turn import MULTI_TURN_CATEGORIES
from toolace_kedro.stats import paired_comparison, wilson_interval
from toolace_kedro.toolcalls.bfcl_prompt import FORMAT_SENSITIVITY_FORMATS

__all__ = ["COMPARISONS", "GROUPS", "by_format", "interval", "paired_comparisons", "pooled_groups", "scopes"]

#: (later, earlier) policy pairs compared, in report order; named ``<later>_vs_<earlier>``
COMPARISONS = (("sft", "base"), ("irft", "sft"), ("irft", "base"))

#: BFCL's groups and the categories each pools (``overall``: every category run)
GROUPS: dict[str, tuple[str, ...]] = {
    "non_live": ("simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple"),
    "live": ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple"),
    "relevance": ("live_relevance",),
    "irrelevance": ("irrelevance", "live_irrelevance"),
    "multi_turn": MULTI_TURN_CATEGORIES,
    "overall": CATEGORIES + MULTI_TURN_CATEGORIES,
}


def interval(correct: int, n: int) -> dict[str, Any]:
    """A count with its accuracy and Wilson 95 % interval (accuracy ``None`` for ``n == 0``)."""
    low, high = wilson_interval(correct, n)
    return {"n": n, "correct": correct, "accuracy": correct / n if n else None, "ci_low": low, "ci_high": high}


def by_format(verdicts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``format_sensitivity`` verdicts (those with a ``format``) per prompt format:
    ``by_format`` ``{format: interval}`` in BFCL's order of formats, ``max_delta`` (highest minus
    lowest accuracy) and ``std`` (the sample standard deviation of the accuracies), in points
    rounded to 2 decimals and 0.0 with fewer than two formats, as bfcl-eval's
    ``format_sensitivity_runner`` reports them (a subset's formats may hold different entries)."""
    counts: dict[str, list[int]] = {}
    for v in verdicts:
        if v.get("category") == FORMAT_SENSITIVITY and "format" in v:
            count = counts.setdefault(v["format"], [0, 0])
            count[0] += bool(v["correct"])
            count[1] += 1
    order = [f for f in FORMAT_SENSITIVITY_FORMATS if f in counts] + sorted(set(counts) - set(FORMAT_SENSITIVITY_FORMATS))
    formats = {f: interval(*counts[f]) for f in order}
    accuracies = [c["accuracy"] for c in formats.values()]
    spread = len(accuracies) > 1
    return {"by_format": formats,
            "max_delta": round((max(accuracies) - min(accuracies)) * 100, 2) if spread else 0.0,
            "std": round(statistics.stdev(accuracies) * 100, 2) if spread else 0.0}


def pooled_groups(bfcl: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every group with at least one category run, pooled over its items."""
    out = {}
    for group, members in GROUPS.items():
        run = [c for c in members if c in bfcl]
        if run:
            out[group] = {"categories": run, **interval(sum(bfcl[c]["correct"] for c in run),
                                                        sum(bfcl[c]["n"] for c in run))}
    return out


def scopes(verdicts: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """The item sets compared: each BFCL category, ``bfcl_ast``, ``bfcl_relevance``,
    ``bfcl_multi_turn``, ``synthetic_exact_call``, ``synthetic_no_call`` (only the non-empty ones;
    ``format_sensitivity`` items only in their category's)."""
    out: dict[str, list] = {}
    for v in verdicts:
        if v["source"] == "bfcl":
            out.setdefault(v["category"], []).append(v)
            if v["category"] != FORMAT_SENSITIVITY:
                out.setdefault("bfcl_relevance" if v["category"] in RELEVANCE_CATEGORIES else "bfcl_ast", []).append(v)
        elif v["source"] == "bfcl_multi_turn":
            out.setdefault(v["category"], []).append(v)
            out.setdefault("bfcl_multi_turn", []).append(v)
        else:
            out.setdefault(f"synthetic_{'exact_call' if v['kind'] == 'call' else 'no_call'}", []).append(v)
    order = [c for c in (*CATEGORIES, FORMAT_SENSITIVITY, *MULTI_TURN_CATEGORIES) if c in out] + [
        s for s in ("bfcl_ast", "bfcl_relevance", "bfcl_multi_turn", "synthetic_exact_call", "synthetic_no_call")
        if s in out]
    return {s: out[s] for s in order}


def paired_comparisons(verdicts: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """``{"<later>_vs_<earlier>": {scope: paired_comparison(...)}}`` for the :data:`COMPARISONS`
    whose policies are both in ``verdicts`` (policy -> per-item verdicts of :func:`score_model`).
    Items are paired by ``(source, id)``; both policies must have answered the same items."""
    out: dict[str, dict[str, Any]] = {}
    for later, earlier in COMPARISONS:
        if later not in verdicts or earlier not in verdicts:
            continue
        second = {(v["source"], v["id"]): v for v in verdicts[later]}
        if set(second) != {(v["source"], v["id"]) for v in verdicts[earlier]}:
            raise ValueError(f"{later} and {earlier} were scored on different items: cannot pair them")
        out[f"{later}_vs_{earlier}"] = {
            scope: paired_comparison([bool(v["correct"]) for v in items],
                                     [bool(second[(v["source"], v["id"])]["correct"]) for v in items])
            for scope, items in scopes(verdicts[earlier]).items()}
    return out
