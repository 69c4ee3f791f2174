"""Reading an answer body with a bound: never more bytes than the caller allows.

A body is read whole only when its ``Content-Length`` says it fits and no ``Content-Encoding``
can make it grow while aiohttp inflates it; otherwise it is read a chunk at a time and given
up as soon as it passes the bound. Either way, nothing past the bound is held in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import aiohttp

__all__ = ["BodyTooLargeError", "read_bounded", "read_prefix"]

_CHUNK: Final = 1 << 16


class BodyTooLargeError(Exception):
    """The body is longer than the bound; ``declared`` is its Content-Length, if sent."""

    def __init__(self, declared: int | None) -> None:
        """Keep what the server declared (None: chunked, or compressed)."""
        super().__init__(declared)
        self.declared = declared


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body of ``response`` if it holds at most ``limit`` bytes.

    Raises:
        BodyTooLargeError: The body is longer (nothing beyond ``limit`` was read).

    """
    declared = response.content_length
    if declared is not None and declared > limit:
        raise BodyTooLargeError(declared)
    if declared is not None and "Content-Encoding" not in response.headers:
        return await response.read()  # the parser reads exactly Content-Length bytes
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > limit:
            raise BodyTooLargeError(None)  # chunked, or inflated past what was declared
    return bytes(body)


async def read_prefix(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most the first ``limit`` bytes of the body (an error page, read for its words)."""
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk[: limit - len(body)]
        if len(body) >= limit:
            break
    return bytes(body)
