"""The seeded dataset: deterministic, well-formed, and filtered like getCustomerInvoices."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest

from spapi_emulator import Dataset, EmulatorConfig
from spapi_emulator.isotime import from_micros, to_micros

from .conftest import START, day, small_config

PO_PATTERN = re.compile(r"^[a-zA-Z0-9]+$")  # CustomerInvoice.purchaseOrderNumber in the models


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset(small_config())


class TestDeterminism:
    def test_same_seed_gives_the_same_invoices_and_content(self) -> None:
        first, second = Dataset(small_config()), Dataset(small_config())
        assert first.all_invoices() == second.all_invoices()
        po = first.all_invoices()[123].purchase_order_number
        assert first.content(po) == second.content(po)

    def test_another_seed_gives_other_timestamps_and_content(self) -> None:
        first, other = Dataset(small_config()), Dataset(small_config(seed=8))
        assert [i.created_at for i in first.all_invoices()] != [
            i.created_at for i in other.all_invoices()
        ]
        po = first.all_invoices()[0].purchase_order_number
        assert first.content(po) != other.content(po)


class TestShape:
    def test_every_party_gets_invoices_per_day_on_every_day(self, dataset: Dataset) -> None:
        config = small_config()
        assert len(dataset) == config.days * config.invoices_per_day * len(config.parties)
        for party in config.parties:
            for n in range(config.days):
                assert len(dataset.invoices(day(n), day(n + 1), party, inclusive=True)) in {
                    60,
                    61,  # the next day's midnight stamp, included by the inclusive upper bound
                }

    def test_purchase_order_numbers_match_the_model_pattern_and_are_unique(
        self, dataset: Dataset
    ) -> None:
        numbers = [i.purchase_order_number for i in dataset.all_invoices()]
        assert all(PO_PATTERN.match(po) for po in numbers)
        assert len(set(numbers)) == len(numbers)

    def test_timestamps_are_aware_utc_whole_milliseconds_inside_the_dataset(
        self, dataset: Dataset
    ) -> None:
        for invoice in dataset.all_invoices():
            assert invoice.created_at.tzinfo is UTC
            assert invoice.created_at.microsecond % 1000 == 0
            assert START <= invoice.created_at < day(14)

    def test_every_tenth_invoice_of_a_party_day_sits_on_a_whole_hour(
        self, dataset: Dataset
    ) -> None:
        stamps = dataset.invoices(day(3), day(4), "WH-BLR-1", inclusive=True)[:60]
        on_the_hour = [i.created_at for i in stamps if i.created_at.timestamp() % 3600 == 0]
        # 60 invoices, every 10th moved: six whole hours spread over the day, midnight first.
        assert on_the_hour[:1] == [day(3)]
        assert len({t.hour for t in on_the_hour}) == 6

    def test_boundary_every_zero_disables_whole_hour_stamps(self) -> None:
        plain = Dataset(small_config(boundary_every=0, days=2))
        assert all(i.created_at.timestamp() % 3600 for i in plain.all_invoices())

    def test_all_invoices_are_sorted_by_creation_then_purchase_order(
        self, dataset: Dataset
    ) -> None:
        keys = [(i.created_at, i.purchase_order_number) for i in dataset.all_invoices()]
        assert keys == sorted(keys)


class TestContent:
    def test_content_is_standard_base64_of_a_pdf_of_the_configured_size(self) -> None:
        dataset = Dataset(EmulatorConfig(days=1, invoices_per_day=3, content_bytes=2000))
        po = dataset.all_invoices()[0].purchase_order_number
        text = dataset.content(po)
        raw = base64.b64decode(text, validate=True)
        assert raw.startswith(b"%PDF-1.4\n")
        assert len(raw) == 2000

    def test_content_uses_the_characters_clients_must_not_mangle(self, dataset: Dataset) -> None:
        texts = "".join(
            dataset.content(i.purchase_order_number) for i in dataset.all_invoices()[:50]
        )
        assert {"+", "/"} <= set(texts)

    def test_content_is_rebuilt_on_demand_from_seed_and_purchase_order(self) -> None:
        assert Dataset(small_config(days=1)).content("PO123") == Dataset(
            small_config(days=2, invoices_per_day=5)
        ).content("PO123")


class TestWindow:
    def test_strict_bounds_leave_out_an_invoice_stamped_exactly_on_a_bound(
        self, dataset: Dataset
    ) -> None:
        midnight = day(5)
        on_bound = [i for i in dataset.all_invoices() if i.created_at == midnight]
        assert on_bound, "the dataset must have invoices exactly at midnight"
        before = dataset.invoices(day(4), midnight)
        after = dataset.invoices(midnight, day(6))
        assert not set(on_bound) & (set(before) | set(after))

    def test_inclusive_bounds_keep_an_invoice_stamped_exactly_on_a_bound(
        self, dataset: Dataset
    ) -> None:
        midnight = day(5)
        on_bound = {i for i in dataset.all_invoices() if i.created_at == midnight}
        assert on_bound <= set(dataset.invoices(day(4), midnight, inclusive=True))
        assert on_bound <= set(dataset.invoices(midnight, day(6), inclusive=True))

    def test_party_filter_keeps_only_that_party(self, dataset: Dataset) -> None:
        found = dataset.invoices(day(1), day(3), "WH-DEL-2")
        assert found
        assert {i.ship_from_party_id for i in found} == {"WH-DEL-2"}

    def test_unknown_party_has_no_invoices(self, dataset: Dataset) -> None:
        assert dataset.invoices(day(1), day(3), "WH-NOWHERE") == []

    def test_descending_pages_walk_the_window_from_the_newest(self, dataset: Dataset) -> None:
        window = dataset.window(day(1), day(2))
        ascending = window.page(0, len(window))
        descending = window.page(0, 7, descending=True) + window.page(7, 1000, descending=True)
        assert descending == ascending[::-1]

    def test_window_outside_the_dataset_is_empty(self, dataset: Dataset) -> None:
        assert dataset.invoices(day(100), day(101)) == []


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    ],
)
def test_micros_round_trip_exactly(moment: datetime) -> None:
    assert from_micros(to_micros(moment)) == moment
    assert to_micros(moment + timedelta(microseconds=1)) == to_micros(moment) + 1
