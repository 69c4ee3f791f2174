"""The identity the archive names an NF-e file by: access key and issue day, or nothing."""

from __future__ import annotations

from datetime import date

import pytest

from tap_spinvoices.nfe.fields import PARSED
from tap_spinvoices.nfe.identify import NfeIdentity, identify, issue_day
from tap_spinvoices.nfe.parse import parse_xml
from tests.unit.test_nfe_parse import SAMPLE_FILES

KEY = "35231212345678000195550010001000011700949647"
NS = 'xmlns="http://www.portalfiscal.inf.br/nfe"'


def nfe_proc(key_attribute: str = f"NFe{KEY}", dh_emi: str = "2023-12-31T21:00:10-03:00") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><nfeProc {NS} versao="4.00"><NFe>'
        f'<infNFe Id="{key_attribute}" versao="4.00"><ide><dhEmi>{dh_emi}</dhEmi></ide>'
        "</infNFe></NFe><protNFe/></nfeProc>"
    ).encode()


def event(key: str = KEY, kind: str = "110111", sequence: str = "1", when: str = "") -> bytes:
    when = when or "2024-01-02T10:00:00-03:00"
    return (
        f"<procEventoNFe {NS}><evento><infEvento><chNFe>{key}</chNFe><dhEvento>{when}"
        f"</dhEvento><tpEvento>{kind}</tpEvento><nSeqEvento>{sequence}</nSeqEvento>"
        "</infEvento></evento></procEventoNFe>"
    ).encode()


@pytest.mark.parametrize(
    ("data", "identity"),
    [
        pytest.param(nfe_proc(), NfeIdentity(KEY, date(2023, 12, 31)), id="nfeProc"),
        pytest.param(
            f'<NFe {NS}><infNFe Id="NFe{KEY}"><ide><dhEmi>2024-01-05T08:00:00-02:00'
            "</dhEmi></ide></infNFe></NFe>".encode(),
            NfeIdentity(KEY, date(2024, 1, 5)),
            id="bare-NFe",
        ),
        pytest.param(
            event(), NfeIdentity(f"{KEY}-110111-1", date(2024, 1, 2)), id="cancellation-event"
        ),
        pytest.param(
            event(kind="110110", sequence="12"),
            NfeIdentity(f"{KEY}-110110-12", date(2024, 1, 2)),
            id="correction-letter",
        ),
        pytest.param(
            b"\xef\xbb\xbf" + nfe_proc(), NfeIdentity(KEY, date(2023, 12, 31)), id="byte-order-mark"
        ),
        # The day as written, in the issuer's offset: 21:00 at -03:00 is already 1 January UTC.
        pytest.param(
            nfe_proc(dh_emi="2023-12-31T23:59:59-03:00"),
            NfeIdentity(KEY, date(2023, 12, 31)),
            id="day-as-written-not-utc",
        ),
        pytest.param(nfe_proc(dh_emi="yesterday"), NfeIdentity(KEY, None), id="day-not-a-date"),
        pytest.param(nfe_proc(dh_emi="0001-01-01T00:00:00Z"), NfeIdentity(KEY, None), id="year-1"),
        pytest.param(nfe_proc(dh_emi=""), NfeIdentity(KEY, None), id="day-empty"),
    ],
)
def test_an_nfe_or_event_is_named_by_its_key_and_the_day_it_bears(data, identity):
    assert identify(data) == identity


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(nfe_proc()[:-30], id="cut-short"),
        pytest.param(b"", id="empty"),
        pytest.param(b"not xml at all", id="not-xml"),
        pytest.param(nfe_proc(key_attribute="NFe123"), id="key-too-short"),
        pytest.param(nfe_proc(key_attribute=f"NFe{KEY}/../x"), id="key-with-a-path"),
        pytest.param(nfe_proc(key_attribute="NFe" + "\u0663" * 44), id="key-of-arabic-digits"),
        pytest.param(nfe_proc().replace(NS.encode(), b'xmlns="urn:other"'), id="other-namespace"),
        pytest.param(f"<NFe {NS}/>".encode(), id="no-infNFe"),
        pytest.param(event(key="1" * 43), id="event-key-too-short"),
        pytest.param(event(kind="cancel"), id="event-type-not-digits"),
        pytest.param(event(sequence="100"), id="event-sequence-too-long"),
        pytest.param(
            b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', id="entity"
        ),
    ],
)
def test_anything_else_has_no_identity_and_never_raises(data):
    assert identify(data) is None


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2024-01-05T08:00:00-03:00", date(2024, 1, 5)),
        ("2024-01-05", date(2024, 1, 5)),
        (" 2024-01-05T08:00:00Z ", date(2024, 1, 5)),
        ("2024-02-30T08:00:00-03:00", None),
        ("1999-12-31T08:00:00-03:00", None),
        (None, None),
    ],
)
def test_the_issue_day_is_the_calendar_day_as_written(text, day):
    assert issue_day(text) == day


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name[:24])
def test_the_identity_agrees_with_what_the_parser_reads_from_every_nfelib_sample(path):
    data = path.read_bytes()
    parsed = parse_xml(data)

    identity = identify(data)

    assert parsed.status == PARSED
    assert identity is not None
    assert identity.business_id == parsed.invoice["accessKey"]
    assert identity.day == date.fromisoformat(parsed.invoice["dhEmi"][:10])
