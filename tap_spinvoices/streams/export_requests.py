"""Opt-in export creation (create_exports): one createInvoicesExport per day, polled to the end.

The steps, per marketplace, in the prelude of an invoice_exports sync (before its windows):

1. Exports created by an earlier, interrupted run (``in_flight`` in state) are polled first,
   so a killed run never creates the same day's export twice.
2. For each whole day from ``created_through`` (or start_date) up to end_date, one export is
   requested (Amazon: "the optimal range is one day"); its id goes into state, and a STATE
   message is written, before polling starts.
3. getInvoicesExport is polled with growing pauses until every export is DONE or ERROR. A DONE
   export is emitted like any listed export, which hands its documents to invoice_documents;
   an ERROR export is emitted with its errorMessage, logged, and does not block later days.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

from tap_spinvoices.errors import ApiError
from tap_spinvoices.isotime import parse_datetime
from tap_spinvoices.spapi.operations import CREATE_INVOICES_EXPORT
from tap_spinvoices.streams.invoices_api import UNFINISHED_STATUSES, export_record, get_export
from tap_spinvoices.sync.bookmarks import format_instant
from tap_spinvoices.sync.events import PreludeRecords, StateChange
from tap_spinvoices.sync.windows import Window, api_timestamp

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

    from tap_spinvoices.spapi.client import SpApiCalls
    from tap_spinvoices.sync.events import PreludeEvent

STATE_KEY: Final = "export_requests"
DAY: Final = timedelta(days=1)
# Pauses between polls grow by this factor up to this many times the first pause.
_POLL_GROWTH: Final = 1.5
_POLL_CAP_FACTOR: Final = 10

logger = logging.getLogger(__name__)


def days_to_request(
    created_through: datetime | None, start_date: datetime, end_date: datetime
) -> list[Window]:
    """Whole UTC days from ``created_through`` (else start_date's day) that end by end_date."""
    day = created_through or start_date.astimezone(UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    days = []
    while day + DAY <= end_date:
        days.append(Window(day, day + DAY))
        day += DAY
    return days


class ExportDateForm(enum.Enum):
    """How createInvoicesExport's dateStart and dateEnd are written.

    The model declares both ``format: date``, describes them as ISO 8601 date-time and gives
    ``"2024-07-01T00:00:00"`` (no zone) as the example (ExportInvoicesRequest in
    tests/spapi_models/InvoicesApiModel_2024-06-19.json).
    """

    #: The model example's form, read as UTC: ``2024-07-01T00:00:00`` .. ``T23:59:59``.
    MODEL_EXAMPLE = "date-time without a zone (the model's example)"
    #: UTC with milliseconds and a zone: ``2024-07-01T00:00:00.000Z`` .. ``T23:59:59.999Z``.
    UTC_MILLISECONDS = "UTC date-time with milliseconds"

    @property
    def other(self) -> ExportDateForm:
        """The form to try once when Amazon refuses this one."""
        if self is ExportDateForm.MODEL_EXAMPLE:
            return ExportDateForm.UTC_MILLISECONDS
        return ExportDateForm.MODEL_EXAMPLE


_DATE_FIELD = re.compile(r"\bdate(Start|End)\b")


def says_a_date_is_wrong(status: int, text: str) -> bool:
    """Whether a createInvoicesExport refusal names dateStart or dateEnd."""
    return status == HTTPStatus.BAD_REQUEST and _DATE_FIELD.search(text) is not None


def request_body(
    marketplace: str, day: Window, form: ExportDateForm = ExportDateForm.MODEL_EXAMPLE
) -> dict[str, Any]:
    """CreateInvoicesExport body for one day: its first to its last second (or millisecond)."""
    if form is ExportDateForm.MODEL_EXAMPLE:
        start = day.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        end = (day.end - timedelta(seconds=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    else:
        start = api_timestamp(day.start)
        end = api_timestamp(day.end - timedelta(milliseconds=1))
    return {"marketplaceId": marketplace, "dateStart": start, "dateEnd": end, "fileFormat": "XML"}


async def create_export(
    client: SpApiCalls, marketplace: str, day: Window, form: ExportDateForm
) -> tuple[str, ExportDateForm]:
    """CreateInvoicesExport for one day: (exportId, the date form Amazon accepted).

    A 400 naming a date field is asked again once in the other form; the caller keeps the
    form that worked for the following days.
    """
    try:
        body = await client.post_json(
            CREATE_INVOICES_EXPORT.name,
            CREATE_INVOICES_EXPORT.path,
            request_body(marketplace, day, form),
        )
    except ApiError as refused:
        if not says_a_date_is_wrong(refused.status, f"{refused.code} {refused.api_message}"):
            raise
        logger.info(
            "%s refused the dates as %s (%s); sending them as %s from now on",
            CREATE_INVOICES_EXPORT.name,
            form.value,
            refused.api_message,
            form.other.value,
        )
        form = form.other
        body = await client.post_json(
            CREATE_INVOICES_EXPORT.name,
            CREATE_INVOICES_EXPORT.path,
            request_body(marketplace, day, form),
        )
    return str(body["exportId"]), form


async def create_and_poll(  # noqa: PLR0913 - the whole step list of the module docstring
    client: SpApiCalls,
    *,
    marketplace: str,
    state: Mapping[str, Any],
    start_date: datetime,
    end_date: datetime,
    poll_seconds: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[PreludeEvent]:
    """Records of finished exports and the state changes to persist along the way."""
    requests = state.get(STATE_KEY) or {}
    in_flight: dict[str, Window] = {
        export_id: Window(parse_datetime(start), parse_datetime(end))
        for export_id, (start, end) in (requests.get("in_flight") or {}).items()
    }
    through = requests.get("created_through")
    form = ExportDateForm.MODEL_EXAMPLE
    for day in days_to_request(parse_datetime(through) if through else None, start_date, end_date):
        export_id, form = await create_export(client, marketplace, day, form)
        in_flight[export_id] = day
        yield StateChange(_created(export_id, day))
    pause = poll_seconds
    while in_flight:
        for export_id, day in sorted(in_flight.items(), key=lambda item: item[1].start):
            export = await get_export(client, export_id)
            if export.get("status") in UNFINISHED_STATUSES:
                continue
            if export.get("status") == "ERROR":
                logger.warning(
                    "export %s for %s ended in ERROR: %s (not retried; later days go on)",
                    export_id,
                    day.start.date(),
                    export.get("errorMessage") or "no message",
                )
            yield PreludeRecords([export_record(export, marketplace, day)])
            del in_flight[export_id]
            yield StateChange(_finished(export_id))
        if in_flight:
            await sleep(pause)
            pause = min(pause * _POLL_GROWTH, poll_seconds * _POLL_CAP_FACTOR)


def _created(export_id: str, day: Window) -> Callable[[dict[str, Any]], None]:
    def apply(state: dict[str, Any]) -> None:
        requests = state.setdefault(STATE_KEY, {})
        requests.setdefault("in_flight", {})[export_id] = [
            format_instant(day.start),
            format_instant(day.end),
        ]
        requests["created_through"] = format_instant(day.end)

    return apply


def _finished(export_id: str) -> Callable[[dict[str, Any]], None]:
    def apply(state: dict[str, Any]) -> None:
        state.setdefault(STATE_KEY, {}).setdefault("in_flight", {}).pop(export_id, None)

    return apply
