"""Invoices API 2024-06-19 (Brazil NF-e): data, exports, documents, search, sandbox."""
