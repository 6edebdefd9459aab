"""In-process generation with transformers: batched, left-padded, JSON-constrained by xgrammar.

Conversations are rendered with the model's chat template, sorted by length and generated in
batches of ``batch_size`` (sorting keeps padding, and so wasted compute, small). With a JSON
schema every row of the batch carries an xgrammar matcher compiled from the schema, so even a
135M model can only emit JSON that parses and validates -- provided strings and arrays are
bounded (``max_string_length``, ``max_array_items`` are added where the schema leaves them open)
and ``max_tokens`` leaves room to close the JSON; output cut at ``max_tokens`` is reported as
``schema_invalid`` by the base class and re-asked.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path
from typing import Any

from toolace_kedro.llm.base import Completion, LLMClient, LLMConfig
from toolace_kedro.models import load_policy, resolve_model

__all__ = ["TransformersClient", "bound_schema"]

logger = logging.getLogger(__name__)


def bound_schema(schema: Any, max_string_length: int, max_array_items: int) -> Any:
    """Copy of ``schema`` with ``maxLength``/``maxItems`` added where strings/arrays are unbounded
    (enum/const/format strings are left alone: they bound themselves; xgrammar ignores maxLength
    beside a pattern, so a pattern should bound its own length)."""
    if isinstance(schema, list):
        return [bound_schema(s, max_string_length, max_array_items) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: bound_schema(v, max_string_length, max_array_items) if isinstance(v, (dict, list)) else v
           for k, v in schema.items()}
    if isinstance(schema.get("properties"), dict):  # property names are keys, not schemas: recurse values only
        out["properties"] = {k: bound_schema(v, max_string_length, max_array_items)
                             for k, v in schema["properties"].items()}
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if "string" in types and not {"maxLength", "enum", "const", "format", "pattern"} & schema.keys():
        out["maxLength"] = max_string_length
    if "array" in types and "maxItems" not in schema:
        out["maxItems"] = max_array_items
    return out


class TransformersClient(LLMClient):
    backend = "transformers"

    def __init__(self, config: LLMConfig) -> None:
        super().__init__(config)
        self.model, self.tokenizer = load_policy(config.model, device=config.device, dtype=config.dtype)
        self._compiler = None
        self._grammars: dict[str, Any] = {}

    def fingerprint(self) -> str:
        path = Path(resolve_model(self.config.model))
        weights = sorted(path.glob("*.safetensors")) if path.is_dir() else []
        stamp = ",".join(f"{w.name}:{w.stat().st_size}:{int(w.stat().st_mtime)}" for w in weights)
        return f"{self.config.model}|{stamp}"

    # ------------------------------------------------------------------ structured output
    def _compiled(self, schema: dict[str, Any]) -> Any:
        bounded = bound_schema(copy.deepcopy(schema), self.config.max_string_length, self.config.max_array_items)
        # property order matters (the model writes "thought" before "calls", "name" before
        # "arguments"), so the grammar is compiled from the schema as given, never key-sorted
        key = json.dumps(bounded)
        if key not in self._grammars:
            import xgrammar as xgr

            if self._compiler is None:
                info = xgr.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=self.model.config.vocab_size)
                self._compiler = xgr.GrammarCompiler(info, max_threads=max(1, os.cpu_count() or 1))
            self._grammars[key] = self._compiler.compile_json_schema(key, any_whitespace=False)
        return self._grammars[key]

    # ------------------------------------------------------------------ generation
    def _generate(self, conversations, sampling, schemas, on_result):
        import torch
        from tqdm.auto import tqdm

        tok = self.tokenizer
        prompts = [tok.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]
        lengths = [len(tok(p, add_special_tokens=False).input_ids) for p in prompts]
        # a batch shares sampling settings and is constrained or not as a whole: group by those,
        # then by length
        group = [json.dumps([sampling[i], schemas[i] is None], sort_keys=True) for i in range(len(prompts))]
        order = sorted(range(len(prompts)), key=lambda i: (group[i], -lengths[i]))
        compiled = [self._compiled(x) if x is not None else None for x in schemas]
        size = self.config.batch_size
        batches = []
        for i in order:
            if batches and len(batches[-1]) < size and group[batches[-1][0]] == group[i]:
                batches[-1].append(i)
            else:
                batches.append([i])
        bar = tqdm(total=len(prompts), desc="generate", unit="req", disable=not self.config.progress, leave=False)
        for batch in batches:
            params = dict(sampling[batch[0]])
            enc = tok([prompts[i] for i in batch], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(self.model.device) for k, v in enc.items()}
            kwargs: dict[str, Any] = {"max_new_tokens": params["max_tokens"], "pad_token_id": tok.pad_token_id}
            if params["temperature"] and params["temperature"] > 0:
                kwargs.update(do_sample=True, temperature=params["temperature"], top_p=params["top_p"])
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            if params.get("stop"):
                kwargs.update(stop_strings=params["stop"], tokenizer=tok)
            if compiled[batch[0]] is not None:
                import xgrammar as xgr

                kwargs["logits_processor"] = [xgr.contrib.hf.LogitsProcessor([compiled[i] for i in batch])]
            if params.get("seed") is not None:
                torch.manual_seed(params["seed"])
            try:
                with torch.inference_mode():
                    generated = self.model.generate(**enc, **kwargs)
            except (RuntimeError, ValueError) as exc:  # e.g. out of memory: report, keep the run alive
                logger.exception("generation failed for a batch of %d", len(batch))
                for i in batch:
                    on_result(i, Completion(error="generation_error", detail=str(exc)[:200]))
                bar.update(len(batch))
                continue
            new_tokens = generated[:, enc["input_ids"].shape[1]:]
            for row, i in enumerate(batch):
                ids = new_tokens[row].tolist()
                n = _content_length(ids, {tok.eos_token_id, tok.pad_token_id})
                text = tok.decode(ids[:n], skip_special_tokens=True)
                on_result(i, Completion(text=text.strip(), prompt_tokens=lengths[i], completion_tokens=n,
                                        truncated=n >= params["max_tokens"]))
            bar.update(len(batch))
        bar.close()


def _content_length(ids: list[int], stop_ids: set[int]) -> int:
    for n, token in enumerate(ids):
        if token in stop_ids:
            return n
    return len(ids)
