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

    from tap_spinvoices.settings import Settings


@dataclass
class SharedAuth:
    """What outlives one event loop: cached tokens and how full each rate budget is."""

    tokens: TokenStore = field(default_factory=TokenStore)
    budgets: BudgetLedger = field(default_factory=BudgetLedger)


@dataclass(frozen=True)
class ApiSession:
    """The client of one event loop and the rate budgets it paces requests with."""

    client: SpApiClient
    budgets: OperationBudgets
    http: aiohttp.ClientSession  #: for pre-signed downloads, which take no SP-API headers


@asynccontextmanager
async def open_session(
    settings: Settings, shared: SharedAuth, base_url: str
) -> AsyncIterator[ApiSession]:
    """An SP-API client for the running loop; its session and budgets close with the block."""
    # Enough connections for every window in flight plus token calls.
    connector = aiohttp.TCPConnector(limit=settings.max_concurrency + 4)
    user_agent = default_user_agent()
    async with aiohttp.ClientSession(
        connector=connector, headers={"user-agent": user_agent}
    ) as session:
        budgets = OperationBudgets(share=settings.rate_budget_share, ledger=shared.budgets)
        try:
            lwa = LwaTokenProvider(
                session,
                client_id=settings.lwa_client_id,
                client_secret=settings.lwa_client_secret,
                refresh_token=settings.refresh_token,
                store=shared.tokens,
                token_url=settings.lwa_token_url,
                timeout_s=settings.request_timeout_s,
            )
            client = SpApiClient(
                session,
                base_url=base_url,
                lwa=lwa,
                budgets=budgets,
                store=shared.tokens,
                policy=RetryPolicy(max_attempts=settings.max_retries),
                use_rdt=settings.use_rdt,
                user_agent=user_agent,
                timeout_s=settings.request_timeout_s,
            )
            yield ApiSession(client, budgets, session)
        finally:
            budgets.close()
