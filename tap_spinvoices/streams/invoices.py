"""invoices: Brazilian FBA invoices found by getInvoices, by date."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from typing_extensions import override

from tap_spinvoices.spapi.operations import GET_INVOICES
from tap_spinvoices.streams import invoices_api
from tap_spinvoices.streams.invoices_api import BrazilInvoicesApiStream
from tap_spinvoices.streams.schemas import load_schema

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from singer_sdk.helpers.types import Context

    from tap_spinvoices.spapi.client import SpApiClient
    from tap_spinvoices.sync.windows import Window


class InvoicesStream(BrazilInvoicesApiStream):
    """Brazilian FBA invoices found by getInvoices (Invoices API 2024-06-19, NA), by date."""

    name = "invoices"
    primary_keys: ClassVar[list[str]] = ["id"]
    schema = load_schema("invoices")
    operation = GET_INVOICES.name

    @override
    def window_pages(
        self, client: SpApiClient, window: Window, context: Context | None
    ) -> AsyncIterator[tuple[list[dict[str, Any]], int]]:
        """Pages of getInvoices for one window, oldest first."""
        return invoices_api.invoices_window_pages(
            client,
            window,
            marketplace=(context or {})["marketplaceId"],
            filters=self.run.settings.invoice_filters,
            forms=self.follow_up_forms,
        )
