"""What can go wrong, sorted by what the user has to do about it.

Every exception the tap raises on purpose derives from ``SpinvoicesError`` and carries a
one-line message that is safe to print (no secret, token or RDT ever goes into it). The CLI
(tap.main) logs that line as the run's only ERROR line, without a traceback, and exits 1::

    SpinvoicesError                 one line for the log; also: a request that cannot be sent
    ├── ConfigError                 invalid input: fix the named setting
    ├── StateError                  the --state file is unusable: fix it or drop the bookmark
    ├── CatalogError                the --catalog file is unusable: regenerate it (--discover)
    ├── AuthError                   LWA refused the credentials: fix lwa_client_*/refresh_token
    ├── RoleError                   access denied / RDT refused: fix app roles or re-authorise
    ├── ApiError                    Amazon answered 4xx for a request it will never accept,
    │   │                           or a 200 whose body lacks the model's shape
    │   └── ExpiredNextTokenError   a 400 to a request carrying a nextToken: the pager fetches
    │                               the window again (up to 3 times) or, when the text blames
    │                               the arguments, changes the follow-up form (streams/pager.py)
    ├── ResponseTooLargeError       an answer longer than the tap reads (a page is asked for
    │                               again with fewer items; one item: max_record_mb)
    ├── RecordTooLargeError         one record is larger than max_record_mb
    ├── RequestTooLongError         a server refused the request line (a long nextToken)
    ├── RetriesExhaustedError       429, 5xx, resets, timeouts or malformed JSON outlived the
    │                               retry budget (or a document download failed every time)
    ├── ArchiveError                the archive (archive_url) refused a document for good, or
    │                               kept failing: names archive_url, the bucket or folder, the
    │                               object and the fix
    └── OutputClosedError           the target stopped reading stdout (broken pipe)

Transient faults (429, 5xx, resets, timeouts, a 200 whose body is not a JSON object) raise
nothing: the client retries them (throttling and faults have separate budgets) and raises
``RetriesExhaustedError`` once its budget is spent. A 403 saying the token expired is not an
error at all: the token is refreshed and the request resent once.

Nothing is swallowed: a window whose fetch failed is never reported as done, so the run
fails after writing the STATE of the windows that were completed. An interrupted run
(SIGTERM, SIGINT) is not an exception either: it writes that STATE and exits 128 + signal
number (tap.py), so a scheduler never counts it as a success.
"""

from __future__ import annotations


class SpinvoicesError(Exception):
    """Base of every error the tap raises on purpose; ``str()`` is one safe line."""


class ConfigError(SpinvoicesError):
    """A setting is missing or wrong; the message names the setting and the fix."""

    def __init__(self, setting: str, problem: str, fix: str) -> None:
        """Build ``"<setting>: <problem>. Fix: <fix>"``."""
        self.setting = setting
        super().__init__(f"Config error in '{setting}': {problem}. Fix: {fix}")


class StateError(SpinvoicesError):
    """The incoming state cannot be used."""


class CatalogError(SpinvoicesError):
    """The --catalog file is not JSON, not a catalog, or names a stream the tap lacks."""


class AuthError(SpinvoicesError):
    """Login with Amazon rejected the credentials (invalid_grant, invalid_client)."""


class RoleError(SpinvoicesError):
    """Amazon denied access: a missing role, a refused RDT, or an app not re-authorised."""


class ApiError(SpinvoicesError):
    """Amazon refused a request for good (4xx), or a 200 lacks the shape its model gives it."""

    def __init__(  # noqa: PLR0913 - every field is part of the one-line report
        self,
        *,
        operation: str,
        status: int,
        code: str,
        message: str,
        request_id: str | None,
        hint: str = "",
    ) -> None:
        """Keep the API's own words and the x-amzn-RequestId for a support case."""
        self.operation = operation
        self.status = status
        self.code = code
        self.api_message = message
        self.request_id = request_id
        text = f"{operation} failed: HTTP {status} {code}: {message}"
        if request_id:
            text += f" (x-amzn-RequestId {request_id})"
        if hint:
            text += f". {hint}"
        super().__init__(text)


class ExpiredNextTokenError(ApiError):
    """A 400 to a request carrying a nextToken, whatever its wording (see spapi/paging.py)."""


class ResponseTooLargeError(SpinvoicesError):
    """An answer body is longer than the tap reads for that request: nothing past it is read.

    The pager catches it on a page of several items and asks for the window again with
    fewer items a page (streams/pager.py); anywhere else its message is the run's one line.
    """

    def __init__(
        self, *, operation: str, limit: int, declared: int | None, request_id: str | None
    ) -> None:
        """Keep the sizes for the pager; the message names max_record_mb."""
        self.operation = operation
        self.limit = limit
        self.declared = declared  #: the Content-Length, when the server sent one
        self.request_id = request_id
        size = f"{megabytes(declared)} MB" if declared is not None else "more than that"
        where = f" (x-amzn-RequestId {request_id})" if request_id else ""
        super().__init__(
            f"{operation} answered a body larger than the tap reads ({megabytes(limit)} MB): "
            f"{size}{where}. Fix: raise max_record_mb if such answers are expected"
        )


class RecordTooLargeError(SpinvoicesError):
    """One record, or a page holding a single item, is larger than max_record_mb."""

    def __init__(self, *, what: str, size: int | None, limit: int, request_id: str | None) -> None:
        """``what`` names the record and its window, e.g. ``"invoice PO1 in window a..b"``."""
        self.limit = limit
        shown = f"{megabytes(size)} MB" if size is not None else "more than that"
        where = f" (x-amzn-RequestId {request_id})" if request_id else ""
        super().__init__(
            f"{what} is larger than max_record_mb ({megabytes(limit)} MB): {shown}{where}. "
            "Fix: raise max_record_mb (the tap holds a few records of that size in memory at "
            "once)"
        )


class RequestTooLongError(SpinvoicesError):
    """A server refused a request for its length before the SP-API read it (a long nextToken)."""


class RetriesExhaustedError(SpinvoicesError):
    """A transient fault kept happening until the retry budget was spent: the run fails."""


class ArchiveError(SpinvoicesError):
    """The archive could not store (or read) a document: the line says where and what to fix.

    Raised after the store's own retries and the archive's (tap_spinvoices/archive/): the
    document is not stored, so no record names it and no bookmark covers it.
    """


class OutputClosedError(SpinvoicesError):
    """The target closed its end of the tap's stdout (EPIPE): nothing more can be written.

    Whatever the target committed ends at the last STATE it read; the next run resumes from
    the STATE the target stored, so nothing is lost, only this run ends early.
    """

    def __init__(self) -> None:
        """Build the one line: what happened and where the next run resumes."""
        super().__init__(
            "Output closed: the target stopped reading the tap's stdout (broken pipe); "
            "the last STATE it received is where the next run resumes"
        )


def unexpected_response(
    operation: str, what: str, *, request_id: str | None = None, hint: str = ""
) -> ApiError:
    """A 200 answer whose body does not have the model's shape: never read as an empty page."""
    return ApiError(
        operation=operation,
        status=200,
        code="UnexpectedResponse",
        message=f"response does not match the model ({what})",
        request_id=request_id,
        hint=hint,
    )


def megabytes(size: int) -> str:
    """``size`` bytes in MB (2**20 bytes, as the *_mb settings count), one decimal at most."""
    shown = f"{size / 2**20:.1f}"
    return shown.removesuffix(".0")
