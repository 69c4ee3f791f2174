"""Builders for tap configs and states, so tests say only what matters to them."""

from __future__ import annotations

import copy
from typing import Any, Self

EMULATOR_CLIENT_ID = "emulator-client-id"
EMULATOR_CLIENT_SECRET = "emulator-client-secret"  # noqa: S105 - the emulator's fake credential
EMULATOR_REFRESH_TOKEN = "Atzr|emulator-refresh-token"  # noqa: S105 - the emulator's fake credential


class ConfigBuilder:
    """A tap config pointed at an emulator, with a short default range."""

    def __init__(self, api_url: str = "http://127.0.0.1:9") -> None:
        self._config: dict[str, Any] = {
            "lwa_client_id": EMULATOR_CLIENT_ID,
            "lwa_client_secret": EMULATOR_CLIENT_SECRET,
            "refresh_token": EMULATOR_REFRESH_TOKEN,
            "start_date": "2024-01-01T00:00:00Z",
            "end_date": "2024-01-03T00:00:00Z",
            "api_url": api_url,
            "lwa_token_url": f"{api_url}/auth/o2/token",
            "lookback_minutes": 0,
        }

    def with_range(self, start: str, end: str) -> Self:
        self._config["start_date"] = start
        self._config["end_date"] = end
        return self

    def with_parties(self, *parties: str) -> Self:
        self._config["ship_from_party_ids"] = list(parties)
        return self

    def with_version(self, version: str) -> Self:
        self._config["df_api_version"] = version
        return self

    def with_setting(self, name: str, value: Any) -> Self:
        self._config[name] = value
        return self

    def without(self, name: str) -> Self:
        self._config.pop(name, None)
        return self

    def build(self) -> dict[str, Any]:
        return copy.deepcopy(self._config)


class StateBuilder:
    """A Singer state with customer_invoices bookmarks."""

    def __init__(self) -> None:
        self._bookmarks: dict[str, Any] = {}

    def with_bookmark(self, value: Any, stream: str = "customer_invoices") -> Self:
        self._bookmarks[stream] = {
            "replication_key": "window_start",
            "replication_key_value": value,
        }
        return self

    def with_party_bookmark(
        self, party: str, value: Any, stream: str = "customer_invoices"
    ) -> Self:
        partitions = self._bookmarks.setdefault(stream, {}).setdefault("partitions", [])
        partitions.append(
            {
                "context": {"ship_from_party_id": party},
                "replication_key": "window_start",
                "replication_key_value": value,
            }
        )
        return self

    def with_raw(self, stream: str, value: Any) -> Self:
        self._bookmarks[stream] = value
        return self

    def build(self) -> dict[str, Any]:
        return {"bookmarks": copy.deepcopy(self._bookmarks)}
