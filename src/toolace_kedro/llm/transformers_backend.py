"""In-process generation with transformers: continuous batching, JSON-constrained by xgrammar.

Conversations are rendered with the model's chat template and decoded by
:class:`~toolace_kedro.llm.continuous.ContinuousBatcher`: up to ``batch_size`` rows decode at
once and a finished row's slot is refilled from the queue; identical prompts (n samples) are
prefilled once. ``dtype: auto`` runs the model in bfloat16 on CUDA and on a CPU with native
bfloat16 (AVX512-BF16/AMX: decode steps and prompts of the embedded model are faster than in
float32 there; benchmarks/README.md); a float32 model on such a CPU has its prompts processed by a
bfloat16 copy (``prefill_dtype: auto``). With a JSON schema every row carries an xgrammar matcher
compiled from the schema, so even a 135M model can only emit JSON that parses and validates --
provided strings and arrays are bounded (``max_string_length``, ``max_array_items`` are added
where the schema leaves them open) and ``max_tokens`` leaves room to close the JSON; output cut
at ``max_tokens`` is reported as ``schema_invalid`` by the base class and re-asked.
"""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
import logging
import os
import time
from typing import Any

from tqdm.auto import tqdm

from toolace_kedro.llm.base import Completion, LLMClient, LLMConfig
from toolace_kedro.llm.stop_rules import stop_rule
from toolace_kedro.models import cpu_has_bf16, load_policy, resolve_model
from toolace_kedro.models.identity import weights_digest, weights_stamp

__all__ = ["TransformersClient", "bound_schema"]

logger = logging.getLogger(__name__)


#: compiled grammars kept per client (least recently used dropped first)
GRAMMAR_CACHE = 256

#: magnitude bound added to open integer/number schemas: a small model otherwise writes digit runs
#: ("11210000000000001") until ``max_tokens`` cuts the JSON
NUMBER_BOUND = 10**6


def bound_schema(schema: Any, max_string_length: int, max_array_items: int) -> Any:
    """Copy of ``schema`` with ``maxLength``/``maxItems`` added where strings/arrays are unbounded
    and ``minimum``/``maximum`` (±``NUMBER_BOUND``) where numbers are (enum/const/format strings
    are left alone: they bound themselves; xgrammar ignores maxLength beside a pattern, so a
    pattern should bound its own length)."""
    if isinstance(schema, list):
        return [bound_schema(s, max_string_length, max_array_items) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: bound_schema(v, max_string_length, max_array_items) if isinstance(v, (dict, list)) else v
           for k, v in schema.items()}
    if isinstance(schema.get("properties"), dict):  # property names are keys, not schemas: recurse values only
        out["properties"] = {k: bound_schema(v, max_string_length, max_array_items)
                             for k, v in schema["properties"].items()}
    kinds = schema.get("type")
    kinds = [k for k in (kinds if isinstance(kinds, list) else [kinds]) if isinstance(k, str)]
    if {"integer", "number"} & set(kinds) and not {"enum", "const"} & schema.keys():
        if "minimum" not in schema and "exclusiveMinimum" not in schema:
            out["minimum"] = -NUMBER_BOUND
        if "maximum" not in schema and "exclusiveMaximum" not in schema:
            out["maximum"] = NUMBER_BOUND
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if "string" in types and not {"maxLength", "enum", "const", "format", "pattern"} & schema.keys():
        out["maxLength"] = max_string_length
    if "array" in types and "maxItems" not in schema:
        out["maxItems"] = max_array_items
    return out


def _no_autograd():
    """Generation runs without autograd; scoped, so training later in the same process (a
    default ``kedro run`` trains after synthesising) keeps its gradients."""
    import torch

    return torch.inference_mode()


