"""BFCL-style aggregates, the side-by-side report (Markdown + HTML), the plot and one MLflow run
per evaluated policy.

Aggregates follow BFCL's grouping over the categories that were run: *non-live* is the unweighted
mean of simple, multiple, parallel and parallel_multiple, where *simple* is itself the unweighted
mean of simple_python, simple_java and simple_javascript (bfcl-eval's ``generate_leaderboard_csv``;
there a category not run counts as 0, here it is left out); *live* the accuracy over all live
AST items (live_simple, live_multiple, live_parallel, live_parallel_multiple; weighted by count,
as BFCL's live summary is); *relevance* is live_relevance; *irrelevance* the mean of irrelevance and
live_irrelevance; *multi_turn* the unweighted mean of the multi-turn categories run; *overall*
the unweighted mean of the groups present. BFCL's leaderboard overall weights its groups and also
counts the agentic categories, which are not run here (the report names every category not run):
compare the groups, not this overall, with published numbers. With ``sample_size`` set every figure is a
seeded subset and says so. ``format_sensitivity`` is BFCL's non-scoring category: in no group and
never in overall; when it was run, a table of its own gives its accuracy per prompt format and
their spread (max delta, standard deviation; points, as BFCL).

Every accuracy is shown with its count and Wilson 95 % interval (``k/n = acc % [lo–hi]``); each
group's BFCL figure with its items pooled; the paired comparisons (exact McNemar, see
:mod:`~toolace_kedro.pipelines.evaluation.comparison`) in a table of their own. The report names
the prompt the BFCL items were asked with.
"""

from __future__ import annotations

import html as html_lib
import json
import logging
from typing import Any

from toolace_kedro.datasets.bfcl_data import CATEGORIES, FORMAT_SENSITIVITY
from toolace_kedro.datasets.bfcl_multi_turn import MULTI_TURN_CATEGORIES
from toolace_kedro.toolcalls.bfcl_prompt import parse_prompt_format, prompt_constant

logger = logging.getLogger(__name__)

SIMPLE = ("simple_python", "simple_java", "simple_javascript")
NON_LIVE = ("multiple", "parallel", "parallel_multiple")  # beside the simple sub-group
LIVE = ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")
IRRELEVANCE = ("irrelevance", "live_irrelevance")
#: BFCL categories this project does not run: their data needs the internet (web_search) or an
#: external memory store (memory)
NOT_RUN = ("web_search", "memory")
#: BFCL's non-scoring categories: run when named (every AST item in 26 prompt formats), never in overall
NON_SCORING = (FORMAT_SENSITIVITY,)
SYNTHETIC_COLUMNS = ("exact_call_accuracy", "name_accuracy", "argument_f1", "no_call_accuracy", "action_accuracy")


