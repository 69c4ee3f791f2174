"""The files of a downloaded export document, read within bounds: pure, over a file object.

getInvoicesDocument promises a ZIP of NF-e XML files, one ``<invoice id>.xml`` per invoice
(Invoices FAQ); its static sandbox example's URL ends in ``.xml``. Nothing here trusts either:
every entry of the ZIP becomes one ``DocumentFile`` (its path, its exact bytes and its kind)
or an error, so a document is done only when each entry became a record or a counted warning
(docs/quirks.md, "Limits").

- Bounded: the central directory is counted before ``zipfile`` parses it (a ZIP that claims
  one entry and holds millions is refused at ``max_files``), an entry is read as a stream in
  chunks and given up past ``max_file_bytes`` or past ``MAX_COMPRESSION_RATIO`` (a zip bomb),
  and the document past ``max_unzipped_bytes`` in all. Only stored and deflated entries are
  read: ``zipfile`` bounds what one read of those inflates, not of bzip2 or LZMA.
- Loud: an entry not named ``.xml``, a ZIP inside the inner ZIP, or a second entry with the
  same key is kept as raw bytes with a ``warning`` the stream logs and counts; a ZIP inside
  the ZIP is read, one level deep.
- One line: encrypted entries, unsupported methods, corrupt data, entry names that are not
  the UTF-8 they claim and truncated ZIPs raise ``DocumentReadError`` naming the cause and
  the fix; ``transfer_damage`` says whether a new download could cure it.

No network, no disk: the caller downloads (invoice_documents.py) and names the export and
the document in the error line.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Final

from tap_spinvoices.errors import SpinvoicesError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

MB: Final = 1 << 20
# Unzipped bytes per entry past which the compression ratio is checked: small entries of
# repeated bytes are harmless whatever their ratio.
RATIO_FLOOR_BYTES: Final = MB
# NF-e XML deflates 3-10 to 1; deflate itself stops near 1032 to 1 (runs of one byte).
MAX_COMPRESSION_RATIO: Final = 100
# A whole document may unzip to this many times its download cap.
UNZIPPED_PER_DOWNLOAD: Final = 20
# Stored and deflated: what zipfile inflates in bounded steps (ZipExtFile._read1 passes a
# max_length to zlib only for deflate).
READ_METHODS: Final = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
METHOD_NAMES: Final = {
    1: "Shrink",
    6: "Implode",
    9: "Deflate64",
    12: "bzip2",
    14: "LZMA",
    93: "Zstandard",
    95: "XZ",
    98: "PPMd",
    99: "AES encryption",
}
_CHUNK: Final = 1 << 16
_SNIFF_BYTES: Final = 64
# What an XML document may start with: a UTF-8 byte order mark, white space, then "<".
_XML_LEAD: Final = b"\xef\xbb\xbf \t\r\n"
_LOCAL_HEADER: Final = b"PK\x03\x04"
_EMPTY_ZIP: Final = b"PK\x05\x06"
_ZIP_SIGNATURES: Final = (_LOCAL_HEADER, _EMPTY_ZIP)
_END: Final = struct.Struct("<4s4H2LH")  # end of central directory record
_END64_LOCATOR: Final = struct.Struct("<4sLQL")
_END64: Final = struct.Struct("<4sQ2H2L4Q")
_CENTRAL: Final = struct.Struct("<4s4B4HL2L5H2L")  # one central directory header
_MAX_COMMENT: Final = 0xFFFF
_ENCRYPTED: Final = 0x1
_REPORT: Final = "report the export id to Amazon"
_AGAIN: Final = "the next run downloads it again; if it stays so, report the export id to Amazon"


class FileKind(StrEnum):
    """What a file of a document is to the stream."""

    XML = "xml"  # named .xml: parsed as an NF-e (or an event), its text kept
    RAW = "raw"  # anything else: kept as raw bytes, with a warning


@dataclass(frozen=True)
class DocumentFile:
    """One file of a downloaded document, read on the I/O thread, parsed on the SDK's.

    Attributes:
        path: Its full path in the document; inside a ZIP within the ZIP, ``inner.zip/a.xml``.
        data: Its exact bytes.
        kind: XML (named ``.xml``) or RAW.
        key: Its invoiceId: the path without ``.xml``, unique within the document.
        warning: Why it deserves a WARNING (kept raw, or a key taken twice), else None.
        last: Whether it is the document's last file (whose record carries its rows).

    """

    path: str
    data: bytes
    kind: FileKind
    key: str = ""
    warning: str | None = None
    last: bool = False


@dataclass(frozen=True)
class DocumentLimits:
    """The bounds of one document; the settings named in each error line."""

    max_download_bytes: int  # max_document_mb
    max_files: int  # max_document_files
    max_file_bytes: int  # max_record_mb: one file becomes one record

    @property
    def max_unzipped_bytes(self) -> int:
        """Every file of the document together (UNZIPPED_PER_DOWNLOAD x max_document_mb)."""
        return UNZIPPED_PER_DOWNLOAD * self.max_download_bytes


class DocumentReadError(SpinvoicesError):
    """A document that cannot be read: the cause and the fix, without export or document.

    ``transfer_damage``: the bytes may have been damaged on the way (cut short, corrupt), so
    a new download from a fresh URL could cure it; otherwise the same bytes come back.
    """

    def __init__(self, problem: str, fix: str, *, transfer_damage: bool = False) -> None:
        """Keep the parts; ``str()`` is ``"<problem>. Fix: <fix>"``."""
        self.problem = problem
        self.fix = fix
        self.transfer_damage = transfer_damage
        super().__init__(f"{problem}. Fix: {fix}")


def megabytes(count: int) -> str:
    """Bytes as whole megabytes (MiB) for an error line: ``16 MB``."""
    return f"{count / MB:,.0f} MB" if count >= MB else f"{count:,} bytes"


def file_key(path: str) -> str:
    """The invoiceId of a file: its path without ``.xml`` (any case).

    An entry at the ZIP's root keeps the key of earlier versions (the file name's stem), and
    ``a/dup.xml`` and ``b/dup.xml`` are two keys.
    """
    return path[:-4] if path.lower().endswith(".xml") else path


def read_document(
    body: IO[bytes], *, url_name: str, document_id: str, limits: DocumentLimits
) -> Iterator[DocumentFile]:
    """Each file of a downloaded document, one at a time, keyed, the last one marked.

    A ZIP gives its entries (a ZIP inside it read one level deep); a body that is XML is one
    file, named as the URL's path names it, else after the document id.

    Raises:
        DocumentReadError: The body cannot be read, or is past a bound.

    """
    return _marked_last(_keyed(_body_files(body, url_name, document_id, limits)))


def _body_files(
    body: IO[bytes], url_name: str, document_id: str, limits: DocumentLimits
) -> Iterator[DocumentFile]:
    body.seek(0)
    head = body.read(_SNIFF_BYTES)
    body.seek(0)
    if head.startswith(_ZIP_SIGNATURES):
        yield from _zip_files(body, "", _Budget(limits))
        return
    if head.lstrip(_XML_LEAD).startswith(b"<"):
        name = url_name if url_name.lower().endswith(".xml") else f"{document_id}.xml"
        data = body.read(limits.max_file_bytes + 1)
        if len(data) > limits.max_file_bytes:
            raise _too_large(name, len(data), limits.max_file_bytes, at_least=True)
        yield DocumentFile(name, data, FileKind.XML)
        return
    if not head:
        raise DocumentReadError("is empty (0 bytes)", _AGAIN, transfer_damage=True)
    raise DocumentReadError(
        f"is neither a ZIP nor XML (starts {head[:16]!r})", _AGAIN, transfer_damage=True
    )


@dataclass
class _Budget:
    """What the document may still hold: files and unzipped bytes, over every level."""

    limits: DocumentLimits
    files: int = 0
    unzipped: int = 0

    def add_files(self, count: int, where: str) -> None:
        self.files += count
        if self.files > self.limits.max_files:
            raise DocumentReadError(
                f"holds more than max_document_files ({self.limits.max_files:,}) files ({where})",
                "raise max_document_files if documents this large are expected (the tap "
                "holds each file's name, about 0.5 KB, while it reads the ZIP)",
            )

    def add_bytes(self, count: int) -> None:
        self.unzipped += count
        if self.unzipped > self.limits.max_unzipped_bytes:
            cap = megabytes(self.limits.max_unzipped_bytes)
            raise DocumentReadError(
                f"unzips to more than {UNZIPPED_PER_DOWNLOAD} x max_document_mb ({cap})",
                "raise max_document_mb if documents this large are expected",
            )


def _zip_files(body: IO[bytes], prefix: str, budget: _Budget) -> Iterator[DocumentFile]:
    """The entries of one ZIP: the document's (``prefix`` ""), or one inside it (``a.zip/``)."""
    where = f"in {prefix.rstrip('/')}" if prefix else "in its central directory"
    count = _counted_entries(body, budget.limits.max_files - budget.files, prefix)
    budget.add_files(count, where)
    try:
        zipped = zipfile.ZipFile(body)
    except UnicodeDecodeError as exc:
        raise DocumentReadError(
            f"has an entry name{_inside(prefix)} marked as UTF-8 that is not UTF-8 "
            f"(bytes {exc.object[exc.start : exc.end + 8]!r})",
            _REPORT,
        ) from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error) as exc:
        raise _broken(prefix, f"has a central directory that cannot be read ({exc})") from None
    except NotImplementedError as exc:
        raise DocumentReadError(
            f"is a ZIP{_inside(prefix)} using a feature the tap does not read ({exc})", _REPORT
        ) from None
    with zipped:
        for info in zipped.infolist():
            if info.is_dir():
                continue
            path = prefix + info.filename
            data = _read_entry(zipped, info, path, budget, prefix)
            if data.startswith(_ZIP_SIGNATURES):
                if not prefix:
                    yield from _zip_files(io.BytesIO(data), path + "/", budget)
                    continue
                why = "a ZIP inside a ZIP inside the document: kept as bytes, not unzipped"
                yield DocumentFile(path, data, FileKind.RAW, warning=why)
            elif path.lower().endswith(".xml"):
                yield DocumentFile(path, data, FileKind.XML)
            else:
                why = "not named .xml: kept as bytes (Base64), not read as an NF-e"
                yield DocumentFile(path, data, FileKind.RAW, warning=why)


