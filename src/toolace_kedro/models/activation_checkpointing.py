"""Activation checkpointing for LoRA training without a backward pass through frozen layers.

With activation checkpointing on, transformers, TRL and PEFT each hook the input embeddings so that
their output requires a gradient (``enable_input_require_grads``). *Reentrant* checkpointing needs
that: a checkpointed region whose inputs need no gradient returns outputs without one. The
non-reentrant form (``use_reentrant: False``, transformers' and TRL's default) does not, and the
hook then costs a backward pass through every layer below the lowest adapted one: the frozen
bottom of the model computes input gradients nobody uses. Where LoRA adapts only the top layers
(``sft.lora.layers``) that is a third of the model's layers on the embedded default.

:func:`drop_input_grad_hooks` removes those hooks; :func:`frozen_inputs_callback` does it at the
start of training (the trainer enables checkpointing inside ``train()``, after ``__init__``), when
checkpointing is on and non-reentrant and the input embeddings are frozen. Gradients of the
trainable weights are the same either way (``tests/models/test_checkpointing.py``).
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["drop_input_grad_hooks", "frozen_inputs_callback", "non_reentrant_checkpointing"]

logger = logging.getLogger(__name__)

# the hook functions transformers (``make_inputs_require_grads``) and TRL's fallback
# (``make_inputs_require_grad``) register on the input embeddings
_HOOK_NAMES = ("make_inputs_require_grads", "make_inputs_require_grad")


def drop_input_grad_hooks(model: Any) -> int:
    """Remove the forward hooks that make the input embeddings' output require a gradient, from
    every embedding module of ``model`` whose weights are frozen; returns how many were removed.
    The hooks are found by function name: each ``enable_input_require_grads`` call replaces the
    handles kept on the model, so earlier calls' hooks cannot be removed through them."""
    import torch

    removed = 0
    for module in model.modules():
        if not isinstance(module, torch.nn.Embedding) or any(p.requires_grad for p in module.parameters()):
            continue
        for key, hook in list(module._forward_hooks.items()):
            if getattr(hook, "__name__", "") in _HOOK_NAMES:
                del module._forward_hooks[key]
                removed += 1
    return removed


def non_reentrant_checkpointing(args: Any) -> bool:
    """Whether training arguments turn activation checkpointing on in its non-reentrant form."""
    enabled = getattr(args, "activation_checkpointing", None) or getattr(args, "gradient_checkpointing", False)
    kwargs = getattr(args, "activation_checkpointing_kwargs", None) or getattr(args, "gradient_checkpointing_kwargs",
                                                                               None) or {}
    return bool(enabled) and not kwargs.get("use_reentrant", False)


def frozen_inputs_callback() -> Any:
    """A ``TrainerCallback`` that drops the input-gradient hooks when training begins (see the
    module docstring); it does nothing without non-reentrant checkpointing."""
    from transformers import TrainerCallback

    class FrozenInputs(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            if model is not None and non_reentrant_checkpointing(args):
                removed = drop_input_grad_hooks(model)
                if removed:
                    logger.debug("activation checkpointing: %d input-gradient hooks removed", removed)

    return FrozenInputs()
