"""Small canonical dialogs, a tiny SFT adapter and fast irft parameters (the tiny 2-layer model)."""

import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
WEATHER = {"name": "get_weather", "description": "Weather for a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                          "days": {"type": "integer", "minimum": 1}},
                          "required": ["city"]}}
CITIES = ["Paris", "Oslo", "Lima", "Cairo", "Tokyo", "Quito"]


def make_dialog(i: int, kind: str) -> dict:
    city = CITIES[i % len(CITIES)]
    if kind == "non_tool":
        messages = [{"role": "user", "content": f"Tell me a fact about {city}."},
                    {"role": "assistant", "content": f"{city} is a city; none of the tools fits this request."}]
    else:
        calls = [{"name": "get_weather", "arguments": {"city": city, "days": i % 3 + 1}}]
        messages = [{"role": "user", "content": f"What is the weather in {city} for {i % 3 + 1} days?"},
                    {"role": "assistant", "content": "", "tool_calls": calls},
                    {"role": "tool", "content": [{"name": "get_weather", "results": {"temperature": 20 + i}}]},
                    {"role": "assistant", "content": f"In {city} it will be {20 + i} degrees."}]
    return {"id": f"{kind}-{i}", "type": kind, "tools": [copy.deepcopy(WEATHER)], "messages": messages,
            "meta": {"generator": "test"}}


@pytest.fixture
def irft_dialogs() -> list[dict]:
    return [make_dialog(i, "non_tool" if i % 3 == 2 else "single") for i in range(9)]


def base_params() -> dict:
    return yaml.safe_load((ROOT / "conf/base/parameters_irft.yml").read_text())["irft"]


@pytest.fixture
def irft_params() -> dict:
    """conf/base's parameters, shrunk for the tiny model."""
    params = base_params()
    params["mining"].update(ratio=0.5, max_samples=4, batch_size=4)
    params["search"].update(k=2, n_iterations=2, max_new_tokens=6, simulation_tokens=2, batch_samples=4)
    params["optimisation"].update(learning_rate=1e-3, batch_size=2, gradient_accumulation_steps=1, max_length=512,
                                  report_to="none", evaluate_pairs=True)  # a few pairs: every micro-batch a step; pair figures on
    return params


@pytest.fixture(scope="session")
def sft_adapter(tiny_model_dir, tmp_path_factory) -> str:
    """A LoRA adapter on the tiny model with non-zero weights (merging it changes the model)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False))
    path = tmp_path_factory.mktemp("sft-adapter")
    peft.save_pretrained(path)
    return str(path)
