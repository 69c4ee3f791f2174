"""What a document download is made of: pre-signed S3 URLs and the ZIP streamed in pieces.

getInvoicesDocument answers with "an S3 pre-signed URL ... to download the invoices document in
zip format. This URL expires after 30 seconds." The ZIP holds one NF-e XML file per invoice,
named ``<invoice id>.xml`` (Invoices FAQ). Here the URL points back at the emulator
(``/_s3/invoices-documents/<id>.zip?X-Amz-...``): ``PresignedUrls`` mints and checks it, and
``zip_chunks`` builds the archive piece by piece, byte-identical on every download. The route
that serves it is download_route.py.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import threading
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from yarl import URL

from spapi_emulator.paths import S3_DOCUMENTS_PATH

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

_ZIP_EPOCH_YEAR = 1980
# Pre-signed URL query parameters (SigV4 query-string authentication, as S3 spells them).
ALGORITHM = "X-Amz-Algorithm"
CREDENTIAL = "X-Amz-Credential"
DATE = "X-Amz-Date"
EXPIRES = "X-Amz-Expires"
SIGNED_HEADERS = "X-Amz-SignedHeaders"
SIGNATURE = "X-Amz-Signature"
_SIGNED = (ALGORITHM, CREDENTIAL, DATE, EXPIRES, SIGNED_HEADERS)
_ACCESS_KEY = "EMULATORACCESSKEY0001"
_AMZ_DATE = "%Y%m%dT%H%M%SZ"


class _Sink:
    """A write-only, non-seekable file for ``zipfile``: it then writes data descriptors."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0

    def write(self, data: bytes, /) -> int:
        self._chunks.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        """Nothing to flush: chunks are handed out by ``take``."""

    def close(self) -> None:
        """Nothing to close."""

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def zip_chunks(files: Iterable[tuple[str, datetime, bytes]]) -> Iterator[bytes]:
    """Yield a deflated ZIP archive piece by piece, one file's worth at a time.

    Only the current file and the central directory entries are held in memory, so a large
    document streams without being built whole. The bytes depend only on the input.

    Args:
        files: (name, modification time, contents) in archive order.

    Yields:
        Consecutive pieces of the archive; joined, a valid ZIP file.

    """
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, moment, data in files:
            utc = moment.astimezone(UTC)
            stamp = (max(utc.year, _ZIP_EPOCH_YEAR), utc.month, utc.day, utc.hour, utc.minute)
            info = zipfile.ZipInfo(name, date_time=(*stamp, utc.second))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the host: byte-identical archives
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
            yield sink.take()
    yield sink.take()


class UrlCheck(enum.Enum):
    """Verdict on a presented pre-signed URL."""

    VALID = "valid"
    EXPIRED = "expired"
    BAD_SIGNATURE = "bad-signature"  # tampered with, or not minted by this server
    UNSIGNED = "unsigned"  # query-string authentication parameters missing


@dataclass(frozen=True, slots=True)
class MintedUrl:
    """When and for how long a URL was minted.

    Attributes:
        at: Monotonic clock reading at minting.
        ttl: Lifetime in seconds (not time-scaled).
        date: Wall-clock minting time (``X-Amz-Date``).

    """

    at: float
    ttl: float
    date: datetime


class PresignedUrls:
    """Mints and checks the document download URLs of one server instance.

    The signature is an HMAC of the path and the other ``X-Amz-*`` parameters with a random
    per-server key, so any change to the URL is detected; the minting time is remembered per
    signature on the monotonic clock, so tests expire URLs with a fake clock.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        wall_clock: Callable[[], datetime],
        key: bytes | None = None,
    ) -> None:
        """Create the signer.

        Args:
            clock: Monotonic clock in seconds.
            wall_clock: Returns the current aware datetime (for ``X-Amz-Date``).
            key: HMAC key; random when None.

        """
        self._clock = clock
        self._wall_clock = wall_clock
        self._key = key if key is not None else secrets.token_bytes(32)
        self._minted: dict[str, MintedUrl] = {}
        self._lock = threading.Lock()

    def mint(self, base_url: str | URL, document_id: str, ttl: float, suffix: str = ".zip") -> str:
        """Return a download URL for a document, valid ``ttl`` seconds from now.

        Args:
            base_url: The emulator's origin, e.g. ``http://127.0.0.1:8080``.
            document_id: The invoicesDocumentId.
            ttl: Lifetime in seconds.
            suffix: The object's extension: ``.zip``, or ``.xml`` for a bare XML document.

        Returns:
            ``<base>/_s3/invoices-documents/<id>.zip?X-Amz-Algorithm=...&X-Amz-Signature=...``.

        """
        now = self._wall_clock().astimezone(UTC)
        path = document_path(document_id, suffix)
        params = {
            ALGORITHM: "AWS4-HMAC-SHA256",
            CREDENTIAL: f"{_ACCESS_KEY}/{now:%Y%m%d}/us-east-1/s3/aws4_request",
            DATE: now.strftime(_AMZ_DATE),
            EXPIRES: str(max(1, round(ttl))),
            SIGNED_HEADERS: "host",
        }
        signature = self._sign(path, params)
        with self._lock:
            self._minted[signature] = MintedUrl(self._clock(), ttl, now)
        return str(URL(str(base_url)).with_path(path).with_query({**params, SIGNATURE: signature}))

    def check(self, path: str, query: Mapping[str, str]) -> tuple[UrlCheck, MintedUrl | None]:
        """Check a presented URL: signature first, then expiry.

        Args:
            path: The request path.
            query: The request's (decoded) query parameters.

        Returns:
            (verdict, minting record); the record is None unless the signature is good.

        """
        presented = query.get(SIGNATURE)
        if presented is None or any(name not in query for name in _SIGNED):
            return UrlCheck.UNSIGNED, None
        params = {name: query[name] for name in _SIGNED}
        if not hmac.compare_digest(presented, self._sign(path, params)):
            return UrlCheck.BAD_SIGNATURE, None
        with self._lock:
            minted = self._minted.get(presented)
        if minted is None:  # pragma: no cover - a good signature is always remembered
            return UrlCheck.BAD_SIGNATURE, None
        if self._clock() - minted.at > minted.ttl:
            return UrlCheck.EXPIRED, minted
        return UrlCheck.VALID, minted

    def server_time(self, minted: MintedUrl) -> datetime:
        """Return "now" on the URL's own time line (minting date plus monotonic time since)."""
        return minted.date + timedelta(seconds=self._clock() - minted.at)

    def _sign(self, path: str, params: Mapping[str, str]) -> str:
        canonical = "&".join(f"{name}={params[name]}" for name in sorted(params))
        message = f"GET\n{path}\n{canonical}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def document_path(document_id: str, suffix: str = ".zip") -> str:
    """Return the download path of a document: ``/_s3/invoices-documents/<id>.zip``."""
    return f"{S3_DOCUMENTS_PATH}/{document_id}{suffix}"
