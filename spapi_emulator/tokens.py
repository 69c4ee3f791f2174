"""Issued access tokens: LWA access tokens and restricted data tokens (RDTs), with expiry."""

from __future__ import annotations

import enum
import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

# Prefixes of the real tokens: LWA access tokens start "Atza|", RDTs "Atz.sprdt|".
ACCESS_TOKEN_PREFIX = "Atza|"  # noqa: S105 - a public prefix
RDT_PREFIX = "Atz.sprdt|"


class TokenKind(enum.Enum):
    """What a token may be used for."""

    ACCESS = "access"  # LWA access token (POST /auth/o2/token)
    RESTRICTED = "restricted"  # RDT (createRestrictedDataToken), bound to paths


class TokenStatus(enum.Enum):
    """Result of looking a presented token up."""

    VALID = "valid"
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # never issued here: revoked, malformed or invalid


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token this emulator issued.

    Attributes:
        value: The token text sent in ``x-amz-access-token``.
        kind: Access token or RDT.
        expires_at: Monotonic clock reading after which the token is expired.
        paths: For RDTs, the restricted paths it was minted for (method GET).
        owner: The selling partner it was issued for (``selling_partner_id``).

    """

    value: str
    kind: TokenKind
    expires_at: float
    paths: frozenset[str] = frozenset()
    owner: str = ""


class TokenStore:
    """Every token ever issued, remembered after expiry so "expired" differs from "invalid".

    Thread-safe: the server thread issues tokens while a test thread reads ``issued()``.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        """Create an empty store.

        Args:
            clock: Monotonic clock in seconds (injectable so tests can expire tokens).

        """
        self._clock = clock
        self._tokens: dict[str, IssuedToken] = {}
        self._lock = threading.Lock()

    def issue_access_token(self, ttl: float, owner: str = "") -> IssuedToken:
        """Mint a random LWA access token.

        Args:
            ttl: Lifetime in seconds.
            owner: The selling partner whose refresh token was exchanged.

        Returns:
            The new token.

        """
        return self._issue(ACCESS_TOKEN_PREFIX, TokenKind.ACCESS, ttl, (), owner)

    def issue_restricted_data_token(
        self, paths: Iterable[str], ttl: float, owner: str = ""
    ) -> IssuedToken:
        """Mint a random RDT valid for exactly these paths.

        Args:
            paths: The restricted paths of the createRestrictedDataToken request.
            ttl: Lifetime in seconds.
            owner: The selling partner of the access token that asked for it.

        Returns:
            The new token.

        """
        return self._issue(RDT_PREFIX, TokenKind.RESTRICTED, ttl, paths, owner)

    def lookup(self, value: str | None) -> tuple[TokenStatus, IssuedToken | None]:
        """Classify a presented token.

        Args:
            value: The ``x-amz-access-token`` header, or None when absent.

        Returns:
            (status, token); the token is None when the status is UNKNOWN.

        """
        with self._lock:
            token = self._tokens.get(value) if value else None
        if token is None:
            return TokenStatus.UNKNOWN, None
        if self._clock() >= token.expires_at:
            return TokenStatus.EXPIRED, token
        return TokenStatus.VALID, token

    def issued(self) -> list[str]:
        """Return every token value ever issued, oldest first."""
        with self._lock:
            return list(self._tokens)

    def owner(self, value: str | None) -> str | None:
        """Return the selling partner a presented token was issued for (None: never issued)."""
        with self._lock:
            token = self._tokens.get(value) if value else None
        return None if token is None else token.owner

    def _issue(
        self, prefix: str, kind: TokenKind, ttl: float, paths: Iterable[str], owner: str
    ) -> IssuedToken:
        token = IssuedToken(
            value=prefix + secrets.token_urlsafe(48),
            kind=kind,
            expires_at=self._clock() + ttl,
            paths=frozenset(paths),
            owner=owner,
        )
        with self._lock:
            self._tokens[token.value] = token
        return token