def _counted_entries(body: IO[bytes], allowed: int, prefix: str) -> int:
    """The central directory's entries, counted without parsing more than ``allowed + 1``.

    ``zipfile`` builds an object for every record of the central directory whatever its end
    record claims, so the records are counted here first.
    """
    claimed, start = _end_record(body, prefix)
    if claimed > allowed:
        return claimed
    body.seek(start)
    count = 0
    while count <= allowed:
        header = body.read(_CENTRAL.size)
        if len(header) < _CENTRAL.size or not header.startswith(b"PK\x01\x02"):
            break  # the end of the records, or damage zipfile reports in its own words
        fields = _CENTRAL.unpack(header)
        body.seek(fields[12] + fields[13] + fields[14], io.SEEK_CUR)
        count += 1
    return max(count, claimed)


def _end_record(body: IO[bytes], prefix: str) -> tuple[int, int]:
    """(entries claimed, start of the central directory) from the ZIP's end record.

    Raises:
        DocumentReadError: No end record: the ZIP was cut short.

    """
    size = body.seek(0, io.SEEK_END)
    tail_start = max(0, size - _END.size - _MAX_COMMENT)
    body.seek(tail_start)
    tail = body.read()
    position = tail.rfind(b"PK\x05\x06")
    if position < 0 or len(tail) - position < _END.size:
        raise _broken(
            prefix,
            f"is a truncated ZIP ({size:,} bytes: it starts like a ZIP but its end of central "
            "directory is missing)",
        )
    fields = _END.unpack_from(tail, position)
    claimed, cd_size = fields[4], fields[5]
    end_at = tail_start + position
    locator_at = end_at - _END64_LOCATOR.size
    if locator_at >= _END64.size:
        body.seek(locator_at)
        locator = body.read(_END64_LOCATOR.size)
        if locator.startswith(b"PK\x06\x07"):
            end_at = locator_at - _END64.size
            body.seek(end_at)
            record = body.read(_END64.size)
            if record.startswith(b"PK\x06\x06"):
                zip64 = _END64.unpack(record)
                claimed, cd_size = zip64[7], zip64[8]
    return claimed, max(0, end_at - cd_size)


