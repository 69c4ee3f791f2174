"""One XML file of an export document -> the NF-e fields, item lines and events it holds.

Reading is nfelib's: its xsdata bindings are generated from the official SEFAZ schemas
(NF-e 4.00 ``procNFe``/``NFe``, event 1.00 ``procEventoNFe``, cancellation 110111 and
correction letter 110110), so this module only picks fields off the bound objects. The bytes
are parsed once, strictly, by lxml; the root element chooses the binding, which then reads
the tree.

Amounts and quantities are ``decimal.Decimal`` built from the XML text, so ``95700.68``
reaches the target as written (the Singer writers write a Decimal as its exact text).

Nothing here raises on bad input: a file nobody can read gets a ``ParseOutcome`` whose
``status`` says why, and its caller still writes the raw XML.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final

from lxml import etree
from nfelib.nfe.bindings.v4_0.nfe_v4_00 import Nfe
from nfelib.nfe.bindings.v4_0.proc_nfe_v4_00 import NfeProc
from nfelib.nfe_evento_cancel.bindings.v1_0.proc_evento_canc_nfe_v1_00 import (
    ProcEventoNfe as ProcEventoCancelamento,
)
from nfelib.nfe_evento_cce.bindings.v1_0.proc_cce_nfe_v1_00 import (
    ProcEventoNfe as ProcEventoCartaCorrecao,
)
from nfelib.nfe_evento_generico.bindings.v1_0.proc_evento_nfe_v1_00 import ProcEventoNfe
from xsdata.exceptions import ParserError
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.parsers.config import ParserConfig

from tap_spinvoices.nfe.fields import (
    MALFORMED_XML,
    NAMESPACE,
    PARSED,
    UNKNOWN_DOCUMENT,
    UNREADABLE_NFE,
)
from tap_spinvoices.nfe.strict_xml import strict_parser

# Event types (tpEvento) whose detail has its own binding.
CANCELLATION: Final = "110111"
CORRECTION_LETTER: Final = "110110"
_ACCESS_KEY_DIGITS: Final = 44
_ROOTS: Final = {"nfeProc": NfeProc, "NFe": Nfe, "procEventoNFe": ProcEventoNfe}
_EVENT_DETAIL_BINDINGS: Final = {
    CANCELLATION: ProcEventoCancelamento,
    CORRECTION_LETTER: ProcEventoCartaCorrecao,
}
# Unknown elements (a newer schema's additions) are skipped, not fatal.
_PARSER: Final = XmlParser(config=ParserConfig(fail_on_unknown_properties=False))
# The bytes are parsed here, strictly (strict_xml.py), and the bindings walk the tree.
_STRICT_XML: Final = strict_parser()


class NfeReadError(ValueError):
    """An NF-e whose bound object lacks what every NF-e has, or holds a non-decimal amount."""


@dataclass(slots=True)
class ParseOutcome:
    """What one XML file holds.

    Attributes:
        status: ``PARSED`` or why not (``MALFORMED_XML``, ``UNKNOWN_DOCUMENT``,
            ``UNREADABLE_NFE``).
        document_type: The root element's local name (``nfeProc``, ``NFe``,
            ``procEventoNFe``, ...), None when the XML is not well-formed.
        reason: One line on why the file was not read; None when it was.
        invoice: The ``NFE_FIELDS`` of an NF-e (empty for anything else).
        items: One dict per ``det`` of an NF-e.
        events: The event of a ``procEventoNFe``.

    """

    status: str
    document_type: str | None = None
    reason: str | None = None
    invoice: dict[str, Any] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def parse_xml(data: bytes) -> ParseOutcome:
    """Read one XML file of an export document; never raises on bad input.

    Args:
        data: The file's bytes.

    Returns:
        The NF-e fields and items, the event, or the status saying why nothing was read.

    """
    try:
        root = etree.fromstring(data, parser=_STRICT_XML)
    except etree.XMLSyntaxError as exc:
        return ParseOutcome(MALFORMED_XML, reason=_one_line(exc))
    qname = etree.QName(root)
    local, namespace = qname.localname, qname.namespace or ""
    binding = _ROOTS.get(local) if namespace == NAMESPACE else None
    if binding is None:
        return ParseOutcome(
            UNKNOWN_DOCUMENT,
            document_type=local,
            reason=f"root element {{{namespace}}}{local} is not an NF-e nor an NF-e event",
        )
    try:
        bound = _PARSER.parse(root, binding)
        if isinstance(bound, ProcEventoNfe):
            return ParseOutcome(PARSED, document_type=local, events=[_event(bound, data)])
        if isinstance(bound, NfeProc):
            return _nfe(local, bound.NFe, bound.protNFe)
        return _nfe(local, bound, None)
    # What a surprising but well-formed NF-e can raise while its fields are picked.
    except (ParserError, ValueError, TypeError, AttributeError, LookupError) as exc:
        return ParseOutcome(UNREADABLE_NFE, document_type=local, reason=_one_line(exc))


def _nfe(local: str, nfe: Any, protocol: Any) -> ParseOutcome:  # noqa: ANN401 - untyped bindings
    info = nfe.infNFe if nfe is not None else None
    if info is None or info.ide is None:
        raise NfeReadError("no infNFe/ide")
    ide, emit, dest = info.ide, info.emit, info.dest
    totals = info.total.ICMSTot if info.total is not None else None
    answer = protocol.infProt if protocol is not None else None
    invoice: dict[str, Any] = {
        "accessKey": access_key(info.Id),
        "mod": _text(ide.mod),
        "serie": _text(ide.serie),
        "nNF": _text(ide.nNF),
        "dhEmi": _text(ide.dhEmi),
        "issuedAtUtc": utc_instant(_text(ide.dhEmi)),
        "tpNF": _text(ide.tpNF),
        "natOp": _text(ide.natOp),
        "emitCNPJ": _text(getattr(emit, "CNPJ", None)),
        "emitCPF": _text(getattr(emit, "CPF", None)),
        "emitName": _text(getattr(emit, "xNome", None)),
        "emitUF": _text(getattr(getattr(emit, "enderEmit", None), "UF", None)),
        "destCNPJ": _text(getattr(dest, "CNPJ", None)),
        "destCPF": _text(getattr(dest, "CPF", None)),
        "destName": _text(getattr(dest, "xNome", None)),
        "destUF": _text(getattr(getattr(dest, "enderDest", None), "UF", None)),
    }
    for name in ("vProd", "vDesc", "vFrete", "vICMS", "vST", "vIPI", "vPIS", "vCOFINS", "vNF"):
        invoice[name] = amount(getattr(totals, name, None))
    invoice["nProt"] = _text(getattr(answer, "nProt", None))
    invoice["cStat"] = _text(getattr(answer, "cStat", None))
    invoice["xMotivo"] = _text(getattr(answer, "xMotivo", None))
    invoice["dhRecbto"] = _text(getattr(answer, "dhRecbto", None))
    items = [_item(invoice["accessKey"], det) for det in info.det]
    return ParseOutcome(PARSED, document_type=local, invoice=invoice, items=items)


def _item(key: str | None, det: Any) -> dict[str, Any]:  # noqa: ANN401 - untyped bindings
    product, taxes = det.prod, det.imposto
    if product is None or det.nItem is None:
        raise NfeReadError(f"det {det.nItem} has no prod or no nItem")
    item: dict[str, Any] = {
        "accessKey": key,
        "nItem": int(det.nItem),
        "cProd": _text(product.cProd),
        "cEAN": _text(product.cEAN),
        "xProd": _text(product.xProd),
        "NCM": _text(product.NCM),
        "CFOP": _text(product.CFOP),
        "uCom": _text(product.uCom),
        "qCom": amount(product.qCom),
        "vUnCom": amount(product.vUnCom),
        "vProd": amount(product.vProd),
        "vDesc": amount(product.vDesc),
    }
    item.update(_tax("ICMS", getattr(taxes, "ICMS", None)))
    ipi = getattr(taxes, "IPI", None)
    item.update(_tax("IPI", ipi, _chosen(ipi, skip=("cEnq", "CNPJProd", "cSelo", "qSelo"))))
    item.update(_tax("PIS", getattr(taxes, "PIS", None)))
    item.update(_tax("COFINS", getattr(taxes, "COFINS", None)))
    return item


def _tax(
    tax: str,
    group: Any,  # noqa: ANN401 - untyped bindings
    chosen: tuple[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``<tax>Group``, ``<tax>CST``, ``<tax>vBC``, ``p<tax>`` and ``v<tax>`` of an item.

    Every tax is a choice of groups (ICMS00, ICMS20, ICMSSN102, ...; PISAliq, PISNT, ...);
    the group present is the one set field of the bound choice.
    """
    name, value = chosen if chosen is not None else _chosen(group) or (None, None)
    return {
        f"{tax}Group": name,
        f"{tax}CST": _text(getattr(value, "CST", None) or getattr(value, "CSOSN", None)),
        f"{tax}vBC": amount(getattr(value, "vBC", None)),
        f"p{tax}": amount(getattr(value, f"p{tax}", None)),
        f"v{tax}": amount(getattr(value, f"v{tax}", None)),
    }


