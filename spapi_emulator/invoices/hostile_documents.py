"""Hostile export documents: ZIP shapes no model promises, played to test the tap's bounds.

None of this is a claim about Amazon. getInvoicesDocument's model says "zip format" and the
Invoices FAQ one ``<invoice id>.xml`` per invoice; each ``DocumentShape`` (``document_shape``)
breaks that one way the tap must survive with a complete result or one clear line: an empty
ZIP, a ZIP inside the ZIP (and one inside that), entries that are not XML, the same file name
in two folders, a zip bomb, an encrypted entry, a compression method the tap does not read,
corrupt deflate data, a first download cut short, an entry name that claims UTF-8 and is not,
XML in ISO-8859-1, and a download that never ends.

``raw_zip`` writes the archive byte by byte (``zipfile`` writes neither encryption flags nor
foreign methods nor broken names). Pure: no I/O.
"""

from __future__ import annotations

import functools
import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from spapi_emulator.config import DocumentShape

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from datetime import datetime

_LOCAL: Final = struct.Struct("<4s5H3L2H")
_CENTRAL: Final = struct.Struct("<4s6H3L5H2L")
_END: Final = struct.Struct("<4s4H2LH")
_VERSION: Final = 20
_ENCRYPTED: Final = 0x1
_UTF8_NAME: Final = 0x800
_DEFLATE64: Final = 9
_ZEROS: Final = bytes(1 << 20)
_LATIN1_DECLARATION: Final = (
    b'<?xml version="1.0" encoding="ISO-8859-1"?><!-- emiss\xe3o em ISO-8859-1 -->'
)
# Not valid UTF-8: 0xE7 starts a three-byte sequence that "a" does not continue.
NON_UTF8_NAME: Final = b"nota-fiscal-\xe7a.xml"
NOT_XML_FILES: Final = (
    ("README.txt", b"Invoices export: one NF-e XML file per invoice.\n"),
    ("logo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
)
ENDLESS_CHUNK: Final = bytes(1 << 16)


@dataclass(frozen=True)
class RawEntry:
    """One ZIP entry exactly as written: name bytes, flags, method and the stored data."""

    name: bytes
    stored: bytes
    crc: int
    size: int
    method: int = zipfile.ZIP_DEFLATED
    flags: int = 0


def deflated(name: str | bytes, data: bytes, *, flags: int = 0) -> RawEntry:
    """An entry deflated as zipfile deflates (raw deflate, CRC of the plain bytes)."""
    encoder = zlib.compressobj(6, zlib.DEFLATED, -15)
    stored = encoder.compress(data) + encoder.flush()
    raw_name = name.encode() if isinstance(name, str) else name
    return RawEntry(raw_name, stored, zlib.crc32(data), len(data), flags=flags)


def raw_zip(entries: Sequence[RawEntry]) -> bytes:
    """A ZIP of ``entries`` as given (no ZIP64, names as bytes, flags and methods unchecked)."""
    out = io.BytesIO()
    central = []
    for entry in entries:
        offset = out.tell()
        head = _LOCAL.pack(
            b"PK\x03\x04",
            _VERSION,
            entry.flags,
            entry.method,
            0,
            0x21,  # 1980-01-01
            entry.crc,
            len(entry.stored),
            entry.size,
            len(entry.name),
            0,
        )
        out.write(head + entry.name + entry.stored)
        record = _CENTRAL.pack(
            b"PK\x01\x02",
            (3 << 8) | _VERSION,
            _VERSION,
            entry.flags,
            entry.method,
            0,
            0x21,
            entry.crc,
            len(entry.stored),
            entry.size,
            len(entry.name),
            0,
            0,
            0,
            0,
            0o644 << 16,
            offset,
        )
        central.append(record + entry.name)
    start = out.tell()
    directory = b"".join(central)
    end = _END.pack(b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), start, 0)
    return out.getvalue() + directory + end


@functools.lru_cache(maxsize=2)
def zeros_entry(name: str, size: int) -> RawEntry:
    """``size`` zero bytes, deflated (about 1,000 to 1): built once per size."""
    encoder = zlib.compressobj(6, zlib.DEFLATED, -15)
    parts, crc, left = [], 0, size
    while left:
        chunk = _ZEROS[: min(left, len(_ZEROS))]
        parts.append(encoder.compress(chunk))
        crc = zlib.crc32(chunk, crc)
        left -= len(chunk)
    parts.append(encoder.flush())
    return RawEntry(name.encode(), b"".join(parts), crc, size)


def latin1(data: bytes) -> bytes:
    """An NF-e re-encoded as ISO-8859-1, with a comment that makes it not UTF-8."""
    text = data.decode()
    _, declared, rest = text.partition("?>")
    return _LATIN1_DECLARATION + (rest if declared else text).encode("latin-1")


def shaped_zip(
    shape: DocumentShape, files: Sequence[tuple[str, datetime, bytes]], *, bomb_bytes: int
) -> bytes:
    """The document's ZIP as ``shape`` breaks it (every shape a ZIP; ``files`` non-empty).

    Raises:
        ValueError: A shape that is not a ZIP (``none``, ``truncated-once``, ``endless``).

    """
    plain = [(name, data) for name, _, data in files]
    first_name, first = plain[0]
    entries = [deflated(name, data) for name, data in plain]
    if shape is DocumentShape.EMPTY:
        entries = []
    elif shape is DocumentShape.NESTED:
        deeper = raw_zip([deflated(first_name, first)])
        inner = raw_zip([*entries[1:], deflated("deeper.zip", deeper)])
        entries = [entries[0], deflated("inner.zip", inner)]
    elif shape is DocumentShape.NOT_XML:
        entries += [deflated(name, data) for name, data in NOT_XML_FILES]
    elif shape is DocumentShape.DUPLICATE_NAMES:
        folders = [deflated(f"a/{name}", data) for name, data in plain]
        entries = [*folders, deflated(f"b/{first_name}", first)]
    elif shape is DocumentShape.BOMB:
        entries.append(zeros_entry("bomb.xml", bomb_bytes))
    elif shape is DocumentShape.NON_UTF8_BYTES:
        entries = [deflated(name, latin1(data)) for name, data in plain]
    else:
        entries = _broken_entries(shape, entries, first)
    return raw_zip(entries)


def _broken_entries(shape: DocumentShape, entries: list[RawEntry], first: bytes) -> list[RawEntry]:
    """The entries with the first one broken as ``shape`` says."""
    head = entries[0]
    if shape is DocumentShape.ENCRYPTED:
        broken = RawEntry(head.name, head.stored, head.crc, head.size, flags=_ENCRYPTED)
    elif shape is DocumentShape.UNSUPPORTED_METHOD:
        broken = RawEntry(head.name, head.stored, head.crc, head.size, method=_DEFLATE64)
    elif shape is DocumentShape.CORRUPT:
        middle = len(head.stored) // 2
        garbled = head.stored[:middle] + bytes(b ^ 0xFF for b in head.stored[middle:][:64])
        garbled += head.stored[middle + 64 :]
        broken = RawEntry(head.name, garbled, head.crc, head.size)
    elif shape is DocumentShape.NON_UTF8_NAME:
        broken = deflated(NON_UTF8_NAME, first, flags=_UTF8_NAME)
    else:
        raise ValueError(f"document_shape {shape} is not a shape of the ZIP's entries")
    return [broken, *entries[1:]]


def endless_body() -> Iterator[bytes]:
    """A download that never ends: zero bytes, 64 KiB at a time, forever."""
    while True:
        yield ENDLESS_CHUNK
