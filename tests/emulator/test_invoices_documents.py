"""getInvoicesDocument and the pre-signed S3 download: ZIP contents, expiry, signatures."""

from __future__ import annotations

import asyncio
import io
import zipfile
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

import aiohttp
import pytest
from yarl import URL

from spapi_emulator import EmulatorConfig

from .test_invoices_support import Client, day, start

if TYPE_CHECKING:
    from collections.abc import Iterator

    from spapi_emulator import EmulatorServer

    from .conftest import FakeClock

EXPIRED = "<Code>AccessDenied</Code><Message>Request has expired</Message>"
MISMATCH = "<Code>SignatureDoesNotMatch</Code>"


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[EmulatorServer]:
    server = start(clock)
    yield server
    server.close()


@pytest.fixture
def client(emu: EmulatorServer, clock: FakeClock) -> Client:
    return Client(emu, clock)


@pytest.fixture
def document_id(emu: EmulatorServer) -> str:
    views = emu.invoices_api.exports(day(0), day(14), status="DONE")
    return views[0].document_ids[0]


def download(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, str]:
    """GET a URL as sent (already encoded); return status, body bytes and content type."""

    async def call() -> tuple[int, bytes, str]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(URL(url, encoded=True), headers=headers) as response,
        ):
            return response.status, await response.read(), response.headers["Content-Type"]

    return asyncio.run(call())


def fetch_zip(url: str) -> bytes:
    status, body, content_type = download(url)
    assert (status, content_type) == (200, "application/zip"), body
    return body


class TestGetInvoicesDocument:
    def test_answer_carries_a_presigned_url_to_the_emulators_bucket(
        self, client: Client, document_id: str
    ) -> None:
        reply = client.get(f"/documents/{document_id}")
        assert reply.status == 200
        document = reply.json["invoicesDocument"]
        assert document["invoicesDocumentId"] == document_id
        url = URL(document["invoicesDocumentUrl"])
        assert str(url.origin()) == client.emu.url
        assert url.path == f"/_s3/invoices-documents/{document_id}.zip"
        assert url.query["X-Amz-Expires"] == "30"
        assert url.query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
        assert len(url.query["X-Amz-Signature"]) == 64
        assert url.query["X-Amz-Date"] == "20240115T000000Z"

    def test_one_call_per_minute_then_429(
        self, client: Client, clock: FakeClock, document_id: str
    ) -> None:
        assert client.get(f"/documents/{document_id}").status == 200
        throttled = client.get(f"/documents/{document_id}")
        assert throttled.status == 429
        assert throttled.error["code"] == "QuotaExceeded"
        clock.advance(59.0)
        assert client.get(f"/documents/{document_id}").status == 429
        clock.advance(1.0)
        ok = client.get(f"/documents/{document_id}")
        assert ok.status == 200
        assert ok.headers["x-amzn-RateLimit-Limit"] == "0.0167"

    def test_unknown_document_is_404(self, client: Client) -> None:
        reply = client.get("/documents/nope")
        assert reply.status == 404
        assert reply.error["code"] == "404"

    def test_document_of_an_unfinished_export_is_404(self, client: Client) -> None:
        api = client.emu.invoices_api
        pending = api.data.history[-1].export_id
        record = next(r for r in api.export_records(day(0), day(15)) if r.export_id == pending)
        assert record.document_ids
        assert client.get(f"/documents/{record.document_ids[0]}").status == 404


