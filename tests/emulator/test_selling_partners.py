"""Several selling partners of one app: one client id and secret, one refresh token each.

Amazon's usage plans belong to a selling partner and application pair, so each partner has
its own token buckets here, and its own dataset (two of them share purchase order numbers
on purpose, so a loader that keys on the number alone would mix them up).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiohttp
import pytest

from spapi_emulator import EmulatorConfig, SellingPartner, numbered_partners

from .conftest import Api, day, iso

if TYPE_CHECKING:
    from collections.abc import Callable

    from spapi_emulator import EmulatorServer

RANGE = {"createdAfter": iso(day(1)), "createdBefore": iso(day(2)), "limit": "100"}
PARTNERS = numbered_partners(2, seed=7)  # SP2 (prefix PO, overlaps SP1) and SP3 (prefix PB)


@pytest.fixture
def partners_emu(make_emulator: Callable[..., EmulatorServer]) -> EmulatorServer:
    return make_emulator(selling_partners=PARTNERS)


def token_for(api: Api, refresh_token: str) -> str:
    reply = api.lwa(refresh_token=refresh_token)
    assert reply.status == 200, reply.text
    return api.rdt(access_token=str(reply.json["access_token"]))


def numbers(api: Api, refresh_token: str) -> list[str]:
    return [i["purchaseOrderNumber"] for i in api.sync(token_for(api, refresh_token), **RANGE)]


def test_each_refresh_token_opens_its_own_dataset(partners_emu: EmulatorServer, clock) -> None:
    api = Api(partners_emu, clock)
    first = numbers(api, partners_emu.config.refresh_token)
    second = numbers(api, PARTNERS[0].refresh_token)
    third = numbers(api, PARTNERS[1].refresh_token)

    primary, other = partners_emu.dataset, partners_emu.dataset_of("SP2")
    assert first == [i.purchase_order_number for i in primary.invoices(day(1), day(2))]
    assert second == [i.purchase_order_number for i in other.invoices(day(1), day(2))]
    assert set(first) & set(second), "SP1 and SP2 share purchase order numbers on purpose"
    assert not set(first) & set(third)
    assert all(po.startswith("PB") for po in third)


def test_same_purchase_order_has_each_partners_own_content(
    partners_emu: EmulatorServer,
) -> None:
    first, second = partners_emu.dataset_of("SP1"), partners_emu.dataset_of("SP2")
    shared = first.all_invoices()[0].purchase_order_number
    assert first.content(shared) != second.content(shared)


def test_each_partner_has_its_own_token_bucket(partners_emu: EmulatorServer, clock) -> None:
    api = Api(partners_emu, clock)
    tokens = {
        "SP1": token_for(api, partners_emu.config.refresh_token),
        "SP2": token_for(api, PARTNERS[0].refresh_token),
    }
    # Burst 10: the eleventh request of SP1 at the same instant is throttled...
    statuses = [api.invoices(tokens["SP1"], **RANGE).status for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    # ...while SP2's bucket is still full.
    assert [api.invoices(tokens["SP2"], **RANGE).status for _ in range(10)] == [200] * 10
    stats = partners_emu.stats()["selling_partners"]
    assert stats["SP1"]["operations"]["getCustomerInvoices"]["throttled"] == 1
    assert stats["SP2"]["operations"]["getCustomerInvoices"]["throttled"] == 0
    assert stats["SP2"]["operations"]["getCustomerInvoices"]["requests"] == 10


def test_unknown_refresh_token_is_invalid_grant(partners_emu: EmulatorServer, clock) -> None:
    reply = Api(partners_emu, clock).lwa(refresh_token="Atzr|revoked")  # noqa: S106 - fake
    assert reply.status == 400
    assert reply.json["error"] == "invalid_grant"


def test_partners_refresh_tokens_are_known_secrets(partners_emu: EmulatorServer) -> None:
    secrets = partners_emu.issued_secrets()
    assert {p.refresh_token for p in PARTNERS} <= set(secrets)


@pytest.mark.parametrize(
    "partners",
    [
        (SellingPartner("SP2", "Atzr|emulator-refresh-token", seed=1),),
        (SellingPartner("SP2", "Atzr|other", seed=1, purchase_order_prefix="P-"),),
    ],
)
def test_partners_that_cannot_be_told_apart_are_refused(
    partners: tuple[SellingPartner, ...],
) -> None:
    with pytest.raises(ValueError, match=r"refresh token|prefixes"):
        EmulatorConfig(selling_partners=partners)


def test_token_rendezvous_answers_once_enough_partners_asked(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    emu = make_emulator(selling_partners=PARTNERS, token_rendezvous=2)
    config = emu.config

    async def token(session: aiohttp.ClientSession, refresh_token: str) -> int:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": config.client_id,
            "client_secret": config.client_secret,
        }
        async with session.post(emu.url + "/auth/o2/token", data=form) as reply:
            return reply.status

    async def scenario() -> tuple[bool, list[int]]:
        async with aiohttp.ClientSession() as session:
            first = asyncio.create_task(token(session, config.refresh_token))
            # One partner alone is held: the wait below ends by its timeout, not an answer.
            done, _ = await asyncio.wait({first}, timeout=0.3)
            second = await token(session, PARTNERS[0].refresh_token)
            return bool(done), [await first, second]

    held, statuses = asyncio.run(scenario())
    assert not held
    assert statuses == [200, 200]
