"""document_shape: each hostile ZIP shape the download serves, read back with zipfile.

None of these is a claim about Amazon (spapi_emulator/invoices/hostile_documents.py).
"""

from __future__ import annotations

import io
import zipfile
import zlib
from itertools import islice
from typing import TYPE_CHECKING

import pytest

from spapi_emulator import EmulatorConfig
from spapi_emulator.invoices.hostile_documents import NON_UTF8_NAME, NOT_XML_FILES, latin1

from .test_invoices_support import day, start

if TYPE_CHECKING:
    from collections.abc import Iterator

    from spapi_emulator import EmulatorServer
    from spapi_emulator.invoices.exports import InvoicesApi

    from .conftest import FakeClock


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[EmulatorServer]:
    server = start(clock)
    yield server
    server.close()


def first_document(api: InvoicesApi) -> str:
    return api.exports(day(0), day(14), status="DONE")[0].document_ids[0]


def served(emu: EmulatorServer, shape: str, **changes: object) -> tuple[bytes, list[bytes]]:
    """(served body, the files of the whole ZIP) of the first DONE document under ``shape``."""
    emu.reconfigure(document_shape=shape, **changes)
    api = emu.invoices_api
    document_id = first_document(api)
    body = b"".join(api.document_body(document_id, download=True) or [])
    return body, [data for _, _, data in api.document_files(document_id)]


def entries(body: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def names(emu: EmulatorServer) -> list[str]:
    return [
        name for name, _, _ in emu.invoices_api.document_files(first_document(emu.invoices_api))
    ]


def test_empty_is_a_zip_without_entries(emu: EmulatorServer) -> None:
    body, _ = served(emu, "empty")
    assert entries(body) == {}


def test_nested_holds_the_first_file_and_a_zip_of_the_rest_with_a_zip_inside(
    emu: EmulatorServer,
) -> None:
    body, files = served(emu, "nested")
    listed = names(emu)
    outer = entries(body)
    assert list(outer) == [listed[0], "inner.zip"]
    inner = entries(outer["inner.zip"])
    assert list(inner) == [*listed[1:], "deeper.zip"]
    assert [inner[n] for n in listed[1:]] == files[1:]
    assert entries(inner["deeper.zip"]) == {listed[0]: files[0]}


def test_not_xml_adds_a_text_and_an_image(emu: EmulatorServer) -> None:
    body, files = served(emu, "not-xml")
    assert list(entries(body).values()) == [*files, *(data for _, data in NOT_XML_FILES)]


def test_duplicate_names_puts_every_file_under_a_and_the_first_again_under_b(
    emu: EmulatorServer,
) -> None:
    body, _ = served(emu, "duplicate-names")
    listed = names(emu)
    assert list(entries(body)) == [*(f"a/{n}" for n in listed), f"b/{listed[0]}"]


def test_bomb_appends_its_size_of_zeros_deflated_about_a_thousand_to_one(
    emu: EmulatorServer,
) -> None:
    body, files = served(emu, "bomb", document_bomb_bytes=8 << 20)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        bomb = archive.getinfo("bomb.xml")
        assert bomb.file_size == 8 << 20
        assert bomb.compress_size < (8 << 20) // 500
        assert archive.read("bomb.xml") == bytes(8 << 20)
        assert len(archive.namelist()) == len(files) + 1


@pytest.mark.parametrize(
    ("shape", "error"),
    [
        ("encrypted", "password required"),
        ("unsupported-method", "compression method is not supported"),
        ("corrupt", "Error -3 while decompressing"),
    ],
)
def test_broken_entry_shapes_break_the_first_entry_only(
    emu: EmulatorServer, shape: str, error: str
) -> None:
    body, files = served(emu, shape)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        first, *rest = archive.infolist()
        unreadable = (RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error)
        with pytest.raises(unreadable) as caught:
            archive.read(first)
        assert error in str(caught.value)
        assert [archive.read(info) for info in rest] == files[1:]


def test_non_utf8_name_flags_a_name_as_utf8_that_is_not(emu: EmulatorServer) -> None:
    body, _ = served(emu, "non-utf8-name")
    assert NON_UTF8_NAME in body
    with pytest.raises(UnicodeDecodeError):
        zipfile.ZipFile(io.BytesIO(body))


def test_non_utf8_bytes_serves_every_file_in_iso_8859_1(emu: EmulatorServer) -> None:
    body, files = served(emu, "non-utf8-bytes")
    assert list(entries(body).values()) == [latin1(data) for data in files]


def test_truncated_once_cuts_only_the_first_download_of_a_document(emu: EmulatorServer) -> None:
    first, _ = served(emu, "truncated-once")
    api = emu.invoices_api
    second = b"".join(api.document_body(first_document(api), download=True) or [])
    assert not zipfile.is_zipfile(io.BytesIO(first))
    assert first == second[: len(second) // 2]
    assert zipfile.is_zipfile(io.BytesIO(second))


def test_endless_never_ends(emu: EmulatorServer) -> None:
    emu.reconfigure(document_shape="endless")
    api = emu.invoices_api
    pieces = api.document_body(first_document(api)) or iter(())
    assert sum(len(p) for p in islice(pieces, 1000)) == 1000 << 16


def test_document_shape_every_breaks_every_nth_document_only(emu: EmulatorServer) -> None:
    emu.reconfigure(document_shape="empty", document_shape_every=2)
    api = emu.invoices_api
    documents = [d for v in api.exports(day(0), day(14), status="DONE") for d in v.document_ids]
    broken = [api.document_is_broken(d) for d in documents]
    assert True in broken
    assert False in broken
    for document_id, is_broken in zip(documents, broken, strict=True):
        body = b"".join(api.document_body(document_id) or [])
        assert (entries(body) == {}) is is_broken


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"document_shape": "empty", "document_body": "xml", "invoices_per_document": 1}, "zip"),
        ({"document_shape_every": 0}, "document_shape_every"),
        ({"document_bomb_bytes": 1 << 32}, "document_bomb_bytes"),
    ],
)
def test_document_shape_settings_out_of_range_are_refused(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        EmulatorConfig(**changes)  # type: ignore[arg-type]
