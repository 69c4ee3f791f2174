"""Hostile answers: values and sizes no SP-API model allows, played to test the tap's bounds.

None of this is a claim about Amazon. Each switch plays a broken or hostile server the tap
must survive with a complete result or one clear line: invoices of a size Amazon never
documents (``huge_invoice_every``), values of the wrong JSON type (``hostile_value``),
answers without a Content-Length (``chunked_answers``), a Retry-After of a day
(``retry_after_seconds``), nextTokens that never end (``endless_next_tokens``) or that are
longer than a server's request line (``next_token_bytes``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aiohttp import payload, web

from spapi_emulator.config import HostileValue

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from spapi_emulator.config import EmulatorConfig

# Statuses that carry Retry-After when ``retry_after_seconds`` is set.
RETRY_AFTER_STATUSES: Final = frozenset({429, 500, 503})
_CHUNK: Final = 1 << 16


def is_chosen(purchase_order_number: str, every: int) -> bool:
    """Whether an invoice is one of every ``every``: its sequence number of the day ends so.

    Purchase order numbers end in a 6-digit sequence within their party and day
    (direct_fulfillment/dataset.py), so the choice is the same for every request and every test.
    """
    return every > 0 and int(purchase_order_number[-6:]) % every == every - 1


def hostile_invoice(invoice: Mapping[str, object], reading: HostileValue) -> dict[str, object]:
    """The invoice as ``reading`` breaks it (unchanged for the nextToken reading)."""
    number = invoice["purchaseOrderNumber"]
    broken = dict(invoice)
    if reading is HostileValue.PO_NULL:
        broken["purchaseOrderNumber"] = None
    elif reading is HostileValue.PO_ABSENT:
        del broken["purchaseOrderNumber"]
    elif reading is HostileValue.PO_EMPTY:
        broken["purchaseOrderNumber"] = ""
    elif reading is HostileValue.PO_LIST:
        broken["purchaseOrderNumber"] = [number]
    elif reading is HostileValue.PO_PATTERN:
        broken["purchaseOrderNumber"] = f"PO-{number}"
    elif reading is HostileValue.CONTENT_NULL:
        broken["content"] = None
    return broken


def hostile_pagination(token: str, reading: HostileValue) -> object:
    """The ``nextToken`` value of a page as ``reading`` breaks it."""
    return {"token": token} if reading is HostileValue.NEXT_TOKEN_OBJECT else token


def chunked_json(body: bytes) -> web.Response:
    """A JSON answer sent in chunks, without Content-Length (``chunked_answers``)."""

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), _CHUNK):
            yield body[start : start + _CHUNK]

    return web.Response(
        body=payload.AsyncIterablePayload(chunks()), content_type="application/json"
    )


def add_retry_after(response: web.StreamResponse, config: EmulatorConfig) -> None:
    """Stamp ``Retry-After`` on a 429 or 5xx answer when ``retry_after_seconds`` is set."""
    if config.retry_after_seconds is not None and response.status in RETRY_AFTER_STATUSES:
        response.headers["Retry-After"] = f"{config.retry_after_seconds:g}"
