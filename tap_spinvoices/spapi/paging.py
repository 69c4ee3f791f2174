"""How a follow-up page is asked for, and what a refusal of one means (pure decisions).

Amazon's texts disagree on two points this module settles for the rest of the tap (the
evidence and the readings are in docs/quirks.md):

* Which arguments go with a ``nextToken``. The Invoices API model's parameter text says "call
  the operation with this token and include the same arguments as the call that produced the
  token"; its static sandbox answers 400 "Specifying nextToken with any other parameters will
  cause the request to fail." ``FollowUpForm`` names the two forms, ``FollowUpForms`` keeps the
  one an operation uses and switches it once when Amazon says the arguments are wrong.
* What a 400 on a request carrying a ``nextToken`` means. Each API words an expired token its
  own way (and some APIs have no public wording), so any such 400 is a refused token unless
  its text says the arguments are wrong (``classify_follow_up_refusal``), or unless a server
  refused the request for its length before the SP-API read it (``refused_for_length``).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "NEXT_TOKEN",
    "FollowUpForm",
    "FollowUpForms",
    "Refusal",
    "classify_follow_up_refusal",
    "follow_up_params",
    "refused_for_length",
]

NEXT_TOKEN: Final = "nextToken"  # noqa: S105 - a parameter name
# A 400 that blames the arguments sent with the nextToken rather than the token itself: the
# Invoices API sandbox's "Specifying nextToken with any other parameters will cause the request
# to fail.", and validation errors about a parameter that is missing, unknown or not allowed.
_ARGUMENTS_WRONG: Final = re.compile(
    r"with\s+any\s+other\s+parameters?"
    r"|(missing|unknown|unexpected|unsupported)\s+(required\s+)?(parameter|argument|attribute)"
    r"|same\s+(arguments|parameters)"
    r"|(parameter|argument)s?\b[^.]*\bnot\s+allowed",
    re.IGNORECASE,
)


# Request lines longer than this are refused by common servers and proxies (IIS's default
# maxUrl is 4096 bytes; nginx, Apache and aiohttp stop at about 8 KB).
LONG_REQUEST_LINE: Final = 4096
# Statuses HTTP servers answer to a request line or header they will not read.
_LENGTH_STATUSES: Final = frozenset(
    {HTTPStatus.REQUEST_URI_TOO_LONG, HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE}
)


def refused_for_length(status: int, error_code: str, request_line_bytes: int) -> bool:
    """Tell whether a refusal came from a server's length limit, not from the SP-API.

    414 and 431 say so outright. A 400 says so when it carries no SP-API error code (every
    SP-API error body is an ``ErrorList`` with a code; an HTTP server's own refusal is plain
    text) and the request line is long enough to meet a common limit: then the nextToken was
    never read, and fetching the window again would only bring the same long token back.
    """
    if status in _LENGTH_STATUSES:
        return True
    return (
        status == HTTPStatus.BAD_REQUEST
        and not error_code
        and (request_line_bytes > LONG_REQUEST_LINE)
    )


class FollowUpForm(enum.Enum):
    """Which arguments go with a nextToken on a follow-up page."""

    #: Every argument of the first call plus nextToken (the models' parameter text).
    ALL_ARGUMENTS = "every argument of the first call with nextToken"
    #: Only the required marketplaceId plus nextToken (the Invoices API static sandbox).
    TOKEN_ONLY = "marketplaceId and nextToken only"  # noqa: S105 - a description

    @property
    def other(self) -> FollowUpForm:
        """The form to try when Amazon says this one carries the wrong arguments."""
        if self is FollowUpForm.ALL_ARGUMENTS:
            return FollowUpForm.TOKEN_ONLY
        return FollowUpForm.ALL_ARGUMENTS


class Refusal(enum.Enum):
    """What a 400 on a follow-up page (a request carrying a nextToken) says."""

    TOKEN = "token"  # noqa: S105 - expired, invalid or undecodable: fetch the window again
    ARGUMENTS = "arguments"  # the arguments next to the token are wrong: change the form


def classify_follow_up_refusal(text: str) -> Refusal:
    """Classify the error text of a 400 answered to a request that carried a nextToken.

    Wordings differ by API ("Next token is invalid or expired", "Next token has expired.",
    "Token is not valid, token duration is 25/3 minutes.", "We could not decode your
    NextToken") and some APIs publish none, so any text counts as a refused token unless it
    blames the arguments.
    """
    return Refusal.ARGUMENTS if _ARGUMENTS_WRONG.search(text) else Refusal.TOKEN


def follow_up_params(
    first: Mapping[str, str | int],
    token: str,
    form: FollowUpForm,
    kept: frozenset[str] = frozenset({"marketplaceId"}),
) -> dict[str, str | int]:
    """The query of a follow-up page: ``first`` (all, or only ``kept``) plus the nextToken."""
    if form is FollowUpForm.ALL_ARGUMENTS:
        return {**first, NEXT_TOKEN: token}
    return {**{k: v for k, v in first.items() if k in kept}, NEXT_TOKEN: token}


@dataclass
class FollowUpForms:
    """The follow-up form of one operation for one run; switched at most once, never back.

    Shared by the windows of the operation (they run concurrently): once one window learns
    that Amazon wants the other form, every later follow-up page uses it.
    """

    form: FollowUpForm = FollowUpForm.ALL_ARGUMENTS
    #: The form may change: False for APIs whose model leaves no doubt (getCustomerInvoices).
    switchable: bool = True
    refused: set[FollowUpForm] = field(default_factory=set)

    def on_arguments_refused(self, sent: FollowUpForm) -> FollowUpForm | None:
        """Record that ``sent`` was refused for its arguments; return the form to ask with.

        Returns:
            The form for the same page again (the current one, when another window switched
            meanwhile), or None when both forms were refused: the caller fails.

        """
        self.refused.add(sent)
        if not self.switchable:
            return None
        if self.form is sent:
            if sent.other in self.refused:
                return None
            self.form = sent.other
        return self.form