def _chosen(group: Any, skip: tuple[str, ...] = ()) -> tuple[str, Any] | None:  # noqa: ANN401
    """The (element name, bound value) of the one group set in a choice, or None."""
    if group is None:
        return None
    for choice in fields(group):
        value = getattr(group, choice.name)
        if value is not None and choice.name not in skip:
            return choice.name, value
    return None


def _event(bound: ProcEventoNfe, data: bytes) -> dict[str, Any]:
    event = bound.evento.infEvento if bound.evento is not None else None
    if event is None:
        raise NfeReadError("no evento/infEvento")
    if event.chNFe is None or event.tpEvento is None or event.nSeqEvento is None:
        raise NfeReadError("an event without chNFe, tpEvento or nSeqEvento (its key)")
    answer = bound.retEvento.infEvento if bound.retEvento is not None else None
    kind = _text(event.tpEvento)
    description = reason = None
    detail_binding = _EVENT_DETAIL_BINDINGS.get(kind or "")
    if detail_binding is not None:
        # The generic binding leaves detEvento untyped; the event's own binding reads it
        # (from the bytes: the bindings clear the tree they walk; the bytes are known sound).
        detail = _PARSER.from_bytes(data, detail_binding).evento.infEvento.detEvento
        description = _text(getattr(detail, "descEvento", None))
        reason = _text(getattr(detail, "xJust", None) or getattr(detail, "xCorrecao", None))
    return {
        "accessKey": _text(event.chNFe),
        "tpEvento": kind,
        "nSeqEvento": int(event.nSeqEvento),
        "dhEvento": _text(event.dhEvento),
        "descEvento": description,
        "reason": reason,
        "nProt": _text(getattr(answer, "nProt", None)),
        "cStat": _text(getattr(answer, "cStat", None)),
        "xMotivo": _text(getattr(answer, "xMotivo", None)),
        "dhRegEvento": _text(getattr(answer, "dhRegEvento", None)),
    }


