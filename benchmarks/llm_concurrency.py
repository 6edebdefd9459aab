"""Achieved / ideal throughput of the openai backend against a server with fixed latency.

A minimal loopback HTTP server (benchmarks/_latency_server.py, in its own process) answers every
request with a chat completion after exactly ``--latency`` seconds. With ``--in-flight`` requests allowed at once,
the ideal throughput is in_flight / latency requests per second; the script sends ``--requests``
requests through ``build_llm({"backend": "openai", ...}).chat_batch`` and prints the ratio
(goal >= 0.9). Run:  .venv/bin/python benchmarks/llm_concurrency.py
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--requests", type=int, default=1280)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "_latency_server.py"), str(port),
                               str(args.latency)], stdout=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/v1"
        wait_until_up(port)
        llm = build_llm({"backend": "openai", "base_url": base, "model": "bench", "max_concurrency": args.in_flight,
                         "progress": False, "max_retries": 0, "timeout_s": 30})
        llm.chat_batch([[{"role": "user", "content": f"warm {i}"}] for i in range(args.in_flight)])
        ideal_rps = args.in_flight / args.latency
        ratios = []
        for r in range(args.repeats):
            convs = [[{"role": "user", "content": f"run {r} request {i}"}] for i in range(args.requests)]
            start = time.perf_counter()
            out = llm.chat_batch(convs)
            elapsed = time.perf_counter() - start
            assert all(o and o.startswith("echo:") for o in out)
            achieved = args.requests / elapsed
            ratios.append(achieved / ideal_rps)
            print(f"run {r + 1}: {args.requests} requests in {elapsed:.2f}s = {achieved:.0f} req/s "
                  f"(ideal {ideal_rps:.0f} req/s) ratio {achieved / ideal_rps:.3f}")
        print(f"achieved/ideal throughput at {args.in_flight} in flight, {args.latency * 1000:.0f} ms latency: "
              f"median {statistics.median(ratios):.3f}, min {min(ratios):.3f} (goal >= 0.9)")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
