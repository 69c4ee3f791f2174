"""nextToken codec: opaque Base64 bound to its query, tamper-proof, expiring."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import pytest

from spapi_emulator.paging import NextTokenCodec, fingerprint

if TYPE_CHECKING:
    from .conftest import FakeClock

QUERY = fingerprint([("createdAfter", "a"), ("createdBefore", "b"), ("limit", "5")])


@pytest.fixture
def codec(clock: FakeClock) -> NextTokenCodec:
    return NextTokenCodec(clock, key=b"k" * 32)


def test_token_round_trips_its_offset(codec: NextTokenCodec) -> None:
    assert codec.decode_offset(codec.encode_offset(1234, QUERY), QUERY, ttl=None) == 1234


def test_token_is_standard_base64_with_plus_slash_and_padding(codec: NextTokenCodec) -> None:
    for offset in (0, 5, 99_999):
        token = codec.encode_offset(offset, QUERY)
        assert {"+", "/"} <= set(token)
        assert token.endswith("=")
        base64.b64decode(token, validate=True)


def test_parameter_order_does_not_matter_but_values_do() -> None:
    assert fingerprint([("a", "1"), ("b", "2")]) == fingerprint([("b", "2"), ("a", "1")])
    assert fingerprint([("a", "1")]) != fingerprint([("a", "1.0")])


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t.replace("+", " "),  # not URL-encoded
        lambda t: t[:-4] + "AAA=",  # tampered
        lambda t: t[:-2],  # truncated
        lambda _: "MDAwMDAwMDAwMQ==",  # the model's example token
        lambda _: "not base64!",
    ],
    ids=["unencoded-plus", "tampered", "truncated", "foreign", "garbage"],
)
def test_damaged_tokens_are_rejected(codec: NextTokenCodec, mangle) -> None:
    assert codec.decode_offset(mangle(codec.encode_offset(10, QUERY)), QUERY, ttl=None) is None


def test_token_from_another_server_is_rejected(clock: FakeClock, codec: NextTokenCodec) -> None:
    other = NextTokenCodec(clock)
    assert other.decode_offset(codec.encode_offset(10, QUERY), QUERY, ttl=None) is None


def test_token_expires_after_its_ttl(codec: NextTokenCodec, clock: FakeClock) -> None:
    token = codec.encode_offset(10, QUERY)
    clock.advance(30.0)
    assert codec.decode_offset(token, QUERY, ttl=30.0) == 10
    clock.advance(0.001)
    assert codec.decode_offset(token, QUERY, ttl=30.0) is None
    assert codec.decode_offset(token, QUERY, ttl=None) == 10
