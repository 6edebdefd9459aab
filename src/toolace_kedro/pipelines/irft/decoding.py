"""Sampling the continuations of search nodes with the prompt's KV cache computed once.

Every node of a sample's search tree shares one prompt (the system prompt with the tool list and
the dialog so far — hundreds of tokens) and differs only in the answer prefix (a few dozen
tokens). :class:`StepSampler` therefore

* processes each sample's prompt **once** (``prompt_state``; optionally on a ``prefill_model``
  in another dtype — bfloat16 prompt processing is faster on CPUs with native bf16 — its keys
  and values cast to the decoding model's dtype) and keeps its per-layer keys and values;
* for an expansion feeds only the node's answer tokens on top of a copy of that cache. The
  baselines of ``benchmarks/mcts_prefix_reuse.py``: ``prefix="per_expansion"`` recomputes
  prompt + prefix once for every expansion (shared by its ``k`` children), ``"per_child"`` once
  for every child (what ``generate(num_return_sequences=k)`` on the node's text does);
* decodes the ``k`` continuations of several nodes (of different samples) as one batch: each
  node's cache is repeated ``k`` times and the groups are left-padded into preallocated KV slabs
  (``llm.continuous``'s slab cache: appending a token writes in place instead of copying the
  cache), with explicit position ids, so rows of different lengths decode together.

Each row samples at ``temperature`` (top-p within the 256 likeliest tokens) for the first
``max_new_tokens`` tokens — the expansion — and then at ``simulation_temperature`` for up to
``simulation_tokens`` more — the short simulation that completes the answer. The policy's own log
probability of every sampled token (at temperature 1) is recorded for the node priors. Every
request has its own seeded random stream, so its tokens do not depend on the batch it shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import DynamicCache

from toolace_kedro.llm.continuous import sample_rows
from toolace_kedro.llm.slab_cache import SlabLayer, left_pad_mask, merge_into_slabs

__all__ = ["PREFIX_MODES", "PromptState", "Rollout", "StepSampler"]

PREFIX_MODES = ("reuse", "per_expansion", "per_child")


@dataclass
class PromptState:
    """A processed prompt: its token ids, per-layer ``(keys, values)`` ``[1, heads, len, dim]``
    (None when prefixes are recomputed) and the logits after its last token."""

    ids: list[int]
    layers: list[tuple[torch.Tensor, torch.Tensor]] | None
    logits: torch.Tensor | None


@dataclass
class Rollout:
    """A sampled continuation of a node: token ids (stop token excluded), the policy's log
    probability of each, and whether it ended with a stop token."""

    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    finished: bool = False


@dataclass
class _Row:
    rollout: Rollout
    generator: torch.Generator
    position: int
    done: bool = False


class StepSampler:
    """Batched continuation sampling for step-level search (see the module docstring)."""

    def __init__(self, model: Any, tokenizer: Any, *, max_new_tokens: int = 50, simulation_tokens: int = 48,
                 temperature: float = 1.0, simulation_temperature: float = 0.7, top_p: float = 0.95,
                 prefix: str = "reuse", prefill_model: Any = None) -> None:
        if prefix not in PREFIX_MODES:
            raise ValueError(f"prefix must be one of {PREFIX_MODES}, got {prefix!r}")
        self.model, self.tokenizer = model, tokenizer
        self.prefill_model = prefill_model or model
        self.max_new_tokens, self.simulation_tokens = max_new_tokens, simulation_tokens
        self.temperature, self.simulation_temperature, self.top_p = temperature, simulation_temperature, top_p
        self.prefix_mode = prefix
        stop = model.generation_config.eos_token_id
        self.stop_ids = {tokenizer.eos_token_id} | set(stop if isinstance(stop, list) else [stop] if stop is not None
                                                       else [])
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.stats = {"prefill_tokens": 0, "decode_steps": 0, "decode_rows": 0, "expansions": 0}

    # ------------------------------------------------------------------ prompts
    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """The chat-template rendering of ``messages`` up to the assistant's answer."""
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def prompt_state(self, ids: list[int]) -> PromptState:
        """Process a prompt once (``prefix="reuse"``); the baselines only remember its ids."""
        if self.prefix_mode != "reuse":
            return PromptState(ids, None, None)
        layers, logits = self._forward(ids, None, model=self.prefill_model)
        dtype = next(self.model.parameters()).dtype
        return PromptState(ids, [(k.to(dtype), v.to(dtype)) for k, v in layers], logits)

    def _forward(self, ids: list[int], past: list[tuple[torch.Tensor, torch.Tensor]] | None, rows: int = 1,
                 model: Any = None):
        """Run ``ids`` (``rows`` copies) on top of an optional cache; per-layer KV and last logits."""
        model = model or self.model
        cache = DynamicCache(ddp_cache_data=past) if past else DynamicCache()  # a copy: ``past`` stays intact
        tensor = torch.tensor([ids] * rows, dtype=torch.long, device=model.device)
        with torch.inference_mode():
            out = model(input_ids=tensor, past_key_values=cache, use_cache=True, logits_to_keep=1)
        self.stats["prefill_tokens"] += len(ids) * rows
        layers = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        return layers, out.logits[0, -1].float()

    def _node_state(self, prompt: PromptState, prefix: list[int], k: int):
        if self.prefix_mode == "per_expansion":  # baseline: the whole prefix again for every expansion
            return self._forward(prompt.ids + list(prefix), None)
        if self.prefix_mode == "per_child":  # baseline: ... and for every child
            return self._forward(prompt.ids + list(prefix), None, rows=k)
        if not prefix:
            return prompt.layers, prompt.logits
        return self._forward(list(prefix), prompt.layers)

    # ------------------------------------------------------------------ expansion
    def expand(self, requests: list[tuple[PromptState, list[int], int, int]]) -> list[list[Rollout]]:
        """Sample continuations for ``(prompt, answer_prefix_ids, k, seed)`` requests, all in one
        decoding batch; returns the ``k`` rollouts of each request."""
        if not requests:
            return []
        parts, widths, logits, rows = [], [], [], []
        for prompt, prefix, k, seed in requests:
            layers, last = self._node_state(prompt, prefix, k)
            parts.append([(key.expand(k, -1, -1, -1), value.expand(k, -1, -1, -1)) if key.shape[0] == 1
                          else (key, value) for key, value in layers])
            width = len(prompt.ids) + len(prefix)
            widths.append(width)
            logits.append(last.unsqueeze(0).expand(k, -1))
            for i in range(k):
                generator = torch.Generator()
                generator.manual_seed((seed * 1_000_003 + i) % (2**63))
                rows.append(_Row(Rollout(), generator, width))
        self.stats["expansions"] += len(requests)
        width = max(widths)
        budget = self.max_new_tokens + self.simulation_tokens
        mask = torch.cat([left_pad_mask(torch.ones((k, w), dtype=torch.long), width)
                          for (_, _, k, _), w in zip(requests, widths)])
        cache = merge_into_slabs(parts, widths, width, 0, budget)
        next_logits = torch.cat(logits)
        active = list(range(len(rows)))  # rows still in the batch, in batch order
        for step in range(budget):
            temperature = self.temperature if step < self.max_new_tokens else self.simulation_temperature
            tokens = self._choose([rows[j] for j in active], next_logits, temperature, budget)
            if all(rows[j].done for j in active):
                break
            live = [n for n, j in enumerate(active) if not rows[j].done]
            if len(live) <= len(active) // 2:  # compact: drop finished rows from the batch
                idx = torch.tensor(live)
                cache.layers = [SlabLayer(layer._k.index_select(0, idx), layer._v.index_select(0, idx), layer.length)
                                for layer in cache.layers]
                mask, tokens = mask.index_select(0, idx), tokens.index_select(0, idx)
                active = [active[n] for n in live]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            positions = torch.tensor([[rows[j].position] for j in active])
            with torch.inference_mode():
                out = self.model(input_ids=tokens.view(-1, 1).to(self.model.device),
                                 attention_mask=mask.to(self.model.device),
                                 position_ids=positions.to(self.model.device), past_key_values=cache,
                                 use_cache=True, logits_to_keep=1)
            next_logits = out.logits[:, -1].float().cpu()
            self.stats["decode_steps"] += 1
            self.stats["decode_rows"] += len(active)
            for j in active:
                rows[j].position += 1
        out = cache = None
        result, start = [], 0
        for _, _, k, _ in requests:
            result.append([r.rollout for r in rows[start : start + k]])
            start += k
        return result

    def _choose(self, rows: list[_Row], logits: torch.Tensor, temperature: float, budget: int) -> torch.Tensor:
        """Next token of every row: greedy at temperature 0, else sampled (top-p within the
        ``TOP_K`` likeliest); records the policy log-probability; marks finished rows."""
        logits = logits.cpu()
        logprobs = torch.log_softmax(logits, dim=-1)
        if temperature > 0:
            chosen = sample_rows(logits, temperature, self.top_p, [row.generator for row in rows])
        else:
            chosen = logits.argmax(dim=-1)
        for n, row in enumerate(rows):
            if row.done:
                chosen[n] = self.pad_id
                continue
            token = int(chosen[n])
            if token in self.stop_ids:
                row.done = row.rollout.finished = True
                continue
            row.rollout.tokens.append(token)
            row.rollout.logprobs.append(float(logprobs[n, token]))
            if len(row.rollout.tokens) >= budget:
                row.done = True
        return chosen
