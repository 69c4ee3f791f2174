"""Hostile and broken answers against the tap as a subprocess: exact, or one line after the STATE.

Each case ends one of two ways, and nothing else: every invoice of the range printed exactly
once (exit 0), or one ERROR line naming the cause and the fix, the last line on stderr, after
a STATE that claims only printed windows (exit 1). Never a traceback, never a silent loss.
The emulator plays each case (spapi_emulator/hostile.py); none is a claim about Amazon.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest

from spapi_emulator.hostile import is_chosen
from tap_spinvoices.isotime import parse_datetime
from tap_spinvoices.streams.customer_invoices import CustomerInvoicesStream, substitute_key
from tap_spinvoices.sync.windows import plan_windows
from tests.builders import StateBuilder
from tests.conftest import config_for, expected_invoices
from tests.integration.test_crash_resume import assert_state_claims_only_printed_invoices
from tests.integration.test_faults import LOG_LINE, assert_complete, error_lines, sync
from tests.singer_run import TapRun, run_tap

if TYPE_CHECKING:
    from spapi_emulator import EmulatorServer

START, END = "2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z"
# Eight windows of 6 hours, two in flight: the first hostile invoice (the 20th of a day of
# 24, at about 19:00) falls in the fourth window, so three windows are completed before it.
WINDOWED = {"window_hours": 6, "max_concurrency": 2}
EVERY = 20
REQUEST_ID = re.compile(r"x-amzn-RequestId [0-9a-f-]{36}")
PO_NULL_WARNING = re.compile(
    r"getCustomerInvoices answered an invoice without a purchaseOrderNumber \(null\) in window "
    r"\S+ \(x-amzn-RequestId [0-9a-f-]{36}\): written with purchaseOrderNumber "
    r"(?P<key>MISSINGPO[0-9a-f]{32}), a key made from its content \(docs/quirks.md, Limits\)"
)


def messages_at(run: TapRun, level: str) -> list[str]:
    lines = (LOG_LINE.match(line) for line in run.stderr.splitlines())
    return [m["message"] for m in lines if m and m["level"] == level]


def one_error_line(run: TapRun) -> str:
    """The run's only ERROR line, request ids masked; it is the last thing on stderr."""
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    [line] = error_lines(run.stderr)
    assert run.stderr.rstrip().endswith(line)
    return REQUEST_ID.sub("x-amzn-RequestId …", line)


def first_window_holding(emu: EmulatorServer, every: int) -> datetime:
    """Start of the window of WINDOWED that holds the first hostile invoice of the range."""
    invoices = expected_invoices(emu, START, END)
    first = min(i.created_at for i in invoices if is_chosen(i.purchase_order_number, every))
    windows = plan_windows(
        parse_datetime(START),
        parse_datetime(END),
        max_length=timedelta(hours=WINDOWED["window_hours"]),
        min_count=WINDOWED["max_concurrency"],
    )
    return max(w.start for w in windows if w.start <= first)


def assert_stopped_at_the_hostile_window(run: TapRun, emu: EmulatorServer) -> None:
    """The last STATE points at the start of the hostile invoice's window, all before it printed."""
    created = {i.purchase_order_number: i.created_at for i in expected_invoices(emu, START, END)}
    bookmark = assert_state_claims_only_printed_invoices(run, created, START)
    assert bookmark == first_window_holding(emu, EVERY)
    assert bookmark > parse_datetime(START)  # windows were completed, and their STATE written


def hostile_sync(emu: EmulatorServer, **settings: Any) -> TapRun:
    return sync(emu, START, END, **{**WINDOWED, **settings})


def test_invoices_without_a_purchase_order_number_are_written_under_a_content_key_and_warned(
    emulator_factory,
):
    emu = emulator_factory(hostile_value="po-null", hostile_value_every=EVERY)

    run = hostile_sync(emu)

    assert run.returncode == 0, run.stderr
    expected = expected_invoices(emu, START, END)
    chosen = [i for i in expected if is_chosen(i.purchase_order_number, EVERY)]
    keys = {
        substitute_key(emu.dataset.content(i.purchase_order_number))
        if is_chosen(i.purchase_order_number, EVERY)
        else i.purchase_order_number
        for i in expected
    }
    numbers = [r["purchaseOrderNumber"] for r in run.records()]
    assert Counter(numbers).most_common(1)[0][1] == 1  # none twice, none merged on null
    assert set(numbers) == keys
    warnings = [PO_NULL_WARNING.match(line) for line in messages_at(run, "WARNING")]
    warned = [m["key"] for m in warnings if m]
    assert sorted(warned) == sorted(keys - {i.purchase_order_number for i in expected})
    assert len(warned) == len(chosen) >= 4
    schema = CustomerInvoicesStream.schema
    for record in run.records():
        jsonschema.validate(record, schema)  # the tap's own schema, pattern included


