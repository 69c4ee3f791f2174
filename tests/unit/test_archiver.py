"""Archive and Uploads over a scripted store: retries, reuse, bounds, the one error line."""

from __future__ import annotations

import asyncio
import errno
import hashlib
from datetime import date

import pytest

from tap_spinvoices.archive.archiver import Archive, Document
from tap_spinvoices.archive.config import ArchiveConfig, parse_archive_url
from tap_spinvoices.errors import ArchiveError

DAY = date(2024, 1, 5)


class AlreadyExistsError(Exception):
    """Named like obstore's: failures.py reads errors by their type name."""


class GenericError(Exception):
    pass


class ScriptedStore:
    """A store whose next create calls fail as scripted; it records what it holds."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.failures = list(failures or [])
        self.objects: dict[str, bytes] = {}
        self.creates = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.release = asyncio.Event()
        self.release.set()

    async def create(self, name: str, data: bytes, extension: str) -> None:
        del extension
        self.creates += 1
        self.in_flight += len(data)
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.release.wait()
            if self.failures:
                raise self.failures.pop(0)
            if name in self.objects:
                raise AlreadyExistsError(name)
            self.objects[name] = data
        finally:
            self.in_flight -= len(data)

    async def size(self, name: str) -> int | None:
        return len(self.objects[name]) if name in self.objects else None

    def close(self) -> None:
        pass


def make_archive(store, url="s3://acme/spapi", **settings):
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    config = ArchiveConfig(parse_archive_url(url), **settings)
    return Archive(config, "V1", store, sleep=sleep, random_fraction=lambda: 0.5), sleeps


def pdf(number: int, size: int = 100) -> Document:
    return Document("customer_invoices", DAY, f"PO{number}", bytes([number % 256]) * size, "pdf")


def s3_answer(status: str, code: str) -> GenericError:
    return GenericError(
        f"Server returned non-2xx status code: {status}: <Error><Code>{code}</Code>"
        "<Message>m</Message></Error>"
    )


def test_a_document_is_stored_under_its_name_and_its_uri_says_where():
    store = ScriptedStore()
    archive, _ = make_archive(store)
    document = pdf(1)

    stored = asyncio.run(archive.uploads().store(document))

    digest = hashlib.sha256(document.data).hexdigest()
    assert stored.name == f"V1/customer_invoices/2024/01/05/PO1--{digest}.pdf"
    assert stored.uri == f"s3://acme/spapi/{stored.name}"
    assert (stored.sha256, stored.size, stored.created) == (digest, 100, True)
    assert store.objects == {stored.name: document.data}


def test_a_document_already_there_is_reused_not_written_again():
    store = ScriptedStore()
    archive, _ = make_archive(store)

    async def twice():
        uploads = archive.uploads()
        return await uploads.store(pdf(1)), await uploads.store(pdf(1))

    first, second = asyncio.run(twice())

    assert (first.created, second.created) == (True, False)
    assert first.uri == second.uri
    counts = archive.counts("customer_invoices")
    assert (counts.created, counts.reused, counts.created_bytes) == (1, 1, 100)


def test_what_was_stored_is_counted_per_stream():
    store = ScriptedStore()
    archive, _ = make_archive(store)
    xml = Document("invoice_documents", DAY, "K1", b"<nfeProc/>", "xml")

    async def both():
        uploads = archive.uploads()
        await uploads.store(pdf(1))
        await uploads.store(xml)
        await uploads.store(xml)

    asyncio.run(both())

    pdfs, xmls = archive.counts("customer_invoices"), archive.counts("invoice_documents")
    assert (pdfs.created, pdfs.reused, pdfs.created_bytes) == (1, 0, 100)
    assert (xmls.created, xmls.reused, xmls.created_bytes) == (1, 1, 10)


def test_an_object_of_another_size_under_the_name_stops_the_run_instead_of_being_reused():
    store = ScriptedStore()
    archive, _ = make_archive(store)
    name, _ = archive.name_of(pdf(1))
    store.objects[name] = b"cut short"

    with pytest.raises(ArchiveError, match="an object of 9 bytes is already stored"):
        asyncio.run(archive.uploads().store(pdf(1)))
    assert store.objects[name] == b"cut short"


@pytest.mark.parametrize(
    "transient",
    [
        s3_answer("400 Bad Request", "BadDigest"),
        s3_answer("429 Too Many Requests", "SlowDown"),
        GenericError("HTTP error: error sending request ... kind: Timeout ... TimedOut"),
    ],
    ids=["corrupted-upload", "429", "put-timeout"],
)
def test_what_obstore_does_not_retry_is_retried_with_growing_pauses(transient):
    store = ScriptedStore([transient, transient])
    archive, sleeps = make_archive(store, max_attempts=4)

    stored = asyncio.run(archive.uploads().store(pdf(1)))

    assert stored.created
    assert store.creates == 3
    assert sleeps == [0.1, 0.2]  # full jitter at 0.5 of 0.2 s, then of 0.4 s


def test_a_transient_fault_that_lasts_ends_the_run_after_max_retries_attempts():
    store = ScriptedStore([s3_answer("400 Bad Request", "BadDigest")] * 10)
    archive, sleeps = make_archive(store, max_attempts=3)

    with pytest.raises(ArchiveError) as error:
        asyncio.run(archive.uploads().store(pdf(1)))

    assert store.creates == 3
    assert len(sleeps) == 2
    line = str(error.value)
    assert line.startswith(
        "Archive error: the store received other bytes than were sent: BadDigest"
    )
    assert "(3 attempts)" in line
    assert "archive_url s3://acme/spapi" in line
    assert "bucket acme (prefix spapi), object spapi/V1/customer_invoices/2024/01/05/PO1--" in line


def test_a_permanent_refusal_is_not_retried_and_names_archive_url_bucket_object_and_fix():
    store = ScriptedStore([s3_answer("403 Forbidden", "AccessDenied")])
    archive, sleeps = make_archive(store)

    with pytest.raises(ArchiveError) as error:
        asyncio.run(archive.uploads().store(pdf(1)))

    assert (store.creates, sleeps) == (1, [])
    line = str(error.value)
    assert line.startswith("Archive error: access denied: AccessDenied (m), storing bucket acme")
    assert "Fix: check the credentials" in line
    assert "\n" not in line


def test_a_local_disk_error_is_one_line_naming_the_folder():
    store = ScriptedStore([OSError(errno.ENOSPC, "No space left on device")])
    archive, _ = make_archive(store, url="/srv/invoices")

    with pytest.raises(ArchiveError) as error:
        asyncio.run(archive.uploads().store(pdf(1)))

    assert str(error.value).startswith(
        "Archive error: the disk is full, storing folder /srv/invoices, object V1/"
    )
    assert "(archive_url /srv/invoices). Fix: free space on that disk" in str(error.value)


def test_bytes_in_flight_stay_within_the_budget_and_uploads_within_their_count():
    store = ScriptedStore()
    store.release.clear()
    archive, _ = make_archive(store, uploads_in_flight=3, bytes_in_flight=250)

    async def run():
        uploads = archive.uploads()
        tasks = [asyncio.ensure_future(uploads.store(pdf(n, 100))) for n in range(10)]
        for _ in range(20):
            await asyncio.sleep(0)
        waiting = store.in_flight
        store.release.set()
        await asyncio.gather(*tasks)
        return waiting

    held = asyncio.run(run())

    assert held == 200  # two documents of 100 bytes fit in 250; the third waits
    assert store.most_in_flight <= 250
    assert len(store.objects) == 10


def test_a_document_larger_than_the_budget_goes_alone():
    store = ScriptedStore()
    archive, _ = make_archive(store, bytes_in_flight=50)

    async def run():
        uploads = archive.uploads()
        await asyncio.gather(*(uploads.store(pdf(n, 100)) for n in range(3)))

    asyncio.run(run())

    assert store.most_in_flight == 100
    assert len(store.objects) == 3
