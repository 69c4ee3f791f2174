"""The archive_* settings as the parser reads them."""

from __future__ import annotations

import pytest

from tap_spinvoices.errors import ConfigError
from tap_spinvoices.settings import parse_archive_settings

URL = {"archive_url": "s3://acme/spapi"}


def test_no_archive_url_is_no_archive_even_with_the_tuning_defaults_meltano_passes():
    assert (
        parse_archive_settings({"archive_uploads_in_flight": 32, "archive_mb_in_flight": 16})
        is None
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("archive_options", {"region": "eu-west-1"}),
        ("archive_server_side_encryption", "AES256"),
        ("archive_kms_key_id", "key-1"),
    ],
)
def test_an_archive_setting_without_archive_url_is_refused_naming_it(name, value):
    with pytest.raises(ConfigError) as error:
        parse_archive_settings({name: value})

    assert str(error.value) == (
        f"Config error in '{name}': is set but archive_url is not. "
        "Fix: set archive_url to where the documents go, or remove it"
    )


def test_archive_options_given_as_json_text_as_meltano_passes_an_object_from_the_environment():
    config = parse_archive_settings(URL | {"archive_options": '{"region": "eu-west-1", "n": 3}'})

    assert config is not None
    assert dict(config.options) == {"region": "eu-west-1", "n": "3"}


@pytest.mark.parametrize("options", [["region"], "not json", {"nested": {"a": 1}}, {"none": None}])
def test_archive_options_that_are_not_a_flat_object_are_refused(options):
    with pytest.raises(ConfigError, match="'archive_options': must be an object"):
        parse_archive_settings(URL | {"archive_options": options})


def test_a_secret_in_archive_options_never_reaches_the_error_line():
    with pytest.raises(ConfigError) as error:
        parse_archive_settings(URL | {"archive_options": {"secret_access_key": ["s3cr3t"]}})

    assert "s3cr3t" not in str(error.value)


def test_the_archive_takes_its_retries_and_timeout_from_the_tap_s_settings():
    config = parse_archive_settings(
        URL
        | {
            "max_retries": 3,
            "request_timeout_seconds": 20,
            "archive_uploads_in_flight": 8,
            "archive_mb_in_flight": 2,
            "archive_server_side_encryption": "aws:kms",
            "archive_kms_key_id": "arn:aws:kms:eu-west-1:111122223333:key/k",
        }
    )

    assert config is not None
    assert (config.max_attempts, config.request_timeout_s) == (3, 20.0)
    assert (config.uploads_in_flight, config.bytes_in_flight) == (8, 2 * 1024 * 1024)
    assert (config.server_side_encryption, config.kms_key_id) == (
        "aws:kms",
        "arn:aws:kms:eu-west-1:111122223333:key/k",
    )


def test_an_unknown_encryption_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="use one of AES256, aws:kms, aws:kms:dsse"):
        parse_archive_settings(URL | {"archive_server_side_encryption": "rot13"})
