"""The XML files of export documents: named, stored, then handed on in order, never before."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import date

import pytest

from tap_spinvoices.archive.archiver import Archive
from tap_spinvoices.archive.config import ArchiveConfig, parse_archive_url
from tap_spinvoices.errors import ArchiveError
from tap_spinvoices.streams.document_files import FileKind
from tap_spinvoices.streams.invoice_document_files import (
    archive_document,
    file_delivery,
)
from tap_spinvoices.sync.events import Page, PartDone
from tap_spinvoices.tap import TapSpinvoices
from tests.unit.test_archiver import ScriptedStore, s3_answer
from tests.unit.test_nfe_identify import KEY, event, nfe_proc

EXPORT_DAY = date(2024, 1, 9)


@dataclass(frozen=True)
class File:
    key: str
    data: bytes
    kind: FileKind = FileKind.XML


def archive_with(store: ScriptedStore, **settings) -> Archive:
    config = ArchiveConfig(parse_archive_url("s3://acme/spapi"), **settings)
    return Archive(config, "V1", store)


def deliver_all(archive, documents, *, delivered=None):
    """Give every file of every document (a list of lists), as invoice_documents does."""
    delivered = [] if delivered is None else delivered

    async def deliver(event):
        delivered.append(event)

    async def run():
        async with file_delivery(archive, deliver, export_day=EXPORT_DAY) as delivery:
            for part, files in enumerate(documents):
                for file in files:
                    await delivery.file(part, file)
                await delivery.part_done(part)

    asyncio.run(run())
    return delivered


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("key", "kind", "data", "named"),
    [
        pytest.param("inv-1", FileKind.XML, nfe_proc(), (KEY, date(2023, 12, 31), "xml"), id="nfe"),
        pytest.param(
            "inv-1-procEventoNFe",
            FileKind.XML,
            event(),
            (f"{KEY}-110111-1", date(2024, 1, 2), "xml"),
            id="event",
        ),
        pytest.param(
            "inv-2", FileKind.XML, nfe_proc(dh_emi="soon"), (KEY, EXPORT_DAY, "xml"), id="no-day"
        ),
        pytest.param(
            "inv-3", FileKind.XML, nfe_proc()[:-20], ("inv-3", EXPORT_DAY, "xml"), id="cut-short"
        ),
        pytest.param(
            "a/../b", FileKind.XML, b"<other/>", ("a/../b", EXPORT_DAY, "xml"), id="not-an-nfe"
        ),
        pytest.param(
            "readme.txt", FileKind.RAW, nfe_proc(), ("readme.txt", EXPORT_DAY, "bin"), id="raw"
        ),
    ],
)
def test_a_file_is_named_by_its_nfe_identity_else_by_its_key_and_the_export_s_day(
    key, kind, data, named
):
    """``named``: the business id, the day and the extension it is stored under."""
    document = archive_document(key, data, kind, EXPORT_DAY)

    assert document.stream == "invoice_documents"
    assert (document.business_id, document.day, document.extension) == named
    assert document.data is data  # stored exactly as read


def test_without_the_archive_each_file_goes_on_at_once_unstored():
    files = [File("a", b"<a/>"), File("b", b"<b/>")]

    delivered = deliver_all(None, [files])

    assert [type(e) for e in delivered] == [Page, Page, PartDone]
    assert [e.items[0].file for e in delivered[:2]] == files
    assert all(e.items[0].archived is None for e in delivered[:2])


def test_every_file_is_stored_before_its_page_and_the_document_end_come_after_its_files():
    store = ScriptedStore()
    documents = [
        [File("one", nfe_proc()), File("one-procEventoNFe", event())],
        [File("two", b"<not-an-nfe/>")],
    ]
    delivered = []

    async def deliver(item):
        # Whatever is handed on is in the store already.
        if isinstance(item, Page):
            for each in item.items:
                assert store.objects[each.archived.name] == each.file.data
        delivered.append(item)

    async def run():
        async with file_delivery(archive_with(store), deliver, export_day=EXPORT_DAY) as delivery:
            for part, files in enumerate(documents):
                for file in files:
                    await delivery.file(part, file)
                await delivery.part_done(part)

    asyncio.run(run())

    pages = [e for e in delivered if isinstance(e, Page)]
    assert [f.file for p in pages for f in p.items] == [f for d in documents for f in d]
    assert [e.part for e in delivered if isinstance(e, PartDone)] == [0, 1]
    assert delivered.index(PartDone(0)) > max(
        i for i, e in enumerate(delivered) if isinstance(e, Page) and e.part == 0
    )
    names = {f.file.key: f.archived.name for p in pages for f in p.items}
    folder = "V1/invoice_documents"
    assert names == {
        "one": f"{folder}/2023/12/31/{KEY}--{sha(nfe_proc())}.xml",
        "one-procEventoNFe": f"{folder}/2024/01/02/{KEY}-110111-1--{sha(event())}.xml",
        "two": f"{folder}/2024/01/09/two--{sha(b'<not-an-nfe/>')}.xml",
    }
    for page in pages:
        for each in page.items:
            assert each.archived.uri == f"s3://acme/spapi/{each.archived.name}"
            assert (each.archived.sha256, each.archived.size) == (
                sha(each.file.data),
                len(each.file.data),
            )
    assert len(store.objects) == 3


@pytest.mark.parametrize(
    ("uploads_in_flight", "files_a_page"),
    [pytest.param(3, 3, id="count-binds"), pytest.param(64, 10, id="bytes-bind")],
)
def test_a_page_holds_at_most_a_quarter_of_the_byte_budget_and_the_upload_count(
    uploads_in_flight, files_a_page
):
    store = ScriptedStore()
    files = [File(f"f{n}.xml", bytes([n]) * 100) for n in range(40)]
    archive = archive_with(store, bytes_in_flight=4000, uploads_in_flight=uploads_in_flight)

    delivered = deliver_all(archive, [files])

    pages = [e for e in delivered if isinstance(e, Page)]
    assert [f.file for p in pages for f in p.items] == files
    assert max(len(p.items) for p in pages) == files_a_page
    assert all(p.size <= 1000 for p in pages)
    assert store.most_in_flight <= 4000


def test_a_store_refusal_hands_on_the_documents_before_it_and_nothing_after():
    # The first document's single file stores; the second's is refused for good.
    store = ScriptedStore()
    archive = archive_with(store, bytes_in_flight=4)  # one file a page
    refused = File("refused", b"<bad/>")
    delivered = []

    async def refuse_second(name, data, extension):
        if data == refused.data:
            raise s3_answer("403 Forbidden", "AccessDenied")
        await original(name, data, extension)

    original, store.create = store.create, refuse_second

    with pytest.raises(ArchiveError, match="access denied"):
        deliver_all(
            archive,
            [[File("ok", b"<ok/>")], [refused, File("z", b"<z/>")]],
            delivered=delivered,
        )

    assert [type(e) for e in delivered] == [Page, PartDone]
    assert delivered[0].items[0].file.key == "ok"
    assert all(name.endswith(f"--{sha(b'<ok/>')}.xml") or "z--" in name for name in store.objects)


@pytest.mark.parametrize(
    ("archive_url", "selected"),
    [
        pytest.param(None, {"xml": True, "xml_sha256": True, "archive_uri": False}, id="off"),
        pytest.param(
            "s3://acme/spapi",
            {"xml": False, "xml_sha256": True, "xml_bytes": True, "archive_uri": True},
            id="on",
        ),
    ],
)
def test_the_archive_decides_whether_xml_or_archive_uri_is_selected_by_default(
    archive_url, selected
):
    config = {
        "lwa_client_id": "c",
        "lwa_client_secret": "s",
        "refresh_token": "r",
        "start_date": "2024-01-01T00:00:00Z",
    } | ({"archive_url": archive_url} if archive_url else {})
    catalog = TapSpinvoices(config=config, parse_env_config=False, setup_mapper=False).catalog

    stream = catalog.get_stream("invoice_documents")
    assert stream is not None
    stream.metadata.root.selected = True  # the stream chosen, its properties left at default
    mask = stream.metadata.resolve_selection()

    assert {name: mask[("properties", name)] for name in selected} == selected
