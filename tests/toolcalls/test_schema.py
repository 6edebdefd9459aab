import pytest
from pydantic import ValidationError

from toolace_kedro.toolcalls import ApiDefinition, api_problems, check_arguments, normalize_schema


def test_aliases_are_normalised():
    raw = {"type": "dict", "properties": {
        "a": {"type": "float"}, "b": {"type": "tuple", "items": {"type": "int"}},
        "c": {"type": "any"}, "d": {"type": "list", "items": {"type": "dict", "properties": {"x": {"type": "str"}}}},
        "e": {"type": ["string", "bool"]}, "f": {"anyOf": [{"type": "dict"}, {"type": "null"}]}}}
    out = normalize_schema(raw)
    assert out["type"] == "object"
    props = out["properties"]
    assert props["a"] == {"type": "number"}
    assert props["b"] == {"type": "array", "items": {"type": "integer"}}
    assert props["c"] == {}
    assert props["d"]["items"]["properties"]["x"] == {"type": "string"}
    assert props["e"]["type"] == ["string", "boolean"]
    assert props["f"]["anyOf"][0] == {"type": "object"}
    assert raw["type"] == "dict"  # input untouched


def test_api_model_accepts_aliases_and_keeps_extras(weather_api):
    api = ApiDefinition.model_validate({**weather_api, "x_vendor": 1})
    assert api.parameters["type"] == "object"
    assert api.parameters["properties"]["hours"] == {"type": "number"}
    assert api.model_dump()["x_vendor"] == 1


@pytest.mark.parametrize("mutate, message", [
    (lambda a: a.pop("description"), "description"),
    (lambda a: a.update(name="bad name("), "name"),
    (lambda a: a["parameters"]["properties"]["city"].update(type="strng"), "strng"),
    (lambda a: a["parameters"].update(type="array"), "type object"),
    (lambda a: a["parameters"].update(required=["town"]), "undeclared"),
    (lambda a: a.update(returns=[1]), "returns"),
])
def test_api_model_rejects_invalid(weather_api, mutate, message):
    mutate(weather_api)
    with pytest.raises(ValidationError, match=message):
        ApiDefinition.model_validate(weather_api)


def test_api_problems_never_raise_and_classify():
    assert api_problems("nope") == [("missing", "API definition is a str, not an object")]
    kinds = {k for k, _ in api_problems({"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": 3}}}})}
    assert kinds == {"missing", "schema"}
    assert api_problems({"name": "f", "description": "d", "parameters": {"type": "object", "properties": {}}}) == []


@pytest.mark.parametrize("args, kinds", [
    ({"origin": "JFK", "destination": "LAX", "date": "2025-03-01"}, []),
    ({"origin": "JFK", "destination": "LAX", "date": "2025-03-01", "passengers": 2, "cabin": "business"}, []),
    ({"origin": "JFK", "destination": "LAX"}, ["missing_required"]),
    ({"origin": "JFK", "destination": "LAX", "date": "2025-03-01", "seat": "4A"}, ["unknown_argument"]),
    ({"origin": "JFK", "destination": "LAX", "date": "2025-03-01", "passengers": "2"}, ["type_mismatch"]),
    ({"origin": "JFK", "destination": "LAX", "date": "2025-03-01", "passengers": True}, ["type_mismatch"]),
    ({"origin": "jfk", "destination": "LAX", "date": "2025-03-01"}, ["value_invalid"]),  # pattern
    ({"origin": "JFK", "destination": "LAX", "date": "2025-02-30"}, ["value_invalid"]),  # format
    ({"origin": "JFK", "destination": "LAX", "date": "2025-03-01", "passengers": 12}, ["value_invalid"]),  # bounds
    ({"origin": "JFK", "destination": "LAX", "date": "2025-03-01", "cabin": "first"}, ["value_invalid"]),  # enum
])
def test_check_arguments(flight_api, args, kinds):
    assert [p.kind for p in check_arguments(flight_api["parameters"], args)] == kinds


def test_integer_is_a_number_and_nested_items_are_checked():
    schema = {"type": "dict", "properties": {
        "x": {"type": "float"},
        "legs": {"type": "array", "items": {"type": "dict", "properties": {"age": {"type": "integer"}}, "required": ["age"]}}}}
    assert check_arguments(schema, {"x": 3, "legs": [{"age": 3}]}) == []
    problems = check_arguments(schema, {"x": 3, "legs": [{"age": "3"}, {}]})
    assert [(p.kind, p.path) for p in problems] == [("type_mismatch", "legs/0/age"), ("missing_required", "legs/1")]


def test_email_and_datetime_formats():
    schema = {"type": "object", "properties": {"e": {"type": "string", "format": "email"},
                                               "t": {"type": "string", "format": "date-time"}}}
    assert check_arguments(schema, {"e": "a@b.org", "t": "2025-01-01T10:00:00Z"}) == []
    assert [p.kind for p in check_arguments(schema, {"e": "nope", "t": "tomorrow"})] == ["value_invalid"] * 2


def test_invalid_schema_and_non_dict_arguments_are_reported():
    assert check_arguments({"type": "object", "properties": {"a": {"type": "strng"}}}, {"a": 1})[0].kind == "value_invalid"
    assert check_arguments({"type": "object"}, [1])[0].kind == "type_mismatch"


def test_api_problem_uses_the_verification_rule_ids(flight_api):
    from toolace_kedro.toolcalls import api_problem

    assert api_problem(flight_api) is None
    assert api_problem({"name": "x"}) == "api.missing_field: API 'x' has no description (+1 more)"
    bad = {**flight_api, "parameters": {"type": "object", "properties": {"a": {"type": "strin"}}}}
    assert api_problem(bad).startswith("api.schema_invalid: API 'search_flights' parameters: properties/a/type")
    assert api_problem("api") == "api.missing_field: API definition is a str, not an object"


def test_arrays_in_parameters_must_declare_an_item_type(flight_api):
    from toolace_kedro.toolcalls import api_problem
    from toolace_kedro.toolcalls.schema import untyped_arrays

    schema = normalize_schema({"type": "dict", "properties": {
        "tags": {"type": "array"},
        "point": {"type": "tuple"},
        "legs": {"type": "list", "items": {"type": "dict", "properties": {"stops": {"type": "array"}}}},
        "maybe": {"anyOf": [{"type": ["array", "null"]}, {"type": "string"}]},
        "map": {"type": "object", "additionalProperties": {"type": "array"}},
        "fine": {"type": "array", "items": {}},  # "any item" is still a declaration (BFCL's "any")
        "pair": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "array"}]}}})
    assert untyped_arrays(schema) == ["tags", "point", "legs[].stops", "maybe", "map.*", "pair[1]"]
    assert untyped_arrays({"type": "array"}) == ["<parameters>"]
    api = {**flight_api, "parameters": {"type": "object", "properties": {"seats": {"type": "array"}}}}
    assert api_problem(api) == ("api.schema_invalid: API 'search_flights' parameters: array 'seats' declares no "
                                "item type (items)")
    with pytest.raises(ValidationError, match="'seats' declares no item type"):
        ApiDefinition.model_validate(api)
    # returns only guide the tool agent: an array of anything is allowed there
    loose = {**flight_api, "returns": {"type": "object", "properties": {"flights": {"type": "array"}}}}
    assert api_problems(loose) == []
