"""Any OpenAI-compatible chat server (vLLM, SGLang, Ollama, llama.cpp server, hosted APIs).

All requests of a batch are sent concurrently on one asyncio loop, at most ``max_concurrency``
in flight. Each request has its own timeout. 408/429/5xx answers, timeouts, dropped connections
and bodies that are not a chat completion are retried with exponential backoff and jitter
(``backoff_s`` doubling up to ``max_backoff_s``), honouring ``Retry-After``; after
``max_retries`` the request is reported failed with its last reason while the rest of the batch
goes on. Other 4xx answers are not retried. Structured output is asked for with
``response_format: {"type": "json_schema", ...}`` and checked by the base class.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import logging
import random
import time
from typing import Any

import aiohttp

from toolace_kedro.llm.base import Completion, LLMClient, LLMConfig
from toolace_kedro.llm.credentials import resolve_api_key

__all__ = ["OpenAIClient"]

logger = logging.getLogger(__name__)

_RETRY_STATUS = {408, 409, 425, 429}


class OpenAIClient(LLMClient):
    backend = "openai"

    def __init__(self, config: LLMConfig) -> None:
        if not config.base_url:
            raise ValueError("the openai backend needs base_url (e.g. http://localhost:8000/v1)")
        if config.adapter:  # it would be ignored: base answers (and base's cache entries) under the adapter's name
            raise ValueError(f"the openai backend cannot apply the adapter {config.adapter!r}: serve it under a name "
                             "(vLLM: --enable-lora --lora-modules <name>=<path>) and ask for that model, or use the "
                             "transformers backend")
        super().__init__(config)
        self._url = config.base_url.rstrip("/") + "/chat/completions"
        self.__api_key = resolve_api_key(config.api_key_env, config.credentials)

    def fingerprint(self) -> str:
        """The served model's name, and ``served_weights`` when set (the evaluation sets it to the
        identity of the adapter or merged policy a name stands for): a resume against the same
        model behind another address (a restarted server, another replica) still hits the cache,
        and the same name serving other weights does not."""
        if self.config.served_weights:
            return f"{self.config.model}|{self.config.served_weights}"
        return self.config.model

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIClient(base_url={self.config.base_url!r}, model={self.config.model!r})"

    def _generate(self, conversations, sampling, schemas, on_result):
        self._run(self._run_all(conversations, sampling, schemas, on_result))

    def _serve(self, queue, complete):
        """A live queue: every queued request is sent at once (``max_concurrency`` in flight);
        follow-up requests of flows are sent as soon as ``complete`` queues them."""
        self._run(self._serve_async(queue, complete))

    def _run(self, coro):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        # called from inside a running loop (a notebook): run on a thread of its own
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, coro).result()

    def _payload(self, messages: list[dict[str, Any]], params: dict[str, Any], json_schema: dict | None) -> dict:
        payload: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "temperature": params["temperature"],
            "top_p": params["top_p"],
            "max_tokens": params["max_tokens"],
        }
        if params.get("seed") is not None:
            payload["seed"] = params["seed"]
        if params.get("stop"):
            payload["stop"] = params["stop"]
        if json_schema is not None:
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": json_schema, "strict": True},
            }
        payload.update(self.config.extra_body)
        return payload

    def _session(self) -> aiohttp.ClientSession:
        headers = {"Content-Type": "application/json"}
        if self.__api_key:
            headers["Authorization"] = f"Bearer {self.__api_key}"
        connector = aiohttp.TCPConnector(limit=self.config.max_concurrency, force_close=False)
        return aiohttp.ClientSession(headers=headers, connector=connector)

    async def _serve_async(self, queue, complete) -> None:
        from tqdm.auto import tqdm

        limit = asyncio.Semaphore(self.config.max_concurrency)
        bar = tqdm(desc="requests", unit="req", disable=not self.config.progress, leave=False)
        async with self._session() as session:

            async def one(work):
                completion = await self._request(session, limit,
                                                 self._payload(work.conversation, work.sampling, work.schema))
                complete(work, completion)  # may queue the flow's next requests
                bar.update(1)

            pending: set[asyncio.Future] = set()
            try:
                while queue or pending:
                    while queue:
                        pending.add(asyncio.ensure_future(one(queue.popleft())))
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    errors = [t.exception() for t in done if t.exception() is not None]  # (each one retrieved)
                    if errors:
                        raise errors[0]
            finally:  # a callback raised (a stopped run): nothing is left running or unretrieved
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        bar.close()

    async def _run_all(self, conversations, sampling, schemas, on_result) -> None:
        from tqdm.auto import tqdm

        limit = asyncio.Semaphore(self.config.max_concurrency)
        bar = tqdm(total=len(conversations), desc="requests", unit="req", disable=not self.config.progress, leave=False)
        async with self._session() as session:

            async def one(index, messages, params, schema):
                on_result(index, await self._request(session, limit, self._payload(messages, params, schema)))
                bar.update(1)

            await asyncio.gather(*(one(i, m, p, x) for i, (m, p, x) in enumerate(zip(conversations, sampling, schemas))))
        bar.close()

    async def _request(self, session: aiohttp.ClientSession, limit: asyncio.Semaphore, payload: dict) -> Completion:
        cfg = self.config
        reason, detail = "unknown", ""
        for attempt in range(cfg.max_retries + 1):
            wait = None
            async with limit:
                try:
                    async with session.post(
                        self._url, json=payload, timeout=aiohttp.ClientTimeout(total=cfg.timeout_s)
                    ) as resp:
                        body = await resp.read()
                        status = resp.status
                        retry_after = resp.headers.get("Retry-After")
                    if status == 200:
                        completion = _parse_completion(body)
                        if completion.error is None:
                            return completion
                        reason, detail = completion.error, completion.detail
                    else:
                        reason, detail = f"http_{status}", body[:200].decode("utf-8", "replace")
                        if status < 500 and status not in _RETRY_STATUS:
                            return Completion(error=reason, detail=detail)
                        wait = _retry_after_seconds(retry_after)
                except asyncio.TimeoutError:
                    reason, detail = "timeout", f"no answer within {cfg.timeout_s}s"
                except aiohttp.ClientPayloadError as exc:
                    reason, detail = "truncated_body", str(exc)[:200]
                except aiohttp.ClientError as exc:
                    reason, detail = "connection", str(exc)[:200]
            if attempt == cfg.max_retries:
                break
            self.usage.retries[reason] += 1
            backoff = min(cfg.max_backoff_s, cfg.backoff_s * (2**attempt)) * (0.5 + random.random() / 2)
            await asyncio.sleep(min(cfg.max_backoff_s, wait) if wait is not None else backoff)
        return Completion(error=reason, detail=detail)


def _parse_completion(body: bytes) -> Completion:
    import json

    try:
        data = json.loads(body)
        choice = data["choices"][0]
        text = choice["message"]["content"]
        if not isinstance(text, str):
            raise TypeError("content is not a string")
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return Completion(error="malformed_response", detail=f"{type(exc).__name__}: {body[:120]!r}")
    usage = data.get("usage") or {}
    return Completion(
        text=text,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        truncated=choice.get("finish_reason") == "length",
    )


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); ``None`` when absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
