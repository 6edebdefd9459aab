"""The rule layer: every rule id caught alone, clean samples of every type pass, malformed input
never raises, and a sample that passes the rules is a valid canonical DialogSample."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pipelines.verification.conftest import clean_samples
from tests.support.strategies import JSON_VALUE, dialog_samples
from toolace_kedro.pipelines.verification import rules
from toolace_kedro.pipelines.verification.config import RuleParams
from toolace_kedro.pipelines.verification.rules import RULE_IDS, check_sample, sample_problems
from toolace_kedro.toolcalls import DialogSample, to_toolace


def _single():
    return clean_samples()["single"]


def _nested():
    return clean_samples()["dependent_nested"]


def _set(sample, path, value):
    node = sample
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return sample


def _delete(sample, path):
    node = sample
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return sample


CALL = ("messages", 1, "tool_calls", 0)
ARGS = CALL + ("arguments",)
TRIP_ARGS = ("messages", 3, "tool_calls", 0, "arguments")


def _rename_call(sample, name):
    _set(sample, CALL + ("name",), name)
    return _set(sample, ("messages", 2, "content", 0, "name"), name)


def _insert(sample, index, message):
    sample["messages"].insert(index, message)
    return sample


#: (rule id, case name, sample that breaks only that rule)
BREAKERS = [
    ("api.schema_invalid", "unknown type in a distractor",
     _set(_single(), ("tools", 1, "parameters", "properties", "city", "type"), "strnig")),
    ("api.schema_invalid", "required names an undeclared parameter",
     _set(_single(), ("tools", 1, "parameters", "required"), ["town"])),
    ("api.schema_invalid", "two tools with one name", _set(_single(), ("tools", 1, "name"), "search_flights")),
    ("api.schema_invalid", "an array parameter without item type",
     _set(_single(), ("tools", 1, "parameters", "properties", "days"), {"type": "tuple"})),
    ("api.schema_invalid", "a nested array without item type",
     _delete(_nested(), ("tools", 1, "parameters", "properties", "legs", "items", "items"))),
    ("api.missing_field", "a tool without description", _delete(_single(), ("tools", 1, "description"))),
    ("api.missing_field", "a tool without parameters", _delete(_single(), ("tools", 0, "parameters"))),
    ("call.unknown_function", "a call to an unlisted tool", _rename_call(_single(), "search_flight")),
    ("call.missing_required", "required argument left out", _delete(_single(), ARGS + ("date",))),
    ("call.missing_required", "nested required field left out", _delete(_nested(), TRIP_ARGS + ("travellers", 1, "age"))),
    ("call.unknown_argument", "an undeclared argument", _set(_single(), ARGS + ("seat",), "12A")),
    ("call.unknown_argument", "an undeclared nested field", _set(_nested(), TRIP_ARGS + ("travellers", 0, "vip"), True)),
    ("call.type_mismatch", "a string for an integer", _set(_single(), ARGS + ("passengers",), "two")),
    ("call.type_mismatch", "a boolean for a number", _set(_nested(), TRIP_ARGS + ("budget",), True)),
    ("call.type_mismatch", "a number inside an array of arrays of strings", _set(_nested(), TRIP_ARGS + ("legs", 0, 1), 7)),
    ("call.value_invalid", "pattern", _set(_single(), ARGS + ("origin",), "jfk")),
    ("call.value_invalid", "date format", _set(_single(), ARGS + ("date",), "2025-13-01")),
    ("call.value_invalid", "email format", _set(_nested(), TRIP_ARGS + ("contact",), "ana at example")),
    ("call.value_invalid", "maximum", _set(_single(), ARGS + ("passengers",), 12)),
    ("call.value_invalid", "enum", _set(_single(), ARGS + ("cabin",), "first")),
    ("call.value_invalid", "nested minimum", _set(_nested(), TRIP_ARGS + ("travellers", 1, "age"), -1)),
    ("dialog.missing_field", "no id", _delete(_single(), ("id",))),
    ("dialog.missing_field", "unknown type", _set(_single(), ("type",), "multi")),
    ("dialog.missing_field", "user turn without content", _delete(_single(), ("messages", 0, "content"))),
    ("dialog.missing_field", "a result without results", _delete(_single(), ("messages", 2, "content", 0, "results"))),
    ("dialog.too_long", "a 2,500-character answer", _set(_single(), ("messages", 3, "content"), "Flight UA1. " * 210)),
    ("dialog.invalid_chars", "a control character", _set(_single(), ("messages", 3, "content"), "Flight UA1\x07 is booked.")),
    ("dialog.invalid_chars", "a replacement character in a result",
     _set(_single(), ("messages", 2, "content", 0, "results", "flights", 0, "id"), "UA\ufffd1")),
    ("dialog.mixed_language", "a Chinese answer to an English request",
     _set(_single(), ("messages", 3, "content"), "从肯尼迪机场到洛杉矶的航班是UA1，三月一日出发。")),
    ("dialog.incomplete", "ends with the tool turn", _delete(_single(), ("messages", 3))),
    ("dialog.incomplete", "an empty final answer", _set(_single(), ("messages", 3, "content"), "  ")),
    ("consistency.name_mismatch", "result named after another function",
     _set(_single(), ("messages", 2, "content", 0, "name"), "Weather Forecast API")),
    ("consistency.name_mismatch", "two results for one call",
     _set(_single(), ("messages", 2, "content"), [{"name": "search_flights", "results": {}}] * 2)),
    ("consistency.format_conflict", "text beside the calls", _set(_single(), ("messages", 1, "content"), "Searching.")),
    ("consistency.format_conflict", "the answer is a call string",
     _set(clean_samples()["non_tool"], ("messages", 1, "content"), '[search_flights(origin="JFK", destination="LAX", date="2025-03-01")]')),
    ("consistency.format_conflict", "the answer is JSON calls",
     _set(clean_samples()["non_tool"], ("messages", 1, "content"), '[{"name": "search_flights", "arguments": {}}]')),
    ("consistency.format_conflict", "arguments as a JSON string", _set(_single(), ARGS, '{"origin": "JFK"}')),
    ("consistency.format_conflict", "an OpenAI tool_call_id", _set(_single(), ("messages", 2, "tool_call_id"), "c1")),
    ("consistency.role_order", "two user turns", _insert(_single(), 0, {"role": "user", "content": "Hello there."})),
    ("consistency.role_order", "starts with an answer",
     _insert(_single(), 0, {"role": "assistant", "content": "How can I help?"})),
    ("consistency.role_order", "two answers", _insert(_single(), 4, {"role": "assistant", "content": "Anything else?"})),
    ("consistency.tool_without_call", "a second tool turn",
     _insert(_single(), 3, {"role": "tool", "content": [{"name": "search_flights", "results": {}}]})),
    ("consistency.tool_without_call", "a tool turn after the user",
     _insert(clean_samples()["non_tool"], 1, {"role": "tool", "content": [{"name": "search_flights", "results": {}}]})),
    ("consistency.call_without_result", "calls then the answer", _delete(_single(), ("messages", 2))),
    ("consistency.call_without_result", "calls then the user", _insert(_delete(_single(), ("messages", 2)), 2,
                                                                  {"role": "user", "content": "Hurry up please."})),
]


def test_every_rule_id_has_a_breaker():
    assert {rule for rule, _, _ in BREAKERS} == set(RULE_IDS)


@pytest.mark.parametrize(("rule", "sample"), [(r, s) for r, _, s in BREAKERS], ids=[f"{r}:{c}" for r, c, _ in BREAKERS])
def test_breaking_one_rule_is_caught_by_that_rule_alone(rule, sample):
    assert check_sample(sample) == [rule], sample_problems(sample)


@pytest.mark.parametrize("name", list(clean_samples()))
def test_clean_samples_of_every_type_pass(name):
    sample = clean_samples()[name]
    assert check_sample(sample) == [], sample_problems(sample)
    DialogSample.model_validate(sample)


def test_fixtures_of_the_test_suite_pass(dialog, flight_api, weather_api):
    assert check_sample(dialog) == []
    with_both = {**dialog, "tools": [flight_api, weather_api]}
    assert check_sample(with_both) == []


def test_params_change_the_thresholds():
    sample = _single()
    assert check_sample(sample, {"max_answer_chars": 20}) == ["dialog.too_long"]
    assert check_sample(sample, RuleParams(max_answer_chars=20)) == ["dialog.too_long"]  # the typed block too
    mixed = _set(_single(), ("messages", 3, "content"), "Flight UA1 goes from 肯尼迪 to LAX on March 1.")
    assert check_sample(mixed) == []  # 2 of 12 words: under the 0.2 default
    assert check_sample(mixed, {"mixed_language_threshold": 0.1}) == ["dialog.mixed_language"]
    open_nested = _set(_nested(), TRIP_ARGS + ("travellers", 0, "vip"), True)
    assert check_sample(open_nested, {"closed_objects": False}) == []


def test_problems_name_the_place():
    problems = sample_problems(_set(_single(), ARGS + ("passengers",), 12))
    assert problems == [("call.value_invalid", "message 1 call 0: search_flights(passengers): 12 is greater than the maximum of 9")]


def test_untyped_arrays_are_named_and_allowed_in_returns():
    legs = ("tools", 1, "parameters", "properties", "legs")
    problems = sample_problems(_set(_nested(), legs, {"type": "array", "items": {"type": "list"}}))
    assert problems == [("api.schema_invalid",
                         "tool 1: API 'book_trip' parameters: array 'legs[]' declares no item type (items)")]
    loose_returns = _set(_single(), ("tools", 0, "returns"), {"type": "object", "properties": {"flights": {"type": "array"}}})
    assert check_sample(loose_returns) == []


def test_several_defects_give_several_ids():
    sample = _delete(_set(_single(), ARGS + ("cabin",), "first"), ("messages", 3))
    assert check_sample(sample) == ["call.value_invalid", "dialog.incomplete"]


MALFORMED = [
    None, "a string", 42, [], {}, {"messages": "not a list"},
    {"id": "x", "type": "single", "tools": [], "messages": []},
    {"id": "x", "type": "single", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
    {"id": "x", "type": "single", "tools": "nope", "messages": ["user: hi", "assistant: hello"]},
    {"id": "x", "type": "single", "tools": ["not an api", None, 3],
     "messages": [{"role": "user", "content": ["a", "list"]}, {"role": None}, {"content": "no role"}]},
    {"id": "x", "type": "single", "tools": [{"name": "f", "description": "d", "parameters": "a string"}],
     "messages": [{"role": "user", "content": "call f"},
                  {"role": "assistant", "tool_calls": "f(a=1)"},
                  {"role": "tool", "content": "raw text result"},
                  {"role": "assistant", "tool_calls": [None, "f()", {"name": None}, {"name": "f", "arguments": "{}"}]},
                  {"role": "tool", "content": [None, {"name": 3}, {"results": 1}]},
                  {"role": "assistant", "content": None, "thought": 7}]},
    {"id": 7, "type": ["single"], "tools": [{"name": "f" * 300, "description": "d",
                                              "parameters": {"type": "object", "properties": {"a": {"type": 5}}}}],
     "messages": [{"role": "tool"}], "meta": "m"},
]


@pytest.mark.parametrize("sample", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_samples_give_rule_ids_and_never_raise(sample):
    ids = _strict_ids(sample)
    assert ids and set(ids) <= set(RULE_IDS) and check_sample(sample) == ids


def test_deep_nesting_does_not_raise():
    deep: object = "x"
    for _ in range(5000):
        deep = [deep]
    sample = _set(_single(), ARGS + ("origin",), deep)
    deep_schema: dict = {"type": "string"}
    for _ in range(5000):
        deep_schema = {"type": "object", "properties": {"x": deep_schema}}
    sample["tools"][1]["parameters"]["properties"]["city"] = deep_schema
    assert set(_strict_ids(sample)) <= set(RULE_IDS) and _strict_ids(sample)


def _strict_ids(sample):
    """check_sample without its last-resort guard, so any exception in a rule surfaces."""
    out = []
    rules._check(sample, RuleParams(), out)
    found = {rule for rule, _ in out}
    return [r for r in RULE_IDS if r in found]


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


@settings(max_examples=int(__import__("os").environ.get("FUZZ", 300)), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_samples_never_raise_and_passing_means_canonical(data):
    """Replace or delete any node of a clean sample: the rules never raise, and whatever still
    passes them is a valid DialogSample (so verified dialogs round-trip through the converters)."""
    sample = copy.deepcopy(data.draw(st.sampled_from(list(clean_samples().values()))))
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(sample) if p]
        path = data.draw(st.sampled_from(paths))
        if data.draw(st.booleans()):
            _set(sample, path, data.draw(JSON_VALUE))
        else:
            _delete(sample, path)
    ids = _strict_ids(sample)
    assert set(ids) <= set(RULE_IDS)
    if not ids:
        DialogSample.model_validate(sample)
        to_toolace(sample)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dialog_samples())
def test_generated_samples_never_raise_and_passing_means_canonical(sample):
    ids = _strict_ids(sample)
    assert set(ids) <= set(RULE_IDS)
    if not ids:
        DialogSample.model_validate(sample)


def test_scripts_of_words():
    from toolace_kedro.pipelines.verification.language import foreign_share, script_words

    assert set(script_words("東京でラーメンを食べたい")) == {"CJK"}  # kanji and kana are one writing system
    assert script_words("Привет, мир! hello") == {"CYRILLIC": 2, "LATIN": 1}
    assert script_words("café naïve Straße") == {"LATIN": 3}
    assert foreign_share(["Find flights to 東京 please", "Sure, here they are."]) == (1 / 9, "LATIN")  # 東京: two characters, one word
    assert foreign_share(["12:30 !!"]) == (0.0, None)
