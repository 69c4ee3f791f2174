"""The tap with archive_url, as users run it: output and archive agree, on a folder and on S3.

Acceptance of issue 19 for customer_invoices: every invoice is emitted once with an
archive_uri naming an object holding exactly its PDF; a second run over the same range adds,
rewrites and removes nothing; after SIGKILLs at seeded points and resumes, no record of any
run names a missing object (and every object is named by a record). Kills land at a point
of progress (the Nth RECORD line), never after a timer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import signal
import subprocess
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from tap_spinvoices.archive.naming import parse_object_name
from tap_spinvoices.isotime import parse_datetime
from tap_spinvoices.tap import TapSpinvoices
from tests.archive.conftest import ArchiveUnderTest
from tests.archive.seaweed import BUCKET, READER, WRITER, Identity
from tests.conftest import config_for, expected_invoices
from tests.integration.test_crash_resume import TapProcess, bookmark_of
from tests.singer_run import REPO, run_tap, tap_env

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from spapi_emulator import EmulatorServer
    from tests.singer_run import TapRun

STREAM = "customer_invoices"
START, END = "2024-01-01T00:00:00Z", "2024-01-07T00:00:00Z"


def archived_config(
    emu: EmulatorServer, archive: ArchiveUnderTest, **settings: Any
) -> dict[str, Any]:
    builder = config_for(emu).with_range(START, END).with_setting("max_concurrency", 8)
    for name, value in (archive.settings() | settings).items():
        builder = builder.with_setting(name, value)
    return builder.build()


def name_of(archive: ArchiveUnderTest, record: dict[str, Any]) -> str:
    """The object name a record's archive_uri points at (it must be in the archive's scheme)."""
    uri = record["archive_uri"]
    root = archive.uri("").rstrip("/") + "/"
    assert uri.startswith(root), f"{uri} is not under {root}"
    return uri[len(root) :]


def assert_records_name_their_pdfs(
    emu: EmulatorServer, archive: ArchiveUnderTest, records: list[dict[str, Any]]
) -> set[str]:
    """Every record names an object holding exactly its invoice's PDF; the names they use."""
    objects = archive.objects()
    created = {i.purchase_order_number: i.created_at for i in expected_invoices(emu, START, END)}
    names = set()
    for record in records:
        name = name_of(archive, record)
        pdf = base64.b64decode(emu.dataset.content(record["purchaseOrderNumber"]))
        assert objects.get(name) == pdf, f"{record['purchaseOrderNumber']}: {name} is not its PDF"
        assert record["content_sha256"] == parse_object_name(name).sha256_hex
        assert record["content_bytes"] == len(pdf)
        assert parse_object_name(name).day == created[record["purchaseOrderNumber"]].date()
        names.add(name)
    return names


def killed_then_finished(  # noqa: PLR0913 - the run, and where and how often to kill it
    emu: EmulatorServer,
    config: dict[str, Any],
    workdir: Path,
    rng: random.Random,
    *,
    most: int,
    hold_after: Callable[[], int],
    printed: Callable[[TapProcess], int] = lambda tap: tap.records,
    streams: tuple[str, ...] = (STREAM,),
    kills: int = 3,
) -> Iterator[TapRun]:
    """``kills`` runs SIGKILLed at seeded points of progress, then one to the end.

    Each run resumes from the last STATE the runs before printed. A killed run is killed
    once it ``printed`` a seeded number (1 to ``most``) of records, or once the emulator's
    gate holds a request (armed to let ``hold_after()`` more through), so it cannot end
    before its kill on any machine; the last run has the gate open.
    """
    state: dict[str, Any] | None = None
    for number in range(kills + 1):
        kill_after = rng.randint(1, most) if number < kills else None
        if kill_after is None:
            emu.gate.open()
        else:
            emu.gate.hold_after(hold_after())
        with TapProcess(config, state, workdir / f"run-{number}", streams=streams) as tap:
            if kill_after is not None:
                tap.wait_until(lambda t, n=kill_after: printed(t) >= n or emu.gate.held() > 0)
                run = tap.stop(signal.SIGKILL)
            else:
                run = tap.stop()
        emu.gate.open()
        yield run
        if run.states():
            state = run.final_state


def test_output_and_archive_agree_exactly_and_a_second_run_changes_nothing(emulator, any_archive):
    archive = any_archive
    config = archived_config(emulator, archive)
    expected = {i.purchase_order_number for i in expected_invoices(emulator, START, END)}

    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-2000:]
    records = first.records()
    numbers = Counter(r["purchaseOrderNumber"] for r in records)
    assert set(numbers) == expected
    assert set(numbers.values()) == {1}
    names = assert_records_name_their_pdfs(emulator, archive, records)
    assert set(archive.objects()) == names  # nothing stored that no record names
    assert f"archive: {len(expected)} PDFs stored" in first.stderr

    before, versions = archive.objects(), archive.versions()
    second = run_tap(config)

    assert second.returncode == 0, second.stderr[-2000:]
    assert [r["archive_uri"] for r in second.records()] == [r["archive_uri"] for r in records]
    assert archive.objects() == before
    assert archive.versions() == versions  # not one object rewritten
    assert f"archive: 0 PDFs stored (0.0 MB), {len(expected)} already there" in second.stderr


