"""Decision tuning: which examples are built from which dialogs, and that the phase trains."""

import copy

import pytest
from pydantic import ValidationError

from tests.pipelines.sft.conftest import WEATHER, make_dialog
from toolace_kedro.pipelines.sft.config import SFTParams
from toolace_kedro.pipelines.sft.decision import call_open_ids, decision_examples, tune_decision
from toolace_kedro.toolcalls.words import api_words, content_words

TRANSLATE = {"name": "translate_text", "description": "Translate a sentence into another language.",
             "parameters": {"type": "object", "properties": {"text": {"type": "string"},
                                                            "target": {"type": "string"}}, "required": ["text"]}}


def _translate_dialog(i: int) -> dict:
    return {"id": f"translate-{i}", "type": "single", "tools": [copy.deepcopy(TRANSLATE)],
            "messages": [{"role": "user", "content": f"Translate 'good morning {i}' into German."},
                         {"role": "assistant", "content": "", "tool_calls": [
                             {"name": "translate_text", "arguments": {"text": f"good morning {i}", "target": "de"}}]},
                         {"role": "tool", "content": [{"name": "translate_text", "results": {"text": "guten Morgen"}}]},
                         {"role": "assistant", "content": "Guten Morgen."}],
            "meta": {"generator": "test"}}


@pytest.fixture
def mixed_dialogs() -> list[dict]:
    weather = [make_dialog(i, kind) for i, kind in enumerate(["single", "non_tool", "clarify", "single"])]
    for d in weather:  # one tool each, so a weather request and the translate tool share no word
        d["tools"] = [copy.deepcopy(WEATHER)]
    return weather + [_translate_dialog(i) for i in range(2)]


def _params(**decision):
    return SFTParams.of({"seed": 0, "prompt_variants": {"training": 1, "bfcl": 1}, "shuffle_tools": True,
                         "decision": {"enabled": True, **decision}})


def test_examples_label_own_tools_call_and_unrelated_tools_decline(mixed_dialogs):
    examples = decision_examples(mixed_dialogs, _params(negatives_per_call=1, distractors=True))
    kinds = {}
    for e in examples:
        kinds.setdefault(e["kind"], []).append(e)
    # 4 call dialogs (clarify left out): own + distractor each; 1 unrelated each; 1 non_tool dialog
    assert {k: len(v) for k, v in kinds.items()} == {"own": 4, "unrelated": 4, "distractor": 4, "non_tool": 1}
    assert all(e["call"] for e in kinds["own"] + kinds["distractor"])
    assert not any(e["call"] for e in kinds["unrelated"] + kinds["non_tool"])
    assert "clarify-2" not in {e["id"] for e in examples}
    by_id = {d["id"]: d for d in mixed_dialogs}
    for e in kinds["unrelated"]:  # the request shares no content word with the tools shown
        request = content_words(e["messages"][-1]["content"])
        own = {t["name"] for t in by_id[e["id"]]["tools"]}
        shown = [n for n in ("get_weather", "translate_text") if n in e["messages"][0]["content"]]
        assert shown and not set(shown) & own
        assert not any(request & api_words(t) for t in (WEATHER, TRANSLATE) if t["name"] in shown)
    for e in kinds["distractor"]:  # own tool and an unrelated one
        assert "get_weather" in e["messages"][0]["content"] and "translate_text" in e["messages"][0]["content"]
    for e in examples:  # system prompt + the first request, nothing after it
        assert [m["role"] for m in e["messages"]] == ["system", "user"]
    assert decision_examples(mixed_dialogs, _params(negatives_per_call=1)) == examples  # seeded


def test_no_unrelated_tools_no_negatives(mixed_dialogs):
    weather_only = [d for d in mixed_dialogs if not d["id"].startswith("translate")]
    kinds = {e["kind"] for e in decision_examples(weather_only, _params(negatives_per_call=3))}
    assert kinds == {"own", "non_tool"}  # nothing unrelated to pair with: no distractor either


def test_call_open_ids(embedded_model_dir):
    from toolace_kedro.models.loading import load_tokenizer

    tokenizer = load_tokenizer(embedded_model_dir)
    ids = call_open_ids(tokenizer)
    assert tokenizer.convert_tokens_to_ids("[") in ids
    assert tokenizer.convert_tokens_to_ids("The") not in ids
    assert all(tokenizer.decode([i]).lstrip().startswith("[") for i in ids)


def test_unknown_decision_key_fails():
    with pytest.raises(ValidationError, match="negatives"):
        SFTParams.of({"decision": {"negatives": 2}})


@pytest.mark.parametrize("backprop", ["full", "request"])
def test_tune_decision_lowers_the_decision_loss(tiny_model_dir, mixed_dialogs, backprop):
    from peft import get_peft_model

    from toolace_kedro.pipelines.sft.training import load_for_training, lora_config

    params = SFTParams.of({"policy_model": tiny_model_dir, "lora": {"r": 4, "alpha": 8},
                           "decision": {"enabled": True, "epochs": 6, "learning_rate": 0.02, "batch_size": 4,
                                        "backprop": backprop}})
    model, tokenizer = load_for_training(params)
    model = get_peft_model(model, lora_config(params, model))
    report = tune_decision(model, tokenizer, mixed_dialogs, params, bf16=False)
    assert report["call_examples"] == 8 and report["decline_examples"] == 9 and report["backprop"] == backprop
    assert report["steps"] == 6 * 5
    losses = [e["mean_loss"] for e in report["epochs"]]
    assert len(losses) == 6 and losses[-1] < losses[0]


