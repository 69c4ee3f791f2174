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
from typing import TYPE_CHECKING

from spapi_emulator.config import (
    DOCUMENT_BODIES,
    EXPORT_DATE_FORMS,
    FOLLOW_UP_READINGS,
    EmulatorConfig,
    ensure_loopback,
    numbered_partners,
)
from spapi_emulator.errors import NEXT_TOKEN_REFUSALS
from spapi_emulator.hostile import HOSTILE_VALUES
from spapi_emulator.isotime import parse_iso8601
from spapi_emulator.server import start_site
from spapi_emulator.state import EmulatorState

if TYPE_CHECKING:
    from datetime import datetime


def _latency(text: str) -> tuple[float, float]:
    """Parse ``150-450`` (or ``200``) milliseconds."""
    low, _, high = text.partition("-")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW-HIGH milliseconds, got {text!r}") from None
    return bounds


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1], got {text!r}")
    return value


def _moment(text: str) -> datetime:
    moment = parse_iso8601(text)
    if moment is None:
        raise argparse.ArgumentTypeError(f"expected e.g. 2024-01-01T00:00:00Z, got {text!r}")
    return moment


def _add_document_arguments(parser: argparse.ArgumentParser, d: EmulatorConfig) -> None:
    """The export documents' options: their NF-e files, their body and their download URL."""
    add = parser.add_argument
    add("--nfe-xml-bytes", type=int, default=d.nfe_xml_bytes, help="size of each NF-e XML")
    add("--invoices-per-document", type=int, default=d.invoices_per_document, help="per ZIP")
    add("--no-nfe-cancellation-events", action="store_true", help="no procEventoNFe files")
    add("--nfe-malformed-rate", type=_probability, default=d.nfe_malformed_rate)
    add("--document-body", choices=DOCUMENT_BODIES, default=d.document_body)
    add("--document-url-ttl", type=float, default=d.document_url_ttl, help="seconds, unscaled")


def _add_hostile_arguments(parser: argparse.ArgumentParser, d: EmulatorConfig) -> None:
    """Hostile answers (hostile.py): cases for the tap's bounds, not claims about Amazon."""
    add = parser.add_argument
    add("--huge-invoice-every", type=int, default=d.huge_invoice_every, help="0: never")
    add("--huge-invoice-bytes", type=int, default=d.huge_invoice_bytes, help="their PDF size")
    add("--chunked-answers", action="store_true", help="DF answers without Content-Length")
    add("--hostile-value", choices=HOSTILE_VALUES, default=d.hostile_value)
    add("--hostile-value-every", type=int, default=d.hostile_value_every)
    add("--retry-after-seconds", type=float, default=None, help="on every 429, 500 and 503")
    add("--endless-next-tokens", action="store_true", help="DF paging never ends")
    add("--next-token-bytes", type=int, default=d.next_token_bytes, help="pad DF nextTokens")


