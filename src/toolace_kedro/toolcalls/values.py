"""Schema-aware argument values: a deterministic, seeded sampler of realistic values that
validate against a parameter's JSON schema.

A value source for planned argument values (the user agent's), in place of a small model that
writes ``"King King King"`` or copies schema text into values. :func:`sample_value` gives one
parameter's value, :func:`sample_arguments` the arguments of an API call; both draw every random
choice (Faker's included) from the caller's ``random.Random``, so one rng state gives one value.

How a value is chosen:

* ``const`` and ``enum`` are taken as they are (an enum member the rest of the schema refuses is
  skipped); ``anyOf``/``oneOf`` pick a branch, ``allOf`` is merged; a missing type is inferred
  from the keywords (``properties`` → object, ``pattern`` → string...) or the name.
* strings: a known ``format`` (date, date-time, time, email, uri/url, uuid, ipv4/6, hostname...)
  is written by its generator; otherwise the realism layer (:mod:`.value_hints`) offers
  spellings of a real thing by the parameter's name or description (``city`` → ``"Lisbon"``,
  ``currency`` → ``"EUR"``), and the first one the schema accepts wins; then ``pattern`` goes to
  the regex generator (:mod:`.patterns`), and anything else is a short noun phrase fitted to
  ``minLength``/``maxLength``.
* integers/numbers: a typical range by name (age 18-75, price 4.99-499.99...) cut by
  ``minimum``/``maximum``/exclusive bounds, on a round grid (``multipleOf`` when given); an
  integer is an ``int``, a number is a ``float`` on a fractional grid, else an ``int``.
* arrays: 1-3 items (within ``minItems``/``maxItems``, distinct under ``uniqueItems``), each
  named after the singular of the parameter (``cities`` → ``city``); objects: the required
  properties and, with probability :data:`OPTIONAL_PROBABILITY`, each optional one. Past
  :data:`MAX_DEPTH` only what is required is written.

Every value is checked with ``jsonschema`` (the validator and format checker
``check_arguments`` uses) and redrawn a few times; a schema no draw satisfies raises
:class:`ValueError` naming the parameter, so callers can fall back (e.g. on the LLM).
"""

from __future__ import annotations

import copy
import json
import math
import random
import string
import threading
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any, Iterable

from jsonschema import Draft202012Validator, FormatChecker

from toolace_kedro.toolcalls.patterns import sample_pattern
from toolace_kedro.toolcalls.schema import check_arguments, normalize_schema
from toolace_kedro.toolcalls.value_hints import (
    FORMAT_TEXTS,
    description_words,
    find_hint,
    in_order,
    noun_phrase,
    singular,
    tokens,
)

__all__ = ["MAX_DEPTH", "OPTIONAL_PROBABILITY", "sample_arguments", "sample_value"]

#: nesting below which optional properties and extra array items are still written
MAX_DEPTH = 4
#: how deep required nesting may go before the schema is given up on
_HARD_DEPTH = 16
#: chance that an object gets each of its optional properties
OPTIONAL_PROBABILITY = 0.3
_ATTEMPTS = 8
_SHORTEST = 4
_DEFAULT_INTEGER = (1, 100, 1)
_DEFAULT_NUMBER = (1.0, 100.0, 0.5, 0.0)
_FORMATS = FormatChecker()
_local = threading.local()


def sample_value(name: str, schema: dict[str, Any], rng: random.Random, description: str = "") -> Any:
    """A realistic value of ``schema``'s JSON type for the parameter ``name`` (see the module
    docstring). Raises :class:`ValueError` when no draw validates."""
    schema = _as_schema(normalize_schema(schema))
    sampler = _Sampler(rng)
    problem = "no draw validates"
    for _ in range(_ATTEMPTS):
        try:
            value = sampler.value(name, schema, description, 0)
        except ValueError as exc:
            problem = str(exc)
            continue
        if _valid(schema, value):
            return value
    raise ValueError(f"parameter {name!r}: cannot sample a value for schema {_short(schema)}: {problem}")


def sample_arguments(api: dict[str, Any], rng: random.Random, names: Iterable[str] | None = None) -> dict[str, Any]:
    """Values for the parameters ``names`` (default: the required ones) of an API definition,
    checked with :func:`~toolace_kedro.toolcalls.check_arguments` (a required parameter left
    out of an explicit ``names`` is not a problem). Raises :class:`ValueError` for a name the
    API does not declare or a value that cannot be sampled."""
    params = normalize_schema(api.get("parameters") or {"type": "object", "properties": {}})
    props = params.get("properties") or {}
    chosen = list(params.get("required") or []) if names is None else list(names)
    unknown = [n for n in chosen if n not in props]
    if unknown:
        raise ValueError(f"API {api.get('name')!r} has no parameters {unknown}")
    args = {n: sample_value(n, props[n], rng, _description(props[n])) for n in dict.fromkeys(chosen)}
    args = in_order(args, lambda key, value: _valid(props[key], value))
    problems = [p for p in check_arguments(params, args)
                if not (names is not None and p.kind == "missing_required" and not p.path)]
    if problems:
        raise ValueError(f"API {api.get('name')!r}: sampled arguments break the schema: {problems[0].message}")
    return args


