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
* A page longer than the tap reads (``PageBounds``) is asked for again, from the window's
  first page, with fewer items a page; a page of one item that is still too long stops the
  run naming max_record_mb.
* A window that keeps handing out fresh nextTokens stops the run once it has followed more
  pages than the window can hold (``max_pages``): a real window never comes near it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from tap_spinvoices.errors import (
    ApiError,
    ExpiredNextTokenError,
    RecordTooLargeError,
    ResponseTooLargeError,
    SpinvoicesError,
)
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
# What a window may hold, for the bound on its pages: 10 items a second of window is
# 864,000 a day, far beyond any selling partner's invoices or exports (and beyond what the
# Invoices API's 0.1 requests a second of 100 items could deliver).
MAX_ITEMS_PER_SECOND: Final = 10
# Pages a window may take beyond those: as many empty pages again (the Invoices API model
# warns that a page may be empty while a nextToken follows), plus a few for short windows.
_SPARE_PAGES: Final = 10
# A lowered page size aims this far below the bound, so the next try fits.
_FILL: Final = 0.8

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


class EndlessPagingError(SpinvoicesError):
    """A window kept handing out fresh nextTokens past what it can hold."""


@dataclass(frozen=True, slots=True)
class PageBounds:
    """How long a page's answer may be: several items, or a single one (a record)."""

    page_bytes: int  #: a page of several items (a quarter of buffer_mb)
    item_bytes: int  #: a page of one item (max_record_mb)

    def for_size(self, page_size: int) -> int:
        """The bound of an answer asked for with ``page_size`` items."""
        return self.item_bytes if page_size <= 1 else self.page_bytes


@dataclass(frozen=True, slots=True)
class WindowRequest:
    """The first page of one window: operation, path and query, and how pages are sized."""

    operation: str
    path: str
    first: Mapping[str, str | int]
    window: Window
    restricted: bool = False
    #: The query parameter that holds the page size, if it may be lowered (e.g. ``limit``).
    page_size_param: str | None = None
    #: How long answers may be; None: the client's own bound, and no lowering.
    bounds: PageBounds | None = None
    noun: str = "item"  #: what one item is, for messages

    @property
    def where(self) -> str:
        """The window for messages."""
        return f"{format_instant(self.window.start)}..{format_instant(self.window.end)}"

    @property
    def page_size(self) -> int:
        """Items the first page asks for (1 when the page size is not known)."""
        if self.page_size_param is None:
            return 1
        return int(self.first[self.page_size_param])

    def sized(self, page_size: int) -> Mapping[str, str | int]:
        """The first page's query asking for ``page_size`` items."""
        if self.page_size_param is None or page_size == self.page_size:
            return self.first
        return {**self.first, self.page_size_param: page_size}


def max_pages(window: Window, page_size: int) -> int:
    """How many pages one window may take before the pager calls its paging endless.

    Derived from the window's length and the page size: ``MAX_ITEMS_PER_SECOND`` items a
    second of window, as many empty pages again, and a few spare. A 24-hour window of 100
    items a page may take 17,290 pages; a 15-minute window 190.
    """
    seconds = (window.created_before - window.created_after).total_seconds()
    full_pages = math.ceil(seconds * MAX_ITEMS_PER_SECOND / max(page_size, 1))
    return 2 * full_pages + _SPARE_PAGES


def smaller_page_size(page_size: int, bound: int, declared: int | None) -> int | None:
    """The page size to ask for after a page of ``page_size`` items passed ``bound`` bytes.

    With the answer's declared length, the size that fills ``_FILL`` of the bound; without
    it, a quarter of the page. None once a page holds a single item: nothing smaller exists.
    """
    if page_size <= 1:
        return None
    fitting = math.floor(page_size * bound * _FILL / declared) if declared else page_size // 4
    return max(1, min(page_size - 1, fitting))


