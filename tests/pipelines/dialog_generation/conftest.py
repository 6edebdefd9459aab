"""A scripted model for the dialog_generation tests: schema-valid answers for every agent."""

import copy
import json

import pytest

from tests.support.fakes import ScriptedLLM
from toolace_kedro.pipelines.dialog_generation.agents import _stated

PARAMS = {
    "n_dialogs": 20, "type_mix": {"single": 1, "parallel": 1, "dependent": 1, "non_tool": 1, "clarify": 1},
    "distractors": 1, "chunk_size": 8,
    "self_consistency": {"samples": 3, "threshold": 0.6, "temperature": 0.5},
    "max_tokens": {"user": 80, "assistant": 160, "tool": 96},
    "complexity": {"enabled": False, "policy_model": None, "lower": None, "upper": None,
                   "prior_quantiles": [0.1, 0.9], "prior_size": 20, "max_rounds": 1, "batch_size": 4},
    "seed": 0,
}

POOL = [
    {"name": "get_weather", "description": "Weather for a city.", "domain": "Weather/Forecast",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
                    "required": ["city"]},
     "returns": {"type": "object", "properties": {"temperature": {"type": "number"}}}},
    {"name": "get_air_quality", "description": "Air quality index for a city.", "domain": "Weather/Air",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
     "returns": {"type": "object", "properties": {"aqi": {"type": "integer"}}}},
    {"name": "book_table", "description": "Book a restaurant table.", "domain": "Food/Restaurants",
     "parameters": {"type": "object", "properties": {
         "restaurant": {"type": "string"}, "guests": {"type": "integer"},
         "date": {"type": "string", "format": "date"}, "area": {"type": "string", "enum": ["in", "out"]}},
         "required": ["restaurant", "guests"]},
     "returns": {"type": "object", "properties": {"booking_id": {"type": "string"}}}},
    {"name": "search_recipes", "description": "Find recipes by ingredient.", "domain": "Food/Recipes",
     "parameters": {"type": "object", "properties": {"ingredients": {"type": "array", "items": {"type": "string"}}},
                    "required": ["ingredients"]}},
]


def fake_value(schema, depth=0):
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return fake_value(schema["anyOf"][0], depth)
    kind = schema.get("type", "object")
    if kind == "string":
        return {"date": "2025-01-01"}.get(schema.get("format"), "value" + "x" * max(0, schema.get("minLength", 0) - 5))
    if kind == "integer":
        return max(2, schema.get("minimum", 2))
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "array":
        item = schema.get("items", {"type": "string"})
        if isinstance(item, dict) and "anyOf" in item:
            return [fake_value(o, depth + 1) for o in item["anyOf"]][: schema.get("maxItems", 9)]
        return [fake_value(item, depth + 1) for _ in range(schema.get("minItems", 1))]
    props = schema.get("properties", {})
    return {k: fake_value(v, depth + 1) for k, v in props.items() if k in schema.get("required", props)}


def scripted_dialog_answer(conv, params, schema):
    props = (schema or {}).get("properties", {})
    if "values" in props:
        return json.dumps({"values": fake_value(props["values"])})
    if "request" in props:
        text = conv[-1]["content"]
        if "Write the user's next request" in text:  # a follow-up: the reference, then its new values
            ref = text.split("refers to ", 1)[1].split(" from before", 1)[0]
            values = json.loads(text.split("The values: ", 1)[1]) if "The values: " in text else {}
            return json.dumps({"request": "Please help me with " + " and ".join([ref] + _stated(values)) + " today."})
        if "The values: " in text:  # state every chosen value, as the request's pattern demands
            values = json.loads(text.split("The values: ", 1)[1])
            return json.dumps({"request": "Please help me with " + " and ".join(_stated(values)) + " today."})
        return json.dumps({"request": "Please help me with this, for Paris and two guests."})
    if "reply" in props:
        return json.dumps({"reply": "It is the Blue Door restaurant."})
    if "thought" in props:
        out = {"thought": "The user asks for this and gave the values."}
        if "calls" in props:
            out["calls"] = fake_value(props["calls"])
        else:
            key = "question" if "question" in props else "answer"
            out[key] = "Which restaurant do you mean?" if key == "question" else "Here is what I found."
            if props[key].get("pattern", "").startswith("^(Sorry"):  # a decline
                out[key] = "Sorry, none of my functions can do that."
        return json.dumps(out)
    return json.dumps(fake_value(schema))  # tool agent


@pytest.fixture
def dialog_params():
    return copy.deepcopy(PARAMS)


@pytest.fixture
def api_pool():
    return copy.deepcopy(POOL)


@pytest.fixture
def dialog_llm():
    return ScriptedLLM(scripted_dialog_answer)
