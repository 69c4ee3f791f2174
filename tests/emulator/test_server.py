"""Running the emulator: the thread handle, the stats route, loopback only, and the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from spapi_emulator import EmulatorConfig, EmulatorServer

from .conftest import Api, http_request

REPO = Path(__file__).resolve().parents[2]


def test_server_listens_on_loopback_and_reports_its_url() -> None:
    with EmulatorServer(EmulatorConfig(days=1, invoices_per_day=3)) as emu:
        assert emu.url.startswith("http://127.0.0.1:")
        assert int(emu.url.rsplit(":", 1)[1]) > 0
        assert len(emu.dataset) == 6


def test_close_is_idempotent_and_forgets_the_url() -> None:
    emu = EmulatorServer(EmulatorConfig(days=1)).start()
    emu.close()
    emu.close()
    with pytest.raises(RuntimeError):
        _ = emu.url


def test_starting_twice_is_an_error() -> None:
    with EmulatorServer(EmulatorConfig(days=0)) as emu, pytest.raises(RuntimeError):
        emu.start()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])  # noqa: S104
def test_non_loopback_hosts_are_refused(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        EmulatorServer(EmulatorConfig(days=0), host=host)


def test_port_in_use_fails_start_cleanly() -> None:
    with EmulatorServer(EmulatorConfig(days=0)) as first:
        port = int(first.url.rsplit(":", 1)[1])
        second = EmulatorServer(EmulatorConfig(days=0), port=port)
        with pytest.raises(RuntimeError, match="failed to start"):
            second.start()


def test_stats_route_returns_counters_and_bucket_settings(api: Api, emu: EmulatorServer) -> None:
    api.access_token()
    reply = api.request("GET", emu.url + "/_emulator/stats")
    assert reply.status == 200
    assert reply.json["operations"]["lwaToken"]["requests"] == 1
    assert reply.json["rate_limits"]["getCustomerInvoices"]["burst"] == 10
    assert reply.json == emu.stats()


@pytest.mark.parametrize(
    "changes",
    [
        {"days": -1},
        {"parties": ()},
        {"parties": ("A", "A")},
        {"content_bytes": 5},
        {"time_scale": 0},
        {"latency_ms": (10.0, 5.0)},
    ],
)
def test_invalid_config_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        EmulatorConfig(**changes)  # type: ignore[arg-type]


def test_cli_prints_its_url_serves_and_stops_on_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "spapi_emulator",
        "--port",
        "0",
        "--days",
        "2",
        "--invoices-per-day",
        "5",
        "--latency-ms",
        "0-1",
    ]
    with subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:")
            assert http_request("GET", url + "/_emulator/stats").status == 200
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, stderr


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m spapi_emulator ARGS`` for a command that exits by itself."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "spapi_emulator", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_cli_refuses_a_public_address() -> None:
    result = run_cli("--host", "0.0.0.0")  # noqa: S104
    assert result.returncode == 2
    assert "loopback" in result.stderr


def test_cli_version_is_the_projects():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    result = run_cli("--version")
    assert (result.returncode, result.stdout) == (0, f"python -m spapi_emulator {project}\n")