def aggregate(bfcl: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """``non_live``, ``live``, ``relevance``, ``irrelevance``, ``multi_turn`` (unweighted mean of
    the multi-turn categories run, as BFCL), ``overall`` of the categories run."""
    def mean(values):
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    live_n = sum(bfcl[c]["n"] for c in LIVE if c in bfcl)
    groups = {
        "non_live": mean([mean(bfcl[c]["accuracy"] for c in SIMPLE if c in bfcl)]
                         + [bfcl[c]["accuracy"] for c in NON_LIVE if c in bfcl]),
        "live": sum(bfcl[c]["correct"] for c in LIVE if c in bfcl) / live_n if live_n else None,
        "relevance": bfcl["live_relevance"]["accuracy"] if "live_relevance" in bfcl else None,
        "irrelevance": mean(bfcl[c]["accuracy"] for c in IRRELEVANCE if c in bfcl),
        "multi_turn": mean(bfcl[c]["accuracy"] for c in MULTI_TURN_CATEGORIES if c in bfcl),
    }
    groups["overall"] = mean(groups.values())
    return groups


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _count(c: dict[str, Any] | None) -> str:
    """``k/n = acc % [lo–hi]`` (the Wilson 95 % interval)."""
    if not c or not c["n"]:
        return "–"
    return f"{c['correct']}/{c['n']} = {_pct(c['accuracy'])} % [{_pct(c['ci_low'])}–{_pct(c['ci_high'])}]"


def _group_cell(mean: float | None, pooled: dict[str, Any] | None) -> str:
    if mean is None or not pooled:
        return "–"
    return f"{_pct(mean)} % · {pooled['correct']}/{pooled['n']} [{_pct(pooled['ci_low'])}–{_pct(pooled['ci_high'])}]"


_SCOPES = {"bfcl_ast": "BFCL AST items (pooled)", "bfcl_relevance": "BFCL relevance-type items (pooled)",
           "bfcl_multi_turn": "BFCL multi-turn entries (pooled)",
           "synthetic_exact_call": "synthetic call dialogs (exact call)",
           "synthetic_no_call": "synthetic text dialogs (no call)"}


def not_run(categories: list[str]) -> list[str]:
    """BFCL's categories (single-turn, multi-turn, those never run here and the non-scoring one)
    missing from ``categories``."""
    return [c for c in CATEGORIES + MULTI_TURN_CATEGORIES + NOT_RUN + NON_SCORING if c not in categories]


def format_label(prompt_format: str) -> str:
    """A short name for a BFCL prompt format: ``json +tag, doc xml`` (``, markdown`` / ``,
    experimental`` when not the plaintext classic prompt)."""
    fmt = parse_prompt_format(prompt_format)
    label = f"{fmt['ret_fmt']}{' +tag' if fmt['tool_call_tag'] else ''}, doc {fmt['func_doc_fmt']}"
    return label + "".join(f", {v}" for v in (fmt["prompt_fmt"], fmt["style"]) if v not in ("plaintext", "classic"))


def _format_table(scores: dict[str, Any], models: list[str]) -> tuple[str, list[str], list[list[str]], str]:
    first = scores["models"][models[0]]["bfcl"][FORMAT_SENSITIVITY]
    cats = {m: scores["models"][m]["bfcl"].get(FORMAT_SENSITIVITY, {}) for m in models}
    rows = [[format_label(f), str(c["n"])] + [_count(cats[m].get("by_format", {}).get(f)) for m in models]
            for f, c in first["by_format"].items()]
    rows += [["all formats", str(first["n"])] + [_count(cats[m]) for m in models],
             ["max delta (points)", ""] + [str(cats[m].get("max_delta", "–")) for m in models],
             ["std (points)", ""] + [str(cats[m].get("std", "–")) for m in models]]
    note = ("Cells: correct/n = accuracy [Wilson 95 % interval] per prompt format (return format, +tag: calls "
            "inside <TOOLCALL>, doc: the function document's format). Max delta: highest minus lowest format "
            "accuracy; std: their sample standard deviation; in points, as BFCL reports them. BFCL's non-scoring "
            "category: in no group, not in overall.")
    return "BFCL format sensitivity", ["prompt format", "n", *models], rows, note


def _tables(scores: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]], str]]:
    """``(caption, header, rows, note)`` of every table of the report."""
    models = list(scores["models"])
    first = scores["models"][models[0]]
    categories = list(first["bfcl"])
    rows = [[c, str(first["bfcl"][c]["n"])] + [_count(scores["models"][m]["bfcl"][c]) for m in models]
            for c in categories]
    tables = [("BFCL accuracy per category", ["category", "n"] + models, rows,
               "Cells: correct/n = accuracy [Wilson 95 % interval].")]
    groups = [g for g in ("non_live", "live", "relevance", "irrelevance", "multi_turn", "overall")
              if first["aggregates"].get(g) is not None]
    tables.append(("BFCL groups", ["group", "n"] + models,
                   [[g, str(first.get("groups", {}).get(g, {}).get("n", ""))]
                    + [_group_cell(scores["models"][m]["aggregates"][g], scores["models"][m].get("groups", {}).get(g))
                       for m in models] for g in groups],
                   "Cells: BFCL's group figure over the categories run (see `pipelines/evaluation/report.py`) · "
                   "the group's items pooled, correct/n [Wilson 95 % interval]. Not run, so not in overall: "
                   + ", ".join(not_run(categories)) + "."
                   + (" Run but not in overall: format_sensitivity (BFCL's non-scoring category, table below)."
                      if FORMAT_SENSITIVITY in categories else "")))
    if FORMAT_SENSITIVITY in categories:
        tables.append(_format_table(scores, models))
    synthetic = {m: s["synthetic"] for m, s in scores["models"].items() if s.get("synthetic")}
    if synthetic:
        n = synthetic[models[0]]["overall"].get("dialogs", "") if models[0] in synthetic else ""

        def cell(m: str, key: str) -> str:
            if m not in synthetic:
                return "–"
            counted = synthetic[m].get("intervals", {}).get(key)
            return _count(counted) if counted else _pct(synthetic[m]["overall"].get(key))

        tables.append((f"Held-out synthetic test set ({n} dialogs), overall", ["metric"] + models,
                       [[k] + [cell(m, k) for m in models] for k in SYNTHETIC_COLUMNS],
                       "Percent; exact-call and no-call accuracy as correct/n = accuracy [Wilson 95 % interval]."))
    comparisons = scores.get("comparisons") or {}
    if comparisons:
        rows = []
        for pair, by_scope in comparisons.items():
            later, earlier = pair.split("_vs_")
            rows += [[f"{later} vs {earlier}", _SCOPES.get(scope, scope), str(c["n"]), str(c["first_correct"]),
                      str(c["second_correct"]), str(c["gained"]), str(c["lost"]), f"{c['p_value']:.3g}",
                      c["verdict"]] for scope, c in by_scope.items()]
        tables.append(("Paired comparisons (same items)",
                       ["comparison", "items", "n", "earlier ✓", "later ✓", "gained", "lost", "p", "verdict"], rows,
                       "gained: items only the later policy got right; lost: only the earlier one. p: two-sided "
                       "exact McNemar test on these discordant items; better/worse only at p < 0.05."))
    return tables


