"""customer_invoices against the emulator: complete, exact, resumable."""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tap_spinvoices.isotime import parse_datetime
from tap_spinvoices.sync.bookmarks import format_instant
from tests.builders import StateBuilder
from tests.conftest import config_for, expected_invoices
from tests.singer_run import run_tap
from tests.state_checks import find_key

PARTIES = ("WH-BLR-1", "WH-DEL-2")


def assert_complete(run, emu, expected) -> None:
    records = run.records()
    numbers = [r["purchaseOrderNumber"] for r in records]
    duplicates = [po for po, n in Counter(numbers).items() if n > 1]
    assert duplicates == []
    assert set(numbers) == {i.purchase_order_number for i in expected}
    for record in records:
        assert record["content"] == emu.dataset.content(record["purchaseOrderNumber"])


def test_backfill_of_sixty_two_days_with_two_parties_is_complete_and_exact(emulator):
    config = config_for(emulator).with_range("2024-01-01T00:00:00Z", "2024-03-03T00:00:00Z")
    run = run_tap(config.with_parties(*PARTIES).build())

    assert run.returncode == 0, run.stderr
    expected = expected_invoices(emulator, "2024-01-01T00:00:00Z", "2024-03-03T00:00:00Z", PARTIES)
    assert len(expected) == 62 * 24 * 2
    assert_complete(run, emulator, expected)
    party_of = {i.purchase_order_number: i.ship_from_party_id for i in expected}
    assert all(r["ship_from_party_id"] == party_of[r["purchaseOrderNumber"]] for r in run.records())
    final = run.final_state
    assert not find_key(final, "progress_markers")
    assert not find_key(final, "replication_key_signpost")
    partitions = final["bookmarks"]["customer_invoices"]["partitions"]
    assert {
        p["context"]["ship_from_party_id"]: p["replication_key_value"] for p in partitions
    } == dict.fromkeys(PARTIES, "2024-03-03T00:00:00+00:00")


DIGESTS = ("customer_invoices.content_sha256", "customer_invoices.content_bytes")
WITH_DIGESTS = ("customer_invoices", *DIGESTS)


def test_record_carries_hash_and_size_of_the_decoded_pdf_when_selected(emulator):
    run = run_tap(
        config_for(emulator).with_range("2024-01-01T00:00:00Z", "2024-01-01T06:00:00Z").build(),
        streams=WITH_DIGESTS,
    )

    assert run.returncode == 0, run.stderr
    record = run.records()[0]
    pdf = base64.b64decode(record["content"])
    assert pdf.startswith(b"%PDF")
    assert record["content_sha256"] == hashlib.sha256(pdf).hexdigest()
    assert record["content_bytes"] == len(pdf) == 600
    assert record["api_version"] == "2021-12-28"
    assert record["ship_from_party_id"] is None


def test_digests_are_not_computed_or_written_unless_selected(emulator):
    run = run_tap(
        config_for(emulator).with_range("2024-01-01T00:00:00Z", "2024-01-01T06:00:00Z").build()
    )

    assert run.returncode == 0, run.stderr
    assert run.records()
    assert all(not {"content_sha256", "content_bytes"} & set(r) for r in run.records())
    (schema,) = [m["schema"] for m in run.messages if m["type"] == "SCHEMA"]
    assert not {"content_sha256", "content_bytes"} & set(schema["properties"])


def without_clock_readings(run) -> list[dict]:
    """The messages of a run less what the clock sets: time_extracted, the state signpost."""
    messages = orjson.loads(orjson.dumps(run.messages))
    for message in messages:
        message.pop("time_extracted", None)
        bookmark = message.get("value", {}).get("bookmarks", {}).get("customer_invoices", {})
        if "replication_key_signpost" in bookmark:
            bookmark["replication_key_signpost"] = "<run start>"
    return messages


