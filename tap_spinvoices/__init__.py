"""Singer tap for Amazon Selling Partner API invoices."""
