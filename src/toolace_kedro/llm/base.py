"""The one small client interface every stage talks to.

``client.chat_batch(conversations, json_schema=None, errors="raise", **sampling)`` takes a list of
chat conversations (lists of ``{"role", "content"}``) and returns one string per conversation.

What the base class does for every backend:

* merges per-call sampling (``temperature``, ``top_p``, ``max_tokens``, ``seed``, ``stop``) over
  the configured defaults;
* looks each request up in the on-disk :class:`~toolace_kedro.llm.cache.ResponseCache` and sends
  only the misses; identical requests within one batch are told apart by an occurrence index, so
  n samples of one prompt (self-consistency) stay n different samples and are each cached;
* with ``json_schema``, checks every output parses as JSON and validates, returns it as canonical
  JSON text (``json.dumps``), re-asks the invalid ones
  (``schema_retries`` times, with a new seed, and twice the ``max_tokens`` where the output was
  cut at the limit), and reports the rest as ``schema_invalid``;
* caches every valid answer the moment the backend hands it over (``on_result``), so a killed
  run keeps all answers it had received;
* counts requests, cache hits, prompt/completion tokens, retries and failures by reason in
  :attr:`LLMClient.usage` for the stage statistics and MLflow;
* with ``errors="raise"`` (default) raises :class:`LLMBatchError` after the batch if any request
  failed (its ``results`` keep the successes); with ``errors="skip"`` failed entries are ``None``.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field

from toolace_kedro.llm.cache import ResponseCache, request_key

__all__ = ["Completion", "LLMBatchError", "LLMClient", "LLMConfig", "Usage"]

logger = logging.getLogger(__name__)

SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "seed", "stop")


class LLMConfig(BaseModel):
    """Validated LLM settings (the ``llm:`` blocks of ``conf/*/parameters_*.yml``).

    Credentials are never part of this config: the openai backend reads its key from the
    environment variable ``api_key_env`` or from ``conf/local/credentials.yml`` (entry
    ``credentials``), so parameters logged to MLflow never carry a secret.
    """

    model_config = ConfigDict(extra="forbid")

    backend: Literal["transformers", "openai"] = "transformers"
    model: str = "smollm2-135m-instruct"
    # sampling defaults
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(256, gt=0)
    seed: int | None = 0
    stop: list[str] | None = None
    # structured output
    schema_retries: int = Field(2, ge=0)
    max_string_length: int = Field(120, gt=0, description="maxLength added to unbounded strings (transformers)")
    max_array_items: int = Field(5, gt=0, description="maxItems added to unbounded arrays (transformers)")
    # caching / progress
    cache_dir: str | None = None
    progress: bool = True
    # transformers backend
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = Field(8, gt=0, description="rows decoding at once (continuous batching)")
    prefill_dtype: str = Field("auto", description="dtype of prompt processing: auto, same, bfloat16, float32, ...")
    prefill_tokens: int = Field(2048, gt=0, description="padded prompt tokens per prefill forward pass")
    # openai backend
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    credentials: str | None = "openai"
    max_concurrency: int = Field(16, gt=0)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(5, ge=0)
    backoff_s: float = Field(0.5, ge=0)
    max_backoff_s: float = Field(30.0, ge=0)
    extra_body: dict[str, Any] = Field(default_factory=dict)


@dataclass
class Completion:
    """One request's outcome: ``text`` on success, else ``error`` (a reason code)."""

    text: str | None = None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    detail: str = ""
    truncated: bool = False  # stopped at max_tokens


@dataclass
class Usage:
    """Running totals for one client (one stage)."""

    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "retries": dict(self.retries),
            "failures": dict(self.failures),
        }


class LLMBatchError(RuntimeError):
    """Some requests of a batch failed; ``results`` holds every success (``None`` elsewhere)."""

    def __init__(self, results: list[str | None], failures: dict[int, str]) -> None:
        reasons = Counter(failures.values())
        super().__init__(f"{len(failures)} of {len(results)} requests failed: {dict(reasons)}")
        self.results = results
        self.failures = failures


class LLMClient(ABC):
    """Base of every backend; subclasses implement :meth:`_generate` (and :meth:`fingerprint`)."""

    backend = "base"

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self.usage = Usage()
        self.cache = ResponseCache(config.cache_dir) if config.cache_dir else None

    # ------------------------------------------------------------------ backend hooks
    @abstractmethod
    def _generate(
        self, conversations: list[list[dict[str, Any]]], sampling: list[dict[str, Any]],
        schemas: list[dict[str, Any] | None], on_result: Callable[[int, Completion], None],
    ) -> None:
        """Answer every conversation (with its own sampling dict and JSON schema or None), calling ``on_result(index,
        completion)`` once per conversation as soon as its answer is in, so a crash or a kill
        loses only the answers still in flight; never raise for one request's failure."""

    def fingerprint(self) -> str:
        """Identity of the model behind this client (part of every cache key)."""
        return self.config.model

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    # ------------------------------------------------------------------ public API
    def chat_batch(
        self,
        conversations: list[list[dict[str, Any]]],
        *,
        json_schema: dict[str, Any] | list[dict[str, Any] | None] | None = None,
        errors: Literal["raise", "skip"] = "raise",
        **sampling: Any,
    ) -> list[str | None]:
        """Answer each conversation; ``json_schema`` is one schema for all, or a list with one
        schema (or None) per conversation."""
        unknown = set(sampling) - set(SAMPLING_KEYS)
        if unknown:
            raise TypeError(f"unknown sampling options {sorted(unknown)}; allowed: {SAMPLING_KEYS}")
        base = {k: getattr(self.config, k) for k in SAMPLING_KEYS}
        base.update({k: v for k, v in sampling.items() if v is not None or k in ("seed", "stop")})
        schemas = list(json_schema) if isinstance(json_schema, list) else [json_schema] * len(conversations)
        if len(schemas) != len(conversations):
            raise ValueError(f"{len(schemas)} schemas for {len(conversations)} conversations")
        validators: dict[str, jsonschema.Validator] = {}
        for schema in schemas:
            if schema is not None:
                key = json.dumps(schema, sort_keys=True)
                if key not in validators:
                    validators[key] = _schema_validator(schema)
        row_validator = [validators[json.dumps(x, sort_keys=True)] if x is not None else None for x in schemas]

        seen: Counter = Counter()
        keys, samplings = [], []
        for conv, schema in zip(conversations, schemas):
            ident = json.dumps([conv, schema], sort_keys=True, ensure_ascii=False)
            occurrence = seen[ident]
            seen[ident] += 1
            req_sampling = dict(base)
            if occurrence and req_sampling.get("seed") is not None:
                req_sampling["seed"] = req_sampling["seed"] + occurrence
            samplings.append(req_sampling)
            keys.append(request_key({
                "backend": self.backend, "model": self.fingerprint(), "messages": conv,
                "sampling": base, "schema": schema, "occurrence": occurrence,
            }))

        results: list[str | None] = [None] * len(conversations)
        hits = self.cache.get_many(keys) if self.cache is not None else {}
        for i, key in enumerate(keys):
            if key in hits:
                results[i] = hits[key][0]
        self.usage.cache_hits += sum(1 for r in results if r is not None)

        todo = [i for i, r in enumerate(results) if r is None]
        failures: dict[int, str] = {}
        for attempt in range(self.config.schema_retries + 1 if validators else 1):
            if not todo:
                break
            if attempt:
                for i in todo:
                    seed = samplings[i].get("seed")
                    samplings[i]["seed"] = (seed or 0) + 1000 * attempt
                logger.info("re-asking %d requests whose output broke the JSON schema", len(todo))
            retry: list[int] = []
            cut: list[int] = []  # retried with twice the tokens (applied after the call)

            def receive(position: int, comp: Completion, todo: list[int] = todo, retry: list[int] = retry,
                        cut: list[int] = cut) -> None:
                """Account, validate and cache one response as soon as the backend has it."""
                i = todo[position]
                self.usage.requests += 1
                self.usage.prompt_tokens += comp.prompt_tokens
                self.usage.completion_tokens += comp.completion_tokens
                if comp.error is None and row_validator[i] is not None:
                    problem, comp.text = _schema_problem(row_validator[i], comp.text or "")
                    if problem:
                        if comp.truncated:
                            cut.append(i)
                        comp = Completion(error="schema_invalid", detail=problem)
                        retry.append(i)
                if comp.error is not None:
                    failures[i] = comp.error
                    return
                failures.pop(i, None)
                results[i] = comp.text
                if self.cache is not None:
                    self.cache.put(keys[i], comp.text or "", comp.prompt_tokens, comp.completion_tokens)

            self._generate([conversations[i] for i in todo], [samplings[i] for i in todo],
                           [schemas[i] for i in todo], receive)
            for i in cut:
                samplings[i]["max_tokens"] *= 2
            self.usage.retries.update({"schema_invalid": len(retry)} if retry else {})
            todo = retry

        for reason in failures.values():
            self.usage.failures[reason] += 1
        if failures:
            logger.warning("%d of %d LLM requests failed: %s", len(failures), len(conversations),
                           dict(Counter(failures.values())))
            if errors == "raise":
                raise LLMBatchError(results, failures)
        return results

    def try_chat_batch(self, conversations: list[list[dict[str, Any]]], **kwargs: Any
                       ) -> tuple[list[str | None], dict[int, str]]:
        """Like :meth:`chat_batch` but never raises for failed requests: returns
        ``(results, failures)`` with ``failures`` mapping the index of each failed request to
        its reason (``http_500``, ``timeout``, ``schema_invalid``, ...)."""
        try:
            return self.chat_batch(conversations, errors="raise", **kwargs), {}
        except LLMBatchError as exc:
            return exc.results, exc.failures

    def chat(self, messages: list[dict[str, Any]], **kwargs: Any) -> str:
        """One conversation; raises on failure."""
        return self.chat_batch([messages], **kwargs)[0]  # type: ignore[return-value]


def _schema_validator(schema: dict[str, Any]) -> jsonschema.Validator:
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema, format_checker=jsonschema.FormatChecker())


def _schema_problem(validator: jsonschema.Validator, text: str) -> tuple[str, str]:
    """``(problem, canonical_text)``: control characters inside strings (which some grammar
    engines let through) are tolerated on reading and escaped in the canonical JSON text."""
    try:
        value = json.loads(text, strict=False)
    except ValueError as exc:
        return f"not JSON: {exc}", text
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    problem = "" if error is None else f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
    return problem, json.dumps(value, ensure_ascii=False)
