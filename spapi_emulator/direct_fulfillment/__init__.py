"""Vendor Direct Fulfillment Shipping: getCustomerInvoices and its dataset."""
