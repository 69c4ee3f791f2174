"""What each store error means: reuse the object, try again, or stop with one line.

The messages are obstore's own, as SeaweedFS, a refused port and a stalled answer made it
print them here (shortened to the parts read).
"""

from __future__ import annotations

import errno
import os

import pytest

from tap_spinvoices.archive.failures import Outcome, read_os_error, read_store_error


def s3_error(status: str, code: str, message: str, *, retries: int | None = None) -> str:
    after = f", after {retries} retries, max_retries: {retries}" if retries is not None else ""
    return (
        f"Error performing PUT http://127.0.0.1:8333/archive/a/b.pdf in 3ms{after} - Server "
        f'returned non-2xx status code: {status}: <?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message><Resource>/archive/a/b.pdf"
        "</Resource><RequestId>18ED3F40E98C79F0</RequestId></Error>"
    )


TIMED_OUT = (
    "Generic S3 error: Error performing PUT http://127.0.0.1:34775/archive/m/stall.pdf in "
    "2.001s - HTTP error: error sending request\n\nDebug source:\nGeneric { retries: 0, "
    "inner: Http(HttpError { kind: Timeout, source: reqwest::Error { kind: Request, source: "
    "TimedOut } }) }"
)
REFUSED = (
    "Generic S3 error: Error performing PUT http://127.0.0.1:9/archive/m/x.pdf in 30ms, after 2 "
    "retries, max_retries: 2, retry_timeout: 10s  - HTTP error: error sending request\n\n"
    'inner: Http(HttpError { kind: Connect, ConnectError("tcp connect error", 127.0.0.1:9, Os '
    '{ code: 111, kind: ConnectionRefused, message: "Connection refused" }'
)
NO_HOST = REFUSED.replace('"tcp connect error"', '"dns error"').replace(
    "Connection refused", "failed to lookup address information"
)


@pytest.mark.parametrize(
    ("type_name", "text", "outcome", "problem"),
    [
        pytest.param(
            "AlreadyExistsError",
            s3_error("412 Precondition Failed", "PreconditionFailed", "At least one..."),
            Outcome.EXISTS,
            "",
            id="412-the-object-is-there",
        ),
        pytest.param(
            "PermissionDeniedError",
            s3_error("403 Forbidden", "AccessDenied", "Access Denied."),
            Outcome.STOP,
            "access denied: AccessDenied (Access Denied.; request id 18ED3F40E98C79F0)",
            id="403-access-denied",
        ),
        pytest.param(
            "PermissionDeniedError",
            s3_error("403 Forbidden", "SignatureDoesNotMatch", "The request signature..."),
            Outcome.STOP,
            "access denied: SignatureDoesNotMatch",
            id="403-wrong-secret",
        ),
        pytest.param(
            "PermissionDeniedError",
            s3_error("403 Forbidden", "InvalidAccessKeyId", "The access key ID..."),
            Outcome.STOP,
            "access denied: InvalidAccessKeyId",
            id="403-unknown-key",
        ),
        pytest.param(
            "FileNotFoundError",
            s3_error("404 Not Found", "NoSuchBucket", "The specified bucket does not exist"),
            Outcome.STOP,
            "the bucket or container does not exist: NoSuchBucket",
            id="404-no-such-bucket",
        ),
        pytest.param(
            "GenericError",
            s3_error("404 Not Found", "ContainerNotFound", "The specified container..."),
            Outcome.STOP,
            "the bucket or container does not exist: ContainerNotFound",
            id="azure-no-container",
        ),
        pytest.param(
            "GenericError",
            s3_error("400 Bad Request", "BadDigest", "The Content-Md5 you specified..."),
            Outcome.RETRY,
            "the store received other bytes than were sent: BadDigest",
            id="400-corrupted-on-the-way",
        ),
        pytest.param(
            "GenericError",
            s3_error("400 Bad Request", "XAmzContentSHA256Mismatch", "..."),
            Outcome.RETRY,
            "the store received other bytes than were sent",
            id="400-payload-hash-mismatch",
        ),
        pytest.param(
            "GenericError",
            s3_error("409 Conflict", "ConditionalRequestConflict", "..."),
            Outcome.RETRY,
            "another upload of the same name was under way",
            id="409-two-creates-at-once",
        ),
        pytest.param(
            "GenericError",
            s3_error("429 Too Many Requests", "TooManyRequests", "slow down"),
            Outcome.RETRY,
            "throttled: TooManyRequests",
            id="429",
        ),
        pytest.param(
            "GenericError",
            s3_error("503 Service Unavailable", "SlowDown", "Reduce your rate.", retries=7),
            Outcome.STOP,
            "the store kept failing after 7 retries: SlowDown (Reduce your rate.",
            id="503-after-obstore-retried",
        ),
        pytest.param(
            "GenericError",
            s3_error("500 Internal Server Error", "InternalError", "boom", retries=7),
            Outcome.STOP,
            "the store kept failing after 7 retries: InternalError",
            id="500-after-obstore-retried",
        ),
        pytest.param(
            "GenericError", TIMED_OUT, Outcome.RETRY, "the upload timed out", id="put-timeout"
        ),
        pytest.param(
            "GenericError",
            REFUSED,
            Outcome.STOP,
            "the store's endpoint cannot be reached after 2 retries (connection refused)",
            id="bad-endpoint-refused",
        ),
        pytest.param(
            "GenericError",
            NO_HOST,
            Outcome.STOP,
            "the store's endpoint cannot be reached after 2 retries (the host name does not",
            id="bad-endpoint-no-such-host",
        ),
        pytest.param(
            "GenericError",
            s3_error("400 Bad Request", "InvalidRequest", "SSE-KMS not supported"),
            Outcome.STOP,
            "the store refused the upload: InvalidRequest (SSE-KMS not supported",
            id="other-4xx",
        ),
    ],
)
def test_a_store_error_is_read_as_reuse_retry_or_stop(type_name, text, outcome, problem):
    failure = read_store_error(type_name, text)

    assert failure.outcome is outcome
    assert failure.problem.startswith(problem)
    assert (failure.fix != "") is (outcome is Outcome.STOP)


def test_access_denied_names_where_credentials_come_from():
    failure = read_store_error(
        "PermissionDeniedError", s3_error("403 Forbidden", "AccessDenied", "Access Denied.")
    )
    assert "AWS_ACCESS_KEY_ID" in failure.fix
    assert "archive_options" in failure.fix


@pytest.mark.parametrize(
    ("number", "outcome", "problem"),
    [
        (errno.EEXIST, Outcome.EXISTS, ""),
        (errno.ENOSPC, Outcome.STOP, "the disk is full"),
        (errno.EDQUOT, Outcome.STOP, "the disk quota is used up"),
        (errno.EROFS, Outcome.STOP, "the file system is read-only"),
        (errno.EACCES, Outcome.STOP, "permission denied"),
        (errno.ENOENT, Outcome.STOP, "the folder does not exist"),
        (errno.EIO, Outcome.STOP, "the disk reported an I/O error"),
        (errno.EAGAIN, Outcome.RETRY, ""),
        (errno.ENAMETOOLONG, Outcome.STOP, "File name too long"),
    ],
)
def test_a_local_folder_error_is_read_by_its_errno(number, outcome, problem):
    failure = read_os_error(OSError(number, os.strerror(number)))

    assert failure.outcome is outcome
    assert problem in failure.problem
