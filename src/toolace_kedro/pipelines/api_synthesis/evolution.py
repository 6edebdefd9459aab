"""Evolution: new APIs from (sampled subtree + an example from the buffer + a diversity indicator).

The LLM writes a compact *API draft* under a JSON-schema grammar -- name, description, a list of
parameters (type, required, enum/format/bounds, array item type, fields of nested objects) and
the returned fields -- and :func:`draft_to_api` turns it into a full JSON-Schema API definition.
The compact form costs a third of the tokens of raw JSON Schema, which matters on a CPU; nested
types (arrays of objects, objects with fields, arrays of scalars) are expressible.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from toolace_kedro.llm import LLMClient, ShardCheckpoints
from toolace_kedro.pipelines.api_synthesis.config import EvolutionParams
from toolace_kedro.pipelines.api_synthesis.context_tree import ContextTree
from toolace_kedro.pipelines.api_synthesis.filtering import PoolFilter
from toolace_kedro.toolcalls import normalize_schema, untyped_arrays

logger = logging.getLogger(__name__)

SCALARS = ["string", "integer", "number", "boolean"]
#: The parameter types a draft may use: scalars, string formats, arrays and objects.
PARAM_TYPES = SCALARS + ["date", "date-time", "email", "array<string>", "array<integer>", "array<number>",
                         "array<object>", "object"]
_FORMATS = {"date": "date", "date-time": "date-time", "email": "email"}
_NESTED = ("object", "array<object>")
_SNAKE = "^[a-z][a-z0-9]{1,14}(_[a-z0-9]{1,14}){0,3}$"
_FUNC_NAME = "^[a-z][a-z0-9]{1,14}(_[a-z0-9]{1,14}){1,4}$"
_FIELD = "^[a-z][a-z0-9]{1,14}(_[a-z0-9]{1,14}){0,2}:(string|integer|number|boolean|array)$"

DIVERSITY_INDICATORS = {
    "add_functionality": "Make the new API do more than the example: add a related capability.",
    "add_parameters": "Give the new API more parameters than the example, some of them optional.",
    "add_constraints": "Constrain the parameter values: use choices, a date type, or a numeric range.",
    "mutate_parameter_types": "Use richer parameter types: an array of values, or an object with fields.",
    "update_returns": "Return more detailed results: several named fields of different types.",
}


EVOLUTION_SYSTEM = ("You are an API designer. Write one API as JSON for the functionalities given: a snake_case "
                    "name, a description, typed parameters, returned fields.")


def draft_schema(max_parameters: int, min_parameters: int = 1) -> dict[str, Any]:
    """Grammar of a compact API draft. Nested fields and returned fields are ``name:type``
    strings; ``choices`` make an enum, ``range`` numeric bounds. A parameter of type ``object``
    or ``array<object>`` must declare its fields (a second branch of ``anyOf``), so every nested
    type in the pool has a real item/property schema."""
    field_list = {"type": "array", "items": {"type": "string", "pattern": _FIELD}, "minItems": 1, "maxItems": 2}
    common = {
        "name": {"type": "string", "pattern": _SNAKE},
        "description": {"type": "string", "maxLength": 24},
        "required": {"type": "boolean"},
    }
    flat = {"type": "object", "properties": {
        "name": common["name"],
        "type": {"type": "string", "enum": [t for t in PARAM_TYPES if t not in _NESTED]},
        "description": common["description"], "required": common["required"],
        "choices": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9 _-]{0,15}$"},
                    "minItems": 2, "maxItems": 3},
        "range": {"type": "array", "items": {"type": "integer", "minimum": -100000, "maximum": 100000},
                  "minItems": 2, "maxItems": 2}},
        "required": ["name", "type", "description", "required"]}
    nested = {"type": "object", "properties": {
        "name": common["name"], "type": {"type": "string", "enum": list(_NESTED)},
        "description": common["description"], "required": common["required"], "fields": field_list},
        "required": ["name", "type", "description", "required", "fields"]}
    return {"type": "object", "properties": {
        "name": {"type": "string", "pattern": _FUNC_NAME},
        "description": {"type": "string", "minLength": 10, "maxLength": 64},
        "parameters": {"type": "array", "items": {"anyOf": [flat, nested]}, "minItems": min_parameters,
                       "maxItems": max_parameters},
        "returns": field_list},
        "required": ["name", "description", "parameters", "returns"]}


class DraftError(ValueError):
    """A draft that cannot become a consistent API definition; the message is the reject reason."""


def _fields_schema(fields: list[str], repairs: list[str]) -> dict[str, Any]:
    """``name:type`` fields → an object schema. The field grammar has no item type, so an
    ``array`` field is declared an array of strings (a known default, never an untyped array)."""
    props: dict[str, Any] = {}
    for field in fields:
        name, kind = field.split(":")
        if name in props:
            repairs.append(f"dropped repeated field {name}")
            continue
        props[name] = {"type": kind, "items": {"type": "string"}} if kind == "array" else {"type": kind}
    return {"type": "object", "properties": props}


def _item_schema(p: dict[str, Any], repairs: list[str]) -> dict[str, Any]:
    """The item schema of an array parameter: from ``array<T>``, else from what the draft says
    elsewhere (an ``items``/``item_type`` type name, or ``fields``: objects). A draft that names
    no usable item type is rejected (``draft.untyped_array``): an array of unknown items cannot be
    checked, sampled or constrained, and the pool's APIs must declare item types like BFCL's."""
    kind = p["type"]
    declared = kind[6:-1] if kind.startswith("array<") and kind.endswith(">") else p.get("item_type", p.get("items"))
    if isinstance(declared, dict):
        declared = declared.get("type")
    item = normalize_schema({"type": declared}).get("type") if isinstance(declared, str) else None  # str → string
    if item is None and p.get("fields"):
        item = "object"
    if item == "object":
        return _fields_schema(p["fields"], repairs) if p.get("fields") else {"type": "object"}
    if item in _FORMATS:
        return {"type": "string", "format": _FORMATS[item]}
    if item in SCALARS:
        return {"type": item}
    raise DraftError(f"draft.untyped_array: {p['name']} declares no usable item type ({declared!r})")


def _param_schema(p: dict[str, Any], repairs: list[str]) -> dict[str, Any]:
    kind = p["type"]
    if kind in _FORMATS:
        schema: dict[str, Any] = {"type": "string", "format": _FORMATS[kind]}
    elif kind.startswith("array") or normalize_schema({"type": kind}).get("type") == "array":  # list, tuple
        schema = {"type": "array", "items": _item_schema(p, repairs)}
    elif kind == "object":
        schema = _fields_schema(p["fields"], repairs) if p.get("fields") else {"type": "object"}
    else:
        schema = {"type": kind}
    schema["description"] = p["description"]
    if kind == "string" and p.get("choices"):
        schema["enum"] = list(dict.fromkeys(p["choices"]))
    if kind in ("integer", "number") and p.get("range"):
        low, high = p["range"]
        if low > high:
            raise DraftError(f"draft.inverted_range: {p['name']} {low} > {high}")
        schema.update(minimum=low, maximum=high)
    return schema


def draft_to_api(draft: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Compact draft → (API definition, repairs). A repeated parameter or field name (small models
    loop) keeps its first occurrence and is listed in ``repairs``; contradictions and arrays
    without an item type raise :class:`DraftError` (its message is the reject reason)."""
    repairs: list[str] = []
    props: dict[str, Any] = {}
    required: list[str] = []
    for p in draft["parameters"]:
        if p["name"] in props:
            repairs.append(f"dropped repeated parameter {p['name']}")
            continue
        props[p["name"]] = _param_schema(p, repairs)
        if p["required"]:
            required.append(p["name"])
    api = {"name": draft["name"], "description": draft["description"],
           "parameters": {"type": "object", "properties": props, "required": required},
           "returns": _fields_schema(draft["returns"], repairs)}
    untyped = untyped_arrays(api["parameters"])
    if untyped:  # a safety net: the branches above always declare items
        raise DraftError(f"draft.untyped_array: {', '.join(untyped)} declares no item type")
    return api, repairs


