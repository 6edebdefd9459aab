"""Decision tuning: after the curriculum, teach the policy *when* to call.

SFT on the generated dialogs teaches the call format, but the choice between calling and
answering in text is one token per dialog, and the policy learns it as a prior ("call most of
the time") rather than as a function of the request and the tools: its probability of opening a
call barely differs between BFCL requests the tools serve and requests they do not. This phase
trains that one choice directly, with a binary loss on the probability that the first answer
token opens a call (``[`` in the prompt format):

* **call** -- each dialog whose first assistant turn is a call, under its own tools; with
  ``distractors`` also under its own tools plus one unrelated tool (BFCL's ``multiple``);
* **decline** -- each ``non_tool`` dialog under its tools, and each call dialog's request under
  ``negatives_per_call`` tool lists of other dialogs that share no content word with the request
  (``toolcalls.words``: ToolACE's non-tool data, made from requests the LLM wrote for other tools).

Clarify dialogs are left out: their tools fit and the answer asks for a missing value, which is
no relevance decision. Prompts are rendered like training (``prompt_variants``,
``shuffle_tools``, seeded by the dialog id) up to the generation prompt; the two classes are
weighted to the same total. The loss is ``-log p(call)`` or ``-log (1 - p(call))``, where
``p(call)`` sums the probabilities of every token that starts with ``[``. Only the first
token's distribution is trained, so the answers themselves come from SFT.

``backprop: full`` back-propagates through the whole prompt, in right-padded batches;
``request`` runs each example's system prompt (instructions and tool list: most of its tokens)
once without gradient, caches it, and runs the user turn and the generation prompt on that cache
with gradient -- the same forward values, a much smaller backward pass.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Iterator
from typing import Any

from tqdm.auto import tqdm

from toolace_kedro.pipelines.sft.config import SFTParams
from toolace_kedro.pipelines.sft.formatting import rendering_choice
from toolace_kedro.toolcalls.formats import training_messages
from toolace_kedro.toolcalls.words import api_words, content_words

__all__ = ["call_open_ids", "class_weights", "decision_examples", "system_prefix_length", "tune_decision"]

logger = logging.getLogger(__name__)


def _first_user(sample: dict[str, Any]) -> str | None:
    return next((m.get("content") for m in sample.get("messages", []) if m.get("role") == "user"), None)


def _first_answer_calls(sample: dict[str, Any]) -> bool | None:
    turn = next((m for m in sample.get("messages", []) if m.get("role") == "assistant"), None)
    return None if turn is None else bool(turn.get("tool_calls"))


def decision_examples(samples: list[dict[str, Any]], params: SFTParams) -> list[dict[str, Any]]:
    """``[{"id", "kind", "call", "messages"}]``: the system prompt and the first user turn of each
    example (see the module doc); ``kind`` is ``own``, ``distractor``, ``unrelated`` or ``non_tool``.
    ``params`` is the validated ``SFTParams``; the recombinations are seeded by ``params.seed``."""
    d = params.decision
    rng = random.Random(f"{params.seed}:decision")
    usable = [s for s in samples if s.get("tools") and _first_user(s)]
    examples: list[dict[str, Any]] = []

    def add(sample: dict[str, Any], tools: list[dict[str, Any]], kind: str, call: bool) -> None:
        view = {"id": f"{sample.get('id', '')}:{kind}:{len(examples)}", "tools": tools,
                "messages": [{"role": "user", "content": _first_user(sample)}]}
        view, variant = rendering_choice(view, params.prompt_variants, params.shuffle_tools, params.seed)
        examples.append({"id": sample.get("id"), "kind": kind, "call": call,
                         "messages": training_messages(view, params.call_format, params.tool_fields, variant)})

    words_of = {id(s): [api_words(t) for t in s["tools"]] for s in usable}
    for sample in usable:
        calls = _first_answer_calls(sample)
        if sample.get("type") == "non_tool" and calls is False:
            add(sample, sample["tools"], "non_tool", False)
            continue
        if not calls or sample.get("type") == "clarify":
            continue
        add(sample, sample["tools"], "own", True)
        request = content_words(_first_user(sample) or "")
        unrelated = [o for o in usable if o is not sample and not any(request & w for w in words_of[id(o)])]
        for other in rng.sample(unrelated, min(d.negatives_per_call, len(unrelated))):
            add(sample, other["tools"], "unrelated", False)
        if d.distractors and unrelated:
            add(sample, sample["tools"] + [rng.choice(rng.choice(unrelated)["tools"])], "distractor", True)
    return examples


def call_open_ids(tokenizer: Any) -> list[int]:
    """Token ids whose text starts a call: ``[`` (python calls and JSON call lists alike)."""
    return sorted(i for t, i in tokenizer.get_vocab().items()
                  if tokenizer.convert_tokens_to_string([t]).lstrip().startswith("["))


def class_weights(calls: int, total: int, call_weight: float = 1.0) -> dict[bool, float]:
    """Per-example loss weights of the call (``True``) and decline (``False``) class: each class
    contributes in the ratio ``call_weight`` : 1 however many examples it has, and the weights
    average 1 over the examples."""
    share = call_weight / (1 + call_weight)
    return {True: total * share / calls, False: total * (1 - share) / (total - calls)}


def system_prefix_length(tokenizer: Any, messages: list[dict[str, Any]], row: list[int]) -> int:
    """Tokens of ``row`` (``messages`` rendered with the generation prompt) that render the messages
    before the last one -- the system prompt with its tool list; 0 where that rendering is not a
    token prefix of ``row`` (then the whole row is trained)."""
    if len(messages) < 2:
        return 0
    head = tokenizer.apply_chat_template(messages[:-1], tokenize=True, return_dict=False)
    return len(head) if 0 < len(head) < len(row) and row[:len(head)] == head else 0


@contextlib.contextmanager
def _checkpointing_off(model: Any) -> Iterator[None]:
    """Activation checkpointing off inside the block (a cached prefix cannot be recomputed: the
    recomputation would append to the cache a second time), restored after."""
    layers = [m for m in model.modules() if getattr(m, "gradient_checkpointing", False) is True]
    for m in layers:
        m.gradient_checkpointing = False
    try:
        yield
    finally:
        for m in layers:
            m.gradient_checkpointing = True


def _padded_logits(model: Any, rows: list[list[int]], pad: int, device: Any) -> Any:
    """First-answer-token logits of right-padded ``rows``, the whole prompt in the graph."""
    import torch

    longest = max(len(r) for r in rows)
    ids = torch.full((len(rows), longest), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    keep = torch.zeros((len(rows), longest), dtype=torch.bool)
    for k, row in enumerate(rows):
        ids[k, :len(row)] = torch.tensor(row)
        mask[k, :len(row)] = 1
        keep[k, len(row) - 1] = True
    return model(input_ids=ids.to(device), attention_mask=mask.to(device), logits_to_keep=keep.to(device),
                 use_cache=False).logits


def _request_logits(model: Any, row: list[int], split: int, device: Any) -> Any:
    """First-answer-token logits of one ``row`` whose first ``split`` tokens (the system prompt) are
    run without gradient and cached; the rest -- the user turn and the generation prompt -- is run
    on that cache with gradient (the adapter learns from the request's side only)."""
    import torch

    cache = None
    if split:
        with torch.no_grad():
            cache = model(input_ids=torch.tensor([row[:split]], device=device), use_cache=True).past_key_values
    return model(input_ids=torch.tensor([row[split:]], device=device), past_key_values=cache, use_cache=True,
                 logits_to_keep=1).logits


def tune_decision(model: Any, tokenizer: Any, samples: list[dict[str, Any]], params: SFTParams, bf16: bool
                  ) -> dict[str, Any]:
    """Train ``model`` (a PEFT model, trainable adapter) in place on the decision examples of
    ``samples``; returns the phase's report (examples by kind, steps, mean loss and share of
    examples decided right per epoch, wall seconds). Nothing to train on: ``{"skipped": why}``."""
    import torch

    d = params.decision
    examples = decision_examples(samples, params)
    calls = sum(e["call"] for e in examples)
    kinds: dict[str, int] = {}
    for e in examples:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    if not calls or calls == len(examples):
        logger.warning("sft decision tuning skipped: %d call and %d decline examples (needs both)",
                       calls, len(examples) - calls)
        return {"skipped": "needs call and decline examples", "examples": kinds}
    weight = class_weights(calls, len(examples), d.call_weight)
    rows = [tokenizer.apply_chat_template(e["messages"], add_generation_prompt=True, tokenize=True,
                                          return_dict=False) for e in examples]
    splits = [system_prefix_length(tokenizer, e["messages"], row) if d.backprop == "request" else 0
              for e, row in zip(examples, rows)]
    if params.max_length:  # the end (request, generation prompt) decides
        splits = [max(0, s - max(0, len(r) - params.max_length)) for s, r in zip(splits, rows)]
        rows = [r[-params.max_length:] for r in rows]
    device = next(p for p in model.parameters() if p.requires_grad).device
    opens = torch.tensor(call_open_ids(tokenizer), device=device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=d.learning_rate, weight_decay=0.0)
    steps = d.epochs * math.ceil(len(rows) / d.batch_size)
    warmup = max(1, round(0.1 * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    rng = random.Random(f"{params.seed}:decision-order")
    epochs, start = [], time.perf_counter()
    was_training = model.training
    model.train()

    def backward(logits: Any, batch: list[int], step_size: int) -> tuple[float, int]:
        """Loss of ``batch``'s first-token ``logits`` (one row per example), divided by the step's
        ``step_size`` examples and back-propagated; returns the summed loss and the examples decided right."""
        labels = torch.tensor([examples[i]["call"] for i in batch], device=device)
        weights = torch.tensor([weight[examples[i]["call"]] for i in batch], device=device)
        logp = torch.log_softmax(logits.reshape(len(batch), -1).float(), dim=-1)
        log_call = torch.logsumexp(logp[:, opens], dim=-1).clamp(max=-1e-6)
        log_text = torch.log(-torch.expm1(log_call))  # log(1 - p(call))
        losses = -torch.where(labels, log_call, log_text) * weights
        (losses.sum() / step_size).backward()
        return float(losses.detach().sum()), int(((log_call.detach() > math.log(0.5)) == labels).sum())

    with _checkpointing_off(model) if d.backprop == "request" else contextlib.nullcontext():
        for epoch in range(d.epochs):
            order = list(range(len(rows)))
            rng.shuffle(order)
            # length buckets: sort within windows of 8 batches so that a batch pads little
            window = 8 * d.batch_size
            order = [i for w in range(0, len(order), window)
                     for i in sorted(order[w:w + window], key=lambda i: len(rows[i]))]
            batches = [order[b:b + d.batch_size] for b in range(0, len(order), d.batch_size)]
            rng.shuffle(batches)
            total, right = 0.0, 0
            for batch in tqdm(batches, desc=f"decision epoch {epoch + 1}/{d.epochs}", disable=len(batches) < 8):
                optimiser.zero_grad(set_to_none=True)
                parts = [[i] for i in batch] if d.backprop == "request" else [batch]
                for part in parts:
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                        logits = (_request_logits(model, rows[part[0]], splits[part[0]], device)
                                  if d.backprop == "request" else _padded_logits(model, [rows[i] for i in part],
                                                                                 pad, device))
                    loss, ok = backward(logits, part, len(batch))
                    total, right = total + loss, right + ok
                torch.nn.utils.clip_grad_norm_(trainable, params.training.max_grad_norm)
                optimiser.step()
                schedule.step()
            epochs.append({"epoch": epoch + 1, "mean_loss": round(total / len(rows), 4),
                           "decided_right": round(right / len(rows), 4)})
            logger.info("sft decision tuning epoch %d/%d: mean loss %.3f, %.0f %% of %d examples decided right",
                        epoch + 1, d.epochs, total / len(rows), 100 * right / len(rows), len(rows))
    model.train(was_training)
    optimiser.zero_grad(set_to_none=True)
    return {"examples": kinds, "call_examples": calls, "decline_examples": len(examples) - calls, "steps": steps,
            "tokens_per_epoch": sum(len(r) for r in rows), "backprop": d.backprop,
            "tokens_with_gradient_per_epoch": sum(len(r) - s for r, s in zip(rows, splits)), "epochs": epochs,
            "wall_s": round(time.perf_counter() - start, 2)}
