"""Object names: deterministic, navigable, one content per name, never outside their folder."""

from __future__ import annotations

import hashlib
import itertools
from datetime import date

import pytest

from tap_spinvoices.archive.naming import (
    MAX_ID_CHARS,
    escape_identifier,
    object_name,
    parse_object_name,
    unescape_identifier,
)

SHA = hashlib.sha256(b"%PDF-1.4").hexdigest()
DAY = date(2024, 1, 5)
ACCESS_KEY = "35240112345678000190550010000000011000000019"

# Identifiers Amazon (or a ZIP entry) could send, each with what its name segment must be.
HOSTILE = [
    pytest.param("PO1234567", "PO1234567", id="plain-purchase-order"),
    pytest.param(ACCESS_KEY, ACCESS_KEY, id="nfe-access-key"),
    pytest.param("a/b", "a~2Fb", id="slash"),
    pytest.param("../../etc/passwd", "~2E.~2F..~2Fetc~2Fpasswd", id="dot-dot"),
    pytest.param("/abs", "~2Fabs", id="leading-slash"),
    pytest.param("..", "~2E.", id="only-dot-dot"),
    pytest.param(".hidden", "~2Ehidden", id="leading-dot"),
    pytest.param("-rf", "~2Drf", id="leading-dash"),
    pytest.param("a\\b", "a~5Cb", id="backslash"),
    pytest.param("line\nbreak\x00nul\x7f", "line~0Abreak~00nul~7F", id="control-characters"),
    pytest.param("PO 1", "PO~201", id="space"),
    pytest.param("ação", "a~C3~A7~C3~A3o", id="non-ascii-utf8"),
    pytest.param(b"caf\xe9", "caf~E9", id="non-utf8-bytes"),
    pytest.param("a~b", "a~7Eb", id="the-escape-character-itself"),
    pytest.param("x--y", "x--y", id="the-separator-inside"),
    pytest.param("", "~", id="empty"),
]


@pytest.mark.parametrize(("identifier", "segment"), HOSTILE)
def test_an_identifier_becomes_one_safe_segment(identifier, segment):
    assert escape_identifier(identifier) == segment
    assert "/" not in segment
    assert "\\" not in segment
    assert all(0x21 <= ord(c) < 0x7F for c in segment)
    assert not segment.startswith((".", "-"))


@pytest.mark.parametrize(("identifier", "segment"), HOSTILE)
def test_an_object_name_stays_under_its_day_folder_whatever_the_identifier(identifier, segment):
    name = object_name(
        "V1234", "customer_invoices", DAY, identifier, sha256_hex=SHA, extension="pdf"
    )

    folder, file_name = name.rsplit("/", 1)
    assert folder == "V1234/customer_invoices/2024/01/05"
    assert file_name == f"{segment}--{SHA}.pdf"
    assert all(part not in {"", ".", ".."} for part in name.split("/"))


@pytest.mark.parametrize(("identifier", "segment"), HOSTILE)
def test_a_name_reads_back_as_what_made_it(identifier, segment):
    name = object_name(
        "V1234", "customer_invoices", DAY, identifier, sha256_hex=SHA, extension="pdf"
    )
    parsed = parse_object_name(name)

    assert parsed is not None
    assert (parsed.account_id, parsed.stream, parsed.day) == ("V1234", "customer_invoices", DAY)
    assert (parsed.business_id, parsed.sha256_hex, parsed.extension) == (segment, SHA, "pdf")
    raw = identifier.encode() if isinstance(identifier, str) else identifier
    assert unescape_identifier(parsed.business_id) == raw


def test_distinct_identifiers_never_share_a_name():
    identifiers = [p.values[0] for p in HOSTILE]
    identifiers += ["a/b", "a~2Fb", "a%2Fb", "A", "a", "x" * 300, "x" * 299 + "y", "x" * 299]
    segments = [escape_identifier(i) for i in identifiers]
    distinct_inputs = {i.encode() if isinstance(i, str) else i for i in identifiers}

    assert len(set(segments)) == len(distinct_inputs)


@pytest.mark.parametrize("identifier", ["x" * 300, "é" * 300, "/" * 300, "~" * 300])
def test_a_long_identifier_is_cut_and_keeps_a_hash_of_itself(identifier):
    segment = escape_identifier(identifier)
    name = object_name("V1", "customer_invoices", DAY, identifier, sha256_hex=SHA, extension="pdf")

    assert len(segment) <= MAX_ID_CHARS
    assert segment.endswith(hashlib.sha256(identifier.encode()).hexdigest()[:16])
    assert len(name.rsplit("/", 1)[1].encode()) < 255  # one file name on ext4, xfs, ...
    assert unescape_identifier(segment) is None  # a cut id does not read back
    assert parse_object_name(name) is not None


