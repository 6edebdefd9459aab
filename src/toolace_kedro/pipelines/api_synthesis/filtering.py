"""Filtering of synthesised APIs: schema validation (the validator the verification stage uses),
the quality checks of ``quality.py``, exact de-duplication on name + parameter signature, and near-duplicate removal on name +
description similarity. Every reject keeps its reason."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from toolace_kedro.pipelines.api_synthesis.context_tree import normalise_name, similarity
from toolace_kedro.pipelines.api_synthesis.quality import quality_problem
from toolace_kedro.toolcalls import api_problems


def signature(api: dict[str, Any]) -> tuple:
    props = api["parameters"].get("properties", {})
    return normalise_name(api["name"].replace("_", " ")), tuple(sorted((k, str(v.get("type"))) for k, v in props.items()))


def _text(api: dict[str, Any]) -> str:
    return normalise_name(f"{api['name'].replace('_', ' ')} {api.get('description', '')}")


def _bucket(api: dict[str, Any]) -> str:
    return (api.get("domain") or "").split("/")[0].lower()


class PoolFilter:
    """Accepts an API only if it is valid and not an (exact or near) duplicate of anything seen:
    the seeds, every accepted API, and the example it was written from."""

    def __init__(self, near_duplicate_threshold: float, known: list[dict[str, Any]] = (),
                 instructions: list[str] | None = None) -> None:
        self.threshold = near_duplicate_threshold
        self.instructions = instructions  # None: no quality checks; else the prompt texts (see quality.py)
        self.names: set[str] = set()
        self.signatures: set[tuple] = set()
        self.by_bucket: dict[str, list[str]] = defaultdict(list)
        for api in known:
            self._remember(api)

    def _remember(self, api: dict[str, Any]) -> None:
        self.names.add(normalise_name(api["name"].replace("_", " ")))
        self.signatures.add(signature(api))
        self.by_bucket[_bucket(api)].append(_text(api))

    def check(self, api: dict[str, Any], example: dict[str, Any] | None = None) -> str | None:
        """The reject reason, or None when the API is accepted (and remembered)."""
        problems = api_problems(api)
        if problems:
            kind, message = problems[0]
            return f"{'api.schema_invalid' if kind == 'schema' else 'api.missing_field'}: {message}"
        if self.instructions is not None:
            problem = quality_problem(api, self.instructions)
            if problem:
                return problem
        if signature(api) in self.signatures:
            return "duplicate.exact: same name and parameter signature as an earlier API"
        if normalise_name(api["name"].replace("_", " ")) in self.names:
            return "duplicate.name: an earlier API has this name"
        text = _text(api)
        others = self.by_bucket[_bucket(api)] + ([_text(example)] if example else [])
        for other in others:
            score = similarity(text, other)
            if score >= self.threshold:
                return f"duplicate.near: name+description similarity {score:.2f} >= {self.threshold}"
        self._remember(api)
        return None
