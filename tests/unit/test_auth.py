"""Specification of auth.py: LWA and RDT caching, single-flight refresh, and secrecy."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Self, TypeVar
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from tap_spinvoices.errors import AuthError, RetriesExhaustedError
from tap_spinvoices.spapi.auth import (
    LwaTokenProvider,
    RestrictedDataTokenProvider,
    TokenStore,
    fingerprint,
)
from tap_spinvoices.spapi.retry import RetryPolicy

T = TypeVar("T")

# aioresponses 0.7.9 cannot build responses for aiohttp 3.14 (ClientResponse now needs a
# stream_writer), so these tests talk to a real aiohttp.web server on 127.0.0.1:0.


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    raw_path: str  # path and query exactly as sent on the wire
    headers: CIMultiDict[str]
    body: bytes

    @property
    def path(self) -> str:
        return self.raw_path.partition("?")[0]

    @property
    def raw_query(self) -> str:
        return self.raw_path.partition("?")[2]


Reply = Callable[[Seen], web.StreamResponse | Awaitable[web.StreamResponse]]


def answer(
    status: int = 200,
    json_body: object = None,
    *,
    text: str = "",
    headers: dict[str, str] | None = None,
) -> Reply:
    """A scripted reply: JSON when ``json_body`` is given, else ``text``."""

    def reply(_seen: Seen) -> web.StreamResponse:
        if json_body is not None:
            return web.json_response(json_body, status=status, headers=headers)
        return web.Response(status=status, text=text, headers=headers)

    return reply


def disconnect() -> Reply:
    """A scripted reply that drops the connection without answering."""

    def reply(_seen: Seen) -> web.StreamResponse:
        raise ConnectionResetError  # aiohttp closes the connection: ServerDisconnectedError

    return reply


class ScriptedServer:
    """A real HTTP server on 127.0.0.1:0 that answers from a script per route.

    Replies are used in order and the last one repeats.
    """

    def __init__(self) -> None:
        self._scripts: dict[tuple[str, str], list[Reply]] = {}
        self.seen: list[Seen] = []
        self._server: TestServer | None = None

    def on(self, method: str, path: str, *replies: Reply) -> None:
        self._scripts[(method, path)] = list(replies)

    def calls(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path == path]

    def url(self, path: str) -> str:
        assert self._server is not None
        return str(self._server.make_url(path))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        seen = Seen(
            request.method, request.raw_path, CIMultiDict(request.headers), await request.read()
        )
        self.seen.append(seen)
        script = self._scripts.get((request.method, request.path))
        if not script:
            return web.Response(status=418, text=f"unscripted {request.method} {request.path}")
        reply = script.pop(0) if len(script) > 1 else script[0]
        response = reply(seen)
        return await response if inspect.isawaitable(response) else response

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1", port=0)
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        await self._server.close()


TOKEN_PATH = "/auth/o2/token"  # noqa: S105 - a path
CLIENT_ID = "amzn1.application-oa2-client.test"
CLIENT_SECRET = "amzn1.oa2-cs.v1.SECRET-do-not-log"  # noqa: S105 - a fake
REFRESH_TOKEN = "Atzr|REFRESH-do-not-log"  # noqa: S105 - a fake
SECRETS = (CLIENT_SECRET, REFRESH_TOKEN)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def lwa_grant(token: str, expires_in: int = 3600) -> dict[str, object]:
    return {
        "access_token": token,
        "refresh_token": REFRESH_TOKEN,
        "token_type": "bearer",
        "expires_in": expires_in,
    }


def run_with_provider(
    server: ScriptedServer,
    scenario: Callable[[LwaTokenProvider], Awaitable[T]],
    *,
    store: TokenStore | None = None,
    clock: FakeClock | None = None,
    sleep: SleepRecorder | None = None,
) -> T:
    """Run ``scenario(provider)`` in a fresh loop with its own session, like one partition."""

    async def main() -> T:
        async with server, aiohttp.ClientSession() as session:
            provider = LwaTokenProvider(
                session,
                token_url=server.url(TOKEN_PATH),
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                refresh_token=REFRESH_TOKEN,
                store=store if store is not None else TokenStore(),
                clock=clock or FakeClock(),
                sleep=sleep or SleepRecorder(),
                random=lambda: 0.5,
                policy=RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=5.0),
            )
            return await scenario(provider)

    return asyncio.run(main())


def lwa_server(*replies: Reply) -> ScriptedServer:
    server = ScriptedServer()
    server.on("POST", TOKEN_PATH, *replies)
    return server


async def get_token(provider: LwaTokenProvider) -> str:
    return await provider.access_token()


class TestLwaTokenRequest:
    def test_posts_the_refresh_token_grant_as_a_form(self):
        server = lwa_server(answer(json_body=lwa_grant("Atza|one")))
        assert run_with_provider(server, get_token) == "Atza|one"
        [post] = server.calls(TOKEN_PATH)
        assert post.headers["Content-Type"] == "application/x-www-form-urlencoded;charset=UTF-8"
        assert parse_qs(post.body.decode()) == {
            "grant_type": ["refresh_token"],
            "refresh_token": [REFRESH_TOKEN],
            "client_id": [CLIENT_ID],
            "client_secret": [CLIENT_SECRET],
        }


class TestLwaCaching:
    def test_token_is_reused_until_margin_before_expiry(self):
        clock = FakeClock()
        server = lwa_server(
            answer(json_body=lwa_grant("Atza|one", expires_in=3600)),
            answer(json_body=lwa_grant("Atza|two", expires_in=3600)),
        )

        async def scenario(provider):
            first = await provider.access_token()
            clock.now += 3600 - 60 - 1  # one second before the 60 s margin
            still = await provider.access_token()
            clock.now += 1  # inside the margin: refresh although not expired yet
            return first, still, await provider.access_token()

        assert run_with_provider(server, scenario, clock=clock) == (
            "Atza|one",
            "Atza|one",
            "Atza|two",
        )
        assert len(server.calls(TOKEN_PATH)) == 2

    def test_fifty_concurrent_callers_cause_exactly_one_post(self):
        server = lwa_server(answer(json_body=lwa_grant("Atza|one")))

        async def scenario(provider):
            return await asyncio.gather(*(provider.access_token() for _ in range(50)))

        assert set(run_with_provider(server, scenario)) == {"Atza|one"}
        assert len(server.calls(TOKEN_PATH)) == 1

    def test_store_carries_the_token_to_the_next_event_loop(self):
        store, clock = TokenStore(), FakeClock()
        server = lwa_server(answer(json_body=lwa_grant("Atza|one")))
        first = run_with_provider(server, get_token, store=store, clock=clock)
        second = run_with_provider(server, get_token, store=store, clock=clock)
        assert first == second == "Atza|one"
        assert len(server.calls(TOKEN_PATH)) == 1

    def test_invalidate_then_many_callers_refresh_once(self):
        server = lwa_server(
            answer(json_body=lwa_grant("Atza|one")), answer(json_body=lwa_grant("Atza|two"))
        )

        async def scenario(provider: LwaTokenProvider) -> list[str]:
            stale = await provider.access_token()

            async def saw_expiry() -> str:
                provider.invalidate(stale)
                return await provider.access_token()

            return await asyncio.gather(*(saw_expiry() for _ in range(20)))

        assert set(run_with_provider(server, scenario)) == {"Atza|two"}
        assert len(server.calls(TOKEN_PATH)) == 2

    def test_invalidating_an_older_token_keeps_the_current_one(self):
        server = lwa_server(
            answer(json_body=lwa_grant("Atza|one")), answer(json_body=lwa_grant("Atza|two"))
        )

        async def scenario(provider):
            one = await provider.access_token()
            provider.invalidate(one)
            two = await provider.access_token()
            provider.invalidate(one)  # a late task reporting the old token
            return await provider.access_token(), two

        current, two = run_with_provider(server, scenario)
        assert current == two == "Atza|two"
        assert len(server.calls(TOKEN_PATH)) == 2


class TestLwaRefusals:
    def refusal(self, status: int, body: dict[str, str]) -> str:
        server = lwa_server(answer(status, body))
        with pytest.raises(AuthError) as raised:
            run_with_provider(server, get_token)
        assert len(server.calls(TOKEN_PATH)) == 1  # fatal: never retried
        return str(raised.value)

    def test_invalid_grant_tells_to_reauthorise_and_update_refresh_token(self):
        text = self.refusal(
            400,
            {"error": "invalid_grant", "error_description": f"Bad grant {REFRESH_TOKEN}"},
        )
        assert "invalid_grant" in text
        assert "re-authorise" in text
        assert "refresh_token" in text
        assert not any(secret in text for secret in SECRETS)

    def test_invalid_client_names_the_client_settings(self):
        text = self.refusal(
            401, {"error": "invalid_client", "error_description": "Client authentication failed"}
        )
        assert "lwa_client_id" in text
        assert "lwa_client_secret" in text
        assert "rotated" in text
        assert not any(secret in text for secret in SECRETS)

    def test_other_refusals_quote_lwa_without_any_secret(self):
        text = self.refusal(
            400,
            {
                "error": "invalid_request",
                "error_description": f"bad client_secret {CLIENT_SECRET} or {REFRESH_TOKEN}",
            },
        )
        assert "invalid_request" in text
        assert "[redacted]" in text
        assert not any(secret in text for secret in SECRETS)


class TestLwaTransientFailures:
    def test_server_errors_and_resets_are_retried_then_succeed(self):
        sleep = SleepRecorder()
        server = lwa_server(answer(503), disconnect(), answer(json_body=lwa_grant("Atza|one")))
        assert run_with_provider(server, get_token, sleep=sleep) == "Atza|one"
        assert sleep.delays == [0.25, 0.5]  # full jitter at random()=0.5

    def test_persistent_failure_exhausts_the_retries(self):
        server = lwa_server(answer(500))
        with pytest.raises(RetriesExhaustedError, match=r"failed 3 times; last: HTTP 500"):
            run_with_provider(server, get_token)
        assert len(server.calls(TOKEN_PATH)) == 3

    def test_malformed_success_is_retried(self):
        server = lwa_server(answer(text="<html>oops</html>"), answer(json_body=lwa_grant("Atza|1")))
        assert run_with_provider(server, get_token) == "Atza|1"


class TestSecrecy:
    def test_logs_show_fingerprints_never_tokens_or_secrets(self, caplog):
        caplog.set_level(logging.DEBUG)
        server = lwa_server(answer(503), answer(json_body=lwa_grant("Atza|secret-access")))

        async def scenario(provider):
            token = await provider.access_token()
            provider.invalidate(token)

        run_with_provider(server, scenario)
        assert fingerprint("Atza|secret-access") in caplog.text
        for secret in (*SECRETS, "Atza|secret-access"):
            assert secret not in caplog.text

    def test_fingerprint_is_short_and_stable(self):
        assert fingerprint("abc") == fingerprint("abc")
        assert len(fingerprint("abc")) == 6
        assert fingerprint("abc") != fingerprint("abd")

    def test_store_repr_hides_tokens(self):
        store = TokenStore()
        store.put("lwa:x", "Atza|hidden", 10.0)
        assert "Atza|hidden" not in repr(store)


class Minter:
    def __init__(self, expires_in: float = 3600.0) -> None:
        self.calls: list[str] = []
        self.expires_in = expires_in

    async def __call__(self, path: str) -> tuple[str, float]:
        self.calls.append(path)
        token = f"Atz.sprdt|{len(self.calls)}"
        await asyncio.sleep(0)  # let concurrent callers pile up
        return token, self.expires_in


DF_PATH = "/vendor/directFulfillment/shipping/2021-12-28/customerInvoices"
V1_PATH = "/vendor/directFulfillment/shipping/v1/customerInvoices"


class TestRestrictedDataTokens:
    def test_one_mint_per_path_however_many_callers(self):
        minter = Minter()
        provider = RestrictedDataTokenProvider(minter, store=TokenStore(), clock=FakeClock())

        async def main() -> list[str]:
            return await asyncio.gather(*(provider.token_for(DF_PATH) for _ in range(16)))

        assert set(asyncio.run(main())) == {"Atz.sprdt|1"}
        assert minter.calls == [DF_PATH]

    def test_two_paths_get_two_tokens(self):
        minter = Minter()
        provider = RestrictedDataTokenProvider(minter, store=TokenStore(), clock=FakeClock())

        async def main() -> list[str]:
            return list(
                await asyncio.gather(provider.token_for(DF_PATH), provider.token_for(V1_PATH))
            )

        assert asyncio.run(main()) == ["Atz.sprdt|1", "Atz.sprdt|2"]
        assert minter.calls == [DF_PATH, V1_PATH]

    def test_rdt_is_minted_again_near_expiry(self):
        minter, clock = Minter(expires_in=3600.0), FakeClock()
        provider = RestrictedDataTokenProvider(minter, store=TokenStore(), clock=clock, margin=60)

        async def main() -> tuple[str, str, str]:
            first = await provider.token_for(DF_PATH)
            clock.now += 3539
            same = await provider.token_for(DF_PATH)
            clock.now += 1
            return first, same, await provider.token_for(DF_PATH)

        assert asyncio.run(main()) == ("Atz.sprdt|1", "Atz.sprdt|1", "Atz.sprdt|2")

    def test_invalidate_drops_only_that_path(self):
        minter = Minter()
        provider = RestrictedDataTokenProvider(minter, store=TokenStore(), clock=FakeClock())

        async def main() -> tuple[str, str, str]:
            df, v1 = await provider.token_for(DF_PATH), await provider.token_for(V1_PATH)
            provider.invalidate(DF_PATH, df)
            provider.invalidate(DF_PATH, df)  # a second report of the same token: no-op
            return await provider.token_for(DF_PATH), await provider.token_for(V1_PATH), v1

        new_df, v1_again, v1 = asyncio.run(main())
        assert new_df == "Atz.sprdt|3"
        assert v1_again == v1
        assert minter.calls == [DF_PATH, V1_PATH, DF_PATH]

    def test_cached_rdts_survive_into_the_next_loop(self):
        minter, store, clock = Minter(), TokenStore(), FakeClock()

        async def main() -> str:
            provider = RestrictedDataTokenProvider(minter, store=store, clock=clock)
            return await provider.token_for(DF_PATH)

        assert asyncio.run(main()) == asyncio.run(main())
        assert minter.calls == [DF_PATH]


class TestTokenStore:
    def test_token_is_fresh_until_its_deadline(self):
        store = TokenStore()
        store.put("k", "t", fresh_until=10.0)
        assert store.get("k", now=9.9) == "t"
        assert store.get("k", now=10.0) is None

    def test_discard_only_drops_the_named_token(self):
        store = TokenStore()
        store.put("k", "new", fresh_until=10.0)
        assert not store.discard("k", "old")
        assert store.get("k", now=0.0) == "new"
        assert store.discard("k", "new")
        assert store.get("k", now=0.0) is None

    def test_store_is_safe_to_share_between_threads(self):
        store = TokenStore()

        def churn(index):
            for n in range(300):
                store.put(f"k{index}", f"t{n}", fresh_until=1e9)
                store.discard(f"k{index}", f"t{n - 1}")

        threads = [threading.Thread(target=churn, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(store.get(f"k{i}", now=0.0) == "t299" for i in range(8))