class TransformersClient(LLMClient):
    backend = "transformers"

    def __init__(self, config: LLMConfig) -> None:
        super().__init__(config)
        # auto: bfloat16 wherever it is native (CUDA, CPUs with AVX512-BF16/AMX), else float32
        dtype = "auto_bf16" if config.dtype == "auto" else config.dtype
        if config.adapter:  # a private copy with the LoRA weights merged in: plain modules decode faster
            model, self.tokenizer = load_policy(config.model, device=config.device, dtype=dtype,
                                                adapter=config.adapter, cached=False)
            self.model = model.merge_and_unload().eval()
        else:
            self.model, self.tokenizer = load_policy(config.model, device=config.device, dtype=dtype)
        self._compiler = None
        self._grammars: OrderedDict[str, Any] = OrderedDict()
        self.grammar_stats = {"compiled": 0, "seconds": 0.0}  # xgrammar compilations (cache misses)
        self._engine = None
        self._fingerprint: str | None = None

    def fingerprint(self) -> str:
        """Model name plus the size and time of its weight files, and for an adapter its path and
        a digest of its weights: cached answers of other weights are never reused -- base, base
        + adapter and a merged directory each have their own, and an adapter rewritten in place
        (same path, size and second) is told apart by its content. Computed once per client."""
        if self._fingerprint is None:
            self._fingerprint = self._weights_identity()
        return self._fingerprint

    def _weights_identity(self) -> str:
        model = f"{self.config.model}|{weights_stamp(resolve_model(self.config.model))}"
        if not self.config.adapter:
            return model
        return f"{model}|{self.config.adapter}|{weights_digest(self.config.adapter)}"

    # ------------------------------------------------------------------ structured output
    def _compiled(self, schema: dict[str, Any]) -> Any:
        bounded = bound_schema(copy.deepcopy(schema), self.config.max_string_length, self.config.max_array_items)
        # property order matters (the model writes "thought" before "calls", "name" before
        # "arguments"), so the grammar is compiled from the schema as given, never key-sorted
        key = json.dumps(bounded)
        if key in self._grammars:
            self._grammars.move_to_end(key)
        else:
            started = time.perf_counter()
            while len(self._grammars) >= GRAMMAR_CACHE:  # compiled grammars hold token-mask caches: bound them
                self._grammars.popitem(last=False)
            import xgrammar as xgr

            if self._compiler is None:
                info = xgr.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=self.model.config.vocab_size)
                self._compiler = xgr.GrammarCompiler(info, max_threads=max(1, os.cpu_count() or 1),
                                                     cache_enabled=False)  # bounded by our own LRU
            self._grammars[key] = self._compiler.compile_json_schema(key, any_whitespace=False)
            self.grammar_stats["compiled"] += 1
            self.grammar_stats["seconds"] += time.perf_counter() - started
        return self._grammars[key]

    # ------------------------------------------------------------------ generation
    def _batcher(self):
        if self._engine is None:
            import torch

            from toolace_kedro.llm.continuous import ContinuousBatcher

            prefill, prefill_dtype = None, self._prefill_dtype()
            if prefill_dtype is not None and self.config.adapter:  # the merged weights, not the base model's
                prefill = copy.deepcopy(self.model).to(getattr(torch, prefill_dtype)).eval()
            elif prefill_dtype is not None:
                prefill, _ = load_policy(self.config.model, device=self.config.device, dtype=prefill_dtype)
            tok = self.tokenizer
            stops = {tok.eos_token_id, tok.pad_token_id}
            eos = self.model.generation_config.eos_token_id
            stops |= set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
            self._engine = ContinuousBatcher(self.model, {s for s in stops if s is not None}, tok.pad_token_id,
                                             max_batch=self.config.batch_size, prefill_model=prefill,
                                             prefill_tokens=self.config.prefill_tokens,
                                             prefix_cache_tokens=self.config.prefix_cache_tokens,
                                             max_batch_tokens=self.config.max_batch_tokens)
        return self._engine

    def _prefill_dtype(self) -> str | None:
        """``prefill_dtype: auto``: bfloat16 prompt processing for a float32 model (``dtype:
        float32``) on a CPU with native bf16 (faster there), by a second copy."""
        wanted = self.config.prefill_dtype
        current = str(self.model.dtype).removeprefix("torch.")
        if wanted == "auto":
            cpu_bf16 = self.model.device.type == "cpu" and cpu_has_bf16()
            wanted = "bfloat16" if cpu_bf16 and current == "float32" else "same"
        return None if wanted in ("same", current) else wanted

    def _request(self, conversation, sampling, schema):
        from toolace_kedro.llm.continuous import GenRequest

        tok = self.tokenizer
        prompt = tok.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        return GenRequest(prompt_ids=tok(prompt, add_special_tokens=False).input_ids,
                          max_tokens=sampling["max_tokens"], temperature=sampling["temperature"] or 0.0,
                          top_p=sampling["top_p"], seed=sampling.get("seed"),
                          grammar=self._compiled(schema) if schema is not None else None, stop=sampling.get("stop"),
                          stop_when=stop_rule(sampling.get("stop_when")))

    def _completion(self, request, sampling, ids: list[int], truncated: bool) -> Completion:
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        for stop in sampling.get("stop") or []:
            if stop in text:
                text, truncated = text[: text.index(stop)], False
        return Completion(text=text.strip(), prompt_tokens=len(request.prompt_ids), completion_tokens=len(ids),
                          truncated=truncated)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _generate(self, conversations, sampling, schemas, on_result):
        requests = [self._request(c, p, x) for c, p, x in zip(conversations, sampling, schemas)]
        bar = tqdm(total=len(requests), desc="generate", unit="req", disable=not self.config.progress, leave=False)
        reported: set[int] = set()

        def done(i: int, ids: list[int], truncated: bool) -> None:
            reported.add(i)
            on_result(i, self._completion(requests[i], sampling[i], ids, truncated))

        try:
            with _no_autograd():
                self._batcher().run(requests, done, decode_text=self._decode, progress=bar.update)
        except (RuntimeError, ValueError) as exc:  # e.g. out of memory: report, keep the run alive
            logger.exception("generation failed")
            for i in sorted(set(range(len(requests))) - reported):
                on_result(i, Completion(error="generation_error", detail=str(exc)[:200]))
        finally:
            bar.close()

    def _serve(self, queue, complete):
        """Continuous service of a live queue: follow-up requests of flows join the running
        batch as soon as they are queued (see :meth:`LLMClient.run_flows`)."""
        bar = tqdm(desc="generate", unit="req", disable=not self.config.progress, leave=False)
        requests: dict[int, Any] = {}
        in_flight: dict[int, Any] = {}

        def to_request(work):
            requests[id(work)] = self._request(work.conversation, work.sampling, work.schema)
            in_flight[id(work)] = work
            return requests[id(work)]

        def done(work, ids: list[int], truncated: bool) -> None:
            request = requests.pop(id(work))
            in_flight.pop(id(work), None)
            bar.update(1)
            complete(work, self._completion(request, work.sampling, ids, truncated))

        try:
            with _no_autograd():
                self._batcher().serve(queue, to_request, done, decode_text=self._decode)
        except (RuntimeError, ValueError) as exc:
            logger.exception("generation failed")
            lost = list(in_flight.values()) + list(queue)
            queue.clear()
            for work in lost:
                complete(work, Completion(error="generation_error", detail=str(exc)[:200]))
            queue.clear()
        finally:
            bar.close()
