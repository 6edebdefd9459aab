"""Function-calling executability (paper Table 4): API definitions and call arguments.

The judgement is ``jsonschema``'s, reached through the shared :func:`~toolace_kedro.toolcalls.api_problems`
and :func:`~toolace_kedro.toolcalls.check_arguments`. Two things make it fast enough for hundreds of
thousands of samples (``benchmarks/verification_speed.py``):

* **one entry per distinct tool**: an API definition is keyed by its ``marshal`` bytes (exact,
  type-strict: ``1``, ``1.0`` and ``True`` differ) and its problems, normalised parameter schema and
  compiled check are computed once; dialogs share their candidate APIs, so most tools are hits.
* **a validity fast path**: :func:`compile_validity` turns a parameter schema that uses only the
  common keywords (type, enum, const, bounds, lengths, pattern, format, properties, required,
  additionalProperties, items, min/maxItems) into a predicate that answers ``True`` only for
  values the ``jsonschema`` validator accepts. Anything it is unsure of (another keyword, a float
  given for an integer, a list inside an enum...) answers ``False``, and the call is then checked
  by ``check_arguments``, whose problems are what gets reported. So the fast path can only save
  time, never change a verdict (``tests/pipelines/verification/test_executability.py`` checks
  this against ``jsonschema`` with generated schemas and values).

Parameter objects are *closed* (``closed_objects``): an argument name an object's ``properties``
does not declare is an unknown argument at every depth, not only at the top level, because the
API synthesis stage requires nested objects to declare their fields. Closing adds
``additionalProperties: false`` where an object declares ``properties`` and says nothing about
extra ones, through ``properties``/``items``/``additionalProperties`` (not inside ``anyOf``/``oneOf``,
whose meaning it could change).
"""

from __future__ import annotations

import marshal
import re
from dataclasses import dataclass
from typing import Any, Callable

from jsonschema import Draft202012Validator, FormatChecker

from toolace_kedro.toolcalls import api_problems, check_arguments, normalize_schema

__all__ = ["ToolEntry", "argument_problems", "close_objects", "compile_validity", "tool_entry"]

_KIND_TO_RULE = {"missing_required": "call.missing_required", "unknown_argument": "call.unknown_argument",
                 "type_mismatch": "call.type_mismatch", "value_invalid": "call.value_invalid"}
_API_RULE = {"missing": "api.missing_field", "schema": "api.schema_invalid"}
#: keywords the fast path understands; any other *validation* keyword makes it step aside
#: (keywords jsonschema does not know, such as ``description`` or BFCL's ``optional``, are ignored
#: by both)
_FAST_KEYWORDS = frozenset({"type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                            "minLength", "maxLength", "pattern", "format", "properties", "required",
                            "additionalProperties", "items", "minItems", "maxItems"})
_VALIDATION_KEYWORDS = frozenset(Draft202012Validator.VALIDATORS)
_SCALARS = (str, int, float, bool, type(None))
_FORMATS = FormatChecker()  # the same default checkers check_arguments uses
_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}
_CACHE_LIMIT = 100_000


@dataclass(frozen=True)
class ToolEntry:
    """What the rules need of one API definition, computed once per distinct definition."""

    name: str | None
    problems: tuple[tuple[str, str], ...]  # (rule id, message) of the definition itself
    schema: dict[str, Any] | None  # normalised (and closed) parameters, None when the API is broken
    fast: Callable[[Any], bool] | None  # validity fast path, None when the schema is outside it


_cache: dict[tuple[bytes, bool], ToolEntry] = {}


def tool_entry(api: Any, closed: bool = True) -> ToolEntry:
    """The cached :class:`ToolEntry` of a raw API definition (never raises)."""
    try:
        key = (marshal.dumps(api, 2), closed)
    except (ValueError, TypeError):  # not plain data, or nested too deep to key
        key = None
    entry = _cache.get(key) if key is not None else None
    if entry is None:
        entry = _build_entry(api, closed)
        if key is not None:
            if len(_cache) >= _CACHE_LIMIT:
                _cache.clear()
            _cache[key] = entry
    return entry


def _build_entry(api: Any, closed: bool) -> ToolEntry:
    name = api.get("name") if isinstance(api, dict) and isinstance(api.get("name"), str) else None
    try:
        problems = tuple((_API_RULE[kind], message) for kind, message in api_problems(api))
    except (RecursionError, TypeError, ValueError) as exc:  # too deep; api_problems raises TypeError on
        # a type list holding a list or object (reported to the toolcalls owners)
        return ToolEntry(name, (("api.schema_invalid", f"API {name!r}: unreadable schema ({type(exc).__name__})"),),
                         None, None)
    if name is not None and len(name) > 128:  # ApiDefinition's bound on names
        problems += (("api.schema_invalid", f"API name of {len(name)} characters (at most 128)"),)
    for key, kind in (("domain", str), ("source", dict)):  # optional provenance, typed when present
        if isinstance(api, dict) and api.get(key) is not None and not isinstance(api[key], kind):
            problems += (("api.schema_invalid", f"API {name!r}: {key} is a {type(api[key]).__name__}"),)
    if problems:
        return ToolEntry(name, problems, None, None)
    schema = normalize_schema(api["parameters"])
    if closed:
        schema = close_objects(schema)
    return ToolEntry(name, (), schema, compile_validity(schema))


