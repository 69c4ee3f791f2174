"""One account's Meltano run: plain Python, no Dagster import (docs/many-accounts.md).

One account's run is::

    meltano --environment=<env> run --state-id-suffix=<account_id> <extractor> <loader>

with ``TAP_SPINVOICES_ACCOUNT_ID`` and ``TAP_SPINVOICES_REFRESH_TOKEN`` set for that account
only; every other setting (client id and secret, start_date, the loader's settings) comes
from the environment or the Meltano project, the same for every account. Meltano keeps a
separate STATE per account because the suffix is part of the state id.

Meltano 4 writes a plugin's catalog and incoming ``state.json`` to one folder per plugin
(``.meltano/run/<plugin>/``), which concurrent runs of the same extractor would share: one
account could start from another account's state file. So each account runs with its own
Meltano system folder (``MELTANO_SYS_DIR_ROOT=<work>/.meltano/accounts/<account_id>``) whose
plugin folders link to the project's installed plugins, while the system database (its
STATE) stays one for all (``MELTANO_DATABASE_URI``, default ``.meltano/meltano.db``).
``<work>`` is ``SPINVOICES_WORK_DIR`` (a Celery worker's own folder), else the project.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import yaml

from orchestration.accounts import REPO, Account, AccountsFileError, Plan, account_values

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

WORK_DIR_ENV: Final = "SPINVOICES_WORK_DIR"
# A line of Meltano's console log: "<time> [<level>   ] <source> <message>".
_MELTANO_LINE: Final = re.compile(r"^\S+ \[(?P<level>\w+)\s*\] (?P<source>\S+)\s+(?P<message>.*)$")
_FAILED_PLUGIN: Final = {"Extractor failed": "extractor", "Loader failed": "loader"}
# Meltano appends the exception it parsed from a plugin's last words as key=value pairs.
_EXCEPTION_FIELDS: Final = " plugin_exc_message="
_METRIC: Final = "METRIC: "
_ANSI: Final = re.compile(r"\x1b\[[0-9;]*m")
# A traceback as Meltano and singer-sdk print it: a box drawn from ╭ to ╰.
_BOX_TOP, _BOX_BOTTOM = "╭", "╰"

# Where `meltano install` puts each kind of plugin under .meltano/.
_PLUGIN_FOLDERS: Final = (
    "extractors",
    "loaders",
    "mappers",
    "transformers",
    "utilities",
    "orchestrators",
    "files",
)

# PostgreSQL's answers to a CREATE that lost to a concurrent one (see lost_create_race).
_CREATE_RACE_MARKERS: Final = (
    "DuplicateTable",
    "DuplicateSchema",
    "pg_type_typname_nsp_index",
    "pg_namespace_nspname_index",
)


def meltano_command(
    plan: Plan, account: Account, meltano: str, *, after_lost_attempt: bool = False
) -> list[str]:
    """The ``meltano run`` of one account; its STATE id ends with the account id.

    After a lost attempt (its process or worker died), ``--force``: Meltano still counts
    that attempt's job as running until its heartbeat is 5 minutes old, and would refuse
    ("Another ... pipeline is already running").
    """
    force = ["--force"] if after_lost_attempt else []
    # JSON: every plugin line keeps its fields (a METRIC's stream, which the console format
    # of a structured-logging plugin drops); the account log renders it back (render_line).
    return [
        *_meltano(plan, meltano, "--log-format=json"),
        "run",
        *force,
        f"--state-id-suffix={account.account_id}",
        plan.extractor,
        plan.loader,
    ]


def _meltano(plan: Plan, meltano: str, *options: str) -> list[str]:
    command = [meltano, *options]
    if plan.meltano_environment:
        command.append(f"--environment={plan.meltano_environment}")
    return command


def account_env(plan: Plan, account: Account, base: dict[str, str]) -> dict[str, str]:
    """The environment of one account's run: the shared one plus its label and token."""
    token = base.get(account.refresh_token_env)
    if not token:
        raise AccountsFileError(
            f"account {account.account_id}: environment variable {account.refresh_token_env} "
            "(its refresh_token_env) is not set; export it or fix the account list"
        )
    env = dict(base)
    env.update(account_values(plan, account))
    env["TAP_SPINVOICES_ACCOUNT_ID"] = account.account_id
    env["TAP_SPINVOICES_REFRESH_TOKEN"] = token
    # The record_count metrics give Dagster the rows per stream (record_counts); they go to
    # the account's log, never the console. An explicit WARNING in the environment wins.
    env.setdefault("TAP_SPINVOICES_METRICS_LOG_LEVEL", "INFO")
    env["MELTANO_SYS_DIR_ROOT"] = str(account_sys_dir(work_dir(env), account))
    # Every account's STATE in one database, whatever the folder above says.
    env.setdefault("MELTANO_DATABASE_URI", default_database_uri(env))
    return env


