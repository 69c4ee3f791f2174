"""``tap-spinvoices-verify``: re-read an archive and report every object whose bytes changed.

For an auditor: every object under a prefix (one account, one stream, a range of days) is
read back in full and its SHA-256 compared with the one its name records (naming.py). One
line per object that does not match, cannot be read, or is not named as the tap names
objects; then a summary line. Exit code 0 when every object matched, 1 when any did not
(or could not be read), 2 when the archive cannot be listed at all (settings, credentials).

    tap-spinvoices-verify --config config.json                      # the tap's own config
    tap-spinvoices-verify --config config.json --stream customer_invoices --from 2024-01-01
        --to 2024-01-31                                             # (one line) days included
    tap-spinvoices-verify --archive-url s3://bucket/prefix --account V1234

Settings come from ``--config`` (archive_url, archive_options, account_id; the LWA
credentials are not needed), else from the environment as Meltano passes them
(TAP_SPINVOICES_ARCHIVE_URL, ...); ``--archive-url`` and ``--account`` override them.
Store credentials come from the cloud's standard environment variables, as for the tap.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tap_spinvoices.archive.naming import day_folder, parse_object_name, stream_folder
from tap_spinvoices.archive.stores import open_store
from tap_spinvoices.errors import ConfigError, SpinvoicesError
from tap_spinvoices.process_exit import run_and_exit
from tap_spinvoices.settings import parse_archive_settings
from tap_spinvoices.settings_declaration import DECLARED, setting_named

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tap_spinvoices.archive.config import ArchiveConfig, ArchiveLocation
    from tap_spinvoices.archive.stores import Store

ENV_PREFIX: Final = "TAP_SPINVOICES_"
ARCHIVE_URL: Final = setting_named("archive_url")
ACCOUNT_ID: Final = setting_named("account_id")
STREAMS: Final = ("customer_invoices", "invoice_documents")
_READS_AT_ONCE: Final = 16
# Past this many days a range is listed stream by stream and filtered, not day by day.
_DAYS_LISTED_ONE_BY_ONE: Final = 400
EXIT_MISMATCH: Final = 1
EXIT_UNUSABLE: Final = 2


@dataclass
class Report:
    """What a verification found."""

    checked: int = 0
    bytes_read: int = 0
    mismatched: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every object read back as its name says."""
        return not self.mismatched and not self.unreadable


@dataclass(frozen=True)
class Scope:
    """Which objects to verify: an account, streams, an inclusive range of days."""

    account_id: str
    streams: tuple[str, ...]
    first: date | None = None
    last: date | None = None

    def folders(self) -> list[str]:
        """The folders to list: day by day for a bounded range, else whole streams."""
        if self.first is None or self.last is None:
            return [stream_folder(self.account_id, s) for s in self.streams]
        days = (self.last - self.first).days + 1
        if days > _DAYS_LISTED_ONE_BY_ONE:
            return [stream_folder(self.account_id, s) for s in self.streams]
        return [
            day_folder(self.account_id, stream, self.first + timedelta(days=offset))
            for stream in self.streams
            for offset in range(days)
        ]

    def holds(self, day: date) -> bool:
        """Whether ``day`` is in the range."""
        return (self.first is None or day >= self.first) and (self.last is None or day <= self.last)


async def verify(
    store: Store,
    location: ArchiveLocation,
    scope: Scope,
    say: Callable[[str], None],
) -> Report:
    """Read back every object of ``scope``; ``say`` one line per problem."""
    report = Report()
    reads = asyncio.Semaphore(_READS_AT_ONCE)

    async def check(name: str) -> None:
        try:
            await _check(name, store=store, location=location, scope=scope, report=report, say=say)
        finally:
            reads.release()

    tasks: set[asyncio.Task[None]] = set()
    try:
        for folder in scope.folders():
            async for name, _size in store.list_folder(folder):
                await reads.acquire()  # at most _READS_AT_ONCE objects in memory at once
                task = asyncio.create_task(check(name))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    return report


async def _check(  # noqa: PLR0913 - the verification's context, passed down
    name: str,
    *,
    store: Store,
    location: ArchiveLocation,
    scope: Scope,
    report: Report,
    say: Callable[[str], None],
) -> None:
    """Read one object back and compare its SHA-256 with its name's."""
    parsed = parse_object_name(name)
    if parsed is None:
        report.foreign.append(name)
        say(f"NOT THE TAP'S NAME {location.uri(name)}: skipped")
        return
    if not scope.holds(parsed.day):
        return
    digest = hashlib.sha256()
    size = 0
    try:
        async for chunk in store.read(name):
            digest.update(chunk)
            size += len(chunk)
    except Exception as exc:  # noqa: BLE001 - reported per object, the rest goes on
        report.unreadable.append(name)
        say(f"UNREADABLE {location.uri(name)}: {type(exc).__name__}: {_first_line(exc)}")
        return
    report.checked += 1
    report.bytes_read += size
    if digest.hexdigest() != parsed.sha256_hex:
        report.mismatched.append(name)
        say(
            f"MISMATCH {location.uri(name)}: its {size} bytes have SHA-256 "
            f"{digest.hexdigest()}, its name records {parsed.sha256_hex}"
        )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else ""


