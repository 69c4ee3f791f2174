"""Contracts with singer-sdk: each test names the SDK change that would break the tap.

Every private SDK name the tap uses is in tap_spinvoices/sdk_compat.py; these tests check,
against the installed singer-sdk, that each still exists and means what the tap assumes.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import logging
import pkgutil
import signal
import sys
import textwrap
from pathlib import Path
from types import FunctionType
from typing import Any, ClassVar

import orjson
import pytest
from singer_sdk import Stream, Tap
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.plugin_base import PluginBase

import tap_spinvoices
from tap_spinvoices import sdk_compat
from tap_spinvoices.errors import ConfigError
from tap_spinvoices.logs import SDK_FAILURE_LINE, START_UP_DETAILS, drop_expected_failure_line
from tap_spinvoices.tap import TapSpinvoices
from tests.builders import ConfigBuilder

STREAM = "customer_invoices"


def new_tap(**kwargs: Any) -> TapSpinvoices:
    return TapSpinvoices(config=ConfigBuilder().build(), validate_config=False, **kwargs)


@pytest.fixture
def restore_signal_handlers():
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def names_used(function: Any) -> set[str]:
    """Every ``self.<name>`` a function uses and every name it calls."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "self":
                used.add(node.attr)
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                used.add(node.func.id)
            elif isinstance(node.func, ast.Attribute):
                used.add(node.func.attr)
    return used


@pytest.mark.parametrize("method", sorted(sdk_compat.SDK_PER_RECORD_PATH))
def test_the_sdk_per_record_path_has_no_step_the_page_writer_has_not_checked(method):
    function = getattr(Stream, method, None)
    assert function is not None, (
        f"singer-sdk no longer has Stream.{method}: its per-record path changed; review "
        "output/page_writer.py (_needs_sdk_path) against the new one, then update "
        "SDK_PER_RECORD_PATH in sdk_compat.py"
    )
    new = names_used(function) - sdk_compat.SDK_PER_RECORD_PATH[method]
    assert not new, (
        f"singer-sdk's Stream.{method} now also uses {sorted(new)}: a per-record step the "
        "page fast path may skip. Check whether it can change a RECORD; if so make "
        "output/page_writer.py (_needs_sdk_path) fall back to the SDK, then list the names "
        "in SDK_PER_RECORD_PATH (sdk_compat.py)"
    )


def test_the_per_record_names_reader_sees_a_new_step():
    class Stepped:
        def _write_record_message(self, record):
            self.new_step(record)
            self.state_manager.is_flushed = False

    assert names_used(Stepped._write_record_message) == {"new_step", "state_manager"}


def test_settings_checks_run_when_the_sdk_validates_the_config():
    assert "raise_errors" in inspect.signature(Tap._validate_config).parameters, (
        "singer-sdk no longer has PluginBase._validate_config(raise_errors=...): "
        "ConfigCheckedTap (sdk_compat.py) would never run the tap's own settings checks"
    )
    config = ConfigBuilder().with_setting("max_concurrency", 0).build()
    with pytest.raises(ConfigError, match="max_concurrency"):
        TapSpinvoices(config=config, validate_config=True)


def test_a_schema_problem_is_one_config_error_naming_the_setting():
    # A setting of the SDK's own, which only its JSON schema check looks at.
    config = ConfigBuilder().with_setting("flattening_max_depth", "x").build()
    with pytest.raises(ConfigError, match=r"in 'flattening_max_depth': 'x' is not of type"):
        TapSpinvoices(config=config, validate_config=True)


def test_the_stream_version_is_where_the_sdk_keeps_it():
    stream = new_tap().streams[STREAM]
    assert hasattr(stream, "_stream_version"), (
        "singer-sdk no longer has Stream._stream_version: find what _generate_record_messages "
        "writes as a RECORD's version and read that in sdk_compat.stream_version"
    )
    stream._stream_version = 1234
    assert sdk_compat.stream_version(stream) == 1234