@pytest.mark.parametrize(
    "streams", [("customer_invoices",), WITH_DIGESTS], ids=["default", "with-digests"]
)
def test_pages_written_directly_equal_what_the_sdk_record_path_writes(emulator, streams):
    start, end = "2024-01-01T00:00:00Z", "2024-01-04T00:00:00Z"
    config = config_for(emulator).with_range(start, end)
    direct = run_tap(config.build(), streams=streams, log_level="DEBUG")
    # An empty stream map changes no record, but sends every record through the SDK.
    sdk = run_tap(
        config.with_setting("stream_maps", {"customer_invoices": {}}).build(),
        streams=streams,
        log_level="DEBUG",
    )

    assert direct.returncode == sdk.returncode == 0, direct.stderr + sdk.stderr
    assert "records go through the SDK" not in direct.stderr
    assert "records go through the SDK: stream maps or flattening are configured" in sdk.stderr
    assert_complete(direct, emulator, expected_invoices(emulator, start, end))
    assert without_clock_readings(direct) == without_clock_readings(sdk)
    assert all(m["time_extracted"] for m in direct.messages if m["type"] == "RECORD")


@pytest.mark.parametrize("version", ["v1", "2021-12-28"])
def test_both_api_versions_return_the_same_invoices(emulator, version):
    start, end = "2024-02-01T00:00:00Z", "2024-02-09T12:00:00Z"
    run = run_tap(config_for(emulator).with_range(start, end).with_version(version).build())

    assert run.returncode == 0, run.stderr
    assert_complete(run, emulator, expected_invoices(emulator, start, end))
    assert {r["api_version"] for r in run.records()} == {version}


def test_without_parties_one_stream_bookmark_covers_all_warehouses(emulator):
    start, end = "2024-01-10T00:00:00Z", "2024-01-20T00:00:00Z"
    run = run_tap(config_for(emulator).with_range(start, end).build())

    assert run.returncode == 0, run.stderr
    assert_complete(run, emulator, expected_invoices(emulator, start, end))
    assert run.final_state["bookmarks"]["customer_invoices"] == {
        "replication_key": "window_start",
        "replication_key_value": "2024-01-20T00:00:00+00:00",
    }


@pytest.mark.parametrize("inclusive", [False, True], ids=["strict-bounds", "inclusive-bounds"])
def test_invoice_stamped_exactly_on_a_window_boundary_is_emitted_once(emulator_factory, inclusive):
    emu = emulator_factory(inclusive_bounds=inclusive, boundary_every=2)
    start, end = "2024-01-05T00:00:00Z", "2024-01-06T00:00:00Z"
    config = config_for(emu).with_range(start, end).with_setting("window_hours", 1)
    run = run_tap(config.with_setting("max_concurrency", 4).build())

    assert run.returncode == 0, run.stderr
    expected = expected_invoices(emu, start, end)
    if inclusive:
        # Amazon would then also return invoices stamped exactly on end_date; they are
        # emitted once here and again by the next run (the target upserts by key).
        expected += list(
            emu.dataset.invoices(parse_datetime(end), parse_datetime(end), inclusive=True)
        )
    window_starts = {parse_datetime(r["window_start"]) for r in run.records()}
    on_boundary = [i for i in expected if i.created_at in window_starts]
    assert len(on_boundary) >= 20  # the scenario really has boundary invoices
    assert_complete(run, emu, expected)


def test_rerun_from_the_final_state_fetches_only_the_lookback(emulator):
    start, middle, end = "2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z", "2024-01-07T00:00:00Z"
    first = run_tap(config_for(emulator).with_range(start, middle).build())
    config = config_for(emulator).with_range(start, end).with_setting("lookback_minutes", 120)
    second = run_tap(config.build(), first.final_state)

    assert second.returncode == 0, second.stderr
    lookback_start = "2024-01-04T22:00:00Z"
    assert_complete(second, emulator, expected_invoices(emulator, lookback_start, end))
    union = {r["purchaseOrderNumber"] for r in first.records() + second.records()}
    assert union == {i.purchase_order_number for i in expected_invoices(emulator, start, end)}


