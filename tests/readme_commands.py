"""The shell commands a Markdown file shows, as the README check runs them (pure, no I/O).

A command is a logical line of a fenced block tagged ``bash`` or ``sh`` (lines ending in a
backslash continue it; blank and comment-only lines are not commands). Its trailing comment
may carry a marker the reader sees too:

- ``# needs Amazon``: it cannot run offline (real credentials, Amazon's hosts); not run.
- ``# CI runs this``: CI runs it itself (.ci/run, or a step of it); not run again.

Everything else runs, in document order, in one shell, as a reader following the README from
top to bottom would type it (tests/e2e/test_readme.py).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

SHELL_FENCES: Final = frozenset({"bash", "sh", "shell"})
_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")


class Marker(enum.Enum):
    """What a command's trailing comment says about running it here."""

    RUN = "run"
    NEEDS_AMAZON = "needs Amazon"
    CI_RUNS_THIS = "CI runs this"


@dataclass(frozen=True)
class Command:
    """One logical command line of the document."""

    line: int  # 1-based line number of its first physical line
    text: str  # as written, continuation lines included, trailing comment kept
    marker: Marker

    @property
    def code(self) -> str:
        """The command without its trailing comment (for comparisons and messages)."""
        return "\n".join(strip_comment(line) for line in self.text.splitlines()).strip()


def commands(markdown: str) -> list[Command]:
    """Every command of every shell block, in document order."""
    found: list[Command] = []
    fence: str | None = None
    is_shell = False
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(markdown.splitlines(), start=1):
        opened = _FENCE.match(raw)
        if fence is None:
            if opened:
                fence, is_shell = opened.group(2), opened.group(3).lower() in SHELL_FENCES
            continue
        if raw.strip().startswith(fence) and raw.strip() == raw.strip()[0] * len(raw.strip()):
            fence, pending = None, []
            continue
        if not is_shell:
            continue
        if not pending:
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            start = number
        pending.append(raw)
        if raw.endswith("\\"):
            continue
        text = "\n".join(pending)
        found.append(Command(start, text, marker_of(text)))
        pending = []
    return found


def marker_of(text: str) -> Marker:
    """The marker in a command's trailing comments (any of its physical lines)."""
    comments = " ".join(comment_of(line) for line in text.splitlines())
    for marker in (Marker.NEEDS_AMAZON, Marker.CI_RUNS_THIS):
        if marker.value in comments:
            return marker
    return Marker.RUN


def comment_of(line: str) -> str:
    """The trailing ``# ...`` comment of one physical line ('' if none)."""
    return line[len(strip_comment(line)) :]


def strip_comment(line: str) -> str:
    """The line up to an unquoted ``#`` that starts a word (shell comment rules, simplified)."""
    quote: str | None = None
    previous = " "
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and previous.isspace():
            return line[:index].rstrip()
        previous = char
    return line
