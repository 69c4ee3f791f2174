"""Where the archive is (``archive_url``) and how to reach it, checked before anything is stored.

Pure: parsing a URL and reading a mapping of environment variables, no I/O. The store itself
is built in stores.py.

Accepted ``archive_url`` forms:

==========================================  ============================================
``/srv/invoices``, ``archive``, ``~/inv``  a local folder (relative to the working folder)
``file:///srv/invoices``                    the same, as a URL
``s3://bucket/prefix``                      AWS S3 or any S3-compatible store (endpoint below)
``gs://bucket/prefix``                      Google Cloud Storage
``az://container/prefix``                   Azure Blob Storage (account from the environment)
``abfss://container@account.dfs.core.windows.net/prefix``   the same, account in the URL
==========================================  ============================================
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote, urlsplit

from tap_spinvoices.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

ARCHIVE_URL: Final = "archive_url"
ARCHIVE_OPTIONS: Final = "archive_options"

LOCAL: Final = "file"
S3: Final = "s3"
GCS: Final = "gs"
AZURE_SCHEMES: Final = frozenset({"az", "abfs", "abfss"})
CLOUD_SCHEMES: Final = frozenset({S3, GCS, *AZURE_SCHEMES})

_LOOPBACK_NAMES: Final = frozenset({"localhost"})

# Where each store takes a custom endpoint from: archive_options keys (as obstore names them,
# with the aliases it accepts) and the standard environment variables, first match wins.
_ENDPOINT_OPTIONS: Final = {
    S3: ("aws_endpoint_url_s3", "endpoint", "endpoint_url", "aws_endpoint", "aws_endpoint_url"),
    GCS: ("base_url", "google_base_url"),
    "azure": ("endpoint", "azure_storage_endpoint", "azure_endpoint"),
}
_ENDPOINT_VARIABLES: Final = {
    S3: ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"),
    GCS: ("GOOGLE_BASE_URL",),
    "azure": ("AZURE_STORAGE_ENDPOINT", "AZURE_ENDPOINT"),
}
# Azurite, Microsoft's emulator, on its default loopback address.
_AZURE_EMULATOR: Final = "http://127.0.0.1:10000"
_AZURE_EMULATOR_FLAGS: Final = ("use_emulator", "azure_storage_use_emulator")


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` is this machine (localhost, 127.0.0.0/8, ::1): plain http is safe there."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ArchiveLocation:
    """A parsed ``archive_url``: the store, its bucket or container, and the prefix in it."""

    url: str  # as configured, for messages
    scheme: str  # "file", "s3", "gs", "az", "abfs", "abfss"
    container: str = ""  # bucket or container; "" for a local folder
    prefix: str = ""  # inside the container, without leading or trailing "/"
    folder: Path | None = None  # a local archive's root folder
    account_host: str = ""  # abfs(s): "account.dfs.core.windows.net"

    @property
    def is_local(self) -> bool:
        """Whether the archive is a folder of this machine."""
        return self.folder is not None

    @property
    def store_family(self) -> str:
        """The store kind: file, s3, gs or azure."""
        return "azure" if self.scheme in AZURE_SCHEMES else self.scheme

    def key(self, name: str) -> str:
        """The full key of ``name`` in the container (the prefix joined in front)."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def uri(self, name: str) -> str:
        """The full URL of the object ``name`` in the scheme of ``archive_url``."""
        if self.folder is not None:
            return (self.folder / name).as_uri()
        if self.account_host:
            return f"{self.scheme}://{self.container}@{self.account_host}/{self.key(name)}"
        return f"{self.scheme}://{self.container}/{self.key(name)}"

    def where(self, name: str | None = None) -> str:
        """For messages: "folder /srv/a" or "bucket b (prefix p)", and the object if given."""
        if self.folder is not None:
            place = f"folder {self.folder}"
        else:
            noun = "bucket" if self.scheme in {S3, GCS} else "container"
            place = f"{noun} {self.container}" + (f" (prefix {self.prefix})" if self.prefix else "")
        return place + (f", object {self.key(name)}" if name is not None else "")


def parse_archive_url(value: str, working_folder: Path | None = None) -> ArchiveLocation:
    """Check ``archive_url`` and split it; ``ConfigError`` naming the setting and the fix."""
    text = value.strip()
    if not text:
        raise _url_error(value, "is empty")
    if "://" not in text:
        return _local(value, Path(text).expanduser(), working_folder)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if parts.query or parts.fragment:
        raise _url_error(value, "has a query or fragment (?, #)")
    if scheme == LOCAL:
        if parts.netloc not in {"", "localhost"}:
            raise _url_error(value, f"names another host ({parts.netloc})")
        return _local(value, Path(unquote(parts.path)), working_folder)
    if scheme not in CLOUD_SCHEMES:
        raise _url_error(value, f"has an unsupported scheme {parts.scheme!r}")
    container, host = parts.netloc, ""
    if scheme in {"abfs", "abfss"} and "@" in container:
        container, host = container.split("@", 1)
    if not container or "/" in container:
        raise _url_error(value, "names no bucket or container")
    return ArchiveLocation(
        url=value,
        scheme=scheme,
        container=container,
        prefix=_prefix(value, parts.path),
        account_host=host,
    )


