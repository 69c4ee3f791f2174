"""``GET /_s3/invoices-documents/<id>.zip?X-Amz-...``: the pre-signed S3 download.

Not an SP-API operation: no token, no usage plan, no injected faults. The download needs no
SP-API headers, checks the signature, then the expiry, and streams the document's body
(``InvoicesApi.document_body``: the ZIP, or what ``document_body`` says) as S3 would, with
S3's XML errors.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from aiohttp import web

from spapi_emulator.config import S3_DOWNLOAD, S3_DOWNLOAD_EXPIRED, DocumentBody
from spapi_emulator.invoices.downloads import EXPIRES, UrlCheck
from spapi_emulator.invoices.exports import INVOICES_API
from spapi_emulator.pipeline import OPERATION_KEY, STATE_KEY

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from spapi_emulator.invoices.exports import InvoicesApi

BAD = UrlCheck.BAD_SIGNATURE

_STREAM_CHUNK = 64 * 1024
_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)


def s3_error(status: int, code: str, message: str, **extra: str) -> web.Response:
    """Return an S3 REST error: ``<Error><Code>..</Code><Message>..</Message>...</Error>``.

    Args:
        status: HTTP status.
        code: S3 error code, e.g. ``AccessDenied``.
        message: S3 error message.
        **extra: More elements, in order (e.g. ``X-Amz-Expires``, ``Expires``).

    Returns:
        An ``application/xml`` response.

    """
    fields = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in extra.items())
    request_id = uuid.uuid4().hex[:16].upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>{fields}"
        f"<RequestId>{request_id}</RequestId><HostId>{secrets.token_urlsafe(48)}</HostId>"
        "</Error>"
    )
    return web.Response(body=body.encode(), status=status, content_type="application/xml")


def _s3_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _stream(pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Regroup archive pieces into chunks of about 64 KiB for the HTTP writer."""
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        if len(buffer) >= _STREAM_CHUNK:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def download(request: web.Request, api: InvoicesApi) -> tuple[web.StreamResponse, str]:
    """Answer ``GET /_s3/invoices-documents/<id>.zip?...`` like a pre-signed S3 GET.

    SP-API headers are ignored (an ``x-amz-access-token`` does no harm). Order: query-string
    authentication present, signature (403 SignatureDoesNotMatch), expiry (403 AccessDenied
    "Request has expired"), key (404 NoSuchKey), then 200 ``application/zip``, streamed.

    Args:
        request: The download request.
        api: The Invoices API state (documents and URL signer).

    Returns:
        (response, stats name): ``s3DownloadExpired`` for expired URLs, else ``s3Download``.

    """
    verdict, minted = api.urls.check(request.path, request.query)
    if verdict is UrlCheck.UNSIGNED:
        return s3_error(403, "AccessDenied", "Access Denied"), S3_DOWNLOAD
    if verdict is UrlCheck.BAD_SIGNATURE or minted is None:
        return s3_error(403, "SignatureDoesNotMatch", _SIGNATURE_MISMATCH), S3_DOWNLOAD
    if verdict is UrlCheck.EXPIRED:
        expired = s3_error(
            403,
            "AccessDenied",
            "Request has expired",
            **{
                EXPIRES: request.query[EXPIRES],
                "Expires": _s3_time(minted.date + timedelta(seconds=minted.ttl)),
                "ServerTime": _s3_time(api.urls.server_time(minted)),
            },
        )
        return expired, S3_DOWNLOAD_EXPIRED
    name = request.match_info.get("name", "")
    suffix = ".xml" if api.config.document_body is DocumentBody.XML else ".zip"
    document_id = name.removesuffix(suffix)
    pieces = api.document_body(document_id, download=True) if name.endswith(suffix) else None
    if pieces is None:
        key = f"{document_id}{suffix}"
        return s3_error(404, "NoSuchKey", "The specified key does not exist.", Key=key), S3_DOWNLOAD
    kind = "application/xml" if suffix == ".xml" else "application/zip"
    return web.Response(body=_stream(pieces), content_type=kind), S3_DOWNLOAD


async def s3_download(request: web.Request) -> web.StreamResponse:
    """``GET /_s3/invoices-documents/<id>.zip?X-Amz-...``: the pre-signed S3 download.

    Not an SP-API operation: no token, no usage plan, no injected faults.

    Args:
        request: The download request.

    Returns:
        200 ``application/zip`` or an S3 XML error.

    """
    # Every selling partner signs its own URLs: the one whose key signed this URL serves it.
    primary = request.app[STATE_KEY]
    apis = [state.family(INVOICES_API) for state in primary.partners.values()]
    signed_by = (api for api in apis if api.urls.check(request.path, request.query)[0] is not BAD)
    response, name = download(request, next(signed_by, primary.family(INVOICES_API)))
    request[OPERATION_KEY] = name
    return response