def access_key(identifier: str | None) -> str | None:
    """The 44-digit access key of an ``infNFe/@Id`` (``NFe`` + 44 digits)."""
    if identifier is None:
        return None
    digits = identifier.removeprefix("NFe")
    if len(digits) != _ACCESS_KEY_DIGITS or not digits.isdigit():
        raise NfeReadError(f"infNFe/@Id {identifier!r} is not NFe + 44 digits")
    return digits


def amount(text: str | None) -> decimal.Decimal | None:
    """An NF-e decimal (``TDec_1302``, ``TDec_1104v``, ...) exactly as written, or None."""
    if text is None:
        return None
    try:
        value = decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise NfeReadError(f"{text!r} is not a decimal number") from None
    if not value.is_finite():
        raise NfeReadError(f"{text!r} is not a decimal number")
    return value


def utc_instant(text: str | None) -> str | None:
    """An NF-e ``TDateTimeUTC`` (always with an offset) as a UTC instant ``...Z``."""
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise NfeReadError(f"date-time {text!r} has no UTC offset")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _text(value: Any) -> str | None:  # noqa: ANN401 - any bound leaf
    """Text of a bound leaf: enums by value (``Tmod.VALUE_55`` -> ``"55"``), others as str."""
    if value is None:
        return None
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