def test_sigkills_at_seeded_points_and_resumes_never_leave_a_record_naming_a_missing_object(
    emulator_factory, archive, tmp_path
):
    emu = emulator_factory()
    config = archived_config(emu, archive, max_concurrency=4)
    expected = {i.purchase_order_number for i in expected_invoices(emu, START, END)}
    rng = random.Random(f"archive-kill-{archive.kind}")  # noqa: S311 - seeded, same kills each run
    named: set[str] = set()
    printed: set[str] = set()
    # The gate holds the request after the next six (LWA, RDT, four windows' pages).
    runs = killed_then_finished(emu, config, tmp_path, rng, most=40, hold_after=lambda: 6)
    for run in runs:
        records = run.records()
        named |= assert_records_name_their_pdfs(emu, archive, records)
        printed |= {r["purchaseOrderNumber"] for r in records}
    assert run.returncode == 0, run.stderr[-2000:]
    assert parse_datetime(bookmark_of(run.final_state)) == parse_datetime(END)
    assert printed == expected
    # Orphans of the killed runs (stored, never printed) were named again by the next run.
    assert set(archive.objects()) == named


def assert_stopped_by_a_file_in_the_way(run: TapRun, root: Path) -> None:
    """The run stopped with one line: a file stands where a folder of the archive belongs."""
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, errors
    assert "Archive error: a path segment is a file, not a folder, storing folder " in errors[0]
    assert f"(archive_url {root}). Fix: fix archive_url" in errors[0]
    assert "Traceback" not in run.stderr


def test_a_permanent_store_error_stops_after_the_state_of_the_completed_windows(emulator, tmp_path):
    # A file where the 4 January folder belongs: every earlier day can be archived, that one
    # cannot (ENOTDIR), so the run must stop there with the STATE of the days before.
    root = tmp_path / "archive"
    (root / "default" / STREAM / "2024" / "01").mkdir(parents=True)
    (root / "default" / STREAM / "2024" / "01" / "04").write_text("in the way")
    config = config_for(emulator).with_range(START, END).with_setting("archive_url", str(root))

    run = run_tap(config.with_setting("max_concurrency", 4).build())

    assert_stopped_by_a_file_in_the_way(run, root)
    # One window a day (four 36-hour windows, cut at midnights): 1-3 January are complete.
    assert parse_datetime(bookmark_of(run.final_state)) == parse_datetime("2024-01-04T00:00:00Z")
    last_state = max(k for k, m in enumerate(run.messages) if m["type"] == "STATE")
    assert all(m["type"] != "RECORD" for m in run.messages[last_state + 1 :])
    for record in run.records():
        assert (root / record["archive_uri"].removeprefix(root.as_uri() + "/")).is_file()


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        pytest.param(
            {"identity": READER},
            "Archive error: access denied: AccessDenied",
            id="read-only-keys",
        ),
        pytest.param(
            {"identity": Identity("spinvoices-writer", "not-the-secret")},
            "Archive error: access denied: SignatureDoesNotMatch",
            id="wrong-secret",
        ),
        pytest.param(
            {"url": "s3://no-such-bucket/x"},
            "Archive error: the bucket or container does not exist: NoSuchBucket",
            id="no-such-bucket",
        ),
    ],
)
def test_the_s3_server_refusing_stops_the_tap_with_one_line_and_no_record(
    emulator, s3_server, settings, line
):
    url = settings.get("url", s3_server.url("refused"))
    archive = ArchiveUnderTest("s3", url, server=s3_server, prefix="refused")
    options = archive.options(settings.get("identity", WRITER))
    config = config_for(emulator).with_range(START, END).with_setting("archive_url", url)
    config = config.with_setting("archive_options", options).build()

    run = run_tap(config)

    assert run.returncode == 1
    errors = [entry for entry in run.stderr.splitlines() if " ERROR " in entry]
    assert len(errors) == 1
    assert line in errors[0]
    assert f"(archive_url {url}). Fix: " in errors[0]
    assert "Traceback" not in run.stderr
    assert run.records() == []
    assert options["secret_access_key"] not in run.stderr


def folder_archive(tmp_path: Path) -> ArchiveUnderTest:
    """An empty archive in a folder of its own."""
    folder = tmp_path / "archive"
    folder.mkdir()
    return ArchiveUnderTest("folder", str(folder), folder=folder)