def _local(value: str, path: Path, working_folder: Path | None) -> ArchiveLocation:
    base = working_folder or Path.cwd()
    folder = path if path.is_absolute() else base / path
    return ArchiveLocation(url=value, scheme=LOCAL, folder=Path(_normal(value, str(folder))))


def _normal(value: str, path: str) -> str:
    """An absolute path with no ``.`` or ``..`` segments (refused: they hide where it points)."""
    segments = [s for s in path.split("/") if s]
    if any(s in {".", ".."} for s in segments):
        raise _url_error(value, "has '.' or '..' segments")
    return "/" + "/".join(segments)


def _prefix(value: str, path: str) -> str:
    segments = [s for s in unquote(path).split("/") if s]
    if any(s in {".", ".."} for s in segments):
        raise _url_error(value, "has '.' or '..' segments in its prefix")
    return "/".join(segments)


def _url_error(value: str, problem: str) -> ConfigError:
    return ConfigError(
        ARCHIVE_URL,
        f"{value!r} {problem}",
        "write a folder (/srv/invoices or file:///srv/invoices), s3://bucket/prefix, "
        "gs://bucket/prefix, az://container/prefix or abfss://container@account.dfs.core."
        "windows.net/prefix",
    )


def endpoint_of(
    location: ArchiveLocation, options: Mapping[str, object], environ: Mapping[str, str]
) -> tuple[str, str] | None:
    """The custom endpoint the store will use, and where it came from; None: the cloud's own."""
    family = location.store_family
    for key in _ENDPOINT_OPTIONS.get(family, ()):
        if isinstance(options.get(key), str) and options[key]:
            return str(options[key]), f"{ARCHIVE_OPTIONS}.{key}"
    for variable in _ENDPOINT_VARIABLES.get(family, ()):
        if environ.get(variable):
            return environ[variable], variable
    if family == "azure" and _azure_emulator(options, environ):
        return _AZURE_EMULATOR, f"{ARCHIVE_OPTIONS}.use_emulator"
    return None


def _azure_emulator(options: Mapping[str, object], environ: Mapping[str, str]) -> bool:
    flags = [options.get(key) for key in _AZURE_EMULATOR_FLAGS]
    flags.append(environ.get("AZURE_STORAGE_USE_EMULATOR"))
    return any(str(flag).lower() in {"true", "1"} for flag in flags if flag is not None)


def needs_plain_http(
    location: ArchiveLocation, options: Mapping[str, object], environ: Mapping[str, str]
) -> bool:
    """Whether the endpoint is plain http (allowed only to loopback); ``ConfigError`` if not."""
    found = endpoint_of(location, options, environ)
    if found is None:
        return False
    endpoint, source = found
    parts = urlsplit(endpoint)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            source,
            f"the archive endpoint {endpoint!r} is not an http(s) URL",
            "write it like https://s3.example.com or http://127.0.0.1:8333",
        )
    if parts.scheme == "https":
        return False
    if not is_loopback_host(parts.hostname):
        raise ConfigError(
            source,
            f"plain http to the archive is only allowed to a loopback host, not {parts.hostname!r}",
            "use an https endpoint, or http://127.0.0.1 for a local test server",
        )
    return True


# Server-side encryption accepted by S3 (x-amz-server-side-encryption).
S3_ENCRYPTION: Final = ("AES256", "aws:kms", "aws:kms:dsse")
_KMS: Final = frozenset({"aws:kms", "aws:kms:dsse"})


@dataclass(frozen=True)
class ArchiveConfig:
    """Everything the archive needs of the settings; ``options`` never printed."""

    location: ArchiveLocation
    options: Mapping[str, str | bool] = field(default_factory=dict, repr=False)
    server_side_encryption: str | None = None
    kms_key_id: str | None = None
    uploads_in_flight: int = 64
    bytes_in_flight: int = 16 * 1024 * 1024
    max_attempts: int = 8
    request_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        """Refuse encryption settings that the store would ignore or refuse."""
        if self.server_side_encryption is None and self.kms_key_id is None:
            return
        if self.location.scheme != S3:
            raise ConfigError(
                "archive_server_side_encryption",
                f"applies to s3:// archives only, not {self.location.scheme}://",
                "remove it: Google Cloud Storage and Azure encrypt every object at rest "
                "(keys are chosen on the bucket or container)",
            )
        if self.kms_key_id is not None and self.server_side_encryption not in _KMS:
            raise ConfigError(
                "archive_kms_key_id",
                "needs archive_server_side_encryption aws:kms or aws:kms:dsse",
                "set archive_server_side_encryption to aws:kms, or remove archive_kms_key_id",
            )
