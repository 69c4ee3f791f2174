"""Wiring: one aiohttp session, LWA provider, budgets and client per event loop."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp

from tap_spinvoices.spapi.auth import LwaTokenProvider, TokenStore
from tap_spinvoices.spapi.client import SpApiClient, default_user_agent
from tap_spinvoices.spapi.ratelimits import BudgetLedger, OperationBudgets
from tap_spinvoices.spapi.retry import RetryPolicy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@dataclass
class TokensAndBudgets:
    """What outlives one event loop: cached tokens and how full each rate budget is."""

    tokens: TokenStore = field(default_factory=TokenStore)
    budgets: BudgetLedger = field(default_factory=BudgetLedger)


@dataclass(frozen=True, kw_only=True)
class SessionOptions:
    """What a session needs of the tap's settings (the settings of the same names)."""

    lwa_client_id: str
    lwa_client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    lwa_token_url: str
    max_concurrency: int  #: windows in flight at once
    rate_budget_share: float  #: fraction of each quota the tap may use, in (0, 1]
    request_timeout_s: float
    max_retries: int  #: attempts per request that may end in a fault
    use_rdt: bool
    max_record_bytes: int  #: longest answer read (a page of one item at most this long)
    max_retry_after_s: float  #: longest Retry-After waited for; past it, a fault


@dataclass(frozen=True)
class ApiSession:
    """The client of one event loop and the rate budgets it paces requests with."""

    client: SpApiClient
    budgets: OperationBudgets
    http: aiohttp.ClientSession  #: for pre-signed downloads, which take no SP-API headers


@asynccontextmanager
async def open_session(
    options: SessionOptions, shared: TokensAndBudgets, base_url: str
) -> AsyncIterator[ApiSession]:
    """An SP-API client for the running loop; its session and budgets close with the block."""
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
            yield ApiSession(client, budgets, session)
        finally:
            budgets.close()
