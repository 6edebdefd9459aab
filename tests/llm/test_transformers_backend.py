"""The in-process backend: batching, left padding, constrained JSON, caching."""

import json

import jsonschema
import pytest

from toolace_kedro.llm import build_llm
from toolace_kedro.llm.transformers_backend import bound_schema

API_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z][a-z_]{2,24}$"},
        "description": {"type": "string", "minLength": 5},
        "parameters": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string", "pattern": "^[a-z_]{1,16}$"},
            "type": {"type": "string", "enum": ["string", "integer", "number", "boolean", "array", "object"]},
            "required": {"type": "boolean"}}, "required": ["name", "type", "required"]}, "minItems": 1},
    },
    "required": ["name", "description", "parameters"],
}


def test_bound_schema_adds_limits_only_where_open():
    out = bound_schema({"type": "object", "properties": {
        "a": {"type": "string"}, "b": {"type": "string", "enum": ["x"]}, "c": {"type": "array", "items": {"type": "string"}},
        "type": {"type": "string", "maxLength": 3}}}, 50, 4)
    props = out["properties"]
    assert props["a"]["maxLength"] == 50 and "maxLength" not in props["b"]
    assert props["c"]["maxItems"] == 4 and props["c"]["items"]["maxLength"] == 50
    assert props["type"]["maxLength"] == 3
    numbers = bound_schema({"type": "object", "properties": {
        "n": {"type": "integer"}, "m": {"type": ["number", "null"], "minimum": 0}, "e": {"type": "integer", "enum": [1]}}},
        50, 4)["properties"]
    assert (numbers["n"]["minimum"], numbers["n"]["maximum"]) == (-10**6, 10**6)
    assert numbers["m"]["minimum"] == 0 and numbers["m"]["maximum"] == 10**6 and "maximum" not in numbers["e"]


def test_tiny_model_batches_with_left_padding_and_constrains_json(tiny_model_dir, tmp_path):
    llm = build_llm({"model": tiny_model_dir, "batch_size": 4, "max_tokens": 48, "progress": False,
                     "cache_dir": str(tmp_path), "max_string_length": 12, "max_array_items": 2})
    assert llm.tokenizer.padding_side == "left"
    prompts = [[{"role": "user", "content": "x " * n}] for n in (1, 30, 5, 60, 2, 9)]
    out = llm.chat_batch(prompts, json_schema=API_SCHEMA)
    for text in out:
        jsonschema.validate(json.loads(text), API_SCHEMA)
    assert llm.usage.requests >= 6 and llm.usage.prompt_tokens > 0
    # greedy decoding of one prompt alone equals its decoding inside a padded batch
    greedy = dict(temperature=0.0, max_tokens=12)
    alone = llm.chat_batch([prompts[0]], **greedy)
    batched = llm.chat_batch([prompts[3], prompts[0]], **greedy)
    assert batched[1] == alone[0]
    # cached on a rerun: nothing generated
    again = build_llm({"model": tiny_model_dir, "progress": False, "cache_dir": str(tmp_path), "max_tokens": 48,
                       "max_string_length": 12, "max_array_items": 2})
    assert again.chat_batch(prompts, json_schema=API_SCHEMA) == out and again.usage.requests == 0


@pytest.mark.slow
def test_embedded_model_structured_output_always_validates():
    """20 varied prompts with the real 135M model: every output parses and validates."""
    llm = build_llm({"model": "smollm2-135m-instruct", "batch_size": 10, "max_tokens": 160, "progress": False})
    topics = ["weather forecasts", "flight booking", "stock quotes", "recipe search", "hotel reservations",
              "music streaming", "fitness tracking", "currency conversion", "news headlines", "movie tickets",
              "package tracking", "calendar events", "translation", "sports scores", "car rental",
              "email sending", "restaurant reviews", "crypto prices", "air quality", "job search"]
    prompts = [[{"role": "system", "content": "You design REST APIs and answer in JSON."},
                {"role": "user", "content": f"Describe one API function for {t}: a snake_case name, a description "
                                            "and its parameters."}] for t in topics]
    out = llm.chat_batch(prompts, json_schema=API_SCHEMA, errors="skip")
    assert all(o is not None for o in out), llm.usage.as_dict()
    for text in out:
        jsonschema.validate(json.loads(text), API_SCHEMA)


def test_mixed_schemas_in_one_call(tiny_model_dir):
    llm = build_llm({"model": tiny_model_dir, "batch_size": 4, "max_tokens": 40, "progress": False,
                     "max_string_length": 8, "max_array_items": 2})
    small = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    prompts = [[{"role": "user", "content": f"q{i}"}] for i in range(4)]
    out = llm.chat_batch(prompts, json_schema=[small, API_SCHEMA, None, small])
    assert set(json.loads(out[0])) == {"ok"} and set(json.loads(out[3])) == {"ok"}
    jsonschema.validate(json.loads(out[1]), API_SCHEMA)
    assert isinstance(out[2], str)


