"""The comparison table of an ablation grid: one row per variant, from the outputs it wrote.

Each variant's figures come from the datasets its own ``kedro run`` saved (the run's save
version) and from the pinned input it read: ``verified_dialogs`` (count), ``sft_split_report``,
``sft_report`` (held-out assistant NLL before → after), ``sft_test`` (which held-out set), and
``evaluation_scores`` (BFCL groups and synthetic exact-call accuracy of the trained policy, and
of the base policy for the reference row). A variant that failed keeps its row with its error.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

__all__ = ["COLUMNS", "build_table", "error_line", "summarise_outputs", "held_out_set_id"]

BFCL_GROUPS = ("non_live", "live", "relevance", "irrelevance", "overall")

#: (key, header) of the Markdown table, in order
COLUMNS = (
    ("variant", "variant"), ("status", "status"), ("verified_dialogs", "verified dialogs"),
    ("train_dialogs", "training dialogs"), ("test_set", "held-out set"), ("nll", "held-out NLL before → after"),
    *((f"bfcl.{g}", f"BFCL {g.replace('_', '-')} %") for g in BFCL_GROUPS),
    ("synthetic.exact_call_accuracy", "synthetic exact-call %"), ("minutes", "min"),
)

_ERROR = re.compile(r"\b([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))(?::\s*(.*))?$")


def held_out_set_id(dialogs: list[dict[str, Any]]) -> str:
    """``<n> · <hash of the sorted ids>``: variants with the same id scored the same held-out set."""
    ids = sorted(str(d.get("id")) for d in dialogs)
    digest = hashlib.sha1("\n".join(ids).encode()).hexdigest()[:6]
    return f"{len(ids)} · {digest}"


def error_line(log_text: str, returncode: int | None = None) -> str:
    """The line that says why a run failed: the last ``SomeError: message`` of the log (rich's
    boxes stripped), else the last non-empty line, else the exit status."""
    lines = [line.strip(" │|╰╭─╯╮\t") for line in log_text.splitlines()]
    lines = [line for line in lines if line]
    for line in reversed(lines):
        match = _ERROR.search(line)
        if match and not line.startswith(("File ", "raise ", "Traceback")):
            return line[match.start():][:400]
    if lines:
        return lines[-1][:400]
    return f"exit status {returncode}" if returncode is not None else "failed"


def _policy_scores(scores: dict[str, Any], policy: str) -> dict[str, Any]:
    model = (scores.get("models") or {}).get(policy) or {}
    row = {f"bfcl.{g}": (model.get("aggregates") or {}).get(g) for g in BFCL_GROUPS}
    synthetic = (model.get("synthetic") or {}).get("overall") or {}
    row["synthetic.exact_call_accuracy"] = synthetic.get("exact_call_accuracy")
    row["synthetic.action_accuracy"] = synthetic.get("action_accuracy")
    return row


def summarise_outputs(outputs: dict[str, Any], policy: str = "sft") -> dict[str, Any]:
    """The row figures from a variant's loaded outputs (any of them may be missing)."""
    row: dict[str, Any] = {}
    if outputs.get("verified_dialogs") is not None:
        row["verified_dialogs"] = outputs["verified_dialogs"]
    split = outputs.get("sft_split_report") or {}
    sft = outputs.get("sft_report") or {}
    if sft or split:
        row["train_dialogs"] = sft.get("train_dialogs", split.get("train"))
        row["excluded_types"] = split.get("excluded_types") or {}
        row["curriculum"] = (sft.get("curriculum") or {}).get("enabled")
        row["nll_before"], row["nll_after"] = sft.get("test_nll_before"), sft.get("test_nll_after")
    if outputs.get("test_set"):
        row["test_set"] = outputs["test_set"]
    scores = outputs.get("evaluation_scores")
    if scores:
        row["policy"] = policy
        row.update(_policy_scores(scores, policy))
        row["sample_size"] = scores.get("sample_size")
        row["base"] = _policy_scores(scores, "base") if "base" in (scores.get("models") or {}) else None
    return row


