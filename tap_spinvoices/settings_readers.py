"""How one declared setting's raw value is read and checked, and the units it is kept in.

A reader takes the declaration of one setting and the raw config (a JSON object from the
``--config`` file, or Meltano's environment, where numbers arrive as strings) and returns the
checked value, or raises ``ConfigError`` with the one line that names the setting and the
fix. A unit turns the checked value into the one the code reads (``buffer_mb`` 32 into
33,554,432 bytes, ``lookback_minutes`` into a ``timedelta``). settings_declaration.py picks a
reader and a unit per setting; settings.parse_settings runs them. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias
from urllib.parse import urlsplit

from tap_spinvoices.account import ACCOUNT_ID_PATTERN
from tap_spinvoices.archive.config import ArchiveLocation, is_loopback_host, parse_archive_url
from tap_spinvoices.errors import ConfigError
from tap_spinvoices.isotime import parse_datetime

if TYPE_CHECKING:
    from datetime import datetime

_MEBIBYTE: Final = 1024 * 1024
_TWO: Final = 2  # "use a or b"; more choices read "use one of a, b, c"


class Declared(Protocol):
    """What a reader needs of a setting's declaration (``settings_declaration.Setting``)."""

    @property
    def name(self) -> str:
        """The setting's name in the config."""

    @property
    def default(self) -> str | int | bool | None:
        """Its default, or None."""

    @property
    def required(self) -> bool:
        """Whether the config must give it."""

    @property
    def example(self) -> str | int | bool | list[str] | dict[str, str]:
        """A valid value other than the default."""

    @property
    def choices(self) -> tuple[str, ...]:
        """The values it may take, or () for any."""

    def integer_bounds(self) -> tuple[int, int, int]:
        """(default, lowest, highest) of a whole-number setting."""


# A reader: the setting's declaration and the raw config in, the checked value out.
Reader: TypeAlias = Callable[[Declared, Mapping[str, Any]], Any]


def credential(setting: Declared, config: Mapping[str, Any]) -> str:
    """An LWA credential: a string that is not empty or blank."""
    name = setting.name
    value = config.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(name, "missing or empty", f"set {name} to your LWA app credential")
    return value


def account_label(setting: Declared, config: Mapping[str, Any]) -> str:
    """The account label (account.py); unset or empty is the declared default."""
    value = config.get(setting.name)
    if value is None or value == "":
        return str(setting.default)
    if not isinstance(value, str) or not ACCOUNT_ID_PATTERN.fullmatch(value):
        raise ConfigError(
            setting.name,
            f"{value!r} is not a label of 1-64 letters, digits, '.', '_' or '-'",
            "use the vendor code or another short label, e.g. V1234 or acme-eu",
        )
    return value


def date_time(setting: Declared, config: Mapping[str, Any]) -> datetime | None:
    """An ISO 8601 date-time in UTC; None when unset or empty (an error if it is required)."""
    name = setting.name
    value = config.get(name)
    if value is None or value == "":
        if setting.required:
            raise ConfigError(name, "missing", f"set {name} to an ISO 8601 date-time")
        return None
    if not isinstance(value, str):
        raise _not_a_datetime(name, value)
    try:
        return parse_datetime(value)
    except ValueError:
        raise _not_a_datetime(name, value) from None


def choice(noun: str | None = None) -> Callable[[Declared, Mapping[str, Any]], str | None]:
    """A reader of one of the declared choices, naming a wrong one ``unknown <noun> 'x'``.

    The noun is the setting's name unless given (df_api_version: "version"). Unset or null
    is the declared default, or None when there is none.
    """

    def read(setting: Declared, config: Mapping[str, Any]) -> str | None:
        value = config.get(setting.name)
        if value is None:
            value = setting.default
        if value is not None and value not in setting.choices:
            what = noun or setting.name
            raise ConfigError(setting.name, f"unknown {what} {value!r}", _use(setting.choices))
        return None if value is None else str(value)

    return read


def string_list(
    hint: str | None = None,
) -> Callable[[Declared, Mapping[str, Any]], tuple[str, ...]]:
    """A reader of a list of non-empty strings (empty when unset).

    A wrong value's fix shows ``hint``, or else the declared example as JSON.
    """

    def read(setting: Declared, config: Mapping[str, Any]) -> tuple[str, ...]:
        values = config.get(setting.name) or []
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            example = hint or f"e.g. {json.dumps(setting.example)}"
            raise ConfigError(setting.name, "must be a list of non-empty strings", example)
        return tuple(values)

    return read