@pytest.mark.parametrize(
    ("reading", "problem"),
    [
        # The other shapes (an empty or patterned number, null content) take the same path:
        # tests/unit/test_hostile_values.py feeds each to the parsing functions.
        ("po-list", "purchaseOrderNumber is a list, not a string"),
        ("next-token-object", "pagination.nextToken is an object, not a string"),
    ],
)
def test_a_value_of_the_wrong_shape_stops_the_run_after_the_state_naming_it(
    emulator_factory, reading, problem
):
    # A nextToken object breaks the first page that has a next one: 240 invoices a day make
    # 120 a window, so every window's first page does.
    dense = {"invoices_per_day": 240} if reading == "next-token-object" else {}
    emu = emulator_factory(hostile_value=reading, hostile_value_every=EVERY, **dense)

    run = hostile_sync(emu)

    line = one_error_line(run)
    assert re.fullmatch(
        r"getCustomerInvoices failed: HTTP 200 UnexpectedResponse: response does not match the "
        rf"model \({problem}[^)]*\) \(x-amzn-RequestId …\)\. The run stops after the STATE of "
        r"the completed windows; report the x-amzn-RequestId to Amazon: until its answer "
        r"changes, each run stops at window \S+",
        line,
    ), line
    if reading != "next-token-object":
        assert_stopped_at_the_hostile_window(run, emu)


def test_an_invoice_larger_than_max_record_mb_stops_the_run_naming_it_and_the_setting(
    emulator_factory,
):
    emu = emulator_factory(huge_invoice_every=EVERY, huge_invoice_bytes=900_000)

    run = hostile_sync(emu, max_record_mb=1)

    line = one_error_line(run)
    assert re.fullmatch(
        r"invoice PO\d+ of window \S+ is larger than max_record_mb \(1 MB\): 1\.1 MB "
        r"\(x-amzn-RequestId …\)\. Fix: raise max_record_mb \(the tap holds a few records of "
        r"that size in memory at once\)",
        line,
    ), line
    assert_stopped_at_the_hostile_window(run, emu)


def test_pages_longer_than_a_quarter_of_buffer_mb_are_asked_for_again_with_fewer_invoices(
    emulator_factory,
):
    # 24 invoices of 200 KB (270 KB as Base64) a day in two windows of a day: a page of 100
    # would be 6.5 MB, against 1 MB allowed (a quarter of buffer_mb 4). Answers without a
    # Content-Length take the same path (tests/unit/test_bounds.py).
    emu = emulator_factory(content_bytes=200_000)

    run = sync(emu, START, END, buffer_mb=4, window_hours=24, max_concurrency=2)

    assert_complete(run, emu, expected_invoices(emu, START, END))
    lowered = [line for line in messages_at(run, "INFO") if "fetching the window again" in line]
    assert len(lowered) >= 2  # each window found its page size
    assert all("is longer than 1,048,576 bytes" in line for line in lowered)


def test_a_retry_after_of_a_day_is_not_waited_for_and_the_run_completes(emulator_factory):
    emu = emulator_factory(retry_after_seconds=86400, fault_5xx_rate=0.25)

    run = sync(emu, START, END)

    assert_complete(run, emu, expected_invoices(emu, START, END))
    capped = [line for line in messages_at(run, "WARNING") if "(Retry-After)" in line]
    assert capped, "no 503 asked for a day"
    for line in capped:
        assert re.search(
            r"asked to wait 86400 s \(Retry-After\), more than max_retry_after_seconds \(120 s\): "
            r"counted as a fault, retry in (\d+\.\d+) s$",
            line,
        ), line
        assert float(line.rsplit("retry in ", 1)[1].split()[0]) <= 30.0  # the usual backoff


def test_a_retry_after_of_a_day_that_never_passes_ends_with_the_setting_named(emulator_factory):
    emu = emulator_factory(retry_after_seconds=86400, fault_5xx_rate=1.0)

    run = sync(emu, START, END, max_retries=2)

    line = one_error_line(run)
    assert re.fullmatch(
        r"(createRestrictedDataToken|getCustomerInvoices) gave up after 2 attempts; last: "
        r"HTTP 50[03] \w+: .*"
        r"\(x-amzn-RequestId …\)\. Amazon kept failing and asked to wait longer than "
        r"max_retry_after_seconds: run again later, or raise max_retry_after_seconds to wait "
        r"as long as it asks",
        line,
    ), line


