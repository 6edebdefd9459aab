"""iTool's deficiency mining: the training samples the current policy finds hardest -- by
perplexity (iTool), or by the policy's own wrong answers (``strategy: failures``).

The policy's perplexity is computed on every training sample (teacher-forced, batched:
``models.scoring.assistant_nll``) and the samples are split into those whose answer calls tools
and those that answer in text; the top ``ratio`` (iTool: 30 %) of each group by perplexity is kept.

The answer scored is the one the step-level search then works on, given its context (system
prompt with the tools, the turns before it): scoring just that turn makes the mined set and the
searched answers the same thing. With ``turns: first`` it is the dialog's **first assistant
turn**; with ``turns: requests`` every assistant turn that answers a user turn -- the opening
request, a clarification, each follow-up of a multi-turn dialog -- is scored with the dialog up
to it, and the dialog's hardest one (highest NLL) is its target. Either way a dialog gives one
target, so the counts, ratios and caps keep meaning dialogs; a dialog of one request gets the
same target both ways. Summaries of tool results and a dependent dialog's second call (turns
after a tool turn) are not searched.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from toolace_kedro.toolcalls import ToolCallParseError, parse_calls, training_messages

__all__ = ["FAILURE_KINDS", "GROUPS", "TURNS", "answer_verdict", "attach_contrasts", "request_targets",
           "search_target", "select_deficient", "select_failures"]

logger = logging.getLogger(__name__)

GROUPS = ("tool_call", "non_tool")
#: which assistant turns of a dialog mining may pick (see the module doc)
TURNS = ("first", "requests")


def _targets(sample: dict[str, Any], pick: Callable[[int, dict[str, Any]], bool]) -> list[dict[str, Any]]:
    if not isinstance(sample, dict) or not isinstance(sample.get("messages"), list):
        raise ValueError(f"sample {sample.get('id') if isinstance(sample, dict) else sample!r}: "
                         "not a canonical dialog (no 'messages' list)")
    messages = training_messages(sample)  # [system] + one message per canonical message
    out = []
    for i, msg in enumerate(sample["messages"]):
        if msg.get("role") == "assistant" and pick(i, msg):
            calls = msg.get("tool_calls") or None
            out.append({"id": str(sample.get("id", "")), "kind": "tool_call" if calls else "non_tool", "turn": i,
                        "context": messages[: i + 1], "answer": messages[i + 1]["content"], "calls": calls})
    return out


def search_target(sample: dict[str, Any], turn: int | None = None) -> dict[str, Any] | None:
    """The first assistant answer of a canonical sample (or the one at message index ``turn``) as a
    search target: ``id``, ``kind`` (``tool_call``/``non_tool``), ``turn`` (its message index),
    ``context`` (chat messages before it, in the training format), ``answer`` (its text as trained:
    calls as ``[f(a=1)]``) and ``calls`` (the true calls, or None). None when there is no such turn."""
    found = _targets(sample, lambda i, _: turn is None or i == turn)
    return found[0] if found else None


def request_targets(sample: dict[str, Any]) -> list[dict[str, Any]]:
    """The search targets of every assistant turn that answers a user turn (the opening request, a
    clarification, each follow-up), each with the dialog up to it; the first assistant turn when
    none does."""
    users = {i + 1 for i, m in enumerate(sample.get("messages") or []) if isinstance(m, dict) and m.get("role") == "user"}
    return _targets(sample, lambda i, _: i in users) or [t for t in [search_target(sample)] if t]


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


def _hardest(options: list[dict[str, Any]]) -> dict[str, Any]:
    """The option of highest NLL (NaN scores last; the earliest turn on ties)."""
    return max(options, key=lambda t: (math.isfinite(t["nll"]), t["nll"] if math.isfinite(t["nll"]) else 0.0,
                                       -t["turn"]))


def select_deficient(samples: list[dict[str, Any]], score: Callable[[list[list[dict]]], list[float]],
                     ratio: float, max_samples: int | None = None, turns: str = "first"
                     ) -> tuple[list[dict], dict[str, Any]]:
    """Score every sample's target answer with ``score`` (conversations → mean token NLL) and keep
    the top ``ratio`` of each group by perplexity (at least one per non-empty group); with
    ``max_samples`` at most that many, split over the groups in proportion to their sizes. With
    ``turns: requests`` every request turn of a dialog is scored and its hardest is its target.
    Returns the mined targets (with ``nll`` and ``perplexity``) and a report."""
    if not 0 < ratio <= 1:
        raise ValueError(f"irft.mining.ratio must be in (0, 1], got {ratio}")
    if turns not in TURNS:
        raise ValueError(f"irft.mining.turns must be one of {TURNS}, got {turns!r}")
    options, skipped = [], {"no_assistant_turn": 0, "empty_answer": 0}
    for sample in samples:
        found = request_targets(sample) if turns == "requests" else [t for t in [search_target(sample)] if t]
        if not found:
            skipped["no_assistant_turn"] += 1
        elif not any(t["answer"].strip() for t in found):
            skipped["empty_answer"] += 1
        else:
            options.append([t for t in found if t["answer"].strip()])
    flat = [t for group in options for t in group]
    conversations = [t["context"] + [{"role": "assistant", "content": t["answer"]}] for t in flat]
    scores = score(conversations) if conversations else []
    for target, nll in zip(flat, scores):
        target["nll"] = round(float(nll), 5)
        target["perplexity"] = round(math.exp(min(float(nll), 50.0)), 4) if math.isfinite(nll) else float("nan")
    targets = [_hardest(group) for group in options]
    scored = [t for t in targets if math.isfinite(t["nll"])]
    total = len(scored)
    mined: list[dict] = []
    report: dict[str, Any] = {"samples": len(samples), "scored": total, "skipped": skipped, "ratio": ratio, "groups": {},
                              "turns": turns, "turns_scored": len(flat),
                              "later_turn_targets": sum(1 for t, g in zip(targets, options) if t is not g[0])}
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


#: what went wrong with a policy's answer, in the order they are checked
FAILURE_KINDS = ("called_on_non_tool", "declined", "unparseable", "wrong_function", "wrong_arguments",
                 "wrong_values")


def answer_verdict(target: dict[str, Any], answer: str) -> tuple[bool, str | None]:
    """``(correct, failure kind)`` of ``answer`` for a search target: a call answer is correct when
    its calls equal the true ones (order-free, values compared as BFCL's checker does); a non-tool
    answer when it calls nothing. The kinds are :data:`FAILURE_KINDS`."""
    from toolace_kedro.pipelines.irft.reward import normalise_value

    try:
        predicted, parsed = parse_calls(answer), True
    except ToolCallParseError:
        predicted, parsed = [], False
    truth = target.get("calls") or []
    if not truth:
        return (False, "called_on_non_tool") if predicted else (True, None)
    if not predicted:
        return False, ("declined" if parsed or not answer.lstrip().startswith(("[", "{")) else "unparseable")
    key = lambda calls: sorted((c["name"], str(sorted(normalise_value(c.get("arguments") or {}).items())))  # noqa: E731
                               for c in calls)
    if sorted(c["name"] for c in truth) != sorted(c["name"] for c in predicted):
        return False, "wrong_function"
    names = lambda calls: sorted((c["name"], tuple(sorted(c.get("arguments") or {}))) for c in calls)  # noqa: E731
    if names(truth) != names(predicted):
        return False, "wrong_arguments"
    return (True, None) if key(truth) == key(predicted) else (False, "wrong_values")


def select_failures(candidates: list[dict[str, Any]], answers: list[str], max_samples: int | None = None,
                    balance: bool = False) -> tuple[list[dict], dict[str, Any]]:
    """The ``candidates`` (search targets) whose ``answers`` (the policy's greedy answers) are
    wrong, with ``policy_answer`` and ``failure``; at most ``max_samples``, split over the
    tool-call and non-tool groups in proportion to their failures (highest NLL first). With
    ``balance`` each group gets half of ``max_samples`` (all its candidates when null), and a group
    with fewer failures is filled with candidates it answered right (``retained``, no
    ``policy_answer``): a round mined only where the policy fails to call learns to call
    everywhere. The report holds every candidate's verdict, so the round's policy can be rechecked
    on the same items."""
    verdicts, failures, right = [], [], []
    for target, answer in zip(candidates, answers):
        ok, kind = answer_verdict(target, answer)
        verdicts.append({"id": target["id"], "kind": target["kind"], "turn": target.get("turn"), "correct": ok,
                         "failure": kind})
        if not ok:
            failures.append({**target, "policy_answer": answer, "failure": kind})
        else:
            right.append({**target, "retained": True})
    by_nll = lambda pool, group: sorted((t for t in pool if t["kind"] == group),  # noqa: E731
                                        key=lambda t: t.get("nll", 0.0), reverse=True)
    mined, retained = [], 0
    if balance:
        sizes = {g: sum(t["kind"] == g for t in candidates) for g in GROUPS}
        quotas, left = dict.fromkeys(GROUPS, 0), max_samples if max_samples is not None else len(candidates)
        while left and any(quotas[g] < sizes[g] for g in GROUPS):  # round robin: even, unless a group runs out
            for group in GROUPS:
                if left and quotas[group] < sizes[group]:
                    quotas[group] += 1
                    left -= 1
        for group in GROUPS:
            quota = quotas[group]
            chosen = by_nll(failures, group)[:quota]
            fill = by_nll(right, group)[: quota - len(chosen)]
            retained += len(fill)
            mined.extend(chosen + fill)
    else:
        sizes = {g: sum(t["kind"] == g for t in failures) for g in GROUPS}
        quotas = _quotas(sizes, max_samples) if max_samples is not None else sizes
        for group in GROUPS:
            mined.extend(by_nll(failures, group)[: quotas[group]])
    correct = sum(v["correct"] for v in verdicts)
    report = {"candidates": len(candidates), "correct": correct, "failures": len(failures), "mined": len(mined),
              "retained": retained,
              "failure_kinds": {k: sum(v["failure"] == k for v in verdicts) for k in FAILURE_KINDS},
              "by_group": {g: {"candidates": sum(v["kind"] == g for v in verdicts),
                               "correct": sum(v["correct"] for v in verdicts if v["kind"] == g)} for g in GROUPS},
              "verdicts": verdicts}
    logger.info("failure mining: %d of %d candidates answered wrong (%s); %d mined", len(failures), len(candidates),
                {k: n for k, n in report["failure_kinds"].items() if n}, len(mined))
    return mined, report


def _tool_names(sample: dict[str, Any]) -> frozenset[str]:
    return frozenset(str(t.get("name")) for t in sample.get("tools") or [] if isinstance(t, dict))


def attach_contrasts(mined: list[dict[str, Any]], samples: list[dict[str, Any]]) -> int:
    """Give each mined target a ``contrast``: the answer of the other decision -- for a tool-call
    target the text answer (decline) of a non-tool sample, for a non-tool target the call of a
    tool-call sample -- from the training sample closest in tools: the same tool names (irrelevance
    twins share their tool list), else, for a non-tool target, calls of tools it offers only, else
    for a tool-call target any shared tool, else any decline (a decline is the wrong decision
    whatever its words). A non-tool target with no call on its tools gets none. Deterministic
    (lowest id first). Returns how many targets got one."""
    by_id = {str(s.get("id", "")): s for s in samples}
    pool: dict[str, list[tuple[frozenset[str], dict[str, Any]]]] = {g: [] for g in GROUPS}
    for sample in samples:
        target = search_target(sample)
        if target is not None:
            pool[target["kind"]].append((_tool_names(sample), target))
    attached = 0
    for target in mined:
        source = by_id.get(target["id"])
        if source is None:
            continue
        names = _tool_names(source)
        other = [(n, t) for n, t in pool["non_tool" if target["kind"] == "tool_call" else "tool_call"]
                 if t["id"] != target["id"]]
        if target["kind"] == "tool_call":
            tiers = [[t for n, t in other if n == names], [t for n, t in other if n & names], [t for _, t in other]]
        else:
            tiers = [[t for n, t in other if n == names],
                     [t for _, t in other if {c.get("name") for c in t["calls"] or []} <= names]]
        found = next((tier for tier in tiers if tier), None)
        if found:
            pick = min(found, key=lambda t: t["id"])
            target["contrast"] = {"id": pick["id"], "answer": pick["answer"]}
            attached += 1
    return attached
