"""Specifications of the tap's bounds: answer sizes, Retry-After, pages per window, page sizes.

The client runs against a real HTTP server on 127.0.0.1 (tests/unit/test_auth.py); the pager
against a scripted fake. Every bound ends in a complete result or one line naming the cause
and, where a user may need more, the setting.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import payload, web

from tap_spinvoices.errors import (
    AuthError,
    ExpiredNextTokenError,
    RecordTooLargeError,
    RequestTooLongError,
    ResponseTooLargeError,
    RetriesExhaustedError,
)
from tap_spinvoices.spapi.paging import FollowUpForms, refused_for_length
from tap_spinvoices.spapi.retry import RetryPolicy
from tap_spinvoices.streams.pager import (
    EndlessPagingError,
    PageBounds,
    WindowRequest,
    follow_pages,
    max_pages,
    smaller_page_size,
)
from tap_spinvoices.sync.windows import Window
from tests.unit.test_auth import TOKEN_PATH, ScriptedServer, answer, lwa_grant
from tests.unit.test_client import (
    ACCESS,
    DF_PATH,
    EXPIRED,
    PAGE,
    PARAMS,
    RDT_PATH,
    amazon,
    get_page,
    get_restricted,
    run_client,
    sp_error,
)
from tests.unit.test_paging import Amazon

MB = 1 << 20
WINDOW = Window(datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 7, 2, tzinfo=UTC))


def body_of(size: int) -> bytes:
    """A JSON page of about ``size`` bytes."""
    return b'{"customerInvoices":[{"purchaseOrderNumber":"PO1","content":"' + b"A" * size + b'"}]}'


def raw(status: int, body: bytes, headers: dict[str, str] | None = None):
    def reply(_seen):
        return web.Response(status=status, body=body, headers=headers)

    return reply


def streamed(body: bytes, headers: dict[str, str]):
    """An answer sent in chunks, without Content-Length."""

    async def chunks():
        for start in range(0, len(body), 1 << 16):
            yield body[start : start + (1 << 16)]

    def reply(_seen):
        return web.Response(body=payload.AsyncIterablePayload(chunks()), headers=headers)

    return reply


class TestAnswerSize:
    def test_an_answer_longer_than_its_bound_is_refused_from_its_content_length(self):
        server = amazon(raw(200, body_of(3 * MB), {"x-amzn-RequestId": "req-9"}))

        async def scenario(h):
            return await h.client.get_json("getCustomerInvoices", DF_PATH, PARAMS, max_bytes=MB)

        with pytest.raises(ResponseTooLargeError) as caught:
            run_client(server, scenario)
        assert caught.value.limit == MB
        assert caught.value.declared == len(body_of(3 * MB))
        assert str(caught.value) == (
            "getCustomerInvoices answered a body larger than the tap reads (1 MB): 3 MB "
            "(x-amzn-RequestId req-9). Fix: raise max_record_mb if such answers are expected"
        )
        assert len(server.calls(DF_PATH)) == 1  # not retried: the same page stays as long

    def test_an_answer_within_its_bound_is_read_whole(self):
        server = amazon(raw(200, body_of(MB // 2), {"Content-Type": "application/json"}))

        async def scenario(h):
            return await h.client.get_json("getCustomerInvoices", DF_PATH, PARAMS, max_bytes=MB)

        page = run_client(server, scenario)
        assert len(page["customerInvoices"][0]["content"]) == MB // 2

    @pytest.mark.parametrize("encoding", [None, "gzip"], ids=["chunked", "gzip-bomb"])
    def test_an_answer_without_a_usable_length_is_read_only_up_to_its_bound(self, encoding):
        # Chunked: no Content-Length. Gzip: 64 MB of zeros in 64 KB; inflated it passes the
        # bound long before its end, and nothing past the bound is kept.
        inflated = body_of(64 * MB)
        sent = gzip.compress(inflated) if encoding else inflated
        headers = {"Content-Type": "application/json"}
        if encoding:
            headers["Content-Encoding"] = encoding
        server = amazon(streamed(sent, headers))

        async def scenario(h):
            return await h.client.get_json("getCustomerInvoices", DF_PATH, PARAMS, max_bytes=MB)

        with pytest.raises(ResponseTooLargeError) as caught:
            run_client(server, scenario)
        assert caught.value.declared is None
        assert "more than that" in str(caught.value)

    def test_a_long_error_answer_is_read_for_its_words_only_and_retried(self):
        page_of_html = b"<html>" + b"x" * (8 * MB) + b"</html>"
        server = amazon(raw(503, page_of_html), answer(json_body=PAGE))

        assert run_client(server, get_page) == PAGE

    def test_the_clients_own_bound_applies_when_a_call_names_none(self):
        server = amazon(raw(200, body_of(2 * MB)))

        with pytest.raises(
            ResponseTooLargeError, match=r"larger than the tap reads \(1 MB\): 2 MB"
        ):
            run_client(server, get_page, max_body_bytes=MB)

    def test_login_with_amazon_answering_megabytes_is_not_login_with_amazon(self):
        server = ScriptedServer()
        server.on("POST", TOKEN_PATH, raw(200, b'{"access_token":"' + b"A" * 2 * MB + b'"}'))
        server.on("GET", DF_PATH, answer(json_body=PAGE))

        with pytest.raises(AuthError) as caught:
            run_client(server, get_page)
        assert str(caught.value) == (
            "LWA answered a token request with more than 1 MB (HTTP 200): that is not Login "
            "with Amazon's answer (a few hundred bytes). Fix: check lwa_token_url"
        )


class TestRetryAfter:
    def test_a_retry_after_within_the_cap_is_waited_for(self):
        server = amazon(
            answer(503, text="", headers={"Retry-After": "120"}), answer(json_body=PAGE)
        )

        async def scenario(h):
            await get_page(h)
            return h.sleep.delays

        assert run_client(server, scenario) == [120.0]

    def test_a_retry_after_of_a_day_is_a_fault_retried_with_the_usual_backoff(self, caplog):
        server = amazon(
            answer(503, text="", headers={"Retry-After": "86400"}), answer(json_body=PAGE)
        )

        async def scenario(h):
            await get_page(h)
            return h.sleep.delays

        with caplog.at_level(logging.WARNING):
            delays = run_client(server, scenario)
        assert delays == [0.25]  # full jitter of the first retry (random 0.5 x 0.5 s)
        [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert warning == (
            "getCustomerInvoices: HTTP 503 : (no error body) asked to wait 86400 s "
            "(Retry-After), more than max_retry_after_seconds (120 s): counted as a fault, "
            "retry in 0.25 s"
        )

    def test_a_throttled_answer_asking_for_a_day_spends_the_fault_budget_not_the_429s(self):
        too_long = answer(
            429, sp_error("QuotaExceeded", "slow down"), headers={"Retry-After": "9e9"}
        )
        server = amazon(too_long)

        with pytest.raises(RetriesExhaustedError) as caught:
            run_client(server, get_page, policy=RetryPolicy(max_attempts=2))
        assert str(caught.value).endswith(
            "Amazon kept failing and asked to wait longer than max_retry_after_seconds: run "
            "again later, or raise max_retry_after_seconds to wait as long as it asks"
        )
        assert len(server.calls(DF_PATH)) == 2  # two faults, not twenty 429s

    @pytest.mark.parametrize(
        ("retry_after", "heeded"),
        [(None, True), (0.0, True), (120.0, True), (120.5, False), (86400.0, False)],
    )
    def test_the_cap_is_max_retry_after(self, retry_after, heeded):
        assert RetryPolicy(max_retry_after=120).heeds(retry_after) is heeded


class TestTokensThatExpireAtOnce:
    def test_an_lwa_token_refused_as_expired_while_minting_an_rdt_is_no_missing_role(self):
        server = amazon(answer(json_body=PAGE))
        server.on("POST", RDT_PATH, answer(403, EXPIRED))
        server.on(
            "POST",
            TOKEN_PATH,
            answer(json_body=lwa_grant(ACCESS, expires_in=0)),
            answer(json_body=lwa_grant("Atza|access-token-2", expires_in=0)),
        )

        with pytest.raises(Exception) as caught:  # noqa: PT011 - the type is asserted below
            run_client(server, get_restricted)
        assert type(caught.value).__name__ == "ApiError"
        assert str(caught.value) == (
            "createRestrictedDataToken failed: HTTP 403 Unauthorized: Access to requested "
            "resource is denied. (The access token you provided has expired.). Amazon refused "
            "a freshly refreshed LWA access token as expired too: tokens expire as soon as they "
            "are issued, which is not a missing role. Check that lwa_token_url reaches Login "
            "with Amazon itself (nothing caching its answers) and the machine's clock, then run "
            "again"
        )
        assert len(server.calls(RDT_PATH)) == 2  # the first, and once with a fresh token

    def test_an_rdt_refused_as_expired_right_after_its_mint_says_so(self):
        server = amazon(answer(403, EXPIRED))

        with pytest.raises(Exception, match="a freshly minted RDT as expired too"):
            run_client(server, get_restricted)


LONG_TOKEN = "+/" + "A" * 5000


class TestRequestLength:
    @pytest.mark.parametrize(
        ("reply", "error"),
        [
            (raw(400, b"Got more than 8190 bytes when reading"), RequestTooLongError),
            (raw(414, b""), RequestTooLongError),
            (raw(431, b""), RequestTooLongError),
            (answer(400, sp_error("InvalidInput", "Next token is invalid")), ExpiredNextTokenError),
        ],
        ids=["plain-400", "414", "431", "sp-api-400"],
    )
    def test_a_long_follow_up_refused_by_a_server_is_not_an_expired_token(self, reply, error):
        server = amazon(reply)

        async def scenario(h):
            return await get_page(h, {**PARAMS, "nextToken": LONG_TOKEN})

        with pytest.raises(error) as caught:
            run_client(server, scenario)
        if error is RequestTooLongError:
            assert "nextToken of 5,002 characters" in str(caught.value)
            assert "lower max_concurrency" not in str(caught.value)

    def test_a_short_follow_up_refused_without_an_sp_api_body_is_still_a_refused_token(self):
        server = amazon(raw(400, b"Bad Request"))

        async def scenario(h):
            return await get_page(h, {**PARAMS, "nextToken": "t+/="})

        with pytest.raises(ExpiredNextTokenError):
            run_client(server, scenario)

    @pytest.mark.parametrize(
        ("status", "code", "line_bytes", "too_long"),
        [
            (414, "", 100, True),
            (431, "InvalidInput", 100, True),
            (400, "", 4097, True),
            (400, "", 4096, False),
            (400, "InvalidInput", 9000, False),
            (403, "", 9000, False),
        ],
    )
    def test_refused_for_length(self, status, code, line_bytes, too_long):
        assert refused_for_length(status, code, line_bytes) is too_long


class TestPageSizes:
    @pytest.mark.parametrize(
        ("page_size", "bound", "declared", "smaller"),
        [
            (100, 8 * MB, 670 * MB, 1),  # 5 MB invoices: one a page
            (100, 8 * MB, 27 * MB, 23),  # 270 KB invoices: 80 % of the bound
            (100, 8 * MB, 9 * MB, 71),
            (100, 8 * MB, None, 25),  # no length: a quarter
            (3, 8 * MB, None, 1),
            (2, 8 * MB, 8 * MB + 1, 1),
            (100, 8 * MB, 8 * MB + 1, 79),
            (1, 8 * MB, 9 * MB, None),  # one item: nothing smaller
        ],
    )
    def test_smaller_page_size(self, page_size, bound, declared, smaller):
        assert smaller_page_size(page_size, bound, declared) == smaller

    def test_bounds_of_one_item_are_the_record_bound(self):
        bounds = PageBounds(page_bytes=8 * MB, item_bytes=16 * MB)
        assert [bounds.for_size(n) for n in (100, 2, 1)] == [8 * MB, 8 * MB, 16 * MB]


class TestMaxPages:
    @pytest.mark.parametrize(
        ("length", "page_size", "pages"),
        [
            (timedelta(minutes=15), 100, 2 * 91 + 10),  # 901 s with the 1 s overlap
            (timedelta(hours=24), 100, 2 * 8641 + 10),
            (timedelta(days=7), 100, 2 * 60481 + 10),
            (timedelta(hours=24), 1, 2 * 864_010 + 10),
        ],
    )
    def test_derived_from_the_window_and_the_page_size(self, length, page_size, pages):
        assert max_pages(Window(WINDOW.start, WINDOW.start + length), page_size) == pages

    def test_a_real_dense_window_is_far_below_it(self):
        # 100,000 invoices in a day, a hundred times a big vendor's: 1,000 pages of 17,290.
        assert max_pages(WINDOW, 100) > 17 * 1000


def parse(body):
    return body.get("items") or [], body.get("nextToken")


def walk(client, request):
    async def run():
        forms = FollowUpForms(switchable=False)
        return [p async for p in follow_pages(client, request, parse, forms)]

    return asyncio.run(run())


def sized_request(**changes):
    first = {"createdAfter": "a", "createdBefore": "b", "limit": 100}
    return WindowRequest(
        "getCustomerInvoices",
        DF_PATH,
        first,
        WINDOW,
        page_size_param="limit",
        bounds=PageBounds(page_bytes=8 * MB, item_bytes=16 * MB),
        noun="invoice",
        **changes,
    )


def too_large(limit, declared, request_id="req-1"):
    return ResponseTooLargeError(
        operation="getCustomerInvoices", limit=limit, declared=declared, request_id=request_id
    )


class TestPagerBounds:
    def test_a_page_too_long_is_fetched_again_from_the_first_page_with_fewer_items(self):
        def answer(params, n):
            if params["limit"] > 1:
                return too_large(8 * MB, 670 * MB)
            if n == 2:
                return {"items": [1], "nextToken": "t1"}
            return {"items": [2]}

        client = Amazon(answer)

        assert walk(client, sized_request()) == [[1], [2]]
        assert [q["limit"] for q in client.queries] == [100, 1, 1]
        assert "nextToken" not in client.queries[1]
        assert client.bounds == [8 * MB, 16 * MB, 16 * MB]

    def test_a_page_of_one_item_too_long_names_max_record_mb(self):
        client = Amazon(
            lambda params, _n: too_large(8 * MB if params["limit"] > 1 else 16 * MB, None)
        )

        with pytest.raises(RecordTooLargeError) as caught:
            walk(client, sized_request())
        assert str(caught.value) == (
            "getCustomerInvoices's page of one invoice in window "
            "2024-07-01T00:00:00+00:00..2024-07-02T00:00:00+00:00 is larger than max_record_mb "
            "(16 MB): more than that (x-amzn-RequestId req-1). Fix: raise max_record_mb (the "
            "tap holds a few records of that size in memory at once)"
        )
        assert [q["limit"] for q in client.queries] == [100, 25, 6, 1]

    def test_a_page_whose_size_cannot_be_lowered_is_the_clients_line(self):
        client = Amazon(lambda _params, _n: too_large(16 * MB, 20 * MB))
        request = WindowRequest("getInvoicesExport", "/x", {"a": 1}, WINDOW)

        with pytest.raises(ResponseTooLargeError):
            walk(client, request)
        assert len(client.queries) == 1

    def test_a_window_handing_out_fresh_tokens_forever_stops_at_its_page_bound(self):
        short = Window(WINDOW.start, WINDOW.start + timedelta(minutes=15))
        request = WindowRequest(
            "getCustomerInvoices",
            DF_PATH,
            {"limit": 100},
            short,
            page_size_param="limit",
            noun="invoice",
        )
        client = Amazon(lambda _params, n: {"items": [], "nextToken": f"t{n}"})

        with pytest.raises(EndlessPagingError, match="on each of 192 pages"):
            walk(client, request)
        assert len(client.queries) == max_pages(short, 100) == 192