def test_the_state_flushed_flag_decides_whether_the_sdk_writes_state(monkeypatch):
    stream = new_tap().streams[STREAM]
    assert hasattr(stream.state_manager, "is_flushed"), (
        "singer-sdk no longer has StreamStateManager.is_flushed: sdk_compat's "
        "mark_records_written/mark_state_written no longer tell the SDK when to write STATE"
    )
    out = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out))
    stream.get_context_state(None)["replication_key_value"] = "2024-01-02T00:00:00+00:00"

    sdk_compat.mark_state_written(stream)
    stream._write_state_message()
    sys.stdout.flush()
    assert out.getvalue() == b"", "singer-sdk writes STATE although is_flushed is True"

    sdk_compat.mark_records_written(stream)
    stream._write_state_message()
    sys.stdout.flush()
    (line,) = out.getvalue().splitlines()
    assert orjson.loads(line)["type"] == "STATE", (
        "singer-sdk no longer writes STATE at _write_state_message when is_flushed is False"
    )


def test_the_filter_for_the_sdk_failure_line_is_on_the_stream_logger():
    stream = new_tap().streams[STREAM]
    logger = sdk_compat.stream_logger(stream)
    assert isinstance(logger, logging.Logger)
    assert drop_expected_failure_line in logger.filters
    assert SDK_FAILURE_LINE in inspect.getsource(Stream.sync), (
        "singer-sdk changed its 'An unhandled error occurred while syncing' line: "
        "logs.drop_expected_failure_line no longer drops it for the tap's own errors"
    )


def test_the_sdk_still_writes_the_start_up_details_logs_demotes():
    sources = inspect.getsource(PluginBase) + inspect.getsource(Tap)
    for prefix in START_UP_DETAILS:
        assert f'"{prefix}' in sources, (
            f"singer-sdk no longer logs {prefix!r}...: drop it from logs.START_UP_DETAILS"
        )


@pytest.mark.usefixtures("restore_signal_handlers")
def test_the_sdk_sets_the_metrics_level_before_the_setting_applies_it():
    # metrics_log_level is applied after super().__init__, where the SDK sets that
    # logger's level from <TAP>_LOGLEVEL: the setting must come second to win.
    assert "metrics_logger.setLevel" in inspect.getsource(PluginBase.__init__)
    metrics = logging.getLogger("singer_sdk.metrics")
    saved = metrics.level
    try:
        TapSpinvoices(config=ConfigBuilder().with_setting("metrics_log_level", "WARNING").build())
        assert metrics.level == logging.WARNING
    finally:
        metrics.setLevel(saved)


@pytest.mark.usefixtures("restore_signal_handlers")
def test_sigterm_and_sigint_reach_the_tap_handler_not_the_sdk_one():
    tap = new_tap()
    for signum in (signal.SIGTERM, signal.SIGINT):
        assert signal.getsignal(signum) == tap.on_termination_signal, (
            f"{signal.Signals(signum).name} is not handled by TapSpinvoices: singer-sdk now "
            "installs its signal handlers after Tap.__init__; the tap would exit 0 "
            "without its last STATE"
        )


def _tap_classes() -> list[type]:
    """Every Tap or Stream subclass defined in tap_spinvoices."""
    found: list[type] = []
    for info in pkgutil.walk_packages(tap_spinvoices.__path__, "tap_spinvoices."):
        if info.name.endswith("__main__"):  # runs the CLI when imported
            continue
        module = importlib.import_module(info.name)
        found.extend(
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and value.__module__ == info.name
            and issubclass(value, Tap | Stream)
        )
    return found


_METHOD_TYPES = (FunctionType, property, classmethod, staticmethod)


def private_sdk_overrides(classes: list[type]) -> list[str]:
    """``module.Class.name`` of each method that overrides a private Tap or Stream name."""
    found = []
    for cls in classes:
        sdk_base = Tap if issubclass(cls, Tap) else Stream
        found += [
            f"{cls.__module__}.{cls.__name__}.{name}"
            for name, value in vars(cls).items()
            if name.startswith("_")
            and not name.startswith("__")
            and isinstance(value, _METHOD_TYPES)
            and hasattr(sdk_base, name)
        ]
    return found