def _read_entry(
    zipped: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, budget: _Budget, prefix: str
) -> bytes:
    """One entry's bytes, read in chunks within the bounds, its CRC checked."""
    if info.flag_bits & _ENCRYPTED:
        raise DocumentReadError(
            f"has an encrypted entry {path} (the tap holds no password for it)", _REPORT
        )
    if info.compress_type not in READ_METHODS:
        method = METHOD_NAMES.get(info.compress_type, "unknown")
        raise DocumentReadError(
            f"has entry {path} compressed with method {info.compress_type} ({method}), which "
            "the tap does not read (it reads stored and deflated entries, whose unzipping it "
            "can bound)",
            _REPORT,
        )
    limit = budget.limits.max_file_bytes
    _check_ratio(path, info.file_size, info.compress_size)
    if info.file_size > limit:
        raise _too_large(path, info.file_size, limit)
    data = bytearray()
    try:
        with zipped.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                data += chunk
                budget.add_bytes(len(chunk))
                _check_ratio(path, len(data), info.compress_size, at_least=True)
                if len(data) > limit:
                    raise _too_large(path, len(data), limit, at_least=True)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise _broken(prefix, f"has corrupt data in entry {path} ({exc})") from None
    return bytes(data)


def _check_ratio(path: str, unzipped: int, compressed: int, *, at_least: bool = False) -> None:
    if unzipped > RATIO_FLOOR_BYTES and unzipped > MAX_COMPRESSION_RATIO * max(compressed, 1):
        shown = ("more than " if at_least else "") + megabytes(unzipped)
        raise DocumentReadError(
            f"has entry {path} unzipping to {shown} from "
            f"{compressed:,} bytes, more than {MAX_COMPRESSION_RATIO} to 1 (a zip bomb; NF-e "
            "XML deflates about 3-10 to 1)",
            "nothing in the settings reads it; " + _REPORT,
        )


