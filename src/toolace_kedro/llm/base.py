"""The one small client interface every stage talks to.

``client.chat_batch(conversations, json_schema=None, errors="raise", **sampling)`` takes a list of
chat conversations (lists of ``{"role", "content"}``) and returns one string per conversation.

What the base class does for every backend:

* merges per-call sampling (``temperature``, ``top_p``, ``max_tokens``, ``seed``, ``stop``) over
  the configured defaults; a request may also name a ``stop_when`` rule
  (:mod:`~toolace_kedro.llm.stop_rules`), part of its cache key only when set;
* looks each request up in the on-disk :class:`~toolace_kedro.llm.response_cache.ResponseCache` and sends
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
from collections import Counter, deque
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field

from toolace_kedro.llm.response_cache import ResponseCache, request_key
from toolace_kedro.llm.stop_rules import stop_rule

__all__ = ["WAIT", "Answers", "ChatRequest", "Completion", "LLMBatchError", "LLMClient", "LLMConfig", "Usage", "add_usage",
           "transport_failures"]

logger = logging.getLogger(__name__)

SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "seed", "stop")
#: per-request options besides the sampling defaults: ``stop_when`` names a rule of
#: :mod:`toolace_kedro.llm.stop_rules` that ends an answer once its scoring is settled
REQUEST_KEYS = SAMPLING_KEYS + ("stop_when",)

#: ``LLMConfig`` settings that never change the answer a request gets -- where it is sent, how many
#: at once, how long to wait, how often to retry, where answers are cached. Everything else is
#: part of :meth:`LLMClient.identity` (what a stage's shard checkpoints are keyed by).
RUNTIME_KEYS = frozenset({
    "cache_dir", "progress", "batch_size", "prefill_tokens", "prefix_cache_tokens", "max_batch_tokens",
    "base_url", "api_key_env", "credentials",
    "max_concurrency", "timeout_s", "max_retries", "backoff_s", "max_backoff_s",
})


class LLMConfig(BaseModel):
    """Validated LLM settings (the ``llm:`` blocks of ``conf/*/parameters_*.yml``).

    Credentials are never part of this config: the openai backend reads its key from the
    environment variable ``api_key_env`` or from ``conf/local/credentials.yml`` (entry
    ``credentials``), so parameters logged to MLflow never carry a secret.
    """

    model_config = ConfigDict(extra="forbid")

    backend: Literal["transformers", "openai"] = Field(
        "transformers", description="transformers: the model in this process; openai: any OpenAI-compatible server")
    model: str = Field("smollm2-135m-instruct", description="An embedded model name, an HF hub id or a local "
                       "directory (transformers); the served model's name (openai)")
    # sampling defaults
    temperature: float = Field(0.7, ge=0, description="Sampling temperature (0: greedy); a request may override it")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling mass")
    max_tokens: int = Field(256, gt=0, description="Tokens generated per request unless the request says otherwise")
    seed: int | None = Field(0, description="Sampling seed (null: unseeded)")
    stop: list[str] | None = Field(None, description="Strings that end a completion")
    # structured output
    schema_retries: int = Field(2, ge=0, description="Re-asks for structured output that did not validate")
    max_string_length: int = Field(120, gt=0, description="maxLength added to unbounded strings (transformers)")
    max_array_items: int = Field(5, gt=0, description="maxItems added to unbounded arrays (transformers)")
    # caching / progress
    cache_dir: str | None = Field(None, description="On-disk response cache: reruns and resumed runs do not pay "
                                  "twice (null: none)")
    progress: bool = Field(True, description="Progress bars on long request batches")
    # transformers backend
    device: str = Field("auto", description="transformers: auto = CUDA when present, else CPU; or a torch device")
    dtype: str = Field("auto", description="transformers: auto = bfloat16 on CUDA and on CPUs with native bf16, else "
                       "float32; or any torch dtype name")
    adapter: str | None = Field(None, description="a LoRA adapter directory applied to the model (transformers)")
    batch_size: int = Field(8, gt=0, description="rows decoding at once (continuous batching)")
    prefill_dtype: str = Field("auto", description="dtype of prompt processing: auto, same, bfloat16, float32, ...")
    prefill_tokens: int = Field(2048, gt=0, description="padded prompt tokens per prefill forward pass")
    max_batch_tokens: int = Field(32768, ge=0, description="bound on the prompt + max_tokens positions of the rows "
                                  "decoding at once (their cache memory; 0: none)")
    prefix_cache_tokens: int = Field(16384, ge=0, description="prompt positions whose cache rows are kept for "
                                     "prompts that start the same way (0: off)")
    # openai backend
    base_url: str | None = Field(None, description="openai: the server's base URL, e.g. http://localhost:8000/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="openai: environment variable holding the API key")
    credentials: str | None = Field("openai", description="openai: entry of conf/local/credentials.yml holding "
                                    "api_key (used when the variable is unset)")
    max_concurrency: int = Field(16, gt=0, description="openai: requests in flight")
    timeout_s: float = Field(120.0, gt=0, description="openai: seconds before a request is abandoned and retried")
    max_retries: int = Field(5, ge=0, description="openai: retries of a failed request before it counts as failed")
    backoff_s: float = Field(0.5, ge=0, description="openai: first wait between retries (doubles each time)")
    max_backoff_s: float = Field(30.0, ge=0, description="openai: longest wait between retries")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="openai: extra fields sent with every "
                                       "request (server-specific options)")
    served_weights: str | None = Field(None, description="openai: what the served model name stands for (e.g. a "
                                       "digest of the adapter the server loaded); part of the response-cache key, "
                                       "so a name re-served with other weights is not answered from the cache")


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


def add_usage(*usages: dict[str, Any]) -> dict[str, Any]:
    """The sum of :meth:`Usage.as_dict` records (of several processes, stages or shards)."""
    total: dict[str, Any] = Usage().as_dict()
    for usage in usages:
        for key, value in usage.items():
            if isinstance(value, dict):
                merged = Counter(total.get(key) or {})
                merged.update(value)
                total[key] = dict(merged)
            else:
                total[key] = total.get(key, 0) + value
    return total


def transport_failures(failures: dict[str, int]) -> int:
    """Requests that got no usable answer from the backend after its retries (HTTP errors,
    timeouts, dropped or malformed bodies): every failure but ``schema_invalid``, which is the
    model answering badly rather than the endpoint failing."""
    return sum(n for reason, n in failures.items() if reason != "schema_invalid")


@dataclass
class ChatRequest:
    """One request of a flow: a conversation, an optional JSON schema, sampling overrides."""

    messages: list[dict[str, Any]]
    schema: dict[str, Any] | None = None
    sampling: dict[str, Any] | None = None


class Answers(list):
    """The answers sent back to a flow (``None`` where a request failed), ``failures``:
    index → reason (``schema_invalid``, ``http_500``, ...) and ``details``: index → what the
    server or the check said. A flow woken after yielding :data:`WAIT` gets an empty
    ``Answers``; ``idle`` is true when nothing else was left to wait for."""

    def __init__(self, items: Iterable[str | None] = (), idle: bool = False) -> None:
        super().__init__(items)
        self.failures: dict[int, str] = {}
        self.details: dict[int, str] = {}
        self.idle = idle


class _Wait:
    def __repr__(self) -> str:
        return "WAIT"


#: what a flow yields (instead of requests) to wait until other flows have moved on
WAIT = _Wait()


class _Flow:
    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.answers = Answers()
        self.missing = 0
        self.started = False  # its first requests are queued


@dataclass(eq=False)
class _Work:
    """One request in flight (the unit a backend's ``_serve`` answers)."""

    flow: _Flow
    slot: int
    conversation: list[dict[str, Any]]
    schema: dict[str, Any] | None
    validator: Any
    sampling: dict[str, Any]
    key: str
    attempt: int = 0


class LLMBatchError(RuntimeError):
    """Some requests of a batch failed; ``results`` holds every success (``None`` elsewhere),
    ``failures`` each failed request's reason and ``details`` what the server said of it."""

    def __init__(self, results: list[str | None], failures: dict[int, str],
                 details: dict[int, str] | None = None) -> None:
        reasons = Counter(failures.values())
        super().__init__(f"{len(failures)} of {len(results)} requests failed: {dict(reasons)}")
        self.results = results
        self.failures = failures
        self.details = details or {}


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

    def identity(self) -> dict[str, Any]:
        """Everything of this client that decides what its answers are: the backend, the model
        fingerprint and every setting but the :data:`RUNTIME_KEYS`."""
        in_fingerprint = {"model", "served_weights"}
        settings = {k: v for k, v in self.config.model_dump().items() if k not in RUNTIME_KEYS | in_fingerprint}
        return {"backend": self.backend, "model": self.fingerprint(), **settings}

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    def _serve(self, queue: deque, complete: Callable[[Any, Completion], None]) -> None:
        """Answer the work items of ``queue`` (``.conversation``, ``.sampling``, ``.schema``),
        calling ``complete(item, completion)`` for each; ``complete`` may append follow-up items
        to ``queue``. This default answers the queue in rounds through :meth:`_generate`;
        backends that can take new requests while generating override it."""
        while queue:
            batch = list(queue)
            queue.clear()
            self._generate([w.conversation for w in batch], [w.sampling for w in batch], [w.schema for w in batch],
                           lambda i, comp, batch=batch: complete(batch[i], comp))

    # ------------------------------------------------------------------ public API
    def run_flows(self, flows: Iterable[Generator[list[ChatRequest], list[str | None], None]]) -> None:
        """Drive many multi-step conversations at once (dialogs of agents, for example).

        Each flow is a generator that yields a list of :class:`ChatRequest` and is sent back the
        list of answers (:class:`Answers`: canonical JSON text when the request had a schema;
        ``None`` for a request that failed, its reason in ``answers.failures[index]``). A flow's next requests
        are queued as soon as its previous ones are all answered, so with a backend that takes
        requests while generating (the transformers backend), flows never wait for each other.
        Cache, schema validation and re-asking work per request as described in the module doc.

        Flows under way go first: their next requests (and re-asks) are queued ahead of the first
        requests of flows not started yet, so started flows finish early and the flows still
        waiting keep the batch full to the end (answered in the order of ``flows``, the longest
        first where the caller can tell, the last ones leave the shortest tail).

        A flow may yield :data:`WAIT` instead of requests when it needs something only other
        flows produce (for example a statistic over the first results of many flows). It is
        woken with an empty :class:`Answers` after every answer any flow gets, and once no
        request is left anywhere with ``answers.idle`` true: it must then go on without waiting
        (or queue requests before it waits again)."""
        validators: dict[str, jsonschema.Validator] = {}
        queue: deque = deque()
        parked: list[_Flow] = []
        moves = [0]  # requests yielded and flows ended: whether an idle wake-up changed anything

        def advance(flow: _Flow, answers: list[str | None] | None) -> None:
            while True:
                try:
                    requests = next(flow.gen) if answers is None else flow.gen.send(answers)
                except StopIteration:
                    moves[0] += 1
                    return
                if requests is WAIT:
                    parked.append(flow)
                    return
                moves[0] += 1
                flow.answers = Answers([None] * len(requests))
                flow.missing = len(requests)
                seen: Counter = Counter()
                work = []
                for slot, req in enumerate(requests):
                    unknown = set(req.sampling or {}) - set(REQUEST_KEYS)
                    if unknown:
                        raise TypeError(f"unknown sampling options {sorted(unknown)}; allowed: {REQUEST_KEYS}")
                    stop_rule((req.sampling or {}).get("stop_when"))  # an unknown rule fails before any request
                    base = {k: getattr(self.config, k) for k in SAMPLING_KEYS}
                    base.update({k: v for k, v in (req.sampling or {}).items()
                                 if v is not None or k in ("seed", "stop")})
                    validator = None
                    if req.schema is not None:
                        vkey = json.dumps(req.schema, sort_keys=True)
                        if vkey not in validators:
                            validators[vkey] = _schema_validator(req.schema)
                        validator = validators[vkey]
                    ident = json.dumps([req.messages, req.schema, base], sort_keys=True, ensure_ascii=False)
                    occurrence = seen[ident]
                    seen[ident] += 1
                    sampling = dict(base)
                    if occurrence and sampling.get("seed") is not None:
                        sampling["seed"] = sampling["seed"] + occurrence
                    key = request_key({"backend": self.backend, "model": self.fingerprint(), "messages": req.messages,
                                       "sampling": base, "schema": req.schema, "occurrence": occurrence})
                    work.append(_Work(flow, slot, req.messages, req.schema, validator, sampling, key))
                hits = self.cache.get_many([w.key for w in work]) if self.cache is not None else {}
                todo = []
                for w in work:
                    if w.key in hits:
                        self.usage.cache_hits += 1
                        flow.answers[w.slot] = hits[w.key][0]
                        flow.missing -= 1
                    else:
                        todo.append(w)
                if flow.started:  # a flow under way goes before flows not started yet (see below)
                    queue.extendleft(reversed(todo))
                else:
                    queue.extend(todo)
                flow.started = True
                if flow.missing:
                    return
                answers = flow.answers

        def complete(w: _Work, comp: Completion) -> None:
            """Account, validate and cache one response as soon as the backend has it."""
            self.usage.requests += 1
            self.usage.prompt_tokens += comp.prompt_tokens
            self.usage.completion_tokens += comp.completion_tokens
            if comp.error is None and w.validator is not None:
                problem, comp.text = _schema_problem(w.validator, comp.text or "")
                if problem:
                    if w.attempt < self.config.schema_retries:  # re-ask now: new seed, more room if cut
                        w.attempt += 1
                        self.usage.retries["schema_invalid"] += 1
                        w.sampling = {**w.sampling, "seed": (w.sampling.get("seed") or 0) + 1000 * w.attempt,
                                      "max_tokens": w.sampling["max_tokens"] * (2 if comp.truncated else 1)}
                        queue.appendleft(w)
                        return
                    comp = Completion(error="schema_invalid", detail=problem)
            if comp.error is not None:
                self.usage.failures[comp.error] += 1
                w.flow.answers.failures[w.slot] = comp.error
                w.flow.answers.details[w.slot] = comp.detail
            else:
                w.flow.answers[w.slot] = comp.text
                if self.cache is not None:
                    self.cache.put(w.key, comp.text or "", comp.prompt_tokens, comp.completion_tokens)
            w.flow.missing -= 1
            if w.flow.missing == 0:
                advance(w.flow, w.flow.answers)
            wake(idle=False)

        def wake(idle: bool) -> None:
            waiting = parked[:]
            parked.clear()
            for flow in waiting:
                advance(flow, Answers(idle=idle))

        for gen in flows:
            advance(_Flow(gen), None)
        while True:
            self._serve(queue, complete)
            if not parked:
                return
            before = moves[0]
            wake(idle=True)  # (answers from the cache may let a woken flow go on and wait again)
            if not queue and parked and moves[0] == before:
                raise RuntimeError(f"{len(parked)} flows yielded WAIT with no request left to wait for")

    def chat_batch(
        self,
        conversations: list[list[dict[str, Any]]],
        *,
        json_schema: dict[str, Any] | list[dict[str, Any] | None] | None = None,
        errors: Literal["raise", "skip"] = "raise",
        per_request: list[dict[str, Any] | None] | None = None,
        **sampling: Any,
    ) -> list[str | None]:
        """Answer each conversation; ``json_schema`` is one schema for all, or a list with one
        schema (or None) per conversation; ``per_request`` optionally overrides sampling options
        per conversation (so requests of different kinds can share one batch)."""
        overrides = list(per_request) if per_request is not None else [None] * len(conversations)
        schemas = list(json_schema) if isinstance(json_schema, list) else [json_schema] * len(conversations)
        for name, values in (("schemas", schemas), ("per_request entries", overrides)):
            if len(values) != len(conversations):
                raise ValueError(f"{len(values)} {name} for {len(conversations)} conversations")
        requests = [ChatRequest(conv, schema, {**sampling, **(o or {})})
                    for conv, schema, o in zip(conversations, schemas, overrides)]
        got: list[Answers] = []

        def flow():
            got.append((yield requests))

        self.run_flows([flow()])
        results, failures = list(got[0]), got[0].failures
        if failures:
            logger.warning("%d of %d LLM requests failed: %s", len(failures), len(conversations),
                           dict(Counter(failures.values())))
            if errors == "raise":
                raise LLMBatchError(results, failures, got[0].details)
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