def default_database_uri(env: dict[str, str]) -> str:
    """Meltano's own default system database: SQLite in the project's .meltano/."""
    return f"sqlite:///{project_root(env) / '.meltano' / 'meltano.db'}"


def project_root(env: dict[str, str]) -> Path:
    """The Meltano project: $MELTANO_PROJECT_ROOT or this repository."""
    return Path(env.get("MELTANO_PROJECT_ROOT") or REPO).resolve()


def work_dir(env: dict[str, str]) -> Path:
    """This machine's (or worker's) own working folder: $SPINVOICES_WORK_DIR or the project."""
    return Path(env.get(WORK_DIR_ENV) or project_root(env)).resolve()


def account_sys_dir(work: Path, account: Account) -> Path:
    """The account's own Meltano system folder (its run/ and logs/)."""
    return work / ".meltano" / "accounts" / account.account_id


def account_log_file(plan: Plan, env: dict[str, str], account: Account) -> Path:
    """<work>/<log_dir>/<account_id>.log (an absolute log_dir stays as it is)."""
    return work_dir(env) / plan.log_dir / f"{account.account_id}.log"


def link_installed_plugins(project: Path, work: Path, account: Account) -> Path:
    """Make the account's system folder, its plugin folders linked to the installed ones."""
    shared = project / ".meltano"
    own = account_sys_dir(work, account)
    own.mkdir(parents=True, exist_ok=True)
    for kind in _PLUGIN_FOLDERS:
        target, link = shared / kind, own / kind
        if target.is_dir() and not link.is_symlink():
            link.symlink_to(target, target_is_directory=True)
    return own


def meltano_executable() -> str:
    """$MELTANO_BIN, else the project's .venv-meltano/bin/meltano, else meltano on PATH."""
    own = REPO / ".venv-meltano" / "bin" / "meltano"
    return os.environ.get("MELTANO_BIN") or (str(own) if own.is_file() else "meltano")


