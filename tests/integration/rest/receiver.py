"""A callback receiver for tests: an HTTP server on 127.0.0.1 (its own thread) that records every POST.

A thread rather than the test's event loop, so synchronous tests (curl subprocesses) and asynchronous
ones (the in-process API) can use the same receiver.  ``fail_next`` makes the next N posts answer 503,
to exercise the server's retries.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Post:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    received: float

    @property
    def event_type(self) -> str:
        return str(self.body.get("eventType"))


class CallbackReceiver:
    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.refused = 0
        self._fail_next = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with receiver._lock:
                    if receiver._fail_next > 0:
                        receiver._fail_next -= 1
                        receiver.refused += 1
                        status = 503
                    else:
                        receiver.posts.append(Post(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                   json.loads(raw), time.monotonic()))
                        status = 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CallbackReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._fail_next = count

    def types(self, transaction_id: str | None = None) -> list[str]:
        with self._lock:
            return [p.event_type for p in self.posts
                    if transaction_id is None or p.body.get("escTransactionId") == transaction_id]

    def of(self, transaction_id: str) -> list[Post]:
        with self._lock:
            return [p for p in self.posts if p.body.get("escTransactionId") == transaction_id]

    def wait(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"callbacks so far: {self.types()}")
            time.sleep(0.02)

    async def until(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.02)