def api_to_draft(api: dict[str, Any]) -> dict[str, Any]:
    """API definition → compact draft, to show buffer examples in the form the LLM writes.
    Lossy where the draft form is smaller (patterns, nested depth beyond one level)."""
    required = set(api["parameters"].get("required", []))
    params = []
    for name, schema in api["parameters"].get("properties", {}).items():
        kind = schema.get("type", "string")
        p: dict[str, Any] = {"name": name, "type": kind, "description": schema.get("description", "")[:24],
                             "required": name in required}
        if kind == "string" and schema.get("format") in _FORMATS:
            p["type"] = schema["format"]
        elif kind == "array":
            items = schema.get("items") or {}
            p["type"] = f"array<{items.get('type', 'string')}>"
            if items.get("properties"):
                p["fields"] = _draft_fields(items["properties"])
        elif kind == "object" and schema.get("properties"):
            p["fields"] = _draft_fields(schema["properties"])
        if schema.get("enum"):
            p["choices"] = [str(v) for v in schema["enum"]]
        if "minimum" in schema and "maximum" in schema:
            p["range"] = [schema["minimum"], schema["maximum"]]
        params.append(p)
    returns = _draft_fields((api.get("returns") or {}).get("properties", {})) or ["result:string"]
    return {"name": api["name"], "description": api["description"], "parameters": params, "returns": returns}


