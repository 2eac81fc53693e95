"""The raw ASGI front for the hot routes (POST /predict, /invocations, /feedback).

FastAPI's per-request routing, Request/Response objects and dependency resolution cost more
than validating and scoring a row; these routes skip them. `ModelServer.__call__` hands them
to `HotRoutes` before FastAPI sees the request; everything else (probes, model info,
metrics, the OpenAPI document, lifespan) goes to FastAPI, which also declares the hot routes
with typed bodies for the document (`openapi`) without ever serving them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from {{ cookiecutter.package_name }}.serving.responses import Reply, error_reply, mlflow_error_reply
from {{ cookiecutter.package_name }}.serving.schema import RequestError

log = logging.getLogger(__name__)

HOT_ROUTES = frozenset({"/predict", "/invocations", "/feedback"})
# route, body, content type (lower-cased, without parameters), routing key
HotHandler = Callable[[str, bytes, str, str | None], Awaitable[Reply]]
Observe = Callable[[str, int, str, float], None]


class RequestIds:
    """Request ids: a 48-bit millisecond timestamp then 80 random bits, as 32 hex digits.

    Random enough that nobody can guess (and label) others' requests; time-ordered (like
    UUIDv7) so the prediction log's primary-key index grows at its end instead of at random
    places, which halves the log writer's CPU. The random bits come from one `os.urandom`
    call per 1024 ids: a getrandom syscall per request costs more than scoring a row in some
    sandboxes.
    """

    RANDOM_BYTES = 10

    def __init__(self, per_refill: int = 1024) -> None:
        self._size = self.RANDOM_BYTES * per_refill
        self._pool = b""
        self._at = self._size
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            if self._at >= self._size:
                self._pool, self._at = os.urandom(self._size), 0
            at = self._at
            self._at = at + self.RANDOM_BYTES
        millis = time.time_ns() // 1_000_000
        return f"{millis:012x}{self._pool[at : at + self.RANDOM_BYTES].hex()}"

    @staticmethod
    def issued_at(request_id: str) -> float | None:
        """When an id of this format was issued (epoch seconds); None for other strings."""
        head = request_id.split("-")[0].removesuffix(".shadow")
        if len(head) != 32:
            return None
        try:
            int(head, 16)
        except ValueError:
            return None
        return int(head[:12], 16) / 1000.0


class HotRoutes:
    """Raw ASGI handler: read the body (bounded), call `handle`, answer JSON, count it."""

    def __init__(
        self,
        *,
        handle: HotHandler,
        observe: Observe,
        version: Callable[[], str],
        max_body_bytes: int,
        key_header: str,
    ) -> None:
        self.handle = handle
        self.observe = observe
        self.version = version
        self.limit = max_body_bytes
        self.key_header = key_header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = scope["path"]
        started = time.perf_counter()
        failed = mlflow_error_reply if route == "/invocations" else error_reply
        if scope["method"] != "POST":
            reply = failed(405, "Method Not Allowed")
            reply.headers.append((b"allow", b"POST"))
        else:
            try:
                body, content_type, key = await self._read(scope, receive)
                # Yield once between reading and answering: the loop polls the sockets again
                # first, so requests that arrived meanwhile join this round instead of
                # waiting a whole extra one (without it, latency under load is bimodal and
                # p99 is about twice p50).
                await asyncio.sleep(0)
                reply = await self.handle(route, body, content_type, key)
            except RequestError as error:
                reply = failed(error.status, error.message)
            except Exception:  # a bug: log it, answer 500 without a traceback, keep serving
                log.exception("%s failed", route)
                reply = failed(500, "internal error; see the server log")
        self.observe(route, reply.status, reply.model_version or self.version(), started)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(reply.body)).encode()),
            *reply.headers,
        ]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

    async def _read(self, scope: Scope, receive: Receive) -> tuple[bytes, str, str | None]:
        content_type = declared = key = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                declared = value.decode("latin-1")
            elif name == self.key_header:
                key = value.decode("latin-1")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            raise RequestError(413, f"body of {declared} bytes exceeds the maximum of {self.limit}")
        chunks = []
        size = 0
        more = True
        while more:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestError(400, "body: client disconnected before sending it")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise RequestError(413, f"body exceeds the maximum of {self.limit} bytes")
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return body, content_type or "", key


class ModelServer(FastAPI):
    """FastAPI with the hot routes dispatched before FastAPI/Starlette see the request."""

    hot: HotRoutes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hot is not None and scope["type"] == "http" and scope["path"] in HOT_ROUTES:
            await self.hot(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
