"""A minimal HTTP/1.1 keep-alive server for benchmarks: every POST is answered with a fixed
chat completion after exactly ``latency`` seconds.

Kinds: ``asyncio`` (default) is a raw asyncio protocol, so the server's own per-request cost
(tens of microseconds) does not hide the client's behaviour; ``threaded`` is the standard
library's ``ThreadingHTTPServer`` (a thread per connection, Python header parsing under the GIL),
a server whose own work competes with the client's for the same cores; ``threaded-nagle`` is the
same without ``TCP_NODELAY``: it writes the headers and the body separately, so each body waits
for the client's delayed ACK of the headers (any client pays that, per response);
``threaded-http10`` is the standard library's defaults (HTTP/1.0, no ``TCP_NODELAY``): it closes
the connection after every response, so every request opens a new one (and a new server thread).

Usage: python benchmarks/_latency_server.py PORT LATENCY [asyncio|threaded|threaded-nagle|threaded-http10]
"""

from __future__ import annotations

import asyncio
import http.server
import json
import sys
import time

BODY = json.dumps({
    "id": "cmpl-bench", "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "echo: ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 8, "completion_tokens": 2},
}).encode()
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


class Handler(asyncio.Protocol):
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.buffer = b""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            length = 0
            for line in head.split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            self.buffer = self.buffer[end:]
            asyncio.get_running_loop().call_later(self.latency, self._reply)

    def _reply(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(RESPONSE)


def serve_threaded(port: int, latency: float, nodelay: bool, keep_alive: bool) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"
        disable_nagle_algorithm = nodelay

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(latency)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 1024

    Server(("127.0.0.1", port), Handler).serve_forever()


async def main(port: int, latency: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Handler(latency), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    kind = sys.argv[3] if len(sys.argv) > 3 else "asyncio"
    if kind == "asyncio":
        asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
    else:
        serve_threaded(int(sys.argv[1]), float(sys.argv[2]), nodelay=kind == "threaded",
                       keep_alive=kind != "threaded-http10")
