"""Specifications of follow-up pages: forms, refusals, restarts, repeated tokens, empty bodies."""

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from tap_spinvoices.errors import ApiError, ExpiredNextTokenError
from tap_spinvoices.spapi.client import JsonAnswer
from tap_spinvoices.spapi.paging import (
    FollowUpForm,
    FollowUpForms,
    Refusal,
    classify_follow_up_refusal,
    follow_up_params,
)
from tap_spinvoices.streams import export_requests
from tap_spinvoices.streams.export_requests import ExportDateForm, request_body
from tap_spinvoices.streams.pager import (
    MAX_WINDOW_RESTARTS,
    RepeatedNextTokenError,
    WindowRequest,
    follow_pages,
)
from tap_spinvoices.sync.windows import Window

ALL, ALONE = FollowUpForm.ALL_ARGUMENTS, FollowUpForm.TOKEN_ONLY
WINDOW = Window(datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 7, 8, tzinfo=UTC))
FIRST = {"marketplaceId": "BR", "dateStart": "a", "dateEnd": "b", "pageSize": 100}
SANDBOX_400 = "Specifying nextToken with any other parameters will cause the request to fail."


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("InvalidInput Next token is invalid or expired", Refusal.TOKEN),
        ("InvalidInput Next token has expired.", Refusal.TOKEN),
        ("InvalidInput Token is not valid, token duration is 25/3 minutes.", Refusal.TOKEN),
        ("InvalidInput We could not decode your NextToken", Refusal.TOKEN),
        ("InvalidInput The request is invalid.", Refusal.TOKEN),
        ("400 ", Refusal.TOKEN),
        (f"400 {SANDBOX_400}", Refusal.ARGUMENTS),
        ("400 Missing required parameter: 'dateStart'", Refusal.ARGUMENTS),
        ("400 Unknown parameter: 'pageSize'.", Refusal.ARGUMENTS),
        ("400 Send the same arguments as the call that produced the nextToken.", Refusal.ARGUMENTS),
        ("400 Parameter pageSize is not allowed with a nextToken", Refusal.ARGUMENTS),
    ],
)
def test_a_400_on_a_follow_up_page_is_a_refused_token_unless_it_blames_the_arguments(text, refusal):
    assert classify_follow_up_refusal(text) is refusal


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        (ALL, {**FIRST, "nextToken": "t+/="}),
        (ALONE, {"marketplaceId": "BR", "nextToken": "t+/="}),
    ],
)
def test_follow_up_query_in_each_form(form, expected):
    assert follow_up_params(FIRST, "t+/=", form) == expected


class TestFollowUpForms:
    def test_starts_with_every_argument_as_the_model_text_says(self):
        assert FollowUpForms().form is ALL

    def test_switches_once_when_the_arguments_are_refused(self):
        forms = FollowUpForms()
        assert forms.on_arguments_refused(ALL) is ALONE
        assert forms.form is ALONE

    def test_a_window_still_sending_the_old_form_moves_to_the_new_one_without_failing(self):
        forms = FollowUpForms()
        forms.on_arguments_refused(ALL)
        assert forms.on_arguments_refused(ALL) is ALONE

    def test_never_goes_back_once_both_forms_were_refused(self):
        forms = FollowUpForms()
        forms.on_arguments_refused(ALL)
        assert forms.on_arguments_refused(ALONE) is None
        assert forms.form is ALONE

    def test_a_form_that_cannot_switch_fails_at_once(self):
        assert FollowUpForms(switchable=False).on_arguments_refused(ALL) is None


class Amazon:
    """Answers each request from a function of (query, request number)."""

    def __init__(self, answer):
        self.answer = answer
        self.queries = []
        self.unexpected = 0
        self.bounds = []  # max_bytes of each call

    async def get_json(self, operation, path, params, *, restricted=False, max_bytes=None):
        del operation, path, restricted
        self.queries.append(dict(params))
        self.bounds.append(max_bytes)
        result = self.answer(dict(params), len(self.queries))
        if isinstance(result, Exception):
            raise result
        return result

    def note_unexpected_body(self, operation):
        del operation
        self.unexpected += 1


def refused(message, code="400"):
    return ExpiredNextTokenError(
        operation="getInvoicesExports", status=400, code=code, message=message, request_id="r"
    )


def pages_of(client, forms=None):
    request = WindowRequest("getInvoicesExports", "/exports", FIRST, WINDOW)

    def parse(body):
        if "exports" not in body and "nextToken" not in body:
            return None
        return body.get("exports") or [], body.get("nextToken")

    async def run():
        return [p async for p in follow_pages(client, request, parse, forms or FollowUpForms())]

    return asyncio.run(run())


def paged(items_per_page=3, pages=3):
    """A service with ``pages`` pages whose tokens are the page numbers."""

    def page(params, _n):
        number = int(params.get("nextToken", "0"))
        body = {"exports": [{"id": f"{number}-{i}"} for i in range(items_per_page)]}
        if number + 1 < pages:
            body["nextToken"] = str(number + 1)
        return body

    return page


def test_sandbox_reading_switches_the_operation_to_the_token_alone_once(caplog):
    service = paged()

    def sandbox(params, n):
        if "nextToken" in params and len(params) > 2:
            return refused(SANDBOX_400)
        return service(params, n)

    forms = FollowUpForms()
    client = Amazon(sandbox)
    with caplog.at_level(logging.INFO):
        pages = pages_of(client, forms)

    assert [len(p) for p in pages] == [3, 3, 3]
    assert forms.form is ALONE
    assert client.queries[1] == {**FIRST, "nextToken": "1"}
    assert client.queries[2] == {"marketplaceId": "BR", "nextToken": "1"}  # the same page again
    assert client.queries[3] == {"marketplaceId": "BR", "nextToken": "2"}
    switches = [r for r in caplog.records if "for the rest of the run" in r.getMessage()]
    assert len(switches) == 1
    assert switches[0].levelno == logging.INFO


