"""The account list (orchestration/accounts.py), without Dagster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.accounts import (
    Account,
    AccountsFileError,
    CeleryBroker,
    Schedule,
    account_values,
    load_plan,
    parse_plan,
)
from tap_spinvoices import account as tap_account

REPO = Path(__file__).resolve().parents[2]
TWO = {
    "accounts": [
        {"account_id": "V1234", "refresh_token_env": "RT_V1234"},
        {"account_id": "V5678", "refresh_token_env": "RT_V5678"},
    ]
}


def test_example_account_list_in_the_repository_is_valid():
    plan = load_plan(REPO / "orchestration" / "accounts.yml")
    assert [a.account_id for a in plan.accounts] == ["V1234", "V5678"]
    assert plan.max_concurrent >= 1


def test_defaults_run_tap_spinvoices_into_target_postgres_four_at_a_time_nightly():
    plan = parse_plan(TWO)
    assert (plan.extractor, plan.loader, plan.max_concurrent) == (
        "tap-spinvoices",
        "target-postgres",
        4,
    )
    assert plan.accounts[0] == Account("V1234", "RT_V1234")
    assert plan.schedule == Schedule(cron="0 2 * * *", timezone="UTC", enabled=True)
    assert plan.celery == CeleryBroker(broker=None, backend=None)
    assert plan.account_env == {}


def test_the_schedule_and_the_broker_come_from_the_list():
    plan = parse_plan(
        {
            **TWO,
            "schedule": {"cron": "30 1 * * 1-5", "timezone": "America/Sao_Paulo"},
            "celery": {"broker": "redis://redis.internal:6379/0"},
        }
    )
    assert plan.schedule == Schedule("30 1 * * 1-5", "America/Sao_Paulo", enabled=True)
    assert plan.celery.broker == "redis://redis.internal:6379/0"


def test_account_env_fills_in_each_accounts_label():
    plan = parse_plan(
        {**TWO, "account_env": {"TARGET_JSONL_DESTINATION_PATH": "output/{account_id}/jsonl"}}
    )
    assert account_values(plan, plan.accounts[1]) == {
        "TARGET_JSONL_DESTINATION_PATH": "output/V5678/jsonl"
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "needs an 'accounts:' list"),
        ({"accounts": ["V1"]}, r"accounts\[0\] must be a mapping"),
        ({"accounts": [{"account_id": "a b", "refresh_token_env": "X"}]}, "account_id 'a b'"),
        ({"accounts": [{"account_id": "../x", "refresh_token_env": "X"}]}, "account_id '../x'"),
        (
            {"accounts": [{"account_id": "V1", "refresh_token": "Atzr|x"}]},
            "keep secrets out of files",
        ),
        ({"accounts": [{"account_id": "V1", "refresh_token_env": "1X"}]}, "must name an env"),
        ({"accounts": TWO["accounts"] * 2}, "listed twice: V1234, V5678"),
        ({**TWO, "max_concurrent": 0}, "max_concurrent must be"),
        ({**TWO, "max_concurrent": True}, "max_concurrent must be"),
        ({**TWO, "schedule": {"cron": "every night"}}, "must be a cron line of five fields"),
        ({**TWO, "schedule": {"timezone": "Mars/Olympus"}}, "not an IANA timezone"),
        ({**TWO, "schedule": {"enabled": "yes"}}, "schedule.enabled must be true or false"),
        ({**TWO, "schedule": "nightly"}, "schedule must be a mapping"),
        (
            {**TWO, "celery": {"broker": "redis://:s3cret@redis:6379/0"}},
            "celery.broker holds a password: .* SPINVOICES_CELERY_BROKER",
        ),
        ({**TWO, "celery": {"backend": 6379}}, "celery.backend must be a URL"),
        ({**TWO, "account_env": {"1BAD": "x"}}, "account_env.1BAD must map a variable name"),
        ({**TWO, "account_env": {"OUT": "{home}/x"}}, "only the placeholder {account_id}"),
    ],
)
def test_bad_account_lists_are_refused_with_the_entry_and_the_fix(raw, message):
    with pytest.raises(AccountsFileError, match=message):
        parse_plan(raw)


def test_the_label_rule_is_the_taps_own():
    import orchestration.accounts  # noqa: PLC0415 - the module's attribute, not a copy

    assert orchestration.accounts.ACCOUNT_ID_PATTERN is tap_account.ACCOUNT_ID_PATTERN


def test_the_account_list_imports_nothing_of_the_tap_but_its_label_rule():
    # .venv-dagster has no singer-sdk: orchestration reads the tap's rule from the checkout.
    code = (
        "import sys, orchestration.accounts; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'tap_spinvoices', 'singer_sdk', 'aiohttp'}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "['tap_spinvoices', 'tap_spinvoices.account']"