def test_party_bookmarks_resume_independently(emulator):
    start, end = "2024-01-01T00:00:00Z", "2024-01-04T00:00:00Z"
    state = StateBuilder().with_party_bookmark("WH-BLR-1", "2024-01-03T00:00:00+00:00").build()
    run = run_tap(config_for(emulator).with_range(start, end).with_parties(*PARTIES).build(), state)

    assert run.returncode == 0, run.stderr
    expected = expected_invoices(emulator, "2024-01-03T00:00:00Z", end, ("WH-BLR-1",))
    expected += expected_invoices(emulator, start, end, ("WH-DEL-2",))
    assert_complete(run, emulator, expected)


def test_a_party_listed_twice_is_one_partition_and_each_invoice_once(emulator):
    start, end = "2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z"
    # With the default lookback, a second partition of WH-BLR-1 would re-read its last hour.
    config = config_for(emulator).with_range(start, end).without("lookback_minutes")
    run = run_tap(config.with_parties("WH-BLR-1", "WH-DEL-2", "WH-BLR-1").build())

    assert run.returncode == 0, run.stderr
    assert_complete(run, emulator, expected_invoices(emulator, start, end, PARTIES))
    partitions = run.final_state["bookmarks"]["customer_invoices"]["partitions"]
    assert [p["context"] for p in partitions] == [
        {"ship_from_party_id": "WH-BLR-1"},
        {"ship_from_party_id": "WH-DEL-2"},
    ]


def test_short_lived_access_tokens_are_refreshed_during_the_run(emulator_factory):
    emu = emulator_factory(access_token_ttl=1.0, rdt_ttl=1.0, time_scale=1.0)
    start, end = "2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z"
    run = run_tap(config_for(emu).with_range(start, end).build())

    assert run.returncode == 0, run.stderr
    assert_complete(run, emu, expected_invoices(emu, start, end))
    operations = emu.stats()["operations"]
    assert operations["lwaToken"]["requests"] >= 2
    assert operations["createRestrictedDataToken"]["requests"] >= 2


def test_throttled_requests_are_retried_until_every_window_is_complete(emulator_factory):
    # The tap believes the header (200 requests/s) but the bucket only refills at 2/s with a
    # burst of 2, as when another client of the same app drains the shared quota.
    emu = emulator_factory(
        time_scale=1.0,
        rate_limits={"getCustomerInvoices": (2.0, 2), "createRestrictedDataToken": (1.0, 10)},
        rate_limit_header={"getCustomerInvoices": 200.0},
    )
    emu.reconfigure(rate_limit_header={})
    start, end = "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"
    run = run_tap(config_for(emu).with_range(start, end).with_setting("max_retries", 3).build())

    assert run.returncode == 0, run.stderr
    assert_complete(run, emu, expected_invoices(emu, start, end))


def test_state_is_never_ahead_of_the_records_before_it(emulator):
    start, end = "2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z"
    run = run_tap(
        config_for(emulator).with_range(start, end).with_setting("window_hours", 6).build()
    )

    assert run.returncode == 0, run.stderr
    created = {
        i.purchase_order_number: i.created_at for i in expected_invoices(emulator, start, end)
    }
    seen: set[str] = set()
    states = 0
    for message in run.messages:
        if message["type"] == "RECORD":
            seen.add(message["record"]["purchaseOrderNumber"])
        elif message["type"] == "STATE":
            value = message["value"]["bookmarks"].get("customer_invoices", {})
            bookmark = value.get("replication_key_value")
            if bookmark is None:
                continue
            states += 1
            claimed = {po for po, at in created.items() if at < parse_datetime(bookmark)}
            assert claimed <= seen, f"STATE {bookmark} claims unwritten invoices"
    assert states >= 14 * 4 - 1  # a STATE after every window