def test_no_class_outside_sdk_compat_overrides_a_private_sdk_method():
    classes = [c for c in _tap_classes() if c.__module__ != sdk_compat.__name__]
    overrides = private_sdk_overrides(classes)
    assert not overrides, (
        f"{overrides} override private singer-sdk names (0.55 added Tap._terminate, which a "
        "method of ours once shadowed): rename ours, or move the override to sdk_compat.py "
        "with a contract test here"
    )


def test_the_private_override_check_finds_one():
    class Shadowing(TapSpinvoices):
        def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
            del raise_errors
            return []

    assert private_sdk_overrides([Shadowing]) == [f"{__name__}.Shadowing._validate_config"]
    assert private_sdk_overrides([sdk_compat.ConfigCheckedTap]) == [
        "tap_spinvoices.sdk_compat.ConfigCheckedTap._validate_config"
    ]


class _BareStream(Stream):
    name = "bare"
    schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}

    def get_records(self, context):
        del context
        return []


class _BareTap(Tap):
    name = "bare-tap"
    config_jsonschema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}

    def discover_streams(self):
        return [_BareStream(self)]


def sdk_private_names() -> set[str]:
    """Underscore names of singer-sdk's Tap and Stream, class and instance attributes."""
    tap = _BareTap(config={}, setup_mapper=False)
    stream = tap.streams["bare"]
    names = set(dir(Tap)) | set(dir(Stream)) | set(vars(tap)) | set(vars(stream))
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def private_sdk_uses(source: str, private: set[str]) -> list[str]:
    """``line: name`` of each private singer-sdk attribute or module the source uses."""
    uses = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in private:
            uses.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("singer_sdk"):
            names = [node.module or "", *(alias.name for alias in node.names)]
            if any(part.startswith("_") for name in names for part in name.split(".")):
                uses.append(f"{node.lineno}: from {node.module} import ...")
    return uses


def test_no_module_outside_sdk_compat_uses_a_private_sdk_name():
    private = sdk_private_names()
    package = Path(tap_spinvoices.__file__).parent
    found = {
        str(path.relative_to(package)): uses
        for path in sorted(package.rglob("*.py"))
        if path.name != "sdk_compat.py"
        and (uses := private_sdk_uses(path.read_text(encoding="utf-8"), private))
    }
    assert not found, (
        f"private singer-sdk names used outside sdk_compat.py: {found}. Use the public API, "
        "or move the use to sdk_compat.py with a contract test here"
    )


def test_the_private_use_check_finds_one():
    source = (
        "from singer_sdk.helpers._util import utc_now\n"
        "def f(stream):\n"
        "    return stream._tap.state, stream._stream_version\n"
    )
    assert sorted(private_sdk_uses(source, sdk_private_names())) == [
        "1: from singer_sdk.helpers._util import ...",
        "3: ._stream_version",
        "3: ._tap",
    ]


def sync_and_read_stdout(tap: Tap, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every Singer message ``tap.sync_all()`` writes, parsed."""
    out = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out))
    tap.sync_all()
    sys.stdout.flush()
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


class _Dated(Stream):
    """An incremental stream whose records go back in time, as a prelude's may."""

    name = "dated"
    replication_key = "at"
    is_sorted = True
    check_sorted = False
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"at": {"type": "string", "format": "date-time"}},
    }

    def get_records(self, context):
        del context
        yield {"at": "2024-03-01T00:00:00+00:00"}
        yield {"at": "2024-01-01T00:00:00+00:00"}


class _DatedMovedByItself(sdk_compat.BookmarkMovedByStream, _Dated):
    pass


def _tap_of(*stream_types: type[Stream]) -> Tap:
    class OneTap(Tap):
        name = "contract-tap"
        config_jsonschema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}

        def discover_streams(self):
            return [stream_type(self) for stream_type in stream_types]

    return OneTap(config={}, setup_mapper=True)


def _last_bookmark(messages: list[dict[str, Any]], stream: str) -> dict[str, Any]:
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    return states[-1]["bookmarks"][stream]


def test_the_sdk_moves_a_bookmark_per_record_where_the_stream_does_not_say_otherwise(
    monkeypatch,
):
    messages = sync_and_read_stdout(_tap_of(_Dated), monkeypatch)
    assert _last_bookmark(messages, "dated")["replication_key_value"] == (
        "2024-01-01T00:00:00+00:00"
    ), "singer-sdk no longer moves the bookmark per record: BookmarkMovedByStream is moot"