def _draft_fields(properties: dict[str, Any]) -> list[str]:
    return [f"{k}:{v.get('type') if v.get('type') in SCALARS + ['array'] else 'string'}" for k, v in properties.items()]


def namespace(domain: str) -> str | None:
    """The namespace a dotted API name takes from its domain's most specific part, in snake
    case (``Travel/Flight Search`` -> ``flight_search``), as in BFCL's ``math.factorial`` or
    ``sports_ranking.get_current``; None when the domain has no usable word."""
    words = re.findall(r"[a-z0-9]+", domain.split("/")[-1].lower())[:3]
    name = "_".join(words)
    return name if name and name[0].isalpha() else None


def _task(functions: list[str], domain: str, indicator: str) -> str:
    return f"Domain: {domain}\nFunctionalities: {'; '.join(functions)}\n{DIVERSITY_INDICATORS[indicator]}"


def evolution_prompt(functions: list[str], domain: str, example: dict[str, Any], indicator: str) -> list[dict]:
    """The example is shown as a worked answer (its own functionalities → its draft), then the
    new functionalities are asked for: small models follow the pattern instead of copying."""
    example_functions = (example.get("source") or {}).get("functions") or [example["description"]]
    example_domain = (example.get("domain") or "General").replace("/", " > ")
    return [
        {"role": "system", "content": EVOLUTION_SYSTEM},
        {"role": "user", "content": _task(example_functions, example_domain, indicator)},
        {"role": "assistant", "content": json.dumps(api_to_draft(example))},
        {"role": "user", "content": _task(functions, domain, indicator)},
    ]