def test_the_same_document_always_gets_the_same_name():
    names = {
        object_name("V1", "customer_invoices", DAY, "PO1", sha256_hex=SHA, extension="pdf")
        for _ in range(3)
    }
    assert len(names) == 1


def test_other_bytes_give_another_name():
    other = hashlib.sha256(b"%PDF-1.5").hexdigest()
    first = object_name("V1", "customer_invoices", DAY, "PO1", sha256_hex=SHA, extension="pdf")
    second = object_name("V1", "customer_invoices", DAY, "PO1", sha256_hex=other, extension="pdf")

    assert first != second


@pytest.mark.parametrize(
    ("stream", "sha", "extension"),
    [
        ("../x", SHA, "pdf"),
        ("Customer", SHA, "pdf"),
        ("customer_invoices", "ABC", "pdf"),
        ("customer_invoices", SHA.upper(), "pdf"),
        ("customer_invoices", SHA, "../pdf"),
        ("customer_invoices", SHA, ""),
    ],
)
def test_the_tap_s_own_parts_of_a_name_are_checked_too(stream, sha, extension):
    with pytest.raises(ValueError, match=r"stream|sha256|extension"):
        object_name("V1", stream, DAY, "PO1", sha256_hex=sha, extension=extension)


@pytest.mark.parametrize(
    "name",
    [
        "V1/customer_invoices/2024/01/05/PO1.pdf",
        f"V1/customer_invoices/2024/13/05/PO1--{SHA}.pdf",
        f"V1/customer_invoices/2024/1/05/PO1--{SHA}.pdf",
        f"V1/customer_invoices/2024/01/05/extra/PO1--{SHA}.pdf",
        f"V1/Customer/2024/01/05/PO1--{SHA}.pdf",
        f"V1/customer_invoices/2024/01/05/PO/1--{SHA}.pdf",
        f"V1/customer_invoices/2024/01/05/PO1--{SHA[:-1]}.pdf",
        "notes.txt",
    ],
)
def test_a_name_the_tap_did_not_make_is_not_read_as_one(name):
    assert parse_object_name(name) is None


def test_every_two_character_identifier_is_told_apart():
    alphabet = ["a", "/", ".", "-", "~", "%", "\x00", "é"]
    identifiers = ["".join(p) for p in itertools.product(alphabet, repeat=2)]

    assert len({escape_identifier(i) for i in identifiers}) == len(identifiers)


# ZIP entry names of an export document (invoice_documents names a file by its entry when it
# is no NF-e it can read), each with what its name segment must be.
ZIP_ENTRIES = [
    pytest.param("3f2a9c1e-0b1d", "3f2a9c1e-0b1d", id="invoice-id"),
    pytest.param("nfe/2024/01/abc", "nfe~2F2024~2F01~2Fabc", id="entry-in-folders"),
    pytest.param("../../../etc/cron.d/x", "~2E.~2F..~2F..~2Fetc~2Fcron.d~2Fx", id="dot-dot"),
    pytest.param("/etc/passwd", "~2Fetc~2Fpasswd", id="absolute-entry"),
    pytest.param("C:\\Windows\\x", "C~3A~5CWindows~5Cx", id="windows-path"),
    pytest.param("a\r\nb\tc\x00d\x1b[31m", "a~0D~0Ab~09c~00d~1B~5B31m", id="control-characters"),
    pytest.param("nota fiscal ção", "nota~20fiscal~20~C3~A7~C3~A3o", id="utf8-entry"),
    # zipfile reads a name without the UTF-8 flag as cp437: a str, as any other.
    pytest.param(b"caf\x82".decode("cp437"), "caf~C3~A9", id="cp437-name"),
]


@pytest.mark.parametrize(("entry", "segment"), ZIP_ENTRIES)
def test_a_zip_entry_name_becomes_one_safe_file_name_under_its_day(entry, segment):
    name = object_name("V1", "invoice_documents", DAY, entry, sha256_hex=SHA, extension="xml")

    assert name == f"V1/invoice_documents/2024/01/05/{segment}--{SHA}.xml"
    assert all(part not in {"", ".", ".."} for part in name.split("/"))
    parsed = parse_object_name(name)
    assert parsed is not None
    assert unescape_identifier(parsed.business_id) == entry.encode()


def test_a_300_character_zip_entry_name_is_cut_and_kept_apart_from_its_neighbours():
    entries = ["d/" * 150, "d/" * 149 + "e/", "x" * 300, "x" * 299 + "y"]

    names = [
        object_name("V1", "invoice_documents", DAY, e, sha256_hex=SHA, extension="xml")
        for e in entries
    ]

    assert len(set(names)) == len(entries)
    for name in names:
        assert len(name.rsplit("/", 1)[1].encode()) < 255
        assert name.startswith("V1/invoice_documents/2024/01/05/")
        assert parse_object_name(name) is not None
