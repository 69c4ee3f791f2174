"""Opaque nextTokens: Base64 with ``+ / =``, bound to the query that produced them, expiring.

A token carries the page offset (or, in the Invoices API, the whole first-call query) and its
issue time, signed with a per-server key together with a fingerprint of every other query
parameter (or the operation's name), so the server keeps no paging state. A token
replayed with different parameters, tampered with, sent without URL-encoding (``+`` arrives as
a space) or older than ``next_token_ttl`` is refused with 400 InvalidInput, worded as
``next_token_refusal`` chooses (the DF wording is not public; see errors.NEXT_TOKEN_REFUSALS).
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

# 0xFB 0xFF encode to "+/": every token starts with both characters a client must URL-encode.
# Layout: magic, version, issued_at (f64), payload, MAC over all that and what the token is
# bound to. An offset payload (u32) makes 31 bytes, which end in "==" padding.
_MAGIC = b"\xfb\xff"
_VERSION = 1
_HEAD = struct.Struct(">2sBd")
_OFFSET = struct.Struct(">I")
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
    """Encodes and checks the nextTokens of one server instance, for every operation.

    A token carries a payload (an offset, or a whole first-call query) and its issue time,
    signed together with what the token is bound to (a fingerprint of the query, or the
    operation it belongs to): a token presented elsewhere fails its MAC.
    """

    def __init__(self, clock: Callable[[], float], key: bytes | None = None) -> None:
        """Create a codec.

        Args:
            clock: Monotonic clock in seconds, for issue times and expiry.
            key: HMAC key; random per server when None, so tokens die with the server.

        """
        self._clock = clock
        self._key = key if key is not None else secrets.token_bytes(32)

    def encode(self, payload: bytes, bound_to: bytes) -> str:
        """Return a token carrying ``payload``, valid only where ``bound_to`` is the same.

        Returns:
            Standard Base64 text.

        """
        signed = _HEAD.pack(_MAGIC, _VERSION, self._clock()) + payload
        return base64.b64encode(signed + self._mac(signed, bound_to)).decode("ascii")

    def decode(self, token: str, bound_to: bytes, ttl: float | None) -> bytes | None:
        """Return the payload of a token, or None if it is invalid, foreign or expired.

        Args:
            token: The ``nextToken`` query value, as decoded from the URL.
            bound_to: What the token must have been issued for.
            ttl: Seconds a token lives; None: forever.

        Returns:
            The payload, or None.

        """
        try:
            raw = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) < _HEAD.size + _MAC_BYTES:
            return None
        signed, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(signed, bound_to)):
            return None
        magic, version, issued_at = _HEAD.unpack(signed[: _HEAD.size])
        if magic != _MAGIC or version != _VERSION:  # pragma: no cover - covered by the MAC
            return None
        if ttl is not None and self._clock() - issued_at > ttl:
            return None
        return signed[_HEAD.size :]

    def encode_offset(self, offset: int, params_fingerprint: bytes, pad_to: int = 0) -> str:
        """Return the token for the page starting ``offset`` results into the query.

        Args:
            offset: Results already returned.
            params_fingerprint: ``fingerprint()`` of the query's other parameters.
            pad_to: Make the token at least this many characters long (zero bytes after the
                offset, signed with it); 0: its natural length.

        """
        raw_bytes = _HEAD.size + _OFFSET.size + _MAC_BYTES
        padding = max(0, pad_to * 3 // 4 - raw_bytes)
        return self.encode(_OFFSET.pack(offset) + bytes(padding), params_fingerprint)

    def decode_offset(self, token: str, params_fingerprint: bytes, ttl: float | None) -> int | None:
        """Return the offset a token points to, or None if it is invalid or expired."""
        payload = self.decode(token, params_fingerprint, ttl)
        if payload is None or len(payload) < _OFFSET.size or any(payload[_OFFSET.size :]):
            return None
        return int(_OFFSET.unpack(payload[: _OFFSET.size])[0])

    def _mac(self, signed: bytes, bound_to: bytes) -> bytes:
        digest = hmac.new(self._key, signed + bound_to, hashlib.sha256).digest()
        return digest[:_MAC_BYTES]
