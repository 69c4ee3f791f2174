"""NF-e XML as an export document holds it: one schema-valid NF-e per invoice, from the seed.

``nfe_xml`` writes the authorised NF-e 4.00 (``nfeProc``) of an Invoices API invoice and
``cancellation_xml`` the cancellation event of a CANCELED one; both are byte-identical for the
same seed and invoice and validate against the schemas nfelib ships
(tests/emulator/test_invoices_nfe.py). Pure: no I/O.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from spapi_emulator.invoices.data import TaxInvoice

# Brasília time (no daylight saving since 2019): NF-e timestamps carry the -03:00 offset.
_BRT = timezone(timedelta(hours=-3))
# A well-known test CNPJ (valid check digits), not a real company's.
_EMITTER_CNPJ = "12345678000195"
_UF_SAO_PAULO = "35"
_MOD11_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9)
_MOD11_HIGH = 10
_FILLER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789"
# CFOP and natureza da operação per invoiceType; tpNF 0 = entrada, 1 = saída.
_OPERATIONS: dict[str, tuple[str, str, str]] = {
    "CUSTOMER_SALES": ("5102", "Venda de mercadoria adquirida de terceiros", "1"),
    "SYMBOLIC_RETURN": ("1949", "Retorno simbólico de mercadoria", "0"),
    "CUSTOMER_RETURN": ("1202", "Devolução de venda de mercadoria", "0"),
    "SYMBOLIC_REMITTANCE": ("5949", "Remessa simbólica de mercadoria", "1"),
}
NFE_NAMESPACE = "http://www.portalfiscal.inf.br/nfe"
_ICMS_GROUPS = ("ICMS00", "ICMS20", "ICMS40")
# A fixed stand-in for the signer's X.509 certificate (Base64 of no real certificate).
_CERTIFICATE = base64.b64encode(b"spapi-emulator fake certificate " * 24).decode()
# A CANCELED invoice was authorised first; its cancellation is an event (cancellation_xml).
_PROTOCOL: dict[str, tuple[str, str]] = {
    "AUTHORIZED": ("100", "Autorizado o uso da NF-e"),
    "CANCELED": ("100", "Autorizado o uso da NF-e"),
}


def nfe_xml(invoice: TaxInvoice, *, seed: int, size: int) -> bytes:
    """Return a schema-valid NF-e 4.00 ``nfeProc`` XML for an invoice, padded to ``size`` bytes.

    The same (seed, invoice) always gives the same bytes. It validates against the official
    schema nfelib ships (``procNFe_v4.00.xsd``, tests/emulator/test_invoices_nfe.py): 2-4
    items whose ICMS is in one of three groups (ICMS00, ICMS20 with a reduced base, ICMS40
    exempt), PIS and COFINS at the non-cumulative rates, an occasional item discount, totals
    that add up, a (fake) XML signature and the SEFAZ authorisation protocol. ``infCpl`` is
    padded so the file is exactly ``size`` bytes; a file that does not fit is larger (about
    6-8 KB without padding, the signature included), and past 5,000 bytes of padding
    ``infCpl`` exceeds its schema length of 5,000 characters.

    Args:
        invoice: The invoice.
        seed: Dataset seed.
        size: Wanted size in bytes (UTF-8).

    Returns:
        The XML document, UTF-8.

    """
    # Not security relevant: reproducible document contents.
    rng = random.Random(f"{seed}:nfe:{invoice.id}")  # noqa: S311
    local = invoice.date.astimezone(_BRT)
    issued = local.isoformat(timespec="seconds")
    key = access_key(invoice, rng.randrange(10**8))
    cfop, nature, direction = _OPERATIONS.get(invoice.invoice_type, _OPERATIONS["CUSTOMER_SALES"])
    items = [_item(rng, n, cfop) for n in range(1, rng.randrange(2, 5) + 1)]
    protocol = rng.randrange(10**12)
    status, reason = _PROTOCOL.get(
        invoice.status, (invoice.error_code, invoice.gov_response.partition(" - ")[2])
    )
    received = (local + timedelta(seconds=rng.randrange(5, 600))).isoformat(timespec="seconds")
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<nfeProc xmlns="{NFE_NAMESPACE}" versao="4.00">'
        f'<NFe><infNFe Id="NFe{key}" versao="4.00">'
        f"<ide><cUF>{_UF_SAO_PAULO}</cUF><cNF>{key[35:43]}</cNF><natOp>{nature}</natOp>"
        f"<mod>55</mod><serie>{int(key[22:25])}</serie><nNF>{int(key[25:34])}</nNF>"
        f"<dhEmi>{issued}</dhEmi><tpNF>{direction}</tpNF><idDest>1</idDest>"
        f"<cMunFG>3550308</cMunFG><tpImp>1</tpImp><tpEmis>1</tpEmis><cDV>{key[-1]}</cDV>"
        "<tpAmb>1</tpAmb><finNFe>1</finNFe><indFinal>1</indFinal><indPres>2</indPres>"
        "<procEmi>0</procEmi><verProc>spapi-emulator</verProc></ide>"
        f"<emit><CNPJ>{_EMITTER_CNPJ}</CNPJ><xNome>EMULATED MARKETPLACE SELLER LTDA</xNome>"
        "<enderEmit><xLgr>AV EMULADOR</xLgr><nro>100</nro><xBairro>CENTRO</xBairro>"
        "<cMun>3550308</cMun><xMun>SAO PAULO</xMun><UF>SP</UF><CEP>01000000</CEP>"
        "<cPais>1058</cPais><xPais>BRASIL</xPais></enderEmit><IE>111111111111</IE>"
        "<CRT>3</CRT></emit>"
        f"<dest><CPF>{_cpf(rng)}</CPF><xNome>CONSUMIDOR EMULADO {rng.randrange(10**6):06d}"
        "</xNome><enderDest><xLgr>RUA DE TESTE</xLgr>"
        f"<nro>{rng.randrange(1, 9999)}</nro><xBairro>BAIRRO</xBairro><cMun>3550308</cMun>"
        "<xMun>SAO PAULO</xMun><UF>SP</UF><CEP>01001000</CEP><cPais>1058</cPais>"
        "<xPais>BRASIL</xPais></enderDest><indIEDest>9</indIEDest></dest>"
    )
    product = sum(item.gross for item in items)
    discount = sum(item.discount for item in items)
    total = product - discount
    body = (
        head + "".join(item.xml for item in items) + "<total><ICMSTot>"
        f"<vBC>{_money(sum(item.icms_base for item in items))}</vBC>"
        f"<vICMS>{_money(sum(item.icms for item in items))}</vICMS>"
        "<vICMSDeson>0.00</vICMSDeson><vFCP>0.00</vFCP><vBCST>0.00</vBCST><vST>0.00</vST>"
        "<vFCPST>0.00</vFCPST><vFCPSTRet>0.00</vFCPSTRet>"
        f"<vProd>{_money(product)}</vProd><vFrete>0.00</vFrete><vSeg>0.00</vSeg>"
        f"<vDesc>{_money(discount)}</vDesc><vII>0.00</vII><vIPI>0.00</vIPI>"
        f"<vIPIDevol>0.00</vIPIDevol><vPIS>{_money(sum(item.pis for item in items))}</vPIS>"
        f"<vCOFINS>{_money(sum(item.cofins for item in items))}</vCOFINS>"
        f"<vOutro>0.00</vOutro><vNF>{_money(total)}</vNF></ICMSTot></total>"
        "<transp><modFrete>0</modFrete></transp>"
        f"<pag><detPag><tPag>03</tPag><vPag>{_money(total)}</vPag></detPag></pag>"
        "<infAdic><infCpl>"
    )
    tail = (
        "</infCpl></infAdic></infNFe>" + _signature(key, rng) + "</NFe>"
        f'<protNFe versao="4.00"><infProt><tpAmb>1</tpAmb><verAplic>SP_NFE_PL009_V4</verAplic>'
        f"<chNFe>{key}</chNFe><dhRecbto>{received}</dhRecbto>"
        f"<nProt>1{_UF_SAO_PAULO}{protocol:012d}</nProt>"
        f"<cStat>{escape(status)}</cStat><xMotivo>{escape(reason)}</xMotivo>"
        "</infProt></protNFe></nfeProc>"
    )
    fixed = len(body.encode()) + len(tail.encode())
    # infCpl needs at least one character and (TString) no white space at either end; the
    # filler is ASCII, so characters are bytes.
    filler = "".join(rng.choices(_FILLER, k=max(1, size - fixed)))
    filler = "X" + filler[1:-1] + "X" if len(filler) > 1 else "X"
    return (body + filler + tail).encode()


def access_key(invoice: TaxInvoice, code: int) -> str:
    """Return the 44-digit NF-e access key of an invoice (state, month, CNPJ, model, ...)."""
    local = invoice.date.astimezone(_BRT)
    series = int(invoice.series) if invoice.series.isdigit() else 0
    number = int(invoice.external_invoice_id) if invoice.external_invoice_id.isdigit() else 0
    key43 = f"{_UF_SAO_PAULO}{local:%y%m}{_EMITTER_CNPJ}55{series:03d}{number:09d}1{code:08d}"
    return key43 + str(_mod11(key43))


def cancellation_xml(invoice: TaxInvoice, *, seed: int) -> bytes:
    """Return the ``procEventoNFe`` of the cancellation (110111) of a CANCELED invoice.

    Schema-valid against nfelib's ``procEventoCancNFe_v1.00.xsd``: the event cites the
    NF-e's access key and authorisation protocol, SEFAZ registered it (cStat 135).
    """
    rng = random.Random(f"{seed}:nfe:{invoice.id}")  # noqa: S311 - same draws as nfe_xml
    key = access_key(invoice, rng.randrange(10**8))
    moment = invoice.date.astimezone(_BRT) + timedelta(hours=2)
    protocol = random.Random(f"{seed}:cancel:{invoice.id}").randrange(10**12)  # noqa: S311
    authorisation = _authorisation_protocol(invoice, seed=seed)
    event_id = f"ID110111{key}01"
    when = moment.isoformat(timespec="seconds")
    registered = (moment + timedelta(seconds=3)).isoformat(timespec="seconds")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<procEventoNFe xmlns="{NFE_NAMESPACE}" versao="1.00">'
        f'<evento versao="1.00"><infEvento Id="{event_id}"><cOrgao>{_UF_SAO_PAULO}</cOrgao>'
        f"<tpAmb>1</tpAmb><CNPJ>{_EMITTER_CNPJ}</CNPJ><chNFe>{key}</chNFe>"
        f"<dhEvento>{when}</dhEvento><tpEvento>110111</tpEvento><nSeqEvento>1</nSeqEvento>"
        '<verEvento>1.00</verEvento><detEvento versao="1.00"><descEvento>Cancelamento'
        f"</descEvento><nProt>{authorisation}</nProt>"
        "<xJust>Pedido cancelado pelo cliente antes do envio</xJust></detEvento></infEvento>"
        + _signature(event_id, rng)
        + '</evento><retEvento versao="1.00"><infEvento><tpAmb>1</tpAmb>'
        f"<verAplic>SP_EVENTOS_PL_100</verAplic><cOrgao>{_UF_SAO_PAULO}</cOrgao>"
        "<cStat>135</cStat><xMotivo>Evento registrado e vinculado a NF-e</xMotivo>"
        f"<chNFe>{key}</chNFe><tpEvento>110111</tpEvento><xEvento>Cancelamento registrado"
        f"</xEvento><nSeqEvento>1</nSeqEvento><dhRegEvento>{registered}</dhRegEvento>"
        f"<nProt>1{_UF_SAO_PAULO}{protocol:012d}</nProt></infEvento></retEvento>"
        "</procEventoNFe>"
    ).encode()


def _authorisation_protocol(invoice: TaxInvoice, *, seed: int) -> str:
    """Return the nProt nfe_xml writes for an invoice (the same draws, in the same order)."""
    rng = random.Random(f"{seed}:nfe:{invoice.id}")  # noqa: S311
    rng.randrange(10**8)
    cfop = _OPERATIONS.get(invoice.invoice_type, _OPERATIONS["CUSTOMER_SALES"])[0]
    for n in range(1, rng.randrange(2, 5) + 1):
        _item(rng, n, cfop)
    return f"1{_UF_SAO_PAULO}{rng.randrange(10**12):012d}"


def _signature(reference: str, rng: random.Random) -> str:
    """Return an XML-DSig ``Signature`` of the shape the schema requires (not a real one)."""
    digest = base64.b64encode(rng.randbytes(20)).decode()
    value = base64.b64encode(rng.randbytes(256)).decode()
    return (
        '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo>'
        '<CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>'
        '<SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"/>'
        f'<Reference URI="#{reference if reference.startswith("ID") else "NFe" + reference}">'
        "<Transforms>"
        '<Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
        '<Transform Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>'
        '</Transforms><DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>'
        f"<DigestValue>{digest}</DigestValue></Reference></SignedInfo>"
        f"<SignatureValue>{value}</SignatureValue><KeyInfo><X509Data>"
        f"<X509Certificate>{_CERTIFICATE}</X509Certificate></X509Data></KeyInfo></Signature>"
    )


@dataclass(frozen=True, slots=True)
class _Item:
    """One ``det`` element and its amounts in cents."""

    xml: str
    gross: int
    discount: int
    icms_base: int
    icms: int
    pis: int
    cofins: int


def _item(rng: random.Random, n: int, cfop: str) -> _Item:
    """Return item ``n``: its ICMS group, rates and an occasional discount drawn from ``rng``."""
    quantity = rng.randrange(1, 4)
    unit_cents = rng.randrange(990, 99_990)
    gross = quantity * unit_cents
    discount = gross * 5 // 100 if rng.random() < 0.2 else 0  # noqa: PLR2004 - a 5 % coupon
    net = gross - discount
    product = f"B0{rng.randrange(10**8):08d}"
    group = rng.choice(_ICMS_GROUPS)
    if group == "ICMS00":
        base, icms = net, net * 18 // 100
        icms_xml = (
            f"<ICMS00><orig>0</orig><CST>00</CST><modBC>3</modBC><vBC>{_money(base)}</vBC>"
            f"<pICMS>18.00</pICMS><vICMS>{_money(icms)}</vICMS></ICMS00>"
        )
    elif group == "ICMS20":
        base = net * 6667 // 10000  # a third of the base exempt (pRedBC 33.33 %)
        icms = base * 18 // 100
        icms_xml = (
            "<ICMS20><orig>0</orig><CST>20</CST><modBC>3</modBC><pRedBC>33.33</pRedBC>"
            f"<vBC>{_money(base)}</vBC><pICMS>18.00</pICMS><vICMS>{_money(icms)}</vICMS>"
            "</ICMS20>"
        )
    else:
        base = icms = 0
        icms_xml = "<ICMS40><orig>0</orig><CST>40</CST></ICMS40>"
    pis, cofins = net * 165 // 10000, net * 760 // 10000
    discount_xml = f"<vDesc>{_money(discount)}</vDesc>" if discount else ""
    xml = (
        f'<det nItem="{n}"><prod><cProd>{product}</cProd><cEAN>SEM GTIN</cEAN>'
        f"<xProd>PRODUTO EMULADO {product}</xProd><NCM>85176277</NCM><CFOP>{cfop}</CFOP>"
        f"<uCom>UN</uCom><qCom>{quantity}.0000</qCom><vUnCom>{_money(unit_cents)}</vUnCom>"
        f"<vProd>{_money(gross)}</vProd><cEANTrib>SEM GTIN</cEANTrib><uTrib>UN</uTrib>"
        f"<qTrib>{quantity}.0000</qTrib><vUnTrib>{_money(unit_cents)}</vUnTrib>"
        f"{discount_xml}<indTot>1</indTot></prod><imposto><ICMS>{icms_xml}</ICMS>"
        f"<PIS><PISAliq><CST>01</CST><vBC>{_money(net)}</vBC><pPIS>1.6500</pPIS>"
        f"<vPIS>{_money(pis)}</vPIS></PISAliq></PIS>"
        f"<COFINS><COFINSAliq><CST>01</CST><vBC>{_money(net)}</vBC><pCOFINS>7.6000</pCOFINS>"
        f"<vCOFINS>{_money(cofins)}</vCOFINS></COFINSAliq></COFINS></imposto></det>"
    )
    return _Item(xml, gross, discount, base, icms, pis, cofins)


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _mod11(digits: str) -> int:
    """Return the NF-e access-key / CPF style mod-11 check digit of a digit string."""
    total = sum(
        int(d) * _MOD11_WEIGHTS[i % len(_MOD11_WEIGHTS)] for i, d in enumerate(reversed(digits))
    )
    digit = 11 - total % 11
    return 0 if digit >= _MOD11_HIGH else digit


def _cpf(rng: random.Random) -> str:
    """Return a random CPF with valid check digits."""
    base = [rng.randrange(10) for _ in range(9)]
    for _ in range(2):
        weights = range(len(base) + 1, 1, -1)
        digit = 11 - sum(d * w for d, w in zip(base, weights, strict=True)) % 11
        base.append(0 if digit >= _MOD11_HIGH else digit)
    return "".join(map(str, base))
