"""A throw-away Azure Blob Storage for tests: Azurite (Microsoft's emulator, npm ``azurite``).

Blob service only, on a free loopback port, in a folder of its own, telemetry off. The
well-known development account (``devstoreaccount1``) signs every request with Shared Key, as
Azure does; obstore cannot create a container, so the fixture creates one with a signed
``Create Container`` request.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[2]
ACCOUNT: Final = "devstoreaccount1"
# Azurite's documented development key (public; https://learn.microsoft.com/azure/storage/common/storage-use-azurite).
ACCOUNT_KEY: Final = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
CONTAINER: Final = "archive"
API_VERSION: Final = "2021-08-06"
INSTALL_HINT: Final = (
    "install it with `npm install --prefix .node azurite` in the repository (.ci/run does "
    "this), or put azurite-blob on PATH"
)
_READY_GUARD_S: Final = 60.0


class AzuriteUnavailableError(RuntimeError):
    """Azurite cannot be started here; the message says why and what to do."""


def find_azurite() -> Path:
    """``azurite-blob`` from the repository's .node/ (what .ci/run installs) or PATH."""
    local = REPO / ".node" / "node_modules" / ".bin" / "azurite-blob"
    if local.is_file():
        return local
    on_path = shutil.which("azurite-blob")
    if on_path:
        return Path(on_path)
    raise AzuriteUnavailableError(f"Azurite (azurite-blob) not found: {INSTALL_HINT}")


@dataclass
class AzuriteServer:
    """One running blob service; ``stop()`` ends it and removes its folder."""

    root: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def url(self, prefix: str) -> str:
        return f"az://{CONTAINER}/{prefix}"

    def options(self) -> dict[str, str]:
        """archive_options reaching this emulator with the development account."""
        return {"account_name": ACCOUNT, "account_key": ACCOUNT_KEY, "endpoint": self.endpoint}

    def start(self, binary: Path) -> AzuriteServer:
        for _ in range(3):  # a free port can be taken between probe and bind: retry
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                self.port = sock.getsockname()[1]
            log = (self.root / "azurite.log").open("ab")
            self.process = subprocess.Popen(
                [
                    str(binary),
                    "--blobHost=127.0.0.1",
                    f"--blobPort={self.port}",
                    f"--location={self.root}",
                    "--silent",
                    "--disableTelemetry",
                    "--skipApiVersionCheck",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={"PATH": os.environ.get("PATH", ""), "HOME": str(self.root)},
                start_new_session=True,
            )
            log.close()
            if self._create_container():
                return self
            self.stop_process()
        tail = (self.root / "azurite.log").read_text(errors="replace")[-3000:]
        raise AzuriteUnavailableError(f"Azurite did not answer on its blob port:\n{tail}")

    def _create_container(self) -> bool:
        """Create the container (a Shared Key-signed PUT) once the port answers."""
        deadline = time.monotonic() + _READY_GUARD_S
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                urllib.request.urlopen(_signed_create_container(self.port), timeout=5)  # noqa: S310
            except urllib.error.HTTPError as exc:
                if exc.code == 409:
                    return True
                raise
            except OSError:
                time.sleep(0.1)
            else:
                return True
        return False

    def stop_process(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        self.stop_process()
        shutil.rmtree(self.root, ignore_errors=True)


def _signed_create_container(port: int) -> urllib.request.Request:
    """``PUT /<account>/<container>?restype=container`` signed with the account key.

    Shared Key: HMAC-SHA256 over the verb, the standard headers (all empty here), the x-ms-*
    headers and the resource (https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key).
    """
    date = formatdate(usegmt=True)
    headers = {"x-ms-date": date, "x-ms-version": API_VERSION}
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()))
    resource = f"/{ACCOUNT}/{ACCOUNT}/{CONTAINER}\nrestype:container"
    content_type = "application/octet-stream"  # urllib would add a form type of its own
    # VERB, Content-Encoding, -Language, -Length (empty when 0), -MD5, -Type, Date,
    # If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since, Range.
    standard = ["", "", "", "", content_type, "", "", "", "", "", ""]
    to_sign = "PUT\n" + "".join(f"{v}\n" for v in standard) + canonical_headers + resource
    key = base64.b64decode(ACCOUNT_KEY)
    signature = base64.b64encode(hmac.new(key, to_sign.encode(), hashlib.sha256).digest())
    headers["Authorization"] = f"SharedKey {ACCOUNT}:{signature.decode()}"
    headers["Content-Type"] = content_type
    url = f"http://127.0.0.1:{port}/{ACCOUNT}/{CONTAINER}?restype=container"
    return urllib.request.Request(url, method="PUT", headers=headers, data=b"")


def start_server() -> AzuriteServer:
    """A started emulator with its container; ``AzuriteUnavailableError`` saying why not."""
    binary = find_azurite()
    server = AzuriteServer(Path(tempfile.mkdtemp(prefix="spinvoices-azurite-")))
    try:
        return server.start(binary)
    except BaseException:
        with contextlib.suppress(Exception):
            server.stop()
        raise