async def follow_pages(
    client: PageClient,
    request: WindowRequest,
    parse: Callable[[Mapping[str, Any]], ParsedPage],
    forms: FollowUpForms,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every page's items of one window, from its first page to the one without nextToken."""
    walk = _WindowWalk(request, forms)
    while True:
        sent = forms.form
        try:
            body = await client.get_json(
                request.operation,
                request.path,
                walk.params(sent),
                restricted=request.restricted,
                max_bytes=walk.bound,
            )
        except ResponseTooLargeError as too_large:
            walk.shrink_pages(too_large)
            continue
        except ExpiredNextTokenError as refused:
            walk.on_refused(refused, sent)
            continue
        parsed = parse(body)
        if parsed is None:
            if walk.ask_again(body):
                continue
            client.note_unexpected_body(request.operation)
            logger.warning(
                "%s answered 200 without the model's keys twice for window %s "
                "(x-amzn-RequestId %s and %s); the window ends there, its later pages (if any) "
                "are not fetched",
                request.operation,
                request.where,
                walk.shapeless_id or "-",
                request_id_of(body) or "-",
            )
            return
        items, next_token = parsed
        yield items
        if next_token is None:
            return
        walk.follow(next_token, request_id_of(body))


@dataclass
class _WindowWalk:
    """Where the paging of one window stands: its token, page size and restarts."""

    request: WindowRequest
    forms: FollowUpForms
    token: str | None = None
    followed: set[str] = field(default_factory=set)
    restarts: int = 0
    asked_again: bool = False
    shapeless_id: str | None = None  # request id of a first answer without the model's keys
    page_size: int = 0
    most_pages: int = 0

    def __post_init__(self) -> None:
        self.page_size = self.request.page_size
        self.most_pages = max_pages(self.request.window, self.page_size)

    @property
    def bound(self) -> int | None:
        """How long the next answer may be (None: the client's own bound)."""
        bounds = self.request.bounds
        return bounds.for_size(self.page_size) if bounds is not None else None

    def params(self, form: FollowUpForm) -> Mapping[str, str | int]:
        """The query of the next page."""
        first = self.request.sized(self.page_size)
        return first if self.token is None else follow_up_params(first, self.token, form)

    def restart(self) -> None:
        """Fetch the window again from its first page."""
        self.token, self.followed, self.asked_again = None, set(), False

    def shrink_pages(self, too_large: ResponseTooLargeError) -> None:
        """Fetch the window again with fewer items a page, or fail with one item."""
        self.page_size = _smaller_pages(self.request, self.page_size, too_large)
        self.most_pages = max_pages(self.request.window, self.page_size)
        self.restart()

    def on_refused(self, refused: ExpiredNextTokenError, sent: FollowUpForm) -> None:
        """A refused follow-up page: another form, a restart, or the error after three."""
        text = f"{refused.code} {refused.api_message}"
        if self.forms.switchable and classify_follow_up_refusal(text) is Refusal.ARGUMENTS:
            _switch_form(self.forms, sent, self.request, refused)
            return  # the same page again, with the same token
        self.restarts += 1
        if self.restarts > MAX_WINDOW_RESTARTS:
            raise refused
        logger.warning(
            "%s: nextToken refused for window %s (%s); fetching the window again (%d/%d)",
            self.request.operation,
            self.request.where,
            refused.api_message or refused.code,
            self.restarts,
            MAX_WINDOW_RESTARTS,
        )
        self.restart()

    def ask_again(self, body: Mapping[str, Any]) -> bool:
        """Whether to ask once more for a page without the model's keys (a passing glitch)."""
        if self.asked_again:
            return False
        self.asked_again, self.shapeless_id = True, request_id_of(body)
        return True

    def follow(self, next_token: str, request_id: str | None) -> None:
        """Go on with ``next_token``, unless it was followed already or paging never ends."""
        self.asked_again = False
        request = self.request
        if next_token in self.followed:
            msg = (
                f"{request.operation} answered a nextToken it had already given for window "
                f"{request.where}: following it would never end (Amazon's static sandbox "
                "answers every request alike); the run stops"
            )
            raise RepeatedNextTokenError(msg)
        self.followed.add(next_token)
        if len(self.followed) >= self.most_pages:
            raise _endless(request, self.most_pages, self.page_size, request_id)
        self.token = next_token


def _smaller_pages(request: WindowRequest, page_size: int, too_large: ResponseTooLargeError) -> int:
    """The page size to fetch the window again with, or the error when one item is too long."""
    smaller = (
        smaller_page_size(page_size, too_large.limit, too_large.declared)
        if request.page_size_param is not None
        else None
    )
    if smaller is None:
        if page_size > 1 or request.page_size_param is None:
            raise too_large
        raise RecordTooLargeError(
            what=f"{request.operation}'s page of one {request.noun} in window {request.where}",
            size=too_large.declared,
            limit=too_large.limit,
            request_id=too_large.request_id,
        )
    logger.info(
        "%s: a page of %d %ss in window %s is longer than %s: fetching the window again "
        "with %d a page",
        request.operation,
        page_size,
        request.noun,
        request.where,
        f"{too_large.limit:,} bytes",
        smaller,
    )
    return smaller


def _endless(
    request: WindowRequest, limit: int, page_size: int, request_id: str | None
) -> EndlessPagingError:
    where = f" (x-amzn-RequestId {request_id} on the last one)" if request_id else ""
    return EndlessPagingError(
        f"{request.operation} handed window {request.where} a new nextToken on each of "
        f"{limit:,} pages{where}, more than the window can hold ({MAX_ITEMS_PER_SECOND} "
        f"{request.noun}s a second of window at {page_size} a page, and as many empty pages "
        "again): following them would never end, so the run stops. Nothing in the settings "
        "changes this: report it to Amazon; the next run starts again at this window"
    )


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