class TestDownload:
    def test_zip_holds_one_xml_per_invoice_named_by_its_id(
        self, client: Client, document_id: str
    ) -> None:
        url = client.get(f"/documents/{document_id}").json["invoicesDocument"][
            "invoicesDocumentUrl"
        ]
        data = fetch_zip(url)
        api = client.emu.invoices_api
        assert data == api.document_zip(document_id)
        invoices = api.document_invoices(document_id)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            nfe_names = [name for name in names if not name.endswith("-procEventoNFe.xml")]
            assert nfe_names == [f"{i.id}.xml" for i in invoices]
            for invoice in invoices:
                xml = archive.read(f"{invoice.id}.xml")
                assert xml == api.nfe_xml(invoice)
                assert len(xml) >= client.emu.config.nfe_xml_bytes
                ET.fromstring(xml)  # noqa: S314 - our own document
        stats = client.emu.stats()["operations"]["s3Download"]  # type: ignore[index]
        assert stats["by_status"] == {"200": 1}

    def test_download_ignores_sp_api_headers(self, client: Client, document_id: str) -> None:
        url = client.get(f"/documents/{document_id}").json["invoicesDocument"][
            "invoicesDocumentUrl"
        ]
        headers = {"x-amz-access-token": "Atza|whatever"}
        status, _, content_type = download(url, headers=headers)
        assert (status, content_type) == (200, "application/zip")

    def test_url_expires_after_30_real_seconds(
        self, client: Client, clock: FakeClock, document_id: str
    ) -> None:
        client.emu.reconfigure(time_scale=60.0)  # scales rates and exports, not the URL lifetime
        url = client.get(f"/documents/{document_id}").json["invoicesDocument"][
            "invoicesDocumentUrl"
        ]
        clock.advance(30.0)
        assert download(url)[0] == 200
        clock.advance(0.5)
        status, body, content_type = download(url)
        assert (status, content_type) == (403, "application/xml")
        assert EXPIRED.encode() in body
        assert b"<X-Amz-Expires>30</X-Amz-Expires>" in body
        operations = client.emu.stats()["operations"]
        assert operations["s3DownloadExpired"]["by_status"] == {"403": 1}  # type: ignore[index]
        assert operations["s3Download"]["by_status"] == {"200": 1}  # type: ignore[index]

    def test_document_url_ttl_is_configurable(
        self, client: Client, clock: FakeClock, document_id: str
    ) -> None:
        client.emu.reconfigure(document_url_ttl=5.0)
        url = client.get(f"/documents/{document_id}").json["invoicesDocument"][
            "invoicesDocumentUrl"
        ]
        assert URL(url).query["X-Amz-Expires"] == "5"
        clock.advance(5.1)
        assert download(url)[0] == 403

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("X-Amz-Signature", "0" * 64),
            ("X-Amz-Expires", "3600"),
            ("X-Amz-Date", "20990101T000000Z"),
        ],
    )
    def test_tampered_url_is_signature_does_not_match(
        self, client: Client, document_id: str, name: str, value: str
    ) -> None:
        url = client.get(f"/documents/{document_id}").json["invoicesDocument"][
            "invoicesDocumentUrl"
        ]
        tampered = URL(url).update_query({name: value})
        status, body, _ = download(str(tampered))
        assert status == 403
        assert MISMATCH.encode() in body

    def test_url_of_one_document_does_not_open_another(
        self, client: Client, document_id: str, emu: EmulatorServer
    ) -> None:
        url = URL(
            client.get(f"/documents/{document_id}").json["invoicesDocument"]["invoicesDocumentUrl"]
        )
        other = emu.invoices_api.exports(day(0), day(14), status="DONE")[1].document_ids[0]
        moved = url.with_path(f"/_s3/invoices-documents/{other}.zip").with_query(url.query)
        status, body, _ = download(str(moved))
        assert status == 403
        assert MISMATCH.encode() in body

    def test_unsigned_request_is_access_denied(self, emu: EmulatorServer, document_id: str) -> None:
        status, body, _ = download(f"{emu.url}/_s3/invoices-documents/{document_id}.zip")
        assert status == 403
        assert b"<Code>AccessDenied</Code><Message>Access Denied</Message>" in body


class TestDocumentBody:
    def test_cancelled_invoices_have_their_cancellation_event_after_them(
        self, emu: EmulatorServer
    ) -> None:
        api = emu.invoices_api
        views = api.exports(day(0), day(14), status="DONE")
        documents = [d for view in views for d in view.document_ids]
        cancelled = [
            i for d in documents for i in api.document_invoices(d) if i.status == "CANCELED"
        ]
        assert cancelled, "the dataset draws some CANCELED invoices"
        for document_id in documents:
            names = [name for name, _, _ in api.document_files(document_id)]
            for invoice in api.document_invoices(document_id):
                event = f"{invoice.id}-procEventoNFe.xml"
                if invoice.status == "CANCELED":
                    assert names[names.index(f"{invoice.id}.xml") + 1] == event
                else:
                    assert event not in names

    def test_xml_switch_serves_one_bare_nfe_under_an_xml_url(self, clock: FakeClock) -> None:
        emu = start(clock, document_body="xml", invoices_per_document=1)
        try:
            client = Client(emu, clock)
            api = emu.invoices_api
            document_id = api.exports(day(0), day(14), status="DONE")[0].document_ids[0]
            url = client.get(f"/documents/{document_id}").json["invoicesDocument"][
                "invoicesDocumentUrl"
            ]
            assert URL(url).path.endswith(f"/{document_id}.xml")
            status, body, content_type = download(url)
            (invoice,) = api.document_invoices(document_id)
            assert (status, content_type, body) == (200, "application/xml", api.nfe_xml(invoice))
        finally:
            emu.close()

    def test_broken_switch_serves_half_a_zip(self, clock: FakeClock) -> None:
        emu = start(clock, document_body="broken")
        try:
            client = Client(emu, clock)
            api = emu.invoices_api
            document_id = api.exports(day(0), day(14), status="DONE")[0].document_ids[0]
            url = client.get(f"/documents/{document_id}").json["invoicesDocument"][
                "invoicesDocumentUrl"
            ]
            status, body, _ = download(url)
            whole = b"".join(api.iter_document_zip(document_id) or [])
            assert (status, body) == (200, whole[: len(whole) // 2])
            assert not zipfile.is_zipfile(io.BytesIO(body))
        finally:
            emu.close()

    def test_xml_switch_needs_one_invoice_per_document(self) -> None:
        with pytest.raises(ValueError, match="invoices_per_document 1"):
            EmulatorConfig(document_body="xml", invoices_per_document=2)
