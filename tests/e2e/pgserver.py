"""A throw-away PostgreSQL server for tests: initdb and pg_ctl under a temp dir, loopback only.

PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` user that
Debian's package creates (``apt-get install -y postgresql``); otherwise as the current user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVER_USER = "postgres"  # the OS user Debian's postgresql package creates
DB_USER = "spinvoices"
DB_NAME = "spinvoices"
INSTALL_HINT = (
    "install the server with `apt-get update && apt-get install -y postgresql` "
    "(Debian; .ci/run does this) or set PG_BIN to the folder holding initdb and pg_ctl"
)


class PostgresUnavailableError(RuntimeError):
    """The server cannot be started here; the message says why and what to do."""


def find_bin_dir() -> Path:
    """The folder with initdb and pg_ctl: $PG_BIN, the newest /usr/lib/postgresql/*/bin, PATH."""
    candidates: list[Path] = []
    if os.environ.get("PG_BIN"):
        candidates.append(Path(os.environ["PG_BIN"]))
    versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
    candidates += sorted(versions, key=lambda p: int(p.parent.name), reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise PostgresUnavailableError(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found: {INSTALL_HINT}"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PostgresServer:
    """One running server; ``stop()`` shuts it down and removes its files."""

    bin_dir: Path
    root: Path
    port: int = 0
    _run_as: dict[str, Any] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+psycopg://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"

    @property
    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={DB_USER} dbname={DB_NAME}"

    def target_config(self, **extra: Any) -> dict[str, Any]:
        """Config for MeltanoLabs target-postgres pointing at this server."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "user": DB_USER,
            "password": "unused-trust-auth",
            "database": DB_NAME,
            **extra,
        }

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
            **self._run_as,
        )
        if proc.returncode != 0:
            log = self.log_file.read_text() if self.log_file.exists() else ""
            raise PostgresUnavailableError(
                f"`{' '.join(args[:2])}` failed (exit {proc.returncode}):\n"
                f"{proc.stdout}{proc.stderr}{log[-3000:]}"
            )
        return proc

    def start(self) -> PostgresServer:
        """initdb (trust auth), pg_ctl start on a free loopback port, createdb."""
        self._run(
            "initdb",
            "--pgdata",
            str(self.data_dir),
            "--username",
            DB_USER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-sync",
        )
        sockets = self.root / "sockets"
        sockets.mkdir()
        self._chown(sockets)
        last: PostgresUnavailableError | None = None
        for _ in range(3):  # a free port can be taken between probe and bind: retry
            self.port = free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={sockets}"
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            try:
                self._run(
                    "pg_ctl", "--pgdata", str(self.data_dir), "--log", str(self.log_file),
                    "--options", options, "--wait", "--timeout", "60", "start",
                )  # fmt: skip
                break
            except PostgresUnavailableError as exc:
                last = exc
        else:
            assert last is not None
            raise last
        self._run(
            "createdb", "--host", "127.0.0.1", "--port", str(self.port), "--username", DB_USER,
            DB_NAME,
        )  # fmt: skip
        return self

    def create_database(self, name: str) -> str:
        """Create another database on this server; its SQLAlchemy URL (psycopg 3)."""
        self._run(
            "createdb", "--host", "127.0.0.1", "--port", str(self.port), "--username", DB_USER,
            name,
        )  # fmt: skip
        return f"postgresql+psycopg://{DB_USER}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.data_dir.exists() and self.port:
            with contextlib.suppress(PostgresUnavailableError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "--pgdata", str(self.data_dir), "--mode", "fast", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def _chown(self, path: Path) -> None:
        if "user" in self._run_as:
            shutil.chown(path, self._run_as["user"], self._run_as["group"])

    @classmethod
    def create(cls) -> PostgresServer:
        """Prepare (not start) a server in a new temp dir, owned by the user who will run it."""
        bin_dir = find_bin_dir()
        run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise PostgresUnavailableError(
                    f"running as root and there is no {SERVER_USER!r} OS user to run PostgreSQL "
                    f"as (PostgreSQL refuses root): {INSTALL_HINT}"
                ) from None
            run_as = {"user": entry.pw_uid, "group": entry.pw_gid}
        root = Path(tempfile.mkdtemp(prefix="spinvoices-pg-"))
        server = cls(bin_dir=bin_dir, root=root, _run_as=run_as)
        server._chown(root)
        return server


def start_server() -> PostgresServer:
    """A started server; raises ``PostgresUnavailableError`` saying why it could not start."""
    server = PostgresServer.create()
    try:
        return server.start()
    except BaseException:
        server.stop()
        raise
