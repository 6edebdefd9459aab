"""``--set key.path=value`` overrides for the benchmark scripts: each value is read as YAML and
set at its dotted path in a parameter mapping."""

from __future__ import annotations

from typing import Any, Iterable

import yaml


def apply_overrides(params: dict[str, Any], assignments: Iterable[str]) -> dict[str, Any]:
    """Set every ``a.b.c=value`` of ``assignments`` in ``params`` (in place; returned too). A path
    that does not exist up to its last key raises ``KeyError`` naming it."""
    for item in assignments:
        key, value = item.split("=", 1)
        *path, last = key.strip().split(".")
        target = params
        for n, part in enumerate(path):
            if not isinstance(target.get(part), dict):
                raise KeyError(f"--set {key}: no mapping at {'.'.join(path[: n + 1])}")
            target = target[part]
        target[last] = yaml.safe_load(value)
    return params
