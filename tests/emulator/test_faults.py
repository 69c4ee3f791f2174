"""Opt-in faults: 5xx, resets, slow and malformed answers, latency, a failing first RDT call."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import aiohttp
import orjson
import pytest

from .conftest import DF_2021, Api, day, iso

if TYPE_CHECKING:
    from spapi_emulator import EmulatorServer

PARAMS = {"createdAfter": iso(day(1)), "createdBefore": iso(day(2)), "limit": "2"}


def test_5xx_fault_answers_500_or_503_in_sp_api_shape(api: Api, emu: EmulatorServer) -> None:
    rdt = api.rdt()
    emu.reconfigure(fault_5xx_rate=1.0)
    replies = [api.invoices(rdt, **PARAMS) for _ in range(12)]
    assert {r.status for r in replies} == {500, 503}
    for reply in replies:
        assert reply.error["code"] in {"InternalFailure", "ServiceUnavailable"}
        assert "x-amzn-RequestId" in reply.headers
        assert "x-amzn-RateLimit-Limit" not in reply.headers


def test_faults_can_be_switched_off_while_the_server_runs(api: Api, emu: EmulatorServer) -> None:
    rdt = api.rdt()
    emu.reconfigure(fault_5xx_rate=1.0)
    assert api.invoices(rdt, **PARAMS).status >= 500
    emu.reconfigure(fault_5xx_rate=0.0)
    assert api.invoices(rdt, **PARAMS).status == 200


def test_login_with_amazon_is_never_faulted(api: Api, emu: EmulatorServer) -> None:
    emu.reconfigure(fault_5xx_rate=1.0, fault_reset_rate=1.0)
    assert api.lwa().status == 200


def test_reset_fault_drops_the_connection_without_an_answer(api: Api, emu: EmulatorServer) -> None:
    rdt = api.rdt()
    emu.reconfigure(fault_reset_rate=1.0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        api.invoices(rdt, **PARAMS)
    counters = emu.stats()["operations"]["getCustomerInvoices"]  # type: ignore[index]
    assert counters["resets"] >= 1
    assert set(counters["by_status"]) == {"reset"}


def test_malformed_json_fault_truncates_a_200_body(api: Api, emu: EmulatorServer) -> None:
    rdt = api.rdt()
    emu.reconfigure(malformed_json_rate=1.0)
    reply = api.invoices(rdt, **PARAMS)
    assert reply.status == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(reply.text)


def test_malformed_json_spares_error_answers(api: Api, emu: EmulatorServer) -> None:
    rdt = api.rdt()
    emu.reconfigure(malformed_json_rate=1.0)
    reply = api.invoices(rdt, createdAfter=iso(day(0)), createdBefore=iso(day(9)))
    assert reply.status == 400
    assert reply.error["code"] == "InvalidInput"


@pytest.mark.parametrize(
    "settings",
    [{"slow_rate": 1.0, "slow_seconds": 0.05}, {"latency_ms": (50.0, 60.0)}],
    ids=["slow", "latency"],
)
def test_slow_and_latency_delay_the_answer(
    api: Api, emu: EmulatorServer, settings: dict[str, object]
) -> None:
    rdt = api.rdt()
    emu.reconfigure(**settings)
    started = time.perf_counter()
    assert api.invoices(rdt, **PARAMS).status == 200
    assert time.perf_counter() - started >= 0.05


def test_first_rdt_call_answers_503_once(api: Api, emu: EmulatorServer) -> None:
    emu.reconfigure(rdt_fail_once_503=True)
    token = api.access_token()
    resource = [{"method": "GET", "path": DF_2021}]
    first, second = api.rdt_reply(token, resource), api.rdt_reply(token, resource)
    assert first.status == 503
    assert first.error["code"] == "ServiceUnavailable"
    assert second.status == 200


def test_fault_free_run_counts_only_successes(api: Api, emu: EmulatorServer) -> None:
    api.invoices(api.rdt(), **PARAMS)
    api.request("GET", emu.url + "/_emulator/stats")
    operations = {
        name: {key: value for key, value in counters.items() if not key.endswith("_at")}
        for name, counters in emu.stats()["operations"].items()
    }
    assert operations == {  # the stats route itself is not counted
        "createRestrictedDataToken": {
            "requests": 1,
            "by_status": {"200": 1},
            "throttled": 0,
            "resets": 0,
        },
        "getCustomerInvoices": {
            "requests": 1,
            "by_status": {"200": 1},
            "throttled": 0,
            "resets": 0,
        },
        "lwaToken": {"requests": 1, "by_status": {"200": 1}, "throttled": 0, "resets": 0},
    }


def test_stats_stamp_the_first_and_last_answer_on_the_emulators_clock(
    api: Api, emu: EmulatorServer, clock
) -> None:
    token = api.rdt()
    api.invoices(token, **PARAMS)
    clock.advance(2.5)
    api.invoices(token, **PARAMS)
    counters = emu.stats()["operations"]["getCustomerInvoices"]
    assert counters["last_at"] - counters["first_at"] == pytest.approx(2.5)
