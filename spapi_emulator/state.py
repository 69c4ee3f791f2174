"""The emulator's live state: config, dataset, tokens, buckets, faults, paging and counters."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from spapi_emulator.buckets import RateLimiter
from spapi_emulator.config import EmulatorConfig, LiveConfig, SellingPartner
from spapi_emulator.families import FamilyInputs
from spapi_emulator.faults import FaultInjector
from spapi_emulator.gate import RequestGate
from spapi_emulator.paging import NextTokenCodec
from spapi_emulator.stats import Stats
from spapi_emulator.tokens import TokenStore

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from spapi_emulator.families import Family

T = TypeVar("T")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class EmulatorState:
    """Everything one emulator instance knows; shared by its handlers.

    One state per selling partner: the primary one (the config's own refresh token) holds
    the others in ``partners``; they share the live config, the token store and the clocks,
    and each has its own datasets, token buckets, nextTokens and counters.

    Attributes:
        selling_partner_id: Whose state this is.
        partners: selling_partner_id -> state of every partner, this one included.
        config: The config in force (``live.current``).
        live: The config every request reads; ``reconfigure`` replaces it.
        tokens: Issued LWA access tokens and RDTs.
        limiter: Per-operation token buckets.
        faults: Latency and fault dice.
        next_tokens: nextToken codec.
        stats: Request counters.
        gate: Holds requests at a point of the client's progress that a test chooses.
        clock: Monotonic clock (seconds) behind buckets, token and nextToken expiry.
        wall_clock: Real "now" (aware) that createdBefore may not exceed.

    The state of each API family the emulator serves (the Direct Fulfillment dataset, the
    Invoices API's exports and documents) is ``family(key)``, built here from ``families``
    (families.py).

    """

    def __init__(  # noqa: PLR0913 - the config, its families, two clocks, and for a partner two
        self,
        config: EmulatorConfig | None = None,
        *,
        families: Sequence[Family[Any]],
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = _utc_now,
        partner: SellingPartner | None = None,
        primary: EmulatorState | None = None,
    ) -> None:
        """Build the state; the families' datasets are generated here.

        Args:
            config: Emulator settings; defaults to ``EmulatorConfig()``.
            families: The API families to serve (``app.FAMILIES``).
            clock: Monotonic clock in seconds; inject a fake one to test expiry and refills.
            wall_clock: Returns the current aware datetime.
            partner: Build the state of this further selling partner (internal).
            primary: The primary partner's state, whose live config and tokens a further
                partner shares (internal).

        """
        if primary is None:
            self.live = LiveConfig(config if config is not None else EmulatorConfig())
            self.tokens = TokenStore(clock)
        else:
            self.live, self.tokens = primary.live, primary.tokens
        self.clock = clock
        self.wall_clock = wall_clock
        self._partner = partner
        data_config = self.config
        if partner is None:
            self.selling_partner_id = self.config.selling_partner_id
        else:
            self.selling_partner_id = partner.selling_partner_id
            data_config = dataclasses.replace(
                self.config,
                seed=partner.seed,
                purchase_order_prefix=partner.purchase_order_prefix,
                refresh_token=partner.refresh_token,
                selling_partners=(),
            )
        inputs = FamilyInputs(data_config, self.live, clock, wall_clock)
        self._families = {family: family.build(inputs) for family in families}
        self.limiter = RateLimiter(self.live, clock)
        self.faults = FaultInjector(self.live)
        self.next_tokens = NextTokenCodec(clock)
        self.stats = Stats(clock)
        self.gate = RequestGate()
        self._rendezvous: asyncio.Event | None = None
        self._rendezvous_seen: set[str] = set()
        self.partners: dict[str, EmulatorState] = {self.selling_partner_id: self}
        if partner is None:
            for other in self.config.selling_partners:
                self.partners[other.selling_partner_id] = EmulatorState(
                    families=families,
                    clock=clock,
                    wall_clock=wall_clock,
                    partner=other,
                    primary=self,
                )

    def family(self, family: Family[T]) -> T:
        """This selling partner's state of one API family.

        Raises:
            KeyError: The emulator was built without that family.

        """
        return cast("T", self._families[family])

    @property
    def config(self) -> EmulatorConfig:
        """The config in force now; ``reconfigure`` puts another in place."""
        return self.live.current

    def reconfigure(self, **changes: Any) -> EmulatorConfig:  # noqa: ANN401 - config fields
        """Put the current config with ``changes`` in force for every partner; return it.

        The next request reads the new config; dataset fields are read once, at start, so
        changing them changes no dataset.

        Raises:
            ValueError: The changed config is invalid (nothing changes then).

        """
        return self.live.replace(**changes)

    @property
    def refresh_token(self) -> str:
        """The refresh token that opens this state (the primary's is read live from config)."""
        return self.config.refresh_token if self._partner is None else self._partner.refresh_token

    async def rendezvous(self, partner: EmulatorState) -> None:
        """Wait until ``config.token_rendezvous`` distinct partners have asked for a token."""
        wanted = self.config.token_rendezvous
        if wanted <= 0:
            return
        if self._rendezvous is None:  # made on the server's loop, at its first use
            self._rendezvous = asyncio.Event()
        self._rendezvous_seen.add(partner.selling_partner_id)
        if len(self._rendezvous_seen) >= wanted:
            self._rendezvous.set()
        await self._rendezvous.wait()

    def partner_for_refresh_token(self, refresh_token: str) -> EmulatorState | None:
        """Return the state of the selling partner who granted this refresh token, if any."""
        for state in self.partners.values():
            if state.refresh_token == refresh_token:
                return state
        return None

    def partner_for_access_token(self, value: str | None) -> EmulatorState:
        """Return the state of the partner a presented token was issued for (else this one).

        An unknown token resolves to this state, whose authorization then answers 403.
        """
        owner = self.tokens.owner(value)
        return self.partners.get(owner, self) if owner else self

    def issued_secrets(self) -> list[str]:
        """Return every secret a client could leak: issued tokens and the LWA credentials.

        Returns:
            Every access token and RDT ever issued, then the client secret and refresh token.

        """
        refresh_tokens = [state.refresh_token for state in self.partners.values()]
        return [*self.tokens.issued(), self.config.client_secret, *refresh_tokens]

    def stats_snapshot(self) -> dict[str, object]:
        """Return the counters and the server-side bucket settings, JSON-ready.

        Returns:
            {"operations": per-operation counters, "rate_limits": per-operation buckets}.

        """
        snapshot: dict[str, object] = {
            "operations": self.stats.snapshot(),
            "rate_limits": self.limiter.settings(),
        }
        if len(self.partners) > 1:
            snapshot["selling_partners"] = {
                partner_id: {
                    "operations": state.stats.snapshot(),
                    "rate_limits": state.limiter.settings(),
                }
                for partner_id, state in self.partners.items()
            }
        return snapshot
