"""API definitions: normalisation of ToolACE/BFCL type aliases and validation with ``jsonschema``.

An API definition is OpenAI/JSON-Schema style (`docs/data_contracts.md`)::

    {"name": "search_flights", "description": "...",
     "parameters": {"type": "object", "properties": {...}, "required": [...]},
     "returns": {...}, "domain": "Travel/Flights", "source": {...}}

On input the aliases used by ToolACE and BFCL are accepted (``dict``→``object``,
``float``→``number``, ``tuple``→``array``, ``any`` → no type constraint, plus the Python names
``str``/``int``/``bool``/``list``). :func:`normalize_schema` rewrites them; everything else in the
project works on normalised schemas.

Argument values are checked by :func:`check_arguments` with a cached Draft 2020-12 validator and a
format checker (date, date-time, time, email, ipv4/6, uuid, ...). Problems come back as
:class:`ArgumentProblem` records whose ``kind`` is one of ``missing_required``,
``unknown_argument``, ``type_mismatch`` or ``value_invalid`` -- the verification rules map them to
their rule ids.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "API_NAME_PATTERN",
    "ApiDefinition",
    "ArgumentProblem",
    "api_problem",
    "api_problems",
    "check_arguments",
    "normalize_api",
    "normalize_schema",
    "to_dialect",
    "untyped_arrays",
]

#: Function names: identifiers, dotted paths (``math.factorial``), and ToolACE's spaced names.
API_NAME_PATTERN = r"^[A-Za-z_][\w.:/-]*(?: [\w.:/-]+)*$"
_API_NAME = re.compile(API_NAME_PATTERN)

TYPE_ALIASES = {
    "dict": "object",
    "float": "number",
    "tuple": "array",
    "str": "string",
    "int": "integer",
    "bool": "boolean",
    "list": "array",
    "double": "number",
    "long": "integer",
}
JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
#: Keys whose values are schemas (one, a list, or a name → schema map).
_SUBSCHEMA_ONE = ("items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else")
_SUBSCHEMA_MANY = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAP = ("properties", "patternProperties", "$defs", "definitions")


def normalize_schema(schema: Any) -> Any:
    """Return a copy of a JSON schema with type aliases rewritten to JSON-Schema names.

    ``any`` drops the type constraint; unknown type names are left as they are so that schema
    validation can report them. BFCL's ``"optional"`` flag on properties is kept (harmless).
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            value = _normalize_type(value)
            if value is None:
                continue
        elif key in _SUBSCHEMA_ONE:
            value = normalize_schema(value) if isinstance(value, dict) else value
        elif key in _SUBSCHEMA_MANY and isinstance(value, list):
            value = [normalize_schema(v) for v in value]
        elif key in _SUBSCHEMA_MAP and isinstance(value, dict):
            value = {k: normalize_schema(v) for k, v in value.items()}
        out[key] = value
    return out


def _normalize_type(value: Any) -> Any:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered == "any":
            return None
        return TYPE_ALIASES.get(lowered, lowered if lowered in JSON_TYPES else value)
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            return value  # not a type list: left for the meta-schema to reject
        names = [_normalize_type(v) for v in value]
        return None if any(n is None for n in names) else list(dict.fromkeys(names))
    return value


def to_dialect(schema: Any, object_name: str = "dict", number_name: str = "float") -> Any:
    """Rewrite ``object`` and ``number`` types as ToolACE/BFCL's ``dict`` and ``float`` (the
    inverse of :func:`normalize_schema` for canonical schemas)."""
    if not isinstance(schema, dict):
        return schema
    names = {"object": object_name, "number": number_name}
    out = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            value = names.get(value, value)
        elif key == "type" and isinstance(value, list):
            value = [names.get(v, v) if isinstance(v, str) else v for v in value]
        elif key in _SUBSCHEMA_ONE and isinstance(value, dict):
            value = to_dialect(value, object_name, number_name)
        elif key in _SUBSCHEMA_MANY and isinstance(value, list):
            value = [to_dialect(v, object_name, number_name) for v in value]
        elif key in _SUBSCHEMA_MAP and isinstance(value, dict):
            value = {k: to_dialect(v, object_name, number_name) for k, v in value.items()}
        out[key] = value
    return out


