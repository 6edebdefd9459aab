"""BFCL-style aggregates, the side-by-side report (Markdown + HTML), the plot and one MLflow run
per evaluated policy.

Aggregates follow BFCL's grouping over the categories that were run: *non-live* is the unweighted
mean of simple_python, multiple, parallel and parallel_multiple; *live* the accuracy over all live
AST items (live_simple, live_multiple, live_parallel, live_parallel_multiple; weighted by count,
as BFCL's live summary is); *relevance* is live_relevance; *irrelevance* the mean of irrelevance and
live_irrelevance; *overall* the unweighted mean of the groups present. BFCL's leaderboard overall
also weights in multi-turn, agentic and other languages, which are not run here: compare the
groups, not this overall, with published numbers. With ``sample_size`` set every figure is a
seeded subset and says so.
"""

from __future__ import annotations

import html as html_lib
import logging
from typing import Any

logger = logging.getLogger(__name__)

NON_LIVE = ("simple_python", "multiple", "parallel", "parallel_multiple")
LIVE = ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")
IRRELEVANCE = ("irrelevance", "live_irrelevance")
SYNTHETIC_COLUMNS = ("exact_call_accuracy", "name_accuracy", "argument_f1", "no_call_accuracy", "action_accuracy")


def aggregate(bfcl: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """``non_live``, ``live``, ``relevance``, ``irrelevance``, ``overall`` of the categories run."""
    def mean(values):
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    live_n = sum(bfcl[c]["n"] for c in LIVE if c in bfcl)
    groups = {
        "non_live": mean(bfcl[c]["accuracy"] for c in NON_LIVE if c in bfcl),
        "live": sum(bfcl[c]["correct"] for c in LIVE if c in bfcl) / live_n if live_n else None,
        "relevance": bfcl["live_relevance"]["accuracy"] if "live_relevance" in bfcl else None,
        "irrelevance": mean(bfcl[c]["accuracy"] for c in IRRELEVANCE if c in bfcl),
    }
    groups["overall"] = mean(groups.values())
    return groups


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _tables(scores: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    models = list(scores["models"])
    first = scores["models"][models[0]]
    categories = list(first["bfcl"])
    rows = [[c, str(first["bfcl"][c]["n"])] + [_pct(scores["models"][m]["bfcl"][c]["accuracy"]) for m in models]
            for c in categories]
    groups = [[g, ""] + [_pct(scores["models"][m]["aggregates"][g]) for m in models]
              for g in ("non_live", "live", "relevance", "irrelevance", "overall")]
    tables = [("BFCL accuracy (%) per category", ["category", "n"] + models, rows),
              ("BFCL groups (%)", ["group", ""] + models, groups)]
    synthetic = {m: s["synthetic"] for m, s in scores["models"].items() if s.get("synthetic")}
    if synthetic:
        n = synthetic[models[0]]["overall"].get("dialogs", "") if models[0] in synthetic else ""
        tables.append((f"Held-out synthetic test set ({n} dialogs), overall (%)", ["metric", ""] + models,
                       [[k, ""] + [_pct(synthetic[m]["overall"].get(k)) if m in synthetic else "–" for m in models]
                        for k in SYNTHETIC_COLUMNS]))
    return tables


def render_report(scores: dict[str, Any]) -> tuple[str, str]:
    """The same tables as Markdown and as a small standalone HTML page."""
    label = (f"seeded subset: {scores['sample_size']} items per category" if scores["subset"]
             else "all items of each category")
    title = f"Evaluation: {' vs '.join(scores['models'])} ({label})"
    md = [f"# {title}", ""]
    page = [f"<html><head><meta charset='utf-8'><title>{html_lib.escape(title)}</title>",
            "<style>table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #bbb;"
            "padding:3px 8px;text-align:right}td:first-child{text-align:left}</style></head><body>",
            f"<h1>{html_lib.escape(title)}</h1>"]
    skipped = {name: b["skipped"] for name, b in scores.get("skipped_input", {}).items() if b["skipped"]}
    if skipped:
        note = ("Input records skipped, not scored (file and line in `evaluation_scores.skipped_input`): "
                + ", ".join(f"{name}: {n}" for name, n in skipped.items()) + ".")
        md += [note, ""]
        page.append(f"<p>{html_lib.escape(note)}</p>")
    for caption, header, rows in _tables(scores):
        md += [f"## {caption}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        md += ["| " + " | ".join(r) + " |" for r in rows] + [""]
        page.append(f"<h2>{html_lib.escape(caption)}</h2><table><tr>"
                    + "".join(f"<th>{html_lib.escape(h)}</th>" for h in header) + "</tr>")
        page += ["<tr>" + "".join(f"<td>{html_lib.escape(c)}</td>" for c in r) + "</tr>" for r in rows]
        page.append("</table>")
    md.append("Groups as in BFCL over the categories run (see `pipelines/evaluation/report.py`); BFCL's "
              "leaderboard overall also counts multi-turn and agentic categories, which are not run.")
    page.append("</body></html>")
    return "\n".join(md) + "\n", "\n".join(page) + "\n"


def plots(scores: dict[str, Any]):
    """Grouped bars: accuracy per BFCL category, one bar per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(scores["models"])
    categories = list(scores["models"][models[0]]["bfcl"])
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(categories) + 2), 4))
    for k, model in enumerate(models):
        values = [100 * scores["models"][model]["bfcl"][c]["accuracy"] for c in categories]
        ax.bar([i + k * width for i in range(len(categories))], values, width, label=model)
    ax.set_xticks([i + width * (len(models) - 1) / 2 for i in range(len(categories))])
    ax.set_xticklabels(categories, rotation=35, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("BFCL per category" + (f" (subset of {scores['sample_size']})" if scores["subset"] else ""))
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
            metrics |= {f"bfcl.{c}": s["accuracy"] for c, s in model_scores["bfcl"].items()}
            overall = (model_scores["synthetic"] or {}).get("overall", {})
            metrics |= {f"synthetic.{k}": v for k, v in overall.items() if isinstance(v, (int, float))}
            mlflow.log_metrics(metrics)
