"""Shared fixtures."""

from __future__ import annotations

import copy
import os
import sys

import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _no_irft_rounds_left_by_a_session():
    """A Kedro session hands the irft pipeline its run's round count (``IrftRoundsHook``); the
    next test builds pipelines without it."""
    yield
    module = sys.modules.get("toolace_kedro.pipelines.irft.pipeline")
    if module is not None:
        module.use_rounds(None)

FLIGHT_API = {
    "name": "search_flights",
    "description": "Search flights between two airports on a date.",
    "parameters": {
        "type": "object",
        "properties": {
            "origin": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "IATA code"},
            "destination": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "date": {"type": "string", "format": "date"},
            "passengers": {"type": "integer", "minimum": 1, "maximum": 9},
            "cabin": {"type": "string", "enum": ["economy", "business"]},
        },
        "required": ["origin", "destination", "date"],
    },
    "returns": {"type": "object", "properties": {"flights": {"type": "array", "items": {"type": "object"}}}},
    "domain": "Travel/Flights",
}

WEATHER_API = {
    "name": "Weather Forecast API",
    "description": "Hourly forecast for a city.",
    "parameters": {"type": "dict", "properties": {"city": {"type": "string"}, "hours": {"type": "float"}},
                   "required": ["city"]},
}


@pytest.fixture
def flight_api() -> dict:
    return copy.deepcopy(FLIGHT_API)


@pytest.fixture
def weather_api() -> dict:
    return copy.deepcopy(WEATHER_API)


def flight_messages() -> list[dict]:
    """A call to search_flights, its result and a final answer (a fresh list each time)."""
    return [
        {"role": "user", "content": "Find me a flight from JFK to LAX on 2025-03-01."},
        {"role": "assistant", "content": "", "thought": "search_flights has all it needs",
         "tool_calls": [{"name": "search_flights",
                         "arguments": {"origin": "JFK", "destination": "LAX", "date": "2025-03-01"}}]},
        {"role": "tool", "content": [{"name": "search_flights", "results": {"flights": [{"id": "UA1"}]}}]},
        {"role": "assistant", "content": "Flight UA1 goes from JFK to LAX on March 1."},
    ]


@pytest.fixture
def dialog(flight_api) -> dict:
    """A valid canonical sample with a call, its result and a final answer."""
    return {
        "id": "d1",
        "type": "single",
        "tools": [flight_api],
        "messages": flight_messages(),
        "meta": {"generator": "test"},
    }


@pytest.fixture(scope="session")
def embedded_model_dir() -> str:
    """The embedded SmolLM2-135M-Instruct as a safetensors directory (converted once)."""
    from toolace_kedro.models import resolve_model

    return resolve_model("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def tiny_model_dir(embedded_model_dir, tmp_path_factory) -> str:
    """A 2-layer, 32-wide random Llama with the embedded model's tokenizer: seconds, not minutes."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    path = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture
def mlflow_store(tmp_path):
    """A fresh SQLite MLflow store (tracking and registry) with its own experiment, artifacts under
    ``tmp_path``; the previous tracking URI and experiment come back afterwards."""
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("test", artifact_location=(tmp_path / "mlruns").as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    try:
        yield mlflow.MlflowClient()
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(previous)
