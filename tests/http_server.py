"""A scriptable HTTP/1.1 server on 127.0.0.1 for the HTTP step tests (asyncio, in a thread).

It answers by path, and records every request (time, method, path, headers, body):

* ``/posts/ID``: a JSON post ``{"userId": ..., "id": ID, ...}`` (jsonplaceholder's shape, as
  ``scripts/posts_api.py`` generates it);
* ``/status/CODE``: that status, body ``status CODE``;
* ``/flaky/KEY?fail=N&kind=K``: the first N requests for KEY fail with K (a status code,
  ``drop`` to close the connection without answering, or ``slow`` to answer after
  ``delay`` seconds), later ones get a JSON post;
* ``/secret``: 200 ``ok`` when the ``X-Api-Key`` header equals :attr:`TestServer.secret`, else 401;
* ``/headers``: 200 with a repeated ``X-Multi`` header and a JSON content type;
* ``/slow?delay=S``: 200 after S seconds (tracks how many requests are in flight at once);
* ``/collect``: 200 ``ok`` (the test reads the request body back from the records);
* any path put into :attr:`TestServer.files`: that content (after the first
  ``file_failures[path]`` requests, which get a 503).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from scripts.posts_api import post  # the posts of the API stand-in, served here too

REASONS = {
    200: "OK",
    201: "Created",
    401: "Unauthorized",
    404: "Not Found",
    408: "Request Timeout",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class Seen:
    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class TestServer:
    __test__ = False  # not a pytest test class

    secret: str = "s3cr3t-value-Zq9"
    requests: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    _counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    port: int = 0
    ssl_context: Any = None
    files: dict[str, bytes] = field(default_factory=dict)
    file_failures: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def seen(self, prefix: str) -> list[Seen]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    # -- protocol -----------------------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    raw = await reader.readline()
                    if raw in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = b""
                if int(headers.get("content-length", "0")):
                    body = await reader.readexactly(int(headers["content-length"]))
                self.requests.append(Seen(time.monotonic(), method, target, headers, body))
                answer = await self.respond(method, target, headers, body)
                if answer is None:  # drop the connection without a response
                    writer.transport.abort()
                    return
                status, extra, payload = answer
                head = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}", f"Content-Length: {len(payload)}"]
                head += [f"{k}: {v}" for k, v in extra]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    async def respond(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes] | None:
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        json_type = [("Content-Type", "application/json")]
        if path in self.files:
            self._counts[path] += 1
            if self._counts[path] <= self.file_failures.get(path, 0):
                return 503, [], b"busy, try again"
            return 200, [("Content-Type", "application/octet-stream")], self.files[path]
        if path.startswith("/posts/"):
            return 200, json_type, json.dumps(post(int(path.rsplit("/", 1)[1]))).encode()
        if path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            return code, [], f"status {code}".encode()
        if path.startswith("/flaky/"):
            key = path[len("/flaky/") :]
            self._counts[key] += 1
            if self._counts[key] <= int(query.get("fail", "1")):
                kind = query.get("kind", "503")
                if kind == "drop":
                    return None
                if kind == "slow":
                    await asyncio.sleep(float(query.get("delay", "2")))
                else:
                    return int(kind), [], f"failure {kind} for {key}".encode()
            return 200, json_type, json.dumps(post(self._counts[key])).encode()
        if path == "/secret":
            if headers.get("x-api-key") == self.secret:
                return 200, [], b"ok"
            return 401, [], b"missing or wrong api key"
        if path == "/headers":
            return 200, [("x-multi", "a"), ("x-multi", "b"), ("content-type", "application/json")], b"{}"
        if path == "/slow":
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                await asyncio.sleep(float(query.get("delay", "0.2")))
            finally:
                self.in_flight -= 1
            return 200, json_type, json.dumps({"id": query.get("id", "")}).encode()
        if path == "/collect":
            return 200, [], b"ok"
        return 404, [], b"no such path"

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> TestServer:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            server = self._loop.run_until_complete(
                asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=self.ssl_context)
            )
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()
            server.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def free_port() -> int:
    """A port with no listener on 127.0.0.1 (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
