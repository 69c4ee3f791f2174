"""Each hostile value fed to the parsing functions: a record of the schema, or one clear line.

The same cases reach the tap through the emulator in tests/integration/test_hostile_input.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from datetime import UTC, datetime

import jsonschema
import pytest

from tap_spinvoices.errors import ApiError, RecordTooLargeError
from tap_spinvoices.spapi.client import JsonAnswer
from tap_spinvoices.streams.customer_invoices import (
    CustomerInvoicesStream,
    build_record,
    invoice_key,
    parse_page,
    substitute_key,
    window_fields,
    window_pages,
)
from tap_spinvoices.streams.invoices_api import parse_list_page
from tap_spinvoices.streams.pager import PageBounds
from tap_spinvoices.sync.windows import Window

WINDOW = Window(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
WHERE = "2024-01-01T00:00:00+00:00..2024-01-02T00:00:00+00:00"
CONTENT = base64.b64encode(b"%PDF-1.4 fake").decode()
SHARED = window_fields(WINDOW, "WH1", "2021-12-28")


class TestPage:
    @pytest.mark.parametrize(
        ("token", "shape"),
        [({"token": "t"}, "an object"), (7, "a number"), (["t"], "a list"), (True, "a boolean")],
    )
    def test_a_next_token_that_is_not_a_string_is_named_by_its_shape(self, token, shape):
        body = {"customerInvoices": [], "pagination": {"nextToken": token}}
        with pytest.raises(TypeError, match=f"^pagination.nextToken is {shape}, not a string$"):
            parse_page(body)

    def test_an_empty_next_token_ends_the_window(self):
        assert parse_page({"customerInvoices": [], "pagination": {"nextToken": ""}}) == ([], None)

    @pytest.mark.parametrize(
        ("body", "problem"),
        [
            ({"pagination": "next"}, "pagination is a string, not an object"),
            ({"customerInvoices": "PO1"}, "customerInvoices is not a list of objects"),
            ({"customerInvoices": ["PO1", "PO2"]}, "customerInvoices is not a list of objects"),
            ({"payload": ["PO1"]}, "response has no invoice list"),
        ],
    )
    def test_a_page_of_the_wrong_shape_is_named(self, body, problem):
        with pytest.raises(TypeError, match=f"^{problem}$"):
            parse_page(body)

    def test_an_invoices_api_next_token_that_is_not_a_string_is_named(self):
        with pytest.raises(TypeError, match=r"^nextToken is an object, not a string$"):
            parse_list_page({"invoices": [], "nextToken": {"t": 1}}, "invoices")


class TestInvoice:
    @pytest.mark.parametrize(
        "invoice",
        [
            {"purchaseOrderNumber": None, "content": CONTENT},
            {"content": CONTENT},
            {"purchaseOrderNumber": "", "content": CONTENT},
        ],
        ids=["null", "absent", "empty"],
    )
    def test_an_invoice_without_a_number_gets_the_key_of_its_content_and_fits_the_schema(
        self, invoice
    ):
        record = build_record(invoice, SHARED)

        digest = hashlib.sha256(CONTENT.encode()).hexdigest()
        assert record["purchaseOrderNumber"] == "MISSINGPO" + digest[:32]
        assert record["purchaseOrderNumber"] == substitute_key(CONTENT)
        assert invoice_key(invoice) is None
        jsonschema.validate({**record, "account_id": "default"}, CustomerInvoicesStream.schema)

    def test_two_invoices_without_numbers_keep_two_keys(self):
        other = base64.b64encode(b"%PDF-1.4 other").decode()
        assert substitute_key(CONTENT) != substitute_key(other)

    @pytest.mark.parametrize(
        ("invoice", "problem"),
        [
            ({"purchaseOrderNumber": ["PO1"]}, "purchaseOrderNumber is a list, not a string"),
            ({"purchaseOrderNumber": {"n": 1}}, "purchaseOrderNumber is an object, not a string"),
            ({"purchaseOrderNumber": 123}, "purchaseOrderNumber is a number, not a string"),
            ({"purchaseOrderNumber": True}, "purchaseOrderNumber is a boolean, not a string"),
            (
                {"purchaseOrderNumber": "PO-1"},
                "purchaseOrderNumber 'PO-1' is more than the letters and digits the model allows",
            ),
            (
                {"purchaseOrderNumber": "PÖ1"},
                "purchaseOrderNumber 'PÖ1' is more than the letters and digits the model allows",
            ),
            ({"purchaseOrderNumber": "PO1", "content": None}, "content is null, not a string"),
            ({"purchaseOrderNumber": "PO1", "content": 5}, "content is a number, not a string"),
            ({"purchaseOrderNumber": None, "content": None}, "content is null, not a string"),
        ],
    )
    def test_a_value_of_the_wrong_shape_is_named_never_guessed(self, invoice, problem):
        invoice = {"content": CONTENT, **invoice}
        with pytest.raises(TypeError) as caught:
            build_record(invoice, SHARED)
        assert str(caught.value) == problem

    def test_absent_content_is_named_absent(self):
        with pytest.raises(TypeError, match=r"^content is absent, not a string$"):
            build_record({"purchaseOrderNumber": "PO1"}, SHARED)


class Answers:
    def __init__(self, *bodies):
        self.bodies = list(bodies)

    async def get_json(self, operation, path, params, *, restricted=False, max_bytes=None):
        del operation, path, params, restricted, max_bytes
        return self.bodies.pop(0)

    def note_unexpected_body(self, operation):
        del operation


def records_of(client, **bounds):
    async def run():
        pages = window_pages(
            client,
            WINDOW,
            party="WH1",
            api_version="2021-12-28",
            bounds=PageBounds(**{"page_bytes": 8 << 20, "item_bytes": 16 << 20, **bounds}),
        )
        return [r for records, _ in [page async for page in pages] for r in records]

    return asyncio.run(run())


def answer(*invoices):
    return JsonAnswer({"customerInvoices": list(invoices)}, request_id="req-7")


class TestWindowPages:
    def test_a_missing_number_is_warned_with_window_request_id_and_key(self, caplog):
        client = Answers(
            answer(
                {"purchaseOrderNumber": "PO1", "content": "QQ=="},
                {"purchaseOrderNumber": None, "content": CONTENT},
            )
        )

        with caplog.at_level(logging.WARNING):
            records = records_of(client)

        assert [r["purchaseOrderNumber"] for r in records] == ["PO1", substitute_key(CONTENT)]
        [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert warning == (
            f"getCustomerInvoices answered an invoice without a purchaseOrderNumber (null) in "
            f"window {WHERE} (x-amzn-RequestId req-7): written with purchaseOrderNumber "
            f"{substitute_key(CONTENT)}, a key made from its content (docs/quirks.md, Limits)"
        )

    def test_a_number_of_the_wrong_shape_is_one_line_naming_window_and_request_id(self):
        client = Answers(answer({"purchaseOrderNumber": ["PO1"], "content": CONTENT}))

        with pytest.raises(ApiError) as caught:
            records_of(client)
        assert str(caught.value) == (
            "getCustomerInvoices failed: HTTP 200 UnexpectedResponse: response does not match "
            "the model (purchaseOrderNumber is a list, not a string) (x-amzn-RequestId req-7). "
            "The run stops after the STATE of the completed windows; report the "
            f"x-amzn-RequestId to Amazon: until its answer changes, each run stops at window "
            f"{WHERE}"
        )

    def test_a_next_token_object_is_one_line_naming_window_and_request_id(self):
        body = JsonAnswer(
            {"customerInvoices": [], "pagination": {"nextToken": {"t": 1}}}, request_id="req-8"
        )

        with pytest.raises(ApiError, match=r"\(x-amzn-RequestId req-8\)\. The run stops"):
            records_of(Answers(body))

    def test_an_invoice_longer_than_max_record_mb_names_it_and_the_setting(self):
        big = "A" * (3 << 20)
        client = Answers(answer({"purchaseOrderNumber": "PO9", "content": big}))

        with pytest.raises(RecordTooLargeError) as caught:
            records_of(client, item_bytes=2 << 20)
        assert str(caught.value) == (
            f"invoice PO9 of window {WHERE} is larger than max_record_mb (2 MB): 3 MB "
            "(x-amzn-RequestId req-7). Fix: raise max_record_mb (the tap holds a few records "
            "of that size in memory at once)"
        )