def settings_from(args: argparse.Namespace, environ: dict[str, str]) -> tuple[ArchiveConfig, str]:
    """The archive settings and the account, from --config or the environment, then flags."""
    config = _config_file(args.config) if args.config else _environment_config(environ)
    if args.archive_url:
        config[ARCHIVE_URL.name] = args.archive_url
    archive = parse_archive_settings(config)
    if archive is None:
        raise ConfigError(
            ARCHIVE_URL.name,
            "is not set",
            "pass --config with the tap's config, --archive-url, or TAP_SPINVOICES_ARCHIVE_URL",
        )
    account = args.account or config.get(ACCOUNT_ID.name) or str(ACCOUNT_ID.default)
    return archive, str(account)


def _config_file(path: str) -> dict[str, Any]:
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        msg = f"Config error: cannot read --config {path}: {exc}. Fix: pass the tap's JSON config"
        raise SpinvoicesError(msg) from None
    if not isinstance(value, dict):
        msg = f"Config error: --config {path} is not a JSON object. Fix: pass the tap's config"
        raise SpinvoicesError(msg)
    return value


def _environment_config(environ: dict[str, str]) -> dict[str, Any]:
    """TAP_SPINVOICES_<SETTING> variables, as Meltano passes the settings to a plugin."""
    config: dict[str, Any] = {}
    for setting in DECLARED:
        value = environ.get(ENV_PREFIX + setting.name.upper())
        if value is not None:
            config[setting.name] = value
    return config  # archive_options arrives as JSON text: parse_archive_settings reads it


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        msg = f"{text!r} is not a day like 2024-01-31"
        raise argparse.ArgumentTypeError(msg) from None


def parser() -> argparse.ArgumentParser:
    """The command line."""
    cli = argparse.ArgumentParser(
        prog="tap-spinvoices-verify",
        description="Re-read archived documents and report any whose SHA-256 no longer matches.",
    )
    cli.add_argument("--config", help="the tap's JSON config (archive_url, archive_options)")
    cli.add_argument("--archive-url", help="the archive to verify (overrides the config)")
    cli.add_argument("--account", help="account_id whose documents to verify (default: config's)")
    cli.add_argument(
        "--stream",
        action="append",
        choices=STREAMS,
        help="a stream to verify (repeatable; default: every stream)",
    )
    cli.add_argument("--from", dest="first", type=_day, help="first day, e.g. 2024-01-01")
    cli.add_argument("--to", dest="last", type=_day, help="last day (included)")
    return cli


def main() -> None:
    """The command; it leaves without the interpreter's teardown (process_exit.py)."""
    run_and_exit(verify_command)


def verify_command(argv: Sequence[str] | None = None) -> None:
    """Run the verification; exit 0 (all match), 1 (some do not), 2 (cannot verify)."""
    args = parser().parse_args(argv)
    say = _printer()
    try:
        archive, account = settings_from(args, dict(os.environ))
        store = open_store(archive)
    except SpinvoicesError as exc:
        say(str(exc))
        sys.exit(EXIT_UNUSABLE)
    scope = Scope(account, tuple(args.stream or STREAMS), args.first, args.last)
    location = archive.location
    try:
        report = asyncio.run(verify(store, location, scope, say))
    except Exception as exc:  # noqa: BLE001 - listing failed: one line, no traceback
        say(
            f"Cannot list the archive {location.where()} (archive_url {location.url}): "
            f"{type(exc).__name__}: {_first_line(exc)}. Fix: check archive_url and the "
            "credentials (they need to list and read)"
        )
        sys.exit(EXIT_UNUSABLE)
    finally:
        # obstore's objects (the store, responses and streams left in reference cycles)
        # freed now, while the interpreter is whole: freed during its shutdown, their
        # runtime's threads sometimes abort the process after the last line (7 of 100 here).
        store.close()
        del store
        gc.collect()
    say(
        f"Verified {report.checked} objects ({report.bytes_read:,} bytes) of account {account} "
        f"under {location.uri('').rstrip('/')}: {report.checked - len(report.mismatched)} match, "
        f"{len(report.mismatched)} mismatched, {len(report.unreadable)} unreadable, "
        f"{len(report.foreign)} not named by the tap"
    )
    sys.exit(0 if report.ok else EXIT_MISMATCH)


def _printer() -> Callable[[str], None]:
    def say(line: str) -> None:
        print(line, flush=True)  # noqa: T201 - the command's report is its output

    return say


if __name__ == "__main__":
    main()
