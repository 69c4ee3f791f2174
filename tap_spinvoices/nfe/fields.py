"""What the NF-e parser produces, without importing it (nfelib's bindings take 0.2 s to load).

The tap imports this at start-up; ``tap_spinvoices.nfe.parse`` is imported the first time a
document is read, so a run without Invoices API documents never pays for nfelib.
"""

from __future__ import annotations

from typing import Final

NAMESPACE: Final = "http://www.portalfiscal.inf.br/nfe"
# parse_status values.
PARSED: Final = "parsed"
MALFORMED_XML: Final = "malformed_xml"  # not well-formed XML at all
UNKNOWN_DOCUMENT: Final = "unknown_document"  # XML, but not an NF-e nor an NF-e event
UNREADABLE_NFE: Final = "unreadable_nfe"  # an NF-e root the bindings cannot read
# The invoice_documents fields read from an NF-e, in schema order; None when absent.
NFE_FIELDS: Final = (
    "accessKey",
    "mod",
    "serie",
    "nNF",
    "dhEmi",
    "issuedAtUtc",
    "tpNF",
    "natOp",
    "emitCNPJ",
    "emitCPF",
    "emitName",
    "emitUF",
    "destCNPJ",
    "destCPF",
    "destName",
    "destUF",
    "vProd",
    "vDesc",
    "vFrete",
    "vICMS",
    "vST",
    "vIPI",
    "vPIS",
    "vCOFINS",
    "vNF",
    "nProt",
    "cStat",
    "xMotivo",
    "dhRecbto",
)
