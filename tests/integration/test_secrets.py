"""No credential, access token or RDT ever reaches stdout or stderr, even at DEBUG level.

Logs of a nightly job are mailed, pasted into tickets and kept for months. The checks look for
every secret the emulator issued or knows (client secret, refresh token, each LWA access token
and RDT) and also for any 16-character piece of a token's random part, so a token cut short
or wrapped in a URL or a header dump is caught too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import config_for
from tests.integration.test_faults import error_lines
from tests.singer_run import TapRun, run_tap

if TYPE_CHECKING:
    from spapi_emulator import EmulatorServer

FRAGMENT = 16  # characters of a token's random part that count as a leak


def leaks(run: TapRun, emu: EmulatorServer, config: dict[str, Any]) -> list[str]:
    """What of each secret shows up in the run's output (shortened, so it does not leak here)."""
    output = run.raw_stdout.decode() + run.stderr
    credentials = {
        emu.config.client_secret,
        emu.config.refresh_token,
        config["lwa_client_secret"],
        config["refresh_token"],
    }
    found = [f"credential {secret[:4]}…" for secret in credentials if secret in output]
    tokens = set(emu.issued_secrets()) - credentials
    for token in tokens:
        random_part = token.split("|", 1)[-1]
        pieces = {random_part[k : k + FRAGMENT] for k in range(len(random_part) - FRAGMENT + 1)}
        if any(piece in output for piece in pieces):
            found.append(f"token {token[:8]}…")
    return found


def test_a_debug_sync_through_faults_and_token_refreshes_prints_no_secret(emulator_factory):
    emu = emulator_factory(
        access_token_ttl=1.0,
        rdt_ttl=1.0,
        time_scale=1.0,
        fault_5xx_rate=0.05,
        fault_reset_rate=0.02,
        malformed_json_rate=0.05,
    )
    config = config_for(emu).with_range("2024-01-01T00:00:00Z", "2024-01-04T00:00:00Z")
    config.with_setting("window_hours", 2)
    run = run_tap(config.build(), log_level="DEBUG")

    assert run.returncode == 0, run.stderr[-2000:]
    assert len(run.records()) == 3 * 48
    assert "| DEBUG    |" in run.stderr  # the level took effect
    assert len(emu.issued_secrets()) >= 2 + 6  # several access tokens and RDTs to look for
    assert leaks(run, emu, config.build()) == []


ERROR_PATHS = {
    "wrong-client-secret-401": ({}, {"lwa_client_secret": "s3cr3t-rotated-value-0001"}),
    "revoked-refresh-token-400": ({}, {"refresh_token": "Atzr|IwEBIrevoked-refresh-token-0001"}),
    "rdt-denied": ({"rdt_denied": True}, {}),
    "getcustomerinvoices-denied-403": ({}, {"use_rdt": False}),
    "5xx-exhausted": ({"fault_5xx_rate": 1.0}, {"max_retries": 2}),
    "resets-exhausted": ({"fault_reset_rate": 1.0}, {"max_retries": 2}),
    "timeouts-exhausted": (
        {"slow_rate": 1.0, "slow_seconds": 6.0},
        {"max_retries": 1, "request_timeout_seconds": 5},
    ),
}


@pytest.mark.parametrize(("faults", "settings"), ERROR_PATHS.values(), ids=ERROR_PATHS.keys())
def test_error_paths_at_debug_level_print_no_secret(emulator_factory, faults, settings):
    emu = emulator_factory(**faults)
    config = config_for(emu).with_range("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")
    for name, value in settings.items():
        config.with_setting(name, value)
    run = run_tap(config.build(), log_level="DEBUG")

    assert run.returncode == 1
    assert len(error_lines(run.stderr)) == 1
    assert "| DEBUG    |" in run.stderr
    assert leaks(run, emu, config.build()) == []


def test_the_leak_check_finds_a_token_cut_short_inside_a_log_line(emulator_factory):
    # The check itself: a piece of a token, as a truncated header dump would show it.
    emu = emulator_factory()
    config = config_for(emu).build()
    run = run_tap(config)
    token = next(t for t in emu.issued_secrets() if t.startswith("Atz.sprdt|"))
    dumped = TapRun(0, [], f"DEBUG | headers {{'x-amz-access-token': '{token[12:40]}...'}}")

    assert leaks(run, emu, config) == []
    assert leaks(dumped, emu, config) == [f"token {token[:8]}…"]
