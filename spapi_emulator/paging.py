"""Opaque nextTokens: Base64 with ``+ / =``, bound to the query that produced them, expiring.

A token carries the page offset and its issue time, signed with a per-server key together with
a fingerprint of every other query parameter, so the server keeps no paging state. A token
replayed with different parameters, tampered with, sent without URL-encoding (``+`` arrives as
a space) or older than ``next_token_ttl`` is rejected like the real service does: 400
InvalidInput "Next token is invalid or expired" (amzn/selling-partner-api-models#4946).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

# 0xFB 0xFF encode to "+/": every token holds both characters a client must URL-encode, and the
# 31-byte layout ends in "==" padding. Layout: magic, version, offset (u32), issued_at (f64), MAC.
_MAGIC = b"\xfb\xff"
_VERSION = 1
_HEAD = struct.Struct(">2sBId")
_MAC_BYTES = 16


def fingerprint(params: Iterable[tuple[str, str]]) -> bytes:
    """Return a digest of query parameters, order-insensitive and exact in their values.

    Args:
        params: (name, value) pairs, without ``nextToken``.

    Returns:
        A SHA-256 digest.

    """
    canonical = "&".join(f"{name}={value}" for name, value in sorted(params))
    return hashlib.sha256(canonical.encode()).digest()


class NextTokenCodec:
    """Encodes and checks nextTokens for one server instance."""

    def __init__(self, clock: Callable[[], float], key: bytes | None = None) -> None:
        """Create a codec.

        Args:
            clock: Monotonic clock in seconds, for issue times and expiry.
            key: HMAC key; random per server when None, so tokens die with the server.

        """
        self._clock = clock
        self._key = key if key is not None else secrets.token_bytes(32)

    def encode(self, offset: int, params_fingerprint: bytes) -> str:
        """Return the token for the page starting ``offset`` results into the query.

        Args:
            offset: Results already returned.
            params_fingerprint: ``fingerprint()`` of the query's other parameters.

        Returns:
            Standard Base64 text.

        """
        head = _HEAD.pack(_MAGIC, _VERSION, offset, self._clock())
        return base64.b64encode(head + self._mac(head, params_fingerprint)).decode("ascii")

    def decode(self, token: str, params_fingerprint: bytes, ttl: float | None) -> int | None:
        """Return the offset a token points to, or None if it is invalid or expired.

        Args:
            token: The ``nextToken`` query value, as decoded from the URL.
            params_fingerprint: ``fingerprint()`` of this request's other parameters.
            ttl: Seconds a token lives; None: forever.

        Returns:
            The offset, or None.

        """
        try:
            raw = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) != _HEAD.size + _MAC_BYTES:
            return None
        head, mac = raw[: _HEAD.size], raw[_HEAD.size :]
        if not hmac.compare_digest(mac, self._mac(head, params_fingerprint)):
            return None
        magic, version, offset, issued_at = _HEAD.unpack(head)
        if magic != _MAGIC or version != _VERSION:  # pragma: no cover - covered by the MAC
            return None
        if ttl is not None and self._clock() - issued_at > ttl:
            return None
        return int(offset)

    def _mac(self, head: bytes, params_fingerprint: bytes) -> bytes:
        digest = hmac.new(self._key, head + params_fingerprint, hashlib.sha256).digest()
        return digest[:_MAC_BYTES]
