"""tap_spinvoices.nfe.parse: NF-e, events and broken files, over nfelib's own samples."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree as ET

import nfelib
import pytest

from tap_spinvoices.nfe.fields import (
    MALFORMED_XML,
    NFE_FIELDS,
    PARSED,
    UNKNOWN_DOCUMENT,
    UNREADABLE_NFE,
)
from tap_spinvoices.nfe.parse import amount, parse_xml, utc_instant

SAMPLES = Path(nfelib.__file__).parent / "nfe/samples/v4_0/leiauteNFe"
SAMPLE_FILES = sorted(SAMPLES.glob("*.xml"))
NS = "http://www.portalfiscal.inf.br/nfe"
NFE = f"{{{NS}}}"
# vNF 95700.68, three items, ICMS00 with IPI and PIS/COFINS.
RICH_SAMPLE = SAMPLES / "42210775277525000178550030000266631762885493-procNFe.xml"


def test_nfelib_ships_samples_to_read() -> None:
    assert len(SAMPLE_FILES) >= 10


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name[:24])
def test_every_nfelib_sample_parses_with_the_fields_read_from_its_text(path: Path) -> None:
    data = path.read_bytes()
    text = data.decode()
    outcome = parse_xml(data)

    assert (outcome.status, outcome.reason) == (PARSED, None)
    # Independently of the bindings: regular expressions over the text.
    assert outcome.invoice["accessKey"] == re.search(r'Id="(?:NFe)?(\d{44})"', text)[1]  # type: ignore[index]
    assert outcome.invoice["nNF"] == re.search(r"<nNF>(\d+)</nNF>", text)[1]  # type: ignore[index]
    v_nf = re.search(r"<vNF>([\d.]+)</vNF>", text)[1]  # type: ignore[index]
    assert str(outcome.invoice["vNF"]) == v_nf
    assert len(outcome.items) == len(re.findall(r"<det nItem=", text))
    assert [i["nItem"] for i in outcome.items] == [
        int(n) for n in re.findall(r'<det nItem="(\d+)"', text)
    ]
    protocol = re.search(r"<nProt>(\d+)</nProt>", text)
    assert outcome.invoice["nProt"] == (protocol[1] if protocol else None)
    assert set(outcome.invoice) == set(NFE_FIELDS)


def test_rich_sample_amounts_rates_and_tax_groups_are_exact() -> None:
    outcome = parse_xml(RICH_SAMPLE.read_bytes())
    invoice = outcome.invoice
    assert invoice["vNF"] == Decimal("95700.68")
    assert str(invoice["vNF"]) == "95700.68"
    assert (invoice["mod"], invoice["serie"], invoice["tpNF"]) == ("55", "3", "0")
    assert invoice["dhEmi"] == "2021-07-22T15:05:23-03:00"
    assert invoice["issuedAtUtc"] == "2021-07-22T18:05:23Z"
    assert invoice["emitCNPJ"] == "75277525000178"
    assert invoice["cStat"] == "100"
    first = outcome.items[0]
    assert (first["ICMSGroup"], first["ICMSCST"]) == ("ICMS00", "00")
    assert str(first["pICMS"]) == "17.0000"  # trailing zeros as written
    assert (first["vICMS"], first["IPIGroup"], first["vIPI"]) == (
        Decimal("7695.11"),
        "IPITrib",
        Decimal("4526.53"),
    )
    assert (first["PISGroup"], first["pPIS"], first["vPIS"]) == (
        "PISAliq",
        Decimal("2.1000"),
        Decimal("819.46"),
    )
    assert first["COFINSGroup"] == "COFINSAliq"


def test_simples_nacional_item_reads_its_csosn() -> None:
    sample = SAMPLES / "41170706117473000150550010000463202612756525-procNFe.xml"
    item = parse_xml(sample.read_bytes()).items[0]
    assert item["ICMSGroup"] == "ICMSSN101"
    assert (
        item["ICMSCST"]
        == re.search(  # type: ignore[index]
            r"<CSOSN>(\d+)</CSOSN>", sample.read_text()
        )[1]
    )


def test_bare_nfe_without_protocol_is_read_too() -> None:
    ET.register_namespace("", NS)
    root = ET.fromstring(RICH_SAMPLE.read_bytes())  # noqa: S314 - nfelib's sample
    bare = root.find(f"{NFE}NFe")
    assert bare is not None
    outcome = parse_xml(ET.tostring(bare))
    assert (outcome.status, outcome.document_type) == (PARSED, "NFe")
    assert outcome.invoice["vNF"] == Decimal("95700.68")
    assert outcome.invoice["nProt"] is None
    assert len(outcome.items) == 3


EVENT = """<?xml version="1.0" encoding="UTF-8"?>
<procEventoNFe xmlns="http://www.portalfiscal.inf.br/nfe" versao="1.00">
<evento versao="1.00"><infEvento Id="ID{kind}{key}01"><cOrgao>35</cOrgao><tpAmb>1</tpAmb>
<CNPJ>12345678000195</CNPJ><chNFe>{key}</chNFe><dhEvento>2024-01-02T10:00:00-03:00</dhEvento>
<tpEvento>{kind}</tpEvento><nSeqEvento>{seq}</nSeqEvento><verEvento>1.00</verEvento>
<detEvento versao="1.00">{detail}</detEvento></infEvento></evento>
<retEvento versao="1.00"><infEvento><tpAmb>1</tpAmb><verAplic>X</verAplic><cOrgao>35</cOrgao>
<cStat>135</cStat><xMotivo>Evento registrado e vinculado a NF-e</xMotivo><chNFe>{key}</chNFe>
<tpEvento>{kind}</tpEvento><nSeqEvento>{seq}</nSeqEvento>
<dhRegEvento>2024-01-02T10:00:03-03:00</dhRegEvento><nProt>135240000000001</nProt>
</infEvento></retEvento></procEventoNFe>"""
KEY = "35240112345678000195550010001000011946748465"


@pytest.mark.parametrize(
    ("kind", "seq", "detail", "description", "reason"),
    [
        pytest.param(
            "110111",
            1,
            "<descEvento>Cancelamento</descEvento><nProt>135000000000001</nProt>"
            "<xJust>Pedido cancelado pelo cliente</xJust>",
            "Cancelamento",
            "Pedido cancelado pelo cliente",
            id="cancellation",
        ),
        pytest.param(
            "110110",
            2,
            "<descEvento>Carta de Correcao</descEvento>"
            "<xCorrecao>Endereco de entrega: Rua B, 20</xCorrecao><xCondUso>"
            "A Carta de Correcao e disciplinada pelo paragrafo 1o-A do art. 7o do Convenio S/N,"
            " de 15 de dezembro de 1970 e pode ser utilizada para regularizacao de erro ocorrido"
            " na emissao de documento fiscal, desde que o erro nao esteja relacionado com: I -"
            " as variaveis que determinam o valor do imposto tais como: base de calculo,"
            " aliquota, diferenca de preco, quantidade, valor da operacao ou da prestacao; II -"
            " a correcao de dados cadastrais que implique mudanca do remetente ou do"
            " destinatario; III - a data de emissao ou de saida.</xCondUso>",
            "Carta de Correcao",
            "Endereco de entrega: Rua B, 20",
            id="correction-letter",
        ),
        pytest.param(
            "210200",
            1,
            "<descEvento>Confirmacao da Operacao</descEvento>",
            None,
            None,
            id="other-event-type",
        ),
    ],
)
def test_events_are_read_with_their_type_sequence_protocol_and_reason(
    kind: str, seq: int, detail: str, description: str | None, reason: str | None
) -> None:
    xml = EVENT.format(kind=kind, key=KEY, seq=seq, detail=detail).encode()
    outcome = parse_xml(xml)
    assert (outcome.status, outcome.document_type, outcome.items) == (
        PARSED,
        "procEventoNFe",
        [],
    )
    (event,) = outcome.events
    assert event == {
        "accessKey": KEY,
        "tpEvento": kind,
        "nSeqEvento": seq,
        "dhEvento": "2024-01-02T10:00:00-03:00",
        "descEvento": description,
        "reason": reason,
        "nProt": "135240000000001",
        "cStat": "135",
        "xMotivo": "Evento registrado e vinculado a NF-e",
        "dhRegEvento": "2024-01-02T10:00:03-03:00",
    }


RICH = RICH_SAMPLE.read_bytes()
CANCELLATION = EVENT.format(
    kind="110111",
    key=KEY,
    seq=1,
    detail="<descEvento>Cancelamento</descEvento><nProt>1</nProt><xJust>Pedido cancelado</xJust>",
).encode()


@pytest.mark.parametrize(
    ("data", "status", "document_type", "reason"),
    [
        pytest.param(b"", MALFORMED_XML, None, "XMLSyntaxError", id="empty"),
        pytest.param(b"PK\x03\x04 not xml", MALFORMED_XML, None, "XMLSyntaxError", id="not-xml"),
        pytest.param(RICH[: len(RICH) // 2], MALFORMED_XML, None, "XMLSyntaxError", id="cut-short"),
        pytest.param(
            b'<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>',
            UNKNOWN_DOCUMENT,
            "a",
            "not an NF-e",
            id="external-entity-not-read",
        ),
        pytest.param(
            b"<html><body>oops</body></html>", UNKNOWN_DOCUMENT, "html", "html", id="html"
        ),
        pytest.param(b"<nfeProc/>", UNKNOWN_DOCUMENT, "nfeProc", "{}nfeProc", id="no-namespace"),
        pytest.param(
            f'<NFe xmlns="{NS}"/>'.encode(), UNREADABLE_NFE, "NFe", "no infNFe", id="empty-nfe"
        ),
        pytest.param(
            RICH.replace(b'Id="NFe42210775', b'Id="NFeXX210775'),
            UNREADABLE_NFE,
            "nfeProc",
            "is not NFe + 44 digits",
            id="bad-access-key",
        ),
        pytest.param(
            RICH.replace(b"<vNF>95700.68</vNF>", b"<vNF>95.700,68</vNF>"),
            UNREADABLE_NFE,
            "nfeProc",
            "is not a decimal number",
            id="comma-decimal",
        ),
        pytest.param(
            CANCELLATION.replace(b"<nSeqEvento>1</nSeqEvento>", b"", 1),
            UNREADABLE_NFE,
            "procEventoNFe",
            "an event without chNFe, tpEvento or nSeqEvento",
            id="event-without-its-key",
        ),
        pytest.param(
            RICH.replace(b'<det nItem="1">', b"<det>"),
            UNREADABLE_NFE,
            "nfeProc",
            "no nItem",
            id="item-without-number",
        ),
        pytest.param(
            RICH.replace(b"<dhEmi>2021-07-22T15:05:23-03:00", b"<dhEmi>22/07/2021"),
            UNREADABLE_NFE,
            "nfeProc",
            "Invalid isoformat",
            id="bad-date",
        ),
    ],
)
def test_files_that_cannot_be_read_say_why_and_never_raise(
    data: bytes, status: str, document_type: str | None, reason: str
) -> None:
    outcome = parse_xml(data)
    assert (outcome.status, outcome.document_type) == (status, document_type)
    assert outcome.reason is not None
    assert reason in outcome.reason
    assert "\n" not in outcome.reason
    assert (outcome.invoice, outcome.items, outcome.events) == ({}, [], [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("95700.68", "95700.68"),
        ("17.0000", "17.0000"),
        ("0.00", "0.00"),
        ("23942.1312000000", "23942.1312000000"),
        (None, None),
    ],
)
def test_amounts_keep_their_written_digits(text: str | None, expected: str | None) -> None:
    value = amount(text)
    assert (None if value is None else str(value)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-07-22T15:05:23-03:00", "2021-07-22T18:05:23Z"),
        ("2024-01-01T23:30:00-03:00", "2024-01-02T02:30:00Z"),
        ("2024-01-01T10:00:00+00:00", "2024-01-01T10:00:00Z"),
        (None, None),
    ],
)
def test_issue_time_in_utc(text: str | None, expected: str | None) -> None:
    assert utc_instant(text) == expected
