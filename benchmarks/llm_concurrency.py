"""Achieved / ideal throughput of the openai backend against a server with fixed latency.

A minimal loopback HTTP server (benchmarks/_latency_server.py, one process per latency; ``--server``
picks its kind, see there) answers every request with a chat completion after exactly the given
latency. Two workloads, each sent
``--repeats`` times through one ``build_llm({"backend": "openai", ...})`` client's ``chat_batch``:

* the long run: ``--requests`` requests at ``--latency``;
* a short burst: ``--burst-requests`` requests at ``--burst-latency``, where the fixed cost of a
  ``chat_batch`` call weighs most.

With ``--in-flight`` requests allowed at once, the ideal time of n requests is
ceil(n / in_flight) waves of one latency each; the ratio is ideal / achieved time (goal >= 0.9).
Beside each client run, the same requests go through a plain reference: a thread pool of
``--in-flight`` threads, each with its own keep-alive ``http.client`` connection (the pool and its
connections live across runs, as the client does). Both are warmed once. Runs alternate client /
reference so that both see the same machine. Each summary also gives the CPU time this process
spent per run (the server runs in its own process), steadier than wall time on a shared machine. Run:  .venv/bin/python benchmarks/llm_concurrency.py
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import math
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.openai_server import free_port  # noqa: E402
from toolace_kedro.llm import build_llm  # noqa: E402


def wait_until_up(port: int, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


class ThreadPoolReference:
    """The same requests as the client sends, posted by a plain thread pool (one keep-alive
    connection per thread): what a simple synchronous client reaches on this machine."""

    def __init__(self, port: int, workers: int) -> None:
        self.port = port
        self.pool = concurrent.futures.ThreadPoolExecutor(workers)
        self.local = threading.local()

    def _post(self, messages: list[dict]) -> str:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        body = json.dumps({"model": "bench", "messages": messages, "temperature": 0.7, "top_p": 0.95,
                           "max_tokens": 256, "seed": 0})
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        return json.loads(conn.getresponse().read())["choices"][0]["message"]["content"]

    def chat_batch(self, conversations: list[list[dict]]) -> list[str]:
        return list(self.pool.map(self._post, conversations))

    def close(self) -> None:
        self.pool.shutdown()


def start_server(latency: float, kind: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "_latency_server.py"), str(port),
                               str(latency), kind], stdout=subprocess.DEVNULL)
    try:
        wait_until_up(port)
    except BaseException:
        server.terminate()
        raise
    return server, port


def measure(name: str, port: int, latency: float, n: int, in_flight: int, repeats: int) -> None:
    llm = build_llm({"backend": "openai", "base_url": f"http://127.0.0.1:{port}/v1", "model": "bench",
                     "max_concurrency": in_flight, "progress": False, "max_retries": 0, "timeout_s": 30})
    reference = ThreadPoolReference(port, in_flight)
    ideal = math.ceil(n / in_flight) * latency
    try:
        warm = [[{"role": "user", "content": f"warm {i}"}] for i in range(in_flight)]
        llm.chat_batch(warm)
        reference.chat_batch(warm)
        ratios: dict[str, list[float]] = {"client": [], "thread pool": []}
        cpu: dict[str, list[float]] = {"client": [], "thread pool": []}
        for r in range(repeats):
            for who, target in (("client", llm), ("thread pool", reference)):
                convs = [[{"role": "user", "content": f"{name} {who} run {r} request {i}"}] for i in range(n)]
                start, cpu_start = time.perf_counter(), time.process_time()
                out = target.chat_batch(convs)
                elapsed = time.perf_counter() - start
                cpu[who].append(time.process_time() - cpu_start)
                assert all(o and o.startswith("echo:") for o in out)
                ratios[who].append(ideal / elapsed)
                print(f"{name} run {r + 1} {who:>11}: {n} requests in {elapsed:.3f}s (ideal {ideal:.3f}s) "
                      f"ratio {ideal / elapsed:.3f}", flush=True)
        for who, values in ratios.items():
            median = statistics.median(values)
            print(f"{name}: {who:>11} {n} requests, {in_flight} in flight, {latency * 1000:.0f} ms latency: "
                  f"wall median {ideal / median:.3f}s, ideal {ideal:.3f}s, ratio median {median:.3f} "
                  f"(min {min(values):.3f}, max {max(values):.3f}); this process's CPU time median "
                  f"{statistics.median(cpu[who]):.3f}s", flush=True)
    finally:
        llm.close()
        reference.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--requests", type=int, default=1280)
    parser.add_argument("--burst-latency", type=float, default=0.25)
    parser.add_argument("--burst-requests", type=int, default=384)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=("long", "burst"), help="run one workload only")
    parser.add_argument("--server", choices=("asyncio", "threaded", "threaded-nagle", "threaded-http10"), default="asyncio")
    args = parser.parse_args()

    workloads = [("long", args.latency, args.requests), ("burst", args.burst_latency, args.burst_requests)]
    for name, latency, n in workloads:
        if args.only in (None, name):
            server, port = start_server(latency, args.server)
            print(f"{name}: {args.server} server", flush=True)
            try:
                measure(name, port, latency, n, args.in_flight, args.repeats)
            finally:
                server.terminate()
                server.wait(10)
    print("goal: client ratio >= 0.9 on both workloads")


if __name__ == "__main__":
    main()