def normalize_api(api: dict[str, Any]) -> dict[str, Any]:
    """Copy of an API definition with ``parameters`` and ``returns`` normalised."""
    out = dict(api)
    for key in ("parameters", "returns"):
        if isinstance(out.get(key), dict):
            out[key] = normalize_schema(out[key])
    return out


class ApiDefinition(BaseModel):
    """A validated, normalised API definition (see the module docstring)."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=API_NAME_PATTERN, max_length=128)
    description: str = Field(min_length=1)
    parameters: dict[str, Any]
    returns: dict[str, Any] | None = Field(None, exclude_if=lambda v: v is None)
    domain: str | None = Field(None, exclude_if=lambda v: v is None)
    source: dict[str, Any] | None = Field(None, exclude_if=lambda v: v is None)

    @field_validator("parameters", "returns", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        return normalize_schema(value) if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _check_schemas(self) -> ApiDefinition:
        problems = [p for p in api_problems(self.model_dump(exclude_none=True)) if p[0] == "schema"]
        if problems:
            raise ValueError("; ".join(msg for _, msg in problems))
        return self


def api_problems(api: Any) -> list[tuple[str, str]]:
    """Problems of a raw API definition as ``(kind, message)`` with kind ``missing`` or ``schema``.

    Besides the JSON-Schema meta-schema, ``parameters`` may hold no array without an item type
    (:func:`untyped_arrays`). Never raises: anything malformed is reported.
    """
    if not isinstance(api, dict):
        return [("missing", f"API definition is a {type(api).__name__}, not an object")]
    problems: list[tuple[str, str]] = []
    name = api.get("name")
    if not isinstance(name, str) or not name:
        problems.append(("missing", "API has no name"))
    elif not _API_NAME.match(name):
        problems.append(("schema", f"API name {name!r} is not a valid function name"))
    description = api.get("description")
    if not isinstance(description, str) or not description.strip():
        problems.append(("missing", f"API {name!r} has no description"))
    params = api.get("parameters")
    if not isinstance(params, dict):
        problems.append(("missing", f"API {name!r} has no parameters object"))
    else:
        params = normalize_schema(params)
        problems += [("schema", f"API {name!r} parameters: {m}") for m in _schema_errors(params)]
        problems += [("schema", f"API {name!r} parameters: array {p!r} declares no item type (items)")
                     for p in untyped_arrays(params)]
        if params.get("type") != "object":
            problems.append(("schema", f"API {name!r} parameters must be of type object"))
        props = params.get("properties", {})
        required = params.get("required", [])
        if isinstance(props, dict) and isinstance(required, list):
            for req in required:
                if isinstance(req, str) and req not in props:
                    problems.append(("schema", f"API {name!r} requires undeclared parameter {req!r}"))
    returns = api.get("returns")
    if returns is not None:
        if not isinstance(returns, dict):
            problems.append(("schema", f"API {name!r} returns must be a schema object"))
        else:
            problems += [("schema", f"API {name!r} returns: {m}") for m in _schema_errors(normalize_schema(returns))]
    return problems


def untyped_arrays(schema: Any, path: str = "") -> list[str]:
    """Paths of the ``array`` schemas in a normalised ``parameters`` schema that declare no item
    type (neither ``items`` nor ``prefixItems``), at any depth: ``tags``, ``legs[].stops``
    (``[]``: the items of an array, ``.*``: an object's additional properties).

    Such a parameter cannot be checked, sampled or constrained item by item, and BFCL and
    ToolACE always declare item types, so :func:`api_problems` rejects it. Only ``parameters``
    are held to this: ``returns`` only guides the tool agent's simulated results, where an
    array of anything is still a usable answer shape.
    """
    if not isinstance(schema, dict):
        return []
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    found = [path or "<parameters>"] if "array" in kinds and not {"items", "prefixItems"} & schema.keys() else []
    props = schema.get("properties")
    if isinstance(props, dict):
        for key, sub in props.items():
            found += untyped_arrays(sub, f"{path}.{key}" if path else str(key))
    for key, suffix in (("items", "[]"), ("contains", "[]"), ("additionalProperties", ".*")):
        found += untyped_arrays(schema.get(key), path + suffix)
    if isinstance(schema.get("prefixItems"), list):
        for i, sub in enumerate(schema["prefixItems"]):
            found += untyped_arrays(sub, f"{path}[{i}]")
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list):
            for sub in schema[key]:
                found += untyped_arrays(sub, path)
    for key in ("$defs", "definitions", "patternProperties"):
        if isinstance(schema.get(key), dict):
            for name, sub in schema[key].items():
                found += untyped_arrays(sub, f"{path}.{key}.{name}" if path else f"{key}.{name}")
    return found


_API_REASONS = {"missing": "api.missing_field", "schema": "api.schema_invalid"}


def api_problem(api: Any) -> str | None:
    """Why a raw record is not a usable API definition, as ``"api.missing_field: ..."`` or
    ``"api.schema_invalid: ..."`` (the verification rule ids), or None. The validator the stages
    give ``datasets.validate_records`` for API records (seeds, the API pool)."""
    problems = api_problems(api)
    if not problems:
        return None
    kind, message = problems[0]
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{_API_REASONS[kind]}: {message[:200]}{more}"


def _schema_errors(schema: dict[str, Any]) -> list[str]:
    key = _freeze(schema)
    return list(_schema_errors_cached(key)) if key is not None else _schema_errors_uncached(schema)


@lru_cache(maxsize=50_000)
def _schema_errors_cached(key: str) -> tuple[str, ...]:
    return tuple(_schema_errors_uncached(json.loads(key)))


def _schema_errors_uncached(schema: dict[str, Any]) -> list[str]:
    errors = Draft202012Validator(Draft202012Validator.META_SCHEMA).iter_errors(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors][:5]


@dataclass(frozen=True)
class ArgumentProblem:
    """One way a call's arguments break the API's parameter schema."""

    kind: str  # missing_required | unknown_argument | type_mismatch | value_invalid
    path: str  # "origin", "passengers/0/age", ...
    message: str


_KIND_BY_VALIDATOR = {
    "required": "missing_required",
    "additionalProperties": "unknown_argument",
    "unevaluatedProperties": "unknown_argument",
    "type": "type_mismatch",
}


def check_arguments(parameters: dict[str, Any], arguments: Any) -> list[ArgumentProblem]:
    """Check call arguments against a (raw or normalised) parameters schema.

    Top-level arguments not declared in ``properties`` are ``unknown_argument`` even when the
    schema does not say ``additionalProperties: false`` (an API's parameter list is closed).
    An integer is a valid ``number``; ``True`` is not an integer.
    """
    if not isinstance(arguments, dict):
        return [ArgumentProblem("type_mismatch", "", "arguments are not an object")]
    validator = _validator(parameters)
    if validator is None:
        return [ArgumentProblem("value_invalid", "", "the parameters schema is invalid")]
    problems: list[ArgumentProblem] = []
    props = validator.schema.get("properties")
    if isinstance(props, dict):
        problems += [
            ArgumentProblem("unknown_argument", k, f"argument {k!r} is not a parameter")
            for k in arguments
            if k not in props
        ]
    for error in validator.iter_errors(arguments):
        path = "/".join(map(str, error.absolute_path))
        kind = _KIND_BY_VALIDATOR.get(error.validator, "value_invalid")
        if kind == "unknown_argument" and not path and props is not None:
            continue  # already reported above, per argument
        problems.append(ArgumentProblem(kind, path, error.message))
    return problems


def _validator(parameters: dict[str, Any]) -> Draft202012Validator | None:
    key = _freeze(parameters)
    if key is None:
        return _build_validator(normalize_schema(parameters))
    return _validator_cached(key)


@lru_cache(maxsize=50_000)
def _validator_cached(key: str) -> Draft202012Validator | None:
    return _build_validator(normalize_schema(json.loads(key)))


def _build_validator(schema: Any) -> Draft202012Validator | None:
    if not isinstance(schema, dict):
        return None
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError:
        return None
    return Draft202012Validator(schema, format_checker=_FORMATS)


_FORMATS = FormatChecker()


def _freeze(obj: Any) -> str | None:
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
