"""Amazon over HTTP: the operations table, LWA and RDT, rate budgets, retries, the JSON client.

Nothing of Singer, of the settings or of the layers above is imported here
(tests/unit/test_spapi_layer.py).
"""
