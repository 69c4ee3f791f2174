"""--check: before the first nightly job, one small real call per selected stream.

One line per stream, OK or the cause and the fix; exit 1 when any stream failed; nothing on
stdout (no RECORD, no STATE: no bookmark moves).
"""

from __future__ import annotations

import pytest

from tests.conftest import config_for
from tests.singer_run import run_tap

EVERY_STREAM = (
    "customer_invoices",
    "invoice_documents",
    "invoice_events",
    "invoice_exports",
    "invoice_items",
    "invoices",
)
INVOICES_API = EVERY_STREAM[1:]


def check_lines(stderr: str) -> dict[str, str]:
    """The check's line of each stream, by stream name."""
    lines = {}
    for line in stderr.splitlines():
        message = line.rsplit(" | ", 1)[-1]
        stream, _, rest = message.partition(": ")
        if rest.startswith(("OK: ", "FAILED: ")):
            assert stream not in lines, f"two lines for {stream}"
            lines[stream] = rest
    return lines


def test_every_stream_ok_and_nothing_is_synced(emulator):
    run = run_tap(config_for(emulator).build(), None, "--check", streams=None)

    assert run.returncode == 0, run.stderr
    assert run.raw_stdout == b""  # no RECORD, no STATE
    lines = check_lines(run.stderr)
    assert sorted(lines) == sorted(EVERY_STREAM)
    assert lines["customer_invoices"] == (
        "OK: an LWA token, an RDT and getCustomerInvoices over one minute"
    )
    assert lines["invoice_exports"] == "OK: an LWA token and getInvoicesExports over one minute"
    assert lines["invoice_items"].endswith("(the invoice_exports call, which feeds it)")
    assert lines["invoices"] == "OK: an LWA token and getInvoices over one minute"
    # The smallest calls: one page of each operation, each asked once.
    requests = {op: c["requests"] for op, c in emulator.stats()["operations"].items()}
    assert requests == {
        "lwaToken": 1,  # one access token serves every call
        "createRestrictedDataToken": 1,
        "getCustomerInvoices": 1,
        "getInvoicesExports": 1,
        "getInvoices": 1,
    }


def test_only_the_selected_streams_are_checked(emulator):
    run = run_tap(config_for(emulator).build(), None, "--check")  # customer_invoices only

    assert run.returncode == 0, run.stderr
    assert list(check_lines(run.stderr)) == ["customer_invoices"]
    assert "getInvoicesExports" not in emulator.stats()["operations"]


def test_a_rejected_refresh_token_fails_every_stream_with_the_fix(emulator):
    config = config_for(emulator).with_setting("refresh_token", "Atzr|revoked").build()
    run = run_tap(config, None, "--check", streams=None)

    assert run.returncode == 1
    assert run.raw_stdout == b""
    lines = check_lines(run.stderr)
    assert sorted(lines) == sorted(EVERY_STREAM)
    for line in lines.values():
        assert line.startswith("FAILED: LWA: refresh_token was rejected (invalid_grant)")
        assert "must re-authorise the app" in line


def test_a_missing_tax_invoicing_role_fails_the_invoices_api_streams_only(emulator_factory):
    emulator = emulator_factory(denied_operations=frozenset({"getInvoicesExports", "getInvoices"}))
    run = run_tap(config_for(emulator).build(), None, "--check", streams=None)

    assert run.returncode == 1
    lines = check_lines(run.stderr)
    assert lines["customer_invoices"].startswith("OK: ")
    for stream in INVOICES_API:
        assert lines[stream].startswith("FAILED: getInvoice"), lines[stream]
        assert "HTTP 403 Unauthorized" in lines[stream]
        assert "needs the Tax Invoicing (Restricted) role" in lines[stream]


def test_a_refused_rdt_names_the_direct_to_consumer_shipping_role(emulator_factory):
    emulator = emulator_factory(rdt_denied=True)
    run = run_tap(config_for(emulator).build(), None, "--check")

    assert run.returncode == 1
    (line,) = check_lines(run.stderr).values()
    assert line.startswith("FAILED: createRestrictedDataToken refused an RDT")
    assert "Direct-to-Consumer Shipping (Restricted)" in line


@pytest.mark.parametrize(
    ("region", "hinted"),
    [("na", True), ("eu", False)],
    ids=["another-region", "its-own-region"],
)
def test_a_denied_call_sent_to_another_region_says_so(emulator_factory, region, hinted):
    emulator = emulator_factory(denied_operations=frozenset({"getCustomerInvoices"}))
    config = config_for(emulator).with_setting("region", region).build()
    run = run_tap(config, None, "--check")

    assert run.returncode == 1
    (line,) = check_lines(run.stderr).values()
    assert line.startswith("FAILED: getCustomerInvoices was denied: HTTP 403")
    hint = (
        "region is 'na', but customer_invoices is served by the 'eu' host: unset region "
        "(each stream then calls its own) or set it to 'eu'"
    )
    assert (hint in line) is hinted


def test_a_bad_setting_is_the_config_error_line_before_any_call(emulator):
    config = config_for(emulator).with_setting("region", "mars").build()
    run = run_tap(config, None, "--check")

    assert run.returncode == 1
    assert "Config error in 'region'" in run.stderr
    assert check_lines(run.stderr) == {}
    assert emulator.stats()["operations"] == {}