def evolve(tree: ContextTree, seeds: list[dict[str, Any]], llm: LLMClient, params: EvolutionParams | Mapping[str, Any],
           checkpoints: ShardCheckpoints | None = None) -> tuple[list[dict], list[dict], list[dict]]:
    """Run ``n_generations`` of ``apis_per_generation`` requests each; returns
    ``(api_pool, api_rejects, per_generation)``. Accepted APIs join the example buffer at once,
    so later generations build on them. All randomness is seeded: a rerun sends the same
    requests and is answered from the response cache. With ``checkpoints`` every generation's
    answers (and failure reasons) are one shard: a resumed run replays the finished generations
    -- sampling, drafts, filtering -- from them without a request, then goes on."""
    cfg = EvolutionParams.of(params)
    shards = checkpoints or ShardCheckpoints(None, "evolution", None)
    functions = [n for n in tree.nodes.values() if n.kind == "function"]
    if not functions:
        raise ValueError("the API context tree has no function nodes: speciation produced nothing usable")
    rng = random.Random(cfg.seed)
    levels = cfg.diversity_levels
    weights = cfg.indicators or list(DIVERSITY_INDICATORS)  # (names checked by the model)
    if isinstance(weights, list):
        weights = {name: 1.0 for name in weights}
    indicators, indicator_weights = list(weights), list(weights.values())
    share = cfg.namespace_share
    buffer = list(seeds)
    instructions = [EVOLUTION_SYSTEM, *DIVERSITY_INDICATORS.values()] if cfg.quality_filter else None
    pool_filter = PoolFilter(cfg.near_duplicate_threshold, seeds, instructions)
    schema = draft_schema(cfg.max_parameters, cfg.min_parameters)
    pool: list[dict] = []
    rejects: list[dict] = []
    per_generation: list[dict] = []
    for generation in range(1, cfg.n_generations + 1):
        jobs = []
        for _ in range(cfg.apis_per_generation):
            size = rng.choices(list(levels), weights=list(levels.values()))[0]
            nodes = tree.sample_subtree(rng, size, cfg.balance_domains)
            domain = "/".join(tree.path(nodes[0])[:2])
            jobs.append({"nodes": nodes, "example": rng.choice(buffer), "indicator": rng.choices(indicators, weights=indicator_weights)[0],
                         "diversity_level": size, "domain": domain,
                         "namespace": namespace(domain) if share > 0 and rng.random() < share else None})
        prompts = [evolution_prompt([tree.nodes[n].name for n in job["nodes"]], job["domain"].replace("/", " > "),
                                    job["example"], job["indicator"]) for job in jobs]
        resumed = shards.resumed
        outputs, failures = shards.chat_batch(f"generation-{generation:04d}", llm, prompts, json_schema=schema,
                                              max_tokens=cfg.max_tokens_api)
        replayed = " (replayed from its checkpoint)" if shards.resumed > resumed else ""
        accepted = Counter()
        for i, (job, text) in enumerate(zip(jobs, outputs)):
            source = {"tree_nodes": job["nodes"], "functions": [tree.nodes[n].name for n in job["nodes"]],
                      "generation": generation, "example": job["example"]["name"],
                      "indicator": job["indicator"], "diversity_level": job["diversity_level"],
                      "documents": sorted({d for n in job["nodes"] for d in tree.nodes[n].documents})}
            if text is None:
                rejects.append({"reason": f"llm.{failures.get(i, 'failed')}", "source": source})
                continue
            draft = json.loads(text)
            try:
                api, repairs = draft_to_api(draft)
            except DraftError as exc:
                rejects.append({"reason": str(exc), "draft": draft, "source": source})
                continue
            if repairs:
                source["repairs"] = repairs
            if job["namespace"]:
                api["name"] = f"{job['namespace']}.{api['name']}"
                source["namespace"] = job["namespace"]
            api.update(domain=job["domain"], source=source)
            reason = pool_filter.check(api, job["example"])
            if reason:
                rejects.append({"reason": reason, "api": api})
                continue
            pool.append(api)
            buffer.append(api)
            accepted[job["indicator"]] += 1
        per_generation.append({"generation": generation, "requested": len(jobs),
                               "accepted": sum(accepted.values()), "accepted_by_indicator": dict(accepted),
                               "rejected": len(jobs) - sum(accepted.values()), "buffer_size": len(buffer)})
        logger.info("generation %d: %d/%d APIs accepted, buffer %d%s", generation, sum(accepted.values()),
                    len(jobs), len(buffer), replayed)
    if shards.enabled:
        logger.info("evolution: resumed %d of %d shards", shards.resumed, cfg.n_generations)
    return pool, rejects, per_generation