def flag(setting: Declared, config: Mapping[str, Any]) -> bool:
    """A flag; its declared default when unset (the JSON schema check rejects non-booleans)."""
    return bool(config.get(setting.name, setting.default))


def text(setting: Declared, config: Mapping[str, Any]) -> str | None:
    """A string; unset or empty is the declared default, or None when there is none."""
    value = config.get(setting.name) or setting.default
    return str(value) if value else None


def whole_number(setting: Declared, config: Mapping[str, Any]) -> int:
    """A whole number within the declared range; the declared default when unset."""
    name = setting.name
    default, low, high = setting.integer_bounds()
    value = config.get(name, default)
    if value is None:
        return default
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)  # Meltano passes env values as strings
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            name,
            f"{value!r} is not a whole number from {low} to {high}",
            f"set {name} between {low} and {high} or remove it (default {default})",
        )
    return value


def url(setting: Declared, config: Mapping[str, Any]) -> str | None:
    """An http(s) URL, or None when unset; plain http only to a loopback host.

    Credentials travel to these URLs, so a plain-http one must not leave the machine.
    """
    name = setting.name
    value = config.get(name)
    if value is None or value == "":
        return None
    parts = urlsplit(str(value))
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            name,
            f"{value!r} is not an http(s) URL",
            "write it like https://host or http://127.0.0.1:8080",
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(
            name,
            f"plain http is only allowed to a loopback host, not {parts.hostname!r}",
            "use https, or http://127.0.0.1 for the local emulator",
        )
    return str(value)


def archive_location(setting: Declared, config: Mapping[str, Any]) -> ArchiveLocation | None:
    """archive_url, split into store, bucket or folder and prefix; None when unset."""
    value = config.get(setting.name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(setting.name, "must be a string", "e.g. s3://bucket/prefix")
    return parse_archive_url(value)


def flat_object(setting: Declared, config: Mapping[str, Any]) -> dict[str, str | bool]:
    """An object of names to strings, numbers or booleans (numbers kept as text); {} unset.

    Meltano passes an object setting from the environment as JSON text: read that too. The
    values may be secrets (archive_options): no message quotes them.
    """
    name = setting.name
    value = config.get(name) or {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in value.items()
    ):
        raise ConfigError(
            name,
            "must be an object of option names to strings, numbers or booleans",
            f"write it like {json.dumps(setting.example)}",
        )
    return {k: v if isinstance(v, bool) else str(v) for k, v in value.items()}


# Units: the checked value as the code reads it.


def unchanged(value: Any) -> Any:  # noqa: ANN401 - any checked value, as it is
    """The checked value as it is."""
    return value


def seconds(value: int) -> float:
    """A whole number of seconds, as the float the clocks and timeouts take."""
    return float(value)


def minutes(value: int) -> timedelta:
    """A whole number of minutes."""
    return timedelta(minutes=value)


def hours(value: int) -> timedelta:
    """A whole number of hours."""
    return timedelta(hours=value)


def mebibytes(value: int) -> int:
    """Megabytes (MiB) as bytes."""
    return value * _MEBIBYTE


def share_of_percent(value: int) -> float:
    """A percentage as a share: 100 is 1.0."""
    return value / 100


def distinct(values: tuple[str, ...]) -> tuple[str, ...]:
    """Each value once, in the order first given (a repeated party is one partition)."""
    return tuple(dict.fromkeys(values))


def otherwise(fallback: str) -> Callable[[str | None], str]:
    """A unit that puts ``fallback`` in place of an unset value."""

    def unit(value: str | None) -> str:
        return value or fallback

    return unit


def _use(choices: tuple[str, ...]) -> str:
    """The fix for a wrong choice: "use a or b", or "use one of a, b, c"."""
    if len(choices) > _TWO:
        return f"use one of {', '.join(choices)}"
    return f"use {' or '.join(choices)}"


def _not_a_datetime(name: str, value: object) -> ConfigError:
    return ConfigError(
        name,
        f"{value!r} is not an ISO 8601 date-time",
        f"write it like 2024-01-01T00:00:00Z (setting {name})",
    )
