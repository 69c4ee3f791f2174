"""Specification of client.py against a real local HTTP server playing Amazon (no network)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import aiohttp
import orjson
import pytest
from aiohttp import web

from tap_spinvoices.errors import (
    ApiError,
    AuthError,
    ExpiredNextTokenError,
    RetriesExhaustedError,
    RoleError,
    SpinvoicesError,
)
from tap_spinvoices.spapi import client as client_module
from tap_spinvoices.spapi.auth import LwaTokenProvider, TokenStore
from tap_spinvoices.spapi.client import SpApiClient, default_user_agent, request_id_of
from tap_spinvoices.spapi.operations import CREATE_RESTRICTED_DATA_TOKEN, USAGE_PLANS, UsagePlan
from tap_spinvoices.spapi.ratelimits import OperationBudgets
from tap_spinvoices.spapi.responses import parse_error_body
from tap_spinvoices.spapi.retry import RetryPolicy
from tests.unit.test_auth import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    TOKEN_PATH,
    FakeClock,
    Reply,
    ScriptedServer,
    Seen,
    SleepRecorder,
    answer,
    disconnect,
    lwa_grant,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

T = TypeVar("T")

DF_PATH = "/vendor/directFulfillment/shipping/2021-12-28/customerInvoices"
V1_PATH = "/vendor/directFulfillment/shipping/v1/customerInvoices"
EXPORTS_PATH = "/tax/invoices/2024-06-19/exports"
RDT_PATH = CREATE_RESTRICTED_DATA_TOKEN.path
OP = "getCustomerInvoices"
PARAMS = {"createdAfter": "2024-07-01T00:00:00Z", "createdBefore": "2024-07-08T00:00:00Z"}
PAGE = {"customerInvoices": [{"purchaseOrderNumber": "PO1", "content": "JVBERi0="}]}
ACCESS = "Atza|access-token-1"
RDT = "Atz.sprdt|rdt-1"
EVERY_SECRET = (CLIENT_SECRET, REFRESH_TOKEN, ACCESS, RDT, "Atza|access-token-2", "Atz.sprdt|rdt-2")

# Budgets generous enough that pacing never waits for the real clock (test_ratelimits covers it).
UNTHROTTLED = {operation: UsagePlan(rate=1000.0, burst=1000) for operation in USAGE_PLANS}


def sp_error(code: str, message: str, details: str = "") -> dict[str, list[dict[str, str]]]:
    return {"errors": [{"code": code, "message": message, "details": details}]}


QUOTA = sp_error("QuotaExceeded", "You exceeded your quota for the requested resource.")
EXPIRED = sp_error(
    "Unauthorized",
    "Access to requested resource is denied.",
    "The access token you provided has expired.",
)
DENIED = sp_error("Unauthorized", "Access to requested resource is denied.")


def rdt_answer(token: str = RDT) -> Reply:
    return answer(json_body={"restrictedDataToken": token, "expiresIn": 3600})


def amazon(*main_replies: Reply, path: str = DF_PATH, method: str = "GET") -> ScriptedServer:
    """A server with LWA and the Tokens API answering, and ``main_replies`` on ``path``."""
    server = ScriptedServer()
    server.on("POST", TOKEN_PATH, answer(json_body=lwa_grant(ACCESS)))
    server.on("POST", RDT_PATH, rdt_answer())
    if main_replies:
        server.on(method, path, *main_replies)
    return server


def with_request_id(reply_status: int, body: object, request_id: str = "req-123") -> Reply:
    return answer(reply_status, body, headers={"x-amzn-RequestId": request_id})


@dataclass
class Harness:
    client: SpApiClient
    budgets: OperationBudgets
    sleep: SleepRecorder


def run_client(  # noqa: PLR0913 - the scenario and the client's knobs
    server: ScriptedServer,
    scenario: Callable[[Harness], Awaitable[T]],
    *,
    use_rdt: bool = True,
    policy: RetryPolicy | None = None,
    timeout_s: float = 5.0,
    max_body_bytes: int = client_module.DEFAULT_MAX_BODY_BYTES,
) -> T:
    """Run ``scenario(harness)`` in a fresh event loop, as the tap runs one partition."""
    sleep, store, clock = SleepRecorder(), TokenStore(), FakeClock()

    async def main() -> T:
        async with server, aiohttp.ClientSession() as session:
            lwa = LwaTokenProvider(
                session,
                token_url=server.url(TOKEN_PATH),
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                refresh_token=REFRESH_TOKEN,
                store=store,
                clock=clock,
                sleep=sleep,
            )
            budgets = OperationBudgets(UNTHROTTLED)
            client = SpApiClient(
                session,
                base_url=server.url("/"),
                lwa=lwa,
                budgets=budgets,
                store=store,
                policy=policy or RetryPolicy(),
                use_rdt=use_rdt,
                timeout_s=timeout_s,
                max_body_bytes=max_body_bytes,
                sleep=sleep,
                random=lambda: 0.5,
                token_clock=clock,
            )
            try:
                return await scenario(Harness(client, budgets, sleep))
            finally:
                budgets.close()

    return asyncio.run(main())


async def get_page(
    h: Harness,
    params: Mapping[str, str | int] = PARAMS,
    *,
    restricted: bool = False,
    path: str = DF_PATH,
) -> dict[str, Any]:
    return await h.client.get_json(OP, path, params, restricted=restricted)


async def get_restricted(h: Harness) -> dict[str, Any]:
    return await get_page(h, restricted=True)


class TestSuccess:
    def test_answer_is_decoded_and_returned(self):
        assert run_client(amazon(answer(json_body=PAGE)), get_page) == PAGE

    def test_answer_carries_its_request_id_for_warnings(self):
        body = run_client(amazon(with_request_id(200, PAGE, "req-77")), get_page)
        assert request_id_of(body) == "req-77"

    def test_every_request_carries_amazons_headers(self):
        server = amazon(answer(json_body=PAGE))
        run_client(server, get_page)
        [seen] = server.calls(DF_PATH)
        assert seen.headers["x-amz-access-token"] == ACCESS
        assert seen.headers["accept"] == "application/json"
        assert re.fullmatch(r"\d{8}T\d{6}Z", seen.headers["x-amz-date"])
        assert re.fullmatch(
            r"tap-spinvoices/\S+ \(Language=Python/3\.\d+\.\d+\)", seen.headers["user-agent"]
        )
        assert seen.headers["user-agent"] == default_user_agent()

    def test_post_sends_json_and_accepts_two_oh_two(self):
        server = amazon(answer(202, {"exportId": "4bdd8293"}), path=EXPORTS_PATH, method="POST")

        async def scenario(h):
            body = {"marketplaceId": "A2Q3Y263D00KWC", "fileFormat": "XML"}
            return await h.client.post_json("createInvoicesExport", EXPORTS_PATH, body)

        assert run_client(server, scenario) == {"exportId": "4bdd8293"}
        [seen] = server.calls(EXPORTS_PATH)
        assert seen.headers["content-type"] == "application/json"
        assert orjson.loads(seen.body) == {"marketplaceId": "A2Q3Y263D00KWC", "fileFormat": "XML"}

    def test_rate_limit_header_retunes_the_operations_budget(self):
        server = amazon(answer(json_body=PAGE, headers={"x-amzn-RateLimit-Limit": "0.5"}))

        async def scenario(h):
            await get_page(h)
            return h.budgets.rate(OP)

        assert run_client(server, scenario) == 0.5


class TestQueryEncoding:
    def test_plus_in_a_next_token_reaches_the_server_as_percent_2b(self):
        server = amazon(answer(json_body=PAGE))

        async def scenario(h):
            return await get_page(h, {**PARAMS, "nextToken": "MDAw+MD/AwMQ=="})

        run_client(server, scenario)
        [seen] = server.calls(DF_PATH)
        assert "nextToken=MDAw%2BMD%2FAwMQ%3D%3D" in seen.raw_query
        assert "+" not in seen.raw_query

    def test_timestamp_offsets_are_encoded_and_integers_sent_as_text(self):
        server = amazon(answer(json_body=PAGE))

        async def scenario(h):
            return await get_page(h, {"createdAfter": "2024-07-01T00:00:00+05:30", "limit": 100})

        run_client(server, scenario)
        [seen] = server.calls(DF_PATH)
        assert seen.raw_query == "createdAfter=2024-07-01T00%3A00%3A00%2B05%3A30&limit=100"

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "ASC",
            "2024-07-01T00:00:00.000Z",
            "+/8BAAAAZEDA6+gJyR18TMcOgdmq3kMwmNKY40+zCQ==",
            "".join(map(chr, range(128))),
            "café déjà ✓ 𝄞",
            "WH BLR&1=2?#%",
        ],
    )
    def test_values_are_encoded_exactly_as_urllib_quote_with_nothing_safe(self, text):
        assert client_module._quote(text) == quote(text, safe="")
        assert client_module._quote(text) == quote(text, safe="")  # cached answer

    def test_a_lone_surrogate_fails_like_urllib(self):
        with pytest.raises(UnicodeEncodeError):
            client_module._quote("\ud800")


class TestAmzDate:
    def test_is_the_utc_second_of_the_request(self, monkeypatch):
        client = SpApiClient(
            None,  # type: ignore[arg-type]  # _amz_date never touches the session
            base_url="https://example.invalid",
            lwa=None,  # type: ignore[arg-type]
            budgets=None,  # type: ignore[arg-type]
            store=TokenStore(),
        )
        for now in (1_704_067_199.999, 1_704_067_200.0, 1_704_067_200.5, 1_719_792_000.25):
            monkeypatch.setattr(time, "time", lambda now=now: now)
            expected = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
            assert client._amz_date() == expected


class TestRetries:
    def test_four_two_nine_then_success_is_retried_with_backoff(self):
        server = amazon(answer(429, QUOTA), answer(429, QUOTA), answer(json_body=PAGE))

        async def scenario(h):
            return await get_page(h), h.sleep.delays, h.client.metrics[OP]

        page, delays, metrics = run_client(server, scenario)
        assert page == PAGE
        assert delays == [0.25, 0.5]  # full jitter (random()=0.5) over 0.5 s, then 1 s
        assert (metrics.requests, metrics.throttled, metrics.retries, metrics.errors) == (
            3,
            2,
            2,
            0,
        )
        assert metrics.latency_s > 0

    @pytest.mark.parametrize("status", [500, 502, 503, 504])
    def test_server_errors_are_retried(self, status):
        server = amazon(answer(status, text="busy"), answer(json_body=PAGE))
        assert run_client(server, get_page) == PAGE
        assert len(server.calls(DF_PATH)) == 2

    def test_retry_after_is_honoured(self):
        server = amazon(answer(503, text="", headers={"Retry-After": "7"}), answer(json_body=PAGE))

        async def scenario(h):
            await get_page(h)
            return h.sleep.delays

        assert run_client(server, scenario) == [7.0]

    def test_dropped_connection_is_retried(self):
        server = amazon(disconnect(), answer(json_body=PAGE))
        assert run_client(server, get_page) == PAGE
        assert len(server.calls(DF_PATH)) == 2

    def test_timeout_is_retried(self):
        calls = []

        async def slow_then_fast(_seen):
            calls.append(1)
            if len(calls) == 1:
                await asyncio.Event().wait()  # never answers: only the client's timeout ends it
            return web.json_response(PAGE)

        async def scenario(h):
            return await get_page(h), h.sleep.delays

        # 1 s: far above what a fast answer takes even on a loaded machine, so the retries
        # below the first are the exception the assertions allow, not the rule.
        page, delays = run_client(amazon(slow_then_fast), scenario, timeout_s=1.0)
        assert page == PAGE
        assert len(calls) >= 2  # a loaded machine may time out a fast answer too
        assert len(delays) == len(calls) - 1

    def test_malformed_json_on_a_two_hundred_is_retried_not_an_empty_page(self):
        server = amazon(answer(text='{"customerInvoices": [tru'), answer(json_body=PAGE))
        assert run_client(server, get_page) == PAGE

    def test_persistent_malformed_json_exhausts_the_retries(self):
        server = amazon(answer(text="<html>gateway</html>"))
        with pytest.raises(RetriesExhaustedError) as raised:
            run_client(server, get_page, policy=RetryPolicy(max_attempts=3))
        text = str(raised.value)
        assert "getCustomerInvoices gave up after 3 attempts" in text
        assert "malformed JSON" in text
        assert len(server.calls(DF_PATH)) == 3

    def test_exhausted_retries_name_the_last_status_and_request_id(self):
        server = amazon(with_request_id(503, sp_error("ServiceUnavailable", "Try later"), "r-9"))
        with pytest.raises(RetriesExhaustedError) as raised:
            run_client(server, get_page, policy=RetryPolicy(max_attempts=2))
        assert "HTTP 503 ServiceUnavailable: Try later (x-amzn-RequestId r-9)" in str(raised.value)

    def test_throttling_has_its_own_budget(self):
        server = amazon(answer(429, QUOTA))
        policy = RetryPolicy(max_attempts=2, max_throttled_attempts=4)
        with pytest.raises(RetriesExhaustedError, match="after 4 attempts"):
            run_client(server, get_page, policy=policy)


class TestFailFast:
    @pytest.mark.parametrize(
        ("status", "code", "message"),
        [
            (400, "InvalidInput", "Invalid transmission ID."),
            (404, "NotFound", "The resource specified does not exist."),
            (413, "RequestTooLarge", "The request size exceeded the maximum accepted size."),
            (415, "UnsupportedMediaType", "The request payload is in an unsupported format."),
        ],
    )
    def test_client_errors_fail_with_code_message_and_request_id(self, status, code, message):
        server = amazon(with_request_id(status, sp_error(code, message)))

        async def scenario(h):
            try:
                await get_page(h)
            finally:
                assert h.sleep.delays == []

        with pytest.raises(ApiError) as raised:
            run_client(server, scenario)
        error = raised.value
        assert (error.operation, error.status, error.code) == (OP, status, code)
        assert error.api_message == message
        assert error.request_id == "req-123"
        assert f"HTTP {status} {code}: {message} (x-amzn-RequestId req-123)" in str(error)
        assert len(server.calls(DF_PATH)) == 1

    def test_odd_error_bodies_still_give_a_readable_error(self):
        server = amazon(answer(400, text="<html><body>Bad Request</body></html>"))
        with pytest.raises(ApiError, match=r"HTTP 400 : <html><body>Bad Request"):
            run_client(server, get_page)

    @pytest.mark.parametrize(
        ("code", "message"),
        [
            ("InvalidInput", "Next token is invalid or expired"),
            ("InvalidInput", "Next token has expired."),
            ("InvalidInput", "Token is not valid, token duration is 25/3 minutes."),
            ("InvalidInput", "We could not decode your NextToken"),
            ("InvalidInput", "The request is invalid."),
            (
                "400",
                "Specifying nextToken with any other parameters will cause the request to fail.",
            ),
        ],
    )
    def test_any_400_to_a_request_carrying_a_next_token_is_a_refused_token(self, code, message):
        # The pager reads the text to tell an expired token from wrong arguments.
        server = amazon(with_request_id(400, sp_error(code, message)))

        async def scenario(h):
            return await get_page(h, {**PARAMS, "nextToken": "MDAw"})

        with pytest.raises(ExpiredNextTokenError) as raised:
            run_client(server, scenario)
        assert raised.value.api_message == message

    def test_same_message_without_a_next_token_is_a_plain_api_error(self):
        server = amazon(answer(400, sp_error("InvalidInput", "Next token is invalid or expired")))
        with pytest.raises(ApiError) as raised:
            run_client(server, get_page)
        assert type(raised.value) is ApiError

    def test_access_denied_is_a_role_error_naming_the_role(self):
        server = amazon(with_request_id(403, DENIED))
        with pytest.raises(RoleError) as raised:
            run_client(server, get_page)
        text = str(raised.value)
        assert "Direct-to-Consumer Shipping (Restricted)" in text
        assert "re-authorise" in text
        assert "Access to requested resource is denied." in text
        assert "req-123" in text
        assert len(server.calls(TOKEN_PATH)) == 1  # no pointless token refresh

    def test_four_oh_three_invalid_request_is_an_api_error(self):
        server = amazon(answer(403, sp_error("InvalidRequest", "The request is invalid.")))
        with pytest.raises(ApiError, match="InvalidRequest"):
            run_client(server, get_page)

    def test_non_retryable_client_side_error_is_a_spinvoices_error(self):
        server = amazon(answer(json_body=PAGE))

        async def scenario(h):
            return await get_page(h, path="/redirect-loop")

        server.on("GET", "/redirect-loop", answer(302, headers={"Location": "/redirect-loop"}))
        with pytest.raises(SpinvoicesError, match="TooManyRedirects"):
            run_client(server, scenario)


def expired_unless(fresh_token: str) -> Reply:
    """A reply answering 403-expired to every token but ``fresh_token``."""

    def reply(seen: Seen) -> web.StreamResponse:
        if seen.headers["x-amz-access-token"] == fresh_token:
            return web.json_response(PAGE)
        return web.json_response(EXPIRED, status=403)

    return reply


class TestExpiredTokens:
    def test_many_concurrent_requests_refresh_the_lwa_token_exactly_once(self):
        server = amazon(expired_unless("Atza|access-token-2"))
        server.on(
            "POST",
            TOKEN_PATH,
            answer(json_body=lwa_grant(ACCESS)),
            answer(json_body=lwa_grant("Atza|access-token-2")),
        )

        async def scenario(h):
            pages = await asyncio.gather(*(get_page(h) for _ in range(16)))
            return pages, h.sleep.delays

        pages, delays = run_client(server, scenario)
        assert pages == [PAGE] * 16
        assert len(server.calls(TOKEN_PATH)) == 2  # the first token, then one refresh
        assert delays == []  # a refresh is retried at once

    def test_a_token_refused_again_after_refresh_fails(self):
        server = amazon(answer(403, EXPIRED))
        server.on(
            "POST",
            TOKEN_PATH,
            answer(json_body=lwa_grant(ACCESS)),
            answer(json_body=lwa_grant("Atza|access-token-2")),
        )
        with pytest.raises(ApiError, match="expire as soon as they are issued, which is not a"):
            run_client(server, get_page)
        assert len(server.calls(DF_PATH)) == 2


class TestRestrictedDataTokens:
    def test_restricted_call_sends_an_rdt_minted_for_its_path(self):
        server = amazon(answer(json_body=PAGE))
        assert run_client(server, get_restricted) == PAGE
        [mint] = server.calls(RDT_PATH)
        assert orjson.loads(mint.body) == {
            "restrictedResources": [{"method": "GET", "path": DF_PATH}]
        }
        assert mint.headers["x-amz-access-token"] == ACCESS
        [seen] = server.calls(DF_PATH)
        assert seen.headers["x-amz-access-token"] == RDT

    def test_rdt_is_cached_per_path(self):
        server = amazon(answer(json_body=PAGE))
        server.on("GET", V1_PATH, answer(json_body=PAGE))
        server.on("POST", RDT_PATH, rdt_answer(RDT), rdt_answer("Atz.sprdt|rdt-2"))

        async def scenario(h):
            await asyncio.gather(*(get_page(h, restricted=True) for _ in range(8)))
            await get_page(h, restricted=True, path=V1_PATH)
            await get_page(h, restricted=True, path=V1_PATH)

        run_client(server, scenario)
        minted_for = [
            orjson.loads(m.body)["restrictedResources"][0]["path"] for m in server.calls(RDT_PATH)
        ]
        assert minted_for == [DF_PATH, V1_PATH]
        assert {s.headers["x-amz-access-token"] for s in server.calls(V1_PATH)} == {
            "Atz.sprdt|rdt-2"
        }

    def test_expired_rdt_is_minted_again_once(self):
        server = amazon(expired_unless("Atz.sprdt|rdt-2"))
        server.on("POST", RDT_PATH, rdt_answer(RDT), rdt_answer("Atz.sprdt|rdt-2"))

        async def scenario(h):
            return await asyncio.gather(*(get_restricted(h) for _ in range(8)))

        assert run_client(server, scenario) == [PAGE] * 8
        assert len(server.calls(RDT_PATH)) == 2
        assert len(server.calls(TOKEN_PATH)) == 1

    def test_use_rdt_false_sends_the_lwa_token(self):
        server = amazon(answer(json_body=PAGE))
        run_client(server, get_restricted, use_rdt=False)
        assert server.calls(RDT_PATH) == []
        assert server.calls(DF_PATH)[0].headers["x-amz-access-token"] == ACCESS

    @pytest.mark.parametrize(
        ("status", "body"),
        [
            (403, DENIED),
            (
                400,
                sp_error(
                    "InvalidInput",
                    "Application do not have access to some or all requested resource",
                ),
            ),
        ],
    )
    def test_refused_rdt_is_a_role_error_asking_for_the_role_and_reauthorisation(
        self, status, body
    ):
        server = amazon(answer(json_body=PAGE))
        server.on("POST", RDT_PATH, with_request_id(status, body, "rdt-req-9"))
        with pytest.raises(RoleError) as raised:
            run_client(server, get_restricted)
        text = str(raised.value)
        assert "Direct-to-Consumer Shipping (Restricted)" in text
        assert "re-authorise" in text
        assert body["errors"][0]["message"] in text
        assert "rdt-req-9" in text
        assert DF_PATH in text
        assert server.calls(DF_PATH) == []

    def test_rdt_minting_is_retried_on_throttling(self):
        server = amazon(answer(json_body=PAGE))
        server.on("POST", RDT_PATH, answer(429, QUOTA), rdt_answer())

        async def scenario(h):
            await get_restricted(h)
            return h.client.metrics["createRestrictedDataToken"].throttled

        assert run_client(server, scenario) == 1


class TestSecrecy:
    def test_no_token_or_secret_in_any_exception_or_log(self, caplog):
        caplog.set_level(logging.DEBUG)
        failures = []

        async def expect_failure(coroutine: Awaitable[object]) -> None:
            try:
                await coroutine
            except SpinvoicesError as exc:
                failures.append(exc)
            else:
                pytest.fail("expected a failure")

        # Amazon echoing the token we sent back in a message must not leak it either.
        echo = sp_error("InvalidInput", f"bad header {ACCESS}")
        server = amazon(answer(400, echo))
        server.on("GET", V1_PATH, answer(503, EXPIRED))
        server.on("GET", "/denied", answer(403, DENIED))
        server.on("POST", RDT_PATH, answer(403, sp_error("Unauthorized", f"no {ACCESS}")))

        async def scenario(h):
            await expect_failure(get_page(h))
            await expect_failure(get_page(h, path=V1_PATH))
            await expect_failure(get_page(h, path="/denied"))
            await expect_failure(get_page(h, path="/rdt-refused", restricted=True))

        run_client(server, scenario, policy=RetryPolicy(max_attempts=2))
        assert len(failures) == 4
        texts = ["".join(traceback.format_exception(exc)) for exc in failures]
        for secret in EVERY_SECRET:
            assert secret not in caplog.text
            for text in texts:
                assert secret not in text

    def test_lwa_refusal_reaches_the_caller_as_auth_error(self):
        server = amazon(answer(json_body=PAGE))
        server.on("POST", TOKEN_PATH, answer(400, {"error": "invalid_grant"}))
        with pytest.raises(AuthError, match="invalid_grant"):
            run_client(server, get_page)


class TestParseErrorBody:
    @pytest.mark.parametrize(
        ("body", "code", "message"),
        [
            (orjson.dumps(QUOTA), "QuotaExceeded", QUOTA["errors"][0]["message"]),
            (b'{"payload": null, "errors": [{"code": "X", "message": "m"}]}', "X", "m"),
            (b'{"message": "Forbidden"}', "", "Forbidden"),
            (b'{"errors": []}', "", ""),
            (b'{"errors": "odd"}', "", ""),
            (b"[1, 2]", "", "[1, 2]"),
            (b"", "", "(no error body)"),
            (b"\xff\xfe garbage", "", "\ufffd\ufffd garbage"),
        ],
    )
    def test_robust_to_missing_or_odd_bodies(self, body, code, message):
        detail = parse_error_body(body)
        assert (detail.code, detail.message) == (code, message)
