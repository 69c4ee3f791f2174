"""The real SP-API and LWA paths the emulator serves, as the models spell them."""

from __future__ import annotations

# Login with Amazon token endpoint (api.amazon.com in production).
LWA_TOKEN_PATH = "/auth/o2/token"  # noqa: S105 - a path
# Tokens API 2021-03-01, createRestrictedDataToken.
RESTRICTED_DATA_TOKEN_PATH = "/tokens/2021-03-01/restrictedDataToken"  # noqa: S105 - a path
# Vendor Direct Fulfillment Shipping getCustomerInvoices, by API version.
DF_V1 = "v1"
DF_2021_12_28 = "2021-12-28"
CUSTOMER_INVOICES_PATHS: dict[str, str] = {
    version: f"/vendor/directFulfillment/shipping/{version}/customerInvoices"
    for version in (DF_V1, DF_2021_12_28)
}
# Paths an RDT can be minted for here (the Tokens API guide's restricted operations we serve).
RESTRICTED_PATHS: frozenset[str] = frozenset(CUSTOMER_INVOICES_PATHS.values())
# Emulator-only introspection, outside every SP-API path.
STATS_PATH = "/_emulator/stats"
# Invoices API 2024-06-19 (InvoicesApiModel_2024-06-19.json).
INVOICES_API = "/tax/invoices/2024-06-19"
INVOICES_ATTRIBUTES_PATH = f"{INVOICES_API}/attributes"
INVOICES_PATH = f"{INVOICES_API}/invoices"
INVOICE_PATH = f"{INVOICES_PATH}/{{invoiceId}}"
INVOICES_EXPORTS_PATH = f"{INVOICES_API}/exports"
INVOICES_EXPORT_PATH = f"{INVOICES_EXPORTS_PATH}/{{exportId}}"
INVOICES_DOCUMENTS_PATH = f"{INVOICES_API}/documents"
INVOICES_DOCUMENT_PATH = f"{INVOICES_DOCUMENTS_PATH}/{{invoicesDocumentId}}"
# Emulator-only stand-in for the S3 bucket behind getInvoicesDocument's pre-signed URLs.
S3_DOCUMENTS_PATH = "/_s3/invoices-documents"