def argument_problems(entry: ToolEntry, arguments: dict[str, Any]) -> list[tuple[str, str]]:
    """``(rule id, message)`` for each way ``arguments`` break the entry's parameter schema."""
    if entry.fast is not None:
        try:
            if entry.fast(arguments):
                return []
        except RecursionError:
            pass
    try:
        found = check_arguments(entry.schema, arguments)
    except RecursionError:
        return [("call.value_invalid", f"{entry.name}: arguments nested too deeply")]
    return [(_KIND_TO_RULE.get(p.kind, "call.value_invalid"), f"{entry.name}({p.path or '.'}): {p.message}")
            for p in found]


def close_objects(schema: Any) -> Any:
    """Copy of a normalised schema where every object that declares ``properties`` (and nothing
    about extra ones) refuses undeclared names (see the module docstring)."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    props = schema.get("properties")
    if isinstance(props, dict):
        out["properties"] = {k: close_objects(v) for k, v in props.items()}
        if not {"additionalProperties", "patternProperties", "unevaluatedProperties"} & schema.keys():
            out["additionalProperties"] = False
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            out[key] = close_objects(schema[key])
    if isinstance(schema.get("prefixItems"), list):
        out["prefixItems"] = [close_objects(s) for s in schema["prefixItems"]]
    return out


def compile_validity(schema: Any) -> Callable[[Any], bool] | None:
    """A predicate that is ``True`` only for values ``Draft202012Validator(schema,
    format_checker=FormatChecker())`` accepts (``False`` means "not sure"), or ``None`` when the
    schema uses a keyword outside the fast path."""
    try:
        return _compile(schema)
    except (_Unsupported, re.error, LookupError, TypeError, ValueError, RecursionError):
        return None


class _Unsupported(Exception):
    pass


def _compile(schema: Any) -> Callable[[Any], bool]:
    if schema is True or schema == {}:
        return lambda v: True
    if not isinstance(schema, dict):
        raise _Unsupported
    unknown = (schema.keys() & _VALIDATION_KEYWORDS) - _FAST_KEYWORDS
    if unknown:
        raise _Unsupported
    checks: list[Callable[[Any], bool]] = []
    kind = schema.get("type")
    if kind is not None:
        names = kind if isinstance(kind, list) else [kind]
        tests = [_TYPES[n] for n in names]  # an unknown name: KeyError, the fast path steps aside
        checks.append(tests[0] if len(tests) == 1 else (lambda v, t=tuple(tests): any(f(v) for f in t)))
    for key in ("enum", "const"):
        if key in schema:
            allowed = schema[key] if key == "enum" else [schema[key]]
            pairs = {(type(e), e) for e in allowed if isinstance(e, _SCALARS)}
            checks.append(lambda v, p=frozenset(pairs): isinstance(v, _SCALARS) and (type(v), v) in p)
    checks += _number_checks(schema) + _string_checks(schema)
    if any(k in schema for k in ("properties", "required", "additionalProperties")):
        checks.append(_object_check(schema))
    if any(k in schema for k in ("items", "minItems", "maxItems")):
        checks.append(_array_check(schema))
    if len(checks) == 1:
        return checks[0]
    return lambda v, c=tuple(checks): all(f(v) for f in c)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number_checks(schema: dict) -> list[Callable[[Any], bool]]:
    ops = {"minimum": lambda v, b: v >= b, "maximum": lambda v, b: v <= b,
           "exclusiveMinimum": lambda v, b: v > b, "exclusiveMaximum": lambda v, b: v < b}
    out = []
    for key, op in ops.items():
        if key in schema:
            bound = schema[key]
            if not _is_number(bound):
                raise _Unsupported
            out.append(lambda v, b=bound, op=op: not _is_number(v) or op(v, b))
    return out


def _string_checks(schema: dict) -> list[Callable[[Any], bool]]:
    out = []
    if "minLength" in schema:
        out.append(lambda v, n=int(schema["minLength"]): not isinstance(v, str) or len(v) >= n)
    if "maxLength" in schema:
        out.append(lambda v, n=int(schema["maxLength"]): not isinstance(v, str) or len(v) <= n)
    if "pattern" in schema:
        regex = re.compile(schema["pattern"])
        out.append(lambda v, r=regex: not isinstance(v, str) or r.search(v) is not None)
    if "format" in schema:
        out.append(lambda v, f=schema["format"]: _FORMATS.conforms(v, f))
    return out


def _object_check(schema: dict) -> Callable[[Any], bool]:
    props = {k: _compile(s) for k, s in (schema.get("properties") or {}).items()}
    required = tuple(schema.get("required") or ())
    extra = schema.get("additionalProperties", True)
    extra_check = None if extra is True else (lambda v: False) if extra is False else _compile(extra)

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        for name in required:
            if name not in value:
                return False
        for name, item in value.items():
            sub = props.get(name)
            if sub is not None:
                if not sub(item):
                    return False
            elif extra_check is not None and not extra_check(item):
                return False
        return True

    return check


def _array_check(schema: dict) -> Callable[[Any], bool]:
    items = schema.get("items", True)
    item_check = _compile(items)
    low, high = int(schema.get("minItems", 0)), schema.get("maxItems")
    high = None if high is None else int(high)

    def check(value: Any) -> bool:
        if not isinstance(value, list):
            return True
        if len(value) < low or (high is not None and len(value) > high):
            return False
        return all(item_check(v) for v in value)

    return check
