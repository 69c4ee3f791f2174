"""Invoices API 2024-06-19 (Brazil NF-e): data, NF-e XML, exports, downloads, search, sandbox."""