def test_tune_decision_needs_both_classes(tiny_model_dir, mixed_dialogs):
    from peft import get_peft_model

    from toolace_kedro.pipelines.sft.training import load_for_training, lora_config

    params = SFTParams.of({"policy_model": tiny_model_dir, "decision": {"enabled": True, "negatives_per_call": 0}})
    model, tokenizer = load_for_training(params)
    model = get_peft_model(model, lora_config(params, model))
    calls_only = [d for d in mixed_dialogs if d["type"] == "single"]
    assert "skipped" in tune_decision(model, tokenizer, calls_only, params, bf16=False)


def test_train_sft_reports_the_decision_phase(sft_dialogs, sft_params):
    from toolace_kedro.pipelines.sft.nodes import order_curriculum, train_sft

    sft_params["decision"] = {"enabled": True, "epochs": 1}
    sft_dialogs[0]["tools"] = [copy.deepcopy(TRANSLATE)]  # a tool list unrelated to the weather requests
    curriculum = order_curriculum(sft_dialogs, {**sft_params, "difficulty": "meta", "n_stages": 1})
    _, report, metrics = train_sft(curriculum, [], sft_params)
    assert report["decision"]["examples"]["non_tool"] == 4
    assert report["decision"]["epochs"][0]["epoch"] == 1
    assert "decision_mean_loss" in metrics and "decision_wall_s" in metrics


def test_a_saved_adapter_is_tuned_in_place(tiny_model_dir, mixed_dialogs, tmp_path):
    """After a distributed job the node tunes the adapter directory the job wrote."""
    from peft import get_peft_model
    from safetensors.torch import load_file

    from toolace_kedro.pipelines.sft.nodes import _tune_saved_adapter
    from toolace_kedro.pipelines.sft.training import load_for_training, lora_config

    params = SFTParams.of({"policy_model": tiny_model_dir, "lora": {"r": 4, "alpha": 8},
                           "decision": {"enabled": True, "epochs": 2, "learning_rate": 0.02}})
    model, _ = load_for_training(params)
    get_peft_model(model, lora_config(params, model)).save_pretrained(tmp_path)
    before = load_file(tmp_path / "adapter_model.safetensors")
    report = _tune_saved_adapter(str(tmp_path), mixed_dialogs, params)
    after = load_file(tmp_path / "adapter_model.safetensors")
    assert report["call_examples"] == 8 and len(report["epochs"]) == 2
    assert any(not (before[k] == after[k]).all() for k in before)


def test_class_weights_balance_the_classes_in_the_asked_ratio():
    from toolace_kedro.pipelines.sft.decision import class_weights

    even = class_weights(calls=30, total=120)
    assert even[True] * 30 == pytest.approx(even[False] * 90)  # each class contributes half
    assert (even[True] * 30 + even[False] * 90) / 120 == pytest.approx(1.0)
    tilted = class_weights(calls=30, total=120, call_weight=2.0)
    assert tilted[True] * 30 == pytest.approx(2 * tilted[False] * 90)
    assert (tilted[True] * 30 + tilted[False] * 90) / 120 == pytest.approx(1.0)


def test_request_backprop_sees_the_same_logits_and_trains_the_request_side_only(tiny_model_dir, mixed_dialogs):
    """backprop=request: the system prompt runs once without gradient and is cached; the first-token
    logits are those of the whole prompt, the loss still falls, checkpointing comes back after."""
    import torch
    from peft import get_peft_model

    from toolace_kedro.pipelines.sft.decision import (
        _padded_logits,
        _request_logits,
        system_prefix_length,
    )
    from toolace_kedro.pipelines.sft.training import load_for_training, lora_config

    params = SFTParams.of({"policy_model": tiny_model_dir, "lora": {"r": 4, "alpha": 8},
                           "decision": {"enabled": True, "epochs": 6, "learning_rate": 0.02, "batch_size": 4,
                                        "backprop": "request"}})
    model, tokenizer = load_for_training(params)
    model = get_peft_model(model, lora_config(params, model))
    example = decision_examples(mixed_dialogs, params)[0]
    row = tokenizer.apply_chat_template(example["messages"], add_generation_prompt=True, tokenize=True,
                                        return_dict=False)
    split = system_prefix_length(tokenizer, example["messages"], row)
    system = tokenizer.apply_chat_template(example["messages"][:1], tokenize=True, return_dict=False)
    assert 0 < split < len(row) and row[:split] == system
    assert "get_weather" not in tokenizer.decode(row[split:])  # the tool list is in the cached part
    model.float().eval()  # (float32: the two paths' kernels differ in how they round bf16)
    with torch.no_grad():
        whole = _padded_logits(model, [row], tokenizer.pad_token_id or 0, "cpu")
        cached = _request_logits(model, row, split, "cpu")
    assert torch.allclose(whole.reshape(-1), cached.reshape(-1), atol=1e-4)

    model.base_model.model.gradient_checkpointing_enable()
    report = tune_decision(model, tokenizer, mixed_dialogs, params, bf16=False)
    assert report["backprop"] == "request"
    assert 0 < report["tokens_with_gradient_per_epoch"] < report["tokens_per_epoch"] / 2
    losses = [e["mean_loss"] for e in report["epochs"]]
    assert losses[-1] < losses[0]
    assert model.base_model.model.is_gradient_checkpointing
