"""Many accounts into the same tables: account_id in every record of every stream and key."""

from __future__ import annotations

from spapi_emulator import numbered_partners
from tests.conftest import config_for
from tests.singer_run import run_tap

# Every stream syncs in seconds (Invoices API quotas and export delays 600x faster).
ACCOUNTS_EMULATOR = {"days": 12, "time_scale": 600.0, "invoices_api_per_day": 6}
START, END = "2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z"


def test_every_record_of_every_stream_says_whose_it_is(emulator_factory):
    emu = emulator_factory(**ACCOUNTS_EMULATOR)
    config = config_for(emu).with_range(START, END).with_setting("account_id", "V1234").build()

    run = run_tap(config, streams=None)

    assert run.returncode == 0, run.stderr
    schemas = {m["stream"]: m for m in run.messages if m["type"] == "SCHEMA"}
    records = [m for m in run.messages if m["type"] == "RECORD"]
    assert {m["stream"] for m in records} == set(schemas), "every stream should write records"
    assert {m["record"]["account_id"] for m in records} == {"V1234"}
    for stream, schema in schemas.items():
        assert schema["key_properties"][-1] == "account_id", stream
        assert "account_id" in schema["schema"]["properties"], stream


def test_unset_account_id_writes_default(emulator_factory):
    emu = emulator_factory(**ACCOUNTS_EMULATOR)
    run = run_tap(config_for(emu).with_range(START, END).build())

    assert run.returncode == 0, run.stderr
    assert run.records()
    assert {r["account_id"] for r in run.records()} == {"default"}


def test_two_partners_with_the_same_purchase_orders_have_distinct_keys(emulator_factory):
    partner = numbered_partners(1, seed=7)[0]  # same PO numbers as the primary, other data
    emu = emulator_factory(**ACCOUNTS_EMULATOR, selling_partners=(partner,))
    base = config_for(emu).with_range(START, END)
    first = run_tap(base.with_setting("account_id", "V1").build())
    second = run_tap(
        base.with_setting("account_id", "V2")
        .with_setting("refresh_token", partner.refresh_token)
        .build()
    )

    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    keys = [(r["purchaseOrderNumber"], r["account_id"]) for r in first.records() + second.records()]
    numbers_1 = {r["purchaseOrderNumber"] for r in first.records()}
    numbers_2 = {r["purchaseOrderNumber"] for r in second.records()}
    assert numbers_1 & numbers_2, "the two accounts share purchase order numbers on purpose"
    assert len(set(keys)) == len(keys)
    contents = {(r["purchaseOrderNumber"], r["account_id"]): r["content"] for r in first.records()}
    assert all(
        contents[(r["purchaseOrderNumber"], "V1")] != r["content"]
        for r in second.records()
        if r["purchaseOrderNumber"] in numbers_1
    )
