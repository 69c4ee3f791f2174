"""The one way the tap reads an XML file from outside: strictly, no entities, DTDs or network.

lxml only (nfelib's bindings are not loaded here). Each user holds a parser of its own: the
archive names files on the I/O thread (nfe/identify.py), the parser reads their fields on
the SDK's (nfe/parse.py), and lxml serialises the users of one parser instance.
"""

from __future__ import annotations

from lxml import etree


def strict_parser() -> etree.XMLParser:
    """A parser that refuses what is not well-formed and resolves nothing.

    xsdata's own lxml path parses with recover=True, which would read a truncated NF-e as a
    shorter valid one; this parser refuses it. No entities, DTDs or network: the files come
    from outside.
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
    )