def _too_large(path: str, size: int, limit: int, *, at_least: bool = False) -> DocumentReadError:
    shown = ("more than " if at_least else "") + megabytes(size)
    return DocumentReadError(
        f"has file {path} of {shown}, more than max_record_mb ({megabytes(limit)}; one file "
        "is one record)",
        "raise max_record_mb if files this large are expected (the tap holds a few records of "
        "that size in memory at once)",
    )


def _broken(prefix: str, problem: str) -> DocumentReadError:
    """A ZIP cut short or corrupt: a new download may cure the document, not a ZIP inside it.

    A ZIP inside the document came out of an entry whose CRC held: its bytes are the ones
    Amazon stored.
    """
    if not prefix:
        return DocumentReadError(problem, _AGAIN, transfer_damage=True)
    return DocumentReadError(f"holds a ZIP {prefix.rstrip('/')} that {problem}", _REPORT)


def _inside(prefix: str) -> str:
    return f" (in {prefix.rstrip('/')})" if prefix else ""


def _keyed(files: Iterable[DocumentFile]) -> Iterator[DocumentFile]:
    """Give each file its key; a key taken before gets ``#2``, ``#3``, ... and a warning.

    Every key given counts as taken, so an entry that is itself named ``x#2.xml`` after a
    second ``x.xml`` does not get the same key as that one.
    """
    taken: set[str] = set()
    for file in files:
        key = file_key(file.path)
        if key not in taken:
            taken.add(key)
            yield replace(file, key=key)
            continue
        number = 2
        while f"{key}#{number}" in taken:
            number += 1
        alias = f"{key}#{number}"
        taken.add(alias)
        why = f"the same key as an earlier entry ({key}): written as {alias}"
        if file.warning:
            why = f"{file.warning}; {why}"
        yield replace(file, key=alias, warning=why)


def _marked_last(files: Iterator[DocumentFile]) -> Iterator[DocumentFile]:
    """The files, the last one marked: each is held until the next one was read."""
    held = next(files, None)
    if held is None:
        return
    for file in files:
        yield held
        held = file
    yield replace(held, last=True)
