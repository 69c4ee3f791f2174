"""The archive against real stores: a local folder and an S3 server that checks what it gets.

In-process (Archive, Uploads and the stores as the tap uses them); the tap's own runs are in
test_tap_archive.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import os
from datetime import date
from pathlib import Path

import pytest

from tap_spinvoices.archive import open_archive
from tap_spinvoices.archive.archiver import Document
from tap_spinvoices.archive.config import ArchiveConfig, parse_archive_url
from tap_spinvoices.archive.stores import PARTIAL_MARK, _FolderSync
from tap_spinvoices.errors import ArchiveError
from tests.archive.faulty_proxy import FaultyProxy
from tests.archive.seaweed import BUCKET, READER, WRITER, Identity

DAY = date(2024, 1, 5)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40


def document(data: bytes = PDF, business_id: str = "PO1234567") -> Document:
    return Document("customer_invoices", DAY, business_id, data, "pdf")


def s3_config(url: str, endpoint: str, identity: Identity = WRITER, **settings) -> ArchiveConfig:
    options = {
        "endpoint": endpoint,
        "region": "us-east-1",
        "access_key_id": identity.access_key_id,
        "secret_access_key": identity.secret_access_key,
    }
    options.update(settings.pop("options", {}))
    return ArchiveConfig(parse_archive_url(url), options=options, **settings)


def config_of(archive, **settings) -> ArchiveConfig:
    if archive.server is None:
        return ArchiveConfig(parse_archive_url(archive.url), options=archive.options(), **settings)
    return s3_config(archive.url, archive.server.endpoint, **settings)


def store_once(config: ArchiveConfig, doc: Document):
    async def run():
        store = open_archive(config, "V1")
        try:
            return await store.uploads().store(doc)
        finally:
            store.close()

    return asyncio.run(run())


def test_a_document_lands_once_with_exactly_its_bytes_and_a_repeat_writes_nothing(any_archive):
    archive = any_archive
    first = store_once(config_of(archive), document())
    before = archive.versions()
    second = store_once(config_of(archive), document())

    assert first.created
    assert not second.created
    assert first.uri == second.uri == archive.uri(first.name)
    assert archive.objects() == {first.name: PDF}
    assert archive.versions() == before  # not rewritten: same inode and mtime, same ETag
    assert first.sha256 == hashlib.sha256(PDF).hexdigest()


def test_other_bytes_for_the_same_invoice_get_a_name_of_their_own(any_archive):
    archive = any_archive
    first = store_once(config_of(archive), document(PDF))
    second = store_once(config_of(archive), document(PDF + b"corrected"))

    assert first.name != second.name
    assert archive.objects() == {first.name: PDF, second.name: PDF + b"corrected"}


def test_an_object_altered_under_its_name_is_never_overwritten_nor_silently_reused(any_archive):
    archive = any_archive
    stored = store_once(config_of(archive), document())
    archive.overwrite(stored.name, b"tampered")

    with pytest.raises(ArchiveError, match="already stored under the name of these"):
        store_once(config_of(archive), document())
    assert archive.objects()[stored.name] == b"tampered"


def test_hostile_identifiers_stay_inside_the_archive(any_archive):
    archive = any_archive
    hostile = ["../../escape", "/etc/passwd", "a/b\x00c", "x" * 300, "\u202ertl"]
    names = [store_once(config_of(archive), document(PDF, h)).name for h in hostile]

    objects = archive.objects()
    assert sorted(objects) == sorted(names)
    assert all(n.startswith("V1/customer_invoices/2024/01/05/") for n in names)
    if archive.folder is not None:
        # Nothing was written outside the folder: every file under its parent is in it.
        outside = [p for p in archive.folder.parent.rglob("*") if p.is_file()]
        assert all(archive.folder in p.parents for p in outside)


def test_s3_uploads_are_conditional_and_carry_their_sha256_checksum(s3_server):
    async def run():
        async with FaultyProxy(s3_server.endpoint) as proxy:
            config = s3_config(s3_server.url("checksum"), proxy.endpoint)
            archive = open_archive(config, "V1")
            await archive.uploads().store(document())
            return proxy.put_headers

    (headers,) = asyncio.run(run())

    expected = base64.b64encode(hashlib.sha256(PDF).digest()).decode()
    assert headers["x-amz-checksum-sha256"] == expected
    assert headers["If-None-Match"] == "*"
    assert headers["Content-Type"] == "application/pdf"


@pytest.mark.parametrize("unsigned_payload", [False, True], ids=["signed", "unsigned-payload"])
def test_an_upload_corrupted_on_the_way_is_refused_by_the_server_and_never_lands(
    s3_server, unsigned_payload
):
    # Signed, the payload's SHA-256 is in the signature; unsigned, the x-amz-checksum-sha256
    # header alone must catch the flipped byte. Either way SeaweedFS refuses (BadDigest).
    prefix = f"corrupt-{unsigned_payload}"

    async def run():
        async with FaultyProxy(s3_server.endpoint) as proxy:
            proxy.faults = ["corrupt"] * 3
            options = {"unsigned_payload": unsigned_payload}
            config = s3_config(
                s3_server.url(prefix), proxy.endpoint, max_attempts=3, options=options
            )
            archive = open_archive(config, "V1")
            with pytest.raises(ArchiveError) as error:
                await archive.uploads().store(document())
            proxy.faults = ["corrupt"]  # once more, then the retry gets through
            stored = await archive.uploads().store(document())
            return str(error.value), stored, len(proxy.put_headers)

    line, stored, puts = asyncio.run(run())

    assert line.startswith("Archive error: the store received other bytes than were sent")
    assert "(3 attempts)" in line
    assert puts == 5
    view = _s3_view(s3_server, prefix)
    assert view.objects() == {stored.name: PDF}


@pytest.mark.parametrize(
    "faults",
    [["503", "503"], ["500"], ["reset", "reset"], ["stall"]],
    ids=["slow-down", "internal-error", "connection-reset", "no-answer-timeout"],
)
def test_transient_store_faults_are_retried_and_the_document_lands_once(s3_server, faults):
    prefix = f"transient-{'-'.join(faults)}"
    # A stalled PUT is given up after the request timeout: short here, so the test is quick;
    # the answered faults keep the default, so no healthy PUT of a loaded machine times out.
    stalls = "stall" in faults
    timeout = {"request_timeout_s": 2.0, "max_attempts": 8} if stalls else {"max_attempts": 4}

    async def run():
        async with FaultyProxy(s3_server.endpoint) as proxy:
            proxy.faults = list(faults)
            config = s3_config(s3_server.url(prefix), proxy.endpoint, **timeout)
            stored = await open_archive(config, "V1").uploads().store(document())
            return stored, len(proxy.put_headers)

    stored, puts = asyncio.run(run())

    if stalls:  # a loaded machine may time a healthy retry out too: at least one retry
        assert puts >= len(faults) + 1
    else:
        assert puts == len(faults) + 1
    assert _s3_view(s3_server, prefix).objects() == {stored.name: PDF}


@pytest.mark.parametrize(
    ("identity", "code"),
    [
        (Identity(WRITER.access_key_id, "wrong-secret"), "SignatureDoesNotMatch"),
        (Identity("nobody", "wrong-secret"), "InvalidAccessKeyId"),
        (READER, "AccessDenied"),
    ],
    ids=["wrong-secret", "unknown-key", "read-only-keys"],
)
def test_keys_that_may_not_write_stop_with_one_line_naming_the_archive_and_the_fix(
    s3_server, identity, code
):
    config = s3_config(s3_server.url("denied"), s3_server.endpoint, identity)

    with pytest.raises(ArchiveError) as error:
        store_once(config, document())

    line = str(error.value)
    assert line.startswith(f"Archive error: access denied: {code}")
    assert f"storing bucket {BUCKET} (prefix denied), object denied/V1/customer_invoices/" in line
    assert f"(archive_url s3://{BUCKET}/denied). Fix: check the credentials" in line
    assert identity.secret_access_key not in line


def test_a_bucket_that_does_not_exist_stops_with_one_line(s3_server):
    config = s3_config("s3://no-such-bucket/p", s3_server.endpoint)

    with pytest.raises(ArchiveError) as error:
        store_once(config, document())

    assert str(error.value).startswith(
        "Archive error: the bucket or container does not exist: NoSuchBucket"
    )
    assert "storing bucket no-such-bucket (prefix p)" in str(error.value)


def test_an_endpoint_nobody_answers_stops_after_the_retries(s3_server, unused_port):
    config = s3_config(s3_server.url("x"), f"http://127.0.0.1:{unused_port}", max_attempts=2)

    with pytest.raises(
        ArchiveError, match=r"endpoint cannot be reached after 1 retries \(connection refused\)"
    ):
        store_once(config, document())


@pytest.mark.parametrize(
    ("sse", "kms", "headers"),
    [
        ("AES256", None, {"x-amz-server-side-encryption": "AES256"}),
        (
            "aws:kms",
            "key-1",
            {
                "x-amz-server-side-encryption": "aws:kms",
                "x-amz-server-side-encryption-aws-kms-key-id": "key-1",
            },
        ),
    ],
    ids=["sse-s3", "sse-kms"],
)
def test_server_side_encryption_is_asked_for_on_every_upload(s3_server, sse, kms, headers):
    async def run():
        async with FaultyProxy(s3_server.endpoint) as proxy:
            config = s3_config(
                s3_server.url("sse"),
                proxy.endpoint,
                server_side_encryption=sse,
                kms_key_id=kms,
                max_attempts=1,
            )
            # SeaweedFS has no KMS configured: only what was asked for matters here.
            with contextlib.suppress(ArchiveError):
                await open_archive(config, "V1").uploads().store(document(PDF + sse.encode()))
            return proxy.put_headers[0]

    sent = asyncio.run(run())

    assert {name: sent.get(name) for name in headers} == headers


class TestLocalFolder:
    def test_the_file_is_synced_before_its_name_appears_and_the_folder_after(
        self, tmp_path, monkeypatch
    ):
        calls: list[str] = []
        real = {"fsync": os.fsync, "fdatasync": os.fdatasync, "link": os.link}

        def recording(call):
            def run(fd_or_path, *args, **kwargs):
                if call == "link":
                    calls.append("link")
                else:
                    is_folder = Path(f"/proc/self/fd/{fd_or_path}").is_dir()
                    calls.append("sync-folder" if is_folder else "sync-file")
                return real[call](fd_or_path, *args, **kwargs)

            return run

        for call in real:
            monkeypatch.setattr(os, call, recording(call))
        store_once(ArchiveConfig(parse_archive_url(str(tmp_path))), document())

        first_link = calls.index("link")
        assert calls[first_link - 1] == "sync-file"
        assert calls[-1] == "sync-folder"
        assert "sync-folder" in calls[:first_link]  # each new day folder's entry, too

    def test_one_folder_sync_covers_every_name_linked_before_it(self, monkeypatch):
        synced: list[int] = []
        monkeypatch.setattr(os, "fsync", synced.append)
        sync = _FolderSync()

        first, second = sync.linked(), sync.linked()
        sync.make_durable(second, 7)  # covers both links
        sync.make_durable(first, 7)  # already durable: no second fsync
        third = sync.linked()
        sync.make_durable(third, 7)

        assert synced == [7, 7]

    def test_without_o_tmpfile_a_named_temporary_file_is_used_and_removed(
        self, tmp_path, monkeypatch
    ):
        real_open = os.open

        def no_tmpfile(path, flags, *args, **kwargs):
            if flags & os.O_TMPFILE == os.O_TMPFILE:
                raise OSError(errno.EOPNOTSUPP, "not supported")
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", no_tmpfile)
        stored = store_once(ArchiveConfig(parse_archive_url(str(tmp_path))), document())

        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert files == [tmp_path / stored.name]
        assert files[0].read_bytes() == PDF
        assert PARTIAL_MARK not in stored.name

    def test_a_folder_that_does_not_exist_is_one_line(self, tmp_path):
        missing = tmp_path / "not-mounted"

        with pytest.raises(ArchiveError) as error:
            store_once(ArchiveConfig(parse_archive_url(str(missing))), document())

        assert str(error.value).startswith(
            f"Archive error: the folder does not exist, storing folder {missing}, object V1/"
        )
        assert "Fix: create it (mkdir -p) or fix archive_url" in str(error.value)
        assert not missing.exists()  # never created behind the user's back

    def test_a_full_disk_is_one_line_and_leaves_no_file(self, tmp_path, monkeypatch):
        def full(*_args):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(os, "write", full)

        with pytest.raises(ArchiveError, match=r"^Archive error: the disk is full, storing folder"):
            store_once(ArchiveConfig(parse_archive_url(str(tmp_path))), document())
        assert [p for p in tmp_path.rglob("*") if p.is_file()] == []

    def test_a_file_where_a_day_folder_belongs_is_one_line(self, tmp_path):
        (tmp_path / "V1" / "customer_invoices" / "2024").mkdir(parents=True)
        (tmp_path / "V1" / "customer_invoices" / "2024" / "01").write_text("not a folder")

        with pytest.raises(ArchiveError, match="a path segment is a file, not a folder"):
            store_once(ArchiveConfig(parse_archive_url(str(tmp_path))), document())


def _s3_view(server, prefix):
    from tests.archive.conftest import ArchiveUnderTest  # noqa: PLC0415 - a test helper

    return ArchiveUnderTest("s3", server.url(prefix), server=server, prefix=prefix)
