"""The tap's streams: what each one asks Amazon for; the walking is in windowed.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from tap_spinvoices import customer_invoices
from tap_spinvoices.windowed import WindowedStream, load_schema

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from singer_sdk.helpers.types import Context

    from tap_spinvoices.client import SpApiClient
    from tap_spinvoices.windows import Window


class CustomerInvoicesStream(WindowedStream):
    """Customer invoices (Base64 PDF) of Direct Fulfillment purchase orders (India, EU).

    SP-API getCustomerInvoices, one request chain per window of at most 7 days, with an RDT.
    """

    name = "customer_invoices"
    primary_keys: ClassVar[list[str]] = ["purchaseOrderNumber"]
    schema = load_schema("customer_invoices")
    default_region = "eu"
    operation = customer_invoices.OPERATION

    @property
    def partitions(self) -> list[dict[str, Any]] | None:
        """One partition (and bookmark) per configured ship-from party; none: all parties."""
        # Read raw: partitions are listed at discovery too, before settings are checked.
        parties = self.config.get("ship_from_party_ids") or []
        return [{"ship_from_party_id": party} for party in parties] or None

    def window_pages(
        self, client: SpApiClient, window: Window, context: Context | None
    ) -> AsyncIterator[tuple[list[dict[str, Any]], int]]:
        """Pages of getCustomerInvoices for one window and party."""
        party = (context or {}).get("ship_from_party_id")
        return customer_invoices.window_pages(
            client,
            window,
            party=party,
            api_version=self.spinvoices.settings.df_api_version,
        )
