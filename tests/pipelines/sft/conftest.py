"""Small canonical dialogs of every type and fast sft parameters (the tiny 2-layer model)."""

import copy

import pytest

WEATHER = {"name": "get_weather", "description": "Weather for a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                          "days": {"type": "integer", "minimum": 1}},
                          "required": ["city"]}}
STOCK = {"name": "get_stock_quote", "description": "Latest price of a ticker.",
         "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}}, "required": ["symbol"]}}
CITIES = ["Paris", "Oslo", "Lima", "Cairo", "Tokyo", "Quito"]


def make_dialog(i: int, kind: str) -> dict:
    city = CITIES[i % len(CITIES)]
    user = {"role": "user", "content": f"What is the weather in {city} for {i % 3 + 1} days?"}
    if kind == "non_tool":
        messages = [{"role": "user", "content": f"Tell me a fact about {city}."},
                    {"role": "assistant", "content": f"{city} is a city; none of the tools fits this request."}]
    elif kind == "clarify":
        messages = [{"role": "user", "content": "What is the weather?"},
                    {"role": "assistant", "content": "Which city do you mean?"},
                    {"role": "user", "content": f"{city}."},
                    {"role": "assistant", "content": "",
                     "tool_calls": [{"name": "get_weather", "arguments": {"city": city}}]},
                    {"role": "tool", "content": [{"name": "get_weather", "results": {"temperature": 20 + i}}]},
                    {"role": "assistant", "content": f"It is {20 + i} degrees in {city}."}]
    else:
        calls = [{"name": "get_weather", "arguments": {"city": city, "days": i % 3 + 1}}]
        results = [{"name": "get_weather", "results": {"temperature": 20 + i}}]
        if kind == "parallel":
            calls.append({"name": "get_stock_quote", "arguments": {"symbol": "ACME"}})
            results.append({"name": "get_stock_quote", "results": {"price": 10.5 + i}})
        messages = [user, {"role": "assistant", "content": "", "tool_calls": calls},
                    {"role": "tool", "content": results},
                    {"role": "assistant", "content": f"In {city} it will be {20 + i} degrees." + " Enjoy." * (i % 4)}]
    return {"id": f"{kind}-{i}", "type": kind, "tools": [copy.deepcopy(WEATHER), copy.deepcopy(STOCK)],
            "messages": messages, "meta": {"generator": "test", "complexity": round(0.5 + 0.1 * i, 3)}}


@pytest.fixture
def sft_dialogs() -> list[dict]:
    kinds = ["single", "parallel", "non_tool", "clarify"]
    return [make_dialog(i, kinds[i % len(kinds)]) for i in range(16)]


@pytest.fixture
def sft_params(tiny_model_dir) -> dict:
    return {
        "policy_model": tiny_model_dir, "seed": 0, "test_fraction": 0.25, "max_length": 512, "n_stages": 2,
        "difficulty_batch_size": 4,
        "lora": {"r": 4, "alpha": 8, "target_modules": "all-linear"},
        "training": {"epochs": 1, "learning_rate": 5e-3, "per_device_batch_size": 2, "report_to": "none",
                     "system_metrics": False},
        "distributed": {"enabled": False},
    }
