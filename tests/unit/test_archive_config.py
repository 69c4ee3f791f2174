"""archive_url and the store's endpoint: what is accepted, what each URL stands for."""

from __future__ import annotations

from pathlib import Path

import pytest

from tap_spinvoices.archive.config import (
    ArchiveConfig,
    endpoint_of,
    needs_plain_http,
    parse_archive_url,
)
from tap_spinvoices.errors import ConfigError

HERE = Path("/work/run")
NAME = "V1/customer_invoices/2024/01/05/PO1--abc.pdf"


@pytest.mark.parametrize(
    ("url", "uri", "where"),
    [
        ("/srv/invoices", f"file:///srv/invoices/{NAME}", "folder /srv/invoices"),
        ("/srv/invoices/", f"file:///srv/invoices/{NAME}", "folder /srv/invoices"),
        ("archive", f"file:///work/run/archive/{NAME}", "folder /work/run/archive"),
        (
            "file:///srv/my%20invoices",
            f"file:///srv/my%20invoices/{NAME}",
            "folder /srv/my invoices",
        ),
        ("file://localhost/srv/x", f"file:///srv/x/{NAME}", "folder /srv/x"),
        ("s3://acme", f"s3://acme/{NAME}", "bucket acme"),
        ("s3://acme/spapi/in", f"s3://acme/spapi/in/{NAME}", "bucket acme (prefix spapi/in)"),
        ("gs://acme/p", f"gs://acme/p/{NAME}", "bucket acme (prefix p)"),
        ("az://box/p", f"az://box/p/{NAME}", "container box (prefix p)"),
        (
            "abfss://box@acct.dfs.core.windows.net/p",
            f"abfss://box@acct.dfs.core.windows.net/p/{NAME}",
            "container box (prefix p)",
        ),
    ],
)
def test_archive_url_forms_and_the_uri_of_an_object_in_each(url, uri, where):
    location = parse_archive_url(url, working_folder=HERE)

    assert location.uri(NAME) == uri
    assert location.where() == where


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "is empty"),
        ("ftp://host/x", "unsupported scheme"),
        ("http://bucket/x", "unsupported scheme"),
        ("file://otherhost/srv", "names another host"),
        ("s3:///prefix", "names no bucket"),
        ("s3://bucket/a/../b", "'..'"),
        ("/srv/../etc", "'..'"),
        ("s3://bucket/p?x=1", "query or fragment"),
    ],
)
def test_an_unusable_archive_url_is_one_line_naming_it(url, problem):
    with pytest.raises(ConfigError, match=problem) as error:
        parse_archive_url(url, working_folder=HERE)

    assert str(error.value).startswith("Config error in 'archive_url': ")
    assert "Fix: write a folder" in str(error.value)


S3 = parse_archive_url("s3://acme/p")
AZURE = parse_archive_url("az://box/p")


@pytest.mark.parametrize(
    ("location", "options", "environ", "plain_http"),
    [
        (S3, {}, {}, False),
        (S3, {}, {"AWS_ENDPOINT_URL": "https://s3.example.com"}, False),
        (S3, {}, {"AWS_ENDPOINT_URL": "http://127.0.0.1:8333"}, True),
        (S3, {"endpoint": "http://localhost:9000"}, {}, True),
        (S3, {"endpoint": "http://[::1]:9000"}, {}, True),
        (AZURE, {"use_emulator": "true"}, {}, True),
        (AZURE, {}, {"AZURE_STORAGE_ENDPOINT": "https://acct.blob.core.windows.net"}, False),
    ],
)
def test_plain_http_only_where_the_endpoint_is_this_machine(location, options, environ, plain_http):
    assert needs_plain_http(location, options, environ) is plain_http


@pytest.mark.parametrize(
    ("options", "environ", "setting"),
    [
        ({}, {"AWS_ENDPOINT_URL": "http://s3.example.com"}, "AWS_ENDPOINT_URL"),
        ({"endpoint": "http://10.0.0.5:9000"}, {}, "archive_options.endpoint"),
        ({"endpoint": "not a url"}, {}, "archive_options.endpoint"),
    ],
)
def test_plain_http_to_another_host_is_refused_naming_where_it_came_from(options, environ, setting):
    with pytest.raises(ConfigError) as error:
        needs_plain_http(S3, options, environ)

    assert str(error.value).startswith(f"Config error in '{setting}'")


def test_an_endpoint_in_archive_options_wins_over_the_environment():
    found = endpoint_of(
        S3, {"endpoint": "https://a.example"}, {"AWS_ENDPOINT_URL": "https://b.example"}
    )
    assert found == ("https://a.example", "archive_options.endpoint")


def test_options_never_appear_in_the_config_s_repr():
    config = ArchiveConfig(S3, options={"secret_access_key": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(config)


@pytest.mark.parametrize(
    ("url", "sse", "kms", "problem"),
    [
        ("gs://acme", "AES256", None, "applies to s3:// archives only"),
        ("/srv/x", "aws:kms", None, "applies to s3:// archives only"),
        ("s3://acme", "AES256", "key-1", "needs archive_server_side_encryption aws:kms"),
        ("s3://acme", None, "key-1", "needs archive_server_side_encryption aws:kms"),
    ],
)
def test_encryption_settings_that_the_store_would_ignore_are_refused(url, sse, kms, problem):
    with pytest.raises(ConfigError, match=problem):
        ArchiveConfig(parse_archive_url(url), server_side_encryption=sse, kms_key_id=kms)
