"""A local stand-in for the public posts API the deal aggregator reads (jsonplaceholder.typicode.com).

``GET /posts/N`` answers post N (1 to 100) as the public API does: ``{"userId", "id", "title",
"body"}``, with ten posts per user; any other path is a 404 with ``{}``. The content is generated,
the same on every run, so tests and the demo can check results exactly.

For tests and the demo, some posts can misbehave: ``flaky`` posts answer 503 the first time they
are asked for (a transient error a retry gets past), and ``answers`` replaces the answer of a post
with a fixed status and document.

Run it on its own (the deal aggregator's ``apiUrl`` parameter is then ``http://127.0.0.1:8000``)::

    python scripts/posts_api.py --port 8000
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

POSTS = 100
_WORDS = [
    "deal",
    "offer",
    "price",
    "saving",
    "bundle",
    "coupon",
    "voucher",
    "discount",
    "cashback",
    "bargain",
    "clearance",
    "flash",
    "weekly",
    "member",
    "exclusive",
    "limited",
    "seasonal",
    "holiday",
    "weekend",
    "bonus",
]


def post(number: int) -> dict[str, Any]:
    """Post ``number`` as the public API shapes it (the text is generated, not the original)."""
    words = [_WORDS[(number * 7 + i * 3) % len(_WORDS)] for i in range(4 + number % 5)]
    return {
        "userId": (number - 1) // 10 + 1,
        "id": number,
        "title": " ".join(words[:4]),
        "body": " ".join(words),
    }


class PostsApi:
    """The stand-in, served from a thread on ``host:port`` (port 0: a free one) while in a ``with`` block."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        flaky: set[int] | None = None,
        answers: dict[int, tuple[int, Any]] | None = None,
    ) -> None:
        self.flaky = set(flaky or ())
        self.answers = dict(answers or {})
        self.requests: Counter[int] = Counter()  # post number -> how many times it was asked for
        self._lock = threading.Lock()
        self._host = host
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._server.server_port}"

    def answer(self, path: str) -> tuple[int, Any]:
        """The status and JSON document for a request of ``path``."""
        match = re.fullmatch(r"/posts/(\d+)", path.split("?", 1)[0])
        if not match:
            return 404, {}
        number = int(match.group(1))
        with self._lock:
            self.requests[number] += 1
            first = self.requests[number] == 1
        if number in self.answers:
            return self.answers[number]
        if number in self.flaky and first:
            return 503, {"error": "service unavailable, try again"}
        if 1 <= number <= POSTS:
            return 200, post(number)
        return 404, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, document = api.answer(self.path)
                body = json.dumps(document, indent=2).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler

    def start(self) -> PostsApi:
        self._thread = threading.Thread(target=self._server.serve_forever, name="posts-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> PostsApi:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the posts API stand-in (GET /posts/1 .. /posts/100).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--flaky", type=int, action="append", default=[], help="a post that answers 503 once")
    args = parser.parse_args()
    api = PostsApi(args.host, args.port, flaky=set(args.flaky))
    print(f"posts API on {api.url}/posts/1 .. /posts/{POSTS} (Ctrl-C stops it)", flush=True)
    try:
        api._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        api._server.server_close()


if __name__ == "__main__":
    main()
