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

A ``multi_turn`` dialog opens as a single-call dialog and then has follow-up requests
(``multi_turn.follow_ups``), each planned with its target API -- the previous request's API again
(``multi_turn.same_api``) or another API of its domain -- and the parameter it takes from the
dialog's history (:func:`carry_options`); the value itself is chosen once the earlier results exist
(``follow_up.py``).
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
    "multi_turn": ["user", "call", "tool", "answer"],
}
#: phases of each follow-up request of a multi_turn dialog, after its type's script
FOLLOW_UP_SCRIPT = ["follow_up", "call", "tool", "answer"]

#: JSON types a request can state verbatim (booleans are left to the assistant)
STATED_TYPES = ("string", "integer", "number")


#: JSON types of the values a parameter of each type can take from the dialog
_TAKES = {"string": ("string",), "integer": ("integer",), "number": ("integer", "number")}


def script(plan: dict[str, Any]) -> list[str]:
    """The phases of ``plan``'s dialog: its type's script, then each planned follow-up's."""
    return SCRIPTS[plan["type"]] + FOLLOW_UP_SCRIPT * len(plan.get("follow_ups") or [])


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


def returned_leaves(schema: Any, key: str = "") -> list[tuple[str, str]]:
    """``(key, JSON type)`` of the scalar leaves of a ``returns`` schema (objects and arrays walked)."""
    if not isinstance(schema, dict):
        return []
    if schema.get("type") == "object" or "properties" in schema:
        return [leaf for name, sub in (schema.get("properties") or {}).items() for leaf in returned_leaves(sub, name)]
    if schema.get("type") == "array":
        return returned_leaves(schema.get("items"), key)
    return [(key, schema["type"])] if schema.get("type") in STATED_TYPES else []


def carry_options(api: dict[str, Any], earlier: list[tuple[dict[str, Any], list[str]]]) -> tuple[int, list[str]]:
    """``(tier, parameters)``: the parameters of ``api`` a follow-up can fill with a value from the
    dialog, given the ``earlier`` requests' APIs and the parameters the user stated for them; the
    best tier only: 0, one an earlier API returns under the same name; 1, one the user stated
    earlier (the same name and type); 2, one an earlier API returns a value of its type for (no
    enum, pattern or format then: a result under another name rarely fits those)."""
    returned = [leaf for prev, _ in earlier for leaf in returned_leaves(prev.get("returns"))]
    tiers: tuple[list[str], list[str], list[str]] = ([], [], [])
    for name, schema in api["parameters"].get("properties", {}).items():
        takes = _TAKES.get(schema.get("type"))
        if not takes or "enum" in schema or "const" in schema:
            continue
        stated = any(name in names and prev["parameters"].get("properties", {}).get(name, {}).get("type") in takes
                     for prev, names in earlier)
        if any(key == name and kind in takes for key, kind in returned):
            tiers[0].append(name)
        elif stated:
            tiers[1].append(name)
        elif not {"pattern", "format"} & schema.keys() and any(kind in takes for _, kind in returned):
            tiers[2].append(name)
    return next(((n, tier) for n, tier in enumerate(tiers) if tier), (len(tiers), []))


def _follow_ups(first: dict[str, Any], stated: list[str], same_domain: list[dict[str, Any]], rng: random.Random,
                cfg: DialogGenerationParams) -> list[dict[str, Any]]:
    """The follow-up requests of a multi_turn plan: ``{"target", "carry"}`` each (the parameter
    it takes from the dialog), plus ``values`` (the new values it states) with ``value_source:
    sampler``. A follow-up calls the previous request's API again (``multi_turn.same_api``) or
    the other API of the domain with the best :func:`carry_options` tier, either falling back to
    the other; a value under another name (tier 2) only when no API can take one under the
    parameter's own name. Fewer follow-ups than drawn when no API can take any."""
    spec = cfg.multi_turn.follow_ups
    count = spec if isinstance(spec, int) else rng.randint(*spec)
    earlier, prev, out = [(first, stated)], first, []
    for _ in range(count):
        others = [a for a in same_domain if a["name"] != prev["name"]]
        rng.shuffle(others)
        ranked = sorted(((carry_options(a, earlier), a) for a in others), key=lambda o: o[0][0])
        again = (carry_options(prev, earlier), prev)
        ranked = [again, *ranked] if rng.random() < cfg.multi_turn.same_api else [*ranked, again]
        # a value under its parameter's own name (tiers 0-1) first; one of another name only where nothing else fits
        choices = [(a, options) for (_, options), a in sorted(ranked, key=lambda o: o[0][0] == 2) if options]
        if not choices:
            break
        api, options = choices[0]
        carry = rng.choice(options)
        names = planned_parameters(api, rng, carry, cfg.optional_share)
        follow_up: dict[str, Any] = {"target": api["name"], "carry": carry}
        if cfg.value_source == "sampler":
            follow_up["values"] = sample_values(api, names, rng)
        out.append(follow_up)
        earlier.append((api, names))
        prev = api
    return out


def sample_values(api: dict[str, Any], names: list[str], rng: random.Random) -> dict[str, Any]:
    """Schema-aware values for ``names`` of ``api`` (``toolcalls.values``)."""
    from toolace_kedro.toolcalls.values import sample_value

    props = api["parameters"].get("properties", {})
    return {n: sample_value(n, props[n], rng, props[n].get("description", "")) for n in names}


def plan_dialogs(api_pool: list[dict[str, Any]], params: DialogGenerationParams | Mapping[str, Any]
                 ) -> list[dict[str, Any]]:
    """``n_dialogs`` plans: ``{"id", "type", "targets": [api name, ...], "calls": n, "tools",
    "missing": param or None}``, plus ``follow_ups`` (a multi_turn dialog's, see
    :func:`_follow_ups`), ``topic`` (a non-tool dialog's unrelated API, not shown)
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
    by_name = {api["name"]: api for api in api_pool}
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
        names = planned_parameters(first, rng, missing, optional_share) if source == "sampler" else []
        if source == "sampler":
            if kind == "parallel":
                second = targets[-1]
                plan["values"] = {"first": sample_values(first, names, rng),
                                  "second": sample_values(second, planned_parameters(second, rng, None, optional_share)
                                                          if second is not first else names, rng)}
            else:
                plan["values"] = sample_values(first, names, rng)
            if missing is not None:
                plan["missing_value"] = sample_values(first, [missing], rng)[missing]
        if kind == "multi_turn":
            stated = names or [n for n in first["parameters"].get("required", [])
                               if _stateable(first["parameters"]["properties"].get(n, {}))]
            plan["follow_ups"] = _follow_ups(first, stated, by_domain[_domain(first)], rng, cfg)
            shown = {t["name"] for t in tools}
            for api in {f["target"]: by_name[f["target"]] for f in plan["follow_ups"]}.values():
                if api["name"] not in shown:  # the follow-ups' APIs are among the tools shown from the start
                    tools.insert(rng.randrange(len(tools) + 1), api)
            if not plan["follow_ups"]:  # no API of the domain can take a value from the dialog
                plan["type"] = "single"
                del plan["follow_ups"]
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
