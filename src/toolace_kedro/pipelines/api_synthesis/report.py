"""Statistics and plots of the API pool."""

from __future__ import annotations

from collections import Counter
from typing import Any

from toolace_kedro.pipelines.api_synthesis.context_tree import ContextTree


def _is_nested(schema: dict[str, Any]) -> bool:
    return schema.get("type") in ("array", "object")


def _depth(schema: dict[str, Any]) -> int:
    """Nesting depth of a parameter schema: 0 for a scalar, 1 for an array of scalars or a flat
    object, 2 for an array of objects, ..."""
    children = list((schema.get("properties") or {}).values())
    if isinstance(schema.get("items"), dict):
        children.append(schema["items"])
    if schema.get("type") not in ("array", "object"):
        return 0
    return 1 + max((_depth(c) for c in children), default=0)


def pool_statistics(pool: list[dict], rejects: list[dict], tree: ContextTree) -> dict[str, Any]:
    param_types: Counter = Counter()
    depth_hist: Counter = Counter()
    required = optional = nested_apis = with_returns = open_objects = declared_nesting = 0
    for api in pool:
        props = api["parameters"].get("properties", {})
        req = set(api["parameters"].get("required", []))
        required += len(req & set(props))
        optional += len(set(props) - req)
        param_types.update(str(p.get("type")) for p in props.values())
        depths = [_depth(p) for p in props.values()] or [0]
        depth_hist[max(depths)] += 1
        nested_apis += any(_is_nested(p) for p in props.values())
        open_objects += sum(1 for p in props.values() if p.get("type") == "object" and not p.get("properties"))
        declared_nesting += any(p.get("properties") or isinstance(p.get("items"), dict) for p in props.values())
        with_returns += bool((api.get("returns") or {}).get("properties"))
    domains = Counter(api["domain"].split("/")[0] for api in pool)
    n = len(pool)
    return {
        "apis": n,
        "rejected": len(rejects),
        "reject_reasons": dict(Counter(r["reason"].split(":")[0] for r in rejects).most_common()),
        "domains": len(domains),
        "domain_paths": len({api["domain"] for api in pool}),
        "apis_per_domain": dict(domains.most_common()),
        "parameter_types": dict(param_types.most_common()),
        "parameters_per_api": round((required + optional) / n, 2) if n else 0.0,
        "required_ratio": round(required / (required + optional), 3) if required + optional else 0.0,
        "nested_or_array_fraction": round(nested_apis / n, 3) if n else 0.0,
        # stricter: an array with an item schema or an object with declared fields
        "declared_nesting_fraction": round(declared_nesting / n, 3) if n else 0.0,
        "objects_without_fields": open_objects,
        "max_nesting_depth_histogram": {str(k): v for k, v in sorted(depth_hist.items())},
        "with_returns_fraction": round(with_returns / n, 3) if n else 0.0,
        "tree": {"nodes": len(tree.nodes), "domains": len(tree.roots), "depth": tree.max_depth(),
                 "function_nodes": sum(1 for x in tree.nodes.values() if x.kind == "function"),
                 "leaves": len(tree.leaves())},
    }
