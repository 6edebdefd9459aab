"""Candidate sampling: per dialog a target type, the APIs it needs, and distractor APIs drawn
first from the same domain of the context tree, so the assistant has to choose.

With ``value_source: sampler`` the plan also fixes the argument values the user will state,
drawn by the schema-aware sampler (``toolcalls.values``): realistic, typed by each parameter's
JSON type and inside its enum, bounds, pattern and format. The LLM still writes the request
around them, the calls and the answers; the engine then checks that the calls carry them.

A ``non_tool`` dialog is ToolACE's non-tool data: with probability ``non_tool.unrelated_request``
its request is one for an API from another domain (its *topic*, with planned values), and the
tools shown are from other domains than the topic's, so the request reads like a tool request
that none of the shown functions can serve (BFCL's irrelevance items are of this kind);
otherwise it is a question or small talk the tools cannot help with.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from toolace_kedro.pipelines.dialog_generation.config import DialogGenerationParams

#: phases each dialog type goes through (the engine runs one phase for every dialog at a time)
SCRIPTS = {
    "single": ["user", "call", "tool", "answer"],
    "parallel": ["user", "call", "tool", "answer"],
    "dependent": ["user", "call", "tool", "call", "tool", "answer"],
    "non_tool": ["user", "reply"],
    "clarify": ["user", "ask", "user_reply", "call", "tool", "answer"],
}

#: JSON types a request can state verbatim (booleans are left to the assistant)
STATED_TYPES = ("string", "integer", "number")


def _domain(api: dict[str, Any]) -> str:
    return (api.get("domain") or "").split("/")[0]


def _draw_count(rng: random.Random, spec: int | dict[Any, float]) -> int:
    """A count from an int (always that) or a ``{count: weight}`` mapping."""
    if isinstance(spec, dict):
        counts = [int(k) for k in spec]
        return rng.choices(counts, weights=[float(v) for v in spec.values()])[0]
    return int(spec)


def _stateable(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "array":
        return isinstance(schema.get("items"), dict) and schema["items"].get("type") in STATED_TYPES
    return kind in STATED_TYPES


def planned_parameters(api: dict[str, Any], rng: random.Random, leave_out: str | None = None,
                       optional_share: float = 0.0, max_values: int = 4) -> list[str]:
    """The parameters whose values the user states: the required ones a request can state
    (strings, numbers, arrays of them), each optional one of those with ``optional_share``
    probability; with neither, the first two stateable ones. ``leave_out`` (a clarify dialog's
    missing parameter) is never among them."""
    params = api["parameters"]
    props = params.get("properties", {})
    required = set(params.get("required", []))
    stateable = [n for n, p in props.items() if n != leave_out and _stateable(p)]
    names = [n for n in stateable if n in required]
    names += [n for n in stateable if n not in required and rng.random() < optional_share]
    if not names and not required:
        names = stateable[:2]
    return names[:max_values]


def sample_values(api: dict[str, Any], names: list[str], rng: random.Random) -> dict[str, Any]:
    """Schema-aware values for ``names`` of ``api`` (``toolcalls.values``)."""
    from toolace_kedro.toolcalls.values import sample_value

    props = api["parameters"].get("properties", {})
    return {n: sample_value(n, props[n], rng, props[n].get("description", "")) for n in names}


def plan_dialogs(api_pool: list[dict[str, Any]], params: DialogGenerationParams | Mapping[str, Any]
                 ) -> list[dict[str, Any]]:
    """``n_dialogs`` plans: ``{"id", "type", "targets": [api name, ...], "calls": n, "tools",
    "missing": param or None}``, plus ``topic`` (a non-tool dialog's unrelated API, not shown)
    and, with ``value_source: sampler``, ``values`` (the user's stated values, in the user
    agent's form) and ``missing_value`` (what a clarify dialog's user gives when asked).
    Seeded: the same pool and params give the same plans."""
    cfg = DialogGenerationParams.of(params)  # (unknown dialog types and value sources fail here)
    if len(api_pool) < 2:
        raise ValueError(f"dialog generation needs at least 2 APIs in api_pool, got {len(api_pool)}")
    rng = random.Random(cfg.seed)
    mix = {k: v for k, v in cfg.type_mix.items() if v > 0}
    source, optional_share = cfg.value_source, cfg.optional_share
    by_domain: dict[str, list[dict]] = {}
    for api in api_pool:
        by_domain.setdefault(_domain(api), []).append(api)
    with_required = [a for a in api_pool if a["parameters"].get("required")]
    plans = []
    for i in range(cfg.n_dialogs):
        kind = rng.choices(list(mix), weights=list(mix.values()))[0]
        if kind == "clarify" and not with_required:
            kind = "single"
        n_distractors = _draw_count(rng, cfg.distractors)
        first = rng.choice(with_required if kind == "clarify" else api_pool)
        plan: dict[str, Any] = {"id": f"dlg-{cfg.seed}-{i:05d}", "type": kind,
                                "calls": 2 if kind == "parallel" else 1, "missing": None}
        if kind == "non_tool":
            others = [a for a in api_pool if _domain(a) != _domain(first)] or [a for a in api_pool if a is not first]
            tools = rng.sample(others, min(len(others), max(1, n_distractors)))
            plan.update(targets=[], tools=tools)
            if rng.random() < cfg.non_tool.unrelated_request:
                plan["topic"] = first
                if source == "sampler":
                    plan["values"] = sample_values(first, planned_parameters(first, rng, None, optional_share), rng)
            plans.append(plan)
            continue
        targets = [first]
        if kind == "dependent" or (kind == "parallel" and rng.random() < 0.5):
            same = [a for a in by_domain[_domain(first)] if a["name"] != first["name"]]
            targets.append(rng.choice(same or [a for a in api_pool if a["name"] != first["name"]]))
        chosen = {a["name"] for a in targets}
        nearby = [a for a in by_domain[_domain(first)] if a["name"] not in chosen]
        rng.shuffle(nearby)
        others = [a for a in api_pool if a["name"] not in chosen and a not in nearby]
        distractors = (nearby + rng.sample(others, min(len(others), n_distractors)))[:n_distractors]
        tools = targets + distractors
        rng.shuffle(tools)
        missing = rng.choice(first["parameters"]["required"]) if kind == "clarify" else None
        plan.update(targets=[a["name"] for a in targets], tools=tools, missing=missing)
        if source == "sampler":
            names = planned_parameters(first, rng, missing, optional_share)
            if kind == "parallel":
                second = targets[-1]
                plan["values"] = {"first": sample_values(first, names, rng),
                                  "second": sample_values(second, planned_parameters(second, rng, None, optional_share)
                                                          if second is not first else names, rng)}
            else:
                plan["values"] = sample_values(first, names, rng)
            if missing is not None:
                plan["missing_value"] = sample_values(first, [missing], rng)[missing]
        plans.append(plan)
    return plans


def twin_plans(dialogs: list[dict[str, Any]], api_pool: list[dict[str, Any]],
               params: DialogGenerationParams | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Irrelevance twins (ToolACE's non-tool data, as contrast pairs): for a share
    (``non_tool.twins``) of the single-call dialogs, a non-tool plan with the *same request* and
    tools that cannot serve it -- 1 to ``distractors`` APIs of other domains than the called one,
    sharing no content word with the request. The same words then need a call under one tool list
    and a decline under the other, which is the decision BFCL's irrelevance items test. Seeded
    by the source dialog's id."""
    from toolace_kedro.toolcalls.words import api_words, content_words

    cfg = DialogGenerationParams.of(params)
    share = cfg.non_tool.twins
    if share <= 0:
        return []
    by_name = {a["name"]: a for a in api_pool}
    plans = []
    for dialog in dialogs:
        if dialog["type"] != "single" or not dialog["messages"] or dialog["messages"][0]["role"] != "user":
            continue
        rng = random.Random(f"{cfg.seed}:twin:{dialog['id']}")
        if rng.random() >= share:
            continue
        called = {c["name"] for m in dialog["messages"] for c in m.get("tool_calls") or []}
        topic = by_name.get(next(iter(called), ""))
        request = dialog["messages"][0]["content"]
        words = content_words(request)
        domains = {_domain(by_name[n]) for n in called if n in by_name}
        unrelated = [a for a in api_pool if _domain(a) not in domains and a["name"] not in called
                     and not words & api_words(a)]
        if topic is None or not unrelated:
            continue
        count = max(1, _draw_count(rng, cfg.distractors))
        plans.append({"id": f"{dialog['id']}-twin", "type": "non_tool", "targets": [], "calls": 1, "missing": None,
                      "tools": rng.sample(unrelated, min(count, len(unrelated))), "topic": topic,
                      "request": request, "twin_of": dialog["id"]})
    return plans
