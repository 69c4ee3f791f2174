"""The account list: plain Python, no Dagster import (docs/many-accounts.md).

The list (``accounts.yml`` by default, ``SPINVOICES_ACCOUNTS_FILE`` to use another) holds
labels and the names of the environment variables that hold each refresh token, never a
secret, plus what every account shares: how many run at once on one machine, the Meltano
environment and plugins, the nightly schedule, and where the Celery broker is (when the
steps run on Celery workers). ``meltano_run.py`` runs one account of it.
"""

from __future__ import annotations

import os
import re
import string
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import yaml

# The tap's own rule for the label (it also names the Meltano state id, a log file and a
# folder here); tap_spinvoices/account.py imports nothing but the standard library.
from tap_spinvoices.account import ACCOUNT_ID_PATTERN

REPO: Final = Path(__file__).resolve().parents[1]
ACCOUNTS_FILE_ENV: Final = "SPINVOICES_ACCOUNTS_FILE"
DEFAULT_ACCOUNTS_FILE: Final = REPO / "orchestration" / "accounts.yml"
ENV_NAME_PATTERN: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DEFAULT_CRON: Final = "0 2 * * *"  # once a day, 02:00 in the schedule's timezone
CRON_FIELDS: Final = 5
# The only placeholder an account_env value may hold.
ACCOUNT_PLACEHOLDER: Final = "account_id"


class AccountsFileError(ValueError):
    """The account list cannot be used; the message names the entry and the fix."""


@dataclass(frozen=True)
class Account:
    """One selling partner: its label and the variable holding its refresh token."""

    account_id: str
    refresh_token_env: str


@dataclass(frozen=True)
class Schedule:
    """When Dagster's daemon starts ``sync_all_accounts`` (a cron line in a timezone)."""

    cron: str = DEFAULT_CRON
    timezone: str = "UTC"
    enabled: bool = True


@dataclass(frozen=True)
class CeleryBroker:
    """Where the Celery executor sends the account steps; None: not set in the file."""

    broker: str | None = None
    backend: str | None = None


@dataclass(frozen=True)
class Plan:
    """What to run for every account, read from the account list."""

    accounts: tuple[Account, ...]
    max_concurrent: int
    meltano_environment: str | None
    extractor: str
    loader: str
    log_dir: Path
    schedule: Schedule = Schedule()
    celery: CeleryBroker = CeleryBroker()
    # Variables set for each account's run, "{account_id}" replaced by its label.
    account_env: dict[str, str] = field(default_factory=dict)


def accounts_file() -> Path:
    """The account list to read: $SPINVOICES_ACCOUNTS_FILE or orchestration/accounts.yml."""
    return Path(os.environ.get(ACCOUNTS_FILE_ENV) or DEFAULT_ACCOUNTS_FILE)


