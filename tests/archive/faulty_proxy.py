"""A reverse proxy in front of the S3 server that breaks the next PUTs as a test says.

Faults, one per PUT, in order: ``"503"`` (S3's SlowDown), ``"500"``, ``"reset"`` (the
connection is dropped without an answer), ``"stall"`` (no answer until the client gives up),
``"corrupt"`` (one byte of the body flipped on the way: the server must refuse it). A PUT
with no fault left goes through unchanged. Runs in the test's event loop, on loopback.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final, Self

import aiohttp
from aiohttp import web

_HOP_BY_HOP: Final = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_SLOW_DOWN: Final = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class FaultyProxy:
    """``async with FaultyProxy(upstream) as proxy: proxy.faults += ["503"]``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[str] = []
        self.put_headers: list[dict[str, str]] = []
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._closing = asyncio.Event()
        self.endpoint = ""

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.endpoint = f"http://127.0.0.1:{port}"
        self._client = aiohttp.ClientSession(auto_decompress=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()  # a stalled answer ends (the client gave up long ago)
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        fault = ""
        if request.method == "PUT":
            self.put_headers.append(dict(request.headers))
            fault = self.faults.pop(0) if self.faults else ""
        if fault == "503":
            return web.Response(status=503, body=_SLOW_DOWN, content_type="application/xml")
        if fault == "500":
            return web.Response(status=500, body=b"<Error><Code>InternalError</Code></Error>")
        if fault == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)  # never sent: the connection is gone
        if fault == "stall":
            await self._closing.wait()  # no answer: the client times out first
            return web.Response(status=503)
        if fault == "corrupt":
            body = bytes([body[0] ^ 0x01]) + body[1:]
        return await self._forward(request, body)

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        assert self._client is not None
        headers: dict[str, Any] = {
            k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP
        }
        headers["Host"] = request.headers["Host"]  # signed by the client
        async with self._client.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body
        ) as answer:
            data = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
            kept.pop("Content-Encoding", None)
            return web.Response(status=answer.status, body=data, headers=kept)
