"""The executability fast path never says "valid" where jsonschema does not; the tool cache is
exact; nested objects are closed."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from tests.conftest import FLIGHT_API
from tests.support.strategies import JSON_VALUE
from toolace_kedro.pipelines.verification import executability
from toolace_kedro.pipelines.verification.executability import (
    argument_problems,
    close_objects,
    compile_validity,
    tool_entry,
)

LEAF = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["string", "integer", "number", "boolean", "null"])},
                          optional={"minimum": st.integers(-5, 5), "maximum": st.floats(-5, 5),
                                    "exclusiveMinimum": st.integers(-5, 5), "minLength": st.integers(0, 3),
                                    "maxLength": st.integers(0, 5), "pattern": st.sampled_from(["^[a-z]+$", "x", "^\\d"]),
                                    "format": st.sampled_from(["date", "email", "date-time", "unknown-format"]),
                                    "description": st.text(max_size=5)}),
    st.fixed_dictionaries({"enum": st.lists(st.one_of(st.booleans(), st.integers(-2, 2), st.floats(-2, 2),
                                                      st.sampled_from(["a", "b"]), st.none(), st.just([1])),
                                            min_size=1, max_size=4)}),
    st.fixed_dictionaries({"const": st.one_of(st.integers(0, 2), st.booleans(), st.just(1.0), st.just("a"))}),
    st.fixed_dictionaries({"type": st.just(["string", "null"])}),
    st.just({}),
    st.just({"type": "string", "uniqueItems": True}),  # a keyword outside the fast path
)
SCHEMA = st.recursive(LEAF, lambda inner: st.one_of(
    st.fixed_dictionaries({"type": st.just("array"), "items": inner},
                          optional={"minItems": st.integers(0, 2), "maxItems": st.integers(0, 3)}),
    st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3).flatmap(lambda props: st.fixed_dictionaries(
        {"type": st.just("object"), "properties": st.just(props)},
        optional={"required": st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=3),
                  "additionalProperties": st.one_of(st.booleans(), inner)})),
), max_leaves=6)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-6, 6), st.floats(-6, 6, allow_nan=False),
                    st.sampled_from(["", "a", "abc", "ABC", "2025-01-31", "2025-13-01", "x@y.org", "1x", "b"]))


def near(schema):
    """Values shaped like ``schema`` (so the fast path's "valid" answers get exercised)."""
    if not isinstance(schema, dict):
        return SCALARS
    if schema.get("type") == "array":
        return st.lists(near(schema["items"]), max_size=3)
    if schema.get("type") == "object":
        props = schema.get("properties", {})
        return st.fixed_dictionaries({}, optional={k: near(v) for k, v in props.items()} | {"z": SCALARS})
    return SCALARS


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fast_path_is_sound_against_jsonschema(data):
    schema = data.draw(SCHEMA)
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    fast = compile_validity(schema)
    value = data.draw(st.one_of(near(schema), JSON_VALUE))
    if fast is not None and fast(value):
        assert validator.is_valid(value), (schema, value)


def test_fast_path_steps_aside_for_other_keywords():
    assert compile_validity({"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}}}) is None
    assert compile_validity({"type": "array", "uniqueItems": True}) is None
    assert compile_validity({"type": "object", "properties": {"a": {"type": "string", "x-note": 1}}}) is not None


def test_fast_path_answers_valid_and_unsure():
    check = compile_validity({"type": "object", "properties": {"n": {"type": "number"}, "i": {"type": "integer"},
                                                               "e": {"enum": [1, "a"]}}})
    assert check({"n": 3, "i": 2, "e": 1}) and check({"n": 2.5, "e": "a"})
    assert not check({"n": True}) and not check({"e": True})  # True is neither a number nor 1
    assert not check({"i": 2.0})  # jsonschema accepts 2.0 as an integer: the fast path leaves it to it


def test_closed_objects_reach_nested_fields_only_through_properties_and_items():
    schema = {"type": "object", "properties": {
        "a": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "string"}}}},
        "b": {"anyOf": [{"type": "object", "properties": {"y": {}}}]},
        "c": {"type": "object", "properties": {"z": {}}, "additionalProperties": {"type": "string"}}}}
    closed = close_objects(schema)
    assert closed["additionalProperties"] is False
    assert closed["properties"]["a"]["items"]["additionalProperties"] is False
    assert "additionalProperties" not in closed["properties"]["b"]["anyOf"][0]
    assert closed["properties"]["c"]["additionalProperties"] == {"type": "string"}


def test_tool_cache_is_keyed_by_exact_content():
    executability._cache.clear()
    first = tool_entry(copy.deepcopy(FLIGHT_API))
    assert tool_entry(copy.deepcopy(FLIGHT_API)) is first
    changed = copy.deepcopy(FLIGHT_API)
    changed["parameters"]["properties"]["cabin"]["enum"] = ["economy", True]
    assert tool_entry(changed) is not first
    bools = {**FLIGHT_API, "parameters": {**FLIGHT_API["parameters"], "properties": {"a": {"enum": [True]}}}}
    ones = {**FLIGHT_API, "parameters": {**FLIGHT_API["parameters"], "properties": {"a": {"enum": [1]}}, "required": []}}
    bools["parameters"]["required"] = []
    assert argument_problems(tool_entry(ones), {"a": True})[0][0] == "call.value_invalid"
    assert argument_problems(tool_entry(bools), {"a": True}) == []


def test_argument_problems_come_from_jsonschema():
    entry = tool_entry(FLIGHT_API)
    assert argument_problems(entry, {"origin": "JFK", "destination": "LAX", "date": "2025-03-01"}) == []
    problems = argument_problems(entry, {"origin": "JFK", "destination": "LAX", "date": "March 1", "pets": 2})
    assert sorted(rule for rule, _ in problems) == ["call.unknown_argument", "call.value_invalid"]
