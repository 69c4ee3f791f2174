"""NF-e read from the export documents: parsed fields, items, events, broken files and bodies.

Expectations are read from the emulator's XML with the standard library, independently of
nfelib; amounts are compared as the JSON text the tap wrote (parsed as Decimal), so a value
that went through a binary float would fail.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import PurePosixPath
from xml.etree import ElementTree as ET

from tests.conftest import config_for
from tests.integration.test_invoices_api import END, INVOICES_EMULATOR, START, api, listed_exports
from tests.singer_run import run_tap

NFE = "{http://www.portalfiscal.inf.br/nfe}"
NFE_STREAMS = ("invoice_exports", "invoice_documents", "invoice_items", "invoice_events")


def exact_records(run, stream):
    """The stream's records with every JSON number read as the Decimal of its text."""
    records = []
    for line in run.raw_stdout.splitlines():
        message = json.loads(line, parse_float=Decimal)
        if message["type"] == "RECORD" and message["stream"] == stream:
            records.append(message["record"])
    return records


def done_files(emu):
    """(document id, file name, bytes) of every file of every DONE export's documents."""
    return [
        (document_id, name, data)
        for view in listed_exports(emu)
        if view.status == "DONE"
        for document_id in view.document_ids
        for name, _, data in api(emu).document_files(document_id)
    ]


def test_every_nfe_of_every_done_export_appears_with_its_fields_items_and_events(
    emulator_factory,
):
    emu = emulator_factory(**INVOICES_EMULATOR)
    run = run_tap(config_for(emu).with_range(START, END).build(), streams=NFE_STREAMS)

    assert run.returncode == 0, run.stderr
    files = done_files(emu)
    documents = {
        PurePosixPath(name).stem: r
        for r in exact_records(run, "invoice_documents")
        for name in [r["file_name"]]
    }
    assert set(documents) == {PurePosixPath(name).stem for _, name, _ in files}
    items = exact_records(run, "invoice_items")
    events = exact_records(run, "invoice_events")
    nfe_count = event_count = 0
    for document_id, name, data in files:
        record = documents[PurePosixPath(name).stem]
        assert record["invoicesDocumentId"] == document_id
        assert record["parse_status"] == "parsed"
        root = ET.fromstring(data)  # noqa: S314 - the emulator's own document
        if root.tag == f"{NFE}procEventoNFe":
            event_count += 1
            key = root.findtext(f"{NFE}evento/{NFE}infEvento/{NFE}chNFe")
            (event,) = [e for e in events if e["accessKey"] == key]
            assert (event["tpEvento"], event["nSeqEvento"]) == ("110111", 1)
            assert event["reason"] == root.findtext(f".//{NFE}detEvento/{NFE}xJust")
            assert event["nProt"] == root.findtext(f"{NFE}retEvento/{NFE}infEvento/{NFE}nProt")
            assert event["invoiceId"] == record["invoiceId"]
            continue
        nfe_count += 1
        info = root.find(f"{NFE}NFe/{NFE}infNFe")
        assert info is not None
        key = info.get("Id", "").removeprefix("NFe")
        assert record["accessKey"] == key
        assert record["nNF"] == info.findtext(f"{NFE}ide/{NFE}nNF")
        assert record["serie"] == info.findtext(f"{NFE}ide/{NFE}serie")
        assert record["dhEmi"] == info.findtext(f"{NFE}ide/{NFE}dhEmi")
        assert record["emitCNPJ"] == info.findtext(f"{NFE}emit/{NFE}CNPJ")
        assert record["destCPF"] == info.findtext(f"{NFE}dest/{NFE}CPF")
        assert record["nProt"] == root.findtext(f".//{NFE}infProt/{NFE}nProt")
        for total in ("vProd", "vDesc", "vICMS", "vPIS", "vCOFINS", "vNF"):
            written = info.findtext(f"{NFE}total/{NFE}ICMSTot/{NFE}{total}")
            assert str(record[total]) == written, (total, record[total], written)
        lines = info.findall(f"{NFE}det")
        own = sorted((i for i in items if i["accessKey"] == key), key=lambda i: i["nItem"])
        assert [i["nItem"] for i in own] == [int(d.get("nItem", "0")) for d in lines]
        for item, det in zip(own, lines, strict=True):
            assert str(item["vProd"]) == det.findtext(f"{NFE}prod/{NFE}vProd")
            assert str(item["qCom"]) == det.findtext(f"{NFE}prod/{NFE}qCom")
            group = det.find(f"{NFE}imposto/{NFE}ICMS/*")
            assert group is not None
            assert item["ICMSGroup"] == group.tag.removeprefix(NFE)
            assert str(item["vPIS"]) == det.findtext(f".//{NFE}PISAliq/{NFE}vPIS")
    assert nfe_count > 0
    assert event_count > 0, "the dataset holds CANCELED invoices, each with its event"
    assert len(events) == event_count
    assert len(items) == sum(
        len(ET.fromstring(data).findall(f".//{NFE}det"))  # noqa: S314
        for _, _, data in files
    )


def test_broken_nfe_file_keeps_its_raw_record_with_a_parse_status_and_one_warning(
    emulator_factory,
):
    emu = emulator_factory(**INVOICES_EMULATOR, nfe_malformed_rate=0.2)
    run = run_tap(config_for(emu).with_range(START, END).build(), streams=NFE_STREAMS)

    assert run.returncode == 0, run.stderr
    broken = {
        (document_id, name): data
        for document_id, name, data in done_files(emu)
        if name.endswith(".xml")
        and "-" in name
        and not name.endswith("-procEventoNFe.xml")
        and api(emu).nfe_malformed(api(emu).invoice(PurePosixPath(name).stem))
    }
    assert broken, "a fifth of the NF-e files are cut short"
    records = {r["file_name"]: r for r in run.records("invoice_documents")}
    warnings = [line for line in run.stderr.splitlines() if "NF-e not read" in line]
    assert len(warnings) == len(broken)
    for (document_id, name), data in broken.items():
        record = records[name]
        assert record["parse_status"] == "malformed_xml"
        assert record["parse_error"]
        assert record["accessKey"] is None
        assert record["xml"] == data.decode()
        (warning,) = [w for w in warnings if name in w]
        assert "WARNING" in warning
        assert document_id in warning
        assert record["exportId"] in warning
    parsed = [r for r in records.values() if r["parse_status"] == "parsed"]
    assert parsed
    assert run.records("invoice_items")


def test_document_served_as_one_bare_xml_becomes_one_record_named_by_its_url(emulator_factory):
    emu = emulator_factory(**INVOICES_EMULATOR, document_body="xml", invoices_per_document=1)
    run = run_tap(config_for(emu).with_range(START, END).build(), streams=NFE_STREAMS)

    assert run.returncode == 0, run.stderr
    expected = {
        document_id: api(emu).nfe_xml(api(emu).document_invoices(document_id)[0])
        for view in listed_exports(emu)
        if view.status == "DONE"
        for document_id in view.document_ids
    }
    records = run.records("invoice_documents")
    assert {r["invoicesDocumentId"] for r in records} == set(expected)
    for record in records:
        document_id = record["invoicesDocumentId"]
        # The pre-signed URL's path ends in <document id>.xml, as in the static sandbox.
        assert record["file_name"] == f"{document_id}.xml"
        assert record["invoiceId"] == document_id
        assert record["xml"] == expected[document_id].decode()
        assert record["parse_status"] == "parsed"
    assert len(run.records("invoice_items")) >= 2 * len(records)


# A document cut short on every download (document_body broken), and every other document
# that cannot be read: tests/integration/test_hostile_documents.py.