def test_a_server_that_never_stops_handing_out_next_tokens_stops_the_run(emulator_factory):
    emu = emulator_factory(endless_next_tokens=True)

    run = sync(emu, "2024-01-01T00:00:00Z", "2024-01-01T00:15:00Z", max_concurrency=1)

    line = one_error_line(run)
    # A 15-minute window (plus its 1 s overlap): 2 x ceil(901 x 10 / 100) + 10 pages.
    assert line == (
        "getCustomerInvoices handed window 2024-01-01T00:00:00+00:00..2024-01-01T00:15:00+00:00 "
        "a new nextToken on each of 192 pages (x-amzn-RequestId … on the last one), more than "
        "the window can hold (10 invoices a second of window at 100 a page, and as many empty "
        "pages again): following them would never end, so the run stops. Nothing in the "
        "settings changes this: report it to Amazon; the next run starts again at this window"
    )
    assert emu.stats()["operations"]["getCustomerInvoices"]["requests"] == 192


def test_a_next_token_refused_for_the_length_of_its_request_line_names_that_cause(
    emulator_factory,
):
    emu = emulator_factory(next_token_bytes=8192, invoices_per_day=240)

    run = sync(emu, START, END, max_concurrency=1, window_hours=24)

    line = one_error_line(run)
    assert re.fullmatch(
        r"getCustomerInvoices failed: HTTP 400 from a server: a follow-up page's nextToken of "
        r"8,19\d characters makes a request line of 8,[0-9]{3} bytes, and a server between the "
        r"tap and the SP-API refused it for its length \(no SP-API error answer\): not an "
        r"expired token, so fetching the window again would bring the same token back\. Fix: "
        r"raise the URL length limit of the proxy between the tap and Amazon; without one, "
        r"report the nextToken length to Amazon",
        line,
    ), line
    assert not [m for m in messages_at(run, "WARNING") if "nextToken refused" in m]  # no restarts


@pytest.mark.parametrize(
    ("setting", "token"),
    [("access_token_ttl", "refreshed LWA access token"), ("rdt_ttl", "minted RDT")],
)
def test_tokens_that_expire_at_once_are_not_blamed_on_a_missing_role(
    emulator_factory, setting, token
):
    emu = emulator_factory(**{setting: 0.0})

    run = sync(emu, START, END)

    line = one_error_line(run)
    assert "role" not in line.split("Amazon refused")[0]
    assert line.endswith(
        f". Amazon refused a freshly {token} as expired too: tokens expire as soon as they are "
        "issued, which is not a missing role. Check that lwa_token_url reaches Login with Amazon "
        "itself (nothing caching its answers) and the machine's clock, then run again"
    ), line
    assert "(The access token you provided has expired.)" in line


def test_a_bookmark_later_than_now_is_refused_naming_stream_partition_and_value(
    emulator_factory,
):
    emu = emulator_factory()
    state = StateBuilder().with_party_bookmark("WH-BLR-1", "2099-06-01T00:00:00Z").build()
    config = config_for(emu).with_range(START, END).with_parties("WH-BLR-1").build()

    run = run_tap(config, state)

    line = one_error_line(run)
    assert re.fullmatch(
        r"State error in bookmarks\.customer_invoices partition \{'ship_from_party_id': "
        r"'WH-BLR-1'\}: replication_key_value 2099-06-01T00:00:00\+00:00 is later than now "
        r"\(\S+\): a bookmark says everything before it was written, so this state comes from "
        r"a clock that ran ahead or was edited, and a run from it would sync nothing until "
        r"then\. Fix: set it to the end of the last run you trust, or drop that bookmark to "
        r"sync from start_date",
        line,
    ), line
    assert emu.stats()["operations"] == {}  # refused before any request


def test_a_catalog_listing_the_keys_in_another_order_syncs_exactly(emulator_factory, tmp_path):
    emu = emulator_factory()
    catalog = tmp_path / "catalog.json"
    from tests.singer_run import catalog_selecting  # noqa: PLC0415 - builds the SDK tap

    written = catalog_selecting(("customer_invoices",))
    for entry in written["streams"]:
        entry["key_properties"] = list(reversed(entry["key_properties"]))
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["table-key-properties"] = entry["key_properties"]
    catalog.write_text(json.dumps(written))
    config = config_for(emu).with_range(START, END).build()

    run = run_tap(config, None, "--catalog", str(catalog), streams=None)

    assert_complete(run, emu, expected_invoices(emu, START, END))
    [schema] = [m for m in run.messages if m["type"] == "SCHEMA"]
    assert schema["key_properties"] == ["account_id", "purchaseOrderNumber"]
