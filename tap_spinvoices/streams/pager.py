"""The pages of one date window, followed by nextToken, on every windowed stream.

What Amazon may do while a window is paged, and what the pager does (docs/quirks.md has the
sources):

* A 400 to a follow-up page, whatever its wording, is a refused nextToken: the window is
  fetched again from its first page, at most ``MAX_WINDOW_RESTARTS`` times; the records seen
  twice are dropped by the adjacent-window de-duplication.
* A 400 whose text blames the arguments sent with the token switches the operation to the
  other follow-up form (``spapi/paging.py``) for the rest of the run, once, and asks for the
  same page again; a page refused in both forms stops the run.
* A nextToken the window already followed stops the run: paging would never end.
* A 200 whose body holds none of the model's keys is asked for once more; if it stays so,
  the window ends there with a WARNING (counted in the stream's summary line).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from tap_spinvoices.errors import ApiError, ExpiredNextTokenError, SpinvoicesError
from tap_spinvoices.spapi.client import SpApiCalls, request_id_of
from tap_spinvoices.spapi.paging import (
    FollowUpForm,
    FollowUpForms,
    Refusal,
    classify_follow_up_refusal,
    follow_up_params,
)
from tap_spinvoices.sync.bookmarks import format_instant

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping

    from tap_spinvoices.sync.windows import Window

# A window whose nextToken is refused is fetched again from its first page this many times.
MAX_WINDOW_RESTARTS: Final = 3

logger = logging.getLogger(__name__)

#: Items and nextToken of one page, or None when the body has none of the model's keys.
ParsedPage = tuple[list[dict[str, Any]], str | None] | None


class PageClient(SpApiCalls, Protocol):
    """The SP-API client as the pager needs it: the calls, and a counter for the summary."""

    def note_unexpected_body(self, operation: str) -> None:
        """Count a 200 without the model's keys for the end-of-run summary."""
        ...


class RepeatedNextTokenError(SpinvoicesError):
    """Amazon handed a window a nextToken it had already followed."""


@dataclass(frozen=True, slots=True)
class WindowRequest:
    """The first page of one window: operation, path and query."""

    operation: str
    path: str
    first: Mapping[str, str | int]
    window: Window
    restricted: bool = False

    @property
    def where(self) -> str:
        """The window for messages."""
        return f"{format_instant(self.window.start)}..{format_instant(self.window.end)}"


async def follow_pages(
    client: PageClient,
    request: WindowRequest,
    parse: Callable[[Mapping[str, Any]], ParsedPage],
    forms: FollowUpForms,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every page's items of one window, from its first page to the one without nextToken."""
    restarts = 0
    token: str | None = None
    followed: set[str] = set()
    shapeless_id: str | None = None  # request id of a first answer without the model's keys
    asked_again = False
    while True:
        sent = forms.form
        params = request.first if token is None else follow_up_params(request.first, token, sent)
        try:
            body = await client.get_json(
                request.operation, request.path, params, restricted=request.restricted
            )
        except ExpiredNextTokenError as refused:
            text = f"{refused.code} {refused.api_message}"
            if forms.switchable and classify_follow_up_refusal(text) is Refusal.ARGUMENTS:
                _switch_form(forms, sent, request, refused)
                continue  # the same page again, with the same token
            restarts += 1
            if restarts > MAX_WINDOW_RESTARTS:
                raise
            logger.warning(
                "%s: nextToken refused for window %s (%s); fetching the window again (%d/%d)",
                request.operation,
                request.where,
                refused.api_message or refused.code,
                restarts,
                MAX_WINDOW_RESTARTS,
            )
            token, followed, asked_again = None, set(), False
            continue
        parsed = parse(body)
        if parsed is None:
            if not asked_again:
                # Once: a body without the model's keys may be a passing glitch of one answer.
                asked_again, shapeless_id = True, request_id_of(body)
                continue
            client.note_unexpected_body(request.operation)
            logger.warning(
                "%s answered 200 without the model's keys twice for window %s "
                "(x-amzn-RequestId %s and %s); the window ends there, its later pages (if any) "
                "are not fetched",
                request.operation,
                request.where,
                shapeless_id or "-",
                request_id_of(body) or "-",
            )
            return
        asked_again = False
        items, next_token = parsed
        yield items
        if next_token is None:
            return
        if next_token in followed:
            msg = (
                f"{request.operation} answered a nextToken it had already given for window "
                f"{request.where}: following it would never end (Amazon's static sandbox "
                "answers every request alike); the run stops"
            )
            raise RepeatedNextTokenError(msg)
        followed.add(next_token)
        token = next_token


def _switch_form(
    forms: FollowUpForms,
    sent: FollowUpForm,
    request: WindowRequest,
    refused: ExpiredNextTokenError,
) -> None:
    """Move the operation to the other follow-up form, or fail when both were refused."""
    before = forms.form
    now = forms.on_arguments_refused(sent)
    if now is None:
        raise ApiError(
            operation=refused.operation,
            status=refused.status,
            code=refused.code,
            message=refused.api_message,
            request_id=refused.request_id,
            hint=(
                f"the follow-up page of window {request.where} was refused both with "
                f"{sent.value} and with {sent.other.value}"
            ),
        )
    if before is sent and now is not sent:
        logger.info(
            "%s refused a follow-up page sent with %s (%s); sending %s for the rest of the run",
            request.operation,
            sent.value,
            refused.api_message or refused.code,
            now.value,
        )
