"""Non-reentrant activation checkpointing with LoRA on the top layers: no backward pass through
the frozen bottom, the same gradients."""

from types import SimpleNamespace

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from toolace_kedro.models.activation_checkpointing import drop_input_grad_hooks, frozen_inputs_callback, non_reentrant_checkpointing


def _lora_on_top(checkpointing: bool):
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=4, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=64)
    model = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=2, target_modules=["q_proj", "v_proj"],
                                                                layers_to_transform=[2, 3], init_lora_weights=False))
    if checkpointing:  # what Trainer.train() does; PEFT and TRL call enable_input_require_grads too
        model.enable_input_require_grads()
        model.base_model.model.activation_checkpointing_enable()  # non-reentrant by default
    model.train()
    return model


def _backward(model) -> tuple[dict[str, torch.Tensor], int]:
    """LoRA gradients of one step, and how often layer 0 took part in the backward pass."""
    calls = []
    layer0 = model.base_model.model.model.layers[0]
    handle = layer0.register_full_backward_hook(lambda *args: calls.append(1))
    ids = torch.arange(1, 13).reshape(2, 6)
    model(input_ids=ids, labels=ids).loss.backward()
    handle.remove()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}, len(calls)


def test_dropping_the_input_grad_hooks_stops_backprop_at_the_lowest_adapter_with_the_same_gradients():
    reference, calls_plain = _backward(_lora_on_top(checkpointing=False))
    assert calls_plain == 0  # without checkpointing autograd never enters the frozen bottom

    hooked = _lora_on_top(checkpointing=True)
    hooked.enable_input_require_grads()  # a second call (TRL's, then Trainer's): the first handles are lost
    grads_hooked, calls_hooked = _backward(hooked)
    assert calls_hooked == 1  # the hooks make the frozen layer 0 compute input gradients

    model = _lora_on_top(checkpointing=True)
    model.enable_input_require_grads()
    assert drop_input_grad_hooks(model) == 3  # every call's hook (activation_checkpointing_enable makes one too)
    grads, calls = _backward(model)
    assert calls == 0
    assert reference.keys() == grads.keys() and len(grads) == 8
    for name in reference:
        torch.testing.assert_close(grads[name], reference[name])
        torch.testing.assert_close(grads_hooked[name], reference[name])


def test_trainable_embeddings_keep_their_hooks():
    model = _lora_on_top(checkpointing=True)
    model.get_input_embeddings().weight.requires_grad_(True)
    assert drop_input_grad_hooks(model) == 0


@pytest.mark.parametrize("args, expected", [
    ({"activation_checkpointing": True, "activation_checkpointing_kwargs": None}, True),
    ({"activation_checkpointing": True, "activation_checkpointing_kwargs": {"use_reentrant": False}}, True),
    ({"activation_checkpointing": True, "activation_checkpointing_kwargs": {"use_reentrant": True}}, False),
    ({"activation_checkpointing": False, "activation_checkpointing_kwargs": None}, False),
])
def test_only_non_reentrant_checkpointing_lets_the_hooks_go(args, expected):
    assert non_reentrant_checkpointing(SimpleNamespace(**args)) is expected
    model = _lora_on_top(checkpointing=True)
    frozen_inputs_callback().on_train_begin(SimpleNamespace(**args), None, None, model=model)
    left = sum(len(m._forward_hooks) for m in model.modules() if isinstance(m, torch.nn.Embedding))
    assert left == (0 if expected else 2)
