"""Run the emulator: in a background thread for tests (``EmulatorServer``) or in the main loop."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any, Self

from aiohttp import web

from spapi_emulator.app import FAMILIES, create_app
from spapi_emulator.config import EmulatorConfig, ensure_loopback
from spapi_emulator.direct_fulfillment.dataset import DIRECT_FULFILLMENT
from spapi_emulator.invoices.exports import INVOICES_API
from spapi_emulator.state import EmulatorState

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from types import TracebackType

    from spapi_emulator.direct_fulfillment.dataset import Dataset
    from spapi_emulator.gate import RequestGate
    from spapi_emulator.invoices.exports import InvoicesApi

# How long start() waits for the background loop to bind its socket.
_START_TIMEOUT_S = 30.0


async def start_site(
    state: EmulatorState, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, str]:
    """Serve the emulator on a loopback address in the running event loop.

    Args:
        state: The emulator state.
        host: Loopback host to bind.
        port: TCP port; 0 picks a free one.

    Returns:
        (runner, base URL such as ``http://127.0.0.1:43127``); ``await runner.cleanup()`` stops.

    """
    ensure_loopback(host)
    runner = web.AppRunner(create_app(state), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return runner, f"http://{shown}:{bound_port}"


class EmulatorServer:
    """The emulator in a background thread with its own event loop.

    Example:
        >>> with EmulatorServer(EmulatorConfig(days=7)) as emu:  # doctest: +SKIP
        ...     emu.reconfigure(fault_5xx_rate=0.2)  # takes effect on the next request
        ...     sync(emu.url)

    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Prepare the server; the dataset is built now, the socket opens in ``start()``.

        Args:
            config: Emulator settings; ``EmulatorConfig()`` when None.
            host: Loopback host to bind.
            port: TCP port; 0 picks a free one.
            clock: Monotonic clock for buckets and expiries; inject a fake one in tests.
            wall_clock: Returns "now" (aware) for the createdBefore check; the real time when
                None.

        """
        self._host = ensure_loopback(host)
        self._port = port
        if wall_clock is None:
            self.state = EmulatorState(config, families=FAMILIES, clock=clock)
        else:
            self.state = EmulatorState(
                config, families=FAMILIES, clock=clock, wall_clock=wall_clock
            )
        self._url: str | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. ``http://127.0.0.1:43127``."""
        if self._url is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return self._url

    @property
    def config(self) -> EmulatorConfig:
        """The config in force now (frozen: change it with ``reconfigure``)."""
        return self.state.config

    def reconfigure(self, **changes: Any) -> EmulatorConfig:  # noqa: ANN401 - config fields
        """Change the running emulator's config; the next request reads it.

        Example: ``emu.reconfigure(fault_5xx_rate=1.0)``. The new config is checked like a
        new ``EmulatorConfig``; dataset fields are read once, when the server was built.

        Returns:
            The config now in force.

        Raises:
            ValueError: The changed config is invalid (nothing changes then).

        """
        return self.state.reconfigure(**changes)

    @property
    def dataset(self) -> Dataset:
        """The seeded customer invoices (Direct Fulfillment) the server answers from."""
        return self.state.family(DIRECT_FULFILLMENT)

    def dataset_of(self, selling_partner_id: str) -> Dataset:
        """The seeded customer invoices of one selling partner (``SP1`` is the primary).

        Raises:
            KeyError: No selling partner of that id.

        """
        return self.state.partners[selling_partner_id].family(DIRECT_FULFILLMENT)

    @property
    def invoices_api(self) -> InvoicesApi:
        """The Invoices API's seeded invoices, live exports and documents."""
        return self.state.family(INVOICES_API)

    def stats(self) -> dict[str, object]:
        """Return request counters per operation and the bucket settings (as the stats route)."""
        return self.state.stats_snapshot()

    @property
    def gate(self) -> RequestGate:
        """Holds requests at a chosen point of the client's progress (``hold_after``)."""
        return self.state.gate

    def issued_secrets(self) -> list[str]:
        """Return every access token and RDT issued, plus the client secret and refresh token."""
        return self.state.issued_secrets()

    def start(self) -> Self:
        """Start the background thread and wait until the socket is bound.

        Returns:
            self.

        Raises:
            RuntimeError: Already started, or the server did not come up in time.

        """
        if self._thread is not None:
            raise RuntimeError("the emulator was already started")
        self._thread = threading.Thread(target=self._run, name="spapi-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S):
            raise RuntimeError("the emulator did not start in time")
        if self._error is not None:
            self._thread.join()
            raise RuntimeError("the emulator failed to start") from self._error
        return self

    def close(self) -> None:
        """Stop serving, close the loop and join the thread; safe to call twice."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        self.state.gate.open()  # held handlers finish now instead of at the shutdown timeout
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join()
        self._thread = None
        self._url = None

    def __enter__(self) -> Self:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.close()

    def _run(self) -> None:
        try:
            with asyncio.Runner() as runner:
                runner.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - handed to start() in the caller's thread
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner, self._url = await start_site(self.state, self._host, self._port)
        try:
            self._ready.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()
