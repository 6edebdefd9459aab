"""Self-consistency: an assistant action is sampled n times and kept only when enough samples
make the same decision -- same call names and arguments after normalisation (case, spacing and
punctuation of strings, ints vs floats)."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

_PUNCT = re.compile(r"[\s,./\-_*^'\"]+")


def normalise_value(value: Any) -> Any:
    if isinstance(value, str):
        return _PUNCT.sub("", value.lower())
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [normalise_value(v) for v in value]
    if isinstance(value, dict):
        return {k: normalise_value(v) for k, v in sorted(value.items())}
    return value


def decision_key(action: dict[str, Any]) -> str:
    """What must agree between samples: the calls (order-free), or the kind of text action."""
    if action.get("calls"):
        calls = sorted(json.dumps([c["name"], normalise_value(c.get("arguments", {}))], sort_keys=True)
                       for c in action["calls"])
        return "calls:" + "|".join(calls)
    return "text:" + ("ask" if "question" in action else "answer")


def vote(samples: list[dict[str, Any]], threshold: float) -> tuple[dict[str, Any] | None, float]:
    """The first sample of the majority decision and its share; ``None`` below ``threshold``."""
    if not samples:
        return None, 0.0
    counts = Counter(decision_key(s) for s in samples)
    key, n = counts.most_common(1)[0]
    share = n / len(samples)
    if share < threshold:
        return None, share
    return next(s for s in samples if decision_key(s) == key), share


def _carries(call: dict[str, Any], values: dict[str, Any]) -> bool:
    arguments = call.get("arguments") or {}
    return all(name in arguments and normalise_value(arguments[name]) == normalise_value(value)
               for name, value in values.items())


def plan_agreement(plan: dict[str, Any], values: dict[str, Any] | None, calls: list[dict[str, Any]],
                   calls_done: int) -> bool:
    """Whether the calls of a call action carry the values the user stated (the plan's, compared
    as self-consistency compares arguments: strings without case and punctuation, ints as
    floats, but never a number against a string). The first call action of a dialog must carry
    them; a clarify dialog's call also the value the user gave when asked (a follow-up's, the
    value taken from the dialog: its ``missing_value``); a dependent dialog's second call (fed by
    the first one's result) and dialogs without planned values pass."""
    given = plan.get("missing") and plan.get("missing_value") is not None
    if (not values and not given) or calls_done > 0 or not plan.get("targets"):
        return True
    if plan["type"] == "parallel":
        first, second = values.get("first") or {}, values.get("second") or {}
        if len(calls) != 2:
            return False
        return any(_carries(a, first) and _carries(b, second) for a, b in (calls, calls[::-1]))
    wanted = dict(values or {})
    if given:
        wanted[plan["missing"]] = plan["missing_value"]
    target = plan["targets"][0]
    return any(c["name"] == target and _carries(c, wanted) for c in calls)
