"""A throw-away Redis server for tests: redis-server on a free loopback port, its own folder.

Debian's package (``apt-get install -y redis-server``, .ci/run does this) installs the binary;
nothing here starts the system service. The server keeps nothing on disk.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.pgserver import free_port

INSTALL_HINT = (
    "install it with `apt-get update && apt-get install -y redis-server` (Debian; .ci/run "
    "does this) or put redis-server on PATH"
)
READY_TIMEOUT = 60.0  # bounds a hang only: the server answers in milliseconds


class RedisUnavailableError(RuntimeError):
    """The server cannot be started here; the message says why and what to do."""


def answers_ping(port: int) -> bool:
    """Whether a Redis server on 127.0.0.1:port answers PING with PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """One running server; ``stop()`` shuts it down and removes its folder."""

    process: subprocess.Popen[bytes]
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def start_redis() -> RedisServer:
    """A started server; raises ``RedisUnavailableError`` saying why it could not start."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisUnavailableError(f"redis-server not found: {INSTALL_HINT}")
    root = Path(tempfile.mkdtemp(prefix="spinvoices-redis-"))
    log = root / "server.log"
    for _ in range(3):  # a free port can be taken between probe and bind: retry
        port = free_port()
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(root)]
        command += ["--save", "", "--appendonly", "no", "--logfile", str(log)]
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, cwd=root)
        deadline = time.monotonic() + READY_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if answers_ping(port):
                return RedisServer(process, root, port)
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()
    text = log.read_text() if log.exists() else ""
    shutil.rmtree(root, ignore_errors=True)
    raise RedisUnavailableError(f"redis-server did not answer PING:\n{text[-2000:]}")