@dataclass(frozen=True)
class RunResult:
    """How one account's run ended, and what it loaded."""

    account_id: str
    returncode: int
    log_file: Path
    error_line: str
    # Records the extractor wrote, per stream (its record_count metrics).
    rows: dict[str, int] = field(default_factory=dict)
    # Per stream, the bookmark of the STATE Meltano saved (after a successful run).
    bookmarks: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The run exited 0."""
        return self.returncode == 0

    def summary(self) -> str:
        """One line: what failed, why (the failed plugin's own line), the log."""
        why = self.error_line or "no error line in the log"
        return (
            f"account {self.account_id}: meltano run failed (exit {self.returncode}): {why} "
            f"[log: {self.log_file}]"
        )


@dataclass
class _LogLines:
    """What a Meltano log says, line by line, for error_line."""

    plan: Plan
    last_said: dict[str, str] = field(default_factory=dict)
    last_error: dict[str, str] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    meltano_error: str = ""

    def read(self, log_text: str) -> None:
        for match in filter(None, map(_MELTANO_LINE.match, log_text.splitlines())):
            source, level = match["source"], match["level"]
            message = match["message"].split(_EXCEPTION_FIELDS, 1)[0].strip()
            if source == "meltano":
                role = _FAILED_PLUGIN.get(message)
                if role is not None:
                    self.failed.append(
                        self.plan.extractor if role == "extractor" else self.plan.loader
                    )
                elif level == "error" and message and message != "Block run completed":
                    self.meltano_error = self.meltano_error or message
            elif message and not message.startswith(_METRIC):
                self.last_said[source] = message
                if level == "error":
                    self.last_error[source] = message

    def reason(self) -> str:
        loader = self.plan.loader
        if loader in self.last_error:  # a loader that died explains the extractor's broken pipe
            return f"{loader}: {self.last_error[loader]}"
        for plugin in self.failed:
            if plugin in self.last_said:
                return f"{plugin}: {self.last_said[plugin]}"
        for plugin, message in self.last_error.items():
            return f"{plugin}: {message}"
        return self.meltano_error


def error_line(log_text: str, plan: Plan) -> str:
    """Why a ``meltano run`` failed, in one line: the failing plugin's last words.

    The tap logs one line naming what to fix, then exits 1 (tap_spinvoices/errors.py);
    Meltano then logs "Extractor failed". A loader that cannot start (a missing setting)
    logs its error and exits, and the extractor then fails on the closed pipe: the loader's
    line is the cause. Falls back to Meltano's own first error line.
    """
    lines = _LogLines(plan)
    lines.read(log_text)
    return lines.reason()


def record_counts(log_text: str, plan: Plan) -> dict[str, int]:
    """Records per stream the extractor wrote: the sum of its ``record_count`` metrics.

    singer-sdk logs each counter's increase since its last report, so the sum is the total.
    """
    counts: dict[str, int] = {}
    for match in filter(None, map(_MELTANO_LINE.match, log_text.splitlines())):
        message = match["message"]
        if match["source"] != plan.extractor or not message.startswith(_METRIC):
            continue
        try:
            point = json.loads(message.removeprefix(_METRIC))
        except ValueError:
            continue
        if not isinstance(point, dict) or point.get("metric") != "record_count":
            continue
        stream, value = (point.get("tags") or {}).get("stream"), point.get("value")
        if isinstance(stream, str) and isinstance(value, int):
            counts[stream] = counts.get(stream, 0) + value
    return dict(sorted(counts.items()))


def bookmarks(singer_state: object) -> dict[str, str]:
    """Per stream, the instant its STATE says everything before is written.

    A stream with partitions is complete only up to its least advanced partition.
    """
    found: dict[str, str] = {}
    streams = singer_state.get("bookmarks") if isinstance(singer_state, dict) else None
    for stream, value in (streams or {}).items():
        if not isinstance(value, dict):
            continue
        marks = [value, *(p for p in value.get("partitions", []) if isinstance(p, dict))]
        reached = [str(m["replication_key_value"]) for m in marks if "replication_key_value" in m]
        if reached:
            found[stream] = min(reached)
    return dict(sorted(found.items()))


def state_id(plan: Plan, account: Account, project: Path) -> str:
    """Meltano's state id of the account: <environment>:<extractor>-to-<loader>:<account_id>."""
    environment = plan.meltano_environment or _default_environment(project)
    return f"{environment}:{plan.extractor}-to-{plan.loader}:{account.account_id}"


def _default_environment(project: Path) -> str:
    try:
        raw = yaml.safe_load((project / "meltano.yml").read_text())
    except (OSError, yaml.YAMLError):
        raw = None
    name = raw.get("default_environment") if isinstance(raw, dict) else None
    return str(name) if name else ""


def saved_state(plan: Plan, account: Account, env: dict[str, str]) -> dict[str, Any]:
    """The STATE Meltano saved for the account (``meltano state get``); {} if it has none."""
    project = project_root(env)
    command = [*_meltano(plan, meltano_executable()), "state", "get"]
    proc = subprocess.run(  # noqa: S603 - a fixed command, the account id is checked
        [*command, state_id(plan, account, project)],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    try:
        state = json.loads(lines[-1]) if proc.returncode == 0 and lines else {}
    except ValueError:
        state = {}
    singer_state = state.get("singer_state") if isinstance(state, dict) else None
    return singer_state if isinstance(singer_state, dict) else {}


def prepare_database(plan: Plan, base_env: dict[str, str] | None = None) -> None:
    """Create or migrate Meltano's system database once, before the accounts run at once.

    Several first runs migrating one new SQLite database together fail ("table job already
    exists"); ``meltano state list`` migrates it and changes nothing else.
    """
    env = dict(os.environ if base_env is None else base_env)
    env.setdefault("MELTANO_DATABASE_URI", default_database_uri(env))
    # Meltano's own folder for this command, in this machine's working folder too.
    env["MELTANO_SYS_DIR_ROOT"] = str(work_dir(env) / ".meltano" / "system")
    proc = subprocess.run(  # noqa: S603 - a fixed command
        [*_meltano(plan, meltano_executable()), "state", "list"],
        cwd=project_root(env),
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        lines = _LogLines(plan)
        lines.read(proc.stderr)
        last = lines.meltano_error or (proc.stderr.strip().splitlines() or ["no output"])[-1]
        msg = f"meltano state list failed (exit {proc.returncode}): {last}"
        raise RuntimeError(msg)


def lost_create_race(log_text: str) -> bool:
    """Whether the loader failed creating a table (or schema) another run created meanwhile.

    MeltanoLabs target-postgres checks that a table is missing, then creates it; two accounts
    loading into new tables at the same moment both see it missing and one gets PostgreSQL's
    "already exists" (DuplicateTable, or a unique violation on the catalog's type or schema
    index). Nothing of the account was committed and its STATE is untouched, so running it
    again is safe, and the tables then exist.
    """
    return any(marker in log_text for marker in _CREATE_RACE_MARKERS)


def _message(line: str) -> str:
    """The message part of a console log line (all of it for any other line), ANSI removed."""
    bare = _ANSI.sub("", line)
    match = _MELTANO_LINE.match(bare)
    return (match["message"] if match else bare).lstrip()


def fold_tracebacks(lines: Iterable[str]) -> Iterator[str]:
    """The lines, each traceback box (as Meltano and singer-sdk draw them) folded into one.

    An expected failure (a missing loader setting; Meltano's BrokenPipeError once the loader
    has exited, meltano/meltano#7047) has its cause in a plain line nearby, which stays; the
    exception's own last line after the box stays too.
    """
    folded = 0
    for line in lines:
        message = _message(line)
        if folded:
            folded += 1
            if message.startswith(_BOX_BOTTOM):
                yield _folded(folded)
                folded = 0
        elif message.startswith(_BOX_TOP):
            folded = 1
        else:
            yield line


def _folded(count: int) -> str:
    return (
        f"(a traceback of {count} lines, folded: the cause is the error line near it; run the "
        "command at the top of this log by hand to see it whole)\n"
    )


def render_line(line: str) -> list[str]:
    """One line of Meltano's JSON log as its console shows it: <time> [<level>] <source> <text>.

    A METRIC keeps singer-sdk's own ``METRIC: {...}`` form, with its tags; an event's
    traceback (Meltano's own ``exception``) is folded to its last line. Lines that are not
    Meltano's JSON pass as they are.
    """
    try:
        event = json.loads(line)
    except ValueError:
        return [line]
    if not isinstance(event, dict) or "event" not in event:
        return [line]
    source = str(event.get("string_id") or "meltano")
    message = str(event["event"])
    metric = event.get("metric_info")
    if isinstance(metric, dict):
        message = _METRIC + json.dumps(metric, sort_keys=True)
    level = str(event.get("level", "info"))
    rendered = [f"{event.get('timestamp', '')} [{level:<9}] {source:<14} {message}\n"]
    exception = event.get("exception")
    if exception:
        size, last = _traceback_summary(exception)
        rendered += [_folded(size), f"{last}\n"]
    return rendered


def _traceback_summary(exception: object) -> tuple[int, str]:
    """How long a traceback is, and its last line (``Type: message``).

    Meltano's JSON log holds it as structlog's list of exceptions, each with its frames, or
    as text.
    """
    if isinstance(exception, list) and exception and isinstance(exception[-1], dict):
        frames = sum(len(e.get("frames") or []) for e in exception if isinstance(e, dict))
        last = exception[-1]
        return frames, f"{last.get('exc_type', '')}: {last.get('exc_value', '')}".rstrip(": ")
    lines = [row.strip() for row in str(exception).splitlines() if row.strip()]
    return len(lines), lines[-1] if lines else ""


def _write_run(command: list[str], env: dict[str, str], log: IO[str]) -> int:
    """Run ``command``, its output (tracebacks folded) appended to ``log``; its exit code."""
    with subprocess.Popen(  # noqa: S603 - a fixed command, the account id is checked
        command,
        cwd=project_root(env),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as proc:
        assert proc.stdout is not None  # noqa: S101 - stdout=PIPE above
        rendered = (text for line in proc.stdout for text in render_line(line))
        log.writelines(fold_tracebacks(rendered))
    return proc.returncode


def run_account(
    plan: Plan,
    account: Account,
    base_env: dict[str, str] | None = None,
    *,
    after_lost_attempt: bool = False,
) -> RunResult:
    """Run one account's ``meltano run``; its output goes to <work>/<log_dir>/<account_id>.log.

    A run that lost a table-creation race to another account (``lost_create_race``) is run
    once more; any other failure is final. After a successful run, the result carries the
    records per stream and the bookmarks of the STATE Meltano saved. ``after_lost_attempt``:
    the orchestrator found the account's previous attempt dead (see ``meltano_command``).
    """
    env = account_env(plan, account, dict(os.environ if base_env is None else base_env))
    link_installed_plugins(project_root(env), work_dir(env), account)
    log_file = account_log_file(plan, env, account)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    command = meltano_command(
        plan, account, meltano_executable(), after_lost_attempt=after_lost_attempt
    )
    log_file.write_text("")
    for attempt in (1, 2):
        with log_file.open("a") as log:
            log.write(f"# {datetime.now(UTC).isoformat()} attempt {attempt}: {' '.join(command)}\n")
            log.flush()
            start = log_file.stat().st_size
            returncode = _write_run(command, env, log)
        text = log_file.read_bytes()[start:].decode(errors="replace")
        if returncode == 0:
            state = saved_state(plan, account, env)
            rows = record_counts(text, plan)
            return RunResult(account.account_id, 0, log_file, "", rows, bookmarks(state))
        if attempt == 1 and lost_create_race(text):
            continue
        break
    return RunResult(account.account_id, returncode, log_file, error_line(text, plan))