def test_a_follow_up_page_refused_in_both_forms_names_the_operation_and_the_window():
    client = Amazon(lambda p, _n: refused(SANDBOX_400) if "nextToken" in p else paged()(p, _n))
    with pytest.raises(ApiError) as raised:
        pages_of(client)

    message = str(raised.value)
    assert message.startswith("getInvoicesExports failed: HTTP 400")
    assert "window 2024-07-01T00:00:00+00:00..2024-07-08T00:00:00+00:00" in message
    assert "refused both with" in message
    assert len(client.queries) == 3  # first page, then page 2 once in each form: no loop


@pytest.mark.parametrize(
    "wording",
    [
        "Next token is invalid or expired",
        "Next token has expired.",
        "Token is not valid, token duration is 25/3 minutes.",
        "We could not decode your NextToken",
    ],
)
def test_a_refused_token_restarts_the_window_from_its_first_page_whatever_the_wording(wording):
    service = paged()

    def expires_once(params, n):
        return refused(wording, "InvalidInput") if n == 3 else service(params, n)

    client = Amazon(expires_once)
    pages = pages_of(client)

    assert [q.get("nextToken") for q in client.queries] == [None, "1", "2", None, "1", "2"]
    assert len(pages) == 5  # two pages before the refusal, then the whole window again


def test_tokens_refused_every_time_fail_after_the_bounded_restarts():
    client = Amazon(
        lambda p, n: refused("Next token has expired.") if "nextToken" in p else paged()(p, n)
    )
    with pytest.raises(ExpiredNextTokenError):
        pages_of(client)
    assert len(client.queries) == 2 * (MAX_WINDOW_RESTARTS + 1)


def test_a_token_the_window_already_followed_stops_the_run():
    client = Amazon(lambda _p, _n: {"exports": [{"id": "x"}], "nextToken": "MDAwMDAwMDAwMQ=="})
    with pytest.raises(RepeatedNextTokenError, match="window 2024-07-01T00:00:00"):
        pages_of(client)
    assert len(client.queries) == 2


def test_a_body_without_the_model_keys_is_asked_again_once_and_the_second_answer_counts():
    service = paged()
    client = Amazon(lambda p, n: {} if n == 2 else service(p, n))

    assert [len(p) for p in pages_of(client)] == [3, 3, 3]
    assert client.queries[1] == client.queries[2]
    assert client.unexpected == 0


def test_a_body_without_the_model_keys_twice_ends_the_window_with_a_counted_warning(caplog):
    def shapeless(_params, n):
        return JsonAnswer({}, request_id=f"req-{n}")

    client = Amazon(shapeless)
    with caplog.at_level(logging.WARNING):
        assert pages_of(client) == []

    assert client.unexpected == 1
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "without the model's keys twice for window 2024-07-01T00:00:00+00:00" in warning
    assert "x-amzn-RequestId req-1 and req-2" in warning


class TestExportDates:
    DAY = Window(datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 7, 2, tzinfo=UTC))

    @pytest.mark.parametrize(
        ("form", "start", "end"),
        [
            (ExportDateForm.MODEL_EXAMPLE, "2024-07-01T00:00:00", "2024-07-01T23:59:59"),
            (
                ExportDateForm.UTC_MILLISECONDS,
                "2024-07-01T00:00:00.000Z",
                "2024-07-01T23:59:59.999Z",
            ),
        ],
    )
    def test_each_form_covers_the_whole_day(self, form, start, end):
        body = request_body("BR", self.DAY, form)
        assert (body["dateStart"], body["dateEnd"]) == (start, end)

    def test_the_model_example_form_is_sent_first(self):
        assert request_body("BR", self.DAY)["dateStart"] == "2024-07-01T00:00:00"

    @pytest.mark.parametrize(
        ("status", "text", "names_a_date"),
        [
            (400, "400 Invalid dateStart: '2024-07-01T00:00:00'.", True),
            (400, "400 dateEnd must be a date-time with a zone", True),
            (400, "400 Missing required attribute(s): 'marketplaceId'.", False),
            (403, "Unauthorized dateStart", False),
        ],
    )
    def test_only_a_400_naming_a_date_field_changes_the_form(self, status, text, names_a_date):
        assert export_requests.says_a_date_is_wrong(status, text) is names_a_date

    def test_a_refused_date_form_is_sent_again_once_in_the_other_form_and_kept(self):
        class Poster:
            def __init__(self):
                self.bodies = []

            async def post_json(self, operation, path, body, *, restricted=False):
                del operation, path, restricted
                self.bodies.append(body)
                if not body["dateStart"].endswith("Z"):
                    raise ApiError(
                        operation="createInvoicesExport",
                        status=400,
                        code="400",
                        message=f"Invalid dateStart: '{body['dateStart']}'.",
                        request_id=None,
                    )
                return {"exportId": f"e{len(self.bodies)}"}

        poster = Poster()
        first = asyncio.run(
            export_requests.create_export(poster, "BR", self.DAY, ExportDateForm.MODEL_EXAMPLE)
        )
        second = asyncio.run(export_requests.create_export(poster, "BR", self.DAY, first[1]))
        assert first == ("e2", ExportDateForm.UTC_MILLISECONDS)
        assert second == ("e3", ExportDateForm.UTC_MILLISECONDS)
        assert len(poster.bodies) == 3
