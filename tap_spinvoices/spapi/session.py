"""Wiring: one aiohttp session, LWA provider, budgets and client per event loop.

"Session" here is aiohttp's: the HTTP session (connection pool, default headers) that every
request of one event loop goes through. What a stream holds while it fetches is the
``ApiConnection`` built on it.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import aiohttp

from tap_spinvoices.spapi.auth import LwaTokenProvider, TokenStore
from tap_spinvoices.spapi.client import SpApiClient, default_user_agent
from tap_spinvoices.spapi.ratelimits import BudgetLedger, OperationBudgets
from tap_spinvoices.spapi.retry import RetryPolicy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = [
    "ApiConnection",
    "ConnectionOptions",
    "TokensAndBudgets",
    "open_connection",
]


@dataclass
class TokensAndBudgets:
    """What outlives one event loop: cached tokens and how full each rate budget is."""

    tokens: TokenStore = field(default_factory=TokenStore)
    budgets: BudgetLedger = field(default_factory=BudgetLedger)


class ConnectionOptions(Protocol):
    """What a connection reads of the tap's settings: the tap passes its ``Settings`` as it is.

    spapi/ knows no settings module; the names and types here are the contract, and mypy
    checks that ``Settings`` (declared in settings_declaration.py) meets it, so no setting is
    copied from one object into another.
    """

    @property
    def lwa_client_id(self) -> str:
        """The LWA client id of the app."""

    @property
    def lwa_client_secret(self) -> str:
        """The LWA client secret (never logged)."""

    @property
    def refresh_token(self) -> str:
        """The selling partner's refresh token (never logged)."""

    @property
    def lwa_token_url(self) -> str:
        """Where access tokens are requested."""

    @property
    def max_concurrency(self) -> int:
        """Windows in flight at once."""

    @property
    def rate_budget_share(self) -> float:
        """Fraction of each quota the tap may use, in (0, 1]."""

    @property
    def request_timeout_s(self) -> float:
        """Total time allowed for one HTTP request."""

    @property
    def max_retries(self) -> int:
        """Attempts per request that may end in a fault."""

    @property
    def use_rdt(self) -> bool:
        """Send an RDT to the restricted operations."""

    @property
    def max_record_bytes(self) -> int:
        """Longest answer read (a page of one item at most this long)."""

    @property
    def max_retry_after_s(self) -> float:
        """Longest Retry-After waited for; past it, a fault."""


@dataclass(frozen=True)
class ApiConnection:
    """One event loop's line to the SP-API: the client and the rate budgets it paces with."""

    client: SpApiClient
    budgets: OperationBudgets
    http: aiohttp.ClientSession  #: for pre-signed downloads, which take no SP-API headers


@asynccontextmanager
async def open_connection(
    options: ConnectionOptions, shared: TokensAndBudgets, base_url: str
) -> AsyncIterator[ApiConnection]:
    """An SP-API client for the running loop; its HTTP session and budgets close with the block."""
    # Enough connections for every window in flight plus token calls.
    connector = aiohttp.TCPConnector(limit=options.max_concurrency + 4)
    user_agent = default_user_agent()
    async with aiohttp.ClientSession(
        connector=connector, headers={"user-agent": user_agent}
    ) as session:
        budgets = OperationBudgets(share=options.rate_budget_share, ledger=shared.budgets)
        try:
            lwa = LwaTokenProvider(
                session,
                client_id=options.lwa_client_id,
                client_secret=options.lwa_client_secret,
                refresh_token=options.refresh_token,
                store=shared.tokens,
                token_url=options.lwa_token_url,
                timeout_s=options.request_timeout_s,
            )
            client = SpApiClient(
                session,
                base_url=base_url,
                lwa=lwa,
                budgets=budgets,
                store=shared.tokens,
                policy=RetryPolicy(
                    max_attempts=options.max_retries, max_retry_after=options.max_retry_after_s
                ),
                use_rdt=options.use_rdt,
                user_agent=user_agent,
                timeout_s=options.request_timeout_s,
                max_body_bytes=options.max_record_bytes,
            )
            yield ApiConnection(client, budgets, session)
        finally:
            budgets.close()
