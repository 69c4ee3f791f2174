"""The tap's streams, one module per SP-API family: requests, pages, records, stream class."""

from tap_spinvoices.streams.customer_invoices import CustomerInvoicesStream
from tap_spinvoices.streams.invoice_documents import InvoiceDocumentsStream
from tap_spinvoices.streams.invoice_exports import InvoiceExportsStream
from tap_spinvoices.streams.invoices import InvoicesStream
from tap_spinvoices.streams.nfe_children import InvoiceEventsStream, InvoiceItemsStream

__all__ = [
    "CustomerInvoicesStream",
    "InvoiceDocumentsStream",
    "InvoiceEventsStream",
    "InvoiceExportsStream",
    "InvoiceItemsStream",
    "InvoicesStream",
]
