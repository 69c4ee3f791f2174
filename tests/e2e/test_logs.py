"""Under Meltano, the tap's WARNING and ERROR lines keep their level; the demo shows no METRIC.

meltano.yml declares `structured-logging`: Meltano then hands the tap singer-sdk's JSON log
format (SINGER_SDK_LOG_CONFIG) and reads each line's level from it, instead of printing every
line of the tap's stderr as `[info]`. The emulator environment sets metrics_log_level WARNING.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.e2e.meltano_project import Meltano, tail

if TYPE_CHECKING:
    from pathlib import Path

    from spapi_emulator import EmulatorServer


def run_customer_invoices(
    meltano: Meltano, emulator: EmulatorServer, out: Path, **settings: str
) -> tuple[int, list[str]]:
    env = {
        "TAP_SPINVOICES_API_URL": emulator.url,
        "TAP_SPINVOICES_LWA_TOKEN_URL": f"{emulator.url}/auth/o2/token",
        "TAP_SPINVOICES_END_DATE": "2024-01-02T00:00:00Z",
        "TAP_SPINVOICES__SELECT": '["customer_invoices.*"]',
        "TARGET_JSONL_DESTINATION_PATH": str(out),
        **{f"TAP_SPINVOICES_{name.upper()}": value for name, value in settings.items()},
    }
    proc = meltano.run("--environment=emulator", "run", "tap-spinvoices", "target-jsonl", env=env)
    return proc.returncode, proc.stderr.splitlines()


def tap_lines(lines: list[str], level: str) -> list[str]:
    return [line for line in lines if f"[{level:<9}] tap-spinvoices " in line]


def test_the_taps_warning_is_a_warning_in_meltanos_log_and_no_metric_line_is_shown(
    meltano: Meltano, e2e_emulator: EmulatorServer, tmp_path: Path
):
    code, lines = run_customer_invoices(meltano, e2e_emulator, tmp_path)

    assert code == 0, tail("\n".join(lines))
    (warning,) = tap_lines(lines, "warning")
    assert "more than 6 months before now" in warning
    assert [line for line in lines if "[error" in line] == []
    assert [line for line in lines if "METRIC" in line] == []
    assert tap_lines(lines, "info")  # the progress lines are still there


def test_the_taps_error_is_an_error_in_meltanos_log(
    meltano: Meltano, e2e_emulator: EmulatorServer, tmp_path: Path
):
    code, lines = run_customer_invoices(
        meltano,
        e2e_emulator,
        tmp_path,
        refresh_token="Atzr|revoked",  # noqa: S106 - the emulator refuses it
    )

    assert code == 1
    (error,) = tap_lines(lines, "error")
    assert "refresh_token was rejected (invalid_grant)" in error


def test_metric_lines_come_back_with_metrics_log_level_info(
    meltano: Meltano, e2e_emulator: EmulatorServer, tmp_path: Path
):
    code, lines = run_customer_invoices(meltano, e2e_emulator, tmp_path, metrics_log_level="INFO")

    assert code == 0, tail("\n".join(lines))
    assert [line for line in lines if "METRIC" in line]