def test_properties_are_generated_in_schema_order(tiny_model_dir):
    llm = build_llm({"model": tiny_model_dir, "max_tokens": 40, "progress": False, "max_string_length": 6})
    schema = {"type": "object", "properties": {"thought": {"type": "string"}, "answer": {"type": "string"},
                                               "count": {"type": "integer"}},
              "required": ["thought", "answer", "count"]}
    out = llm.chat_batch([[{"role": "user", "content": "x"}]], json_schema=schema)[0]
    assert list(json.loads(out)) == ["thought", "answer", "count"]


def _adapter(model_dir: str, folder, seed: int) -> str:
    """A small random LoRA adapter for ``model_dir`` saved into ``folder``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    peft = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir),
                          LoraConfig(r=2, lora_alpha=64, target_modules="all-linear", init_lora_weights=False))
    peft.save_pretrained(folder)
    return str(folder)


def test_cache_keys_tell_base_adapter_and_merged_weights_apart(tiny_model_dir, tmp_path):
    """Base answers are reused by a later run of the base model; base + adapter and a merged
    directory never replay them, nor one adapter another's rewritten in place."""
    import shutil

    cache = str(tmp_path / "cache")
    prompts = [[{"role": "user", "content": f"question {i}"}] for i in range(3)]
    greedy = dict(temperature=0.0, max_tokens=6)

    def client(**config):
        return build_llm({"model": tiny_model_dir, "progress": False, "cache_dir": cache, **config})

    base = client()
    base.chat_batch(prompts, **greedy)
    again = client()
    again.chat_batch(prompts, **greedy)
    assert again.usage.cache_hits == 3 and again.fingerprint() == base.fingerprint()

    adapter = _adapter(tiny_model_dir, tmp_path / "adapter", seed=1)
    sft = client(adapter=adapter)
    sft.chat_batch(prompts, **greedy)
    assert sft.usage.cache_hits == 0 and sft.fingerprint() != base.fingerprint()

    merged_dir = tmp_path / "merged"
    sft.model.save_pretrained(merged_dir)  # the adapter merged in: what the irft stage hands over
    sft.tokenizer.save_pretrained(merged_dir)
    merged = client(model=str(merged_dir))
    merged.chat_batch(prompts, **greedy)
    assert merged.usage.cache_hits == 0 and len({base.fingerprint(), sft.fingerprint(), merged.fingerprint()}) == 3

    # another adapter written to the same path (same size, possibly the same second): a new key
    shutil.rmtree(adapter)
    _adapter(tiny_model_dir, tmp_path / "adapter", seed=2)
    rewritten = client(adapter=adapter)
    rewritten.chat_batch(prompts, **greedy)
    assert rewritten.usage.cache_hits == 0 and rewritten.fingerprint() != sft.fingerprint()
    # and the same adapter again: its answers are reused
    assert client(adapter=adapter).fingerprint() == rewritten.fingerprint()


def test_a_stop_rule_ends_a_row_as_soon_as_it_holds(tiny_model_dir, monkeypatch):
    from toolace_kedro.llm import stop_rules

    seen = []
    monkeypatch.setitem(stop_rules.STOP_RULES, "three_chars", lambda text: seen.append(text) or len(text) >= 3)
    prompts = [[{"role": "user", "content": f"say {i}"}] for i in range(3)]
    whole = build_llm({"model": tiny_model_dir, "progress": False, "temperature": 0.0, "max_tokens": 24})
    full = whole.chat_batch(prompts)
    ruled = build_llm({"model": tiny_model_dir, "progress": False, "temperature": 0.0, "max_tokens": 24})
    cut = ruled.chat_batch(prompts, per_request=[{"stop_when": "three_chars"}, None, {"stop_when": "three_chars"}])
    assert cut[1] == full[1] and all(whole.startswith(short) for whole, short in zip(full, cut))
    # each ruled row stopped at its first text of three characters; the other row was never checked
    assert sum(len(t) >= 3 for t in seen) == 2
    assert ruled.usage.completion_tokens < whole.usage.completion_tokens


def test_a_prefill_copy_in_another_dtype_carries_the_adapter(tiny_model_dir, tmp_path):
    """With an adapter, prompts processed by a bfloat16 copy (``prefill_dtype``) go through the
    merged weights: a copy of the base model would answer as base + adapter only in the decode."""
    import torch

    adapter = _adapter(tiny_model_dir, tmp_path / "adapter", seed=3)
    llm = build_llm({"model": tiny_model_dir, "adapter": adapter, "dtype": "float32", "prefill_dtype": "bfloat16",
                     "progress": False})
    engine = llm._batcher()
    assert engine.prefill_model is not llm.model and engine.prefill_model.dtype == torch.bfloat16
    merged = dict(llm.model.named_parameters())
    for name, param in engine.prefill_model.named_parameters():
        assert torch.equal(param, merged[name].to(torch.bfloat16)), name
    base = build_llm({"model": tiny_model_dir, "dtype": "float32", "progress": False}).model
    changed = [n for n, p in base.named_parameters() if not torch.equal(p.to(torch.bfloat16), dict(
        engine.prefill_model.named_parameters())[n])]
    assert changed  # the adapter moved the weights the prompts are processed with
