"""meltano.yml agrees with the tap, and `meltano run tap-spinvoices target-jsonl` lands the data."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from singer_sdk.helpers.capabilities import BATCH_CONFIG, FLATTENING_CONFIG, STREAM_MAPS_CONFIG

from scripts.meltano_settings import about as tap_about
from scripts.meltano_settings import meltano_kind
from tap_spinvoices.isotime import parse_datetime
from tests.conftest import expected_invoices
from tests.e2e.meltano_project import REPO, Meltano, tail
from tests.e2e.streams import duplicate_keys, primary_keys
from tests.state_checks import find_key

if TYPE_CHECKING:
    from pathlib import Path

# Settings singer-sdk adds to every tap that offers the capability (not declared by the tap).
BUILTIN_SETTINGS = {
    "stream-maps": set(STREAM_MAPS_CONFIG["properties"]),
    "schema-flattening": set(FLATTENING_CONFIG["properties"]),
    "batch": set(BATCH_CONFIG["properties"]),
}
STATE_ID = "emulator:tap-spinvoices-to-target-jsonl"


def meltano_yml() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "meltano.yml").read_text())
    return data


def extractor() -> dict[str, Any]:
    (plugin,) = [p for p in meltano_yml()["plugins"]["extractors"] if p["name"] == "tap-spinvoices"]
    result: dict[str, Any] = plugin
    return result


def environment_config(name: str) -> dict[str, Any]:
    (env,) = [e for e in meltano_yml()["environments"] if e["name"] == name]
    (plugin,) = [p for p in env["config"]["plugins"]["extractors"] if p["name"] == "tap-spinvoices"]
    config: dict[str, Any] = plugin["config"]
    return config


@pytest.fixture(scope="module")
def about() -> dict[str, Any]:
    """What `tap-spinvoices --about --format json` prints (as Meltano users see it)."""
    return tap_about()


def test_declared_capabilities_are_offered_by_the_tap(about):
    declared = set(extractor()["capabilities"])
    assert declared <= set(about["capabilities"])
    assert {"about", "discover", "catalog", "state", "stream-maps"} <= declared


def test_settings_mirror_the_tap_config_schema_one_to_one(about):
    plugin = extractor()
    props = about["settings"]["properties"]
    builtin = set().union(*BUILTIN_SETTINGS.values())
    own = [name for name in props if name not in builtin]
    offered = {
        name
        for capability, names in BUILTIN_SETTINGS.items()
        if capability in plugin["capabilities"]
        for name in names
    }
    settings = {s["name"]: s for s in plugin["settings"]}

    # Same names, and ours in the order settings_declaration.py declares them.
    assert [s["name"] for s in plugin["settings"] if s["name"] not in builtin] == own
    assert set(settings) == set(own) | offered
    for name, setting in settings.items():
        prop = props[name]
        where = f"meltano.yml setting {name}"
        assert setting.get("kind") == meltano_kind(prop), where
        if name in builtin:
            # singer-sdk's own words change between releases (0.54 and 0.55 are supported):
            # scripts/meltano_settings.py --check compares them under the recorded version.
            continue
        assert bool(setting.get("sensitive")) == bool(prop.get("secret")), where
        assert setting.get("description") == prop.get("description"), where
        assert setting.get("label") == prop.get("title"), where
        assert setting.get("value") == prop.get("default"), where
        if "enum" in prop:
            assert [o["value"] for o in setting["options"]] == prop["enum"], where
    required = set(about["settings"].get("required", []))
    assert set(plugin["settings_group_validation"][0]) == required


def test_generated_settings_block_is_up_to_date():
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts/meltano_settings.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr + "Fix: .venv/bin/python scripts/meltano_settings.py"


def test_emulator_environment_uses_only_the_emulator_public_fake_credentials():
    config = environment_config("emulator")
    assert config["lwa_client_id"] == "emulator-client-id"
    assert config["lwa_client_secret"] == "emulator-client-secret"  # noqa: S105
    assert config["refresh_token"] == "Atzr|emulator-refresh-token"  # noqa: S105
    assert config["api_url"].startswith("http://127.0.0.1:")
    assert config["lwa_token_url"] == config["api_url"] + "/auth/o2/token"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_meltano_run_into_target_jsonl_lands_exactly_the_emulator_dataset(
    meltano: Meltano, e2e_emulator, tmp_path
):
    emulator = e2e_emulator
    out = tmp_path / "out"
    env = {
        # Only the URL changes from the emulator environment: the port is this test's own.
        "TAP_SPINVOICES_API_URL": emulator.url,
        "TAP_SPINVOICES_LWA_TOKEN_URL": f"{emulator.url}/auth/o2/token",
        "TARGET_JSONL_DESTINATION_PATH": str(out),
    }
    config = environment_config("emulator")
    start, end = config["start_date"], config["end_date"]

    proc = meltano.run("--environment=emulator", "run", "tap-spinvoices", "target-jsonl", env=env)

    assert proc.returncode == 0, tail(proc.stderr)
    # Every stream landed rows, one per primary key.
    for stream, keys in primary_keys().items():
        path = out / f"{stream}.jsonl"
        assert path.is_file(), f"no {path.name}: {sorted(p.name for p in out.iterdir())}"
        landed = read_jsonl(path)
        assert landed, f"{stream}: no rows"
        assert duplicate_keys(landed, keys) == [], stream
    # customer_invoices: exactly the emulator's invoices, content included.
    rows = read_jsonl(out / "customer_invoices.jsonl")
    expected = expected_invoices(emulator, start, end)
    assert len(expected) > 1000
    assert sorted(r["purchaseOrderNumber"] for r in rows) == sorted(
        i.purchase_order_number for i in expected
    )
    assert all(r["content"] == emulator.dataset.content(r["purchaseOrderNumber"]) for r in rows)

    # Meltano kept the tap's final STATE: bookmark at end_date, no progress markers anywhere.
    state_proc = meltano.run("--environment=emulator", "state", "get", STATE_ID, env=env)
    assert state_proc.returncode == 0, tail(state_proc.stderr)
    state = json.loads(state_proc.stdout.strip().splitlines()[-1])["singer_state"]
    assert not find_key(state, "progress_markers"), state
    bookmark = state["bookmarks"]["customer_invoices"]["replication_key_value"]
    assert parse_datetime(bookmark) == parse_datetime(end)

    # A second run starts from that state: only the lookback hour of customer invoices is
    # read again (and, JSONL being append-only, appended again).
    again = meltano.run("--environment=emulator", "run", "tap-spinvoices", "target-jsonl", env=env)

    assert again.returncode == 0, tail(again.stderr)
    appended = read_jsonl(out / "customer_invoices.jsonl")[len(rows) :]
    lookback_start = (parse_datetime(end) - timedelta(minutes=60)).isoformat()
    reread = expected_invoices(emulator, lookback_start, end)
    assert 0 < len(reread) < len(expected)
    assert sorted(r["purchaseOrderNumber"] for r in appended) == sorted(
        i.purchase_order_number for i in reread
    )


def test_meltano_select_stream_maps_and_flattening_reach_the_tap(
    meltano: Meltano, e2e_emulator, tmp_path
):
    out = tmp_path / "out"
    env = {
        "TAP_SPINVOICES_API_URL": e2e_emulator.url,
        "TAP_SPINVOICES_LWA_TOKEN_URL": f"{e2e_emulator.url}/auth/o2/token",
        "TAP_SPINVOICES_END_DATE": "2024-01-04T00:00:00Z",
        "TARGET_JSONL_DESTINATION_PATH": str(out),
        # catalog: only customer_invoices, all but content_sha256.
        "TAP_SPINVOICES__SELECT": json.dumps(
            ["customer_invoices.*", "!customer_invoices.content_sha256"]
        ),
        # stream-maps: docs/streams.md's example, dropping the PDF, plus a computed property.
        "TAP_SPINVOICES_STREAM_MAPS": json.dumps(
            {
                "customer_invoices": {
                    "content": "__NULL__",
                    "po_lower": "purchaseOrderNumber.lower()",
                }
            }
        ),
        # schema-flattening: accepted and applied (a no-op: no stream has nested objects).
        "TAP_SPINVOICES_FLATTENING_ENABLED": "true",
        "TAP_SPINVOICES_FLATTENING_MAX_DEPTH": "1",
    }

    proc = meltano.run("--environment=emulator", "run", "tap-spinvoices", "target-jsonl", env=env)

    assert proc.returncode == 0, tail(proc.stderr)
    assert sorted(p.name for p in out.iterdir()) == ["customer_invoices.jsonl"]
    rows = read_jsonl(out / "customer_invoices.jsonl")
    expected = expected_invoices(e2e_emulator, "2024-01-01T00:00:00Z", "2024-01-04T00:00:00Z")
    assert sorted(r["purchaseOrderNumber"] for r in rows) == sorted(
        i.purchase_order_number for i in expected
    )
    assert all("content" not in r and "content_sha256" not in r for r in rows)
    assert all(r["po_lower"] == r["purchaseOrderNumber"].lower() for r in rows)
    assert {"content_bytes", "window_start", "api_version"} <= set(rows[0])


def test_sample_config_holds_known_settings_and_only_the_emulator_fake_credentials(about):
    sample = json.loads((REPO / "sample_config.json").read_text())
    assert set(sample) <= set(about["settings"]["properties"])
    assert set(about["settings"]["required"]) <= set(sample)
    # Placeholders: the emulator's public fake credentials, never a real secret.
    assert sample["lwa_client_id"] == "emulator-client-id"
    assert sample["lwa_client_secret"] == "emulator-client-secret"  # noqa: S105
    assert sample["refresh_token"] == "Atzr|emulator-refresh-token"  # noqa: S105
    assert sample["api_url"] == "http://127.0.0.1:8080"  # `python -m spapi_emulator` default port
    assert sample["lwa_token_url"] == sample["api_url"] + "/auth/o2/token"
