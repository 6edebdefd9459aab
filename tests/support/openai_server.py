"""A small OpenAI-compatible ``/v1/chat/completions`` server on loopback, for tests and benchmarks.

It answers with a deterministic completion (the last user message echoed back, or a JSON object
when ``response_format`` asks for one, or what a scripted ``responder`` says) after a fixed
``latency``. Faults are injected per request
by a directive in the last user message, ``FAULT:<kind>x<n>``: the first ``n`` attempts of that
request fail with ``kind``, later ones succeed. Kinds: ``500``, ``429`` (with ``Retry-After``),
``400`` (permanent), ``timeout`` (sleeps past any client timeout), ``garbage`` (200 with a non-JSON
body), ``nochoices`` (200 with JSON but no choices), ``truncated`` (body cut mid-stream).

For whole-run tests, where prompts are the pipeline's own: ``fault_rates`` ({kind: probability})
injects the same kinds at random into any attempt of any request (seeded by ``fault_seed``), and
every attempt is then counted per request in ``attempts``; ``hold_after=n`` answers the first
``n`` requests and holds every later one until ``hold_after`` is set back to None (so a test can
kill its client at a known point).

A test double: never used by the pipelines. Run standalone with
``python -m tests.support.openai_server --port 8000 --latency 0.1``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from aiohttp import web

_DIRECTIVE = re.compile(r"FAULT:(\w+)x(\d+)")


@dataclass
class ServerState:
    latency: float = 0.0
    retry_after: str = "0"
    attempts: Counter = field(default_factory=Counter)
    faults_served: Counter = field(default_factory=Counter)
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    auth_headers: list = field(default_factory=list)
    peers: set = field(default_factory=set)  # client (host, port) of every connection a request came on
    responder: Callable[[list, dict], str] | None = None  # a scripted model: (messages, payload) -> text
    fault_rates: dict[str, float] = field(default_factory=dict)  # kind -> probability, for any attempt
    fault_seed: int = 0
    hold_after: int | None = None  # hold every request after the first n until reset to None
    models: set[str] | None = None  # the served model names (None: any); others get vLLM's 404
    held: int = 0  # requests being held now
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.fault_seed)

    def random_fault(self) -> str | None:
        draw = self.rng.random()
        for kind, rate in self.fault_rates.items():
            if draw < rate:
                return kind
            draw -= rate
        return None


def make_app(state: ServerState) -> web.Application:
    async def completions(request: web.Request) -> web.StreamResponse:
        state.requests += 1
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            return await _answer(request, state)
        finally:
            state.in_flight -= 1

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    return app


async def _answer(request: web.Request, state: ServerState) -> web.StreamResponse:
    number = state.requests
    if request.transport is not None:
        state.peers.add(request.transport.get_extra_info("peername"))
    if len(state.auth_headers) < 1000:
        state.auth_headers.append(request.headers.get("Authorization"))
    payload = await request.json()
    if state.models is not None and payload.get("model") not in state.models:
        return web.json_response({"error": {"message": f"The model `{payload.get('model')}` does not exist.",
                                            "type": "NotFoundError", "code": 404}}, status=404)
    messages = payload["messages"]
    last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    match = _DIRECTIVE.search(last)
    if match or state.fault_rates:  # count attempts only where faults are asked for (keeps the double cheap)
        key = json.dumps(messages, sort_keys=True) + str(payload.get("seed"))
        state.attempts[key] += 1
    if state.hold_after is not None and number > state.hold_after:
        state.held += 1
        try:
            while state.hold_after is not None and number > state.hold_after:
                await asyncio.sleep(0.01)
        finally:
            state.held -= 1
    if state.latency:
        await asyncio.sleep(state.latency)
    kind = None
    if match and state.attempts[key] <= int(match.group(2)):
        kind = match.group(1)
    elif state.fault_rates:
        kind = state.random_fault()
    if kind is not None:
        state.faults_served[kind] += 1
        if kind in ("500", "400"):
            return web.json_response({"error": {"message": "injected"}}, status=int(kind))
        if kind == "429":
            return web.json_response({"error": {"message": "slow down"}}, status=429,
                                     headers={"Retry-After": state.retry_after})
        if kind == "timeout":
            await asyncio.sleep(3600)
        if kind == "garbage":
            return web.Response(text="<html>upstream proxy error</html>", status=200)
        if kind == "nochoices":
            return web.json_response({"object": "chat.completion", "choices": []})
        if kind == "truncated":
            resp = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "400"})
            await resp.prepare(request)
            await resp.write(b'{"choices": [{"message": {"content": "cut')
            request.transport.close()
            return resp
    if state.responder is not None:
        content = state.responder(messages, payload)
    elif payload.get("response_format", {}).get("type") == "json_schema":
        content = json.dumps({"echo": last[:50]})
    else:
        content = f"echo: {last}"
    return web.json_response({
        "id": "cmpl-test", "object": "chat.completion", "model": payload.get("model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": len(str(messages)) // 4, "completion_tokens": len(content) // 4},
    })


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_in_thread(latency: float = 0.0, retry_after: str = "0", responder: Callable | None = None,
                    fault_rates: dict[str, float] | None = None, fault_seed: int = 0, hold_after: int | None = None,
                    models: set[str] | None = None):
    """Start the server on a free loopback port in a background thread; yields (base_url, state).
    ``responder(messages, payload) -> str`` makes it a scripted model instead of an echo;
    ``fault_rates`` and ``hold_after`` as in the module doc (both can be changed on ``state``);
    ``models``: the only model names served (a request for another one gets a 404, as vLLM's)."""
    state = ServerState(latency=latency, retry_after=retry_after, responder=responder,
                        fault_rates=dict(fault_rates or {}), fault_seed=fault_seed, hold_after=hold_after,
                        models=set(models) if models is not None else None)
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(make_app(state), handle_signals=False, handler_cancellation=True, shutdown_timeout=1.0)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield f"http://127.0.0.1:{port}/v1", state
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        if not thread.is_alive():
            loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    try:  # a faster loop when available, so the double adds as little overhead as it can
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    web.run_app(make_app(ServerState(latency=args.latency)), host="127.0.0.1", port=args.port,
                backlog=1024, print=lambda *a: print(*a, flush=True), access_log=None, handler_cancellation=True)


if __name__ == "__main__":
    main()
