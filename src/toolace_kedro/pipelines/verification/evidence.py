"""Deterministic evidence shown to the model-layer judges and reported beside their verdicts.

* :func:`grounding` -- for every scalar argument value of every call, where it occurs verbatim
  before the call: in the user turns, in earlier tool results, or in the tool list (enum values,
  descriptions). The hallucination judge reads this list; its verdict is still the model's.
* :func:`result_fit` -- whether each tool result validates against its API's declared ``returns``
  schema (``jsonschema``), shown to the tool-response judge.

Matching is case-insensitive on whitespace-normalised text; numbers and ASCII strings must stand
as whole tokens (``5`` is not found in ``2025``), other strings as substrings. Booleans and nulls
are not checked (a request rarely spells them out).
"""

from __future__ import annotations

import json
import marshal
import re
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from toolace_kedro.toolcalls import normalize_schema

__all__ = ["grounding", "result_fit"]

_SPACE = re.compile(r"\s+")
_validators: dict[bytes, Draft202012Validator | None] = {}


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def _dump(value: Any) -> str:
    return _norm(json.dumps(value, ensure_ascii=False, default=str))


def _leaves(value: Any, path: str = ""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def _patterns(value: Any) -> list[re.Pattern] | None:
    """Ways ``value`` may be written; ``None`` for values not checked."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        forms = {str(value)}
        if isinstance(value, float) and value.is_integer():
            forms.add(str(int(value)))
        return [re.compile(rf"(?<![\d.]){re.escape(f)}(?![\d])") for f in forms]
    text = _norm(str(value))
    if not text:
        return None
    if text.isascii():
        return [re.compile(rf"(?<!\w){re.escape(text)}(?!\w)")]
    return [re.compile(re.escape(text))]


def grounding(sample: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per checked argument value: ``{"call", "message", "argument", "value", "found_in"}``
    (``message``: the index of the calling turn) where ``found_in`` lists ``user``, ``results``
    and/or ``tools`` (empty: found nowhere)."""
    sources = {"user": "", "results": "", "tools": _dump(sample.get("tools", []))}
    out = []
    for i, msg in enumerate(sample.get("messages", [])):
        role = msg.get("role")
        if role == "user":
            sources["user"] += " " + _norm(str(msg.get("content", "")))
        elif role == "tool":
            sources["results"] += " " + _dump(msg.get("content"))
        elif role == "assistant":
            for call in msg.get("tool_calls") or []:
                for path, value in _leaves(call.get("arguments") or {}):
                    patterns = _patterns(value)
                    if patterns is None:
                        continue
                    found = [name for name, text in sources.items() if any(p.search(text) for p in patterns)]
                    out.append({"call": call.get("name"), "message": i, "argument": path, "value": value,
                                "found_in": found})
    return out


def _validator(schema: dict[str, Any]) -> Draft202012Validator | None:
    try:
        key = marshal.dumps(schema, 2)
    except (ValueError, TypeError):
        key = None
    if key is None or key not in _validators:
        try:
            normalised = normalize_schema(schema)
            Draft202012Validator.check_schema(normalised)
            validator = Draft202012Validator(normalised, format_checker=FormatChecker())
        except Exception:  # an invalid returns schema is the rule layer's finding, not ours
            validator = None
        if key is None:
            return validator
        _validators[key] = validator
    return _validators[key]


def result_fit(sample: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per tool result whose API declares ``returns``: ``{"call", "message", "index",
    "fits", "problem"}`` (``message``/``index``: where the result is)."""
    returns = {t.get("name"): t.get("returns") for t in sample.get("tools", []) if isinstance(t, dict)}
    out = []
    for i, msg in enumerate(sample.get("messages", [])):
        if msg.get("role") != "tool" or not isinstance(msg.get("content"), list):
            continue
        for j, result in enumerate(msg["content"]):
            schema = returns.get(result.get("name")) if isinstance(result, dict) else None
            validator = _validator(schema) if isinstance(schema, dict) else None
            if validator is None:
                continue
            error = next(iter(validator.iter_errors(result.get("results"))), None)
            out.append({"call": result["name"], "message": i, "index": j, "fits": error is None,
                        "problem": "" if error is None else error.message[:100]})
    return out