def test_range_is_half_open_start_included_end_excluded(emulator_factory):
    emu = emulator_factory(boundary_every=1)  # every invoice on a whole hour
    start, end = "2024-01-03T05:00:00Z", "2024-01-03T09:00:00Z"
    run = run_tap(config_for(emu).with_range(start, end).build())

    assert run.returncode == 0, run.stderr
    created = {i.purchase_order_number: i.created_at for i in emu.dataset.all_invoices()}
    stamps = sorted({created[r["purchaseOrderNumber"]] for r in run.records()})
    assert stamps[0] == parse_datetime(start)
    assert stamps[-1] == parse_datetime(end) - timedelta(hours=1)


def test_batch_mode_state_only_claims_invoices_already_in_written_batch_files(emulator, tmp_path):
    start, end = "2024-01-01T00:00:00Z", "2024-01-11T00:00:00Z"
    batch = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": f"file://{tmp_path}"},
        "batch_size": 150,
    }
    run = run_tap(
        config_for(emulator).with_range(start, end).with_setting("batch_config", batch).build()
    )

    assert run.returncode == 0, run.stderr
    created = {
        i.purchase_order_number: i.created_at for i in expected_invoices(emulator, start, end)
    }
    written: set[str] = set()
    for message in run.messages:
        if message["type"] == "BATCH":
            for url in message["manifest"]:
                with gzip.open(url.removeprefix("file://"), "rb") as handle:
                    written.update(orjson.loads(line)["purchaseOrderNumber"] for line in handle)
        elif message["type"] == "STATE":
            bookmark = (
                message["value"]["bookmarks"]
                .get("customer_invoices", {})
                .get("replication_key_value")
            )
            if bookmark:
                claimed = {po for po, at in created.items() if at < parse_datetime(bookmark)}
                assert claimed <= written
    assert written == set(created)


def test_connection_test_stops_early_and_cleanly(emulator):
    config = config_for(emulator).with_range("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z").build()
    run = run_tap(config, None, "--test", streams=None)

    assert run.returncode == 0, run.stderr
    assert len(run.records()) == 1  # the SDK stops after the first record
    for warning in ("Unclosed", "Task was destroyed", "Traceback", "Exception ignored"):
        assert warning not in run.stderr


# --- Amazon keeps customer invoices for a rolling six months --------------------------------

HISTORY_WARNING = "more than 6 months before now. Windows before "


def history_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if HISTORY_WARNING in line]


def days_ago(days: int) -> str:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return format_instant(today - timedelta(days=days))


def test_a_range_starting_years_ago_warns_once_that_old_windows_may_be_empty(emulator):
    # Two parties: two partitions start that early, the warning is still written once.
    config = config_for(emulator).with_range("2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z")
    run = run_tap(config.with_parties(*PARTIES).build())

    assert run.returncode == 0, run.stderr
    [line] = history_warnings(run.stderr)
    assert "| WARNING " in line
    assert "customer_invoices: the sync range starts at 2024-01-01T00:00:00+00:00" in line
    assert "rolling window of the last six months" in line
    expected = expected_invoices(emulator, "2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z")
    assert_complete(run, emulator, expected)  # a warning, not a refusal


def test_a_range_within_the_last_six_months_does_not_warn(emulator_factory):
    emu = emulator_factory(dataset_start=parse_datetime(days_ago(20)), days=21)
    run = run_tap(config_for(emu).with_range(days_ago(20), days_ago(10)).build())

    assert run.returncode == 0, run.stderr
    assert history_warnings(run.stderr) == []
    assert_complete(run, emu, expected_invoices(emu, days_ago(20), days_ago(10)))


def test_when_amazon_no_longer_has_old_invoices_their_windows_are_empty_and_the_run_succeeds(
    emulator_factory,
):
    # The reading where the six months limit getCustomerInvoices too (docs/quirks.md).
    emu = emulator_factory(customer_invoice_history_days=183)
    config = config_for(emu).with_range("2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z")
    run = run_tap(config.build())

    assert run.returncode == 0, run.stderr
    assert len(history_warnings(run.stderr)) == 1
    assert run.records() == []
    bookmark = run.final_state["bookmarks"]["customer_invoices"]["replication_key_value"]
    assert bookmark == "2024-01-08T00:00:00+00:00"
