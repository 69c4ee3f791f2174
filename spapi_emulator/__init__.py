"""Local SP-API emulator: the real service's routes, limits and faults on 127.0.0.1.

Serves Login with Amazon (``POST /auth/o2/token``), the Tokens API
(``POST /tokens/2021-03-01/restrictedDataToken``), Vendor Direct Fulfillment Shipping
getCustomerInvoices (v1 and 2021-12-28) and the Invoices API 2024-06-19 (Brazil NF-e invoices,
exports, and their ZIP documents behind pre-signed ``/_s3/...`` URLs) from datasets that are a
pure function of a seed, so tests can compute exactly what a sync must return. Usage plans
answer 429 like the real token buckets; faults (5xx, resets, slow and malformed answers) are
opt-in and can be changed while the server runs.

Typical use::

    from spapi_emulator import EmulatorConfig, EmulatorServer

    with EmulatorServer(EmulatorConfig(days=14)) as emu:
        expected = emu.dataset.invoices(after, before)
        nfe = emu.invoices_api.invoices(date_start, date_end)  # Invoices API
        run_the_tap(api_url=emu.url, lwa_url=emu.url + "/auth/o2/token")

Command line: ``python -m spapi_emulator --port 8080`` (see ``--help``).
"""

from importlib.metadata import version

from spapi_emulator.app import create_app
from spapi_emulator.config import (
    DEFAULT_RATE_LIMITS,
    EmulatorConfig,
    SellingPartner,
    numbered_partners,
)
from spapi_emulator.direct_fulfillment.dataset import Dataset, Invoice
from spapi_emulator.server import EmulatorServer
from spapi_emulator.state import EmulatorState

# The emulator ships with the project (not in its wheel): one version, pyproject.toml's.
__version__ = version("tap-spinvoices")

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "Dataset",
    "EmulatorConfig",
    "EmulatorServer",
    "EmulatorState",
    "Invoice",
    "SellingPartner",
    "__version__",
    "create_app",
    "numbered_partners",
]
