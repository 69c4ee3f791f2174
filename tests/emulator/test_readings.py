"""The switches that play each reading of a point Amazon's texts leave open (docs/quirks.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from spapi_emulator import EmulatorConfig
from spapi_emulator.__main__ import build_parser, config_from_args
from spapi_emulator.errors import NEXT_TOKEN_REFUSALS

from .conftest import DF_V1, Api, day, iso
from .test_invoices_support import BR, Client, error, start
from .test_invoices_support import day as br_day
from .test_invoices_support import iso as br_iso

if TYPE_CHECKING:
    from collections.abc import Iterator

    from spapi_emulator import EmulatorServer

    from .conftest import FakeClock

NEXT_TOKEN_ALONE = "Specifying nextToken with any other parameters will cause the request to fail."  # noqa: S105
SAME_ARGUMENTS = "Send the same arguments as the call that produced the nextToken."
EXPORTS = {"marketplaceId": BR, "dateStart": br_iso(br_day(0)), "dateEnd": br_iso(br_day(13))}


@pytest.fixture
def invoices_emu(clock: FakeClock) -> Iterator[EmulatorServer]:
    server = start(clock, throttle=False, invoices_empty_page_rate=0.0)
    yield server
    server.close()


@pytest.fixture
def br(invoices_emu: EmulatorServer, clock: FakeClock) -> Client:
    return Client(invoices_emu, clock)


def follow_up(br: Client, reading: str, **sent: str) -> Any:
    """Ask for page 2 of the exports with ``sent`` next to its nextToken under ``reading``."""
    br.emu.reconfigure(invoices_follow_up=reading)
    token = br.get("/exports", pageSize="2", **EXPORTS).json["nextToken"]
    return br.get("/exports", nextToken=token, **sent)


class TestInvoicesFollowUpReadings:
    def test_model_reading_takes_every_first_call_argument_and_refuses_the_token_alone(
        self, br: Client
    ) -> None:
        assert follow_up(br, "all-arguments", pageSize="2", **EXPORTS).status == 200
        refused = follow_up(br, "all-arguments", marketplaceId=BR)
        assert (refused.status, refused.json) == (400, error(SAME_ARGUMENTS))

    def test_model_reading_refuses_changed_arguments(self, br: Client) -> None:
        refused = follow_up(br, "all-arguments", pageSize="3", **EXPORTS)
        assert refused.json == error(SAME_ARGUMENTS)

    def test_sandbox_reading_takes_the_token_alone_and_refuses_any_other_argument(
        self, br: Client
    ) -> None:
        assert follow_up(br, "token-only", marketplaceId=BR).status == 200
        refused = follow_up(br, "token-only", pageSize="2", **EXPORTS)
        assert (refused.status, refused.json) == (400, error(NEXT_TOKEN_ALONE))

    def test_either_reading_takes_both_forms(self, br: Client) -> None:
        assert follow_up(br, "either", marketplaceId=BR).status == 200
        assert follow_up(br, "either", pageSize="2", **EXPORTS).status == 200
        assert follow_up(br, "either", pageSize="1", **EXPORTS).json == error(SAME_ARGUMENTS)


@pytest.mark.parametrize("wording", sorted(NEXT_TOKEN_REFUSALS))
def test_refused_next_tokens_use_the_chosen_wording_on_both_apis(
    br: Client, api: Api, wording: str
) -> None:
    br.emu.reconfigure(next_token_refusal=wording)
    reply = br.get("/exports", nextToken="AAAA", **EXPORTS)
    assert reply.json == error(NEXT_TOKEN_REFUSALS[wording])
    api.emu.reconfigure(next_token_refusal=wording)
    params = {"createdAfter": iso(day(1)), "createdBefore": iso(day(2)), "nextToken": "AAAA"}
    reply = api.invoices(api.rdt(), **params)
    assert reply.error["message"] == NEXT_TOKEN_REFUSALS[wording]


def test_v1_static_sandbox_answers_the_catch_all_example_whatever_is_asked(
    make_emulator: Any, clock: FakeClock
) -> None:
    emu = make_emulator(df_static_sandbox=True)
    api = Api(emu, clock)
    rdt = api.rdt(DF_V1)
    first = api.invoices(rdt, DF_V1, createdAfter=iso(day(1)), createdBefore=iso(day(2))).json
    token = first["payload"]["pagination"]["nextToken"]
    again = api.invoices(
        rdt, DF_V1, createdAfter=iso(day(1)), createdBefore=iso(day(2)), nextToken=token
    ).json
    assert token == "MDAwMDAwMDAwMQ=="  # noqa: S105 - the model's example
    assert again == first
    assert first["payload"]["customerInvoices"][0]["purchaseOrderNumber"] == (
        "mockpurchaseOrderNumber"
    )


def test_every_nth_customer_invoices_answer_is_an_empty_object(
    make_emulator: Any, clock: FakeClock
) -> None:
    emu = make_emulator(shapeless_body_every=3)
    api = Api(emu, clock)
    rdt = api.rdt()
    bodies = [
        api.invoices(rdt, createdAfter=iso(day(1)), createdBefore=iso(day(2)), limit="5").json
        for _ in range(6)
    ]
    assert [body == {} for body in bodies] == [False, False, True, False, False, True]


MODEL_EXAMPLE = {"dateStart": "2024-01-03T00:00:00", "dateEnd": "2024-01-03T23:59:59"}
WITH_ZONE = {"dateStart": "2024-01-03T00:00:00.000Z", "dateEnd": "2024-01-03T23:59:59.999Z"}


class TestExportDateForms:
    @pytest.mark.parametrize(
        ("form", "accepted", "refused"),
        [
            ("any", (MODEL_EXAMPLE, WITH_ZONE), ()),
            ("no-zone", (MODEL_EXAMPLE,), (WITH_ZONE,)),
            ("with-zone", (WITH_ZONE,), (MODEL_EXAMPLE,)),
        ],
    )
    def test_only_the_accepted_date_forms_create_an_export(
        self,
        br: Client,
        form: str,
        accepted: tuple[dict[str, str], ...],
        refused: tuple[dict[str, str], ...],
    ) -> None:
        br.emu.reconfigure(export_date_form=form)
        for dates in accepted:
            assert br.post("/exports", {"marketplaceId": BR, **dates}).status == 202
        for dates in refused:
            reply = br.post("/exports", {"marketplaceId": BR, **dates})
            assert reply.status == 400
            assert "Invalid dateStart" in reply.json["errors"][0]["details"]


def test_every_reading_can_be_chosen_from_the_command_line() -> None:
    args = build_parser().parse_args(
        [
            "--invoices-follow-up=token-only",
            "--next-token-refusal=orders",
            "--refuse-next-tokens=2",
            "--refuse-next-tokens-after=5",
            "--df-static-sandbox",
            "--shapeless-body-every=3",
            "--export-date-form=with-zone",
        ]
    )
    config = config_from_args(args)
    assert (config.invoices_follow_up, config.next_token_refusal) == ("token-only", "orders")
    assert (config.refuse_next_tokens, config.refuse_next_tokens_after) == (2, 5)
    assert config.df_static_sandbox
    assert (config.shapeless_body_every, config.export_date_form) == (3, "with-zone")


@pytest.mark.parametrize(
    "setting",
    [
        {"invoices_follow_up": "sometimes"},
        {"next_token_refusal": "dunno"},
        {"export_date_form": "date"},
        {"shapeless_body_every": -1},
    ],
)
def test_unknown_readings_are_refused(setting: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(setting))):
        EmulatorConfig(**setting)
