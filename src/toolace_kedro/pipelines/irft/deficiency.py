"""iTool's deficiency mining: the training samples the current policy finds hardest.

The policy's perplexity is computed on every training sample (teacher-forced, batched:
``models.scoring.assistant_nll``) and the samples are split into those whose answer calls tools
and those that answer in text; the top ``ratio`` (iTool: 30 %) of each group by perplexity is kept.

The answer scored is the one the step-level search then works on: the **first assistant turn**
of the dialog given its context (system prompt with the tools, the turns before it). Scoring just
that turn makes the mined set and the searched answers the same thing; later turns of multi-turn
dialogs (summaries of tool results) are not searched.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from toolace_kedro.toolcalls import training_messages

__all__ = ["GROUPS", "search_target", "select_deficient"]

logger = logging.getLogger(__name__)

GROUPS = ("tool_call", "non_tool")


def search_target(sample: dict[str, Any]) -> dict[str, Any] | None:
    """The first assistant answer of a canonical sample as a search target: ``id``, ``kind``
    (``tool_call``/``non_tool``), ``context`` (chat messages before it, in the training format),
    ``answer`` (its text as trained: calls as ``[f(a=1)]``) and ``calls`` (the true calls, or
    None). None when the sample has no assistant turn."""
    if not isinstance(sample, dict) or not isinstance(sample.get("messages"), list):
        raise ValueError(f"sample {sample.get('id') if isinstance(sample, dict) else sample!r}: "
                         "not a canonical dialog (no 'messages' list)")
    messages = training_messages(sample)  # [system] + one message per canonical message
    for i, msg in enumerate(sample["messages"]):
        if msg.get("role") == "assistant":
            calls = msg.get("tool_calls") or None
            return {"id": str(sample.get("id", "")), "kind": "tool_call" if calls else "non_tool",
                    "context": messages[: i + 1], "answer": messages[i + 1]["content"], "calls": calls}
    return None


def _quotas(sizes: dict[str, int], limit: int) -> dict[str, int]:
    """Split ``limit`` over the groups in proportion to their sizes (largest remainders), at
    least one for each non-empty group while the limit allows."""
    total = sum(sizes.values())
    if not total:
        return dict(sizes)
    shares = {g: limit * n / total for g, n in sizes.items()}
    quotas = {g: min(sizes[g], int(shares[g])) for g in sizes}
    for g in sorted(sizes, key=lambda g: (quotas[g] > 0, -(shares[g] - int(shares[g])))):
        if sum(quotas.values()) >= limit:
            break
        if quotas[g] < sizes[g]:
            quotas[g] += 1
    return quotas


def select_deficient(samples: list[dict[str, Any]], score: Callable[[list[list[dict]]], list[float]],
                     ratio: float, max_samples: int | None = None) -> tuple[list[dict], dict[str, Any]]:
    """Score every sample's target answer with ``score`` (conversations → mean token NLL) and keep
    the top ``ratio`` of each group by perplexity (at least one per non-empty group); with
    ``max_samples`` at most that many, split over the groups in proportion to their sizes.
    Returns the mined targets (with ``nll`` and ``perplexity``) and a report."""
    if not 0 < ratio <= 1:
        raise ValueError(f"irft.mining.ratio must be in (0, 1], got {ratio}")
    targets, skipped = [], {"no_assistant_turn": 0, "empty_answer": 0}
    for sample in samples:
        target = search_target(sample)
        if target is None:
            skipped["no_assistant_turn"] += 1
        elif not target["answer"].strip():
            skipped["empty_answer"] += 1
        else:
            targets.append(target)
    conversations = [t["context"] + [{"role": "assistant", "content": t["answer"]}] for t in targets]
    scores = score(conversations) if conversations else []
    for target, nll in zip(targets, scores):
        target["nll"] = round(float(nll), 5)
        target["perplexity"] = round(math.exp(min(float(nll), 50.0)), 4) if math.isfinite(nll) else float("nan")
    scored = [t for t in targets if math.isfinite(t["nll"])]
    total = len(scored)
    mined: list[dict] = []
    report: dict[str, Any] = {"samples": len(samples), "scored": total, "skipped": skipped, "ratio": ratio, "groups": {}}
    sizes = {g: sum(t["kind"] == g for t in scored) for g in GROUPS}
    quotas = _quotas(sizes, max_samples) if max_samples is not None else sizes
    for group in GROUPS:
        members = sorted((t for t in scored if t["kind"] == group), key=lambda t: t["nll"], reverse=True)
        chosen = members[: min(math.ceil(ratio * len(members)), quotas[group])]
        mined.extend(chosen)
        report["groups"][group] = {
            "samples": len(members), "mined": len(chosen),
            "perplexity_threshold": chosen[-1]["perplexity"] if chosen else None,
            "mean_perplexity_mined": round(sum(t["perplexity"] for t in chosen) / len(chosen), 4) if chosen else None,
            "mean_perplexity_all": round(sum(t["perplexity"] for t in members) / len(members), 4) if members else None,
        }
        logger.info("deficiency mining: %s: kept %d of %d (perplexity >= %s)", group, len(chosen), len(members),
                    report["groups"][group]["perplexity_threshold"])
    report["mined"] = len(mined)
    return mined, report
