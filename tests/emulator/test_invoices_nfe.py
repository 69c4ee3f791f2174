"""The emulator's NF-e and cancellation events are valid against the official schemas.

nfelib ships the SEFAZ XSDs its bindings were generated from; every document the emulator
writes must validate against them, so the tap is tested on the real NF-e structure.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from pathlib import Path

import nfelib
from lxml import etree

from spapi_emulator import EmulatorConfig
from spapi_emulator.invoices.data import InvoicesData
from spapi_emulator.invoices.nfe import cancellation_xml, nfe_xml

NFELIB = Path(nfelib.__file__).parent
NFE = "{http://www.portalfiscal.inf.br/nfe}"


@functools.cache
def schema(relative: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(NFELIB / relative)))


def invoices(count: int = 60) -> list:
    return InvoicesData(EmulatorConfig(days=10, invoices_api_per_day=20)).invoices[:count]


def test_every_nfe_validates_against_the_procnfe_schema() -> None:
    procnfe = schema("nfe/schemas/v4_0/procNFe_v4.00.xsd")
    for invoice in invoices():
        for size in (0, 9000):
            document = etree.fromstring(nfe_xml(invoice, seed=7, size=size))
            assert procnfe.validate(document), (invoice.id, size, procnfe.error_log)


def test_every_cancellation_event_validates_against_its_schema() -> None:
    event_schema = schema("nfe_evento_cancel/schemas/v1_0/procEventoCancNFe_v1.00.xsd")
    for invoice in invoices(30):
        document = etree.fromstring(cancellation_xml(invoice, seed=7))
        assert event_schema.validate(document), (invoice.id, event_schema.error_log)


def test_nfe_have_several_items_in_more_than_one_icms_group_and_totals_that_add_up() -> None:
    groups: set[str] = set()
    for invoice in invoices():
        root = etree.fromstring(nfe_xml(invoice, seed=7, size=0))
        items = root.findall(f".//{NFE}det")
        assert 2 <= len(items) <= 4
        groups |= {etree.QName(g).localname for g in root.findall(f".//{NFE}ICMS/*")}
        line_values = sum(Decimal(v.text) for v in root.findall(f".//{NFE}prod/{NFE}vProd"))
        assert Decimal(root.findtext(f".//{NFE}ICMSTot/{NFE}vProd")) == line_values
        discounts = sum(Decimal(v.text) for v in root.findall(f".//{NFE}prod/{NFE}vDesc"))
        assert Decimal(root.findtext(f".//{NFE}ICMSTot/{NFE}vNF")) == line_values - discounts
    assert groups == {"ICMS00", "ICMS20", "ICMS40"}


def test_cancellation_cites_the_nfe_access_key_and_protocol() -> None:
    invoice = invoices(1)[0]
    nfe = etree.fromstring(nfe_xml(invoice, seed=7, size=0))
    event = etree.fromstring(cancellation_xml(invoice, seed=7))
    assert event.findtext(f".//{NFE}evento//{NFE}chNFe") == nfe.findtext(f".//{NFE}chNFe")
    assert event.findtext(f".//{NFE}detEvento/{NFE}nProt") == nfe.findtext(f".//{NFE}nProt")