def _subset_label(scores: dict[str, Any]) -> str:
    if not scores["subset"]:
        return "all items of each category"
    sample = scores.get("bfcl_sample") or {}
    sizes = sorted({s["items"] for s in sample.values()})
    if len(sizes) == 1:
        return f"seeded subset: {sizes[0]} items per category"
    if sizes:
        return "seeded subset: " + ", ".join(f"{c} {s['items']} of {s['available']}" for c, s in sample.items())
    return f"seeded subset: {scores['sample_size']} items per category"


def _multi_turn_note(multi: dict[str, Any]) -> str:
    steps = multi.get("max_steps")
    limit = f"{steps}" if steps is not None else f"{prompt_constant('MAXIMUM_STEP_LIMIT')} (BFCL's limit)"
    note = (f"BFCL multi-turn: each step answered in at most {multi['max_tokens']} tokens; an entry is force-quit "
            f"after more than {limit} executed steps in one turn")
    if multi.get("early_stop"):
        note += ("; a step's answer ends once it can no longer become calls (`multi_turn.early_stop`): its outcome "
                 "is the same, but later turns see the cut text, so these rows are not BFCL's figures exactly")
    return note + "."


def render_report(scores: dict[str, Any]) -> tuple[str, str]:
    """The same tables as Markdown and as a small standalone HTML page."""
    title = f"Evaluation: {' vs '.join(scores['models'])} ({_subset_label(scores)})"
    md = [f"# {title}", ""]
    page = [f"<html><head><meta charset='utf-8'><title>{html_lib.escape(title)}</title>",
            "<style>table{border-collapse:collapse;margin-bottom:0.5em}td,th{border:1px solid #bbb;"
            "padding:3px 8px;text-align:right}td:first-child{text-align:left}p.note{color:#555;margin-top:0}"
            "</style></head><body>", f"<h1>{html_lib.escape(title)}</h1>"]
    notes = []
    prompt = (scores.get("prompt") or {}).get("description")
    if prompt:
        notes.append(f"BFCL prompt: {prompt}. Synthetic items: the sft training format.")
    multi = scores.get("multi_turn")
    if multi:
        notes.append(_multi_turn_note(multi))
    skipped = {name: b["skipped"] for name, b in scores.get("skipped_input", {}).items() if b["skipped"]}
    if skipped:
        notes.append("Input records skipped, not scored (file and line in `evaluation_scores.skipped_input`): "
                     + ", ".join(f"{name}: {n}" for name, n in skipped.items()) + ".")
    for note in notes:
        md += [note, ""]
        page.append(f"<p>{html_lib.escape(note)}</p>")
    for caption, header, rows, note in _tables(scores):
        md += [f"## {caption}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        md += ["| " + " | ".join(r) + " |" for r in rows] + ["", note, ""]
        page.append(f"<h2>{html_lib.escape(caption)}</h2><table><tr>"
                    + "".join(f"<th>{html_lib.escape(h)}</th>" for h in header) + "</tr>")
        page += ["<tr>" + "".join(f"<td>{html_lib.escape(c)}</td>" for c in r) + "</tr>" for r in rows]
        page.append(f"</table><p class='note'>{html_lib.escape(note)}</p>")
    page.append("</body></html>")
    return "\n".join(md), "\n".join(page) + "\n"


def plots(scores: dict[str, Any]):
    """Grouped bars: accuracy per BFCL category, one bar per policy, with its Wilson interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(scores["models"])
    categories = list(scores["models"][models[0]]["bfcl"])
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(categories) + 2), 4))
    for k, model in enumerate(models):
        cats = [scores["models"][model]["bfcl"][c] for c in categories]
        values = [100 * c["accuracy"] for c in cats]
        errors = [[max(0.0, 100 * (c["accuracy"] - c.get("ci_low", c["accuracy"]))) for c in cats],
                  [max(0.0, 100 * (c.get("ci_high", c["accuracy"]) - c["accuracy"])) for c in cats]]
        ax.bar([i + k * width for i in range(len(categories))], values, width, label=model, yerr=errors, capsize=2)
    ax.set_xticks([i + width * (len(models) - 1) / 2 for i in range(len(categories))])
    ax.set_xticklabels(categories, rotation=35, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("BFCL per category, Wilson 95 % intervals" + (" (seeded subset)" if scores["subset"] else ""))
    ax.legend()
    fig.tight_layout()
    return fig


def log_model_runs(scores: dict[str, Any]) -> None:
    """One nested MLflow run per evaluated policy (``eval-<name>``, tag ``stage``), so the MLflow
    UI compares them; skipped when no run is active (tests, plain SequentialRunner use)."""
    import mlflow

    if mlflow.active_run() is None:
        logger.info("no active MLflow run: per-model evaluation runs not logged")
        return
    for name, model_scores in scores["models"].items():
        with mlflow.start_run(run_name=f"eval-{name}", nested=True,
                              tags={"stage": name, "evaluation.subset": str(scores["subset"])}):
            metrics = {f"bfcl.{k}": v for k, v in model_scores["aggregates"].items() if v is not None}
            for c, s in model_scores["bfcl"].items():
                metrics |= {f"bfcl.{c}": s["accuracy"], f"bfcl.{c}.n": s["n"]}
                metrics |= {f"bfcl.{c}.{k}": s[k] for k in ("ci_low", "ci_high", "max_delta", "std") if k in s}
            overall = (model_scores["synthetic"] or {}).get("overall", {})
            metrics |= {f"synthetic.{k}": v for k, v in overall.items() if isinstance(v, (int, float))}
            mlflow.log_metrics(metrics)


def prediction_table(scores: dict[str, Any], **predictions: list[dict]) -> list[dict[str, Any]]:
    """One row per item and evaluated policy: ``id``, ``source``, ``category``, ``policy``, the raw
    ``output``, BFCL's or the synthetic check's ``correct`` and its ``reason`` (``None`` when
    correct), in the order of ``scores["models"]`` and of each policy's verdicts; ``predictions``
    are ``predictions_<policy>=...`` as the evaluate node takes them."""
    rows = []
    for policy, model_scores in scores["models"].items():
        outputs = {(p["source"], p["id"]): p["output"] for p in predictions.get(f"predictions_{policy}") or []}
        for verdict in model_scores["verdicts"]:
            rows.append({"id": verdict["id"], "source": verdict["source"], "category": verdict["category"],
                         "policy": policy, "output": _text(outputs.get((verdict["source"], verdict["id"]))),
                         "correct": bool(verdict["correct"]), "reason": verdict.get("reason")})
    return rows


def _text(output: Any) -> str | None:
    """A prediction's output as text: a multi-turn trajectory (per turn, each step's text) as JSON."""
    return output if output is None or isinstance(output, str) else json.dumps(output, ensure_ascii=False)