class _Sampler:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._fk: Any = None

    @property
    def fk(self) -> Any:
        """This thread's Faker, drawing from the caller's rng (imported lazily: importing Faker is slow)."""
        if self._fk is None:
            fk = getattr(_local, "faker", None)
            if fk is None:
                from faker import Faker

                fk = _local.faker = Faker("en_US")
            fk.random = self.rng
            self._fk = fk
        return self._fk

    def value(self, name: str, schema: Any, description: str, depth: int) -> Any:
        if depth > _HARD_DEPTH:
            raise ValueError(f"schema of {name!r} nests required values deeper than {_HARD_DEPTH}")
        schema = _as_schema(schema)
        description = _description(schema) or description
        if "const" in schema:
            return copy.deepcopy(schema["const"])
        if isinstance(schema.get("enum"), list):
            fitting = [v for v in schema["enum"] if _valid(schema, v)]
            if not fitting:
                raise ValueError(f"no member of the enum of {name!r} fits its schema")
            return copy.deepcopy(self.rng.choice(fitting))
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                return self._branch(name, schema, key, description, depth)
        if isinstance(schema.get("allOf"), list):
            schema = _merge_all(schema)
        kind = self._type(name, schema, description)
        if kind == "null":
            return None
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind in ("integer", "number"):
            return self._number(name, schema, description, kind == "integer")
        if kind == "array":
            return self._array(name, schema, description, depth)
        if kind == "object":
            return self._object(name, schema, description, depth)
        return self._string(name, schema, description)

    def _branch(self, name: str, schema: dict, key: str, description: str, depth: int) -> Any:
        rest = {k: v for k, v in schema.items() if k != key}
        branches = [_as_schema(b) for b in schema[key]]
        self.rng.shuffle(branches)
        branches.sort(key=lambda b: b.get("type") == "null")  # a real value before null
        for branch in branches:
            try:
                value = self.value(name, {**rest, **branch}, description, depth)
            except ValueError:
                continue
            if _valid(schema, value):
                return value
        raise ValueError(f"no branch of the {key} of {name!r} gives a valid value")

    def _type(self, name: str, schema: dict, description: str) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            real = [k for k in kind if k != "null"]
            return self.rng.choice(real) if real else "null"
        if isinstance(kind, str):
            return kind
        if {"properties", "required", "additionalProperties", "minProperties"} & schema.keys():
            return "object"
        if {"items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains"} & schema.keys():
            return "array"
        if {"pattern", "format", "minLength", "maxLength"} & schema.keys():
            return "string"
        if {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"} & schema.keys():
            return "number"
        hint = find_hint(name, description)
        return hint.kind if hint else "string"

    # -- strings ---------------------------------------------------------------------------------
    def _string(self, name: str, schema: dict, description: str) -> str:
        candidates: list[str] = []
        fmt = schema.get("format")
        if fmt in FORMAT_TEXTS:
            candidates += FORMAT_TEXTS[fmt](self.fk, self.rng, tokens(name))
        hint = find_hint(name, description, "string")
        if hint is not None and fmt not in FORMAT_TEXTS:
            if hint.text is not None:
                candidates += hint.text(self.fk, self.rng, tokens(name) + description_words(description))
            elif hint.integer is not None:  # a count or a year written as text ("page": "2")
                low, high, step = hint.integer
                candidates.append(str(self.rng.randrange(low, high + 1, step)))
        for candidate in candidates:
            if _valid(schema, candidate):
                return candidate
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        if isinstance(schema.get("pattern"), str):
            return sample_pattern(schema["pattern"], self.rng, name=name, min_length=low, max_length=high)
        text = candidates[0] if candidates else noun_phrase(name, description, self.rng)
        return self._fit(text, low, high)

    def _fit(self, text: str, low: int, high: int | None) -> str:
        """``text`` cut at a word (or padded with words) to ``low..high`` characters; under
        :data:`_SHORTEST` characters, random letters (a cut would give one value only)."""
        if high is not None and high < _SHORTEST and len(text) > high:
            length = self.rng.randint(max(low, min(1, high)), high)
            return "".join(self.rng.choice(string.ascii_uppercase) for _ in range(length))
        while len(text) < low:
            text += " " + noun_phrase("", "", self.rng)
        if high is not None and len(text) > high:
            cut = text[:high]
            if " " in cut.strip() and len(cut.rsplit(" ", 1)[0].rstrip(" ,;:-")) >= max(low, 1):
                cut = cut.rsplit(" ", 1)[0].rstrip(" ,;:-")
            text = cut.strip() if len(cut.strip()) >= low else cut
        return text

    # -- numbers ---------------------------------------------------------------------------------
    def _number(self, name: str, schema: dict, description: str, integer: bool) -> int | float:
        hint = find_hint(name, description, "integer" if integer else "number")
        if integer:
            low, high, step = (hint.integer or _integer_range(hint.number)) if hint else _DEFAULT_INTEGER
            tail = 0.0
        else:
            low, high, step, tail = (hint.number or (*hint.integer, 0.0)) if hint else _DEFAULT_NUMBER
        lo, hi = _bounds(schema, integer)
        multiple = schema.get("multipleOf")
        grids = [step, step / 10, step / 100, step / 1000]
        if isinstance(multiple, (int, float)) and not isinstance(multiple, bool) and multiple > 0:
            grids, tail = [_integer_step(multiple) if integer else multiple], 0.0
        a, b = max(low, lo), min(high, hi)
        closed = math.isfinite(lo) and math.isfinite(hi)
        if a > b or (closed and b - a < (0.5 if hint is None else 0.1) * (hi - lo)):
            # the typical range misses (or barely grazes) the bounds: use the bounds
            span = high - low
            a, b = (lo, hi) if closed else (lo, lo + span) if math.isfinite(lo) else \
                (hi - span, hi) if math.isfinite(hi) else (low, high)
        for i, grid in enumerate(grids):
            grid = max(1, round(grid)) if integer else grid
            k_low, k_high = math.ceil(a / grid), math.floor(b / grid)
            if k_low > k_high and i == len(grids) - 1:  # a coarse multipleOf: widen towards the bounds
                k_low, k_high = math.ceil(max(lo, a - 10 * grid) / grid), math.floor(min(hi, b + 10 * grid) / grid)
            if k_low <= k_high:
                break
        else:
            raise ValueError(f"no value of {name!r} lies on a grid of {grids[-1]} between {lo} and {hi}")
        if len(grids) == 1 and k_high - k_low < 4:  # a coarse multipleOf leaves too few values: widen, up first
            k_high = min(k_high + 5, math.floor(hi / grid) if math.isfinite(hi) else k_high + 5)
            k_low = max(min(k_low, k_high - 5), math.ceil(lo / grid) if math.isfinite(lo) else k_high - 5)
        places = 0 if integer else max(0, -Decimal(str(grid)).normalize().as_tuple().exponent)
        value: int | float = 0
        for _ in range(_ATTEMPTS * 4):  # float multipleOf: jsonschema wants value / multipleOf integral
            k = self.rng.randint(k_low, k_high)
            if integer:
                value = int(k * grid)
            else:
                value = round(k * grid, places)
                if tail and value - tail >= a:
                    value = round(value - tail, places + 2)  # 49.99 rather than 50
                value = float(value) if grid < 1 or not float(value).is_integer() else int(value)
            if _valid(schema, value):
                break
        return value

    # -- arrays and objects ----------------------------------------------------------------------
    def _array(self, name: str, schema: dict, description: str, depth: int) -> list:
        low, high = schema.get("minItems", 0), schema.get("maxItems")
        cap = 3 if depth < MAX_DEPTH else 0
        most = max(low, min(cap, high) if high is not None else cap)
        count = self.rng.randint(max(low, min(1, most)), most)
        prefix = schema.get("prefixItems") if isinstance(schema.get("prefixItems"), list) else []
        items = schema.get("items", {})
        item_name = singular(name)
        out: list = []
        while len(out) < count:
            sub = prefix[len(out)] if len(out) < len(prefix) else items
            if sub is False:
                break
            unique = bool(schema.get("uniqueItems"))
            for _ in range(10 if unique else 3):  # distinct items read better even when not required
                value = self.value(item_name, sub, description, depth + 1)
                if not any(_same(value, v) for v in out):
                    break
            else:
                if not unique:
                    out.append(value)
                    continue
                if len(out) >= low:
                    break
                raise ValueError(f"cannot find {low} distinct items for {name!r}")
            out.append(value)
        contains = schema.get("contains")
        if isinstance(contains, dict) and not any(_valid(contains, v) for v in out):
            value = self.value(item_name, contains, description, depth + 1)
            out[-1:] = [value] if high is not None and len(out) >= high else out[-1:] + [value]
        return out

    def _object(self, name: str, schema: dict, description: str, depth: int) -> dict:
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        required = [r for r in schema.get("required", []) if isinstance(r, str)]
        extra = schema.get("additionalProperties", {})
        extra = extra if isinstance(extra, dict) else {}
        out: dict[str, Any] = {}
        for key in dict.fromkeys(required):
            sub = props.get(key, extra)
            out[key] = self.value(key, sub, _description(sub), depth + 1)
        optional = [k for k in props if k not in out]
        chance = OPTIONAL_PROBABILITY if depth < MAX_DEPTH else 0.0
        picked = [k for k in optional if self.rng.random() < chance]
        needed = schema.get("minProperties", 0) - len(out) - len(picked)
        if needed > 0:
            picked += [k for k in optional if k not in picked][:needed]
        if not props and not required and isinstance(schema.get("additionalProperties"), dict) and depth < MAX_DEPTH:
            for _ in range(self.rng.randint(1, 2)):  # a map: a few entries named like the parameter
                out[self.fk.word()] = self.value(singular(name), extra, description, depth + 1)
        for key in picked:
            if schema.get("maxProperties") is not None and len(out) >= schema["maxProperties"]:
                break
            out[key] = self.value(key, props[key], _description(props[key]), depth + 1)
        return in_order(out, lambda key, value: _valid(props.get(key, {}), value))


# -- helpers -----------------------------------------------------------------------------------
def _as_schema(schema: Any) -> dict[str, Any]:
    if schema is True or schema is None:
        return {}
    if schema is False:
        raise ValueError("the schema `false` admits no value")
    if not isinstance(schema, dict):
        raise ValueError(f"a schema must be an object, not a {type(schema).__name__}")
    return schema


def _description(schema: Any) -> str:
    text = schema.get("description") if isinstance(schema, dict) else None
    return text if isinstance(text, str) else ""


def _merge_all(schema: dict) -> dict:
    """``allOf`` folded into one schema (properties and required joined, other keys overwritten)."""
    out = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        part = normalize_schema(_as_schema(part))
        if isinstance(part.get("allOf"), list):
            part = _merge_all(part)
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                out["properties"] = {**out.get("properties", {}), **value}
            elif key == "required" and isinstance(value, list):
                out["required"] = list(dict.fromkeys(out.get("required", []) + value))
            else:
                out[key] = value
    return out


def _bounds(schema: dict, integer: bool) -> tuple[float, float]:
    """Inclusive ``(low, high)`` of the values the numeric keywords allow (infinite when unset)."""
    lo, hi = -math.inf, math.inf
    for key, strict in (("minimum", False), ("exclusiveMinimum", True)):
        bound = schema.get(key)
        if isinstance(bound, (int, float)) and not isinstance(bound, bool):
            lo = max(lo, (math.floor(bound) + 1 if integer else _next_up(bound)) if strict else bound)
    for key, strict in (("maximum", False), ("exclusiveMaximum", True)):
        bound = schema.get(key)
        if isinstance(bound, (int, float)) and not isinstance(bound, bool):
            hi = min(hi, (math.ceil(bound) - 1 if integer else _next_down(bound)) if strict else bound)
    if integer:
        lo, hi = (math.ceil(lo) if math.isfinite(lo) else lo), (math.floor(hi) if math.isfinite(hi) else hi)
    return lo, hi


def _next_up(x: float) -> float:
    return x + max(abs(x) * 1e-9, 1e-6)


def _next_down(x: float) -> float:
    return x - max(abs(x) * 1e-9, 1e-6)


def _integer_range(number: tuple | None) -> tuple[int, int, int]:
    if number is None:
        return _DEFAULT_INTEGER
    low, high, step = number[:3]
    return math.ceil(low), math.floor(high), max(1, round(step))


def _integer_step(multiple: float) -> int:
    """The smallest positive integer that is a multiple of ``multiple`` (``0.5`` → 1, ``4`` → 4)."""
    return max(1, Fraction(str(multiple)).numerator)


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _valid(schema: Any, value: Any) -> bool:
    validator = _validator(_freeze(schema))
    return validator is not None and validator.is_valid(value)


def _freeze(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), default=str)


@lru_cache(maxsize=20_000)
def _validator(key: str) -> Draft202012Validator | None:
    schema = json.loads(key)
    if not isinstance(schema, (dict, bool)):
        return None
    return Draft202012Validator(schema, format_checker=_FORMATS)


def _short(schema: Any) -> str:
    text = _freeze(schema)
    return text if len(text) <= 160 else text[:157] + "..."
