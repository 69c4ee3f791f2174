"""singer-sdk's standard tap tests against the emulator, plus a recursive final-STATE check.

The SDK builds the tap while pytest collects this module, so the emulator starts at import
(``session_emulator``) and ``conftest.pytest_sessionfinish`` stops it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_spinvoices.tap import TapSpinvoices
from tests.builders import ConfigBuilder
from tests.e2e.session_emulator import session_emulator
from tests.state_checks import find_key

if TYPE_CHECKING:
    from singer_sdk.testing.runners import TapTestRunner

PARTIES = ("WH-BLR-1", "WH-DEL-2")
END = "2024-01-08T00:00:00+00:00"
CONFIG = (
    ConfigBuilder(session_emulator().url)
    .with_range("2024-01-01T00:00:00Z", END)
    .with_parties(*PARTIES)
    .build()
)

_StandardTests = get_tap_test_class(
    TapSpinvoices,
    config=CONFIG,
    # A whole sync (7 days, 336 invoices), so the final STATE is the real end of a run.
    suite_config=SuiteConfig(max_records_limit=None),
    # Hermetic: no TAP_SPINVOICES_* variables or .env from the developer's shell.
    parse_env_config=False,
)


class TestTapSpinvoices(_StandardTests):  # type: ignore[misc,valid-type]
    """The SDK's tap, stream and attribute tests, and ours on the same sync."""

    def test_final_state_has_no_progress_markers_anywhere(self, runner: TapTestRunner) -> None:
        # The SDK's test_tap_valid_final_state only looks at the message's top level.
        final = runner.state_messages[-1]["value"]
        assert not find_key(final, "progress_markers"), final
        assert not find_key(final, "replication_key_signpost"), final
        partitions = final["bookmarks"]["customer_invoices"]["partitions"]
        assert {
            p["context"]["ship_from_party_id"]: p["replication_key_value"] for p in partitions
        } == dict.fromkeys(PARTIES, END)

    def test_sync_returned_every_invoice_once(self, runner: TapTestRunner) -> None:
        records = runner.records["customer_invoices"]
        numbers = [r["purchaseOrderNumber"] for r in records]
        assert len(numbers) == len(set(numbers)) == 7 * 24 * len(PARTIES)
