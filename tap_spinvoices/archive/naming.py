"""Object names in the archive: deterministic, navigable, and safe whatever Amazon sends.

Layout, under the prefix of ``archive_url``::

    <account_id>/<stream>/<YYYY>/<MM>/<DD>/<business id>--<sha256 of the bytes>.<extension>
    V1234/customer_invoices/2024/01/05/PO1234567--9f86d081...0f00a08.pdf

- **Deterministic**: the same document (account, stream, day, business id, bytes) always
  gets the same name, so a re-run finds what an earlier run stored.
- **A name never holds two contents**: the SHA-256 of the bytes is part of it. Bytes that
  differ get another name; an object found under a name is the bytes that name says.
- **Untrusted identifiers stay inside their folder**: a business id (a purchase order number,
  an NF-e access key, a ZIP entry name) is written with ``[A-Za-z0-9._-]`` kept and every
  other byte (of its UTF-8, or the raw bytes of a non-UTF-8 name) as ``~XX``, so no ``/``,
  backslash, control character or NUL reaches the store; a leading ``.`` or ``-`` is escaped
  too (no hidden or option-like file names). The escaping is reversible, so two ids never
  share a name, except past ``MAX_ID_CHARS``: a long id keeps its first characters and
  gains ``~~`` and 16 hex digits of its own SHA-256, which keeps long ids apart and the
  file name within the 255 bytes local file systems allow.
- ``~`` is an unreserved URL character: names need no percent-encoding in ``file://`` or
  ``s3://`` URIs, and tools show them as written.

Pure functions, no I/O: tests/unit/test_archive_naming.py is their table.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from typing import Final

# Kept as they are in a name; every other byte becomes ~XX.
_PLAIN: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_ESCAPED_FIRST: Final = frozenset(b".-")
# The escaped id is cut here (then ~~ and 16 hex digits): 64 + 18 + 66 + extension < 255.
MAX_ID_CHARS: Final = 120
_LONG_ID_HASH_HEX: Final = 16
SHA256_HEX_CHARS: Final = 64
_SEPARATOR: Final = "--"
# An extension names a kind of file the tap writes: short, lower-case letters and digits.
_EXTENSION: Final = re.compile(r"[a-z0-9]{1,10}(?:\.[a-z0-9]{1,10})?")
_STREAM: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
_HEX: Final = re.compile(r"[0-9a-f]{64}")
# <id>--<sha256>.<extension>, the id being whatever precedes the last separator.
_FILE_NAME: Final = re.compile(
    r"(?P<id>[A-Za-z0-9._~-]+)--(?P<sha256>[0-9a-f]{64})\.(?P<extension>[a-z0-9]+(?:\.[a-z0-9]+)?)"
)
_DAY_PARTS: Final = 3


def escape_identifier(identifier: str | bytes) -> str:
    """``identifier`` as one safe path segment (see the module doc); never empty.

    >>> escape_identifier("PO 1/../2")
    'PO~201~2F..~2F2'
    >>> escape_identifier("")
    '~'
    """
    raw = identifier.encode("utf-8", "surrogatepass") if isinstance(identifier, str) else identifier
    if not raw:
        return "~"  # no escaped id is a lone ~, so the empty id is told apart
    out: list[str] = []
    for position, byte in enumerate(raw):
        plain = byte in _PLAIN and not (position == 0 and byte in _ESCAPED_FIRST)
        out.append(chr(byte) if plain else f"~{byte:02X}")
    escaped = "".join(out)
    if len(escaped) <= MAX_ID_CHARS:
        return escaped
    cut = escaped[: MAX_ID_CHARS - _LONG_ID_HASH_HEX - 2]
    # Never split an escape: drop a trailing partial ~X.
    tilde = cut.rfind("~", len(cut) - 2)
    if tilde != -1:
        cut = cut[:tilde]
    return f"{cut}~~{hashlib.sha256(raw).hexdigest()[:_LONG_ID_HASH_HEX]}"


def unescape_identifier(escaped: str) -> bytes | None:
    """The bytes an escaped id stands for; None for a cut long id or a malformed one."""
    if escaped == "~":
        return b""
    if "~~" in escaped:
        return None
    out = bytearray()
    index = 0
    while index < len(escaped):
        char = escaped[index]
        if char == "~":
            pair = escaped[index + 1 : index + 3]
            if len(pair) != 2 or not all(c in "0123456789ABCDEF" for c in pair):  # noqa: PLR2004
                return None
            out.append(int(pair, 16))
            index += 3
        else:
            out.append(ord(char))
            index += 1
    return bytes(out)


def day_folder(account_id: str, stream: str, day: date) -> str:
    """``<account>/<stream>/<YYYY>/<MM>/<DD>``: where one day's documents of a stream live."""
    return f"{stream_folder(account_id, stream)}/{day:%Y/%m/%d}"


def stream_folder(account_id: str, stream: str) -> str:
    """``<account>/<stream>``: every document of one stream of one account."""
    if not _STREAM.fullmatch(stream):
        msg = f"stream name {stream!r} is not a lower-case identifier"
        raise ValueError(msg)
    return f"{escape_identifier(account_id)}/{stream}"


def object_name(  # noqa: PLR0913 - each part is one element of the layout
    account_id: str,
    stream: str,
    day: date,
    business_id: str | bytes,
    *,
    sha256_hex: str,
    extension: str,
) -> str:
    """The name of a document in the archive, relative to the archive's prefix."""
    if not _HEX.fullmatch(sha256_hex):
        msg = "sha256_hex must be 64 lower-case hex digits"
        raise ValueError(msg)
    if not _EXTENSION.fullmatch(extension):
        msg = f"extension {extension!r} is not a short lower-case extension"
        raise ValueError(msg)
    file_name = f"{escape_identifier(business_id)}{_SEPARATOR}{sha256_hex}.{extension}"
    return f"{day_folder(account_id, stream, day)}/{file_name}"


@dataclass(frozen=True)
class ParsedName:
    """What a name made by ``object_name`` says about its object."""

    account_id: str  # escaped, as in the name
    stream: str
    day: date
    business_id: str  # escaped, as in the name
    sha256_hex: str
    extension: str


def parse_object_name(name: str) -> ParsedName | None:
    """Read a name relative to the archive's prefix; None if ``object_name`` did not make it."""
    parts = name.split("/")
    expected_parts = 6
    if len(parts) != expected_parts:
        return None
    account, stream, year, month, day_of_month, file_name = parts
    matched = _FILE_NAME.fullmatch(file_name)
    if matched is None or not _STREAM.fullmatch(stream):
        return None
    day = _day(year, month, day_of_month)
    if day is None:
        return None
    return ParsedName(
        account_id=account,
        stream=stream,
        day=day,
        business_id=matched["id"],
        sha256_hex=matched["sha256"],
        extension=matched["extension"],
    )


def _day(year: str, month: str, day_of_month: str) -> date | None:
    text = (year, month, day_of_month)
    if not all(part.isdigit() for part in text) or [len(p) for p in text] != [4, 2, 2]:
        return None
    try:
        return date(int(year), int(month), int(day_of_month))
    except ValueError:
        return None