def test_a_stream_that_moves_its_own_bookmark_is_not_moved_per_record(monkeypatch):
    assert "_increment_stream_state" in sdk_compat.SDK_PER_RECORD_PATH["_sync_records"]
    parameters = inspect.signature(Stream._increment_stream_state).parameters
    assert list(parameters) == ["self", "latest_record", "context"], (
        "singer-sdk changed Stream._increment_stream_state: BookmarkMovedByStream "
        "(sdk_compat.py) no longer replaces the SDK's per-record bookmark"
    )
    messages = sync_and_read_stdout(_tap_of(_DatedMovedByItself), monkeypatch)
    assert [m["record"]["at"] for m in messages if m["type"] == "RECORD"] == [
        "2024-03-01T00:00:00+00:00",
        "2024-01-01T00:00:00+00:00",
    ]
    assert "replication_key_value" not in _last_bookmark(messages, "dated"), (
        "singer-sdk moved the bookmark of a BookmarkMovedByStream per record: WindowedStream's "
        "prelude would pull it back"
    )


class _Parcel:
    """A hand-off that is no JSON: written to stdout, any writer would fail on it."""

    def __init__(self, number: int) -> None:
        self.number = number

    def __str__(self) -> str:
        return f"parcel {self.number}"


_PARCEL = sdk_compat.ChildHandOff("parcel", _Parcel)
_SENT = [_Parcel(0), _Parcel(1)]


class _Sender(Stream):
    name = "sender"
    # As invoice_documents: no conformance, which would drop keys the schema lacks.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"id": {"type": "integer"}},
    }

    def get_records(self, context):
        del context
        for parcel in _SENT:
            record = {"id": parcel.number}
            _PARCEL.carry(record, parcel)
            yield record

    def generate_child_contexts(self, record, context):
        del context
        parcel = _PARCEL.take(record)
        if parcel is not None:
            yield _PARCEL.context({"id": record["id"]}, parcel)


class _Receiver(Stream):
    name = "receiver"
    parent_stream_type = _Sender
    state_partitioning_keys: ClassVar[list[str]] = []
    schema: ClassVar[dict[str, Any]] = _Sender.schema
    received: ClassVar[list[object]] = []

    def preprocess_context(self, context):
        _PARCEL.read(context)  # the typed check the NF-e streams make
        return context

    def get_records(self, context):
        parcel = _PARCEL.read(context)
        self.received.append(parcel)
        return [{"id": parcel.number}]


def test_a_value_handed_to_a_child_reaches_it_as_is_and_is_never_written(monkeypatch, caplog):
    _Receiver.received.clear()
    caplog.set_level(logging.INFO, logger="singer_sdk.metrics")

    messages = sync_and_read_stdout(_tap_of(_Sender, _Receiver), monkeypatch)

    assert [id(p) for p in _Receiver.received] == [id(p) for p in _SENT], (
        "singer-sdk no longer hands the child the context generate_child_contexts built "
        "from the record get_records yielded: ChildHandOff (sdk_compat.py) cannot carry "
        "the NF-e rows to invoice_items and invoice_events"
    )
    sent = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "sender"]
    assert sent == [{"id": 0}, {"id": 1}], (
        "singer-sdk writes a record before generate_child_contexts took the hand-off out"
    )
    assert not any("parcel" in m.get("value", {}).get("bookmarks", {}) for m in messages)
    child_metrics = [r.getMessage() for r in caplog.records if '"receiver"' in r.getMessage()]
    assert any('"parcel":"parcel 0"' in line for line in child_metrics), child_metrics


def test_a_child_context_without_the_hand_off_is_a_type_error():
    with pytest.raises(TypeError, match="'parcel' holds NoneType, not _Parcel"):
        _PARCEL.read({"id": 1})
    with pytest.raises(TypeError, match="'parcel' holds str, not _Parcel"):
        _PARCEL.take({"id": 1, "parcel": "a string"})