def discovered_catalog(
    config: dict[str, Any], workdir: Path, streams: tuple[str, ...], *, deselected: tuple[str, ...]
) -> Path:
    """The catalog the tap discovers with ``config`` (so with its archive's defaults), written.

    Only ``streams`` selected, and the ``deselected`` properties deselected in each.
    """
    catalog = TapSpinvoices(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
            elif item["breadcrumb"][-1] in deselected:
                item["metadata"]["selected"] = False
    path = workdir / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def test_with_the_archive_content_is_not_selected_by_default_and_the_references_always_are(
    emulator, tmp_path
):
    archive = folder_archive(tmp_path)
    config = archived_config(emulator, archive)
    # archive_uri is automatic: deselecting it changes nothing.
    catalog = discovered_catalog(config, tmp_path, (STREAM,), deselected=("archive_uri",))

    run = run_tap(config, None, "--catalog", str(catalog), streams=None)

    assert run.returncode == 0, run.stderr[-2000:]
    schema = next(m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == STREAM)
    assert "content" not in schema["schema"]["properties"]
    assert "content" not in schema["schema"]["required"]
    records = run.records()
    assert records
    assert all("content" not in r for r in records)
    assert all({"archive_uri", "content_sha256", "content_bytes"} <= set(r) for r in records)
    assert_records_name_their_pdfs(emulator, archive, records)


def verify(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tap_spinvoices.verify_archive", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
        env=env or tap_env(),
        stdin=subprocess.DEVNULL,
    )


def test_verify_reports_every_object_whose_bytes_changed_and_exits_non_zero(
    emulator, archive, tmp_path
):
    config = archived_config(emulator, archive)
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    count = len(run.records())

    clean = verify("--config", str(config_path))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.splitlines()[-1].startswith(f"Verified {count} objects")
    assert f"{count} match, 0 mismatched, 0 unreadable" in clean.stdout

    tampered = sorted(archive.objects())[5]
    archive.overwrite(tampered, b"%PDF-1.4 forged")
    found = verify("--config", str(config_path), "--stream", STREAM)
    assert found.returncode == 1
    mismatches = [line for line in found.stdout.splitlines() if line.startswith("MISMATCH")]
    forged = hashlib.sha256(b"%PDF-1.4 forged").hexdigest()
    recorded = parse_object_name(tampered).sha256_hex
    expected = f"MISMATCH {archive.uri(tampered)}: its 15 bytes have SHA-256 {forged}, "
    assert mismatches == [f"{expected}its name records {recorded}"]

    day = parse_object_name(tampered).day
    others = "2024-01-06" if day.isoformat() != "2024-01-06" else "2024-01-05"
    elsewhere = verify("--config", str(config_path), "--from", others, "--to", others)
    assert elsewhere.returncode == 0, elsewhere.stdout
    assert "0 mismatched" in elsewhere.stdout


def test_verify_reads_meltano_s_environment_and_the_cloud_s_standard_variables(emulator, s3_server):
    archive = ArchiveUnderTest("s3", s3_server.url("env"), server=s3_server, prefix="env")
    run = run_tap(archived_config(emulator, archive))
    assert run.returncode == 0, run.stderr[-2000:]
    env = tap_env() | s3_server.environment() | {"TAP_SPINVOICES_ARCHIVE_URL": archive.url}

    result = verify(env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Verified {len(run.records())} objects" in result.stdout
    assert f"under s3://{BUCKET}/env:" in result.stdout


def test_verify_without_an_archive_url_is_one_line_and_exit_2():
    result = verify(env={k: v for k, v in tap_env().items() if not k.startswith("AWS_")})

    assert result.returncode == 2
    assert result.stdout.strip() == (
        "Config error in 'archive_url': is not set. Fix: pass --config with the tap's config, "
        "--archive-url, or TAP_SPINVOICES_ARCHIVE_URL"
    )


def test_archive_secrets_never_reach_the_output_at_debug_level(emulator, s3_server):
    # Wrong keys, so the failure path (and its line) is logged too, at DEBUG.
    secret = "archive-s3cr3t-never-printed"  # noqa: S105 - a test value
    archive = ArchiveUnderTest("s3", s3_server.url("secret"), server=s3_server, prefix="secret")
    options = archive.options(Identity(WRITER.access_key_id, secret))
    config = config_for(emulator).with_range(START, "2024-01-02T00:00:00Z")
    config = config.with_setting("archive_url", archive.url).with_setting(
        "archive_options", options
    )

    run = run_tap(config.build(), log_level="DEBUG")

    assert run.returncode == 1
    assert "Archive error: access denied: SignatureDoesNotMatch" in run.stderr
    assert secret not in run.stderr
    assert secret.encode() not in run.raw_stdout
