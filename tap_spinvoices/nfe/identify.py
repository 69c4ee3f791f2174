"""What an NF-e file is called in the archive: its access key and the day it was issued.

The archive names each XML file on the I/O thread, before its record exists, so it cannot
wait for nfelib (nfe/parse.py, about 2 ms a file on the SDK's thread). lxml alone reads the
few values a name needs, strictly (strict_xml.py), in about 75 us a file:

- an NF-e (``nfeProc`` or a bare ``NFe``): the 44 digits of ``infNFe/@Id`` and the day of
  ``ide/dhEmi``;
- an event (``procEventoNFe``): ``<chNFe>-<tpEvento>-<nSeqEvento>`` of ``evento/infEvento``
  (the NF-e's access key first, so one key finds the NF-e and its events) and the day of
  ``dhEvento``.

The day is the calendar day as written, in the issuer's own offset (Brasilia time), as the
DANFE prints it and as the key's AAMM digits count it; not the UTC day.

Anything else (not well-formed, another root, a key that is not 44 digits, a day that is no
date) is None, or a day of None, and the caller names the file otherwise. Pure, no I/O:
tests/unit/test_nfe_identify.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Final

from lxml import etree

from tap_spinvoices.nfe.fields import NAMESPACE
from tap_spinvoices.nfe.strict_xml import strict_parser

if TYPE_CHECKING:
    from lxml.etree import _Element

_NS: Final = f"{{{NAMESPACE}}}"
_ACCESS_KEY: Final = re.compile(r"[0-9]{44}")
_EVENT_TYPE: Final = re.compile(r"[0-9]{6}")
_EVENT_SEQUENCE: Final = re.compile(r"[0-9]{1,2}")
# An NF-e is from 2006 on; a year outside four digits would not make a YYYY folder.
_FIRST_YEAR: Final = 2000
_PARSER: Final = strict_parser()


@dataclass(frozen=True)
class NfeIdentity:
    """What names an NF-e or event file: its business id and its day (None: none readable)."""

    business_id: str
    day: date | None


def identify(data: bytes) -> NfeIdentity | None:
    """The identity of an NF-e or NF-e event file; None for anything else. Never raises."""
    try:
        root = etree.fromstring(data, parser=_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None
    if root.tag == f"{_NS}nfeProc":
        return _nfe(root.find(f"{_NS}NFe/{_NS}infNFe"))
    if root.tag == f"{_NS}NFe":
        return _nfe(root.find(f"{_NS}infNFe"))
    if root.tag == f"{_NS}procEventoNFe":
        return _event(root.find(f"{_NS}evento/{_NS}infEvento"))
    return None


def _nfe(info: _Element | None) -> NfeIdentity | None:
    if info is None:
        return None
    key = (info.get("Id") or "").removeprefix("NFe")
    if not _ACCESS_KEY.fullmatch(key):
        return None
    return NfeIdentity(key, issue_day(info.findtext(f"{_NS}ide/{_NS}dhEmi")))


def _event(info: _Element | None) -> NfeIdentity | None:
    if info is None:
        return None
    key = _text(info, "chNFe")
    kind = _text(info, "tpEvento")
    sequence = _text(info, "nSeqEvento")
    if not (
        _ACCESS_KEY.fullmatch(key)
        and _EVENT_TYPE.fullmatch(kind)
        and _EVENT_SEQUENCE.fullmatch(sequence)
    ):
        return None
    return NfeIdentity(f"{key}-{kind}-{sequence}", issue_day(_text(info, "dhEvento")))


def _text(info: _Element, name: str) -> str:
    return (info.findtext(f"{_NS}{name}") or "").strip()


def issue_day(text: str | None) -> date | None:
    """The calendar day of an NF-e date-time as written (its own offset); None if not one.

    >>> issue_day("2023-12-31T21:00:10-03:00")
    datetime.date(2023, 12, 31)
    """
    if not text:
        return None
    try:
        day = datetime.fromisoformat(text.strip()).date()
    except ValueError:
        return None
    return day if day.year >= _FIRST_YEAR else None
