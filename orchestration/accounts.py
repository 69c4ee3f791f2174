"""The account list and one account's Meltano run: plain Python, no Dagster import.

The list (``accounts.yml`` by default, ``SPINVOICES_ACCOUNTS_FILE`` to use another) holds
labels and the names of the environment variables that hold each refresh token, never a
secret. One account's run is::

    meltano --environment=<env> run --state-id-suffix=<account_id> <extractor> <loader>

with ``TAP_SPINVOICES_ACCOUNT_ID`` and ``TAP_SPINVOICES_REFRESH_TOKEN`` set for that account
only; every other setting (client id and secret, start_date, the loader's settings) comes
from the environment or the Meltano project, the same for every account. Meltano keeps a
separate STATE per account because the suffix is part of the state id.

Meltano 4 writes a plugin's catalog and incoming ``state.json`` to one folder per plugin
(``.meltano/run/<plugin>/``), which concurrent runs of the same extractor would share: one
account could start from another account's state file. So each account runs with its own
Meltano system folder (``MELTANO_SYS_DIR_ROOT=.meltano/accounts/<account_id>``) whose plugin
folders link to the project's installed plugins, while the system database (its STATE) stays
the project's one (``MELTANO_DATABASE_URI``, default ``.meltano/meltano.db``).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import yaml

REPO: Final = Path(__file__).resolve().parents[1]
ACCOUNTS_FILE_ENV: Final = "SPINVOICES_ACCOUNTS_FILE"
DEFAULT_ACCOUNTS_FILE: Final = REPO / "orchestration" / "accounts.yml"
# Same rule as the tap's account_id setting (tap_spinvoices/account.py): the label also
# names the Meltano state id and the log file.
ACCOUNT_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ENV_NAME_PATTERN: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A line of Meltano's console log: "<time> [<level>   ] <source> <message>".
_MELTANO_LINE: Final = re.compile(r"^\S+ \[(?P<level>\w+)\s*\] (?P<source>\S+)\s+(?P<message>.*)$")
_FAILED_PLUGIN: Final = {"Extractor failed": "extractor", "Loader failed": "loader"}


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


class AccountsFileError(ValueError):
    """The account list cannot be used; the message names the entry and the fix."""


@dataclass(frozen=True)
class Account:
    """One selling partner: its label and the variable holding its refresh token."""

    account_id: str
    refresh_token_env: str


@dataclass(frozen=True)
class Plan:
    """What to run for every account, read from the account list."""

    accounts: tuple[Account, ...]
    max_concurrent: int
    meltano_environment: str | None
    extractor: str
    loader: str
    log_dir: Path


def accounts_file() -> Path:
    """The account list to read: $SPINVOICES_ACCOUNTS_FILE or orchestration/accounts.yml."""
    return Path(os.environ.get(ACCOUNTS_FILE_ENV) or DEFAULT_ACCOUNTS_FILE)


def load_plan(path: Path) -> Plan:
    """Read and check the account list."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise AccountsFileError(f"{path}: cannot be read as YAML ({exc})") from None
    return parse_plan(raw, where=str(path))


def parse_plan(raw: object, *, where: str = "accounts file") -> Plan:
    """Check a parsed account list; every problem names the entry and the fix."""
    if not isinstance(raw, dict) or not isinstance(raw.get("accounts"), list):
        raise AccountsFileError(
            f"{where}: needs an 'accounts:' list (see orchestration/accounts.yml)"
        )
    accounts: list[Account] = []
    for index, entry in enumerate(raw["accounts"]):
        if not isinstance(entry, dict):
            raise AccountsFileError(f"{where}: accounts[{index}] must be a mapping")
        account_id = entry.get("account_id")
        env_name = entry.get("refresh_token_env")
        if not isinstance(account_id, str) or not ACCOUNT_ID_PATTERN.fullmatch(account_id):
            raise AccountsFileError(
                f"{where}: accounts[{index}].account_id {account_id!r} must be 1-64 letters, "
                "digits, '.', '_' or '-' (e.g. the vendor code)"
            )
        if "refresh_token" in entry:
            raise AccountsFileError(
                f"{where}: accounts[{index}] holds a refresh_token: keep secrets out of files; "
                "name the environment variable that holds it in refresh_token_env"
            )
        if not isinstance(env_name, str) or not ENV_NAME_PATTERN.fullmatch(env_name):
            raise AccountsFileError(
                f"{where}: accounts[{index}].refresh_token_env {env_name!r} must name an "
                "environment variable, e.g. SPINVOICES_REFRESH_TOKEN_V1234"
            )
        accounts.append(Account(account_id, env_name))
    ids = [a.account_id for a in accounts]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise AccountsFileError(f"{where}: account_id listed twice: {', '.join(duplicates)}")
    max_concurrent = raw.get("max_concurrent", 4)
    if (
        isinstance(max_concurrent, bool)
        or not isinstance(max_concurrent, int)
        or max_concurrent < 1
    ):
        raise AccountsFileError(f"{where}: max_concurrent must be a whole number >= 1")
    meltano = raw.get("meltano") or {}
    return Plan(
        accounts=tuple(accounts),
        max_concurrent=max_concurrent,
        meltano_environment=meltano.get("environment"),
        extractor=str(meltano.get("extractor", "tap-spinvoices")),
        loader=str(meltano.get("loader", "target-postgres")),
        log_dir=(REPO / str(raw.get("log_dir", "output/accounts"))).resolve(),
    )


