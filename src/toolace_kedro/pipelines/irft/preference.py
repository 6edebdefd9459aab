"""Preference pairs from the search trees (iTool).

**Step-level pairs**: at every node with at least two children the child of highest value ``Q``
(mean backed-up reward) is *chosen* and the one of lowest value *rejected*; both continue the same
answer prefix. The texts are the continuations after that prefix: the child's step followed by
the rest of its best (chosen) or worst (rejected) rollout, so each side is a whole answer. A
rollout cut by the token budget was rewarded as the answer it is, so its text followed by the
end-of-turn token the trainer appends is exactly what was scored (finished rollouts win ties). A pair is kept when
``chosen value - rejected value >= min_value_gap`` (0.1), their word overlap is at most
``max_word_overlap`` (0.95) and ``chosen value >= min_chosen_value`` (−0.3).

**Whole-answer pair**: the ground-truth answer (chosen, valued by the same reward) against the
policy's worst answer of the search (rejected), from the empty prefix — so every mined
sample the policy gets wrong yields signal even when its tree has no useful branching. The same
filters apply.

**Policy-answer pair** (failure mining): the ground truth against the policy's own wrong greedy
answer -- the exact mistake it makes (a wrong name, a number as a string, an invented argument, a
call on a request no tool serves, a decline where a call was due) -- valued by the same reward.

**Decision pair** (``decision_pairs``): the ground truth against the other decision under the same
tools -- the call of a training sample with this tool list where a text answer is due, a decline
of one where a call is due (``target.contrast``, attached by mining). With balanced mining the
round gets about as many "call rather than decline" as "decline rather than call" pairs: the
decision signal is balanced (it does not stop a high learning rate from swinging the policy to
one side; see docs/irft.md).

Word overlap is the multiset Jaccard index of the lowercased words: shared words (with
multiplicity) over all words; identical wordings score 1.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from toolace_kedro.pipelines.irft.config import PairParams

__all__ = ["answer_pair", "decision_pair", "pair_filter", "policy_answer_pair", "step_pairs", "word_overlap"]

_WORDS = re.compile(r"\w+")
Pairs = PairParams | Mapping[str, Any]  # the filters: the typed ``pairs`` block or a dict of it


def word_overlap(a: str, b: str) -> float:
    """Multiset Jaccard index of the words of ``a`` and ``b`` (1 when both are empty)."""
    wa, wb = Counter(_WORDS.findall(a.lower())), Counter(_WORDS.findall(b.lower()))
    union = sum((wa | wb).values())
    return sum((wa & wb).values()) / union if union else 1.0


def pair_filter(chosen_value: float, rejected_value: float, overlap: float, params: Pairs) -> str | None:
    """The reason a pair is dropped, or None when it is kept."""
    cfg = PairParams.of(params)
    if chosen_value - rejected_value < cfg.min_value_gap:
        return "value_gap"
    if overlap > cfg.max_word_overlap:
        return "word_overlap"
    if chosen_value < cfg.min_chosen_value:
        return "chosen_value"
    return None


def _completion(tree: dict[str, Any], rollout_ids: list[int], prefix: str, best: bool) -> str | None:
    """The continuation after ``prefix`` of the best (or worst) rollout among ``rollout_ids``
    (ties: a finished one first); None when its text does not extend the prefix."""
    rollouts = [tree["rollouts"][i] for i in rollout_ids]
    if not rollouts:
        return None
    sign = 1 if best else -1
    pick = max(rollouts, key=lambda r: (sign * r["reward"], r["finished"]))
    if not pick["answer"].startswith(prefix):
        return None
    return pick["answer"][len(prefix):]


def _record(tree: dict[str, Any], kind: str, node: int | None, depth: int, prefix: str, chosen: str, rejected: str,
            chosen_value: float, rejected_value: float, overlap: float, **extra: Any) -> dict[str, Any]:
    target = tree["target"]
    return {"id": f"{tree['id']}:{kind}:{node if node is not None else 'answer'}", "sample_id": tree["id"],
            "kind": kind, "sample_kind": target["kind"], "prompt": target["context"], "prefix": prefix,
            "chosen": chosen, "rejected": rejected, "chosen_value": round(chosen_value, 4),
            "rejected_value": round(rejected_value, 4), "value_gap": round(chosen_value - rejected_value, 4),
            "word_overlap": round(overlap, 4), "depth": depth, **extra}


def step_pairs(tree: dict[str, Any], params: Pairs) -> tuple[list[dict[str, Any]], Counter]:
    """Step-level pairs of one search tree (a ``StepSearch.to_record()``) and the drop counts."""
    params = PairParams.of(params)
    pairs, dropped = [], Counter()
    nodes = tree["nodes"]
    for node in nodes:
        if len(node["children"]) < 2:
            continue
        children = [nodes[c] for c in node["children"]]
        best = max(children, key=lambda c: c["value"])
        worst = min(children, key=lambda c: c["value"])
        chosen = _completion(tree, best["rollouts"], node["prefix"], best=True)
        rejected = _completion(tree, worst["rollouts"], node["prefix"], best=False)
        if chosen is None or rejected is None:
            dropped["prefix_mismatch"] += 1
            continue
        overlap = word_overlap(chosen, rejected)
        reason = pair_filter(best["value"], worst["value"], overlap, params)
        if reason:
            dropped[reason] += 1
            continue
        pairs.append(_record(tree, "step", node["id"], node["depth"], node["prefix"], chosen, rejected,
                             best["value"], worst["value"], overlap, chosen_step=best["step"],
                             rejected_step=worst["step"]))
    return pairs, dropped


def answer_pair(tree: dict[str, Any], params: Pairs) -> tuple[dict[str, Any] | None, str | None]:
    """The whole-answer pair (ground truth vs the policy's worst completed answer), or the reason
    there is none."""
    if not tree["rollouts"]:
        return None, "no_rollouts"
    worst = min(tree["rollouts"], key=lambda r: (r["reward"], not r["finished"]))
    truth, truth_value = tree["target"]["answer"], tree["truth_reward"]
    overlap = word_overlap(truth, worst["answer"])
    reason = pair_filter(truth_value, worst["reward"], overlap, params)
    if reason:
        return None, reason
    return _record(tree, "answer", None, 0, "", truth, worst["answer"], truth_value, worst["reward"], overlap), None


def _truth_against(tree: dict[str, Any], answer: str, kind: str, params: Pairs, reward: Any, **extra: Any
                   ) -> tuple[dict[str, Any] | None, str | None]:
    """The ground truth (chosen) against ``answer`` (rejected, valued by ``reward``) from the empty
    prefix, or the filter's reason to drop it."""
    truth, truth_value = tree["target"]["answer"], tree["truth_reward"]
    value = float(reward(answer))
    overlap = word_overlap(truth, answer)
    reason = pair_filter(truth_value, value, overlap, params)
    if reason:
        return None, reason
    return _record(tree, kind, None, 0, "", truth, answer, truth_value, value, overlap, **extra), None


def policy_answer_pair(tree: dict[str, Any], params: Pairs, reward: Any
                       ) -> tuple[dict[str, Any] | None, str | None]:
    """The ground truth against the policy's own wrong greedy answer (``target.policy_answer``,
    valued by ``reward``), or the reason there is none."""
    answer = tree["target"].get("policy_answer")
    if answer is None:
        return None, "no_policy_answer"
    return _truth_against(tree, answer, "policy", params, reward, failure=tree["target"].get("failure"))


def decision_pair(tree: dict[str, Any], params: Pairs, reward: Any
                  ) -> tuple[dict[str, Any] | None, str | None]:
    """The ground truth against ``target.contrast`` (the other decision, valued by ``reward``), or
    the reason there is none; none where the policy's own answer already took the wrong decision
    (its policy pair opposes the two)."""
    target = tree["target"]
    contrast = target.get("contrast")
    if contrast is None:
        return None, "no_contrast"
    if target.get("failure") in ("declined", "called_on_non_tool"):
        return None, "policy_pair_decides"
    return _truth_against(tree, contrast["answer"], "decision", params, reward, contrast_id=contrast["id"])
