"""Broken settings, state and catalog: one error line that names the setting and the fix.

Every case ends non-zero within seconds, logs exactly one ERROR line (the last line of
stderr, asserted word for word), prints no traceback, and asks Amazon nothing it does not
need to: a config or state the tap can check itself costs no request at all.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from tap_spinvoices.tap import STREAM_TYPES
from tests.builders import ConfigBuilder, StateBuilder
from tests.conftest import config_for
from tests.integration.test_faults import error_lines
from tests.singer_run import catalog_selecting, parse_messages, tap_command, tap_env

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

DF_PATH = "/vendor/directFulfillment/shipping/2021-12-28/customerInvoices"
STATE_FIX = "Fix: pass the last STATE value the tap printed, or no --state for a full sync"
CATALOG_FIX = "Fix: write a new one with --discover and select streams in it"
REQUEST_ID = re.compile(r"x-amzn-RequestId [0-9a-f-]{36}")
STREAM_NAMES = ", ".join(str(stream.name) for stream in STREAM_TYPES)
NO_REQUEST: frozenset[str] = frozenset()
LWA_ONLY = frozenset({"lwaToken"})


def unchanged(config: ConfigBuilder) -> ConfigBuilder:
    return config


@dataclass(frozen=True)
class BadInput:
    """One broken input and the exact line the tap must answer it with."""

    line: str  # after the log prefix; "x-amzn-RequestId …" stands for Amazon's request id
    config: Callable[[ConfigBuilder], ConfigBuilder] = unchanged
    state: str | None = None  # text of the --state file
    catalog: str | None = None  # text of the --catalog file; None: customer_invoices only
    emulator: dict[str, Any] = field(default_factory=dict)
    operations: frozenset[str] = NO_REQUEST  # what the emulator may be asked


def state_text(builder: StateBuilder) -> str:
    return json.dumps(builder.build())


def catalog_with_keys(keys: list[str]) -> str:
    """The customer_invoices catalog with ``keys`` as its key properties, everywhere."""
    catalog = catalog_selecting(("customer_invoices",))
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == "customer_invoices":
            entry["key_properties"] = keys
            for metadata in entry["metadata"]:
                if metadata["breadcrumb"] == []:
                    metadata["metadata"]["table-key-properties"] = keys
    return json.dumps(catalog)


CASES = {
    "missing-refresh-token": BadInput(
        config=lambda c: c.without("refresh_token"),
        line="Config error in 'refresh_token': missing or empty. "
        "Fix: set refresh_token to your LWA app credential",
    ),
    "empty-client-id": BadInput(
        config=lambda c: c.with_setting("lwa_client_id", ""),
        line="Config error in 'lwa_client_id': missing or empty. "
        "Fix: set lwa_client_id to your LWA app credential",
    ),
    "wrong-client-secret": BadInput(
        config=lambda c: c.with_setting("lwa_client_secret", "rotated-last-week"),
        line="LWA: client authentication failed (invalid_client): check lwa_client_id and "
        "lwa_client_secret (was the client secret rotated?)",
        operations=LWA_ONLY,
    ),
    "revoked-refresh-token": BadInput(
        config=lambda c: c.with_setting("refresh_token", "Atzr|revoked"),
        line="LWA: refresh_token was rejected (invalid_grant): the seller/vendor must "
        "re-authorise the app and you must update refresh_token",
        operations=LWA_ONLY,
    ),
    "start-date-not-a-date": BadInput(
        config=lambda c: c.with_setting("start_date", "last tuesday"),
        line="Config error in 'start_date': 'last tuesday' is not an ISO 8601 date-time. "
        "Fix: write it like 2024-01-01T00:00:00Z (setting start_date)",
    ),
    "end-date-before-start-date": BadInput(
        config=lambda c: c.with_range("2024-01-05T00:00:00Z", "2024-01-01T00:00:00Z"),
        line="Config error in 'end_date': 2024-01-01T00:00:00+00:00 is not after start_date "
        "2024-01-05T00:00:00+00:00. Fix: set end_date later than start_date, or leave it "
        "unset (now minus end_lag_minutes)",
    ),
    "unknown-region": BadInput(
        config=lambda c: c.with_setting("region", "in"),
        line="Config error in 'region': unknown region 'in'. Fix: use one of na, eu, fe",
    ),
    "unknown-df-api-version": BadInput(
        config=lambda c: c.with_version("2020-01-01"),
        line="Config error in 'df_api_version': unknown version '2020-01-01'. "
        "Fix: use 2021-12-28 or v1",
    ),
    "api-url-not-http": BadInput(
        config=lambda c: c.with_setting("api_url", "ftp://127.0.0.1:21"),
        line="Config error in 'api_url': 'ftp://127.0.0.1:21' is not an http(s) URL. "
        "Fix: write it like https://host or http://127.0.0.1:8080",
    ),
    "plain-http-to-a-remote-host": BadInput(
        config=lambda c: c.with_setting("api_url", "http://sellingpartnerapi-eu.amazon.com"),
        line="Config error in 'api_url': plain http is only allowed to a loopback host, not "
        "'sellingpartnerapi-eu.amazon.com'. Fix: use https, or http://127.0.0.1 for the "
        "local emulator",
    ),
    "setting-of-the-wrong-type": BadInput(
        config=lambda c: c.with_setting("sandbox", "yes"),
        line="Config error in 'sandbox': 'yes' is not of type 'boolean', 'null'. "
        "Fix: give sandbox a value of the type --about lists",
    ),
    "state-not-json": BadInput(
        state='{"bookmarks": {"customer_invoices": ',
        line="State error: the --state file is not JSON (Expecting value at line 1 column 37). "
        + STATE_FIX,
    ),
    "state-not-an-object": BadInput(
        state='["2024-01-01T00:00:00Z"]',
        line='State error: the --state file is not a JSON object like {"bookmarks": {...}}. '
        + STATE_FIX,
    ),
    "state-bookmarks-not-an-object": BadInput(
        state='{"bookmarks": []}',
        line='State error: the state must be a JSON object like {"bookmarks": {...}}. ' + STATE_FIX,
    ),
    "state-stream-entry-not-an-object": BadInput(
        state=state_text(StateBuilder().with_raw("customer_invoices", "2024-01-01")),
        line="State error in bookmarks.customer_invoices: expected an object like "
        '{"replication_key_value": ...} or {"partitions": [{...}]}. ' + STATE_FIX,
    ),
    "state-bookmark-not-a-date": BadInput(
        state=state_text(StateBuilder().with_bookmark("yesterday")),
        line="State error in bookmarks.customer_invoices: replication_key_value 'yesterday' "
        "is not an ISO 8601 date-time. Fix: correct it (e.g. 2024-01-01T00:00:00+00:00) or "
        "drop that bookmark",
    ),
    "catalog-naming-an-unknown-stream": BadInput(
        catalog=json.dumps(
            {"streams": [{"tap_stream_id": "customer_invoice", "schema": {}, "metadata": []}]}
        ),
        line=f"Catalog error: stream 'customer_invoice' in --catalog is not a stream of "
        f"tap-spinvoices (it has: {STREAM_NAMES}). {CATALOG_FIX}",
    ),
    "catalog-not-json": BadInput(
        catalog="streams: [customer_invoices]",
        line="Catalog error: the --catalog file is not JSON (Expecting value at line 1 "
        f"column 1). {CATALOG_FIX}",
    ),
    "state-larger-than-8-mb": BadInput(
        state=json.dumps({"bookmarks": {}, "junk": "x" * (8 << 20)}),
        line="State error: the --state file is longer than 8 MB, far more than this tap ever "
        "writes (under 1 MB). " + STATE_FIX,
    ),
    "catalog-with-key-properties-emptied": BadInput(
        catalog=catalog_with_keys([]),
        line="Catalog error: stream 'customer_invoices' has key_properties [] in --catalog, "
        'but its records are keyed by ["purchaseOrderNumber", "account_id"] (in any order): '
        "targets upsert on them and the tap de-duplicates by them. Fix: restore them as "
        "--discover writes them, or write a new catalog with --discover",
    ),
    "catalog-keyed-on-another-field": BadInput(
        catalog=catalog_with_keys(["window_start", "account_id"]),
        line="Catalog error: stream 'customer_invoices' has key_properties "
        '["window_start", "account_id"] in --catalog, but its records are keyed by '
        '["purchaseOrderNumber", "account_id"] (in any order): targets upsert on them and the '
        "tap de-duplicates by them. Fix: restore them as --discover writes them, or write a "
        "new catalog with --discover",
    ),
    "rdt-refused-for-a-missing-role": BadInput(
        emulator={"rdt_denied": True},
        line=f"createRestrictedDataToken refused an RDT for GET {DF_PATH}: HTTP 400 "
        "InvalidInput: Application do not have access to some or all requested resource "
        "(x-amzn-RequestId …). The app needs the Direct-to-Consumer Shipping (Restricted) "
        "role, and the vendor must re-authorise the app after the role was granted "
        "(or set use_rdt to false)",
        operations=frozenset({"lwaToken", "createRestrictedDataToken"}),
    ),
    "restricted-call-without-an-rdt": BadInput(
        config=lambda c: c.with_setting("use_rdt", False),
        line="getCustomerInvoices was denied: HTTP 403 Unauthorized: Access to requested "
        "resource is denied. (x-amzn-RequestId …). The app needs the Direct-to-Consumer "
        "Shipping (Restricted) role and the selling partner must re-authorise the app after "
        "it was granted; or set use_rdt to true: the operation may demand an RDT",
        operations=frozenset({"lwaToken", "getCustomerInvoices"}),
    ),
}


def run_with_files(
    config: dict[str, Any], workdir: Path, *, state: str | None, catalog: str | None
) -> subprocess.CompletedProcess[bytes]:
    """Run the tap with --state/--catalog files holding exactly the given text."""
    catalog_path = workdir / "catalog.json"
    catalog_path.write_text(
        json.dumps(catalog_selecting(("customer_invoices",))) if catalog is None else catalog
    )
    extra = ["--catalog", str(catalog_path)]
    if state is not None:
        state_path = workdir / "state.json"
        state_path.write_text(state)
        extra += ["--state", str(state_path)]
    return subprocess.run(
        tap_command(config, None, workdir, *extra),
        capture_output=True,
        env=tap_env(),
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_broken_input_ends_the_run_with_one_line_naming_the_setting_and_the_fix(
    emulator_factory, tmp_path, case
):
    emu = emulator_factory(**case.emulator)
    config = case.config(config_for(emu)).build()

    proc = run_with_files(config, tmp_path, state=case.state, catalog=case.catalog)

    stderr = proc.stderr.decode()
    assert proc.returncode == 1, stderr
    [line] = error_lines(stderr)
    assert REQUEST_ID.sub("x-amzn-RequestId …", line) == case.line
    assert stderr.rstrip().endswith(line)  # the last thing a user sees
    assert "Traceback" not in stderr
    assert set(emu.stats()["operations"]) == case.operations
    assert [m for m in parse_messages(proc.stdout) if m["type"] == "RECORD"] == []
    # Fails at once, never after a backoff: the tap logs every wait as "...; retry in N s".
    assert "retry in" not in stderr
