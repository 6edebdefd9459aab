"""A scripted synthesis model for the api_synthesis tests: valid, varied answers per prompt kind."""

import hashlib
import json
import re

import pytest

from tests.support.fakes import ScriptedLLM

PARAMS = {
    "documents": {"min_chars": 20, "max_chars": 5000, "max_control_ratio": 0.05},
    "speciation": {"max_functionalities": 3, "max_depth": 3, "children_per_node": 2, "max_expansions_per_level": 6,
                   "merge_threshold": 0.8, "max_tokens_extract": 96, "max_tokens_expand": 48, "seed": 0},
    "evolution": {"n_generations": 2, "apis_per_generation": 6, "diversity_levels": {1: 0.5, 2: 0.5},
                  "indicators": None, "max_parameters": 5, "max_tokens_api": 300,
                  "near_duplicate_threshold": 0.75, "seed": 0},
}

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"]


def _word(text: str, salt: int = 0) -> str:
    digest = int(hashlib.sha256(f"{salt}{text}".encode()).hexdigest(), 16)
    return WORDS[digest % len(WORDS)] + WORDS[(digest // 12) % len(WORDS)]


def scripted_answer(conv, params, schema):
    last = conv[-1]["content"]
    props = (schema or {}).get("properties", {})
    if "subdomain" in props:  # extraction
        topic = re.search(r"Document: (\w+)", last).group(1).capitalize()
        return json.dumps({"domain": topic, "subdomain": topic + " Services",
                           "functionalities": [f"{w} {topic.lower()}" for w in ("search", "book", "cancel")]})
    if "functions" in props:  # expansion
        area = last.split(">")[-1].split(".")[0].strip()
        return json.dumps({"functions": [f"{area} by date", f"{area} in bulk"]})
    if "parameters" in props:  # evolution draft
        name = f"{_word(last)}_{_word(last, 1)}"
        nested = int(hashlib.sha256(last.encode()).hexdigest(), 16) % 2 == 0
        params_ = [{"name": "query", "type": "string", "description": "What to look for", "required": True}]
        if nested:
            params_.append({"name": "items", "type": "array<object>", "description": "Items", "required": False,
                            "fields": ["sku:string"]})
        else:
            params_.append({"name": "limit", "type": "integer", "description": "Max results", "required": False,
                            "range": [1, 50]})
        return json.dumps({"name": name, "description": f"Does {name.replace('_', ' ')} for {_word(last, 2)} users.",
                           "parameters": params_, "returns": ["result:string"]})
    raise AssertionError(f"unexpected prompt: {last[:80]}")


@pytest.fixture
def synthesis_params():
    return json.loads(json.dumps(PARAMS))


@pytest.fixture
def scripted_llm():
    return ScriptedLLM(scripted_answer)


@pytest.fixture
def documents():
    topics = ["travel", "finance", "weather", "music", "sports", "health"]
    return [{"id": f"d{i}", "text": f"{t} service documentation with enough words to be kept.", "source": t}
            for i, t in enumerate(topics)]
