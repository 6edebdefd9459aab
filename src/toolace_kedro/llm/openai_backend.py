"""Any OpenAI-compatible chat server (vLLM, SGLang, Ollama, llama.cpp server, hosted APIs).

All requests of a batch are sent concurrently on one asyncio loop, at most ``max_concurrency``
in flight. Each request has its own timeout. 408/429/5xx answers, timeouts, dropped connections
and bodies that are not a chat completion are retried with exponential backoff and jitter
(``backoff_s`` doubling up to ``max_backoff_s``), honouring ``Retry-After``; after
``max_retries`` the request is reported failed with its last reason while the rest of the batch
goes on. Other 4xx answers are not retried. Structured output is asked for with
``response_format: {"type": "json_schema", ...}`` and checked by the base class.

A client keeps its event loop and its HTTP session (the pool of open keep-alive connections)
from one call to the next, so a short batch does not pay for a new loop and new connections:
:meth:`OpenAIClient.close` releases them (a later call opens new ones), and so does garbage
collection of a client nobody closed. A call from a thread whose own loop is running (a notebook)
runs the kept loop on a helper thread; a call made while another thread is inside a call of the
same client, and any call in a forked child, gets a loop and session of its own instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import email.utils
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from toolace_kedro.llm.base import Completion, LLMClient, LLMConfig
from toolace_kedro.llm.credentials import resolve_api_key

__all__ = ["OpenAIClient"]

logger = logging.getLogger(__name__)

_RETRY_STATUS = {408, 409, 425, 429}
_T = TypeVar("_T")
#: connections a forked child inherited: never closed there (the parent still uses the sockets,
#: and closing a TLS stream would write to them), kept referenced so that nothing warns about them
_INHERITED: list[_Connection] = []


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
        self._connect()

    def _connect(self) -> None:
        headers = {"Content-Type": "application/json"}
        if self.__api_key:
            headers["Authorization"] = f"Bearer {self.__api_key}"
        self._connection = _Connection(headers, self.config.max_concurrency)
        # the finalizer holds the connection, not the client: a client nobody closed still closes it
        self._release = weakref.finalize(self, self._connection.close, False)

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

    def close(self) -> None:
        """Close the kept HTTP session and event loop (a later call opens new ones) and the cache."""
        self._connection.close()
        super().close()

    def _generate(self, conversations, sampling, schemas, on_result):
        queue = deque(_Request(i, c, p, x) for i, (c, p, x) in enumerate(zip(conversations, sampling, schemas)))
        self._serve(queue, lambda request, completion: on_result(request.index, completion))

    def _serve(self, queue, complete):
        """A live queue: every queued request is sent at once (``max_concurrency`` in flight);
        follow-up requests of flows are sent as soon as ``complete`` queues them."""
        self._run(lambda session: self._serve_async(session, queue, complete))

    def _run(self, work: Callable[[aiohttp.ClientSession], Awaitable[_T]]) -> _T:
        """``work(session)`` to its end on the kept loop and session (see the module doc)."""
        if self._connection.pid != os.getpid():  # a forked child: the parent's loop and sockets are not its own
            self._release.detach()
            _INHERITED.append(self._connection)
            self._connect()
        connection = self._connection
        if not connection.lock.acquire(blocking=False):  # another thread is inside a call of this client
            return _off_running_loop(asyncio.run, connection.own_session(work))
        try:
            connection.owner = threading.get_ident()
            if connection.runner is None:
                connection.runner = asyncio.Runner(loop_factory=asyncio.new_event_loop)
            return _off_running_loop(connection.runner.run, connection.kept_session(work),
                                     context=contextvars.copy_context())
        finally:
            connection.owner = None
            connection.lock.release()

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

    async def _serve_async(self, session: aiohttp.ClientSession, queue: deque, complete) -> None:
        from tqdm.auto import tqdm

        loop = asyncio.get_running_loop()
        limit = asyncio.Semaphore(self.config.max_concurrency)
        bar = tqdm(desc="requests", unit="req", disable=not self.config.progress, leave=False)
        pending: set[asyncio.Task] = set()
        finished = loop.create_future()

        async def one(work):
            completion = await self._request(session, limit, self._payload(work.conversation, work.sampling, work.schema))
            complete(work, completion)  # may queue the flow's next requests
            bar.update(1)

        def send_queued() -> None:
            while queue:
                task = loop.create_task(one(queue.popleft()))
                pending.add(task)
                task.add_done_callback(landed)

        def landed(task: asyncio.Task) -> None:
            """One request is answered: send what it queued; the first error ends the call."""
            pending.discard(task)
            if task.cancelled():
                return
            error = task.exception()  # (each one retrieved)
            if finished.done():
                return
            if error is not None:
                finished.set_exception(error)
                return
            send_queued()
            if not pending:
                finished.set_result(None)

        send_queued()
        try:
            if pending:
                await finished
        finally:  # a callback raised (a stopped run) or the call was interrupted: nothing is left running
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
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


@dataclass(eq=False)
class _Request:
    """One conversation of :meth:`OpenAIClient._generate` as a work item of ``_serve``."""

    index: int
    conversation: list[dict[str, Any]]
    sampling: dict[str, Any]
    schema: dict[str, Any] | None


class _Connection:
    """The event loop (an :class:`asyncio.Runner`) and HTTP session a client keeps between calls,
    owned by the process that made them; both are made on first use."""

    def __init__(self, headers: dict[str, str], limit: int) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()  # one call at a time uses the kept loop
        self.owner: int | None = None  # the thread inside a call
        self.runner: asyncio.Runner | None = None
        self.session: aiohttp.ClientSession | None = None
        self._headers = headers
        self._limit = limit

    def __repr__(self) -> str:  # never show the key
        return f"_Connection(pid={self.pid}, open={self.session is not None and not self.session.closed})"

    def new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(headers=self._headers, connector=aiohttp.TCPConnector(limit=self._limit))

    async def kept_session(self, work: Callable[[aiohttp.ClientSession], Awaitable[_T]]) -> _T:
        if self.session is None or self.session.closed:
            self.session = self.new_session()
        return await work(self.session)

    async def own_session(self, work: Callable[[aiohttp.ClientSession], Awaitable[_T]]) -> _T:
        async with self.new_session() as session:
            return await work(session)

    def close(self, wait: bool = True) -> None:
        """Close the session and the loop; ``wait``: wait for a call under way in another thread
        (the garbage-collection finalizer does not wait: it skips a connection still in use)."""
        if self.pid != os.getpid():
            return
        if self.owner == threading.get_ident():
            raise RuntimeError("an OpenAIClient cannot be closed from inside one of its own calls")
        if not self.lock.acquire(blocking=wait):
            return
        try:
            if self.runner is not None:
                _off_running_loop(self._shut_down)
        finally:
            self.runner = self.session = None
            self.lock.release()

    def _shut_down(self) -> None:
        try:
            if self.session is not None and not self.session.closed:
                self.runner.run(self.session.close())
        finally:
            self.runner.close()


def _off_running_loop(function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``function(*args, **kwargs)``, which runs an event loop: on a helper thread where this
    thread's own loop is running (a notebook), else here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function(*args, **kwargs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args, **kwargs).result()


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