def build_parser() -> argparse.ArgumentParser:
    """Return the CLI's argument parser (defaults are ``EmulatorConfig``'s)."""
    d = EmulatorConfig()
    p = argparse.ArgumentParser(
        prog="python -m spapi_emulator",
        description="Local Amazon SP-API emulator (VDF customer invoices, Invoices API, LWA, RDT).",
    )
    add = p.add_argument
    add("--host", default="127.0.0.1", help="loopback address to bind (default %(default)s)")
    add("--port", type=int, default=8080, help="TCP port, 0 for any free one (default 8080)")
    add("--seed", type=int, default=d.seed)
    add("--dataset-start", type=_moment, default=d.dataset_start, help="first dataset day")
    add("--days", type=int, default=d.days)
    add("--invoices-per-day", type=int, default=d.invoices_per_day, help="per party")
    add("--parties", default=",".join(d.parties), help="comma-separated ship-from party ids")
    add("--content-bytes", type=int, default=d.content_bytes, help="decoded PDF size")
    add("--boundary-every", type=int, default=d.boundary_every, help="0 disables")
    add("--client-id", default=d.client_id)
    add("--client-secret", default=d.client_secret)
    add("--refresh-token", default=d.refresh_token)
    add(
        "--selling-partners",
        type=int,
        default=0,
        metavar="N",
        help=(
            "N more selling partners of the same app, each with its own data and buckets: "
            "refresh tokens Atzr|emulator-refresh-token-2 ... -(N+1); the first one's purchase "
            "order numbers overlap the primary's on purpose"
        ),
    )
    add("--access-token-ttl", type=float, default=d.access_token_ttl, help="seconds")
    add("--rdt-ttl", type=float, default=d.rdt_ttl, help="seconds")
    add("--no-require-rdt", action="store_true", help="accept plain LWA tokens on DF calls")
    add("--rdt-denied", action="store_true", help="RDT calls fail like a missing role")
    add("--rdt-fail-once-503", action="store_true", help="the first RDT call answers 503")
    add("--latency-ms", type=_latency, default=d.latency_ms, metavar="LOW-HIGH")
    add("--time-scale", type=float, default=d.time_scale, help="rates run this much faster")
    add("--no-throttle", action="store_true", help="do not enforce the usage-plan buckets")
    add("--fault-5xx-rate", type=_probability, default=d.fault_5xx_rate)
    add("--fault-reset-rate", type=_probability, default=d.fault_reset_rate)
    add("--slow-rate", type=_probability, default=d.slow_rate)
    add("--slow-seconds", type=float, default=d.slow_seconds)
    add("--malformed-json-rate", type=_probability, default=d.malformed_json_rate)
    add("--next-token-ttl", type=float, default=None, help="seconds (default: never expire)")
    add("--inclusive-bounds", action="store_true", help="createdAfter/Before inclusive")
    add("--invoices-api-per-day", type=int, default=d.invoices_api_per_day, help="Invoices API")
    _add_document_arguments(p, d)
    add("--export-history-error-rate", type=_probability, default=d.export_history_error_rate)
    add("--export-history-pending", type=int, default=d.export_history_pending)
    add("--export-queue-seconds", type=float, default=d.export_queue_seconds, help="REQUESTED")
    add("--export-processing-seconds", type=float, default=d.export_processing_seconds)
    add("--export-error-rate", type=_probability, default=d.export_error_rate)
    add("--invoices-empty-page-rate", type=_probability, default=d.invoices_empty_page_rate)
    add("--refuse-next-tokens", type=int, default=0, help="refuse N nextTokens")
    add("--refuse-next-tokens-after", type=int, default=0, help="accept N nextTokens first")
    add(
        "--next-token-refusal",
        choices=sorted(NEXT_TOKEN_REFUSALS),
        default=d.next_token_refusal,
        help="wording of a refused nextToken (default %(default)s)",
    )
    add(
        "--invoices-follow-up",
        choices=FOLLOW_UP_READINGS,
        default=d.invoices_follow_up,
        help="what an Invoices API follow-up page must send with nextToken (default %(default)s)",
    )
    add(
        "--df-static-sandbox",
        action="store_true",
        help="DF v1 answers the model's catch-all sandbox example (same nextToken forever)",
    )
    add("--shapeless-body-every", type=int, default=0, help="every Nth DF answer is 200 {}")
    add(
        "--export-date-form",
        choices=EXPORT_DATE_FORMS,
        default=d.export_date_form,
        help="createInvoicesExport date texts accepted (default %(default)s)",
    )
    _add_hostile_arguments(p, d)
    return p


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """Return the emulator config the parsed arguments describe.

    Args:
        args: Result of ``build_parser().parse_args()``.

    Returns:
        The config.

    """
    return EmulatorConfig(
        seed=args.seed,
        dataset_start=args.dataset_start,
        days=args.days,
        invoices_per_day=args.invoices_per_day,
        parties=tuple(party for party in args.parties.split(",") if party),
        content_bytes=args.content_bytes,
        boundary_every=args.boundary_every,
        client_id=args.client_id,
        client_secret=args.client_secret,
        refresh_token=args.refresh_token,
        selling_partners=numbered_partners(args.selling_partners, args.seed),
        access_token_ttl=args.access_token_ttl,
        rdt_ttl=args.rdt_ttl,
        require_rdt=not args.no_require_rdt,
        rdt_denied=args.rdt_denied,
        rdt_fail_once_503=args.rdt_fail_once_503,
        latency_ms=args.latency_ms,
        throttle=not args.no_throttle,
        time_scale=args.time_scale,
        fault_5xx_rate=args.fault_5xx_rate,
        fault_reset_rate=args.fault_reset_rate,
        slow_rate=args.slow_rate,
        slow_seconds=args.slow_seconds,
        malformed_json_rate=args.malformed_json_rate,
        next_token_ttl=args.next_token_ttl,
        inclusive_bounds=args.inclusive_bounds,
        invoices_api_per_day=args.invoices_api_per_day,
        nfe_xml_bytes=args.nfe_xml_bytes,
        invoices_per_document=args.invoices_per_document,
        nfe_cancellation_events=not args.no_nfe_cancellation_events,
        nfe_malformed_rate=args.nfe_malformed_rate,
        document_body=args.document_body,
        export_history_error_rate=args.export_history_error_rate,
        export_history_pending=args.export_history_pending,
        export_queue_seconds=args.export_queue_seconds,
        export_processing_seconds=args.export_processing_seconds,
        export_error_rate=args.export_error_rate,
        document_url_ttl=args.document_url_ttl,
        invoices_empty_page_rate=args.invoices_empty_page_rate,
        refuse_next_tokens=args.refuse_next_tokens,
        refuse_next_tokens_after=args.refuse_next_tokens_after,
        next_token_refusal=args.next_token_refusal,
        invoices_follow_up=args.invoices_follow_up,
        df_static_sandbox=args.df_static_sandbox,
        shapeless_body_every=args.shapeless_body_every,
        export_date_form=args.export_date_form,
        huge_invoice_every=args.huge_invoice_every,
        huge_invoice_bytes=args.huge_invoice_bytes,
        chunked_answers=args.chunked_answers,
        hostile_value=args.hostile_value,
        hostile_value_every=args.hostile_value_every,
        retry_after_seconds=args.retry_after_seconds,
        endless_next_tokens=args.endless_next_tokens,
        next_token_bytes=args.next_token_bytes,
    )


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
    runner, url = await start_site(EmulatorState(config), host, port)
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
