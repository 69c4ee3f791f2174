"""What many accounts must have loaded, and what they did load (customer_invoices by key)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg

from tap_spinvoices.isotime import parse_datetime

if TYPE_CHECKING:
    from collections.abc import Mapping

    from spapi_emulator import EmulatorServer
    from tests.e2e.pgserver import PostgresServer


def loaded(server: PostgresServer, schema: str) -> dict[tuple[str, str], tuple[str, Any]]:
    """(purchaseOrderNumber, account_id) -> (content, _sdc_extracted_at) of every row."""
    columns = '"purchaseOrderNumber", account_id, content, _sdc_extracted_at'
    query = f"SELECT {columns} FROM {schema}.customer_invoices"  # noqa: S608 - constants
    with psycopg.connect(server.conninfo) as conn:
        rows = conn.execute(query).fetchall()
    found = {(po, account): (content, extracted) for po, account, content, extracted in rows}
    assert len(found) == len(rows), "a (purchaseOrderNumber, account_id) key loaded twice"
    return found


def expected(
    emulator: EmulatorServer, partners: Mapping[str, str], start: str, end: str
) -> dict[tuple[str, str], str]:
    """(purchaseOrderNumber, account_id) -> content that every account's sync must load.

    ``partners`` maps each account_id to the emulator's selling partner it runs as.
    """
    result: dict[tuple[str, str], str] = {}
    for account, partner in partners.items():
        dataset = emulator.dataset_of(partner)
        for invoice in dataset.invoices(parse_datetime(start), parse_datetime(end)):
            po = invoice.purchase_order_number
            result[(po, account)] = dataset.content(po)
    return result


def contents(rows: Mapping[tuple[str, str], tuple[str, Any]]) -> dict[tuple[str, str], str]:
    """The loaded rows' contents by key (for comparing with ``expected``)."""
    return {key: content for key, (content, _) in rows.items()}


def touched(
    before: Mapping[tuple[str, str], tuple[str, Any]],
    after: Mapping[tuple[str, str], tuple[str, Any]],
) -> set[tuple[str, str]]:
    """Keys a later run wrote: new, or loaded again (a new _sdc_extracted_at)."""
    return {key for key, (_, at) in after.items() if before.get(key, (None, None))[1] != at}
