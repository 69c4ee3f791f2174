"""What an error of the store means: reuse the object, try again, or stop with one line.

Pure: a store error is read from its type and text (obstore's exceptions carry the HTTP
status, the S3/Azure/GCS error code and whether the store's own retries ran; an ``OSError``
carries its errno), so tests/unit/test_archive_failures.py can table every case.

Who retries what:

- obstore (the object_store crate) retries 5xx answers (S3's 503 SlowDown included),
  connection errors and dropped connections itself, with exponential back-off
  (``RetryConfig``, built from the ``max_retries`` setting in stores.py).
- The archive retries what obstore does not: a PUT that timed out (obstore retries timeouts
  of read-only requests only), a 429, an upload the store received corrupted (S3
  BadDigest: its SHA-256 checksum did not match), and S3's 409 ConditionalRequestConflict
  (two conditional PUTs of one name at once). A repeated conditional PUT is safe: when the
  first attempt did land, the second finds the object and reuses it.
- Everything else is permanent: the run stops with one line naming archive_url, the bucket
  or folder, the object and the fix.
"""

from __future__ import annotations

import enum
import errno
import re
from dataclasses import dataclass
from typing import Final


class Outcome(enum.Enum):
    """What the archive does after an attempt failed."""

    EXISTS = "exists"  # the object is there already: the same bytes (its name says so)
    RETRY = "retry"  # transient: wait and try again
    STOP = "stop"  # permanent: the run stops with ``Failure.problem`` and ``Failure.fix``


@dataclass(frozen=True)
class Failure:
    """One failed attempt, read."""

    outcome: Outcome
    problem: str = ""
    fix: str = ""


_STATUS: Final = re.compile(r"non-2xx status code: (\d{3})")
_CODE: Final = re.compile(r"<Code>([A-Za-z0-9.]+)</Code>")
_MESSAGE: Final = re.compile(r"<Message>([^<]{0,300})</Message>")
_REQUEST_ID: Final = re.compile(r"<RequestId>([A-Za-z0-9+/=-]{1,100})</RequestId>")
_RETRIED: Final = re.compile(r"after (\d+) retries")
_TIMEOUT: Final = re.compile(r"kind: Timeout|\bTimedOut\b|operation timed out")
_CONNECT: Final = re.compile(r"kind: Connect|tcp connect error|dns error|error sending request")

HTTP_TOO_MANY_REQUESTS: Final = 429
_SERVER_ERRORS: Final = range(500, 600)
# The store got other bytes than were sent: S3's checksum and Content-MD5 checks, GCS/Azure's MD5.
_CORRUPTED_UPLOAD: Final = frozenset(
    {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "Md5Mismatch", "InvalidMd5"}
)
# S3: two conditional PUTs of one key at once; one wins, the other is to retry (and then
# finds the object: https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
_CONCURRENT_CREATE: Final = frozenset({"ConditionalRequestConflict", "OperationAborted"})
_NO_CONTAINER: Final = frozenset({"NoSuchBucket", "ContainerNotFound", "ResourceNotFound"})
_CREDENTIALS_FIX: Final = (
    "check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
    "GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_* or archive_options) and that they may "
    "write new objects under the prefix"
)
_ERRNO_FIXES: Final = {
    errno.ENOSPC: ("the disk is full", "free space on that disk or point archive_url elsewhere"),
    errno.EDQUOT: ("the disk quota is used up", "raise the quota or change archive_url"),
    errno.EROFS: (
        "the file system is read-only",
        "mount it read-write or point archive_url elsewhere",
    ),
    errno.EACCES: ("permission denied", "let the tap's user write to the folder"),
    errno.EPERM: ("operation not permitted", "let the tap's user write to the folder"),
    errno.ENOENT: ("the folder does not exist", "create it (mkdir -p) or fix archive_url"),
    errno.ENOTDIR: ("a path segment is a file, not a folder", "fix archive_url"),
    errno.EIO: ("the disk reported an I/O error", "check the disk (dmesg), then run again"),
}


def read_store_error(type_name: str, text: str) -> Failure:  # noqa: PLR0911 - one per kind
    """Classify an obstore exception by its class name and message."""
    if type_name == "AlreadyExistsError":
        return Failure(Outcome.EXISTS)
    code = _first(_CODE, text)
    status = int(_first(_STATUS, text) or 0)
    said = _said(code, text)
    retried = _first(_RETRIED, text)
    after = f" after {retried} retries" if retried else ""
    if code in _CORRUPTED_UPLOAD:
        return Failure(Outcome.RETRY, f"the store received other bytes than were sent{said}")
    if code in _CONCURRENT_CREATE:
        return Failure(Outcome.RETRY, f"another upload of the same name was under way{said}")
    if type_name in {"PermissionDeniedError", "UnauthenticatedError"} or status in {401, 403}:
        return Failure(Outcome.STOP, f"access denied{said}", _CREDENTIALS_FIX)
    if code in _NO_CONTAINER or type_name == "FileNotFoundError" or status == 404:  # noqa: PLR2004
        return Failure(
            Outcome.STOP,
            f"the bucket or container does not exist{said}",
            "create it, or fix the bucket/container in archive_url (and the endpoint, if set)",
        )
    if status == HTTP_TOO_MANY_REQUESTS:
        return Failure(Outcome.RETRY, f"throttled{said}")
    if status in _SERVER_ERRORS:
        return Failure(
            Outcome.STOP,
            f"the store kept failing{after}{said}",
            "run again later; if it persists, lower archive_uploads_in_flight",
        )
    if _TIMEOUT.search(text) and not retried:
        return Failure(Outcome.RETRY, "the upload timed out")
    if _TIMEOUT.search(text) or _CONNECT.search(text):
        return Failure(
            Outcome.STOP,
            f"the store's endpoint cannot be reached{after} ({_connect_reason(text)})",
            "check the endpoint (AWS_ENDPOINT_URL, archive_options.endpoint, the bucket's "
            "region) and the network",
        )
    detail = said or f": {type_name}"
    return Failure(
        Outcome.STOP,
        f"the store refused the upload{detail}",
        "see the store's code above; fix the archive settings or the bucket's policy",
    )


def read_os_error(error: OSError) -> Failure:
    """Classify an error of the local folder (a file system says what it means by errno)."""
    if error.errno == errno.EEXIST:
        return Failure(Outcome.EXISTS)
    if error.errno in {errno.EINTR, errno.EAGAIN}:
        return Failure(Outcome.RETRY, error.strerror or "interrupted")
    problem, fix = _ERRNO_FIXES.get(
        error.errno or 0,
        (error.strerror or type(error).__name__, "fix the folder, then run again"),
    )
    return Failure(Outcome.STOP, problem, fix)


def _first(pattern: re.Pattern[str], text: str) -> str:
    found = pattern.search(text)
    return found[1] if found else ""


def _said(code: str, text: str) -> str:
    """``": AccessDenied (Access Denied.; request id X)"`` from an S3-style error body."""
    if not code:
        return ""
    details = [d for d in (_first(_MESSAGE, text).strip(),) if d]
    request_id = _first(_REQUEST_ID, text)
    if request_id:
        details.append(f"request id {request_id}")
    return f": {code}" + (f" ({'; '.join(details)})" if details else "")


def _connect_reason(text: str) -> str:
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("dns error", "the host name does not resolve"),
        ("TimedOut", "timed out"),
        ("kind: Timeout", "timed out"),
        ("certificate", "TLS certificate problem"),
    ):
        if needle in text:
            return reason
    return "no answer"
