"""Hostile answers (spapi_emulator/hostile.py): each switch plays what it says, and only that.

These are cases for the tap's bounds, not claims about Amazon: invoices of any size, values of
the wrong JSON type, answers without Content-Length, a day-long Retry-After, nextTokens that
never end or outgrow a request line, and tokens that expire as they are issued.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import pytest

from spapi_emulator import EmulatorConfig
from spapi_emulator.__main__ import build_parser, config_from_args
from spapi_emulator.config import HostileValue
from spapi_emulator.hostile import is_chosen

from .conftest import DF_2021, Api, day, iso

if TYPE_CHECKING:
    from collections.abc import Callable

    from spapi_emulator import EmulatorServer

EXPIRED = "The access token you provided has expired."
ONE_DAY = {"createdAfter": iso(day(0)), "createdBefore": iso(day(1))}


def api_for(make_emulator: Callable[..., EmulatorServer], clock: Any, **changes: Any) -> Api:
    return Api(make_emulator(**changes), clock)


def first_page(api: Api, **params: str) -> dict[str, Any]:
    reply = api.invoices(api.rdt(), **{**ONE_DAY, **params})
    assert reply.status == 200, reply.text
    body: dict[str, Any] = reply.json
    return body


def decoded_size(content: str) -> int:
    return len(base64.b64decode(content))


def test_huge_invoices_are_every_nth_of_a_day_and_the_rest_keep_their_size(make_emulator, clock):
    api = api_for(make_emulator, clock, huge_invoice_every=20, huge_invoice_bytes=5000)

    invoices = first_page(api, limit="100", shipFromPartyId="WH-BLR-1")["customerInvoices"]

    sizes = {i["purchaseOrderNumber"]: decoded_size(i["content"]) for i in invoices}
    huge = {po for po, size in sizes.items() if size == 5000}
    assert huge == {po for po in sizes if is_chosen(po, 20)}
    assert len(huge) == 3  # sequence numbers 19, 39 and 59 of the day
    assert set(sizes.values()) == {64, 5000}


def test_chunked_answers_carry_no_content_length_and_the_same_body(make_emulator, clock):
    plain = first_page(api_for(make_emulator, clock), limit="5")
    api = api_for(make_emulator, clock, chunked_answers=True)

    reply = api.invoices(api.rdt(), **ONE_DAY, limit="5")

    assert reply.status == 200
    assert "Content-Length" not in reply.headers
    assert reply.headers["Transfer-Encoding"] == "chunked"
    assert reply.json["customerInvoices"] == plain["customerInvoices"]


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        ("po-null", {"purchaseOrderNumber": None}),
        ("po-absent", {}),
        ("po-empty", {"purchaseOrderNumber": ""}),
        ("po-list", {"purchaseOrderNumber": ["<po>"]}),
        ("po-pattern", {"purchaseOrderNumber": "PO-<po>"}),
        ("content-null", {"purchaseOrderNumber": "<po>", "content": None}),
    ],
)
def test_a_hostile_value_breaks_every_nth_invoice_as_named(make_emulator, clock, reading, expected):
    honest = first_page(api_for(make_emulator, clock), limit="60")["customerInvoices"]
    api = api_for(make_emulator, clock, hostile_value=reading, hostile_value_every=25)

    answered = first_page(api, limit="60")["customerInvoices"]

    for plain, hostile in zip(honest, answered, strict=True):
        po = plain["purchaseOrderNumber"]
        if not is_chosen(po, 25):
            assert hostile == plain
            continue
        want = {"content": plain["content"]} | {
            key: value.replace("<po>", po) if isinstance(value, str) else value
            for key, value in expected.items()
        }
        if isinstance(want.get("purchaseOrderNumber"), list):
            want["purchaseOrderNumber"] = [po]
        assert hostile == want


def test_every_hostile_reading_is_listed_and_a_wrong_one_is_refused(make_emulator):
    assert HostileValue("none") is HostileValue.NONE
    with pytest.raises(ValueError, match="hostile_value must be one of"):
        make_emulator(hostile_value="po-zero")


def test_next_token_object_wraps_every_next_token(make_emulator, clock):
    api = api_for(make_emulator, clock, hostile_value="next-token-object")

    token = first_page(api, limit="10")["pagination"]["nextToken"]

    assert isinstance(token, dict)
    assert list(token) == ["token"]
    assert isinstance(token["token"], str)


def test_retry_after_is_sent_with_5xx_and_429_but_not_with_200(make_emulator, clock):
    api = api_for(make_emulator, clock, retry_after_seconds=86400)
    token = api.rdt()
    assert "Retry-After" not in api.invoices(token, **ONE_DAY).headers

    api.emu.reconfigure(fault_5xx_rate=1.0)
    failed = api.invoices(token, **ONE_DAY)
    assert failed.status in {500, 503}
    assert failed.headers["Retry-After"] == "86400"

    api.emu.reconfigure(fault_5xx_rate=0.0)
    api.emu.reconfigure(rate_limits=dict.fromkeys(api.emu.config.rate_limits, (0.001, 1)))
    replies = [api.invoices(token, **ONE_DAY) for _ in range(3)]
    throttled = [reply for reply in replies if reply.status == 429]
    assert throttled
    assert {reply.headers["Retry-After"] for reply in throttled} == {"86400"}


def test_endless_next_tokens_go_on_past_the_last_invoice_with_empty_pages(make_emulator, clock):
    api = api_for(make_emulator, clock, endless_next_tokens=True)
    token = api.rdt()
    query = {**ONE_DAY, "limit": "100"}
    seen_tokens: set[str] = set()
    invoices = 0
    for _ in range(5):
        clock.advance(0.1)
        body = api.invoices(token, **query).json
        invoices += len(body["customerInvoices"])
        next_token = body["pagination"]["nextToken"]
        assert next_token not in seen_tokens  # fresh every time
        seen_tokens.add(next_token)
        query["nextToken"] = next_token

    # Every invoice of the day once, then nothing but more tokens.
    assert invoices == len(api.emu.dataset.invoices(day(0), day(1)))


@pytest.mark.parametrize("length", [2000, 6000])
def test_next_tokens_are_padded_to_the_length_asked_and_still_accepted(
    make_emulator, clock, length
):
    api = api_for(make_emulator, clock, next_token_bytes=length)
    token = api.rdt()

    body = api.invoices(token, **ONE_DAY, limit="10").json
    next_token = body["pagination"]["nextToken"]
    follow_up = api.invoices(token, **ONE_DAY, limit="10", nextToken=next_token)

    assert length <= len(next_token) < length + 4
    assert follow_up.status == 200, follow_up.text
    assert len(follow_up.json["customerInvoices"]) == 10


def test_a_next_token_longer_than_a_request_line_is_refused_by_the_http_server(
    make_emulator, clock
):
    api = api_for(make_emulator, clock, next_token_bytes=8192)
    token = api.rdt()
    next_token = api.invoices(token, **ONE_DAY, limit="10").json["pagination"]["nextToken"]

    refused = api.invoices(token, **ONE_DAY, limit="10", nextToken=next_token)

    assert refused.status == 400
    assert refused.headers["Content-Type"].startswith("text/plain")  # no SP-API error body
    assert "x-amzn-RequestId" not in refused.headers  # the SP-API never saw it
    assert refused.text.startswith("Got more than 8190 bytes")


@pytest.mark.parametrize(("setting", "kind"), [("access_token_ttl", "LWA"), ("rdt_ttl", "RDT")])
def test_tokens_with_a_lifetime_of_zero_expire_as_they_are_issued(
    make_emulator, clock, setting, kind
):
    api = api_for(make_emulator, clock, **{setting: 0.0})

    if kind == "LWA":
        grant = api.lwa().json
        assert grant["expires_in"] == 0
        refused = api.rdt_reply(grant["access_token"], [{"method": "GET", "path": DF_2021}])
    else:
        refused = api.invoices(api.rdt(), **ONE_DAY)

    assert refused.status == 403
    assert refused.error["details"] == EXPIRED


def test_every_hostile_switch_can_be_chosen_from_the_command_line() -> None:
    args = build_parser().parse_args(
        [
            "--huge-invoice-every=7",
            "--huge-invoice-bytes=5000000",
            "--chunked-answers",
            "--hostile-value=po-null",
            "--hostile-value-every=3",
            "--retry-after-seconds=86400",
            "--endless-next-tokens",
            "--next-token-bytes=8192",
        ]
    )
    config = config_from_args(args)
    assert (config.huge_invoice_every, config.huge_invoice_bytes) == (7, 5_000_000)
    assert (config.hostile_value, config.hostile_value_every) == ("po-null", 3)
    assert (config.retry_after_seconds, config.next_token_bytes) == (86400.0, 8192)
    assert config.chunked_answers
    assert config.endless_next_tokens


@pytest.mark.parametrize(
    "setting",
    [
        {"huge_invoice_every": -1},
        {"huge_invoice_every": 3, "huge_invoice_bytes": 0},
        {"next_token_bytes": -5},
        {"retry_after_seconds": -1.0},
    ],
)
def test_hostile_switches_out_of_range_are_refused(setting: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        EmulatorConfig(**setting)