def meltano_command(plan: Plan, account: Account, meltano: str) -> list[str]:
    """The ``meltano run`` of one account; its STATE id ends with the account id."""
    command = [meltano]
    if plan.meltano_environment:
        command.append(f"--environment={plan.meltano_environment}")
    return [*command, "run", f"--state-id-suffix={account.account_id}", plan.extractor, plan.loader]


def account_env(account: Account, base: dict[str, str]) -> dict[str, str]:
    """The environment of one account's run: the shared one plus its label and token."""
    token = base.get(account.refresh_token_env)
    if not token:
        raise AccountsFileError(
            f"account {account.account_id}: environment variable {account.refresh_token_env} "
            "(its refresh_token_env) is not set; export it or fix the account list"
        )
    env = dict(base)
    env["TAP_SPINVOICES_ACCOUNT_ID"] = account.account_id
    env["TAP_SPINVOICES_REFRESH_TOKEN"] = token
    project = project_root(base)
    env["MELTANO_SYS_DIR_ROOT"] = str(account_sys_dir(project, account))
    # Every account's STATE in the project's one database, whatever the folder above says.
    env.setdefault("MELTANO_DATABASE_URI", f"sqlite:///{project / '.meltano' / 'meltano.db'}")
    return env


def project_root(env: dict[str, str]) -> Path:
    """The Meltano project: $MELTANO_PROJECT_ROOT or this repository."""
    return Path(env.get("MELTANO_PROJECT_ROOT") or REPO).resolve()


def account_sys_dir(project: Path, account: Account) -> Path:
    """The account's own Meltano system folder (its run/ and logs/)."""
    return project / ".meltano" / "accounts" / account.account_id


def link_installed_plugins(project: Path, account: Account) -> Path:
    """Make the account's system folder, its plugin folders linked to the installed ones."""
    shared = project / ".meltano"
    own = account_sys_dir(project, account)
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
    """How one account's run ended."""

    account_id: str
    returncode: int
    log_file: Path
    error_line: str

    @property
    def ok(self) -> bool:
        """The run exited 0."""
        return self.returncode == 0

    def summary(self) -> str:
        """One line: what failed, why (the tap's own line when it printed one), the log."""
        why = self.error_line or "see the log"
        return (
            f"account {self.account_id}: meltano run failed (exit {self.returncode}): {why} "
            f"[log: {self.log_file}]"
        )


def error_line(log_text: str, plan: Plan) -> str:
    """Why a ``meltano run`` failed, in one line: the failed plugin's last words.

    The tap logs one line naming what to fix, then exits 1 (tap_spinvoices/errors.py);
    Meltano then logs "Extractor failed". Falls back to Meltano's own last error line.
    """
    last_said: dict[str, str] = {}
    failed: str | None = None
    meltano_error = ""
    for line in log_text.splitlines():
        match = _MELTANO_LINE.match(line)
        if match is None:
            continue
        source, message = match["source"], match["message"].strip()
        if source == "meltano":
            role = _FAILED_PLUGIN.get(message)
            if role is not None and failed is None:
                failed = plan.extractor if role == "extractor" else plan.loader
            elif match["level"] == "error" and message != "Block run completed":
                meltano_error = meltano_error or message
        elif not message.startswith("METRIC:"):
            last_said[source] = message
    if failed is not None and failed in last_said:
        return f"{failed}: {last_said[failed]}"
    return meltano_error


def prepare_database(plan: Plan, base_env: dict[str, str] | None = None) -> None:
    """Create or migrate Meltano's system database once, before the accounts run at once.

    Several first runs migrating one new SQLite database together fail ("table job already
    exists"); ``meltano state list`` migrates it and changes nothing else.
    """
    env = dict(os.environ if base_env is None else base_env)
    project = project_root(env)
    env.setdefault("MELTANO_DATABASE_URI", f"sqlite:///{project / '.meltano' / 'meltano.db'}")
    command = [meltano_executable()]
    if plan.meltano_environment:
        command.append(f"--environment={plan.meltano_environment}")
    proc = subprocess.run(  # noqa: S603 - a fixed command
        [*command, "state", "list"],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
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


def run_account(plan: Plan, account: Account, base_env: dict[str, str] | None = None) -> RunResult:
    """Run one account's ``meltano run``; its output goes to <log_dir>/<account_id>.log.

    A run that lost a table-creation race to another account (``lost_create_race``) is run
    once more; any other failure is final.
    """
    env = account_env(account, dict(os.environ if base_env is None else base_env))
    link_installed_plugins(project_root(env), account)
    plan.log_dir.mkdir(parents=True, exist_ok=True)
    log_file = plan.log_dir / f"{account.account_id}.log"
    command = meltano_command(plan, account, meltano_executable())
    log_file.write_text("")
    for attempt in (1, 2):
        with log_file.open("a") as log:
            log.write(f"# {datetime.now(UTC).isoformat()} attempt {attempt}: {' '.join(command)}\n")
            log.flush()
            start = log_file.stat().st_size
            proc = subprocess.run(  # noqa: S603 - a fixed command, the account id is checked
                command,
                cwd=project_root(env),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if proc.returncode == 0:
            return RunResult(account.account_id, 0, log_file, "")
        text = log_file.read_bytes()[start:].decode(errors="replace")
        if attempt == 1 and lost_create_race(text):
            continue
        break
    return RunResult(account.account_id, proc.returncode, log_file, error_line(text, plan))
