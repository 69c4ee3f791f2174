"""The checked, typed view of the settings that every stream reads.

What each setting is (type, default, range, description, how it is checked, its unit) is
declared once, as a field of ``Settings`` in settings_declaration.py; this module runs the
declared checks over a raw config and builds ``Settings``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tap_spinvoices.errors import ConfigError
from tap_spinvoices.settings_declaration import (
    ARCHIVE_ATTRIBUTES,
    DECLARED,
    Settings,
    archive_config,
    setting_named,
)

if TYPE_CHECKING:
    from datetime import timedelta

    from tap_spinvoices.archive.config import ArchiveConfig

__all__ = ["Settings", "archive_is_set", "parse_archive_settings", "parse_settings"]


def parse_settings(config: dict[str, Any], *, now: datetime | None = None) -> Settings:
    """Check the raw config and build ``Settings``; raise ``ConfigError`` naming the setting.

    The checks run in the declared order (credentials first), then the date range across
    start_date, end_date and end_lag_minutes, so a config with several mistakes always
    reports the same one first.
    """
    values = {setting.attribute: setting.value_in(config) for setting in DECLARED}
    values["end_date"] = _effective_end(
        values["start_date"], values["end_date"], values["end_lag"], now or datetime.now(UTC)
    )
    settings = Settings(**values)
    _ = settings.archive  # the archive settings' checks across settings, now
    return settings


def parse_archive_settings(config: dict[str, Any]) -> ArchiveConfig | None:
    """The archive's settings alone (None when archive_url is unset); ``ConfigError`` naming one.

    What tap-spinvoices-verify reads: it needs neither the LWA credentials nor a date range.
    """
    attributes = set(ARCHIVE_ATTRIBUTES)
    values = {s.attribute: s.value_in(config) for s in DECLARED if s.attribute in attributes}
    return archive_config(values)


def archive_is_set(config: dict[str, Any]) -> bool:
    """Whether archive_url is set, without checking anything (discovery needs no valid config)."""
    return config.get(setting_named("archive_url").name) not in (None, "")


def _effective_end(
    start: datetime, end: datetime | None, end_lag: timedelta, now: datetime
) -> datetime:
    """end_date, capped at now minus end_lag_minutes; refuse a start that is not before it.

    getCustomerInvoices answers 400 to a future createdBefore, so the end never passes now
    minus the lag.
    """
    latest = now - end_lag
    effective = min(end or latest, latest)
    if start >= latest:
        raise ConfigError(
            "start_date",
            f"{start.isoformat()} is not in the past (now minus end_lag_minutes is "
            f"{latest.isoformat()})",
            "set start_date to an earlier instant",
        )
    if effective <= start:
        raise ConfigError(
            "end_date",
            f"{effective.isoformat()} is not after start_date {start.isoformat()}",
            "set end_date later than start_date, or leave it unset (now minus end_lag_minutes)",
        )
    return effective
