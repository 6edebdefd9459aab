"""Candidate sampling: per dialog a target type, the APIs it needs, and distractor APIs drawn
first from the same domain of the context tree, so the assistant has to choose."""

from __future__ import annotations

import random
from typing import Any

#: phases each dialog type goes through (the engine runs one phase for every dialog at a time)
SCRIPTS = {
    "single": ["user", "call", "tool", "answer"],
    "parallel": ["user", "call", "tool", "answer"],
    "dependent": ["user", "call", "tool", "call", "tool", "answer"],
    "non_tool": ["user", "reply"],
    "clarify": ["user", "ask", "user_reply", "call", "tool", "answer"],
}


def _domain(api: dict[str, Any]) -> str:
    return (api.get("domain") or "").split("/")[0]


def plan_dialogs(api_pool: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """``n_dialogs`` plans: ``{"id", "type", "targets": [api name, ...], "calls": n, "tools",
    "missing": param or None}``. Seeded: the same pool and params give the same plans."""
    if len(api_pool) < 2:
        raise ValueError(f"dialog generation needs at least 2 APIs in api_pool, got {len(api_pool)}")
    rng = random.Random(params["seed"])
    mix = {k: float(v) for k, v in params["type_mix"].items() if float(v) > 0}
    unknown = set(mix) - set(SCRIPTS)
    if unknown:
        raise ValueError(f"unknown dialog types in type_mix: {sorted(unknown)}; known: {sorted(SCRIPTS)}")
    by_domain: dict[str, list[dict]] = {}
    for api in api_pool:
        by_domain.setdefault(_domain(api), []).append(api)
    with_required = [a for a in api_pool if a["parameters"].get("required")]
    plans = []
    for i in range(params["n_dialogs"]):
        kind = rng.choices(list(mix), weights=list(mix.values()))[0]
        if kind == "clarify" and not with_required:
            kind = "single"
        first = rng.choice(with_required if kind == "clarify" else api_pool)
        targets = [first]
        if kind == "dependent" or (kind == "parallel" and rng.random() < 0.5):
            same = [a for a in by_domain[_domain(first)] if a["name"] != first["name"]]
            targets.append(rng.choice(same or [a for a in api_pool if a["name"] != first["name"]]))
        if kind == "non_tool":
            targets = []
        shown = targets or [first]  # a non-tool dialog still sees tools: none of them fits
        chosen = {a["name"] for a in shown}
        nearby = [a for a in by_domain[_domain(first)] if a["name"] not in chosen]
        rng.shuffle(nearby)
        others = [a for a in api_pool if a["name"] not in chosen and a not in nearby]
        distractors = (nearby + rng.sample(others, min(len(others), params["distractors"])))[: params["distractors"]]
        tools = shown + distractors
        rng.shuffle(tools)
        plans.append({
            "id": f"dlg-{params['seed']}-{i:05d}", "type": kind, "targets": [a["name"] for a in targets],
            "calls": 2 if kind == "parallel" else 1, "tools": tools,
            "missing": rng.choice(first["parameters"]["required"]) if kind == "clarify" else None,
        })
    return plans