def _cell(key: str, row: dict[str, Any]) -> str:
    if key == "nll":
        before, after = row.get("nll_before"), row.get("nll_after")
        return "–" if after is None else (f"{before:.3f} → {after:.3f}" if before is not None else f"{after:.3f}")
    if key == "minutes":
        return "–" if row.get("seconds") is None else f"{row['seconds'] / 60:.1f}"
    if key == "status" and row.get("status") != "ok":
        return f"**{row.get('status')}**"
    value = row.get(key)
    if value is None:
        return "–"
    if key.startswith(("bfcl.", "synthetic.")):
        return f"{100 * value:.1f}"
    return str(value)


def _markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def build_table(results: list[dict[str, Any]], grid: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """``(markdown, json)`` of the grid. ``results``: one dict per variant with ``variant``,
    ``description``, ``status`` (``ok``, ``failed``, ``not run``), ``error``, ``seconds``,
    ``save_version``, ``mlflow_run_id``, ``command``, ``load_versions`` and ``outputs`` (the
    loaded datasets, see :func:`summarise_outputs`). The base policy's row comes from the
    reference variant when it evaluated it, else from the first variant that did."""
    grid = dict(grid or {})
    policy = "irft" if grid.get("irft") else "sft"
    rows = []
    for result in results:
        row = {k: result.get(k) for k in ("variant", "description", "status", "error", "seconds", "save_version",
                                          "mlflow_run_id", "command", "load_versions", "log")}
        row.update(summarise_outputs(result.get("outputs") or {}, policy))
        rows.append(row)
    base_from = next((r for r in sorted(rows, key=lambda r: r["variant"] != grid.get("reference"))
                      if r.get("status") == "ok" and r.get("base")), None)
    header = [h for _, h in COLUMNS]
    lines = [f"# Ablations{' — grid ' + grid['grid'] if grid.get('grid') else ''}", ""]
    if grid:
        sample = grid.get("sample_size")
        lines += [f"Trained policy scored: **{policy}**. BFCL: "
                  + ("every item" if sample == "all" else f"{sample if sample is not None else 'the configured'} "
                     "items per category (seeded subset)")
                  + f"; environment `{grid.get('env') or 'base'}`; total {grid.get('seconds', 0) / 60:.1f} min.", ""]
    lines += [_markdown_row(header), "|" + "---|" * len(header)]
    for row in rows:
        lines.append(_markdown_row([_cell(k, row) for k, _ in COLUMNS]))
    if base_from:
        base = {**base_from["base"], "variant": "base policy (no fine-tuning)", "status": "ok",
                "test_set": base_from.get("test_set")}
        lines.append(_markdown_row([_cell(k, base) if k not in ("verified_dialogs", "train_dialogs", "nll", "minutes")
                                    else "–" for k, _ in COLUMNS]))
    lines.append("")
    lines += [f"- **{r['variant']}**: {r.get('description') or ''}"
              + (f" — version `{r['save_version']}`" if r.get("save_version") else "")
              + (f", MLflow run `{r['mlflow_run_id']}`" if r.get("mlflow_run_id") else "")
              + (f" — error: `{r['error']}`" if r.get("status") != "ok" and r.get("error") else "")
              for r in rows]
    lines += ["", "Held-out set: the number of synthetic test dialogs and a hash of their ids; variants with the "
              "same value are scored on the same dialogs (the verification variants split their own data). "
              "Scores are the trained policy's; the base row is the untrained policy on the "
              + (f"{base_from['variant']} items." if base_from else "same items."), ""]
    table = {"grid": grid, "policy": policy, "rows": rows,
             "base": {**base_from["base"], "from_variant": base_from["variant"]} if base_from else None}
    return "\n".join(lines), table
