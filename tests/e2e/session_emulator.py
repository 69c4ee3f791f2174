"""One emulator for the whole session, for tests whose config must exist at import time.

singer-sdk's ``get_tap_test_class`` builds the tap (and so needs the emulator's URL) while
pytest collects the module, before any fixture runs. ``conftest.pytest_sessionfinish`` stops it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.e2e.streams import start_emulator

if TYPE_CHECKING:
    from spapi_emulator import EmulatorServer

_server: EmulatorServer | None = None


def session_emulator() -> EmulatorServer:
    """The session's emulator, started on a free loopback port on first use."""
    global _server  # noqa: PLW0603 - one server per process, by design
    if _server is None:
        _server = start_emulator()
    return _server


def stop_session_emulator() -> None:
    global _server  # noqa: PLW0603
    if _server is not None:
        _server.close()
        _server = None
