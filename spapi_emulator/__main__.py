"""Command line: ``python -m spapi_emulator --port 8080 --seed 7 ...``.

Prints the base URL on one line (flushed) once the socket is bound, then serves until SIGINT
or SIGTERM, so scripts can start it in the background and wait for that line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from spapi_emulator import __version__, options
from spapi_emulator.app import FAMILIES
from spapi_emulator.config import EmulatorConfig, ensure_loopback
from spapi_emulator.server import start_site
from spapi_emulator.state import EmulatorState


def build_parser() -> argparse.ArgumentParser:
    """Return the CLI's argument parser: the server's address, then every declared option.

    The options, their defaults and their help come from ``EmulatorConfig``'s declaration
    (spapi_emulator/options.py), grouped as in docs/emulator.md.
    """
    parser = argparse.ArgumentParser(
        prog="python -m spapi_emulator",
        description="Local Amazon SP-API emulator (VDF customer invoices, Invoices API, LWA, RDT).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    server = parser.add_argument_group("Server")
    server.add_argument(
        "--host", default="127.0.0.1", help="loopback address to bind (default %(default)s)"
    )
    server.add_argument(
        "--port", type=int, default=8080, help="TCP port, 0 for any free one (default 8080)"
    )
    options.add_arguments(parser, EmulatorConfig)
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """Return the emulator config the parsed arguments describe.

    Args:
        args: Result of ``build_parser().parse_args()``.

    Returns:
        The config.

    Raises:
        ValueError: The options describe no valid config.

    """
    return options.from_arguments(EmulatorConfig, args)


async def serve(config: EmulatorConfig, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM, printing the base URL once bound.

    Args:
        config: Emulator settings.
        host: Loopback host.
        port: TCP port (0: any free one).

    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner, url = await start_site(EmulatorState(config, families=FAMILIES), host, port)
    try:
        sys.stdout.write(url + "\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Run the emulator from the command line.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        The exit status.

    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        ensure_loopback(args.host)
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