def load_plan(path: Path) -> Plan:
    """Read and check the account list."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise AccountsFileError(f"{path}: cannot be read as YAML ({exc})") from None
    return parse_plan(raw, where=str(path))


def parse_plan(raw: object, *, where: str = "accounts file") -> Plan:
    """Check a parsed account list; every problem names the entry and the fix."""
    if not isinstance(raw, dict) or not isinstance(raw.get("accounts"), list):
        raise AccountsFileError(
            f"{where}: needs an 'accounts:' list (see orchestration/accounts.yml)"
        )
    accounts = tuple(_account(entry, index, where) for index, entry in enumerate(raw["accounts"]))
    ids = [a.account_id for a in accounts]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise AccountsFileError(f"{where}: account_id listed twice: {', '.join(duplicates)}")
    max_concurrent = raw.get("max_concurrent", 4)
    if not _whole_number(max_concurrent) or max_concurrent < 1:
        raise AccountsFileError(f"{where}: max_concurrent must be a whole number >= 1")
    meltano = _mapping(raw, "meltano", where)
    environment = meltano.get("environment")
    return Plan(
        accounts=accounts,
        max_concurrent=max_concurrent,
        meltano_environment=str(environment) if environment else None,
        extractor=str(meltano.get("extractor", "tap-spinvoices")),
        loader=str(meltano.get("loader", "target-postgres")),
        log_dir=Path(str(raw.get("log_dir", "output/accounts"))),
        schedule=_schedule(_mapping(raw, "schedule", where), where),
        celery=_celery(_mapping(raw, "celery", where), where),
        account_env=_account_env(_mapping(raw, "account_env", where), where),
    )


def _account(entry: object, index: int, where: str) -> Account:
    if not isinstance(entry, dict):
        raise AccountsFileError(f"{where}: accounts[{index}] must be a mapping")
    account_id = entry.get("account_id")
    env_name = entry.get("refresh_token_env")
    if not isinstance(account_id, str) or not ACCOUNT_ID_PATTERN.fullmatch(account_id):
        raise AccountsFileError(
            f"{where}: accounts[{index}].account_id {account_id!r} must be 1-64 letters, "
            "digits, '.', '_' or '-' (e.g. the vendor code)"
        )
    if "refresh_token" in entry:
        raise AccountsFileError(
            f"{where}: accounts[{index}] holds a refresh_token: keep secrets out of files; "
            "name the environment variable that holds it in refresh_token_env"
        )
    if not isinstance(env_name, str) or not ENV_NAME_PATTERN.fullmatch(env_name):
        raise AccountsFileError(
            f"{where}: accounts[{index}].refresh_token_env {env_name!r} must name an "
            "environment variable, e.g. SPINVOICES_REFRESH_TOKEN_V1234"
        )
    return Account(account_id, env_name)


def _whole_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _mapping(raw: dict[str, object], key: str, where: str) -> dict[str, object]:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise AccountsFileError(f"{where}: {key} must be a mapping")
    return value


def _schedule(raw: dict[str, object], where: str) -> Schedule:
    cron = raw.get("cron", DEFAULT_CRON)
    if not isinstance(cron, str) or len(cron.split()) != CRON_FIELDS:
        raise AccountsFileError(
            f"{where}: schedule.cron {cron!r} must be a cron line of five fields, "
            f"e.g. {DEFAULT_CRON!r} (02:00 every day)"
        )
    timezone = raw.get("timezone", "UTC")
    try:
        zoneinfo.ZoneInfo(str(timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise AccountsFileError(
            f"{where}: schedule.timezone {timezone!r} is not an IANA timezone, "
            "e.g. UTC or America/Sao_Paulo"
        ) from None
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise AccountsFileError(f"{where}: schedule.enabled must be true or false")
    return Schedule(cron=cron, timezone=str(timezone), enabled=enabled)


def _celery(raw: dict[str, object], where: str) -> CeleryBroker:
    urls: dict[str, str | None] = {}
    for key in ("broker", "backend"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise AccountsFileError(f"{where}: celery.{key} must be a URL")
        if value and urlsplit(value).password:
            raise AccountsFileError(
                f"{where}: celery.{key} holds a password: keep secrets out of files; set "
                f"SPINVOICES_CELERY_{key.upper()} in the environment instead"
            )
        urls[key] = value or None
    return CeleryBroker(broker=urls["broker"], backend=urls["backend"])


def _account_env(raw: dict[str, object], where: str) -> dict[str, str]:
    templates: dict[str, str] = {}
    for name, value in raw.items():
        if not ENV_NAME_PATTERN.fullmatch(name) or not isinstance(value, str):
            raise AccountsFileError(
                f"{where}: account_env.{name} must map a variable name to a text, "
                "e.g. TARGET_JSONL_DESTINATION_PATH: output/accounts/{account_id}"
            )
        fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        if fields - {ACCOUNT_PLACEHOLDER}:
            raise AccountsFileError(
                f"{where}: account_env.{name} may hold only the placeholder {{account_id}}"
            )
        templates[name] = value
    return templates


def account_values(plan: Plan, account: Account) -> dict[str, str]:
    """The plan's ``account_env`` for one account, its label filled in."""
    return {
        name: template.format(**{ACCOUNT_PLACEHOLDER: account.account_id})
        for name, template in plan.account_env.items()
    }
