"""Fixtures of the archive tests: a real S3 server, Azurite, a local folder, one view of all.

Nothing here skips: when SeaweedFS or Azurite cannot start, the test fails with the reason
and the fix.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import obstore
import pytest
from obstore.store import AzureStore, S3Store

from tests.archive import azurite, seaweed
from tests.archive.azurite import AzuriteServer, AzuriteUnavailableError
from tests.archive.seaweed import BUCKET, WRITER, Identity, SeaweedServer, SeaweedUnavailableError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedServer]:
    """One SeaweedFS for the session (about a second to start); tests use prefixes of their own."""
    try:
        server = seaweed.start_server()
    except SeaweedUnavailableError as exc:
        pytest.fail(f"SeaweedFS could not start: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def azure_server() -> Iterator[AzuriteServer]:
    """One Azurite blob service for the session, its container created; prefixes per test."""
    try:
        server = azurite.start_server()
    except AzuriteUnavailableError as exc:
        pytest.fail(f"Azurite could not start: {exc}", pytrace=False)
    yield server
    server.stop()


@dataclass
class ArchiveUnderTest:
    """An archive the tap writes to, seen by the test with its own eyes (not the tap's code)."""

    kind: str  # "folder", "s3" or "azure"
    url: str
    folder: Path | None = None
    server: SeaweedServer | None = None
    prefix: str = ""
    azure: AzuriteServer | None = None

    def options(self, identity: Identity = WRITER) -> dict[str, Any]:
        """archive_options for the tap: the store's endpoint and keys (none for a folder)."""
        if self.azure is not None:
            return self.azure.options()
        if self.server is None:
            return {}
        return {
            "endpoint": self.server.endpoint,
            "region": "us-east-1",
            "access_key_id": identity.access_key_id,
            "secret_access_key": identity.secret_access_key,
        }

    def settings(self, identity: Identity = WRITER) -> dict[str, Any]:
        """The tap settings that point at this archive."""
        options = self.options(identity)
        return {"archive_url": self.url} | ({"archive_options": options} if options else {})

    def uri(self, name: str) -> str:
        if self.folder is not None:
            return (self.folder / name).as_uri()
        if self.azure is not None:
            return f"az://{azurite.CONTAINER}/{self.prefix}/{name}"
        return f"s3://{BUCKET}/{self.prefix}/{name}"

    def _s3(self) -> S3Store | AzureStore:
        if self.azure is not None:
            return AzureStore(
                azurite.CONTAINER,
                prefix=self.prefix,
                config=self.azure.options(),
                client_options={"allow_http": True},
            )
        assert self.server is not None
        return S3Store(
            BUCKET,
            prefix=self.prefix,
            endpoint=self.server.endpoint,
            region="us-east-1",
            access_key_id=WRITER.access_key_id,
            secret_access_key=WRITER.secret_access_key,
            client_options={"allow_http": True},
        )

    def objects(self) -> dict[str, bytes]:
        """Every object's name (relative to archive_url) and bytes."""
        if self.folder is not None:
            return {
                path.relative_to(self.folder).as_posix(): path.read_bytes()
                for path in sorted(self.folder.rglob("*"))
                if path.is_file()
            }
        store = self._s3()
        names = [str(m["path"]) for batch in obstore.list(store) for m in batch]
        return {name: bytes(obstore.get(store, name).bytes()) for name in names}

    def versions(self) -> dict[str, tuple[Any, ...]]:
        """What changes when an object is rewritten: inode and mtime, or ETag and date."""
        if self.folder is not None:
            return {
                path.relative_to(self.folder).as_posix(): (
                    path.stat().st_ino,
                    path.stat().st_mtime_ns,
                )
                for path in sorted(self.folder.rglob("*"))
                if path.is_file()
            }
        store = self._s3()
        return {
            str(m["path"]): (m["e_tag"], m["last_modified"])
            for batch in obstore.list(store)
            for m in batch
        }

    def overwrite(self, name: str, data: bytes) -> None:
        """Change an object behind the tap's back (what an auditor must catch)."""
        if self.folder is not None:
            (self.folder / name).write_bytes(data)
        else:
            obstore.put(self._s3(), name, data)


def _archive(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> ArchiveUnderTest:
    prefix = f"t-{uuid.uuid4().hex[:12]}"
    if kind == "folder":
        folder = tmp_path / "archive"
        folder.mkdir()
        return ArchiveUnderTest("folder", str(folder), folder=folder)
    if kind == "azure":
        azure: AzuriteServer = request.getfixturevalue("azure_server")
        return ArchiveUnderTest("azure", azure.url(prefix), prefix=prefix, azure=azure)
    server: SeaweedServer = request.getfixturevalue("s3_server")
    return ArchiveUnderTest("s3", server.url(prefix), server=server, prefix=prefix)


@pytest.fixture(params=["folder", "s3"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> ArchiveUnderTest:
    """An empty archive: a local folder, or a prefix of its own on the S3 server."""
    return _archive(request.param, request, tmp_path)


@pytest.fixture(params=["folder", "s3", "azure"])
def any_archive(request: pytest.FixtureRequest, tmp_path: Path) -> ArchiveUnderTest:
    """An empty archive on each store the tests have: a folder, S3 (SeaweedFS), Azure (Azurite)."""
    return _archive(request.param, request, tmp_path)


@pytest.fixture
def no_cloud_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS_*/GOOGLE_*/AZURE_* variable of the developer's leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "GOOGLE_", "AZURE_")):
            monkeypatch.delenv(name)


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
