"""Deterministic quality checks of a synthesised API, for the defects a small generator makes that
a schema validator cannot see: parameters that repeat a word (``query_query_key``) or number
themselves (``date_type``, ``date_type_2``), a parameter named after its function, objects
without fields, placeholder choices (``podcasts_id_1``, ``Item2``), descriptions copied from the
prompt's instructions or too short to say what the API does. A dialog built on such an API cannot
teach a policy when and how to call it, so these APIs are rejected with a ``quality.<kind>``
reason (``api_rejects``) instead of joining the pool and the example buffer.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

__all__ = ["QUALITY_CHECKS", "quality_problem"]

_WORD = re.compile(r"[a-z]+|\d+")
_NUMBERED = re.compile(r"(?:^|_)\d+$|[a-z]\d+$")
_PLACEHOLDER = re.compile(r"^(?:[a-z]+[_ -]?)+\d+$", re.IGNORECASE)

#: the checks, in the order they are tried (each gives ``quality.<name>``)
QUALITY_CHECKS = ("short_description", "copied_instruction", "repeated_word", "numbered_parameter",
                  "overlapping_parameters", "parameter_named_like_function", "object_without_fields",
                  "placeholder_choices")


def _words(name: str) -> list[str]:
    return _WORD.findall(name.lower())


def _walk(properties: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, str, dict[str, Any]]]:
    """``(path, name, schema)`` of every parameter, nested fields included."""
    for name, schema in properties.items():
        if not isinstance(schema, dict):
            continue
        path = f"{prefix}{name}"
        yield path, name, schema
        nested = schema.get("properties") or (schema.get("items") or {}).get("properties") or {}
        yield from _walk(nested, path + ".")


def _shares_run(text: str, other: str, n: int) -> bool:
    a, b = _words(text), _words(other)
    grams = {tuple(b[i:i + n]) for i in range(len(b) - n + 1)}
    return any(tuple(a[i:i + n]) in grams for i in range(len(a) - n + 1))


def quality_problem(api: dict[str, Any], instructions: Iterable[str] = (), min_description_words: int = 3
                    ) -> str | None:
    """``"quality.<kind>: detail"`` for the first defect found, or None. ``instructions`` are the
    prompt texts the generator saw (a description sharing four consecutive words with one was
    copied from it)."""
    description = str(api.get("description", ""))
    if len(_words(description)) < min_description_words:
        return f"quality.short_description: {description!r} has fewer than {min_description_words} words"
    for text in instructions:
        if _shares_run(description, text, 4):
            return f"quality.copied_instruction: the description {description!r} repeats the prompt's words"
    function_words = _words(api["name"].split(".")[-1])
    if len(set(function_words)) < len(function_words):
        return f"quality.repeated_word: the function name {api['name']!r} repeats a word"
    params = list(_walk((api.get("parameters") or {}).get("properties") or {}))
    for path, name, schema in params:
        words = _words(name)
        if len(set(words)) < len(words):
            return f"quality.repeated_word: parameter {path!r} repeats a word"
        if _NUMBERED.search(name.lower()):
            return f"quality.numbered_parameter: parameter {path!r} is numbered"
        if len(words) >= 3 and set(words) <= set(function_words) or name.lower() == api["name"].split(".")[-1].lower():
            return f"quality.parameter_named_like_function: parameter {path!r} repeats the function name"
        kind = schema.get("type")
        if kind == "object" and not schema.get("properties") and not schema.get("additionalProperties"):
            return f"quality.object_without_fields: parameter {path!r} is an object without fields"
        choices = schema.get("enum") or []
        if len(choices) >= 2 and all(isinstance(c, str) for c in choices):
            if all(_PLACEHOLDER.match(c) for c in choices) or any(set(words) <= set(_words(c)) for c in choices):
                return f"quality.placeholder_choices: parameter {path!r} has placeholder choices {choices}"
    siblings: dict[str, list[str]] = {}
    for path, name, _ in params:
        siblings.setdefault(path.rsplit(".", 1)[0] if "." in path else "", []).append(name)
    for names in siblings.values():
        for a in names:
            for b in names:
                if a != b and set(_words(a)) < set(_words(b)):
                    return f"quality.overlapping_parameters: parameter {b!r} extends {a!r}"
    return None
