"""Reading answer bodies: the JSON object of a success, the first entry of an error body.

Pure (no I/O). Both the SP-API client and the Login with Amazon provider read their bodies here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "MAX_TEXT",
    "ErrorDetail",
    "json_object",
    "json_type",
    "parse_error_body",
]

MAX_TEXT = 300  # characters of Amazon's text kept in a message


def json_object(body: bytes) -> dict[str, Any] | None:
    """Decode ``body``; None unless it is a JSON object (HTML error pages, garbage, lists)."""
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return decoded if isinstance(decoded, dict) else None


def json_type(value: object) -> str:
    """What a decoded JSON value is, in the words of JSON: "a list", "an object", "null"..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """The first entry of an SP-API error body ``{"errors":[{"code","message","details"}]}``."""

    code: str
    message: str
    details: str = ""

    @property
    def text(self) -> str:
        """Code, message and details in one string, for classification."""
        return f"{self.code} {self.message} {self.details}"

    @property
    def description(self) -> str:
        """Message and details for a human."""
        return f"{self.message} ({self.details})" if self.details else self.message


def parse_error_body(body: bytes) -> ErrorDetail:
    """Read Amazon's error body; tolerate other shapes (gateway JSON, HTML, nothing)."""
    decoded = json_object(body)
    if decoded is not None:
        errors = decoded.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return ErrorDetail(
                code=_text(first.get("code")),
                message=_text(first.get("message")),
                details=_text(first.get("details")),
            )
        # API Gateway answers like {"message": "Forbidden"}
        return ErrorDetail(code="", message=_text(decoded.get("message", decoded.get("Message"))))
    snippet = " ".join(body.decode("utf-8", errors="replace").split())
    return ErrorDetail(code="", message=snippet[:MAX_TEXT] or "(no error body)")


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()
